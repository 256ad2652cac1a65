//! The recovery points a run restores from: the freshest COMPLETED copy of each protected
//! resource in the DR vault at or before the point in time, and its RPO.

use crate::error::{classify_sdk_error, shorten, BackstopError, MAX_MESSAGE_CHARS};
use crate::model::jobs::RestoreItem;
use crate::model::time::format_time;
use crate::plan::{Plan, VaultRef};
use aws_sdk_backup::types::RecoveryPointStatus;
use aws_smithy_types::DateTime;
use std::collections::HashMap;

/// A COMPLETED copy in the DR vault.
#[derive(Debug, Clone)]
pub struct DrCopy {
    pub arn: String,
    /// When its data was captured (InitiationDate; CreationDate where AWS gives no other).
    pub data_time: DateTime,
    pub created: DateTime,
    /// The KMS key the copy is encrypted with (a restore needs it usable in the DR region).
    pub encryption_key_arn: Option<String>,
    /// Its size, as AWS Backup lists it.
    pub size_bytes: Option<i64>,
}

/// For every protected resource, the COMPLETED copy in the DR vault with the newest data
/// captured at or before `point_in_time`. A resource without one fails the run, unless the
/// plan marks it optional: then it becomes a warning. The vault is listed once, whatever the
/// number of resources.
pub async fn select_recovery_points(
    backup: &aws_sdk_backup::Client,
    plan: &Plan,
    point_in_time: DateTime,
) -> Result<(Vec<RestoreItem>, Vec<String>), BackstopError> {
    select_among(backup, plan, point_in_time, None).await
}

/// [`select_recovery_points`] among `only` these recovery points of the vault: a failback
/// restores the copies its capture made, whatever else the home vault holds of the same
/// resources (production's own backups are there too).
pub async fn select_among(
    backup: &aws_sdk_backup::Client,
    plan: &Plan,
    point_in_time: DateTime,
    only: Option<&std::collections::HashSet<String>>,
) -> Result<(Vec<RestoreItem>, Vec<String>), BackstopError> {
    let listing = Listing {
        by_resource: None,
        only,
        point_in_time,
    };
    let copies = list_vault_where(backup, plan.dr_vault(), &plan.dr_region, listing).await?;
    let mut items = Vec::new();
    let mut warnings = Vec::new();
    let mut missing = Vec::new();
    let rpo_objective = plan
        .objectives
        .rpo_minutes
        .unwrap_or(i64::MAX / 60)
        .saturating_mul(60);
    for resource in &plan.resources {
        // validation refuses a resource without an arn (tag selection is not built yet)
        let Some(source_arn) = &resource.arn else {
            continue;
        };
        let Some(copy) = copies.get(source_arn.as_str()) else {
            let message = format!(
                "{} ({source_arn}) has no COMPLETED recovery point in vault {} with data at or before {}",
                resource.name,
                plan.backup_vault,
                format_time(point_in_time)
            );
            if resource.optional {
                tracing::warn!(resource = %resource.name, "{message}; optional, skipped");
                warnings.push(format!("{message}; optional, skipped"));
            } else {
                missing.push(message);
            }
            continue;
        };
        let rpo_seconds = point_in_time.secs().saturating_sub(copy.data_time.secs());
        items.push(RestoreItem {
            resource: resource.name.clone(),
            kind: resource.kind.clone(),
            source_arn: source_arn.clone(),
            recovery_point_arn: copy.arn.clone(),
            recovery_point_created_at: format_time(copy.data_time),
            copied_at: Some(format_time(copy.created)),
            rpo_seconds,
            rpo_breached: rpo_seconds > rpo_objective,
            optional: resource.optional,
            size_bytes: copy.size_bytes,
        });
    }
    if !missing.is_empty() {
        return Err(BackstopError::not_found(
            format!(
                "recovery point{} for {} resource{}",
                plural(missing.len()),
                missing.len(),
                plural(missing.len())
            ),
            shorten(
                &format!(
                    "{}; check that AWS Backup copies them to {} (or mark a resource optional)",
                    missing.join("; "),
                    plan.dr_region
                ),
                MAX_MESSAGE_CHARS,
            ),
        ));
    }
    Ok((items, warnings))
}

pub(super) fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// The freshest COMPLETED copy of one resource in the DR vault: its recovery point ARN and
/// when its data was captured (what its RPO counts from). One filtered listing.
pub async fn freshest_copy(
    backup: &aws_sdk_backup::Client,
    vault: VaultRef<'_>,
    dr_region: &str,
    resource_arn: &str,
) -> Result<Option<(String, DateTime)>, BackstopError> {
    let now = DateTime::from(std::time::SystemTime::now());
    let copies = list_vault(backup, vault, dr_region, Some(resource_arn), now).await?;
    Ok(copies
        .get(resource_arn)
        .map(|copy| (copy.arn.clone(), copy.data_time)))
}

/// The newest COMPLETED copy per source resource ARN with data captured at or before
/// `point_in_time`: one paginated listing of the vault, whatever the number of resources.
pub async fn dr_copies(
    backup: &aws_sdk_backup::Client,
    vault: VaultRef<'_>,
    dr_region: &str,
    point_in_time: DateTime,
) -> Result<HashMap<String, DrCopy>, BackstopError> {
    list_vault(backup, vault, dr_region, None, point_in_time).await
}

/// The newest usable copy per source resource ARN, from one paginated listing of the vault
/// (of one resource's copies, given `by_resource`).
pub(super) async fn list_vault(
    backup: &aws_sdk_backup::Client,
    vault: VaultRef<'_>,
    dr_region: &str,
    by_resource: Option<&str>,
    point_in_time: DateTime,
) -> Result<HashMap<String, DrCopy>, BackstopError> {
    let listing = Listing {
        by_resource,
        only: None,
        point_in_time,
    };
    list_vault_where(backup, vault, dr_region, listing).await
}

/// Which recovery points a listing of the vault considers.
struct Listing<'a> {
    /// Of this source resource only.
    by_resource: Option<&'a str>,
    /// These recovery points only.
    only: Option<&'a std::collections::HashSet<String>>,
    /// With data at or before this.
    point_in_time: DateTime,
}

async fn list_vault_where(
    backup: &aws_sdk_backup::Client,
    vault: VaultRef<'_>,
    dr_region: &str,
    listing: Listing<'_>,
) -> Result<HashMap<String, DrCopy>, BackstopError> {
    let Listing {
        by_resource,
        only,
        point_in_time,
    } = listing;
    let mut pages = backup
        .list_recovery_points_by_backup_vault()
        .backup_vault_name(vault.name)
        .set_backup_vault_account_id(vault.account_param())
        .set_by_resource_arn(by_resource.map(str::to_string))
        .into_paginator()
        .send();
    let mut newest: HashMap<String, DrCopy> = HashMap::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|err| {
            let err = classify_sdk_error(format!("listing the recovery points in vault {vault}"), err);
            match err {
                BackstopError::NotFound { .. } => BackstopError::not_found(
                    format!("backup vault {vault}"),
                    format!(
                        "the vault does not exist in {dr_region}: create it, or correct backupVault in the plan"
                    ),
                ),
                other => other,
            }
        })?;
        for point in page.recovery_points() {
            let (Some(arn), Some(source), Some(created)) = (
                point.recovery_point_arn(),
                point.resource_arn(),
                point.creation_date(),
            ) else {
                continue;
            };
            let data_time = point.initiation_date().unwrap_or(created);
            let completed = point.status() == Some(&RecoveryPointStatus::Completed);
            let excluded = only.is_some_and(|only| !only.contains(arn));
            if !completed || excluded || data_time.secs() > point_in_time.secs() {
                continue;
            }
            let better = newest
                .get(source)
                .is_none_or(|best| data_time.secs() > best.data_time.secs());
            if better {
                newest.insert(
                    source.to_string(),
                    DrCopy {
                        arn: arn.to_string(),
                        data_time: *data_time,
                        created: *created,
                        encryption_key_arn: point
                            .is_encrypted()
                            .then(|| point.encryption_key_arn().map(str::to_string))
                            .flatten(),
                        size_bytes: point.backup_size_in_bytes(),
                    },
                );
            }
        }
    }
    Ok(newest)
}
