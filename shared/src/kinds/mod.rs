//! One home per resource kind: what AWS Backup needs to restore it, how it is tagged for the
//! run, where clients reach it, and how a drill deletes it. Callers dispatch here once; a new
//! kind (or a new per-kind step) adds a function to its module, not a `match` elsewhere.

mod common;
pub mod ebs;
pub mod ec2;
pub mod efs;
pub mod rds;
pub mod storage_gateway;

use std::collections::HashMap;

use crate::aws::Clients;
use crate::error::BackstopError;
use crate::plan::{ProtectedResource, ResourceKind};

pub(crate) use common::Health;
pub use common::{id_of, Found, Owned, OwnedKind, Removal, RestoreContext, Tagged};

/// The AWS Backup restore metadata of `resource`, from the recovery point's own metadata.
pub(crate) fn restore_metadata(
    base: &HashMap<String, String>,
    resource: &ProtectedResource,
    ctx: &RestoreContext,
) -> Result<HashMap<String, String>, BackstopError> {
    match resource.kind {
        ResourceKind::Ebs => ebs::metadata(base, resource, ctx),
        ResourceKind::Rds => rds::metadata(base, resource, ctx),
        ResourceKind::Efs => efs::metadata(base, resource, ctx),
        ResourceKind::Ec2 => ec2::metadata(base, resource, ctx),
        ResourceKind::StorageGateway => storage_gateway::metadata(base, resource, ctx),
        ResourceKind::Unknown(ref kind) => Err(BackstopError::invalid_input(
            format!("plan.resources[{}].kind", resource.name),
            format!("unknown kind {kind}"),
        )),
    }
}

/// Whether a kind's restored resource (a volume or an instance) carries EC2 tags.
pub(crate) fn tagged_in_ec2(kind: &ResourceKind) -> bool {
    matches!(
        kind,
        ResourceKind::Ebs | ResourceKind::Ec2 | ResourceKind::StorageGateway
    )
}

/// The run id a resource is tagged with, if any.
pub(crate) async fn run_tag_of(
    clients: &Clients,
    kind: &ResourceKind,
    arn: &str,
) -> Result<Option<String>, BackstopError> {
    let id = id_of(arn);
    match kind {
        ResourceKind::Ebs | ResourceKind::Ec2 | ResourceKind::StorageGateway => {
            ec2::run_tag(&clients.ec2, id).await
        }
        ResourceKind::Rds => rds::run_tag(&clients.rds, arn).await,
        ResourceKind::Efs => efs::run_tag(&clients.efs, id).await,
        ResourceKind::Unknown(_) => Ok(None),
    }
}

/// Tags a resource the run created; `action` says what for in an error.
pub(crate) async fn tag(
    clients: &Clients,
    kind: &ResourceKind,
    arn: &str,
    tags: &[(String, String)],
    action: String,
) -> Result<(), BackstopError> {
    let id = id_of(arn);
    match kind {
        ResourceKind::Ebs | ResourceKind::Ec2 | ResourceKind::StorageGateway => {
            ec2::tag(&clients.ec2, id, tags, action).await
        }
        ResourceKind::Rds => rds::tag(&clients.rds, arn, tags, action).await,
        ResourceKind::Efs => efs::tag(&clients.efs, id, tags, action).await,
        ResourceKind::Unknown(_) => Ok(()),
    }
}

/// Everything carrying the run's tag, across the kinds Backstop creates.
pub async fn tagged_with_run(clients: &Clients, run_id: &str) -> Result<Vec<Found>, BackstopError> {
    let mut found = ec2::tagged_instances(&clients.ec2, run_id).await?;
    found.extend(ebs::tagged_volumes(&clients.ec2, run_id).await?);
    found.extend(rds::tagged(&clients.rds, run_id).await?);
    found.extend(efs::tagged(&clients.efs, run_id).await?);
    Ok(found)
}

/// Reads `owned`'s run tag without changing anything (terminated instances keep their tags).
pub async fn run_tag_of_owned(clients: &Clients, owned: &Owned) -> Result<Tagged, BackstopError> {
    let tag = match owned.kind {
        OwnedKind::Instance => ec2::instance_run_tag(&clients.ec2, &owned.id).await,
        OwnedKind::Volume => ebs::volume_run_tag(&clients.ec2, &owned.id).await,
        OwnedKind::DbInstance => rds::db_run_tag(&clients.rds, &owned.id).await,
        OwnedKind::FileSystem => efs::run_tag(&clients.efs, &owned.id).await,
        OwnedKind::DnsRecord
        | OwnedKind::Stack
        | OwnedKind::RestoreJob
        | OwnedKind::RecoveryPoint
        | OwnedKind::FastSnapshotRestore => Ok(None),
    };
    match tag {
        Ok(Some(tag)) => Ok(Tagged::With(tag)),
        Ok(None) => Ok(Tagged::Untagged),
        Err(BackstopError::NotFound { .. }) => Ok(Tagged::Gone),
        Err(other) => Err(other),
    }
}

/// One teardown pass over `owned`: starts (or checks) its deletion. Idempotent. A database of
/// a failover gets a final snapshot (`final_snapshot`).
pub async fn remove(
    clients: &Clients,
    owned: &Owned,
    final_snapshot: bool,
) -> Result<Removal, BackstopError> {
    match owned.kind {
        OwnedKind::Instance => ec2::remove_instance(&clients.ec2, &owned.id).await,
        OwnedKind::Volume => ebs::remove_volume(&clients.ec2, &owned.id).await,
        OwnedKind::DbInstance => rds::remove(&clients.rds, &owned.id, final_snapshot).await,
        OwnedKind::FileSystem => efs::remove(&clients.efs, &owned.id).await,
        other => Ok(Removal::Kept(format!("{other} is not removed here"))),
    }
}
