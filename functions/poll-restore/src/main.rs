//! `poll-restore`: one look at all the run's restore jobs: which completed (with the
//! created resource and its endpoint), which still run, which failed and why.

use backstop::aws::store::RunStore;
use backstop::steps::resolve::parse_input;
use backstop::steps::restore::PollClients;
use backstop::steps::{poll_round, PollCounts, StepInput};
use backstop::{aws, telemetry, BackstopError};
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde_json::Value;
use tracing::Instrument;

async fn handler(
    (clients, store): (&PollClients, &RunStore),
    event: LambdaEvent<Value>,
) -> Result<PollCounts, BackstopError> {
    let deadline = event.context.deadline();
    let StepInput { run } = parse_input(event.payload)?;
    let span = telemetry::run_span("poll-restore", run.run_id.as_str());
    poll_round(clients, store, &run, deadline)
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
    let store = RunStore::from_env(&config)?;
    run(service_fn(|event| {
        telemetry::logged("poll-restore", handler((&clients, &store), event))
    }))
    .await
}
