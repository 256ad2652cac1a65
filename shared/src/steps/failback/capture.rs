//! `capture`: the DR side's data, made ready to come home. For each resource the failover
//! restored that holds data (volumes, databases, file systems), an on-demand AWS Backup job in
//! the DR region, then a copy job of its recovery point into the primary region's vault. One
//! round starts what can start and reads what runs; the state machine calls it again until
//! every copy is complete. Re-running it (a retried round, a resumed failback) starts no second
//! job: the tokens derive from the run id and the resource.

use std::collections::HashMap;

use aws_smithy_types::DateTime;
use serde::{Deserialize, Serialize};

use super::{failback_of, Failback, FailoverToBringHome};
use crate::aws::store::{Part, RunStore};
use crate::aws::tags::{run_tags, token};
use crate::aws::{Clients, Settings};
use crate::error::{BackstopError, SdkContext};
use crate::model::jobs::JobStatus;
use crate::model::rounds::{capture_wait_seconds, CAPTURE_ROUNDS};
use crate::model::run::{is_zero, Mode, RunId};
use crate::model::time::format_time;
use crate::plan::Plan;
use crate::steps::resolve::RunRequest;
use crate::steps::restore::dr_copies;
use crate::steps::Invocation;

/// One resource's way home: its backup in the DR vault, then that recovery point's copy.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Capture {
    pub resource: String,
    /// The DR-region resource the failover restored (what serves production now).
    pub source_arn: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_job_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_status: Option<JobStatus>,
    /// The backup's recovery point, in the DR vault.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery_point_arn: Option<String>,
    /// RFC 3339: when the backup job was created (data written in DR after it is not brought
    /// home: the failback's RPO).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_started_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copy_job_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copy_status: Option<JobStatus>,
    /// The copy's recovery point, in the primary region's vault: what the failback restores.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub home_recovery_point_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_message: Option<String>,
    /// Takes of it before this one: a resumed failback takes again what failed, and everything
    /// when the failover's instances ran after they were stopped. Part of its jobs' tokens.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub attempt: u32,
}

impl Capture {
    fn is_home(&self) -> bool {
        self.copy_status == Some(JobStatus::Completed)
    }

    /// Takes it again, as a new attempt: its copy, and its backup too when that failed or when
    /// `everything` (the data changed after it). A drill's backup is a DR copy that completed.
    fn retake(&mut self, everything: bool) {
        let backup_failed = self
            .backup_status
            .as_ref()
            .is_some_and(|s| s.did_not_complete() || *s == JobStatus::Partial);
        if everything || backup_failed {
            self.backup_job_id = None;
            self.backup_status = None;
            self.recovery_point_arn = None;
            self.backup_started_at = None;
        }
        self.copy_job_id = None;
        self.copy_status = None;
        self.home_recovery_point_arn = None;
        self.status_message = None;
        self.attempt += 1;
    }

    /// The idempotency token of its `step` (`capture`, `copy-home`): the first take's is the
    /// resource's alone, as before attempts were counted.
    fn token(&self, run_id: &RunId, step: &str) -> String {
        let attempt = self.attempt.to_string();
        match self.attempt {
            0 => token(run_id, step, &[&self.resource]),
            _ => token(run_id, step, &[&self.resource, &attempt]),
        }
    }

    /// Why it will never come home, if a job of it ended without its result (a PARTIAL job
    /// is one: some of the resource did not come).
    fn failure(&self) -> Option<String> {
        fn ended(status: &Option<JobStatus>) -> Option<&JobStatus> {
            status
                .as_ref()
                .filter(|s| s.did_not_complete() || **s == JobStatus::Partial)
        }
        let (job, status) = match (ended(&self.backup_status), ended(&self.copy_status)) {
            (Some(status), _) => ("backup job", status),
            (None, Some(status)) => ("copy job to the primary region", status),
            (None, None) => return None,
        };
        Some(format!(
            "its {job} is {}{}",
            status.as_str(),
            self.status_message
                .as_deref()
                .map(|m| format!(": {m}"))
                .unwrap_or_default()
        ))
    }
}

/// A failback's capture as the run store keeps it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CaptureState {
    /// The failover's instances stopped before the backups (`quiesce`), when asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quiesced: Option<Quiesced>,
    pub resources: Vec<Capture>,
    /// Rounds this execution has gone (each is history the run after it cannot use).
    #[serde(default)]
    pub rounds: u32,
    /// The run whose id the jobs' tokens and tags carry: the first of a failback and of the
    /// runs that resumed it, so that a resumed run finds a job started but not recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_run: Option<RunId>,
}

impl CaptureState {
    /// A resumed failback's capture: the earlier run's, with what failed taken again. When
    /// `stale` (the failover's instances ran after the backups began, or they began before the
    /// instances were stopped) every resource is taken again and the instances stopped again:
    /// those backups miss what was written since. Its rounds are this execution's own.
    fn resumed(earlier: CaptureState, stale: bool) -> CaptureState {
        let mut state = CaptureState {
            rounds: 0,
            ..earlier
        };
        if stale {
            state.quiesced = None;
        }
        for capture in &mut state.resources {
            if stale || capture.failure().is_some() {
                capture.retake(stale);
            }
        }
        state
    }
}

/// The failover's instances, stopped so that the backups hold everything they wrote.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Quiesced {
    pub instances: Vec<String>,
    /// RFC 3339: when the stop was asked for (the workload is down from then).
    pub requested_at: String,
    /// RFC 3339: when every one of them was stopped (the backups start after it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_at: Option<String>,
}

/// What a round hands back to the state machine: counts only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CaptureOutput {
    /// Every resource's copy is in the primary region's vault.
    pub done: bool,
    pub resources: usize,
    pub copied: usize,
    /// How long the state machine waits before the next round (the run's poll interval; a
    /// long capture's later rounds wait longer: `model::rounds`).
    pub wait_seconds: u32,
}

/// Where a failback's jobs go: the DR vault (the stack's plan's), the home vault's ARN, the
/// role AWS Backup uses, and the run whose tokens and tags they carry.
struct CaptureTarget<'a> {
    dr_vault: &'a str,
    home_vault_arn: String,
    role_arn: &'a str,
    run_id: &'a RunId,
    plan: &'a str,
}

/// One round of the capture of `request`'s failback (see the module).
pub async fn capture_round(
    clients: &Clients,
    store: &RunStore,
    request: RunRequest,
    function_arn: &str,
) -> Result<CaptureOutput, BackstopError> {
    let Failback {
        plan,
        home,
        failover,
    } = failback_of(clients, store, &request).await?;
    let quiesce = request.input.quiesce && failover.is_some();
    let mut state: CaptureState = match store.get(&request.run_id, Part::Capture).await? {
        Some(state) => state,
        None => match &request.input.resume_run_id {
            Some(earlier) => {
                resumed_capture(
                    &clients.ec2,
                    store,
                    earlier,
                    &home,
                    failover.as_ref(),
                    quiesce,
                )
                .await?
            }
            None => CaptureState::default(),
        },
    };
    // a resumed failback's jobs are the earlier run's: the same tokens find them
    let run_id = match (&state.token_run, &request.input.resume_run_id) {
        (Some(first), _) => first.clone(),
        (None, Some(earlier)) => RunId::try_from(earlier.clone())?,
        (None, None) => request.run_id.clone(),
    };
    state.token_run = Some(run_id.clone());
    let target = CaptureTarget {
        dr_vault: &plan.backup_vault,
        home_vault_arn: vault_arn(function_arn, &home.dr_region, &home.backup_vault)?,
        role_arn: Settings::required(
            &clients.settings.restore_role_arn,
            "BACKSTOP_RESTORE_ROLE_ARN",
        )?,
        run_id: &run_id,
        plan: &plan.name,
    };
    out_of_rounds(&state)?;
    state.rounds += 1;
    let wait_seconds =
        capture_wait_seconds(request.input.settings.poll_interval_seconds, state.rounds);
    if let (true, Some(failover)) = (quiesce, &failover) {
        let quiesced = state.quiesced.get_or_insert_with(|| Quiesced {
            instances: failover
                .launched
                .iter()
                .map(|i| i.instance_id.clone())
                .collect(),
            requested_at: format_time(DateTime::from(std::time::SystemTime::now())),
            stopped_at: None,
        });
        if quiesced.stopped_at.is_none() {
            let stopped = stop_instances(&clients.ec2, &failover.run.run_id, quiesced).await;
            store.put(&request.run_id, Part::Capture, &state).await?;
            if !stopped? {
                return Ok(CaptureOutput {
                    done: false,
                    resources: home.resources.len(),
                    copied: 0,
                    wait_seconds,
                });
            }
        }
    }
    // a drill of the way home copies the DR vault's copies at its point in time
    // (listed once: later rounds have every resource's entry already)
    let all_entered = home
        .resources
        .iter()
        .all(|r| state.resources.iter().any(|c| c.resource == r.name));
    let dr_copies = match failover {
        Some(_) => HashMap::new(),
        None if all_entered => HashMap::new(),
        None => {
            let point_in_time = request
                .input
                .point_in_time
                .as_deref()
                .and_then(crate::model::time::parse_time)
                .unwrap_or(DateTime::from(std::time::SystemTime::now()));
            dr_copies(
                &clients.backup,
                plan.dr_vault(),
                &plan.dr_region,
                point_in_time,
            )
            .await?
        }
    };
    let captures = &mut state.resources;
    for resource in &home.resources {
        let Some(arn) = &resource.arn else { continue };
        if captures.iter().any(|c| c.resource == resource.name) {
            continue;
        }
        let mut capture = Capture {
            resource: resource.name.clone(),
            source_arn: arn.clone(),
            ..Capture::default()
        };
        if failover.is_none() {
            let Some(copy) = dr_copies.get(arn) else {
                if resource.optional {
                    continue;
                }
                return Err(BackstopError::not_found(
                    format!("a DR copy of {}", resource.name),
                    format!("vault {} holds no completed copy of {arn}: a drill of the way home copies the DR copies home", plan.backup_vault),
                ));
            };
            capture.recovery_point_arn = Some(copy.arn.clone());
            capture.backup_status = Some(JobStatus::Completed);
            capture.backup_started_at = Some(format_time(copy.data_time));
        }
        captures.push(capture);
    }
    let mut outcome = Ok(());
    for capture in captures.iter_mut().filter(|c| !c.is_home()) {
        if capture.failure().is_some() {
            continue;
        }
        // what earlier resources started is stored even when a later one cannot start
        if let Err(err) = advance(&clients.backup, &target, capture).await {
            outcome = Err(err);
            break;
        }
    }
    store.put(&request.run_id, Part::Capture, &state).await?;
    let captures = &state.resources;
    outcome?;
    let failed: Vec<String> = captures
        .iter()
        .filter_map(|c| c.failure().map(|why| format!("{}: {why}", c.resource)))
        .collect();
    if !failed.is_empty() {
        return Err(BackstopError::CaptureFailed {
            resource: failed.len().to_string() + " resource(s)",
            message: format!(
                "{}. {} Fix the cause and resume this failback (resumeRunId): it takes again what failed and keeps what came home",
                failed.join("; "),
                where_things_stand(&state)
            ),
        });
    }
    let copied = captures.iter().filter(|c| c.is_home()).count();
    tracing::info!(
        resources = captures.len(),
        copied,
        "DR-side backups copied to the primary region"
    );
    Ok(CaptureOutput {
        done: copied == captures.len(),
        resources: captures.len(),
        copied,
        wait_seconds,
    })
}

/// A capture that has gone its `CAPTURE_ROUNDS` stops, before the execution's history could
/// outgrow Step Functions' limit (which would end it with no report), and says how to go on.
fn out_of_rounds(state: &CaptureState) -> Result<(), BackstopError> {
    if state.rounds < CAPTURE_ROUNDS {
        return Ok(());
    }
    Err(BackstopError::Timeout {
        action: "bringing the DR side's data home".into(),
        message: format!(
            "its backups and copies were still running after {} rounds; the failback stops here, before its execution history outgrows Step Functions' limit. {} Once the copies in the primary region's vault are complete, resume this failback (resumeRunId): it goes on with the same jobs",
            state.rounds,
            where_things_stand(state)
        ),
    })
}

/// Where a capture that stops leaves production, for the operator.
fn where_things_stand(state: &CaptureState) -> String {
    let stopped = match state.quiesced {
        Some(_) => " The failover's instances were stopped for the backups and stay stopped; if you start them again to serve meanwhile, a resumed failback stops them again and backs everything up again, so that nothing they write is left behind.",
        None => "",
    };
    format!("Nothing was restored in the primary region and production DNS still points at the DR region.{stopped}")
}

/// Moves one resource's capture a step on: start its backup, read it, start its copy, read it.
async fn advance(
    backup: &aws_sdk_backup::Client,
    target: &CaptureTarget<'_>,
    capture: &mut Capture,
) -> Result<(), BackstopError> {
    let resource = capture.resource.clone();
    // a drill of the way home starts from a DR copy: its "backup" is complete already
    if capture.backup_status.is_none() {
        let mut request = backup
            .start_backup_job()
            .backup_vault_name(target.dr_vault)
            .resource_arn(&capture.source_arn)
            .iam_role_arn(target.role_arn)
            .idempotency_token(capture.token(target.run_id, "capture"));
        for (key, value) in run_tags(target.run_id, Mode::Failback, target.plan, &resource) {
            request = request.recovery_point_tags(key, value);
        }
        let started = request.send().await.context(format!(
            "starting the backup of {resource} in the DR region"
        ))?;
        capture.backup_job_id = started.backup_job_id;
        capture.backup_status = Some(JobStatus::Created);
        capture.backup_started_at = started.creation_date.map(format_time);
        return Ok(());
    }
    let backup_job_id = capture.backup_job_id.clone().unwrap_or_default();
    if capture
        .backup_status
        .as_ref()
        .is_some_and(JobStatus::is_pending)
    {
        let job = backup
            .describe_backup_job()
            .backup_job_id(&backup_job_id)
            .send()
            .await
            .context(format!("reading the backup of {resource}"))?;
        capture.backup_status = job.state.as_ref().map(|s| JobStatus::from(s.as_str()));
        capture.recovery_point_arn = job.recovery_point_arn.or(capture.recovery_point_arn.take());
        capture.status_message = job.status_message;
        if let Some(created) = job.creation_date {
            capture.backup_started_at = Some(format_time(created));
        }
    }
    if capture.backup_status != Some(JobStatus::Completed) {
        return Ok(());
    }
    let recovery_point =
        capture
            .recovery_point_arn
            .clone()
            .ok_or_else(|| BackstopError::CaptureFailed {
                resource: resource.clone(),
                message: format!("backup job {backup_job_id} completed without a recovery point"),
            })?;
    let Some(copy_job_id) = capture.copy_job_id.clone() else {
        let started = backup
            .start_copy_job()
            .recovery_point_arn(&recovery_point)
            .source_backup_vault_name(target.dr_vault)
            .destination_backup_vault_arn(&target.home_vault_arn)
            .iam_role_arn(target.role_arn)
            .idempotency_token(capture.token(target.run_id, "copy-home"))
            .send()
            .await
            .context(format!(
                "copying the backup of {resource} to {}",
                target.home_vault_arn
            ))?;
        capture.copy_job_id = started.copy_job_id;
        capture.copy_status = Some(JobStatus::Created);
        return Ok(());
    };
    let copy = backup
        .describe_copy_job()
        .copy_job_id(&copy_job_id)
        .send()
        .await
        .context(format!("reading the copy of {resource}"))?
        .copy_job;
    if let Some(copy) = copy {
        capture.copy_status = copy.state.as_ref().map(|s| JobStatus::from(s.as_str()));
        capture.home_recovery_point_arn = copy.destination_recovery_point_arn;
        capture.status_message = copy.status_message;
    }
    Ok(())
}

/// Stops the failover's instances (only those tagged with its run id: nothing else is
/// stopped, whatever the stored state lists) and says whether all of them are stopped now.
async fn stop_instances(
    ec2: &aws_sdk_ec2::Client,
    failover: &RunId,
    quiesced: &mut Quiesced,
) -> Result<bool, BackstopError> {
    if quiesced.instances.is_empty() {
        quiesced.stopped_at = Some(quiesced.requested_at.clone());
        return Ok(true);
    }
    let described = ec2
        .describe_instances()
        .set_instance_ids(Some(quiesced.instances.clone()))
        .send()
        .await
        .context("reading the failover's instances before stopping them")?;
    let mut running = Vec::new();
    let mut all_stopped = true;
    for instance in described.reservations().iter().flat_map(|r| r.instances()) {
        let id = instance.instance_id().unwrap_or_default().to_string();
        let ours = instance.tags().iter().any(|t| {
            t.key() == Some(crate::aws::tags::RUN_ID) && t.value() == Some(failover.as_str())
        });
        if !ours {
            return Err(BackstopError::Conflict(format!(
                "instance {id} is not tagged backstop:run-id={failover}: the failback stops only the failover's own instances; nothing was stopped"
            )));
        }
        match instance.state().and_then(|s| s.name()).map(|s| s.as_str()) {
            Some("stopped" | "terminated") => {}
            Some("stopping") => all_stopped = false,
            _ => {
                all_stopped = false;
                running.push(id);
            }
        }
    }
    if !running.is_empty() {
        ec2.stop_instances()
            .set_instance_ids(Some(running))
            .send()
            .await
            .context("stopping the failover's instances before the final backups")?;
    }
    if all_stopped {
        quiesced.stopped_at = Some(format_time(DateTime::from(std::time::SystemTime::now())));
    }
    Ok(all_stopped)
}

/// The capture a failback resuming `earlier` goes on from (see [`CaptureState::resumed`]).
/// It must be a capture of what this failback brings home (the same resources, from the same
/// failover's instances), or nothing of it is used. With `quiesce`, the earlier stop holds only
/// if none of the instances has run since; otherwise they are stopped again, and backups that
/// began before are taken again.
async fn resumed_capture(
    ec2: &aws_sdk_ec2::Client,
    store: &RunStore,
    earlier: &str,
    home: &Plan,
    failover: Option<&FailoverToBringHome>,
    quiesce: bool,
) -> Result<CaptureState, BackstopError> {
    let earlier = RunId::try_from(earlier.to_string())?;
    let Some(mut state) = store.get::<CaptureState>(&earlier, Part::Capture).await? else {
        return Ok(CaptureState::default());
    };
    let launched: Vec<String> = failover
        .map(|f| f.launched.iter().map(|i| i.instance_id.clone()).collect())
        .unwrap_or_default();
    check_resumed(&earlier, &state, home, &launched)?;
    let still_stopped = match (&state.quiesced, quiesce) {
        (
            Some(Quiesced {
                instances,
                requested_at,
                stopped_at: Some(_),
            }),
            true,
        ) => {
            let ran = ran_since(ec2, instances, requested_at).await?;
            if !ran.is_empty() {
                tracing::warn!(
                    instances = ?ran,
                    earlier = %earlier,
                    "the failover's instances ran after the earlier failback stopped them: they are stopped again and every resource is backed up again"
                );
            }
            ran.is_empty()
        }
        _ => false,
    };
    let began = state.resources.iter().any(|c| c.backup_job_id.is_some());
    let (stop_again, stale) = after_the_stop(quiesce, began, still_stopped);
    if stop_again {
        state.quiesced = None;
    }
    Ok(CaptureState::resumed(state, stale))
}

/// Whether a resumed quiesced failback stops the instances again, and whether its earlier
/// backups are stale: unless the earlier stop still holds, they are stopped again (even when
/// no backup began: one would otherwise start while they run), and every backup that began
/// before is taken again.
fn after_the_stop(quiesce: bool, began: bool, still_stopped: bool) -> (bool, bool) {
    let stop_again = quiesce && !still_stopped;
    (stop_again, stop_again && began)
}

/// The earlier capture is one of this failback: each resource one this failback brings home,
/// from the same DR resource, and each instance it stopped one the failover `launched`.
fn check_resumed(
    earlier: &RunId,
    state: &CaptureState,
    home: &Plan,
    launched: &[String],
) -> Result<(), BackstopError> {
    let foreign = state.resources.iter().find(|c| {
        !home
            .resources
            .iter()
            .any(|r| r.name == c.resource && r.arn.as_deref() == Some(c.source_arn.as_str()))
    });
    if let Some(capture) = foreign {
        return Err(BackstopError::invalid_input(
            "resumeRunId",
            format!(
                "run {earlier} captured {} ({}), which this failback does not bring home: resume a failback of the same failover; nothing was started",
                capture.resource, capture.source_arn
            ),
        ));
    }
    let mut stopped = state.quiesced.iter().flat_map(|q| &q.instances);
    if let Some(other) = stopped.find(|id| !launched.contains(id)) {
        return Err(BackstopError::invalid_input(
            "resumeRunId",
            format!(
                "run {earlier} stopped instance {other}, which the failover did not launch: resume a failback of the same failover; nothing was started"
            ),
        ));
    }
    Ok(())
}

/// Those of the failover's `instances` that ran after `since` (RFC 3339): started again
/// (EC2's `LaunchTime` is an instance's last start), or not stopped now.
async fn ran_since(
    ec2: &aws_sdk_ec2::Client,
    instances: &[String],
    since: &str,
) -> Result<Vec<String>, BackstopError> {
    if instances.is_empty() {
        return Ok(Vec::new());
    }
    let since = crate::model::time::parse_time(since).map(|t| t.secs());
    let described = ec2
        .describe_instances()
        .set_instance_ids(Some(instances.to_vec()))
        .send()
        .await
        .context("reading the failover's instances before resuming the failback")?;
    Ok(described
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .filter(|instance| {
            let state = instance.state().and_then(|s| s.name()).map(|s| s.as_str());
            let started_again = match (instance.launch_time(), since) {
                (Some(launched), Some(since)) => launched.secs() > since,
                _ => false,
            };
            !matches!(state, Some("stopped" | "terminated")) || started_again
        })
        .filter_map(|instance| instance.instance_id().map(str::to_string))
        .collect())
}

/// `arn:<partition>:backup:<region>:<account>:backup-vault:<name>`, in the function's account.
fn vault_arn(function_arn: &str, region: &str, name: &str) -> Result<String, BackstopError> {
    let parts: Vec<&str> = function_arn.split(':').collect();
    match parts.as_slice() {
        ["arn", partition, "lambda", _, account, ..] if !account.is_empty() => Ok(format!(
            "arn:{partition}:backup:{region}:{account}:backup-vault:{name}"
        )),
        _ => Err(BackstopError::invalid_input(
            "invokedFunctionArn",
            format!("{function_arn} is not a Lambda function's ARN: the home vault's account is the function's"),
        )),
    }
}

/// `CaptureFunction`: one round of a failback's capture.
pub async fn run(
    clients: &Clients,
    request: RunRequest,
    invocation: &Invocation,
) -> Result<CaptureOutput, BackstopError> {
    capture_round(
        clients,
        &clients.store()?,
        request,
        &invocation.function_arn,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_capture_out_of_rounds_stops_and_says_how_to_resume() {
        let mut state = CaptureState {
            rounds: CAPTURE_ROUNDS - 1,
            ..CaptureState::default()
        };
        assert!(out_of_rounds(&state).is_ok(), "its last round still goes");
        state.rounds = CAPTURE_ROUNDS;
        let err = out_of_rounds(&state).unwrap_err();
        assert_eq!(err.error_name(), "Backstop.Timeout");
        let said = err.to_string();
        assert!(said.contains("resumeRunId"), "{said}");
        assert!(!said.contains("instances were stopped"), "{said}");
        state.quiesced = Some(Quiesced::default());
        let said = out_of_rounds(&state).unwrap_err().to_string();
        assert!(said.contains("instances were stopped"), "{said}");
    }

    #[test]
    fn the_home_vault_is_in_the_functions_account_and_partition() {
        assert_eq!(
            vault_arn(
                "arn:aws-us-gov:lambda:us-gov-west-1:123456789012:function:backstop-capture",
                "us-gov-east-1",
                "backstop-primary"
            )
            .unwrap(),
            "arn:aws-us-gov:backup:us-gov-east-1:123456789012:backup-vault:backstop-primary"
        );
        assert!(vault_arn("not-an-arn", "us-east-1", "v").is_err());
    }

    #[test]
    fn a_job_that_ended_without_its_result_is_named_with_its_message() {
        let capture = Capture {
            resource: "orders-db".into(),
            backup_status: Some(JobStatus::Completed),
            copy_status: Some(JobStatus::Failed),
            status_message: Some("Access denied to the destination vault".into()),
            ..Capture::default()
        };
        let why = capture.failure().unwrap();
        assert!(
            why.contains("copy job to the primary region is FAILED"),
            "{why}"
        );
        assert!(why.contains("Access denied"), "{why}");
        let partial = Capture {
            backup_status: Some(JobStatus::Completed),
            copy_status: Some(JobStatus::Partial),
            ..Capture::default()
        };
        assert!(partial.failure().unwrap().contains("PARTIAL"));
        let running = Capture {
            backup_status: Some(JobStatus::Running),
            ..Capture::default()
        };
        assert_eq!(running.failure(), None);
        assert!(!running.is_home());
    }

    fn home(resource: &str) -> Capture {
        Capture {
            resource: resource.into(),
            source_arn: format!("arn:aws:ec2:us-west-2:1:volume/vol-{resource}"),
            backup_job_id: Some(format!("backup-{resource}")),
            backup_status: Some(JobStatus::Completed),
            recovery_point_arn: Some(format!("arn:rp:dr:{resource}")),
            backup_started_at: Some("2026-12-05T10:05:00Z".into()),
            copy_job_id: Some(format!("copy-{resource}")),
            copy_status: Some(JobStatus::Completed),
            home_recovery_point_arn: Some(format!("arn:rp:home:{resource}")),
            ..Capture::default()
        }
    }

    fn earlier() -> CaptureState {
        let backup_failed = Capture {
            backup_status: Some(JobStatus::Failed),
            copy_job_id: None,
            copy_status: None,
            home_recovery_point_arn: None,
            status_message: Some("volume unreadable".into()),
            ..home("data")
        };
        let copy_failed = Capture {
            copy_status: Some(JobStatus::Aborted),
            home_recovery_point_arn: None,
            ..home("logs")
        };
        let copying = Capture {
            copy_status: Some(JobStatus::Running),
            home_recovery_point_arn: None,
            ..home("db")
        };
        CaptureState {
            quiesced: Some(Quiesced {
                instances: vec!["i-1".into()],
                requested_at: "2026-12-05T10:00:00Z".into(),
                stopped_at: Some("2026-12-05T10:01:00Z".into()),
            }),
            resources: vec![home("root"), backup_failed, copy_failed, copying],
            rounds: 40,
            token_run: Some(RunId::try_from("failback-1".to_string()).unwrap()),
        }
    }

    #[test]
    fn a_resumed_capture_takes_again_what_failed_and_keeps_the_rest() {
        let before = earlier();
        let resumed = CaptureState::resumed(before.clone(), false);
        assert_eq!(resumed.rounds, 0, "its rounds are the new execution's");
        assert_eq!(
            resumed.quiesced, before.quiesced,
            "still stopped: not again"
        );
        assert_eq!(resumed.token_run, before.token_run);
        let [root, data, logs, db] = &resumed.resources[..] else {
            panic!("{resumed:?}")
        };
        assert_eq!(root, &before.resources[0], "home already");
        assert_eq!(db, &before.resources[3], "still copying: the same job");
        // the failed backup is taken again, under a new token
        assert_eq!(data.attempt, 1);
        assert_eq!(
            (data.backup_job_id.as_ref(), data.backup_status.as_ref()),
            (None, None)
        );
        assert_eq!(data.failure(), None);
        // the failed copy is made again from the backup that completed
        assert_eq!(logs.attempt, 1);
        assert_eq!(logs.backup_job_id.as_deref(), Some("backup-logs"));
        assert_eq!(logs.recovery_point_arn.as_deref(), Some("arn:rp:dr:logs"));
        assert_eq!(
            (logs.copy_job_id.as_ref(), logs.copy_status.as_ref()),
            (None, None)
        );
        let run = RunId::try_from("failback-1".to_string()).unwrap();
        assert_ne!(
            data.token(&run, "capture"),
            before.resources[1].token(&run, "capture")
        );
        assert_ne!(
            logs.token(&run, "copy-home"),
            before.resources[2].token(&run, "copy-home")
        );
        // a first take's token is what it was before attempts were counted
        assert_eq!(
            root.token(&run, "capture"),
            crate::aws::tags::token(&run, "capture", &["root"])
        );
    }

    #[test]
    fn a_resumed_capture_whose_instances_ran_again_takes_everything_again() {
        let resumed = CaptureState::resumed(earlier(), true);
        assert_eq!(resumed.quiesced, None, "the instances are stopped again");
        for capture in &resumed.resources {
            assert_eq!(capture.attempt, 1, "{capture:?}");
            assert_eq!(capture.backup_job_id, None, "{capture:?}");
            assert_eq!(capture.backup_started_at, None, "{capture:?}");
            assert!(!capture.is_home(), "{capture:?}");
        }
        // taken again twice, each take has its own token
        let twice = CaptureState::resumed(resumed.clone(), true);
        let run = RunId::try_from("failback-1".to_string()).unwrap();
        assert_eq!(twice.resources[0].attempt, 2);
        assert_ne!(
            twice.resources[0].token(&run, "capture"),
            resumed.resources[0].token(&run, "capture")
        );
    }

    #[test]
    fn a_resumed_quiesced_capture_stops_again_unless_the_earlier_stop_holds() {
        // (quiesce, backups began, still stopped) -> (stop again, take everything again)
        assert_eq!(after_the_stop(true, true, true), (false, false));
        assert_eq!(after_the_stop(true, true, false), (true, true));
        // restarted before any backup began: stopped again, nothing to take again
        assert_eq!(after_the_stop(true, false, false), (true, false));
        assert_eq!(after_the_stop(false, true, false), (false, false));
    }

    #[test]
    fn a_resumed_capture_of_another_failback_is_refused() {
        let home = crate::plan::example_plan();
        let first = home.resources.iter().find(|r| r.arn.is_some()).unwrap();
        let ours = Capture {
            resource: first.name.clone(),
            source_arn: first.arn.clone().unwrap(),
            ..Capture::default()
        };
        let earlier = RunId::try_from("failback-1".to_string()).unwrap();
        let mut state = CaptureState {
            resources: vec![ours.clone()],
            quiesced: Some(Quiesced {
                instances: vec!["i-1".into()],
                ..Quiesced::default()
            }),
            ..CaptureState::default()
        };
        let launched = ["i-1".to_string()];
        assert!(check_resumed(&earlier, &state, &home, &launched).is_ok());
        // the same name, another DR resource (a failback of another failover)
        state.resources[0].source_arn = "arn:aws:ec2:us-west-2:1:volume/vol-other".into();
        let err = check_resumed(&earlier, &state, &home, &launched).unwrap_err();
        assert_eq!(err.error_name(), "Backstop.InvalidInput");
        assert!(err.to_string().contains("resumeRunId"), "{err}");
        assert!(err.to_string().contains("vol-other"), "{err}");
        state.resources[0] = ours;
        // an instance this failover did not launch
        let err = check_resumed(&earlier, &state, &home, &["i-2".to_string()]).unwrap_err();
        assert!(err.to_string().contains("i-1"), "{err}");
    }

    mod quiesce {
        use aws_sdk_ec2::config::retry::RetryConfig;
        use aws_sdk_ec2::operation::describe_instances::DescribeInstancesOutput;
        use aws_sdk_ec2::operation::stop_instances::StopInstancesOutput;
        use aws_sdk_ec2::types::{Instance, InstanceState, InstanceStateName, Reservation, Tag};
        use aws_sdk_ec2::Client;
        use aws_smithy_mocks::{mock, mock_client, RuleMode};

        use super::super::*;

        fn instance(id: &str, run: Option<&str>, state: InstanceStateName) -> Instance {
            let mut instance = Instance::builder()
                .instance_id(id)
                .state(InstanceState::builder().name(state).build());
            if let Some(run) = run {
                instance = instance.tags(Tag::builder().key("backstop:run-id").value(run).build());
            }
            instance.build()
        }

        /// DescribeInstances answering `listed`.
        fn described(listed: Vec<Instance>) -> aws_smithy_mocks::Rule {
            mock!(Client::describe_instances).then_output(move || {
                DescribeInstancesOutput::builder()
                    .reservations(
                        Reservation::builder()
                            .set_instances(Some(listed.clone()))
                            .build(),
                    )
                    .build()
            })
        }

        fn quiesced(ids: &[&str]) -> Quiesced {
            Quiesced {
                instances: ids.iter().map(|id| id.to_string()).collect(),
                requested_at: "2026-12-05T10:00:00Z".into(),
                stopped_at: None,
            }
        }

        #[tokio::test]
        async fn an_instance_the_failover_did_not_tag_is_never_stopped() {
            let listed = vec![
                instance("i-failover", Some("failover-1"), InstanceStateName::Running),
                instance("i-production", None, InstanceStateName::Running),
            ];
            let describe = described(listed);
            let stop = mock!(Client::stop_instances)
                .then_output(|| StopInstancesOutput::builder().build());
            let ec2 = mock_client!(aws_sdk_ec2, RuleMode::MatchAny, [&describe, &stop], |c| c
                .retry_config(RetryConfig::disabled()));
            let failover = RunId::try_from("failover-1".to_string()).unwrap();
            // a stored state edited to list another instance stops nothing at all
            let mut state = quiesced(&["i-failover", "i-production"]);
            let err = stop_instances(&ec2, &failover, &mut state)
                .await
                .unwrap_err();
            assert_eq!(err.error_name(), "Backstop.Conflict");
            assert!(err.to_string().contains("i-production"), "{err}");
            assert_eq!(stop.num_calls(), 0);
            assert_eq!(state.stopped_at, None);
        }

        #[tokio::test]
        async fn an_instance_that_ran_after_the_stop_is_found() {
            let at = |text: &str| crate::model::time::parse_time(text).unwrap();
            let launched = |id: &str, state: InstanceStateName, when: &str| {
                let mut instance = instance(id, Some("failover-1"), state);
                instance.launch_time = Some(at(when));
                instance
            };
            let listed = vec![
                launched(
                    "i-still",
                    InstanceStateName::Stopped,
                    "2026-12-05T09:00:00Z",
                ),
                // started again after the stop, and stopped again by hand
                launched(
                    "i-again",
                    InstanceStateName::Stopped,
                    "2026-12-05T11:00:00Z",
                ),
                launched(
                    "i-running",
                    InstanceStateName::Running,
                    "2026-12-05T09:00:00Z",
                ),
            ];
            let describe = described(listed);
            let ec2 = mock_client!(aws_sdk_ec2, RuleMode::MatchAny, [&describe], |c| c
                .retry_config(RetryConfig::disabled()));
            let ids = ["i-still", "i-again", "i-running"].map(String::from);
            let ran = ran_since(&ec2, &ids, "2026-12-05T10:00:00Z").await.unwrap();
            assert_eq!(ran, ["i-again", "i-running"]);
        }

        #[tokio::test]
        async fn the_backups_wait_until_every_instance_is_stopped() {
            let running = described(vec![
                instance("i-1", Some("failover-1"), InstanceStateName::Running),
                instance("i-2", Some("failover-1"), InstanceStateName::Stopping),
            ]);
            let stop = mock!(Client::stop_instances)
                .match_requests(|req| req.instance_ids() == ["i-1"])
                .then_output(|| StopInstancesOutput::builder().build());
            let ec2 = mock_client!(aws_sdk_ec2, RuleMode::MatchAny, [&running, &stop], |c| c
                .retry_config(RetryConfig::disabled()));
            let failover = RunId::try_from("failover-1".to_string()).unwrap();
            let mut state = quiesced(&["i-1", "i-2"]);
            assert!(!stop_instances(&ec2, &failover, &mut state).await.unwrap());
            assert_eq!(stop.num_calls(), 1, "only the running one is asked to stop");
            assert_eq!(state.stopped_at, None);
        }
    }
}
