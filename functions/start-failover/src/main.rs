//! `start-failover`: a CloudWatch alarm moving into ALARM starts exactly one failover of the
//! plan. Takes the `CloudWatch Alarm State Change` EventBridge event and the payload of an
//! alarm's Lambda action alike; duplicates, other transitions and a second incident while a
//! failover runs are logged and ignored.

use backstop::aws::store::RunStore;
use backstop::steps::start_failover::{
    parse_alarm_event, start_failover, FailoverTrigger, TriggerOutcome,
};
use backstop::{aws, telemetry, BackstopError};
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde_json::Value;

struct Clients {
    sfn: aws_sdk_sfn::Client,
    /// To confirm the alarm is in ALARM before starting anything.
    cloudwatch: aws_sdk_cloudwatch::Client,
    /// Read once at init; a missing setting fails every event with the same clear error.
    trigger: Result<FailoverTrigger, String>,
    /// Where the last failover started is recorded (`RUN_STATE_BUCKET`).
    store: Result<RunStore, String>,
}

async fn handler(
    clients: &Clients,
    event: LambdaEvent<Value>,
) -> Result<TriggerOutcome, BackstopError> {
    let transition = parse_alarm_event(event.payload)?;
    let trigger = clients
        .trigger
        .as_ref()
        .map_err(|message| BackstopError::invalid_input("environment", message.clone()))?;
    let store = clients
        .store
        .as_ref()
        .map_err(|message| BackstopError::invalid_input("environment", message.clone()))?;
    start_failover(
        &clients.sfn,
        &clients.cloudwatch,
        store,
        trigger,
        transition,
    )
    .await
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init_tracing();
    let config = aws::load_config().await;
    let clients = Clients {
        sfn: aws_sdk_sfn::Client::new(&config),
        cloudwatch: aws_sdk_cloudwatch::Client::new(&config),
        trigger: FailoverTrigger::from_env().map_err(|err| err.to_string()),
        store: RunStore::from_env(&config).map_err(|err| err.to_string()),
    };
    run(service_fn(|event| {
        telemetry::logged("start-failover", handler(&clients, event))
    }))
    .await
}
