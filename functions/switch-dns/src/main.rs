//! `switch-dns`: health gate, then Route 53 records to the DR endpoints (drill: drill records only).

use backstop::aws::store::RunStore;
use backstop::aws::wait::WaitPolicy;
use backstop::steps::resolve::parse_input;
use backstop::steps::switch_dns::{DnsClients, SwitchOutcome};
use backstop::steps::{switch_round, SwitchInput};
use backstop::{aws, telemetry, BackstopError};
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde_json::Value;
use tracing::Instrument;

async fn handler(
    (clients, store): (&DnsClients, &RunStore),
    event: LambdaEvent<Value>,
) -> Result<SwitchOutcome, BackstopError> {
    let wait = WaitPolicy::until(event.context.deadline());
    let input: SwitchInput = parse_input(event.payload)?;
    let span = telemetry::run_span("switch-dns", input.run.run_id.as_str());
    switch_round(clients, store, input, wait)
        .instrument(span)
        .await
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init_tracing();
    let config = aws::load_config().await;
    let clients = DnsClients {
        route53: aws_sdk_route53::Client::new(&config),
        ec2: aws_sdk_ec2::Client::new(&config),
        rds: aws_sdk_rds::Client::new(&config),
        cloudwatch: aws_sdk_cloudwatch::Client::new(&config),
    };
    let store = RunStore::from_env(&config)?;
    run(service_fn(|event| {
        telemetry::logged("switch-dns", handler((&clients, &store), event))
    }))
    .await
}
