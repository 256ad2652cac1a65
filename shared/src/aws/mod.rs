//! AWS client configuration, built once per process at init.
//!
//! `aws_config` reads the standard environment: `AWS_REGION`, credentials,
//! `AWS_ENDPOINT_URL` and the per-service `AWS_ENDPOINT_URL_<SERVICE>`,
//! `AWS_MAX_ATTEMPTS`, `AWS_RETRY_MODE`. So the same binary talks to AWS in
//! Lambda and to the local emulator in tests, with no code path of its own.

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
use aws_config::{timeout::TimeoutConfig, BehaviorVersion, SdkConfig};

/// Loads the shared SDK configuration, once per process; the clients are built from it.
pub async fn load_config() -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        // A hung endpoint must fail the step (and let Step Functions retry) well
        // before the Lambda timeout eats the whole invocation.
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(5))
                .operation_attempt_timeout(Duration::from_secs(30))
                .build(),
        );
    // Lambda gives the execution role's credentials in the environment, where the default
    // chain looks first; reading them there directly skips building the chain's other
    // providers (profile files, web identity, container, IMDS), which was most of a cold
    // start (bench/RESULTS.md). Anywhere else (no keys in the environment), the default chain.
    if std::env::var_os("AWS_ACCESS_KEY_ID").is_some() {
        loader = loader.credentials_provider(EnvironmentVariableCredentialsProvider::new());
    }
    loader.load().await
}
