//! Step 1 of recovery: turn the DR copies into resources in the DR region with
//! AWS Backup restore jobs. One module per resource kind builds its restore metadata.
//!
//! - [`select_recovery_points`]: newest COMPLETED copy at or before the point in time, and its RPO
//! - [`start_restores`]: starts the jobs not yet started, idempotently, under a concurrency cap
//! - [`poll_restores`]: one look at every job of the run; tags what completed

mod ebs;
mod ec2;
mod efs;
mod rds;

use std::collections::HashMap;

use aws_smithy_types::date_time::Format;
use aws_smithy_types::DateTime;
use serde::{Deserialize, Serialize};

use crate::error::{classify_sdk_error, BackstopError};
use crate::plan::{Plan, ProtectedResource, ResourceKind};
use crate::run::{Mode, RunId};
use crate::tags::run_tags;

/// One protected resource and the recovery point it is restored from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RestoreItem {
    pub resource: String,
    pub kind: ResourceKind,
    pub source_arn: String,
    pub recovery_point_arn: String,
    /// RFC 3339; when the backup the copy comes from was taken.
    pub recovery_point_created_at: String,
    /// Data lost if the run recovers to this point: point in time − backup creation.
    pub rpo_seconds: i64,
    /// The RPO is above the plan's objective.
    pub rpo_breached: bool,
}

/// A restore job of the run, as last seen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RestoreJob {
    pub resource: String,
    pub kind: ResourceKind,
    pub recovery_point_arn: String,
    pub restore_job_id: String,
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
}

/// What a run's restore steps need to know about the run.
#[derive(Debug, Clone)]
pub struct RestoreContext {
    pub run_id: RunId,
    pub mode: Mode,
    pub plan_name: String,
    pub dr_region: String,
    pub backup_vault: String,
    /// The role AWS Backup assumes to restore (the deployment's restore role).
    pub restore_role_arn: Option<String>,
}

impl RestoreContext {
    #[cfg(test)]
    pub(crate) fn for_test(mode: Mode) -> Self {
        RestoreContext {
            run_id: RunId::try_from("test-1".to_string()).unwrap(),
            mode,
            plan_name: "shop".into(),
            dr_region: "us-west-2".into(),
            backup_vault: "backstop-dr".into(),
            restore_role_arn: None,
        }
    }
}

/// The per-kind settings block of a resource, or a clear error naming what is missing.
fn require_settings<'a, T>(
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

fn restore_metadata(
    base: &HashMap<String, String>,
    resource: &ProtectedResource,
    ctx: &RestoreContext,
) -> Result<HashMap<String, String>, BackstopError> {
    match resource.kind {
        ResourceKind::Ebs => ebs::metadata(base, resource, ctx),
        ResourceKind::Rds => rds::metadata(base, resource, ctx),
        ResourceKind::Efs => efs::metadata(base, resource, ctx),
        ResourceKind::Ec2 => ec2::metadata(base, resource, ctx),
        ResourceKind::Unknown(ref kind) => Err(BackstopError::invalid_input(
            format!("plan.resources[{}].kind", resource.name),
            format!("unknown kind {kind}"),
        )),
    }
}

pub fn format_time(time: DateTime) -> String {
    time.fmt(Format::DateTime)
        .unwrap_or_else(|_| time.secs().to_string())
}

/// For every protected resource, the newest COMPLETED copy in the DR vault created at or
/// before `point_in_time`. A resource without one fails the run, unless the plan marks it
/// optional: then it becomes a warning.
pub async fn select_recovery_points(
    backup: &aws_sdk_backup::Client,
    plan: &Plan,
    point_in_time: DateTime,
) -> Result<(Vec<RestoreItem>, Vec<String>), BackstopError> {
    let mut items = Vec::new();
    let mut warnings = Vec::new();
    let rpo_objective = plan.objectives.rpo_minutes.unwrap_or(i64::MAX / 60) * 60;
    for (index, resource) in plan.resources.iter().enumerate() {
        let Some(source_arn) = &resource.arn else {
            return Err(BackstopError::InvalidPlan(vec![crate::plan::PlanProblem {
                field: format!("resources[{index}].tags"),
                message: "selecting resources by tags is not supported yet".into(),
                fix: "select the resource by arn".into(),
            }]));
        };
        let newest = newest_recovery_point(backup, plan, source_arn, point_in_time).await?;
        let Some((arn, created)) = newest else {
            let message = format!(
                "{} ({source_arn}) has no COMPLETED recovery point in vault {} at or before {}",
                resource.name,
                plan.backup_vault,
                format_time(point_in_time)
            );
            if resource.optional {
                tracing::warn!(resource = %resource.name, "{message}; optional, skipped");
                warnings.push(format!("{message}; optional, skipped"));
                continue;
            }
            return Err(BackstopError::not_found(
                format!("recovery point for {}", resource.name),
                format!(
                    "{message}: check that AWS Backup copies it to {}",
                    plan.dr_region
                ),
            ));
        };
        let rpo_seconds = point_in_time.secs() - created.secs();
        items.push(RestoreItem {
            resource: resource.name.clone(),
            kind: resource.kind.clone(),
            source_arn: source_arn.clone(),
            recovery_point_arn: arn,
            recovery_point_created_at: format_time(created),
            rpo_seconds,
            rpo_breached: rpo_seconds > rpo_objective,
        });
    }
    Ok((items, warnings))
}

async fn newest_recovery_point(
    backup: &aws_sdk_backup::Client,
    plan: &Plan,
    source_arn: &str,
    point_in_time: DateTime,
) -> Result<Option<(String, DateTime)>, BackstopError> {
    let mut pages = backup
        .list_recovery_points_by_backup_vault()
        .backup_vault_name(&plan.backup_vault)
        .by_resource_arn(source_arn)
        .into_paginator()
        .send();
    let mut newest: Option<(String, DateTime)> = None;
    while let Some(page) = pages.next().await {
        let page = page.map_err(|err| {
            let err = classify_sdk_error(
                format!("listing recovery points of {source_arn} in vault {}", plan.backup_vault),
                err,
            );
            match err {
                BackstopError::NotFound { .. } => BackstopError::not_found(
                    format!("backup vault {}", plan.backup_vault),
                    format!(
                        "the vault does not exist in {}: create it, or correct backupVault in the plan",
                        plan.dr_region
                    ),
                ),
                other => other,
            }
        })?;
        for point in page.recovery_points() {
            let (Some(arn), Some(created)) = (point.recovery_point_arn(), point.creation_date())
            else {
                continue;
            };
            let completed = point.status().map(|s| s.as_str()) == Some("COMPLETED");
            if !completed || created.secs() > point_in_time.secs() {
                continue;
            }
            if newest
                .as_ref()
                .is_none_or(|(_, best)| created.secs() > best.secs())
            {
                newest = Some((arn.to_string(), *created));
            }
        }
    }
    Ok(newest)
}

/// The state both restore steps read and write: the run's work and its jobs so far.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RestoreProgress {
    pub restores: Vec<RestoreItem>,
    #[serde(default)]
    pub jobs: Vec<RestoreJob>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StartOutcome {
    pub jobs: Vec<RestoreJob>,
    /// Work items not started yet (concurrency cap reached, or throttled): the next round starts them.
    pub not_started: usize,
}

/// Starts a restore job for every item without one, at most `max_running` at a time.
///
/// Idempotent: items with a job in `progress.jobs` are skipped, and each job's
/// idempotency token is derived from the run id and the resource, so a retried or
/// re-run step gets the existing job back instead of a second restore.
pub async fn start_restores(
    backup: &aws_sdk_backup::Client,
    plan: &Plan,
    ctx: &RestoreContext,
    progress: RestoreProgress,
    max_running: usize,
) -> Result<StartOutcome, BackstopError> {
    let mut jobs = progress.jobs;
    let mut running = jobs.iter().filter(|job| !job.is_finished()).count();
    let mut not_started = 0;
    for item in &progress.restores {
        if jobs.iter().any(|job| job.resource == item.resource) {
            continue;
        }
        if running >= max_running {
            not_started += 1;
            continue;
        }
        let resource = plan.resource(&item.resource).ok_or_else(|| {
            BackstopError::invalid_input(
                "restores",
                format!("{} is not a resource of plan {}", item.resource, plan.name),
            )
        })?;
        match start_one(backup, resource, item, ctx).await {
            Ok(job) => {
                tracing::info!(resource = %item.resource, job = %job.restore_job_id, "restore job started");
                jobs.push(job);
                running += 1;
            }
            // Keep what started; the state machine comes back for the rest after its wait.
            Err(err @ BackstopError::Throttled { .. }) => {
                tracing::warn!(resource = %item.resource, "{err}; retrying in the next round");
                not_started += 1;
            }
            Err(err) => return Err(err),
        }
    }
    Ok(StartOutcome { jobs, not_started })
}

async fn start_one(
    backup: &aws_sdk_backup::Client,
    resource: &ProtectedResource,
    item: &RestoreItem,
    ctx: &RestoreContext,
) -> Result<RestoreJob, BackstopError> {
    let point_region = item
        .recovery_point_arn
        .split(':')
        .nth(3)
        .unwrap_or_default();
    if point_region != ctx.dr_region {
        return Err(BackstopError::invalid_input(
            format!("restores[{}].recoveryPointArn", item.resource),
            format!(
                "recovery point {} of {} is in {point_region}, not in the DR region {}: restore from the DR copy",
                item.recovery_point_arn, item.resource, ctx.dr_region
            ),
        ));
    }
    let base = backup
        .get_recovery_point_restore_metadata()
        .backup_vault_name(&ctx.backup_vault)
        .recovery_point_arn(&item.recovery_point_arn)
        .send()
        .await
        .map_err(|err| {
            classify_sdk_error(
                format!("reading the restore metadata of {}", item.resource),
                err,
            )
        })?
        .restore_metadata
        .unwrap_or_default();
    let metadata = restore_metadata(&base, resource, ctx)?;
    let started = backup
        .start_restore_job()
        .recovery_point_arn(&item.recovery_point_arn)
        .set_metadata(Some(metadata))
        .set_iam_role_arn(ctx.restore_role_arn.clone())
        .set_resource_type(resource.kind.backup_resource_type().map(str::to_string))
        .idempotency_token(format!("{}-{}", ctx.run_id, item.resource))
        .send()
        .await
        .map_err(|err| {
            classify_sdk_error(format!("starting the restore of {}", item.resource), err)
        })?;
    let restore_job_id = started.restore_job_id.ok_or_else(|| BackstopError::Aws {
        action: format!("starting the restore of {}", item.resource),
        code: "MissingRestoreJobId".into(),
        message: "AWS Backup returned no restore job id".into(),
    })?;
    Ok(RestoreJob {
        resource: item.resource.clone(),
        kind: item.kind.clone(),
        recovery_point_arn: item.recovery_point_arn.clone(),
        restore_job_id,
        status: "PENDING".into(),
        status_message: None,
        created_resource_arn: None,
        endpoint: None,
    })
}

/// The clients a poll needs: Backup for the jobs, and each kind's service to tag what was created.
pub struct PollClients {
    pub backup: aws_sdk_backup::Client,
    pub ec2: aws_sdk_ec2::Client,
    pub rds: aws_sdk_rds::Client,
    pub efs: aws_sdk_efs::Client,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PollSummary {
    pub completed: usize,
    pub running: usize,
    pub failed: usize,
    pub not_started: usize,
    /// Every resource has a finished job.
    pub done: bool,
    /// "resource: message" of each failed job, for the operator.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failures: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PollOutcome {
    pub jobs: Vec<RestoreJob>,
    pub summary: PollSummary,
}

/// Looks at every pending job of the run with one listing of the region's restore jobs,
/// whatever their number; tags the resources of newly completed jobs.
pub async fn poll_restores(
    clients: &PollClients,
    ctx: &RestoreContext,
    progress: RestoreProgress,
) -> Result<PollOutcome, BackstopError> {
    let mut jobs = progress.jobs;
    let mut latest = list_restore_jobs(&clients.backup, &jobs).await?;
    for job in jobs.iter_mut().filter(|job| !job.is_finished()) {
        let seen = match latest.remove(&job.restore_job_id) {
            Some(seen) => seen,
            // not in the listing (listing lag): ask for it directly
            None => describe_restore_job(&clients.backup, &job.restore_job_id).await?,
        };
        job.status = seen.status;
        job.status_message = seen.status_message;
        job.created_resource_arn = seen.created_resource_arn;
        if job.status == "COMPLETED" {
            finish_completed(clients, ctx, job).await?;
            tracing::info!(resource = %job.resource, created = ?job.created_resource_arn, "restore completed");
        } else if job.is_finished() {
            tracing::error!(resource = %job.resource, status = %job.status, message = ?job.status_message, "restore did not complete");
        }
    }
    let count = |status: &str| jobs.iter().filter(|job| job.status == status).count();
    let completed = count("COMPLETED");
    let failed = jobs.iter().filter(|job| job.is_finished()).count() - completed;
    let running = jobs.len() - completed - failed;
    let not_started = progress
        .restores
        .iter()
        .filter(|item| !jobs.iter().any(|job| job.resource == item.resource))
        .count();
    let failures = jobs
        .iter()
        .filter(|job| job.is_finished() && job.status != "COMPLETED")
        .map(|job| {
            format!(
                "{}: restore job {} {}: {}",
                job.resource,
                job.restore_job_id,
                job.status,
                job.status_message.as_deref().unwrap_or("no message")
            )
        })
        .collect();
    let summary = PollSummary {
        completed,
        running,
        failed,
        not_started,
        done: running == 0 && not_started == 0,
        failures,
    };
    Ok(PollOutcome { jobs, summary })
}

struct SeenJob {
    status: String,
    status_message: Option<String>,
    created_resource_arn: Option<String>,
}

async fn list_restore_jobs(
    backup: &aws_sdk_backup::Client,
    jobs: &[RestoreJob],
) -> Result<HashMap<String, SeenJob>, BackstopError> {
    let mut seen = HashMap::new();
    if jobs.iter().all(RestoreJob::is_finished) {
        return Ok(seen);
    }
    let mut pages = backup.list_restore_jobs().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|err| classify_sdk_error("listing restore jobs", err))?;
        for job in page.restore_jobs() {
            if let Some(id) = job.restore_job_id() {
                seen.insert(
                    id.to_string(),
                    SeenJob {
                        status: job
                            .status()
                            .map(|s| s.as_str().to_string())
                            .unwrap_or_default(),
                        status_message: job.status_message().map(str::to_string),
                        created_resource_arn: job.created_resource_arn().map(str::to_string),
                    },
                );
            }
        }
    }
    Ok(seen)
}

async fn describe_restore_job(
    backup: &aws_sdk_backup::Client,
    id: &str,
) -> Result<SeenJob, BackstopError> {
    let job = backup
        .describe_restore_job()
        .restore_job_id(id)
        .send()
        .await
        .map_err(|err| classify_sdk_error(format!("describing restore job {id}"), err))?;
    Ok(SeenJob {
        status: job
            .status()
            .map(|s| s.as_str().to_string())
            .unwrap_or_default(),
        status_message: job.status_message().map(str::to_string),
        created_resource_arn: job.created_resource_arn().map(str::to_string),
    })
}

/// Tags the restored resource with the run (teardown finds it by tag) and records its endpoint.
async fn finish_completed(
    clients: &PollClients,
    ctx: &RestoreContext,
    job: &mut RestoreJob,
) -> Result<(), BackstopError> {
    let Some(arn) = job.created_resource_arn.clone() else {
        return Err(BackstopError::RestoreFailed {
            resource: job.resource.clone(),
            message: format!(
                "restore job {} completed without a created resource",
                job.restore_job_id
            ),
        });
    };
    let tags = run_tags(&ctx.run_id, ctx.mode, &ctx.plan_name, &job.resource);
    let id = arn
        .rsplit(['/', ':'])
        .next()
        .unwrap_or_default()
        .to_string();
    let action = format!("tagging the restored {} of {}", job.kind, job.resource);
    match job.kind {
        ResourceKind::Ebs | ResourceKind::Ec2 => {
            let mut request = clients.ec2.create_tags().resources(&id);
            for (key, value) in &tags {
                request = request.tags(
                    aws_sdk_ec2::types::Tag::builder()
                        .key(key)
                        .value(value)
                        .build(),
                );
            }
            request
                .send()
                .await
                .map_err(|err| classify_sdk_error(action, err))?;
        }
        ResourceKind::Rds => {
            let mut request = clients.rds.add_tags_to_resource().resource_name(&arn);
            for (key, value) in &tags {
                request = request.tags(
                    aws_sdk_rds::types::Tag::builder()
                        .key(key)
                        .value(value)
                        .build(),
                );
            }
            request
                .send()
                .await
                .map_err(|err| classify_sdk_error(action, err))?;
            job.endpoint = rds::endpoint(&clients.rds, &id).await?;
        }
        ResourceKind::Efs => {
            let mut request = clients.efs.tag_resource().resource_id(&id);
            for (key, value) in &tags {
                let tag = aws_sdk_efs::types::Tag::builder()
                    .key(key)
                    .value(value)
                    .build()
                    .map_err(|err| BackstopError::invalid_input("tags", err.to_string()))?;
                request = request.tags(tag);
            }
            request
                .send()
                .await
                .map_err(|err| classify_sdk_error(action, err))?;
        }
        ResourceKind::Unknown(_) => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests;
