//! `start-restore`: starts the run's restore jobs not started yet, under the run's
//! concurrency cap. Re-running it with the same run id starts no second job.

use backstop::aws::store::RunStore;
use backstop::steps::resolve::parse_input;
use backstop::steps::{start_round, StartClients, StartCounts, StepInput};
use backstop::{aws, telemetry, BackstopError};
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde_json::Value;
use tracing::Instrument;

struct Clients {
    backup: aws_sdk_backup::Client,
    cloudformation: aws_sdk_cloudformation::Client,
    store: RunStore,
    /// The role AWS Backup assumes to create the restored resources.
    restore_role_arn: Option<String>,
}

async fn handler(
    clients: &Clients,
    event: LambdaEvent<Value>,
) -> Result<StartCounts, BackstopError> {
    let deadline = event.context.deadline();
    let StepInput { run } = parse_input(event.payload)?;
    let span = telemetry::run_span("start-restore", run.run_id.as_str());
    let role = clients.restore_role_arn.clone();
    let aws = StartClients {
        backup: &clients.backup,
        cloudformation: &clients.cloudformation,
    };
    start_round(&aws, &clients.store, &run, role, deadline)
        .instrument(span)
        .await
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init_tracing();
    let config = aws::load_config().await;
    let clients = Clients {
        backup: aws_sdk_backup::Client::new(&config),
        cloudformation: aws_sdk_cloudformation::Client::new(&config),
        store: RunStore::from_env(&config)?,
        restore_role_arn: std::env::var("BACKSTOP_RESTORE_ROLE_ARN")
            .ok()
            .filter(|v| !v.is_empty()),
    };
    run(service_fn(|event| {
        telemetry::logged("start-restore", handler(&clients, event))
    }))
    .await
}
