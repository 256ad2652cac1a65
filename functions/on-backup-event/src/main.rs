//! `on-backup-event`: AWS Backup's `Backup Job State Change` and `Copy Job State Change`
//! events. A completed copy into the DR vault emits the resource's RPO metric (EMF) and may
//! start a verification drill; a failed, aborted or expired job is logged, counted and
//! announced on the notice topic.

use backstop::steps::{on_backup_event, serve};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    serve("on-backup-event", on_backup_event::run).await
}
