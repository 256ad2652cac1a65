//! `resolve-plan`: loads and validates the DR plan of a run.

use backstop::resolve::{resolve_plan, ResolvedRun, RunRequest};
use backstop::{aws, telemetry, BackstopError};
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde_json::Value;
use tracing::Instrument;

async fn handler(
    ssm: &aws_sdk_ssm::Client,
    event: LambdaEvent<Value>,
) -> Result<ResolvedRun, BackstopError> {
    let request = RunRequest::from_value(event.payload)?;
    let span = telemetry::run_span("resolve-plan", request.run_id.as_str());
    resolve_plan(ssm, request).instrument(span).await
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init_tracing();
    let config = aws::load_config().await;
    let ssm = aws_sdk_ssm::Client::new(&config);
    run(service_fn(|event| handler(&ssm, event))).await
}
