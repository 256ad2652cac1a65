//! AWS client configuration, built once per process at init.
//!
//! The standard environment decides it: `AWS_REGION`, credentials, `AWS_ENDPOINT_URL` and the
//! per-service `AWS_ENDPOINT_URL_<SERVICE>`, `AWS_MAX_ATTEMPTS`, `AWS_RETRY_MODE`, profiles.
//! So the same binary talks to AWS in Lambda and to the local emulator in tests. Where the
//! environment holds only what Lambda sets (credentials, region) and an endpoint URL, the
//! configuration is built from those directly; anything else goes to `aws_config`'s loader.

//!
//! The adapters to AWS services that know Backstop's data but not its steps: the run store,
//! tags, waiting, Step Functions executions, the DR network stack, the failover alarm, and the
//! ownership mark of drill records.

pub mod batch;
mod clients;
pub mod cloudformation;
pub mod drill_record;
pub mod executions;
pub mod failover_alarm;
pub mod fast_restore;
pub mod plan_source;
pub mod run_command;
pub mod store;
pub mod tags;
pub mod wait;

pub use clients::{Clients, Settings};

use std::time::Duration;

use aws_config::environment::EnvironmentVariableCredentialsProvider;
use aws_config::identity::IdentityCache;
use aws_config::retry::RetryConfig;
use aws_config::{timeout::TimeoutConfig, BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_smithy_async::rt::sleep::default_async_sleep;
use aws_smithy_async::time::SharedTimeSource;

/// Loads the shared SDK configuration, once per process; the clients are built from it.
pub async fn load_config() -> SdkConfig {
    let home = std::env::var_os("HOME").map(std::path::PathBuf::from);
    if let Some(lambda) = LambdaEnvironment::read(std::env::vars_os(), home.as_deref()) {
        return lambda.config();
    }
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).timeout_config(timeouts());
    if std::env::var_os("AWS_ACCESS_KEY_ID").is_some() {
        loader = loader.credentials_provider(EnvironmentVariableCredentialsProvider::new());
    }
    loader.load().await
}

/// A hung endpoint must fail the step (and let Step Functions retry) well before the Lambda
/// timeout eats the whole invocation.
fn timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(5))
        .operation_attempt_timeout(Duration::from_secs(30))
        .build()
}

/// An environment that holds only what Lambda sets for a function (its role's credentials, its
/// region, its own `AWS_LAMBDA_*` and X-Ray variables) and, at most, `AWS_ENDPOINT_URL`. The
/// SDK's loader would find nothing else to read in it, but building its providers (region chain,
/// profile files, every setting's env-or-profile lookup) was about a sixth of a handler's memory
/// at its first `GET /next` (bench/RESULTS.md). Any other `AWS_` variable is a setting the loader
/// honours (a profile, FIPS, retries, a service's own endpoint), so it goes to the loader.
#[derive(Debug, PartialEq)]
struct LambdaEnvironment {
    region: String,
    endpoint_url: Option<String>,
}

impl LambdaEnvironment {
    /// Read by the environment-variable credentials provider itself, or set by Lambda and read
    /// by no SDK provider.
    const KNOWN: [&'static str; 9] = [
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_ACCESS_KEY_ID",
        "AWS_ACCESS_KEY",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_ACCOUNT_ID",
        "AWS_EXECUTION_ENV",
        "AWS_ENDPOINT_URL",
    ];

    /// The environment `vars`, unless a default profile file under `home` (which the loader
    /// would read) exists.
    fn read(
        vars: impl IntoIterator<Item = (std::ffi::OsString, std::ffi::OsString)>,
        home: Option<&std::path::Path>,
    ) -> Option<LambdaEnvironment> {
        let has_profile_files = home.is_some_and(|home| {
            home.join(".aws/config").exists() || home.join(".aws/credentials").exists()
        });
        if has_profile_files {
            return None;
        }
        Self::from_vars(vars)
    }

    fn from_vars(
        vars: impl IntoIterator<Item = (std::ffi::OsString, std::ffi::OsString)>,
    ) -> Option<LambdaEnvironment> {
        let mut vars: std::collections::HashMap<String, String> = vars
            .into_iter()
            .filter_map(|(name, value)| Some((name.into_string().ok()?, value.into_string().ok()?)))
            .filter(|(name, _)| name.starts_with("AWS_"))
            .collect();
        let lambdas_own = |name: &String| {
            Self::KNOWN.contains(&name.as_str())
                || name.starts_with("AWS_LAMBDA_")
                || name.starts_with("AWS_XRAY_")
        };
        if !vars.keys().all(lambdas_own) || !vars.contains_key("AWS_ACCESS_KEY_ID") {
            return None;
        }
        let mut take = |name: &str| vars.remove(name).filter(|value| !value.is_empty());
        let region = take("AWS_REGION").or_else(|| take("AWS_DEFAULT_REGION"))?;
        Some(LambdaEnvironment {
            region,
            endpoint_url: take("AWS_ENDPOINT_URL"),
        })
    }

    /// What the loader would build from the same environment.
    fn config(self) -> SdkConfig {
        let mut config = SdkConfig::builder();
        config.set_endpoint_url(self.endpoint_url);
        config.set_sleep_impl(default_async_sleep());
        config
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(self.region))
            .credentials_provider(SharedCredentialsProvider::new(
                EnvironmentVariableCredentialsProvider::new(),
            ))
            .identity_cache(IdentityCache::lazy().build())
            // the service clients would default these, but a credentials provider built from the
            // configuration (the assumed role of `recoversInto`) takes them from it
            .time_source(SharedTimeSource::default())
            .retry_config(RetryConfig::standard())
            .timeout_config(timeouts())
            .build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &[(&str, &str)]) -> Option<LambdaEnvironment> {
        LambdaEnvironment::from_vars(vars.iter().map(|(name, value)| (name.into(), value.into())))
    }

    /// What Lambda sets for a function, and what the tests' emulator adds.
    const LAMBDA: [(&str, &str); 9] = [
        ("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001"),
        ("AWS_LAMBDA_FUNCTION_NAME", "backstop-preflight"),
        ("AWS_REGION", "us-west-2"),
        ("AWS_DEFAULT_REGION", "us-west-2"),
        ("AWS_ACCESS_KEY_ID", "ASIAEXAMPLE"),
        ("AWS_SECRET_ACCESS_KEY", "secret"),
        ("AWS_SESSION_TOKEN", "token"),
        ("AWS_XRAY_DAEMON_ADDRESS", "169.254.79.129:2000"),
        ("PATH", "/usr/bin"),
    ];

    #[test]
    fn lambdas_own_environment_is_read_directly() {
        assert_eq!(
            env(&LAMBDA),
            Some(LambdaEnvironment {
                region: "us-west-2".into(),
                endpoint_url: None
            })
        );
        let with_endpoint = [
            LAMBDA.as_slice(),
            &[("AWS_ENDPOINT_URL", "http://127.0.0.1:5000")],
        ]
        .concat();
        assert_eq!(
            env(&with_endpoint).and_then(|lambda| lambda.endpoint_url),
            Some("http://127.0.0.1:5000".to_string())
        );
        let only_default_region: Vec<_> = LAMBDA
            .into_iter()
            .filter(|(name, _)| *name != "AWS_REGION")
            .collect();
        assert_eq!(
            env(&only_default_region).map(|lambda| lambda.region),
            Some("us-west-2".into())
        );
    }

    #[test]
    fn any_setting_the_loader_honours_goes_to_the_loader() {
        for setting in [
            ("AWS_PROFILE", "dr"),
            ("AWS_CONFIG_FILE", "/opt/aws-config"),
            ("AWS_USE_FIPS_ENDPOINT", "true"),
            ("AWS_USE_DUALSTACK_ENDPOINT", "true"),
            ("AWS_MAX_ATTEMPTS", "10"),
            ("AWS_RETRY_MODE", "adaptive"),
            ("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:5000"),
            ("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true"),
            (
                "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                "http://127.0.0.1/creds",
            ),
            ("AWS_WEB_IDENTITY_TOKEN_FILE", "/var/token"),
        ] {
            let vars = [LAMBDA.as_slice(), &[setting]].concat();
            assert_eq!(env(&vars), None, "{} must go to the loader", setting.0);
        }
    }

    #[test]
    fn a_default_profile_file_goes_to_the_loader() {
        let vars = || {
            LAMBDA
                .iter()
                .map(|(name, value)| (name.into(), value.into()))
        };
        let home = std::env::temp_dir().join(format!("backstop-home-{}", std::process::id()));
        std::fs::create_dir_all(home.join(".aws")).unwrap();
        assert!(LambdaEnvironment::read(vars(), Some(&home)).is_some());
        for file in ["config", "credentials"] {
            std::fs::write(
                home.join(".aws").join(file),
                "[default]\nregion = eu-west-1\n",
            )
            .unwrap();
            assert_eq!(
                LambdaEnvironment::read(vars(), Some(&home)),
                None,
                "~/.aws/{file}"
            );
            std::fs::remove_file(home.join(".aws").join(file)).unwrap();
        }
        std::fs::remove_dir_all(&home).unwrap();
    }

    #[test]
    fn without_keys_or_a_region_in_the_environment_the_loader_looks_further() {
        let no_keys: Vec<_> = LAMBDA
            .into_iter()
            .filter(|(name, _)| !name.contains("ACCESS_KEY"))
            .collect();
        assert_eq!(env(&no_keys), None);
        let no_region: Vec<_> = LAMBDA
            .into_iter()
            .filter(|(name, _)| !name.contains("REGION"))
            .collect();
        assert_eq!(env(&no_region), None);
        let empty_region = [
            LAMBDA.as_slice(),
            &[("AWS_REGION", ""), ("AWS_DEFAULT_REGION", "")],
        ]
        .concat();
        assert_eq!(env(&empty_region), None);
    }

    #[test]
    fn the_direct_configuration_has_what_the_loader_would_give() {
        let config = LambdaEnvironment {
            region: "us-west-2".into(),
            endpoint_url: Some("http://127.0.0.1:5000".into()),
        }
        .config();
        assert_eq!(config.region().map(|r| r.as_ref()), Some("us-west-2"));
        assert_eq!(config.endpoint_url(), Some("http://127.0.0.1:5000"));
        assert_eq!(config.behavior_version(), Some(BehaviorVersion::latest()));
        assert_eq!(config.retry_config(), Some(&RetryConfig::standard()));
        assert_eq!(config.timeout_config(), Some(&timeouts()));
        assert!(config.identity_cache().is_some());
        assert!(config.time_source().is_some() && config.sleep_impl().is_some());
        assert!(config.credentials_provider().is_some());
    }
}
