//! Step 1 of recovery: turn the DR copies into resources in the DR region with
//! AWS Backup restore jobs. One module per resource kind builds its restore metadata.
//!
//! - [`select_recovery_points`]: newest COMPLETED copy at or before the point in time, and its RPO
//! - [`start_restores`]: starts the jobs not yet started, idempotently, under a concurrency cap
//! - [`poll_restores`]: one look at every job of the run; tags what completed

use std::collections::HashMap;

use aws_smithy_types::DateTime;
use serde::{Deserialize, Serialize};

use crate::aws::tags::{run_tags, token};
use crate::aws::wait::time_left;
use crate::error::{classify_sdk_error, shorten, BackstopError, MAX_MESSAGE_CHARS};
use crate::kinds;
use crate::kinds::RestoreContext;
use crate::model::jobs::{RestoreItem, RestoreJob};
use crate::model::time::format_time;
use crate::plan::{Plan, ProtectedResource, ResourceKind};

/// The idempotency token of one restore: the run, the resource, the recovery point and the
/// attempt, so a retried or re-run start returns the same job and a new attempt a new one.
fn restore_token(ctx: &RestoreContext, item: &RestoreItem, attempt: u32) -> String {
    token(
        &ctx.run_id,
        "restore",
        &[
            &item.resource,
            &item.recovery_point_arn,
            &attempt.to_string(),
        ],
    )
}

/// A COMPLETED copy in the DR vault.
#[derive(Debug, Clone)]
pub struct DrCopy {
    pub arn: String,
    /// When its data was captured (InitiationDate; CreationDate where AWS gives no other).
    pub data_time: DateTime,
    pub created: DateTime,
    /// The KMS key the copy is encrypted with (a restore needs it usable in the DR region).
    pub encryption_key_arn: Option<String>,
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
    let copies = list_vault(
        backup,
        &plan.backup_vault,
        &plan.dr_region,
        None,
        point_in_time,
    )
    .await?;
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

fn plural(n: usize) -> &'static str {
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
    vault: &str,
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
    vault: &str,
    dr_region: &str,
    point_in_time: DateTime,
) -> Result<HashMap<String, DrCopy>, BackstopError> {
    list_vault(backup, vault, dr_region, None, point_in_time).await
}

/// The newest usable copy per source resource ARN, from one paginated listing of the vault
/// (of one resource's copies, given `by_resource`).
async fn list_vault(
    backup: &aws_sdk_backup::Client,
    vault: &str,
    dr_region: &str,
    by_resource: Option<&str>,
    point_in_time: DateTime,
) -> Result<HashMap<String, DrCopy>, BackstopError> {
    let mut pages = backup
        .list_recovery_points_by_backup_vault()
        .backup_vault_name(vault)
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
            let completed = point.status().map(|s| s.as_str()) == Some("COMPLETED");
            if !completed || data_time.secs() > point_in_time.secs() {
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
                    },
                );
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

/// How many times a resumed run may restore one resource (the first attempt included).
pub const MAX_RESTORE_ATTEMPTS: u32 = 3;

/// The attempt to start for `item` this round, if any: the first one, or (resuming a run)
/// the next one after a failed attempt, within [`MAX_RESTORE_ATTEMPTS`].
fn attempt_to_start(item: &RestoreItem, jobs: &[RestoreJob], resume: bool) -> Option<u32> {
    let last = jobs
        .iter()
        .filter(|job| job.resource == item.resource)
        .max_by_key(|job| job.attempt);
    match last {
        None => Some(0),
        Some(job) if resume && job.did_not_complete() && job.attempt + 1 < MAX_RESTORE_ATTEMPTS => {
            Some(job.attempt + 1)
        }
        Some(_) => None,
    }
}

/// Starts a restore job for every item without one, at most `max_running` at a time.
///
/// The whole batch is checked first (plan entry, DR-region copy, restore metadata): one bad
/// item stops the step before any job starts. Idempotent: items with a job in
/// `progress.jobs` are skipped, and each job's idempotency token derives from the run, the
/// resource, the recovery point and the attempt, so a retried or re-run step gets the
/// existing job back instead of a second restore.
pub async fn start_restores(
    backup: &aws_sdk_backup::Client,
    plan: &Plan,
    ctx: &RestoreContext,
    progress: RestoreProgress,
    max_running: usize,
    resume: bool,
) -> Result<StartOutcome, BackstopError> {
    if max_running == 0 {
        return Err(BackstopError::invalid_input(
            "run.settings.maxConcurrentRestores",
            "must be at least 1, or no restore could ever start",
        ));
    }
    let mut jobs = progress.jobs;
    let running = jobs.iter().filter(|job| !job.is_finished()).count();
    let mut wanted = Vec::new();
    let mut not_started = 0;
    for item in &progress.restores {
        let Some(attempt) = attempt_to_start(item, &jobs, resume) else {
            continue;
        };
        if running + wanted.len() >= max_running {
            not_started += 1;
        } else {
            wanted.push((item, attempt));
        }
    }

    let mut prepared = Vec::new();
    let mut problems = Vec::new();
    let wanted_count = wanted.len();
    for (index, (item, attempt)) in wanted.into_iter().enumerate() {
        if !time_left(ctx.invocation_deadline) {
            tracing::info!(
                left = wanted_count - index,
                "out of time this round: the rest start next round"
            );
            not_started += wanted_count - index;
            break;
        }
        match prepare_one(backup, plan, item, ctx).await {
            Ok((resource, metadata)) => prepared.push((item, attempt, resource, metadata)),
            // nothing has started yet: the state machine retries the whole step
            Err(err) if err.is_transient() => return Err(err),
            Err(err) => problems.push(err),
        }
    }
    if problems.len() == 1 {
        return Err(problems.remove(0));
    }
    if !problems.is_empty() {
        let problems: Vec<String> = problems.iter().map(ToString::to_string).collect();
        return Err(BackstopError::invalid_input(
            "restores",
            shorten(
                &format!(
                    "{} restore{} cannot start, so none was started: {}",
                    problems.len(),
                    plural(problems.len()),
                    problems.join("; ")
                ),
                MAX_MESSAGE_CHARS,
            ),
        ));
    }

    let mut started_now: Vec<String> = Vec::new();
    let prepared_count = prepared.len();
    for (index, (item, attempt, resource, metadata)) in prepared.into_iter().enumerate() {
        if !time_left(ctx.invocation_deadline) {
            not_started += prepared_count - index;
            break;
        }
        match start_one(backup, resource, item, ctx, metadata, attempt).await {
            Ok(job) => {
                tracing::info!(resource = %item.resource, job = %job.restore_job_id, attempt, "restore job started");
                started_now.push(format!("{} ({})", job.restore_job_id, job.resource));
                jobs.push(job);
            }
            // Keep what started; the state machine comes back for the rest after its wait
            // (the token makes a start that did happen return the same job then).
            Err(err) if err.is_transient() => {
                tracing::warn!(resource = %item.resource, "{err}; retrying in the next round");
                not_started += 1;
            }
            // AWS refused a start it accepted for the others: say which jobs run already, so
            // the failure path (and the operator) accounts for them
            Err(err) if !started_now.is_empty() => {
                return Err(BackstopError::RestoreFailed {
                    resource: item.resource.clone(),
                    message: shorten(
                        &format!(
                            "{err}; restore jobs already started this round: {}",
                            started_now.join(", ")
                        ),
                        MAX_MESSAGE_CHARS,
                    ),
                })
            }
            Err(err) => return Err(err),
        }
    }
    Ok(StartOutcome { jobs, not_started })
}

/// Everything a start needs, checked without starting anything.
async fn prepare_one<'p>(
    backup: &aws_sdk_backup::Client,
    plan: &'p Plan,
    item: &RestoreItem,
    ctx: &RestoreContext,
) -> Result<(&'p ProtectedResource, HashMap<String, String>), BackstopError> {
    let resource = plan.resource(&item.resource).ok_or_else(|| {
        BackstopError::invalid_input(
            "restores",
            format!("{} is not a resource of plan {}", item.resource, plan.name),
        )
    })?;
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
    Ok((resource, kinds::restore_metadata(&base, resource, ctx)?))
}

async fn start_one(
    backup: &aws_sdk_backup::Client,
    resource: &ProtectedResource,
    item: &RestoreItem,
    ctx: &RestoreContext,
    metadata: HashMap<String, String>,
    attempt: u32,
) -> Result<RestoreJob, BackstopError> {
    let started = backup
        .start_restore_job()
        .recovery_point_arn(&item.recovery_point_arn)
        .set_metadata(Some(metadata))
        .set_iam_role_arn(ctx.restore_role_arn.clone())
        .set_resource_type(resource.kind.restore_resource_type().map(str::to_string))
        .idempotency_token(restore_token(ctx, item, attempt))
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
        attempt,
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

impl PollClients {
    fn resources(&self) -> kinds::Clients<'_> {
        kinds::Clients {
            ec2: &self.ec2,
            rds: &self.rds,
            efs: &self.efs,
        }
    }
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
    /// Optional resources whose restore failed: the run goes on without them (the report
    /// names each; the payload carries only the count, whatever N).
    #[serde(default)]
    pub skipped: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PollOutcome {
    pub jobs: Vec<RestoreJob>,
    pub summary: PollSummary,
}

/// Clock skew allowed between the run's start (Lambda's clock) and a job's CreationDate.
const CLOCK_SKEW_SECONDS: i64 = 300;

/// Looks at every pending job of the run with one listing of the restore jobs created since
/// the run started, whatever their number; tags the resources of newly completed jobs. A job
/// that is not this run's (another recovery point, created before the run) is refused, never
/// tagged. Past the run's deadline, unfinished work ends the run with `Backstop.Timeout`.
pub async fn poll_restores(
    clients: &PollClients,
    ctx: &RestoreContext,
    progress: RestoreProgress,
) -> Result<PollOutcome, BackstopError> {
    let mut jobs = progress.jobs;
    check_jobs_belong_to_run(&progress.restores, &jobs)?;
    let mut latest = list_restore_jobs(&clients.backup, ctx, &jobs).await?;
    for job in jobs.iter_mut().filter(|job| !job.is_finished()) {
        if !time_left(ctx.invocation_deadline) {
            // the jobs not looked at keep their last status: the next round sees them
            tracing::info!("out of time this round: the other jobs are looked at next round");
            break;
        }
        let seen = match latest.remove(&job.restore_job_id) {
            Some(seen) => seen,
            // not in the listing (listing lag): ask for it directly
            None => describe_restore_job(&clients.backup, &job.restore_job_id).await?,
        };
        check_seen_job(ctx, job, &seen)?;
        job.status = seen.status;
        job.status_message = seen.status_message;
        job.created_resource_arn = seen.created_resource_arn;
        if job.status == "COMPLETED" {
            finish_completed(clients, ctx, job).await?;
            tracing::info!(resource = %job.resource, created = ?job.created_resource_arn, "restore completed");
        } else if job.is_finished() {
            tracing::error!(resource = %job.resource, status = %job.status, message = ?job.status_message, attempt = job.attempt, "restore did not complete");
        }
    }
    let summary = summarize(&progress.restores, &jobs, ctx.resume);
    if let Some(deadline) = ctx.deadline {
        let now = DateTime::from(std::time::SystemTime::now());
        if !summary.done && now.secs() > deadline.secs() {
            return Err(BackstopError::Timeout {
                action: "restoring the run's resources".into(),
                message: shorten(
                    &format!(
                        "the run passed its bound ({}) with restores still pending: {}",
                        format_time(deadline),
                        pending_names(&progress.restores, &jobs, ctx.resume).join(", ")
                    ),
                    MAX_MESSAGE_CHARS,
                ),
            });
        }
    }
    Ok(PollOutcome { jobs, summary })
}

/// Each job in the input names a resource of the run, once per attempt, and restores the
/// recovery point the run chose for it.
fn check_jobs_belong_to_run(
    restores: &[RestoreItem],
    jobs: &[RestoreJob],
) -> Result<(), BackstopError> {
    let mut seen = std::collections::HashSet::new();
    for (index, job) in jobs.iter().enumerate() {
        let planned = restores.iter().find(|item| item.resource == job.resource);
        let matches = planned.is_some_and(|item| item.recovery_point_arn == job.recovery_point_arn);
        if !matches || !seen.insert((job.resource.as_str(), job.attempt)) {
            return Err(BackstopError::invalid_input(
                format!("jobs[{index}]"),
                format!(
                    "restore job {} ({}) is not a restore this run started: its resource and recovery point are not the run's, or it is listed twice",
                    job.restore_job_id, job.resource
                ),
            ));
        }
    }
    Ok(())
}

/// AWS's view of a job must match the run's: same recovery point, created after the run began.
fn check_seen_job(
    ctx: &RestoreContext,
    job: &RestoreJob,
    seen: &SeenJob,
) -> Result<(), BackstopError> {
    let same_point = seen
        .recovery_point_arn
        .as_deref()
        .is_none_or(|arn| arn == job.recovery_point_arn);
    let after_start = seen
        .created
        .is_none_or(|created| created.secs() + CLOCK_SKEW_SECONDS >= ctx.started_at.secs());
    if same_point && after_start {
        Ok(())
    } else {
        Err(BackstopError::invalid_input(
            "jobs",
            format!(
                "restore job {} is not a job of run {}: it restores {} and was created {}; refusing to track or tag it",
                job.restore_job_id,
                ctx.run_id,
                seen.recovery_point_arn.as_deref().unwrap_or("?"),
                seen.created.map(format_time).unwrap_or_else(|| "?".into())
            ),
        ))
    }
}

/// A failed job that a resumed run will retry is not final yet.
fn will_retry(job: &RestoreJob, jobs: &[RestoreJob], resume: bool) -> bool {
    resume
        && job.did_not_complete()
        && job.attempt + 1 < MAX_RESTORE_ATTEMPTS
        && !jobs
            .iter()
            .any(|other| other.resource == job.resource && other.attempt > job.attempt)
}

/// The latest attempt per resource decides its state.
fn latest_attempts(jobs: &[RestoreJob]) -> Vec<&RestoreJob> {
    jobs.iter()
        .filter(|job| {
            !jobs
                .iter()
                .any(|other| other.resource == job.resource && other.attempt > job.attempt)
        })
        .collect()
}

fn summarize(restores: &[RestoreItem], jobs: &[RestoreJob], resume: bool) -> PollSummary {
    let latest = latest_attempts(jobs);
    let retrying = latest
        .iter()
        .filter(|job| will_retry(job, jobs, resume))
        .count();
    let completed = latest
        .iter()
        .filter(|job| job.status == "COMPLETED")
        .count();
    let optional = |job: &RestoreJob| {
        restores
            .iter()
            .any(|item| item.resource == job.resource && item.optional)
    };
    let (skipped, failed): (Vec<&RestoreJob>, Vec<&RestoreJob>) = latest
        .iter()
        .copied()
        .filter(|job| job.did_not_complete() && !will_retry(job, jobs, resume))
        .partition(|job| optional(job));
    let running = latest.iter().filter(|job| !job.is_finished()).count();
    let not_started = restores
        .iter()
        .filter(|item| !jobs.iter().any(|job| job.resource == item.resource))
        .count()
        + retrying;
    let failures = failed
        .iter()
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
    PollSummary {
        completed,
        running,
        failed: failed.len(),
        not_started,
        done: running == 0 && not_started == 0,
        failures,
        skipped: skipped.len(),
    }
}

fn pending_names(restores: &[RestoreItem], jobs: &[RestoreJob], resume: bool) -> Vec<String> {
    let latest = latest_attempts(jobs);
    restores
        .iter()
        .filter_map(
            |item| match latest.iter().find(|job| job.resource == item.resource) {
                None => Some(format!("{} (not started)", item.resource)),
                Some(job) if !job.is_finished() => Some(format!(
                    "{} (job {} {})",
                    item.resource, job.restore_job_id, job.status
                )),
                Some(job) if will_retry(job, jobs, resume) => {
                    Some(format!("{} (to retry)", item.resource))
                }
                Some(_) => None,
            },
        )
        .collect()
}

/// A restore job as AWS Backup reports it.
#[derive(Debug, Clone)]
pub struct SeenJob {
    pub status: String,
    pub status_message: Option<String>,
    pub created_resource_arn: Option<String>,
    pub resource_type: Option<String>,
    pub recovery_point_arn: Option<String>,
    /// The role AWS Backup restored with (the stack's restore role, for a run's jobs).
    pub iam_role_arn: Option<String>,
    pub created: Option<DateTime>,
}

async fn list_restore_jobs(
    backup: &aws_sdk_backup::Client,
    ctx: &RestoreContext,
    jobs: &[RestoreJob],
) -> Result<HashMap<String, SeenJob>, BackstopError> {
    if jobs.iter().all(RestoreJob::is_finished) {
        return Ok(HashMap::new());
    }
    restore_jobs_since(backup, ctx.started_at).await
}

/// Every restore job AWS Backup created since `started_at` (less the clock skew allowed), by
/// id: AWS Backup's own record of what a run's jobs did.
pub async fn restore_jobs_since(
    backup: &aws_sdk_backup::Client,
    started_at: DateTime,
) -> Result<HashMap<String, SeenJob>, BackstopError> {
    let mut seen = HashMap::new();
    let since = DateTime::from_secs(started_at.secs() - CLOCK_SKEW_SECONDS);
    let mut pages = backup
        .list_restore_jobs()
        .by_created_after(since)
        .into_paginator()
        .send();
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
                        resource_type: job.resource_type().map(str::to_string),
                        recovery_point_arn: job.recovery_point_arn().map(str::to_string),
                        iam_role_arn: job.iam_role_arn().map(str::to_string),
                        created: job.creation_date().copied(),
                    },
                );
            }
        }
    }
    Ok(seen)
}

pub async fn describe_restore_job(
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
        resource_type: job.resource_type().map(str::to_string),
        recovery_point_arn: job.recovery_point_arn().map(str::to_string),
        iam_role_arn: job.iam_role_arn().map(str::to_string),
        created: job.creation_date().copied(),
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
    let resources = clients.resources();
    match kinds::run_tag_of(resources, &job.kind, &arn).await? {
        Some(other) if other != ctx.run_id.as_str() => {
            return Err(BackstopError::Conflict(format!(
                "{arn} restored by job {} already belongs to run {other}: refusing to claim it for run {}",
                job.restore_job_id, ctx.run_id
            )));
        }
        // tagged by an earlier round of this run (its state write was lost): the role may
        // tag only what carries no run's tag yet, so it is not tagged again
        Some(_) => {}
        None => {
            let tags = run_tags(&ctx.run_id, ctx.mode, &ctx.plan_name, &job.resource);
            let action = format!("tagging the restored {} of {}", job.kind, job.resource);
            kinds::tag(resources, &job.kind, &arn, &tags, action).await?;
        }
    }
    if job.kind == ResourceKind::Rds {
        job.endpoint = kinds::rds::endpoint(&clients.rds, kinds::id_of(&arn)).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
