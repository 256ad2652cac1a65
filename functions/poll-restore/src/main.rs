//! `poll-restore`: one look at all the run's restore jobs: which completed (with the
//! created resource and its endpoint), which still run, which failed and why.

use backstop::resolve::{parse_input, ResolvedRun};
use backstop::restore::{poll_restores, PollClients, PollOutcome, RestoreJob, RestoreProgress};
use backstop::{aws, telemetry, BackstopError};
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde::Deserialize;
use serde_json::Value;
use tracing::Instrument;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PollRestoreInput {
    run: ResolvedRun,
    jobs: Vec<RestoreJob>,
}

async fn handler(
    clients: &PollClients,
    event: LambdaEvent<Value>,
) -> Result<PollOutcome, BackstopError> {
    let input: PollRestoreInput = parse_input(event.payload)?;
    let run = input.run.checked()?;
    let span = telemetry::run_span("poll-restore", run.run_id.as_str());
    let ctx = run.restore_context(None);
    let progress = RestoreProgress {
        restores: run.restores,
        jobs: input.jobs,
    };
    poll_restores(clients, &ctx, progress)
        .instrument(span)
        .await
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init_tracing();
    let config = aws::load_config().await;
    let clients = PollClients {
        backup: aws_sdk_backup::Client::new(&config),
        ec2: aws_sdk_ec2::Client::new(&config),
        rds: aws_sdk_rds::Client::new(&config),
        efs: aws_sdk_efs::Client::new(&config),
    };
    run(service_fn(|event| {
        telemetry::logged("poll-restore", handler(&clients, event))
    }))
    .await
}
