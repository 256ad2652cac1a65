//! The copies a drill of the way home made in the primary region's vault: its teardown deletes
//! each one it can prove its own (its copy job, started by this run, made it), like anything
//! else the drill created.

use aws_smithy_types::date_time::Format;
use aws_smithy_types::DateTime;

use super::capture::Capture;
use crate::error::{BackstopError, SdkContext};
use crate::kinds::Removal;
use crate::model::run::ResolvedRun;

/// One teardown pass over a drill's copy home: `dr` reads its copy job (copy jobs are AWS
/// Backup's in the source region), `home` deletes the recovery point.
pub async fn remove_home_copy(
    dr: &aws_sdk_backup::Client,
    home: &aws_sdk_backup::Client,
    run: &ResolvedRun,
    capture: &Capture,
) -> Result<Removal, BackstopError> {
    let (Some(job_id), Some(point)) = (&capture.copy_job_id, &capture.home_recovery_point_arn)
    else {
        return Ok(Removal::Gone);
    };
    let job = match dr
        .describe_copy_job()
        .copy_job_id(job_id)
        .send()
        .await
        .context(format!("reading copy job {job_id}"))
    {
        Ok(answer) => answer.copy_job,
        // no such job in the DR region: nothing proves the copy the run's
        Err(BackstopError::NotFound { .. }) => None,
        Err(err) => return Err(err),
    };
    let started = DateTime::from_str(&run.started_at, Format::DateTime).ok();
    let proven = job.as_ref().is_some_and(|job| {
        job.destination_recovery_point_arn() == Some(point.as_str())
            && job.destination_backup_vault_arn().is_some_and(|vault| {
                vault.ends_with(&format!(":backup-vault:{}", run.plan.backup_vault))
            })
            && match (job.creation_date(), started) {
                (Some(created), Some(started)) => created.secs() >= started.secs(),
                _ => false,
            }
    });
    if !proven {
        return Ok(Removal::Kept(format!(
            "copy job {job_id} did not make {point} for this run: left alone"
        )));
    }
    match home
        .delete_recovery_point()
        .backup_vault_name(&run.plan.backup_vault)
        .recovery_point_arn(point)
        .send()
        .await
        .context(format!("deleting the drill's copy {point}"))
    {
        Ok(_) | Err(BackstopError::NotFound { .. }) => Ok(Removal::Gone),
        Err(err) if err.is_transient() => Err(err),
        Err(err) => Ok(Removal::Kept(format!(
            "{err}: the home vault keeps it until its retention ends"
        ))),
    }
}
