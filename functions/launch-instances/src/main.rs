//! `launch-instances`: launches the plan's instances from the golden AMI in the DR network,
//! idempotently, falling back through the plan's instance types and subnets on capacity errors.

use backstop::aws::store::RunStore;
use backstop::aws::wait::WaitPolicy;
use backstop::steps::resolve::parse_input;
use backstop::steps::{launch_round, LaunchCounts, StepInput};
use backstop::{aws, telemetry, BackstopError};
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde_json::Value;
use tracing::Instrument;

struct Clients {
    ec2: aws_sdk_ec2::Client,
    ssm: aws_sdk_ssm::Client,
    cloudformation: aws_sdk_cloudformation::Client,
    store: RunStore,
}

async fn handler(
    clients: &Clients,
    event: LambdaEvent<Value>,
) -> Result<LaunchCounts, BackstopError> {
    let wait = WaitPolicy::until(event.context.deadline());
    let StepInput { run } = parse_input(event.payload)?;
    let span = telemetry::run_span("launch-instances", run.run_id.as_str());
    let (ec2, ssm, cf) = (&clients.ec2, &clients.ssm, &clients.cloudformation);
    launch_round(ec2, ssm, cf, &clients.store, &run, wait)
        .instrument(span)
        .await
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init_tracing();
    let config = aws::load_config().await;
    let clients = Clients {
        ec2: aws_sdk_ec2::Client::new(&config),
        cloudformation: aws_sdk_cloudformation::Client::new(&config),
        ssm: aws_sdk_ssm::Client::new(&config),
        store: RunStore::from_env(&config)?,
    };
    run(service_fn(|event| {
        telemetry::logged("launch-instances", handler(&clients, event))
    }))
    .await
}
