//! `switch-dns`: health gate, then Route 53 records to the DR endpoints (drill: drill records only).

use backstop::compute::LaunchedInstance;
use backstop::dns::{switch_dns, DnsClients, PendingChange, SwitchOutcome};
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
struct SwitchInput {
    run: ResolvedRun,
    jobs: Vec<RestoreJob>,
    instances: Vec<LaunchedInstance>,
    /// Changes an earlier round submitted that were not yet INSYNC.
    #[serde(default)]
    changes: Vec<PendingChange>,
    /// When an earlier round's health gate passed.
    #[serde(default)]
    healthy_at: Option<String>,
    /// The operator's answer, when the plan asks for one (`AwaitApproval`'s output).
    #[serde(default)]
    approval: Option<Value>,
}

async fn handler(
    clients: &DnsClients,
    event: LambdaEvent<Value>,
) -> Result<SwitchOutcome, BackstopError> {
    let wait = WaitPolicy::until(event.context.deadline());
    let input: SwitchInput = parse_input(event.payload)?;
    let run = input.run.checked()?;
    // never switch a gated failover's DNS without the operator's yes, whatever led here
    run.approval.let_through(input.approval.as_ref())?;
    let wait = wait.within_run(&run.deadline);
    let span = telemetry::run_span("switch-dns", run.run_id.as_str());
    switch_dns(
        clients,
        &run.plan,
        run.mode,
        &input.instances,
        &input.jobs,
        &input.changes,
        input.healthy_at,
        wait,
    )
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
    };
    run(service_fn(|event| {
        telemetry::logged("switch-dns", handler(&clients, event))
    }))
    .await
}
