//! `start-restore`: starts the run's restore jobs not started yet, under the run's
//! concurrency cap. Re-running it with the same run id starts no second job.

use backstop::resolve::{parse_input, ResolvedRun};
use backstop::restore::{start_restores, RestoreJob, RestoreProgress, StartOutcome};
use backstop::{aws, telemetry, BackstopError};
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde::Deserialize;
use serde_json::Value;
use tracing::Instrument;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct StartRestoreInput {
    run: ResolvedRun,
    #[serde(default)]
    jobs: Vec<RestoreJob>,
}

struct Clients {
    backup: aws_sdk_backup::Client,
    /// The role AWS Backup assumes to create the restored resources.
    restore_role_arn: Option<String>,
}

async fn handler(
    clients: &Clients,
    event: LambdaEvent<Value>,
) -> Result<StartOutcome, BackstopError> {
    let input: StartRestoreInput = parse_input(event.payload)?;
    let run = input.run.checked()?;
    let span = telemetry::run_span("start-restore", run.run_id.as_str());
    let ctx = run.restore_context(clients.restore_role_arn.clone());
    let progress = RestoreProgress {
        restores: run.restores,
        jobs: input.jobs,
    };
    let max_running = run.settings.max_concurrent_restores as usize;
    let resume = ctx.resume;
    start_restores(
        &clients.backup,
        &run.plan,
        &ctx,
        progress,
        max_running,
        resume,
    )
    .instrument(span)
    .await
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init_tracing();
    let config = aws::load_config().await;
    let clients = Clients {
        backup: aws_sdk_backup::Client::new(&config),
        restore_role_arn: std::env::var("BACKSTOP_RESTORE_ROLE_ARN")
            .ok()
            .filter(|v| !v.is_empty()),
    };
    run(service_fn(|event| {
        telemetry::logged("start-restore", handler(&clients, event))
    }))
    .await
}
