//! The restores of a run: what each protected resource is restored from, and its job as last seen.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::plan::ResourceKind;

/// One protected resource and the recovery point it is restored from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RestoreItem {
    pub resource: String,
    pub kind: ResourceKind,
    pub source_arn: String,
    pub recovery_point_arn: String,
    /// RFC 3339; when the data was captured: the initiation of the backup job the DR copy
    /// comes from (a copy made hours later still holds data of that time).
    pub recovery_point_created_at: String,
    /// RFC 3339; when the DR copy itself was created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copied_at: Option<String>,
    /// Data lost if the run recovers to this point: point in time − data capture.
    pub rpo_seconds: i64,
    /// The RPO is above the plan's objective.
    pub rpo_breached: bool,
    /// The plan marks the resource optional: a failed restore of it is a warning, not the
    /// run's failure.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub optional: bool,
    /// The recovery point's size as AWS Backup lists it: larger restores take longer, so
    /// they start first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<i64>,
}

/// A restore job of the run, as last seen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RestoreJob {
    pub resource: String,
    pub kind: ResourceKind,
    pub recovery_point_arn: String,
    pub restore_job_id: String,
    /// 0 for the first restore of the resource in this run; a resumed run retries a FAILED
    /// restore as attempt 1, 2, ... (each with its own idempotency token).
    #[serde(default)]
    pub attempt: u32,
    /// AWS Backup's status of the job.
    pub status: JobStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_resource_arn: Option<String>,
    /// Where clients connect, for kinds that have one (the RDS address).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// RFC 3339; when AWS Backup says the job ended (the restored volume exists from then).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<String>,
    /// For a volume the plan restores with fast snapshot restore: whether EC2 created it with
    /// it (`FastRestored`), i.e. at full performance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fast_restored: Option<bool>,
}

impl RestoreJob {
    pub fn is_finished(&self) -> bool {
        self.status.is_finished()
    }

    pub fn did_not_complete(&self) -> bool {
        self.status.did_not_complete()
    }
}

/// The state of an AWS Backup job (backup, copy or restore), as AWS Backup writes it
/// (`COMPLETED`, ...). A state this version does not know is kept as it came.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum JobStatus {
    Created,
    Pending,
    Running,
    Aborting,
    Aborted,
    Completed,
    Failed,
    Expired,
    Partial,
    #[serde(untagged)]
    Other(String),
}

impl JobStatus {
    pub fn as_str(&self) -> &str {
        match self {
            JobStatus::Created => "CREATED",
            JobStatus::Pending => "PENDING",
            JobStatus::Running => "RUNNING",
            JobStatus::Aborting => "ABORTING",
            JobStatus::Aborted => "ABORTED",
            JobStatus::Completed => "COMPLETED",
            JobStatus::Failed => "FAILED",
            JobStatus::Expired => "EXPIRED",
            JobStatus::Partial => "PARTIAL",
            JobStatus::Other(other) => other,
        }
    }

    /// The job will not change any more.
    pub fn is_finished(&self) -> bool {
        matches!(self, JobStatus::Completed) || self.did_not_complete()
    }

    /// The job ended without its result: failed, aborted or expired.
    pub fn did_not_complete(&self) -> bool {
        matches!(
            self,
            JobStatus::Failed | JobStatus::Aborted | JobStatus::Expired
        )
    }

    /// Created, queued or running: its result is still to come.
    pub fn is_pending(&self) -> bool {
        matches!(
            self,
            JobStatus::Created | JobStatus::Pending | JobStatus::Running | JobStatus::Aborting
        )
    }
}

impl From<&str> for JobStatus {
    fn from(text: &str) -> Self {
        serde_json::from_value(serde_json::Value::String(text.to_string()))
            .unwrap_or_else(|_| JobStatus::Other(text.to_string()))
    }
}

impl fmt::Display for JobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_reads_and_writes_as_aws_backup_spells_it() {
        for text in [
            "CREATED",
            "PENDING",
            "RUNNING",
            "COMPLETED",
            "FAILED",
            "ABORTED",
            "EXPIRED",
        ] {
            let status = JobStatus::from(text);
            assert!(!matches!(status, JobStatus::Other(_)), "{text}");
            assert_eq!(serde_json::to_value(&status).unwrap(), text);
            assert_eq!(status.to_string(), text);
        }
        let unknown = JobStatus::from("PAUSED");
        assert_eq!(unknown, JobStatus::Other("PAUSED".into()));
        assert_eq!(serde_json::to_value(&unknown).unwrap(), "PAUSED");
        assert!(!unknown.is_finished() && !unknown.is_pending());
        assert!(JobStatus::Expired.did_not_complete() && JobStatus::Aborted.is_finished());
    }
}
