//! `preflight`: the first state of every run, and the scheduled readiness check. Checks the
//! plan against the DR region (vault, copies and their age, KMS keys, network, golden AMI,
//! instance types, DNS, account limits) and stops a run with `Backstop.NotReady` before
//! anything is created; on a schedule, reports the same as metrics.

use backstop::aws::store::RunStore;
use backstop::model::run::StackSite;
use backstop::steps::preflight::{preflight, PreflightOutput, PreflightRequest};
use backstop::steps::readiness::ReadinessClients;
use backstop::{aws, telemetry, BackstopError};
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde_json::Value;
use tracing::Instrument;

struct Clients {
    backup: aws_sdk_backup::Client,
    ec2: aws_sdk_ec2::Client,
    rds: aws_sdk_rds::Client,
    route53: aws_sdk_route53::Client,
    ssm: aws_sdk_ssm::Client,
    kms: aws_sdk_kms::Client,
    cloudwatch: aws_sdk_cloudwatch::Client,
    cloudformation: aws_sdk_cloudformation::Client,
    store: RunStore,
    site: StackSite,
}

async fn handler(
    clients: &Clients,
    event: LambdaEvent<Value>,
) -> Result<PreflightOutput, BackstopError> {
    let deadline = event.context.deadline();
    let request = PreflightRequest::from_value(event.payload)?;
    let span = match &request {
        PreflightRequest::Run(run) => telemetry::run_span("preflight", run.run_id.as_str()),
        PreflightRequest::Scheduled(_) => telemetry::run_span("preflight", "scheduled"),
    };
    let aws = ReadinessClients {
        backup: &clients.backup,
        ec2: &clients.ec2,
        rds: &clients.rds,
        route53: &clients.route53,
        ssm: &clients.ssm,
        kms: &clients.kms,
        cloudwatch: &clients.cloudwatch,
        cloudformation: &clients.cloudformation,
        s3: clients.store.s3(),
    };
    let store = Some(&clients.store);
    preflight(
        &aws,
        clients.store.s3(),
        store,
        &clients.site,
        request,
        Some(deadline),
    )
    .instrument(span)
    .await
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init_tracing();
    let config = aws::load_config().await;
    let clients = Clients {
        backup: aws_sdk_backup::Client::new(&config),
        ec2: aws_sdk_ec2::Client::new(&config),
        rds: aws_sdk_rds::Client::new(&config),
        route53: aws_sdk_route53::Client::new(&config),
        ssm: aws_sdk_ssm::Client::new(&config),
        kms: aws_sdk_kms::Client::new(&config),
        cloudwatch: aws_sdk_cloudwatch::Client::new(&config),
        cloudformation: aws_sdk_cloudformation::Client::new(&config),
        store: RunStore::from_env(&config)?,
        site: StackSite::from_env(config.region().map(|r| r.to_string()).unwrap_or_default()),
    };
    run(service_fn(|event| {
        telemetry::logged("preflight", handler(&clients, event))
    }))
    .await
}
