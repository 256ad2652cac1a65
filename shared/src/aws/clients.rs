//! What every function is given at init: a client of each AWS service Backstop calls, each
//! built on its first use (a function builds only those its step needs, and its role allows no
//! more), and the stack's settings, read once from the environment the template sets.

use std::ops::Deref;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime};

use aws_config::SdkConfig;
use aws_credential_types::provider::error::CredentialsError;

use super::store::{s3_client, RunStore};
use crate::error::{classify_response, BackstopError};
use crate::model::run::StackSite;
use crate::plan::RecoverInto;

/// The stack's settings (each the template's environment variable of that name).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    /// The function's region: the DR region.
    pub region: String,
    /// `PLAN_PARAMETER`: the only plan a failover reads.
    pub plan_parameter: Option<String>,
    /// `RUN_STATE_BUCKET`: where a run's steps keep its state.
    pub run_state_bucket: Option<String>,
    /// `EVIDENCE_BUCKET`: where reports are kept.
    pub evidence_bucket: Option<String>,
    /// `BACKSTOP_RESTORE_ROLE_ARN`: the role AWS Backup restores with.
    pub restore_role_arn: Option<String>,
    /// `NETWORK_STACK_ROLE_ARN`: the role CloudFormation builds the DR network with.
    pub network_stack_role_arn: Option<String>,
    /// `NOTICE_TOPIC_ARN`: where failed jobs are announced.
    pub notice_topic_arn: Option<String>,
    /// `STATE_MACHINE_ARN`: the state machine runs are executions of.
    pub state_machine_arn: Option<String>,
    /// `STACK_ACCOUNT`: the stack's account.
    pub stack_account: Option<String>,
    /// `FAILOVER_ALARMS`: the names of the alarms that start a failover, comma-separated (none:
    /// no alarm starts one).
    pub failover_alarms: Option<String>,
    /// `FAILOVER_ALARM_ARN_PREFIX`: `arn:<partition>:cloudwatch:<region>:<account>:alarm:`.
    pub failover_alarm_arn_prefix: Option<String>,
}

impl Settings {
    /// The settings `variable` gives (unset and empty are the same).
    pub fn from_env(region: String, variable: impl Fn(&str) -> Option<String>) -> Settings {
        let setting = |name: &str| variable(name).filter(|value| !value.trim().is_empty());
        Settings {
            region,
            plan_parameter: setting("PLAN_PARAMETER"),
            run_state_bucket: setting("RUN_STATE_BUCKET"),
            evidence_bucket: setting("EVIDENCE_BUCKET"),
            restore_role_arn: setting("BACKSTOP_RESTORE_ROLE_ARN"),
            network_stack_role_arn: setting("NETWORK_STACK_ROLE_ARN"),
            notice_topic_arn: setting("NOTICE_TOPIC_ARN"),
            state_machine_arn: setting("STATE_MACHINE_ARN"),
            stack_account: setting("STACK_ACCOUNT"),
            failover_alarms: setting("FAILOVER_ALARMS"),
            failover_alarm_arn_prefix: setting("FAILOVER_ALARM_ARN_PREFIX"),
        }
    }

    /// A setting the step cannot do without, or the error naming it.
    pub fn required<'a>(value: &'a Option<String>, name: &str) -> Result<&'a str, BackstopError> {
        value.as_deref().ok_or_else(|| {
            BackstopError::invalid_input(
                name,
                "is not set in the function's environment (the template sets it)",
            )
        })
    }

    /// Where this Backstop is deployed.
    pub fn site(&self) -> StackSite {
        StackSite {
            region: self.region.clone(),
            plan_parameter: self.plan_parameter.clone(),
        }
    }
}

/// A client built the first time a step uses it, from the process's one SDK configuration
/// (one HTTP client and its connection pool, shared by every service): a function builds only
/// the clients its invocations call, not one per service Backstop knows (bench/RESULTS.md,
/// cold start). Derefs to the SDK client, so `clients.ec2.describe_volumes()` and
/// `&clients.ec2` as `&aws_sdk_ec2::Client` work as with the client itself.
pub struct Lazy<C> {
    config: Arc<SdkConfig>,
    build: fn(&SdkConfig) -> C,
    client: OnceLock<C>,
}

impl<C> Lazy<C> {
    fn new(config: &Arc<SdkConfig>, build: fn(&SdkConfig) -> C) -> Lazy<C> {
        Lazy {
            config: Arc::clone(config),
            build,
            client: OnceLock::new(),
        }
    }

    /// Whether the client was built (a step used it).
    pub fn is_built(&self) -> bool {
        self.client.get().is_some()
    }
}

impl<C> Deref for Lazy<C> {
    type Target = C;

    fn deref(&self) -> &C {
        self.client.get_or_init(|| (self.build)(&self.config))
    }
}

impl<C: Clone> Clone for Lazy<C> {
    fn clone(&self) -> Self {
        Lazy {
            config: Arc::clone(&self.config),
            build: self.build,
            client: self.client.clone(),
        }
    }
}

/// The AWS clients and settings of a function.
#[derive(Clone)]
pub struct Clients {
    pub backup: Lazy<aws_sdk_backup::Client>,
    pub ec2: Lazy<aws_sdk_ec2::Client>,
    pub rds: Lazy<aws_sdk_rds::Client>,
    pub efs: Lazy<aws_sdk_efs::Client>,
    pub route53: Lazy<aws_sdk_route53::Client>,
    pub ssm: Lazy<aws_sdk_ssm::Client>,
    pub kms: Lazy<aws_sdk_kms::Client>,
    pub cloudwatch: Lazy<aws_sdk_cloudwatch::Client>,
    pub cloudformation: Lazy<aws_sdk_cloudformation::Client>,
    pub sfn: Lazy<aws_sdk_sfn::Client>,
    pub sns: Lazy<aws_sdk_sns::Client>,
    pub s3: Lazy<aws_sdk_s3::Client>,
    pub lambda: Lazy<aws_sdk_lambda::Client>,
    pub settings: Settings,
    config: Arc<SdkConfig>,
    /// The last role a run's steps assumed in this process, kept for its next invocations.
    assumed: Arc<Mutex<Option<AssumedRole>>>,
}

/// Credentials of a run's `recoverInto.roleArn`, as STS gave them.
struct AssumedRole {
    role_arn: String,
    run_id: String,
    credentials: aws_credential_types::Credentials,
}

/// Assumed credentials are used again while they outlive the longest invocation (Lambda's
/// 15 minutes) by this much more: a step never runs on credentials that expire under it.
const REUSE_MARGIN: Duration = Duration::from_secs(20 * 60);

/// Whether credentials that expire at `expiry` (never, when None) serve an invocation that
/// starts at `now`.
fn still_good(expiry: Option<SystemTime>, now: SystemTime) -> bool {
    expiry.is_none_or(|expiry| expiry > now + REUSE_MARGIN)
}

impl Clients {
    /// The clients of `config`, with the settings of this process's environment.
    pub fn from_config(config: &SdkConfig) -> Clients {
        let region = config.region().map(|r| r.to_string()).unwrap_or_default();
        Clients::with_settings(
            config,
            Settings::from_env(region, |name| std::env::var(name).ok()),
        )
    }

    pub fn with_settings(config: &SdkConfig, settings: Settings) -> Clients {
        let config = Arc::new(config.clone());
        Clients {
            backup: Lazy::new(&config, aws_sdk_backup::Client::new),
            ec2: Lazy::new(&config, aws_sdk_ec2::Client::new),
            rds: Lazy::new(&config, aws_sdk_rds::Client::new),
            efs: Lazy::new(&config, aws_sdk_efs::Client::new),
            route53: Lazy::new(&config, aws_sdk_route53::Client::new),
            ssm: Lazy::new(&config, aws_sdk_ssm::Client::new),
            kms: Lazy::new(&config, aws_sdk_kms::Client::new),
            cloudwatch: Lazy::new(&config, aws_sdk_cloudwatch::Client::new),
            cloudformation: Lazy::new(&config, aws_sdk_cloudformation::Client::new),
            sfn: Lazy::new(&config, aws_sdk_sfn::Client::new),
            sns: Lazy::new(&config, aws_sdk_sns::Client::new),
            s3: Lazy::new(&config, s3_client),
            lambda: Lazy::new(&config, aws_sdk_lambda::Client::new),
            settings,
            config,
            assumed: Arc::default(),
        }
    }

    /// These clients with the workload's services (Backup, EC2, RDS, EFS, SSM, KMS,
    /// CloudFormation, Lambda) in `region`, where a failback recovers; the run store and
    /// evidence (S3), Step Functions, SNS, CloudWatch and Route 53 stay this function's, so
    /// the run's state is kept where the stack is. One HTTP client still serves them all.
    pub fn in_region(&self, region: &str) -> Clients {
        let there = Arc::new(
            self.config
                .to_builder()
                .region(aws_config::Region::new(region.to_string()))
                .build(),
        );
        self.with_workload_config(there)
    }

    /// These clients with the workload's services built from `there`.
    fn with_workload_config(&self, there: Arc<SdkConfig>) -> Clients {
        Clients {
            backup: Lazy::new(&there, aws_sdk_backup::Client::new),
            ec2: Lazy::new(&there, aws_sdk_ec2::Client::new),
            rds: Lazy::new(&there, aws_sdk_rds::Client::new),
            efs: Lazy::new(&there, aws_sdk_efs::Client::new),
            ssm: Lazy::new(&there, aws_sdk_ssm::Client::new),
            kms: Lazy::new(&there, aws_sdk_kms::Client::new),
            cloudformation: Lazy::new(&there, aws_sdk_cloudformation::Client::new),
            lambda: Lazy::new(&there, aws_sdk_lambda::Client::new),
            ..self.clone()
        }
    }

    /// The clients a run's steps recover with: these, or the workload's services (as
    /// [`Clients::in_region`]) in the region and account it recovers in. In another account
    /// they act as the plan's `recoverInto.roleArn`, assumed once here (a role that does not
    /// trust Backstop is refused now, naming the fix), and AWS Backup restores with that
    /// account's `restoreRoleArn`; the run's state, Route 53 and notices stay the stack's.
    pub async fn for_run(
        &self,
        region: Option<&str>,
        into: Option<&RecoverInto>,
        run_id: &str,
    ) -> Result<Option<Clients>, BackstopError> {
        let region = region.filter(|r| *r != self.settings.region);
        let Some(into) = into else {
            return Ok(region.map(|r| self.in_region(r)));
        };
        let credentials = self.credentials_for(into, run_id).await?;
        let mut there = self.config.to_builder();
        there.set_credentials_provider(Some(
            aws_credential_types::provider::SharedCredentialsProvider::new(credentials),
        ));
        if let Some(region) = region {
            there.set_region(Some(aws_config::Region::new(region.to_string())));
        }
        let mut clients = self.with_workload_config(Arc::new(there.build()));
        clients.settings.restore_role_arn = Some(into.restore_role_arn.clone());
        clients.settings.network_stack_role_arn = into.network_stack_role_arn.clone();
        Ok(Some(clients))
    }

    /// `into.roleArn`'s credentials for `run_id`: those this process assumed for the run's
    /// last step while they are good for this one, else assumed now (one STS call per
    /// process and hour, not per step).
    async fn credentials_for(
        &self,
        into: &RecoverInto,
        run_id: &str,
    ) -> Result<aws_credential_types::Credentials, BackstopError> {
        let kept = self.assumed.lock().ok().and_then(|last| {
            last.as_ref()
                .filter(|last| last.role_arn == into.role_arn && last.run_id == run_id)
                .filter(|last| still_good(last.credentials.expiry(), SystemTime::now()))
                .map(|last| last.credentials.clone())
        });
        if let Some(credentials) = kept {
            return Ok(credentials);
        }
        let credentials = assumed_credentials(&self.config, into, run_id).await?;
        if let Ok(mut last) = self.assumed.lock() {
            *last = Some(AssumedRole {
                role_arn: into.role_arn.clone(),
                run_id: run_id.to_string(),
                credentials: credentials.clone(),
            });
        }
        Ok(credentials)
    }

    /// The run store (`RUN_STATE_BUCKET`).
    pub fn store(&self) -> Result<RunStore, BackstopError> {
        let bucket = self.settings.run_state_bucket.clone().ok_or_else(|| {
            BackstopError::invalid_input(
                super::store::BUCKET_VARIABLE,
                "is not set: deploy the function with the stack's RunStateBucket name in RUN_STATE_BUCKET",
            )
        })?;
        Ok(RunStore::new((*self.s3).clone(), bucket))
    }
}

/// Credentials of `into.roleArn`, assumed with the function's own (valid for the invocation:
/// a step is minutes at most, a session an hour).
async fn assumed_credentials(
    config: &SdkConfig,
    into: &RecoverInto,
    run_id: &str,
) -> Result<aws_credential_types::Credentials, BackstopError> {
    use aws_credential_types::provider::ProvideCredentials;
    let provider = aws_config::sts::AssumeRoleProvider::builder(&into.role_arn)
        .session_name(session_name(run_id))
        .configure(config)
        .build()
        .await;
    let action = format!(
        "assuming role {} in account {}",
        into.role_arn,
        into.account_id()
    );
    provider
        .provide_credentials()
        .await
        .map_err(|err| assume_role_error(action, &err))
}

/// A failed assume-role call as a Backstop error: STS's answer classified as every AWS answer
/// is ([`classify_response`]), with what to check when it is a refusal; no answer at all (a
/// timeout, a connection that failed) is transient.
fn assume_role_error(action: String, err: &CredentialsError) -> BackstopError {
    use aws_sdk_sts::error::ProvideErrorMetadata;
    use aws_sdk_sts::operation::assume_role::AssumeRoleError;
    let mut source = std::error::Error::source(err);
    let answer = loop {
        let Some(cause) = source else { break None };
        if let Some(call) = cause.downcast_ref::<aws_sdk_sts::error::SdkError<AssumeRoleError>>() {
            break call.as_service_error().zip(call.raw_response());
        }
        source = cause.source();
    };
    let Some((refused, raw)) = answer else {
        return BackstopError::Transient {
            action,
            message: aws_smithy_types::error::display::DisplayErrorContext(err).to_string(),
        };
    };
    let code = refused.code().unwrap_or("Unknown").to_string();
    let message = refused.message().unwrap_or_default().to_string();
    match classify_response(action, code, message, raw.status().as_u16()) {
        BackstopError::AccessDenied { action, message } => BackstopError::AccessDenied {
            action,
            message: format!(
                "{message} (the role must exist, trust this account, and be the stack's RecoverIntoRoleArn)"
            ),
        },
        other => other,
    }
}

/// A role session name from a run id: what STS accepts (`[\w+=,.@-]`, 2 to 64 characters),
/// so CloudTrail in the other account names the run.
fn session_name(run_id: &str) -> String {
    let name: String = format!("backstop-{run_id}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_+=,.@-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .take(64)
        .collect();
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assumed_credentials_serve_a_step_only_while_they_outlive_it() {
        let now = SystemTime::now();
        assert!(still_good(None, now));
        assert!(still_good(Some(now + Duration::from_secs(59 * 60)), now));
        // an hour's session 45 minutes on: a 15-minute step could outlive it
        assert!(!still_good(Some(now + Duration::from_secs(15 * 60)), now));
        assert!(!still_good(Some(now - Duration::from_secs(1)), now));
    }

    #[test]
    fn an_empty_setting_is_an_unset_one() {
        let settings = Settings::from_env("us-west-2".into(), |name| match name {
            "PLAN_PARAMETER" => Some("/backstop/plan".into()),
            "EVIDENCE_BUCKET" => Some("  ".into()),
            _ => None,
        });
        assert_eq!(settings.plan_parameter.as_deref(), Some("/backstop/plan"));
        assert_eq!(settings.evidence_bucket, None);
        let err = Settings::required(&settings.state_machine_arn, "STATE_MACHINE_ARN").unwrap_err();
        assert!(err.to_string().contains("STATE_MACHINE_ARN"), "{err}");
    }

    /// A refusal as the assume-role provider gives it: STS's answer (`status`, `code`,
    /// `message`) inside the SDK's error inside the credentials error.
    fn refused(status: u16, code: &str, message: &str) -> CredentialsError {
        use aws_sdk_sts::operation::assume_role::AssumeRoleError;
        use aws_smithy_runtime_api::http::{Response, StatusCode};
        use aws_smithy_types::body::SdkBody;
        use aws_smithy_types::error::ErrorMetadata;
        let answer =
            AssumeRoleError::generic(ErrorMetadata::builder().code(code).message(message).build());
        let raw = Response::new(StatusCode::try_from(status).unwrap(), SdkBody::empty());
        CredentialsError::provider_error(aws_sdk_sts::error::SdkError::service_error(answer, raw))
    }

    #[test]
    fn a_refused_assume_role_is_told_by_stss_message_and_a_session_names_the_run() {
        let denied = "User: arn:aws:iam::123456789012:root is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::210987654321:role/x";
        let told = |err: CredentialsError| assume_role_error("assuming".into(), &err);
        let err = told(refused(403, "AccessDenied", denied));
        assert_eq!(err.error_name(), "Backstop.AccessDenied", "{err}");
        assert!(err.to_string().contains(denied), "{err}");
        assert!(err.to_string().contains("RecoverIntoRoleArn"), "{err}");
        // refused for good, or worth a retry
        let disabled = told(refused(
            403,
            "RegionDisabledException",
            "STS is not activated",
        ));
        assert_eq!(disabled.error_name(), "Backstop.AwsError", "{disabled}");
        assert!(
            disabled.to_string().contains("RegionDisabledException"),
            "{disabled}"
        );
        let throttled = told(refused(400, "Throttling", "Rate exceeded"));
        assert_eq!(throttled.error_name(), "Backstop.Throttled", "{throttled}");
        let fault = told(refused(503, "Unknown", "try again"));
        assert_eq!(fault.error_name(), "Backstop.Transient", "{fault}");
        let no_answer = told(CredentialsError::provider_error(
            "dispatch failure: connection refused",
        ));
        assert_eq!(no_answer.error_name(), "Backstop.Transient", "{no_answer}");
        assert_eq!(session_name("failover-1"), "backstop-failover-1");
        let long = session_name(&format!("drill:{}", "x".repeat(80)));
        assert_eq!(long.len(), 64);
        assert!(long.starts_with("backstop-drill-xx"), "{long}");
    }

    #[test]
    fn a_client_is_built_on_its_first_use_only() {
        let config = SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-west-2"))
            .build();
        let clients = Clients::with_settings(&config, Settings::default());
        assert!(!clients.ec2.is_built() && !clients.s3.is_built());
        let ec2: &aws_sdk_ec2::Client = &clients.ec2;
        assert_eq!(ec2.config().region().map(|r| r.as_ref()), Some("us-west-2"));
        assert!(clients.ec2.is_built());
        assert!(!clients.rds.is_built() && !clients.s3.is_built());
    }

    #[test]
    fn a_failback_recovers_elsewhere_but_keeps_its_state_at_home() {
        let config = SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-west-2"))
            .build();
        let clients = Clients::with_settings(&config, Settings::default());
        let primary = clients.in_region("us-east-1");
        let region = |c: Option<&aws_config::Region>| c.map(|r| r.to_string());
        assert_eq!(
            region(primary.ec2.config().region()).as_deref(),
            Some("us-east-1")
        );
        assert_eq!(
            region(primary.backup.config().region()).as_deref(),
            Some("us-east-1")
        );
        assert_eq!(
            region(primary.s3.config().region()).as_deref(),
            Some("us-west-2")
        );
        assert_eq!(
            region(primary.sfn.config().region()).as_deref(),
            Some("us-west-2")
        );
    }
}
