//! What every kind shares: the resources a run owns and where their removal stands, the
//! restore context, and small helpers. `mod` dispatches to the kinds; the kinds import this.

use serde::{Deserialize, Serialize};

use aws_smithy_types::date_time::Format;
use aws_smithy_types::DateTime;

use crate::error::BackstopError;
use crate::model::run::{Mode, ResolvedRun, RunId};
use crate::plan::{ProtectedResource, ResourceKind};

/// The resource id inside an ARN (`vol-…`, `i-…`, `fs-…`, the DB identifier).
pub fn id_of(arn: &str) -> &str {
    arn.rsplit(['/', ':']).next().unwrap_or_default()
}

/// A health gate's look at one kind's resources.
pub(crate) enum Health {
    /// What is healthy, for the report.
    Healthy(Vec<String>),
    /// Still starting (status checks initializing, database creating): worth waiting for.
    NotYet(String),
}

/// Where a resource is in its deletion, after one teardown pass over it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "state", content = "detail")]
pub enum Removal {
    /// Deleted (or found already gone).
    Gone,
    /// Deletion under way (detaching, mount targets deleting, DB deleting): look again later.
    Pending(String),
    /// Teardown will not or cannot delete it; the reason says what to do.
    Kept(String),
}

/// A resource of the run to delete: its kind and id.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Owned {
    pub kind: OwnedKind,
    pub id: String,
    /// The plan entry it was created for, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
}

/// What kind of thing a run owns (as written in reports: `instance`, `db-instance`, ...).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum OwnedKind {
    // in the order of their names (teardown goes through them in this order)
    DbInstance,
    /// A drill's DNS record.
    DnsRecord,
    /// Fast snapshot restore the run enabled on a DR copy (`snap-…/<AZ>`): disabled, not deleted.
    FastSnapshotRestore,
    FileSystem,
    #[default]
    Instance,
    /// A copy a drill of the way home made in the primary region's vault.
    RecoveryPoint,
    /// A restore job still running (what it creates is the run's).
    RestoreJob,
    /// A drill's copy of the network stack.
    Stack,
    Volume,
}

impl std::fmt::Display for OwnedKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(match self {
            OwnedKind::Instance => "instance",
            OwnedKind::Volume => "volume",
            OwnedKind::DbInstance => "db-instance",
            OwnedKind::FileSystem => "file-system",
            OwnedKind::DnsRecord => "dns-record",
            OwnedKind::Stack => "stack",
            OwnedKind::RestoreJob => "restore-job",
            OwnedKind::RecoveryPoint => "recovery-point",
            OwnedKind::FastSnapshotRestore => "fast-snapshot-restore",
        })
    }
}

impl Owned {
    /// What a restore of `kind` created at `arn`.
    pub fn restored(kind: &ResourceKind, arn: &str, resource: Option<String>) -> Option<Owned> {
        let owned_kind = match kind {
            // restored as an EBS volume
            ResourceKind::Ebs | ResourceKind::StorageGateway => OwnedKind::Volume,
            ResourceKind::Ec2 => OwnedKind::Instance,
            ResourceKind::Rds => OwnedKind::DbInstance,
            ResourceKind::Efs => OwnedKind::FileSystem,
            ResourceKind::Unknown(_) => return None,
        };
        Some(Owned {
            kind: owned_kind,
            id: id_of(arn).to_string(),
            resource,
        })
    }
}

/// A resource found carrying the run's tag, and where clients reached it (a drill record may
/// point there), with what teardown needs to prove the run created it.
#[derive(Debug, Clone, Default)]
pub struct Found {
    pub owned: Owned,
    pub endpoint: Option<String>,
    /// Its `backstop:mode` tag.
    pub mode: Option<String>,
    /// When AWS says it was created (seconds since the epoch), when it says.
    pub created: Option<i64>,
    /// An instance launched with the ClientToken this run derives for its name, type and
    /// subnet: EC2's own record that this run's launch created it.
    pub launched_by_run: bool,
}

/// Seconds since the epoch of an SDK time.
pub(super) fn epoch(time: Option<&aws_smithy_types::DateTime>) -> Option<i64> {
    time.map(|t| t.secs())
}

/// The value of `key` among `tags` (`(key, value)` pairs).
pub(super) fn tag_value<'t>(
    tags: impl IntoIterator<Item = (&'t str, &'t str)>,
    key: &str,
) -> Option<&'t str> {
    tags.into_iter().find(|(k, _)| *k == key).map(|(_, v)| v)
}

/// Whether a resource still exists, and the run id it is tagged with.
pub enum Tagged {
    Gone,
    With(String),
    Untagged,
}

/// What a run's restore steps need to know about the run.
#[derive(Debug, Clone)]
pub struct RestoreContext {
    pub run_id: RunId,
    pub mode: Mode,
    pub plan_name: String,
    pub dr_region: String,
    pub backup_vault: String,
    /// The vault's owner when it is another account's shared air-gapped vault.
    pub backup_vault_account_id: Option<String>,
    /// The role AWS Backup assumes to restore (the deployment's restore role).
    pub restore_role_arn: Option<String>,
    /// When the run started: its restore jobs are created after this.
    pub started_at: DateTime,
    /// The run resumes a failed one: failed restores get another attempt.
    pub resume: bool,
    /// The run's bound: past it, a poll ends the run with `Backstop.Timeout`.
    pub deadline: Option<DateTime>,
    /// A drill's isolation block (never set in a failover).
    pub drill: Option<crate::plan::DrillIsolation>,
    /// The invocation's deadline: a round starts or finishes no more jobs once it is near (the
    /// rest wait for the next round), so a large run never outlasts the function's Timeout.
    pub invocation_deadline: Option<std::time::SystemTime>,
    /// The resources the plan restores with fast snapshot restore.
    pub fast_restore: std::collections::BTreeSet<String>,
}

impl RestoreContext {
    /// The context of `run`'s restores, AWS Backup assuming `restore_role_arn`.
    pub fn for_run(run: &ResolvedRun, restore_role_arn: Option<String>) -> RestoreContext {
        let time = |text: &str| DateTime::from_str(text, Format::DateTime).ok();
        RestoreContext {
            started_at: time(&run.started_at).unwrap_or(DateTime::from_secs(0)),
            resume: run.resumed,
            deadline: time(&run.deadline),
            run_id: run.run_id.clone(),
            mode: run.mode,
            plan_name: run.plan.name.clone(),
            dr_region: run.plan.dr_region.clone(),
            backup_vault: run.plan.backup_vault.clone(),
            // a vault of the account the run restores in is its own there
            backup_vault_account_id: run.plan.backup_vault_account_id.clone().filter(|owner| {
                run.recovers_into()
                    .is_none_or(|into| into.account_id() != owner)
            }),
            restore_role_arn,
            drill: run.plan.drill.clone().filter(|_| run.mode == Mode::Drill),
            invocation_deadline: None,
            fast_restore: run
                .plan
                .resources
                .iter()
                .filter(|r| r.ebs.as_ref().is_some_and(|ebs| ebs.fast_snapshot_restore))
                .map(|r| r.name.clone())
                .collect(),
        }
    }

    #[cfg(test)]
    pub(crate) fn for_test(mode: Mode) -> Self {
        RestoreContext {
            run_id: RunId::try_from("test-1".to_string()).unwrap(),
            mode,
            plan_name: "shop".into(),
            dr_region: "us-west-2".into(),
            backup_vault: "backstop-dr".into(),
            backup_vault_account_id: None,
            restore_role_arn: None,
            started_at: DateTime::from_secs(0),
            resume: false,
            deadline: None,
            drill: None,
            invocation_deadline: None,
            fast_restore: Default::default(),
        }
    }
}

/// The per-kind settings block of a resource, or a clear error naming what is missing.
pub(crate) fn require_settings<'a, T>(
    resource: &ProtectedResource,
    settings: Option<&'a T>,
    needed: &str,
) -> Result<&'a T, BackstopError> {
    settings.ok_or_else(|| {
        BackstopError::invalid_input(
            format!("plan.resources[{}].{needed}", resource.name),
            format!(
                "{} ({}) needs `{needed}` to be restored in the DR region",
                resource.name, resource.kind
            ),
        )
    })
}
