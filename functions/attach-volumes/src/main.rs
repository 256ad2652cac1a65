//! `attach-volumes`: attaches each restored EBS volume to its planned instance and device.

use backstop::aws::store::RunStore;
use backstop::aws::wait::WaitPolicy;
use backstop::steps::resolve::parse_input;
use backstop::steps::{attach_round, AttachCounts, StepInput};
use backstop::{aws, telemetry, BackstopError};
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde_json::Value;
use tracing::Instrument;

async fn handler(
    (ec2, store): (&aws_sdk_ec2::Client, &RunStore),
    event: LambdaEvent<Value>,
) -> Result<AttachCounts, BackstopError> {
    let wait = WaitPolicy::until(event.context.deadline());
    let invoked_arn = event.context.invoked_function_arn.clone();
    let StepInput { run } = parse_input(event.payload)?;
    let span = telemetry::run_span("attach-volumes", run.run_id.as_str());
    attach_round(ec2, store, &run, &invoked_arn, wait)
        .instrument(span)
        .await
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init_tracing();
    let config = aws::load_config().await;
    let ec2 = aws_sdk_ec2::Client::new(&config);
    let store = RunStore::from_env(&config)?;
    run(service_fn(|event| {
        telemetry::logged("attach-volumes", handler((&ec2, &store), event))
    }))
    .await
}
