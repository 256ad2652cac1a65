//! Polling a run's restore jobs: which are its own (started by its role, after it began, for its
//! recovery points), which finished, which a resumed run retries, and what is still pending.

use super::{RestoreProgress, MAX_RESTORE_ATTEMPTS};
use crate::aws::batch::in_batches;
use crate::aws::store::{Part, RunRef, RunStore};
use crate::aws::tags::{claim_tags, run_tags};
use crate::aws::wait::work_deadline;
use crate::aws::Clients;
use crate::error::{shorten, BackstopError, SdkContext, MAX_MESSAGE_CHARS};
use crate::kinds;
use crate::kinds::RestoreContext;
use crate::model::jobs::JobStatus;
use crate::model::jobs::{RestoreItem, RestoreJob};
use crate::model::time::format_time;
use crate::plan::ResourceKind;
use crate::steps::{Invocation, StepInput};
use aws_smithy_types::DateTime;
use futures_util::future::try_join;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::time::SystemTime;

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
pub(super) const CLOCK_SKEW_SECONDS: i64 = 300;

/// Looks at every pending job of the run with one listing of the restore jobs created since
/// the run started, whatever their number; tags the resources of newly completed jobs. A job
/// that is not this run's (another recovery point, created before the run) is refused, never
/// tagged. Past the run's deadline, unfinished work ends the run with `Backstop.Timeout`.
pub async fn poll_restores(
    clients: &Clients,
    ctx: &RestoreContext,
    progress: RestoreProgress,
) -> Result<PollOutcome, BackstopError> {
    let mut jobs = progress.jobs;
    check_jobs_belong_to_run(&progress.restores, &jobs)?;
    let mut latest = list_restore_jobs(&clients.backup, ctx, &jobs).await?;
    let mut run_tags = completed_run_tags(clients, &claimable(ctx, &jobs, &latest)).await?;
    claim_completed(clients, ctx, &mut run_tags).await?;
    // the restores that completed together are tagged at once, not one after another
    let looks = in_batches(
        jobs.iter_mut().filter(|job| !job.is_finished()),
        ctx.invocation_deadline,
        |job| {
            let listed = latest.remove(&job.restore_job_id);
            look_at(clients, ctx, job, listed, &run_tags)
        },
        Result::is_err,
    )
    .await;
    if looks.out_of_time {
        // the jobs not looked at keep their last status: the next round sees them
        tracing::info!("out of time this round: the other jobs are looked at next round");
    }
    for look in looks.answers {
        look?;
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

/// The ids of the EC2 resources (volumes, instances) whose jobs the listing shows completed
/// since the last round, and shows as the run's own (`check_seen_job`): a job AWS says is
/// another's is refused by its look, and what it created is never claimed.
pub(super) fn claimable(
    ctx: &RestoreContext,
    jobs: &[RestoreJob],
    latest: &HashMap<String, SeenJob>,
) -> Vec<String> {
    jobs.iter()
        .filter(|job| !job.is_finished() && kinds::tagged_in_ec2(&job.kind))
        .filter_map(|job| Some((job, latest.get(&job.restore_job_id)?)))
        .filter(|(job, seen)| {
            seen.status == JobStatus::Completed && check_seen_job(ctx, job, seen).is_ok()
        })
        .filter_map(|(_, seen)| seen.created_resource_arn.as_deref())
        .map(|arn| kinds::id_of(arn).to_string())
        .collect()
}

/// The run tag of each of `ids`, read together (`kinds::ec2::run_tags`) rather than once per
/// resource when each is tagged.
async fn completed_run_tags(
    clients: &Clients,
    ids: &[String],
) -> Result<HashMap<String, Option<String>>, BackstopError> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    kinds::ec2::run_tags(
        &clients.ec2,
        ids,
        "reading the run tags of the restored volumes and instances",
    )
    .await
}

/// Claims for the run, together, the completed EC2 resources that carry no run tag yet (read
/// this round): one CreateTags per 200 of them with the run's claim tags, rather than one call
/// per resource; each is then known as the run's (`run_tags`) and not tagged again.
async fn claim_completed(
    clients: &Clients,
    ctx: &RestoreContext,
    run_tags: &mut HashMap<String, Option<String>>,
) -> Result<(), BackstopError> {
    let mut unclaimed: Vec<String> = run_tags
        .iter()
        .filter(|(_, tag)| tag.is_none())
        .map(|(id, _)| id.clone())
        .collect();
    if unclaimed.is_empty() {
        return Ok(());
    }
    unclaimed.sort();
    let tags = claim_tags(&ctx.run_id, ctx.mode, &ctx.plan_name);
    kinds::ec2::tag_many(
        &clients.ec2,
        &unclaimed,
        &tags,
        "tagging the restored volumes and instances with the run",
    )
    .await?;
    tracing::info!(
        claimed = unclaimed.len(),
        "tagged the restored volumes and instances with the run"
    );
    for id in unclaimed {
        run_tags.insert(id, Some(ctx.run_id.to_string()));
    }
    Ok(())
}

/// Brings one job up to date with AWS Backup's view of it (`listed`, or asked directly when the
/// listing does not show it yet), and finishes it when it completed. `run_tags`: run tags
/// already read this round, by resource id.
async fn look_at(
    clients: &Clients,
    ctx: &RestoreContext,
    job: &mut RestoreJob,
    listed: Option<SeenJob>,
    run_tags: &HashMap<String, Option<String>>,
) -> Result<(), BackstopError> {
    let seen = match listed {
        Some(seen) => seen,
        // not in the listing (listing lag): ask for it directly
        None => describe_restore_job(&clients.backup, &job.restore_job_id).await?,
    };
    check_seen_job(ctx, job, &seen)?;
    job.status = seen.status;
    job.status_message = seen.status_message;
    job.created_resource_arn = seen.created_resource_arn;
    job.completed_at = seen.completed.map(format_time);
    if job.status == JobStatus::Completed {
        finish_completed(clients, ctx, job, run_tags).await?;
        tracing::info!(resource = %job.resource, created = ?job.created_resource_arn, "restore completed");
    } else if job.is_finished() {
        tracing::error!(resource = %job.resource, status = %job.status, message = ?job.status_message, attempt = job.attempt, "restore did not complete");
    }
    Ok(())
}

/// Each job in the input names a resource of the run, once per attempt, and restores the
/// recovery point the run chose for it.
pub(super) fn check_jobs_belong_to_run(
    restores: &[RestoreItem],
    jobs: &[RestoreJob],
) -> Result<(), BackstopError> {
    let mut planned_items: HashMap<&str, &RestoreItem> = HashMap::with_capacity(restores.len());
    for item in restores {
        planned_items.entry(item.resource.as_str()).or_insert(item);
    }
    let mut seen = HashSet::new();
    for (index, job) in jobs.iter().enumerate() {
        let planned = planned_items.get(job.resource.as_str());
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
pub(super) fn check_seen_job(
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
pub(super) fn will_retry(job: &RestoreJob, jobs: &[RestoreJob], resume: bool) -> bool {
    resume
        && job.did_not_complete()
        && job.attempt + 1 < MAX_RESTORE_ATTEMPTS
        && !jobs
            .iter()
            .any(|other| other.resource == job.resource && other.attempt > job.attempt)
}

/// The job of each resource's latest attempt, by resource: the one that decides its state.
/// One pass over the jobs (a round at 3,000 resources looks this up for every item).
pub(super) fn last_attempts(jobs: &[RestoreJob]) -> HashMap<&str, &RestoreJob> {
    let mut last: HashMap<&str, &RestoreJob> = HashMap::with_capacity(jobs.len());
    for job in jobs {
        last.entry(job.resource.as_str())
            .and_modify(|seen| {
                if job.attempt > seen.attempt {
                    *seen = job;
                }
            })
            .or_insert(job);
    }
    last
}

/// The latest attempt per resource decides its state (in the jobs' order).
pub(super) fn latest_attempts(jobs: &[RestoreJob]) -> Vec<&RestoreJob> {
    let last = last_attempts(jobs);
    jobs.iter()
        .filter(|job| {
            last.get(job.resource.as_str())
                .is_some_and(|latest| latest.attempt == job.attempt)
        })
        .collect()
}

pub(super) fn summarize(
    restores: &[RestoreItem],
    jobs: &[RestoreJob],
    resume: bool,
) -> PollSummary {
    let latest = latest_attempts(jobs);
    let retrying = latest
        .iter()
        .filter(|job| will_retry(job, jobs, resume))
        .count();
    let completed = latest
        .iter()
        .filter(|job| job.status == JobStatus::Completed)
        .count();
    let optional_items: HashSet<&str> = restores
        .iter()
        .filter(|item| item.optional)
        .map(|item| item.resource.as_str())
        .collect();
    let optional = |job: &RestoreJob| optional_items.contains(job.resource.as_str());
    let (skipped, failed): (Vec<&RestoreJob>, Vec<&RestoreJob>) = latest
        .iter()
        .copied()
        .filter(|job| job.did_not_complete() && !will_retry(job, jobs, resume))
        .partition(|job| optional(job));
    let running = latest.iter().filter(|job| !job.is_finished()).count();
    let with_job: HashSet<&str> = jobs.iter().map(|job| job.resource.as_str()).collect();
    let not_started = restores
        .iter()
        .filter(|item| !with_job.contains(item.resource.as_str()))
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

pub(super) fn pending_names(
    restores: &[RestoreItem],
    jobs: &[RestoreJob],
    resume: bool,
) -> Vec<String> {
    let latest = last_attempts(jobs);
    restores
        .iter()
        .filter_map(|item| match latest.get(item.resource.as_str()).copied() {
            None => Some(format!("{} (not started)", item.resource)),
            Some(job) if !job.is_finished() => Some(format!(
                "{} (job {} {})",
                item.resource, job.restore_job_id, job.status
            )),
            Some(job) if will_retry(job, jobs, resume) => {
                Some(format!("{} (to retry)", item.resource))
            }
            Some(_) => None,
        })
        .collect()
}

/// A restore job as AWS Backup reports it.
#[derive(Debug, Clone)]
pub struct SeenJob {
    pub status: JobStatus,
    pub status_message: Option<String>,
    pub created_resource_arn: Option<String>,
    pub resource_type: Option<String>,
    pub recovery_point_arn: Option<String>,
    /// The role AWS Backup restored with (the stack's restore role, for a run's jobs).
    pub iam_role_arn: Option<String>,
    pub created: Option<DateTime>,
    pub completed: Option<DateTime>,
}

/// The job as ListRestoreJobs and DescribeRestoreJob both answer it (two SDK types, one shape).
macro_rules! seen_job {
    ($job:expr) => {
        SeenJob {
            status: JobStatus::from($job.status().map(|s| s.as_str()).unwrap_or_default()),
            status_message: $job.status_message().map(str::to_string),
            created_resource_arn: $job.created_resource_arn().map(str::to_string),
            resource_type: $job.resource_type().map(str::to_string),
            recovery_point_arn: $job.recovery_point_arn().map(str::to_string),
            iam_role_arn: $job.iam_role_arn().map(str::to_string),
            created: $job.creation_date().copied(),
            completed: $job.completion_date().copied(),
        }
    };
}

pub(super) async fn list_restore_jobs(
    backup: &aws_sdk_backup::Client,
    ctx: &RestoreContext,
    jobs: &[RestoreJob],
) -> Result<HashMap<String, SeenJob>, BackstopError> {
    if jobs.iter().all(RestoreJob::is_finished) {
        return Ok(HashMap::new());
    }
    restore_jobs_since(backup, ctx.started_at).await
}

/// How many of the jobs the run's state still has running AWS Backup's listing shows ended: a
/// round that starts before it polls counts their slots free (a job not listed yet counts as
/// running). The poll that follows records them.
pub(super) async fn ended_since_poll(
    backup: &aws_sdk_backup::Client,
    ctx: &RestoreContext,
    jobs: &[RestoreJob],
) -> Result<usize, BackstopError> {
    let latest = list_restore_jobs(backup, ctx, jobs).await?;
    Ok(jobs
        .iter()
        .filter(|job| !job.is_finished())
        .filter(|job| {
            latest
                .get(&job.restore_job_id)
                .is_some_and(|seen| seen.status.is_finished())
        })
        .count())
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
        let page = page.context("listing restore jobs")?;
        for job in page.restore_jobs() {
            if let Some(id) = job.restore_job_id() {
                seen.insert(id.to_string(), seen_job!(job));
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
        .context(format!("describing restore job {id}"))?;
    Ok(seen_job!(job))
}

/// Tags the restored resource with the run (teardown finds it by tag) and records its endpoint.
/// Its run tag is read unless `read_tags` (read this round, by resource id) holds it.
pub(super) async fn finish_completed(
    clients: &Clients,
    ctx: &RestoreContext,
    job: &mut RestoreJob,
    read_tags: &HashMap<String, Option<String>>,
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
    let resources = clients;
    let run_tag = match read_tags.get(kinds::id_of(&arn)) {
        Some(read) if kinds::tagged_in_ec2(&job.kind) => read.clone(),
        _ => kinds::run_tag_of(resources, &job.kind, &arn).await?,
    };
    match run_tag {
        Some(other) if other != ctx.run_id.as_str() => {
            return Err(BackstopError::Conflict(format!(
                "{arn} restored by job {} already belongs to run {other}: refusing to claim it for run {}",
                job.restore_job_id, ctx.run_id
            )));
        }
        // claimed this round with the others restored with it, or by an earlier round of this
        // run (its state write was lost): the role may tag only what carries no run's tag yet,
        // so it is not tagged again
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
    let fast_planned = ctx.fast_restore.contains(&job.resource);
    if job.kind.restores_as_volume() && fast_planned {
        job.fast_restored =
            Some(kinds::ebs::fast_restored(&clients.ec2, kinds::id_of(&arn)).await?);
    }
    Ok(())
}

/// At most this many failure lines travel in the payload (and into a `Fail` state's cause);
/// the report lists them all.
pub(super) const MAX_FAILURE_LINES: usize = 20;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PollCounts {
    pub jobs: usize,
    pub summary: PollSummary,
}

/// `PollRestores`: one look at every pending job.
pub async fn poll_round(
    clients: &Clients,
    store: &RunStore,
    run_ref: &RunRef,
    deadline: SystemTime,
) -> Result<PollCounts, BackstopError> {
    // read together: each round's first wait
    let (run, jobs) = try_join(store.load_run(run_ref), store.jobs(run_ref)).await?;
    let mut ctx = crate::kinds::RestoreContext::for_run(&run, None);
    ctx.invocation_deadline = Some(work_deadline(deadline));
    let before = jobs.clone();
    let progress = RestoreProgress {
        restores: run.restores,
        jobs,
    };
    let outcome = poll_restores(clients, &ctx, progress).await?;
    // a round that saw no job change (a wait that ran its interval) leaves them as they were
    if outcome.jobs != before {
        store
            .put(&run_ref.execution, Part::Restore, &outcome.jobs)
            .await?;
    }
    // fast snapshot restore is billed per hour: off as soon as its volume exists
    if !ctx.fast_restore.is_empty() {
        super::hydration::release(&clients.ec2, store, &run_ref.run_id, &outcome.jobs, false)
            .await?;
    }
    let mut summary = outcome.summary;
    cap_failures(&mut summary.failures);
    Ok(PollCounts {
        jobs: outcome.jobs.len(),
        summary,
    })
}

pub(super) fn cap_failures(failures: &mut Vec<String>) {
    if failures.len() > MAX_FAILURE_LINES {
        let more = failures.len() - MAX_FAILURE_LINES;
        failures.truncate(MAX_FAILURE_LINES);
        failures.push(format!(
            "... and {more} more (the run's report lists every one)"
        ));
    }
}

/// `PollRestoreFunction`: one look at all the run's restore jobs.
pub async fn run(
    clients: &Clients,
    input: StepInput,
    invocation: &Invocation,
) -> Result<PollCounts, BackstopError> {
    poll_round(clients, &clients.store()?, &input.run, invocation.deadline).await
}
