//! `teardown`: one pass of deleting what a run created. The state machine runs it after
//! every drill (success or failure) until nothing is pending; an operator can invoke it with
//! `{"runId": "<execution name>"}` for any run (a failover also needs `"allowFailover": true`).

use backstop::aws::store::RunStore;
use backstop::aws::wait::work_deadline;
use backstop::steps::resolve::parse_input;
use backstop::steps::teardown::{teardown, TeardownClients, TeardownRequest, TeardownSummary};
use backstop::{aws, telemetry, BackstopError};
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde_json::Value;
use tracing::Instrument;

async fn handler(
    clients: &TeardownClients,
    event: LambdaEvent<Value>,
) -> Result<TeardownSummary, BackstopError> {
    let deadline = event.context.deadline();
    let request: TeardownRequest = parse_input(event.payload)?;
    let span = telemetry::run_span("teardown", request.run_id.as_str());
    let now = aws_smithy_types::DateTime::from(std::time::SystemTime::now());
    let outcome = teardown(clients, request, now, Some(work_deadline(deadline)))
        .instrument(span)
        .await?;
    Ok(outcome.summary())
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init_tracing();
    let config = aws::load_config().await;
    let clients = TeardownClients {
        backup: aws_sdk_backup::Client::new(&config),
        ec2: aws_sdk_ec2::Client::new(&config),
        rds: aws_sdk_rds::Client::new(&config),
        efs: aws_sdk_efs::Client::new(&config),
        route53: aws_sdk_route53::Client::new(&config),
        cloudformation: aws_sdk_cloudformation::Client::new(&config),
        store: RunStore::from_env(&config)?,
        restore_role_arn: std::env::var("BACKSTOP_RESTORE_ROLE_ARN")
            .ok()
            .filter(|arn| !arn.is_empty()),
    };
    run(service_fn(|event| {
        telemetry::logged("teardown", handler(&clients, event))
    }))
    .await
}
