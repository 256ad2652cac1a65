//! `launch-instances`: launches the plan's instances from the golden AMI in the DR network,
//! idempotently, falling back through the plan's instance types and subnets on capacity errors.

use backstop::compute::{launch_instances, LaunchContext, LaunchOutcome};
use backstop::resolve::{parse_input, ResolvedRun};
use backstop::wait::WaitPolicy;
use backstop::{aws, telemetry, BackstopError};
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde::Deserialize;
use serde_json::Value;
use tracing::Instrument;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct LaunchInput {
    run: ResolvedRun,
}

struct Clients {
    ec2: aws_sdk_ec2::Client,
    ssm: aws_sdk_ssm::Client,
}

async fn handler(
    clients: &Clients,
    event: LambdaEvent<Value>,
) -> Result<LaunchOutcome, BackstopError> {
    let wait = WaitPolicy::until(event.context.deadline());
    let LaunchInput { run } = parse_input(event.payload)?;
    let run = run.checked()?;
    let wait = wait.within_run(&run.deadline);
    let span = telemetry::run_span("launch-instances", run.run_id.as_str());
    let ctx = LaunchContext {
        run_id: &run.run_id,
        mode: run.mode,
        plan: &run.plan,
        wait,
    };
    launch_instances(&clients.ec2, &clients.ssm, &ctx)
        .instrument(span)
        .await
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init_tracing();
    let config = aws::load_config().await;
    let clients = Clients {
        ec2: aws_sdk_ec2::Client::new(&config),
        ssm: aws_sdk_ssm::Client::new(&config),
    };
    run(service_fn(|event| {
        telemetry::logged("launch-instances", handler(&clients, event))
    }))
    .await
}
