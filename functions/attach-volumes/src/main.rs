//! `attach-volumes`: attaches each restored EBS volume to its planned instance and device.

use backstop::compute::{attach_volumes, AttachOutcome, LaunchedInstance};
use backstop::resolve::{parse_input, ResolvedRun};
use backstop::restore::RestoreJob;
use backstop::wait::WaitPolicy;
use backstop::{aws, telemetry, BackstopError};
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde::Deserialize;
use serde_json::Value;
use tracing::Instrument;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct AttachInput {
    run: ResolvedRun,
    jobs: Vec<RestoreJob>,
    instances: Vec<LaunchedInstance>,
}

async fn handler(
    ec2: &aws_sdk_ec2::Client,
    event: LambdaEvent<Value>,
) -> Result<AttachOutcome, BackstopError> {
    let input: AttachInput = parse_input(event.payload)?;
    let span = telemetry::run_span("attach-volumes", input.run.run_id.as_str());
    attach_volumes(
        ec2,
        &input.run.plan,
        &input.jobs,
        &input.instances,
        WaitPolicy::AWS,
    )
    .instrument(span)
    .await
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init_tracing();
    let config = aws::load_config().await;
    let ec2 = aws_sdk_ec2::Client::new(&config);
    run(service_fn(|event| handler(&ec2, event))).await
}
