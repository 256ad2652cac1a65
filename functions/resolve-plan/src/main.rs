//! `resolve-plan`: loads and validates the DR plan of a run and picks a recovery point
//! (with its RPO) for every protected resource, stores the resolved run in the run-state
//! bucket, and returns the small reference the state machine carries.

use backstop::aws::store::{RunRef, RunStore};
use backstop::model::run::StackSite;
use backstop::steps::resolve::{resolve_and_store, ResolveClients, RunRequest};
use backstop::{aws, telemetry, BackstopError};
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde_json::Value;
use tracing::Instrument;

struct Clients {
    ssm: aws_sdk_ssm::Client,
    backup: aws_sdk_backup::Client,
    route53: aws_sdk_route53::Client,
    sfn: aws_sdk_sfn::Client,
    cloudformation: aws_sdk_cloudformation::Client,
    /// The role CloudFormation builds the DR network with (`NETWORK_STACK_ROLE_ARN`).
    network_stack_role_arn: Option<String>,
    store: RunStore,
    site: StackSite,
}

async fn handler(clients: &Clients, event: LambdaEvent<Value>) -> Result<RunRef, BackstopError> {
    let request = RunRequest::from_value(event.payload)?;
    let span = telemetry::run_span("resolve-plan", request.run_id.as_str());
    let aws = ResolveClients {
        ssm: &clients.ssm,
        s3: clients.store.s3(),
        backup: &clients.backup,
        route53: &clients.route53,
        sfn: &clients.sfn,
        cloudformation: &clients.cloudformation,
        network_stack_role_arn: clients.network_stack_role_arn.as_deref(),
        plan_parameter: clients.site.plan_parameter.as_deref(),
    };
    resolve_and_store(&aws, &clients.store, &clients.site.region, request)
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
        cloudformation: aws_sdk_cloudformation::Client::new(&config),
        network_stack_role_arn: std::env::var("NETWORK_STACK_ROLE_ARN")
            .ok()
            .filter(|arn| !arn.is_empty()),
        store: RunStore::from_env(&config)?,
        site: StackSite::from_env(config.region().map(|r| r.to_string()).unwrap_or_default()),
    };
    run(service_fn(|event| {
        telemetry::logged("resolve-plan", handler(&clients, event))
    }))
    .await
}
