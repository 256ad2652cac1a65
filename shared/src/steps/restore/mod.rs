//! Step 1 of recovery: turn the DR copies into resources in the DR region with
//! AWS Backup restore jobs. One module per resource kind builds its restore metadata.
//!
//! - [`select_recovery_points`]: newest COMPLETED copy at or before the point in time, and its RPO
//! - [`start_restores`]: starts the jobs not yet started, idempotently, under a concurrency cap
//! - [`poll_restores`]: one look at every job of the run; tags what completed

use std::cell::Cell;
use std::collections::HashMap;
use std::time::SystemTime;

use futures_util::future::try_join;

use serde::{Deserialize, Serialize};

use crate::aws::batch::in_batches;
use crate::aws::tags::token;
use crate::error::{shorten, BackstopError, SdkContext, MAX_MESSAGE_CHARS};
use crate::kinds;
use crate::kinds::RestoreContext;
use crate::model::jobs::{RestoreItem, RestoreJob};
use crate::plan::{Plan, ProtectedResource, ResourceKind};
use recovery_points::plural;

pub mod hydration;
pub mod poll;
mod recovery_points;

use crate::aws::store::{Part, RunRef, RunStore};
use crate::aws::wait::work_deadline;
use crate::model::run::ResolvedRun;

use crate::aws::Clients;
use crate::model::jobs::JobStatus;
use crate::steps::{with_network, Invocation, StepInput};
pub use poll::{
    describe_restore_job, poll_restores, restore_jobs_since, PollCounts, PollOutcome, PollSummary,
    SeenJob,
};
pub use recovery_points::{dr_copies, freshest_copy, select_among, select_recovery_points, DrCopy};

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
fn attempt_to_start(
    item: &RestoreItem,
    last: &HashMap<&str, &RestoreJob>,
    resume: bool,
) -> Option<u32> {
    match last.get(item.resource.as_str()) {
        None => Some(0),
        Some(job) if resume && job.did_not_complete() && job.attempt + 1 < MAX_RESTORE_ATTEMPTS => {
            Some(job.attempt + 1)
        }
        Some(_) => None,
    }
}

/// What a restore is expected to take, in AWS seconds, by kind and recovery point size: a
/// fixed part (creating the resource) and a part per GiB copied. Orders of magnitude of AWS
/// Backup's restores (an EBS volume exists within minutes and loads its blocks lazily; an RDS
/// instance or an EFS file system copies its data first), the same the emulator's README
/// states; they only order the starts, so an error in them costs time, never correctness.
pub(crate) fn expected_restore_seconds(kind: &ResourceKind, size_bytes: Option<i64>) -> i64 {
    let gib = size_bytes.unwrap_or(0).max(0) >> 30;
    // (seconds, milliseconds per GiB)
    let (base, per_gib_ms) = match kind {
        ResourceKind::Ebs | ResourceKind::StorageGateway => (180, 500),
        ResourceKind::Rds => (900, 3000),
        ResourceKind::Efs => (600, 6000),
        ResourceKind::Ec2 => (420, 1000),
        ResourceKind::Unknown(_) => (300, 0),
    };
    base + gib * per_gib_ms / 1000
}

/// This round's starts: each item due an attempt, the longest expected restore first (by kind
/// and size; plan order among equals), while fewer than `max_running` jobs run; and how many
/// due items wait for a later round. Under a concurrency cap the longest go first
/// (longest-processing-time-first): started last, they would end the run last.
fn schedule<'i>(
    restores: &'i [RestoreItem],
    jobs: &[RestoreJob],
    max_running: usize,
    resume: bool,
) -> (Vec<(&'i RestoreItem, u32)>, usize) {
    let running = jobs.iter().filter(|job| !job.is_finished()).count();
    let last = poll::last_attempts(jobs);
    let mut due: Vec<(&RestoreItem, u32)> = restores
        .iter()
        .filter_map(|item| Some((item, attempt_to_start(item, &last, resume)?)))
        .collect();
    // stable: equal expectations keep plan order
    due.sort_by_key(|(item, _)| {
        std::cmp::Reverse(expected_restore_seconds(&item.kind, item.size_bytes))
    });
    let room = max_running.saturating_sub(running).min(due.len());
    let waiting = due.len() - room;
    (due.into_iter().take(room).collect(), waiting)
}

/// Starts a restore job for every item without one, at most `max_running` at a time.
///
/// What the plan decides is checked for the whole batch first, with no AWS call (plan entry,
/// DR-region copy): one bad item stops the step before any job starts, with every problem
/// listed. Then each restore starts as soon as its recovery point's restore metadata is read,
/// the longest first, ten calls at a time: a start waits for one read, not for every read of
/// the round (3,000 of them before the first start, bench/RESULTS.md). What AWS refuses for
/// one item (its metadata, its start) stops new starts; the step then fails naming the jobs
/// already started, which the run accounts for as any other (drills tear them down).
/// Idempotent: items with a job in `progress.jobs` are skipped, and each job's idempotency
/// token derives from the run, the resource, the recovery point and the attempt, so a retried
/// or re-run step gets the existing job back instead of a second restore.
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
    let (wanted, mut not_started) = schedule(&progress.restores, &jobs, max_running, resume);

    let mut checked = Vec::new();
    let mut problems = Vec::new();
    for (item, attempt) in wanted {
        match check_one(plan, item, ctx) {
            Ok(resource) => checked.push((item, attempt, resource)),
            Err(err) => problems.push(err),
        }
    }
    if let Some(err) = all_of(problems) {
        return Err(err);
    }

    // every call made is answered before an error stops the round or it ends: none is in
    // flight, unrecorded, when the step ends; once AWS refused one, a read still in flight
    // starts nothing
    let refusal_seen = Cell::new(false);
    let starts = in_batches(
        checked,
        ctx.invocation_deadline,
        |(item, attempt, resource)| {
            let refusal_seen = &refusal_seen;
            async move {
                let answer =
                    read_and_start(backup, resource, item, ctx, attempt, refusal_seen).await;
                (item, attempt, answer)
            }
        },
        |(_, _, answer)| {
            let refused = answer.as_ref().is_err_and(|err| !err.is_transient());
            refusal_seen.set(refusal_seen.get() || refused);
            refused
        },
    )
    .await;
    if starts.out_of_time {
        let left = starts.not_reached.len();
        tracing::info!(left, "out of time this round: the rest start next round");
    }
    not_started += starts.not_reached.len();
    let mut started_now: Vec<String> = Vec::new();
    let mut refused = None;
    for (item, attempt, answer) in starts.answers {
        match answer {
            Ok(None) => not_started += 1,
            Ok(Some(job)) => {
                tracing::info!(resource = %item.resource, job = %job.restore_job_id, attempt, "restore job started");
                started_now.push(format!("{} ({})", job.restore_job_id, job.resource));
                jobs.push(job);
            }
            // Keep what started; the state machine comes back for the rest after its
            // wait (the token makes a start that did happen return the same job then).
            Err(err) if err.is_transient() => {
                tracing::warn!(resource = %item.resource, "{err}; retrying in the next round");
                not_started += 1;
            }
            // the first refusal, with its own error type (AccessDenied, NotFound...): the
            // others in flight were most often refused for the same cause
            Err(err) => {
                refused.get_or_insert((item, err));
            }
        }
    }
    match refused {
        // AWS refused a start it accepted for others: say which jobs run already, so the
        // failure path (and the operator) accounts for them
        Some((item, err)) if !started_now.is_empty() => Err(BackstopError::RestoreFailed {
            resource: item.resource.clone(),
            message: shorten(
                &format!(
                    "{err}; restore jobs already started this round: {}",
                    started_now.join(", ")
                ),
                MAX_MESSAGE_CHARS,
            ),
        }),
        Some((_, err)) => Err(err),
        None => Ok(StartOutcome { jobs, not_started }),
    }
}

/// One error for the batch's `problems`: the only one as it is, several listed in one; none
/// for none.
fn all_of(mut problems: Vec<BackstopError>) -> Option<BackstopError> {
    match problems.len() {
        0 => None,
        1 => problems.pop(),
        n => {
            let listed: Vec<String> = problems.iter().map(ToString::to_string).collect();
            Some(BackstopError::invalid_input(
                "restores",
                shorten(
                    &format!(
                        "{n} restore{} cannot start, so none was started: {}",
                        plural(n),
                        listed.join("; ")
                    ),
                    MAX_MESSAGE_CHARS,
                ),
            ))
        }
    }
}

/// What the plan decides about a start, checked with no AWS call: the item is the plan's, and
/// its copy is in the DR region.
fn check_one<'p>(
    plan: &'p Plan,
    item: &RestoreItem,
    ctx: &RestoreContext,
) -> Result<&'p ProtectedResource, BackstopError> {
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
    Ok(resource)
}

/// Reads the recovery point's restore metadata, sets the plan's DR settings on it, and starts
/// the restore, unless AWS refused another of the round's restores meanwhile (then `None`).
async fn read_and_start(
    backup: &aws_sdk_backup::Client,
    resource: &ProtectedResource,
    item: &RestoreItem,
    ctx: &RestoreContext,
    attempt: u32,
    refusal_seen: &Cell<bool>,
) -> Result<Option<RestoreJob>, BackstopError> {
    let base = backup
        .get_recovery_point_restore_metadata()
        .backup_vault_name(&ctx.backup_vault)
        .set_backup_vault_account_id(ctx.backup_vault_account_id.clone())
        .recovery_point_arn(&item.recovery_point_arn)
        .send()
        .await
        .context(format!("reading the restore metadata of {}", item.resource))?
        .restore_metadata
        .unwrap_or_default();
    let metadata = kinds::restore_metadata(&base, resource, ctx)?;
    if refusal_seen.get() {
        return Ok(None);
    }
    start_one(backup, resource, item, ctx, metadata, attempt)
        .await
        .map(Some)
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
        .context(format!("starting the restore of {}", item.resource))?;
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
        status: JobStatus::Pending,
        status_message: None,
        created_resource_arn: None,
        endpoint: None,
        completed_at: None,
        fast_restored: None,
    })
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StartCounts {
    /// Restore jobs the run has (started now or before).
    pub jobs: usize,
    /// Work items not started yet (concurrency cap reached, or throttled): the next round starts them.
    pub not_started: usize,
}

/// Whether a restore must wait for the network stack (it names a subnet, security group, DB
/// subnet group or AZ the stack provides, itself or through the drill's isolation block).
fn waits_for_network(run: &ResolvedRun, item: &RestoreItem) -> bool {
    let Some(resource) = run.plan.resource(&item.resource) else {
        return false;
    };
    let drill_block = run.mode == crate::model::run::Mode::Drill
        && matches!(item.kind, ResourceKind::Rds | ResourceKind::Ec2)
        && run.plan.drill.as_ref().is_some_and(Plan::needs_stack);
    Plan::needs_stack(resource) || drill_block
}

/// `StartRestores`: starts the restores that have no job yet, within the concurrency cap.
/// While the network stack is being built, only the restores that need nothing from it start.
pub async fn start_round(
    clients: &Clients,
    store: &RunStore,
    run_ref: &RunRef,
    deadline: SystemTime,
) -> Result<StartCounts, BackstopError> {
    // read together: each round's first wait
    let (run, jobs) = try_join(store.load_run(run_ref), store.jobs(run_ref)).await?;
    let (mut run, network_ready) =
        with_network(&clients.cloudformation, store, run_ref, run).await?;
    let mut withheld = 0;
    if !network_ready {
        let before = run.restores.len();
        let restores = std::mem::take(&mut run.restores);
        run.restores = restores
            .into_iter()
            .filter(|item| !waits_for_network(&run, item))
            .collect();
        withheld = before - run.restores.len();
    }
    // a restore the plan wants with fast snapshot restore waits for it to be enabled
    let last = poll::last_attempts(&jobs);
    let due = run
        .restores
        .iter()
        .filter(|item| attempt_to_start(item, &last, run.resumed).is_some());
    let wanted = hydration::wanted(&run, due);
    let held = hydration::prepare(
        &clients.ec2,
        &clients.cloudwatch,
        store,
        &run_ref.run_id,
        &wanted,
    )
    .await?;
    if !held.is_empty() {
        let before = run.restores.len();
        run.restores.retain(|item| !held.contains(&item.resource));
        withheld += before - run.restores.len();
    }
    let mut ctx =
        crate::kinds::RestoreContext::for_run(&run, clients.settings.restore_role_arn.clone());
    ctx.invocation_deadline = Some(work_deadline(deadline));
    // a round woken by a restore's end starts before it polls: the restores AWS Backup shows
    // ended since the last poll free their slots now (the poll right after records them).
    // Only a cap that holds back a due restore needs that listing (a page per 1,000 jobs).
    let cap = run.settings.max_concurrent_restores as usize;
    let (_, held_back) = schedule(&run.restores, &jobs, cap, run.resumed);
    let ended = if held_back > 0 {
        poll::ended_since_poll(&clients.backup, &ctx, &jobs).await?
    } else {
        0
    };
    let known = jobs.len();
    let progress = RestoreProgress {
        restores: run.restores,
        jobs,
    };
    let outcome = start_restores(
        &clients.backup,
        &run.plan,
        &ctx,
        progress,
        cap + ended,
        ctx.resume,
    )
    .await?;
    // a round that started nothing leaves the run's jobs as they were
    if outcome.jobs.len() > known {
        store
            .put(&run_ref.execution, Part::Restore, &outcome.jobs)
            .await?;
    }
    Ok(StartCounts {
        jobs: outcome.jobs.len(),
        not_started: outcome.not_started + withheld,
    })
}

/// `StartRestoreFunction`: starts the run's restore jobs not started yet, under the run's
/// concurrency cap. Re-running it with the same run id starts no second job.
pub async fn run(
    clients: &Clients,
    input: StepInput,
    invocation: &Invocation,
) -> Result<StartCounts, BackstopError> {
    start_round(clients, &clients.store()?, &input.run, invocation.deadline).await
}

#[cfg(test)]
mod tests;
