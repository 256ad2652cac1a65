//! `on-backup-event`: AWS Backup's `Backup Job State Change` and `Copy Job State Change`
//! events. A completed copy into the DR vault emits the resource's RPO metric (EMF) and may
//! start a verification drill; a failed, aborted or expired job is logged, counted and
//! announced on the notice topic.

use backstop::steps::on_backup_event::{
    handle_job_change, parse_backup_event, BackupWatch, EventOutcome, WatchClients,
};
use backstop::{aws, telemetry, BackstopError};
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde_json::Value;

struct Clients {
    ssm: aws_sdk_ssm::Client,
    backup: aws_sdk_backup::Client,
    sfn: aws_sdk_sfn::Client,
    sns: aws_sdk_sns::Client,
    /// Read once at init; a missing setting fails every event with the same clear error.
    watch: Result<BackupWatch, String>,
}

async fn handler(
    clients: &Clients,
    event: LambdaEvent<Value>,
) -> Result<EventOutcome, BackstopError> {
    let change = parse_backup_event(event.payload)?;
    let watch = clients
        .watch
        .as_ref()
        .map_err(|message| BackstopError::invalid_input("PLAN_PARAMETER", message.clone()))?;
    let aws = WatchClients {
        ssm: &clients.ssm,
        backup: &clients.backup,
        sfn: &clients.sfn,
        sns: &clients.sns,
    };
    handle_job_change(&aws, watch, change).await
}

fn watch_from_env(region: String) -> Result<BackupWatch, String> {
    let setting = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    Ok(BackupWatch {
        plan_parameter: setting("PLAN_PARAMETER")
            .ok_or("is not set in the function's environment (the template sets it)".to_string())?,
        topic_arn: setting("NOTICE_TOPIC_ARN"),
        state_machine_arn: setting("STATE_MACHINE_ARN"),
        region,
        account: setting("STACK_ACCOUNT"),
    })
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init_tracing();
    let config = aws::load_config().await;
    let clients = Clients {
        ssm: aws_sdk_ssm::Client::new(&config),
        backup: aws_sdk_backup::Client::new(&config),
        sfn: aws_sdk_sfn::Client::new(&config),
        sns: aws_sdk_sns::Client::new(&config),
        watch: watch_from_env(config.region().map(|r| r.to_string()).unwrap_or_default()),
    };
    run(service_fn(|event| {
        telemetry::logged("on-backup-event", handler(&clients, event))
    }))
    .await
}
