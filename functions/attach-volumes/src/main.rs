//! `attach-volumes`: attaches each restored EBS volume to its planned instance and device.

use backstop::compute::{account_of, attach_volumes, AttachOutcome, LaunchedInstance, VolumeOwner};
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
    let wait = WaitPolicy::until(event.context.deadline());
    let invoked_arn = event.context.invoked_function_arn.clone();
    let input: AttachInput = parse_input(event.payload)?;
    let run = input.run.checked()?;
    let wait = wait.within_run(&run.deadline);
    let span = telemetry::run_span("attach-volumes", run.run_id.as_str());
    // this function's own account: only volumes of this account and region are attached
    let account = account_of(&invoked_arn);
    let owner = VolumeOwner {
        run_id: &run.run_id,
        account: account.as_deref(),
        region: &run.plan.dr_region,
    };
    attach_volumes(ec2, &run.plan, &owner, &input.jobs, &input.instances, wait)
        .instrument(span)
        .await
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init_tracing();
    let config = aws::load_config().await;
    let ec2 = aws_sdk_ec2::Client::new(&config);
    run(service_fn(|event| {
        telemetry::logged("attach-volumes", handler(&ec2, event))
    }))
    .await
}
