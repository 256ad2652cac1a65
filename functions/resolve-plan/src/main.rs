//! `resolve-plan`: loads and validates the DR plan of a run and picks a recovery point
//! (with its RPO) for every protected resource.

use backstop::resolve::{resolve_plan, ResolveClients, ResolvedRun, RunRequest};
use backstop::{aws, telemetry, BackstopError};
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde_json::Value;
use tracing::Instrument;

struct Clients {
    ssm: aws_sdk_ssm::Client,
    backup: aws_sdk_backup::Client,
    route53: aws_sdk_route53::Client,
    sfn: aws_sdk_sfn::Client,
    region: String,
}

async fn handler(
    clients: &Clients,
    event: LambdaEvent<Value>,
) -> Result<ResolvedRun, BackstopError> {
    let request = RunRequest::from_value(event.payload)?;
    let span = telemetry::run_span("resolve-plan", request.run_id.as_str());
    let aws = ResolveClients {
        ssm: &clients.ssm,
        backup: &clients.backup,
        route53: &clients.route53,
        sfn: &clients.sfn,
    };
    resolve_plan(&aws, &clients.region, request)
        .instrument(span)
        .await
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init_tracing();
    let config = aws::load_config().await;
    let clients = Clients {
        ssm: aws_sdk_ssm::Client::new(&config),
        backup: aws_sdk_backup::Client::new(&config),
        route53: aws_sdk_route53::Client::new(&config),
        sfn: aws_sdk_sfn::Client::new(&config),
        region: config.region().map(|r| r.to_string()).unwrap_or_default(),
    };
    run(service_fn(|event| {
        telemetry::logged("resolve-plan", handler(&clients, event))
    }))
    .await
}
