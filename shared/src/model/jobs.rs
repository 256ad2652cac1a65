//! The restores of a run: what each protected resource is restored from, and its job as last seen.

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
    /// AWS Backup's status: PENDING, RUNNING, COMPLETED, FAILED, ABORTED.
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_resource_arn: Option<String>,
    /// Where clients connect, for kinds that have one (the RDS address).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
}

impl RestoreJob {
    pub fn is_finished(&self) -> bool {
        matches!(self.status.as_str(), "COMPLETED" | "FAILED" | "ABORTED")
    }

    pub fn did_not_complete(&self) -> bool {
        matches!(self.status.as_str(), "FAILED" | "ABORTED")
    }
}
