//! The run's report: what was restored and launched where, a timeline of every step, the
//! measured RTO and RPO against the plan's objectives, the teardown result, and a PASS/FAIL
//! verdict with its reasons. It is the execution's output, a set of CloudWatch Embedded Metric
//! Format lines, a readable text, and the run's evidence in the DR region (S3).

use std::collections::BTreeMap;

use aws_smithy_types::DateTime;
use serde::Deserialize;
use serde_json::Value;

use crate::aws::store::{Part, RunRef, RunStore};
use crate::model::instances::LaunchedInstance;
use crate::model::instances::WaveSpan;
use crate::model::jobs::RestoreJob;
use crate::model::network::NetworkState;
use crate::model::rounds::{HISTORY_EVENT_LIMIT, TEARDOWN_BOUND_SECONDS};
use crate::model::run::ResolvedRun;
use crate::model::run::{Mode, RunId};
use crate::model::time::{format_time, parse_time};
use crate::steps::history::StepSpan;
use crate::steps::switch_dns::SwitchedRecord;

mod evidence;
mod html;
pub mod hydration;
mod model;
pub mod past_runs;
mod render;

use model::action_word;
pub use model::{
    Evidence, FailbackSummary, Failure, NetworkUsed, Objective, ReadinessSummary, Report,
    ResourceRpo, Restored, RunIdentity, MAX_LISTED,
};

use crate::aws::Clients;
use crate::error::BackstopError;
use crate::steps::failback::capture::CaptureState;
use crate::steps::history::read_execution;
use crate::steps::teardown::TeardownOutcome;
use crate::steps::{Invocation, NamesRun};
pub use evidence::store_evidence;

/// What the state machine hands the report step: the execution's identity and its whole state.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReportRequest {
    pub run_id: String,
    pub execution_arn: String,
    /// `$$.Execution.StartTime`: where the RTO clock starts.
    pub started_at: String,
    /// The run's state when it ended (`$`), successful or not.
    pub state: Value,
}

/// Optional resources whose last restore attempt failed: the run went on without them.
fn skipped_optional(
    restores: &[crate::model::jobs::RestoreItem],
    progress: Option<&RestoreState>,
) -> Vec<String> {
    let jobs = progress.map(|p| p.jobs.as_slice()).unwrap_or_default();
    restores
        .iter()
        .filter(|item| item.optional)
        .filter_map(|item| {
            jobs.iter()
                .filter(|job| job.resource == item.resource)
                .max_by_key(|job| job.attempt)
                .filter(|job| job.status.did_not_complete())
        })
        .map(|job| {
            format!(
                "{} (optional) was not restored: restore job {} {}: {}",
                job.resource,
                job.restore_job_id,
                job.status,
                job.status_message.as_deref().unwrap_or("no message")
            )
        })
        .collect()
}

/// The run's state as the report reads it: every part optional, since a run can fail anywhere.
/// The payload gives the small parts (DNS, notice); the run, its jobs, its instances and its
/// teardown come from the run store ([`gather_state`]).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunState {
    #[serde(skip)]
    pub run: Option<ResolvedRun>,
    #[serde(skip)]
    pub restore: Option<RestoreState>,
    #[serde(skip)]
    pub launch: Option<LaunchState>,
    #[serde(default)]
    pub dns: Option<DnsState>,
    #[serde(skip)]
    pub teardown: Option<TeardownOutcome>,
    #[serde(skip)]
    pub readiness: Option<crate::steps::readiness::Readiness>,
    #[serde(skip)]
    pub network: Option<NetworkState>,
    /// The recovery waves, when the plan has more than one.
    #[serde(skip)]
    pub waves: Vec<WaveSpan>,
    /// The plan's validations, when they ran.
    #[serde(skip)]
    pub validation: Option<crate::steps::validate::ValidationOutcome>,
    /// The plan's post-launch actions, as far as they ran.
    #[serde(skip)]
    pub post_launch: Option<crate::steps::post_launch::PostLaunchOutcome>,
    /// What the run did with fast snapshot restore.
    #[serde(skip)]
    pub fast_restores: Option<Vec<crate::aws::fast_restore::FastRestore>>,
    /// Set by the failure path.
    #[serde(default)]
    pub notice: Option<Value>,
    /// Set when teardown itself failed (its error, as Step Functions caught it).
    #[serde(default)]
    pub teardown_error: Option<Value>,
    /// A failback's capture and the failover's retirement, from the run store.
    #[serde(skip)]
    pub failback: Option<FailbackSummary>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct RestoreState {
    pub jobs: Vec<RestoreJob>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct LaunchState {
    pub instances: Vec<LaunchedInstance>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct DnsState {
    pub records: Vec<SwitchedRecord>,
    pub healthy_at: Option<String>,
    pub in_sync_at: Option<String>,
}

/// The timeline's entry for the network stack: from the request to the stack being ready.
const NETWORK_STEP: &str = "NetworkStack";

/// A span the run recorded itself (not a state of the history): from `start` to `end`.
fn recorded_span(step: String, start: &str, end: Option<&str>) -> StepSpan {
    let seconds = match (parse_time(start), end.and_then(parse_time)) {
        (Some(start), Some(end)) => end.secs() - start.secs(),
        _ => 0,
    };
    StepSpan {
        step,
        started_at: start.to_string(),
        ended_at: end.map(str::to_string),
        seconds,
        rounds: 1,
    }
}

/// The timeline with the network stack's entry and, for a plan of several waves, one entry per
/// wave (its launch to its health gate; the last wave's to its volumes attached), in order of
/// start.
fn with_recorded_steps(
    mut timeline: Vec<StepSpan>,
    network: Option<&NetworkState>,
    waves: &[WaveSpan],
) -> Vec<StepSpan> {
    if let Some(network) = network {
        timeline.push(recorded_span(
            format!("{NETWORK_STEP} ({})", action_word(network.action)),
            &network.requested_at,
            network.ready_at.as_deref(),
        ));
    }
    if waves.len() > 1 {
        for wave in waves {
            let end = wave.healthy_at.as_deref().or(wave.attached_at.as_deref());
            // a short label: it is also a metric dimension (StepSeconds' Step)
            let mut names = wave.instances.iter().take(3).cloned().collect::<Vec<_>>();
            if wave.instances.len() > 3 {
                names.push(format!("+{} more", wave.instances.len() - 3));
            }
            timeline.push(recorded_span(
                format!("Wave {} ({})", wave.wave, names.join(", ")),
                &wave.started_at,
                end,
            ));
        }
    }
    // in order of start, as the other steps are
    timeline.sort_by_key(|step| {
        parse_time(&step.started_at)
            .map(|t| t.secs())
            .unwrap_or(i64::MAX)
    });
    timeline
}

/// The run's state when it ended: the payload's own parts, and from the store whatever the
/// run got to write (nothing, if it stopped before its plan was resolved). A part that cannot
/// be read is left out and said in the log: the report of a broken run is still written.
pub async fn gather_state(store: &RunStore, payload: &Value) -> RunState {
    let mut state: RunState = serde_json::from_value(payload.clone()).unwrap_or_else(|err| {
        tracing::warn!(%err, "run state only partly readable");
        RunState::default()
    });
    // preflight's report is there even when the run stopped before resolve-plan
    let preflight_execution = payload
        .pointer("/notice/runId")
        .and_then(Value::as_str)
        .and_then(|name| RunId::try_from(name.to_string()).ok());
    let run_ref = payload
        .get("run")
        .and_then(|run| serde_json::from_value::<RunRef>(run.clone()).ok());
    if let Some(execution) = run_ref
        .as_ref()
        .map(|r| r.execution.clone())
        .or(preflight_execution)
    {
        state.readiness = read_part(store, &execution, Part::Preflight, "readiness report").await;
    }
    let Some(run_ref) = run_ref else {
        return state;
    };
    let execution = &run_ref.execution;
    state.run = read_part(store, execution, Part::Run, "run").await;
    state.restore = read_part(store, execution, Part::Restore, "restore jobs")
        .await
        .map(|jobs| RestoreState { jobs });
    state.network = read_part(store, execution, Part::Network, "network stack").await;
    state.validation = read_part(store, execution, Part::Validation, "validations").await;
    state.post_launch = read_part(store, execution, Part::PostLaunch, "post-launch actions").await;
    state.waves = read_part(store, execution, Part::Waves, "waves")
        .await
        .unwrap_or_default();
    state.fast_restores = crate::steps::restore::hydration::records(store, &run_ref.run_id)
        .await
        .map(Some)
        .unwrap_or_else(|err| {
            tracing::warn!(%err, part = "fast snapshot restore", "a stored part of the run is not readable");
            None
        });
    state.launch = read_part(store, execution, Part::Launch, "instances")
        .await
        .map(|instances| LaunchState { instances });
    // only a run that went through teardown has one (an earlier run's by-hand pass is not it)
    if payload.get("teardown").is_some_and(|t| !t.is_null()) {
        state.teardown = read_part(store, execution, Part::Teardown, "teardown").await;
    }
    if let Some(failback) = state.run.as_ref().and_then(|r| r.failback.clone()) {
        let capture: CaptureState = read_part(store, execution, Part::Capture, "capture")
            .await
            .unwrap_or_default();
        // the failover's teardown, when this run went as far as retiring it
        let retiring = payload.get("retire").is_some_and(|r| !r.is_null());
        let retired = match (&failback.failover_run_id, retiring) {
            (Some(failover), true) => read_part(store, failover, Part::Teardown, "retire").await,
            _ => None,
        };
        state.failback = Some(FailbackSummary {
            failover_run_id: failback.failover_run_id.map(|id| id.to_string()),
            captured: capture.resources,
            quiesced: capture.quiesced,
            retired,
        });
    }
    state
}

/// A stored part of the run, or none when it was not written or cannot be read (said in the
/// log: the report of a broken run is still written).
async fn read_part<T: serde::de::DeserializeOwned>(
    store: &RunStore,
    execution: &RunId,
    part: Part,
    what: &str,
) -> Option<T> {
    store.get(execution, part).await.unwrap_or_else(|err| {
        tracing::warn!(%err, part = what, "a stored part of the run is not readable");
        None
    })
}

/// Builds the report of a run from its final state and its history's timeline.
pub fn build_report(
    request: &ReportRequest,
    state: &RunState,
    timeline: Vec<StepSpan>,
    now: DateTime,
) -> Report {
    let run = state.run.as_ref();
    let mode = run.map(|r| r.mode);
    let objectives = run.map(|r| r.plan.objectives.clone()).unwrap_or_default();
    let failure = state.notice.as_ref().map(|notice| {
        let text = |key: &str| {
            notice
                .get(key)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        Failure {
            step: text("failedStep"),
            error: text("error"),
            cause: text("cause"),
        }
    });
    let mut reasons = Vec::new();
    if let Some(failure) = &failure {
        reasons.push(format!(
            "the run failed at {}: {}",
            failure.step, failure.error
        ));
    }

    // RTO: from the execution's start to DNS in sync (failover) or the health gate (drill)
    let (reached, measure) = match mode {
        Some(Mode::Drill) => (
            state.dns.as_ref().and_then(|d| d.healthy_at.clone()),
            "execution start to health gate passed",
        ),
        _ => (
            state.dns.as_ref().and_then(|d| d.in_sync_at.clone()),
            "execution start to DNS in sync",
        ),
    };
    let start = parse_time(&request.started_at);
    let rto_seconds = match (start, reached.as_deref().and_then(parse_time)) {
        (Some(start), Some(end)) => Some(end.secs() - start.secs()),
        _ => None,
    };
    let rto_objective = objectives.rto_minutes.map(|m| m * 60);
    let rto_met = match (rto_seconds, rto_objective) {
        (Some(measured), Some(objective)) => measured <= objective,
        (Some(_), None) => true,
        (None, _) => false,
    };
    match (rto_seconds, rto_objective) {
        (None, _) => reasons.push("RTO not reached: the run never got to its end point".into()),
        (Some(measured), Some(objective)) if measured > objective => reasons.push(format!(
            "RTO {measured} s is above the objective of {objective} s"
        )),
        _ => {}
    }

    // RPO per resource, as resolve-plan measured it from the recovery points' capture time
    let rpo_objective = objectives.rpo_minutes.map(|m| m * 60);
    let mut rpo_by_resource: Vec<ResourceRpo> = run
        .map(|r| {
            r.restores
                .iter()
                .map(|item| ResourceRpo {
                    resource: item.resource.clone(),
                    recovery_point_arn: item.recovery_point_arn.clone(),
                    data_captured_at: item.recovery_point_created_at.clone(),
                    seconds: item.rpo_seconds,
                    met: !item.rpo_breached,
                })
                .collect()
        })
        .unwrap_or_default();
    let in_sync_at = state.dns.as_ref().and_then(|d| d.in_sync_at.as_deref());
    // a failback loses what the DR side wrote after its backups; a drill of one loses nothing
    let failback_rpo = match (&state.failback, in_sync_at, mode) {
        (Some(failback), Some(in_sync_at), Some(Mode::Failback)) => {
            failback_loss(&mut rpo_by_resource, failback, in_sync_at, rpo_objective);
            true
        }
        _ => false,
    };
    for breached in rpo_by_resource.iter().filter(|r| !r.met) {
        reasons.push(format!(
            "RPO of {} is {} s, above the objective of {} s",
            breached.resource,
            breached.seconds,
            rpo_objective.unwrap_or_default()
        ));
    }
    let worst_rpo = rpo_by_resource.iter().map(|r| r.seconds).max();
    let rpo = Objective {
        measured_seconds: worst_rpo,
        objective_seconds: rpo_objective,
        met: run.is_some() && rpo_by_resource.iter().all(|r| r.met),
        measure: match failback_rpo {
            true => "worst, over the resources brought home: what the DR side wrote after its final backup began, until DNS was home (none once its instances were stopped first: quiesce)",
            false => "worst, over the restored resources: point in time minus data capture",
        }
        .into(),
    };

    let teardown_error = state.teardown_error.as_ref().map(|error| {
        let part = |key: &str| error.get(key).and_then(Value::as_str).unwrap_or_default();
        format!("{}: {}", part("Error"), part("Cause"))
    });
    if let Some(error) = &teardown_error {
        reasons.push(format!("teardown failed: {error}"));
    }
    if let Some(retired) = state.failback.as_ref().and_then(|f| f.retired.as_ref()) {
        let left = retired.left.len() + retired.pending.len();
        if left > 0 || !retired.finished {
            reasons.push(format!(
                "retiring failover {} left {left} resource(s) in the DR region",
                retired.run_id
            ));
        }
    }
    if let Some(teardown) = &state.teardown {
        if !teardown.left.is_empty() || !teardown.finished {
            reasons.push(format!(
                "teardown left {} resource(s) behind",
                teardown.left.len() + teardown.pending.len()
            ));
        }
    } else if mode == Some(Mode::Drill) && failure.is_none() {
        reasons.push("the drill was not torn down".into());
    }

    let verdict = if reasons.is_empty() { "PASS" } else { "FAIL" };
    if reasons.is_empty() {
        reasons.push("every objective met".into());
    }
    // when the restored volumes reach full speed: with DNS, the RTO "to full speed"
    let jobs = state
        .restore
        .as_ref()
        .map(|r| r.jobs.as_slice())
        .unwrap_or_default();
    let sizes = |resource: &str| {
        run.and_then(|r| r.restores.iter().find(|i| i.resource == resource))
            .and_then(|item| item.size_bytes)
    };
    let fast_planned = |resource: &str| {
        run.and_then(|r| r.plan.resource(resource))
            .and_then(|r| r.ebs.as_ref())
            .is_some_and(|ebs| ebs.fast_snapshot_restore)
    };
    let (hydration, volumes_full_speed) = hydration::volumes(
        jobs,
        &sizes,
        &fast_planned,
        state.fast_restores.as_deref().unwrap_or_default(),
        start,
    );
    let rto_to_full_speed_seconds =
        rto_seconds.map(|dns| volumes_full_speed.map_or(dns, |v| v.max(dns)));
    let restored = state
        .restore
        .as_ref()
        .map(|r| {
            r.jobs
                .iter()
                .map(|job| Restored {
                    resource: job.resource.clone(),
                    kind: job.kind.to_string(),
                    restore_job_id: job.restore_job_id.clone(),
                    status: job.status.clone(),
                    created_resource_arn: job.created_resource_arn.clone(),
                    endpoint: job.endpoint.clone(),
                })
                .collect()
        })
        .unwrap_or_default();
    Report {
        // a resumed run carries the run id of the run it resumes
        run_id: run
            .map(|r| r.run_id.to_string())
            .unwrap_or_else(|| request.run_id.clone()),
        execution_arn: request.execution_arn.clone(),
        plan: run
            .map(|r| r.plan.name.clone())
            .or_else(|| state.readiness.as_ref().map(|r| r.plan.clone())),
        mode: mode.or_else(|| state.readiness.as_ref().map(|r| r.mode)),
        trigger: run.and_then(|r| r.trigger.clone()).map(Value::Object),
        identity: identity(&request.execution_arn, run),
        outcome: if failure.is_some() {
            "failed"
        } else {
            "succeeded"
        }
        .into(),
        verdict: verdict.into(),
        reasons,
        started_at: request.started_at.clone(),
        ended_at: format_time(now),
        rto: Objective {
            measured_seconds: rto_seconds,
            objective_seconds: rto_objective,
            met: rto_met,
            measure: measure.into(),
        },
        rto_to_full_speed_seconds: rto_to_full_speed_seconds.filter(|_| !hydration.is_empty()),
        history: None,
        hydration,
        rpo,
        rpo_by_resource,
        timeline: with_recorded_steps(timeline, state.network.as_ref(), &state.waves),
        network: state.network.as_ref().map(|n| NetworkUsed {
            stack_name: n.stack_name.clone(),
            stack_id: n.stack_id.clone(),
            action: n.action,
            requested_at: n.requested_at.clone(),
            ready_at: n.ready_at.clone(),
        }),
        restored,
        launched: state
            .launch
            .as_ref()
            .map(|l| l.instances.clone())
            .unwrap_or_default(),
        post_launch: state
            .post_launch
            .as_ref()
            .map(|p| p.actions.clone())
            .unwrap_or_default(),
        validations: state
            .validation
            .as_ref()
            .map(|v| v.checks.clone())
            .unwrap_or_default(),
        dns: state
            .dns
            .as_ref()
            .map(|d| d.records.clone())
            .unwrap_or_default(),
        warnings: run
            .map(|r| {
                let mut warnings = r.warnings.clone();
                warnings.extend(skipped_optional(&r.restores, state.restore.as_ref()));
                warnings.extend(switched_despite_checks(state));
                warnings.extend(lengthened_wait(r));
                warnings
            })
            .unwrap_or_default(),
        failure,
        teardown: state.teardown.clone(),
        failback: state.failback.clone(),
        teardown_error,
        readiness: state.readiness.as_ref().map(|r| ReadinessSummary {
            ready: r.ready(),
            counts: r.counts(),
            problems: r.problems(MAX_LISTED),
        }),
        evidence: None,
        notice: None,
        omitted: BTreeMap::new(),
    }
}

/// A failback's data loss per resource: production kept writing in the DR region from the
/// start of its final backup until DNS was home, unless its instances were stopped before the
/// backup began (quiesce).
fn failback_loss(
    rpo: &mut [ResourceRpo],
    failback: &FailbackSummary,
    in_sync_at: &str,
    objective: Option<i64>,
) {
    let Some(home) = parse_time(in_sync_at) else {
        return;
    };
    let stopped = failback
        .quiesced
        .as_ref()
        .and_then(|q| q.stopped_at.as_deref())
        .and_then(parse_time);
    for item in rpo.iter_mut() {
        let Some(started) = failback
            .captured
            .iter()
            .find(|c| c.resource == item.resource)
            .and_then(|c| c.backup_started_at.as_deref())
            .and_then(parse_time)
        else {
            continue;
        };
        item.seconds = match stopped {
            Some(stopped) if stopped.secs() <= started.secs() => 0,
            _ => (home.secs() - started.secs()).max(0),
        };
        item.met = objective.is_none_or(|o| item.seconds <= o);
    }
}

/// Failed checks of a failover whose DNS switched all the same: its operator approved it.
fn switched_despite_checks(state: &RunState) -> Option<String> {
    let validation = state.validation.as_ref().filter(|v| !v.passed)?;
    let switched = state.dns.as_ref().is_some_and(|d| !d.records.is_empty());
    switched.then(|| {
        let failed: Vec<&str> = validation
            .checks
            .iter()
            .filter(|c| !c.passed)
            .map(|c| c.name.as_str())
            .collect();
        format!(
            "validations failed ({}): the operator approved the DNS switch anyway",
            failed.join(", ")
        )
    })
}

/// A run that waited longer between rounds than its settings ask, and why (`model::rounds`).
fn lengthened_wait(run: &ResolvedRun) -> Option<String> {
    let rounds = run.rounds();
    let asked = run.settings.poll_interval_seconds;
    rounds.lengthened(asked).then(|| {
        format!(
            "the run waited {} s between rounds, not settings.pollIntervalSeconds' {asked} s: at {asked} s, rounds until its bound ({} min) and teardown's ({} min) could outgrow Step Functions' {} history events, which ends a run half-done; a shorter settings.runTimeoutMinutes keeps a shorter wait",
            rounds.wait_seconds,
            run.bound_seconds() / 60,
            TEARDOWN_BOUND_SECONDS / 60,
            HISTORY_EVENT_LIMIT,
        )
    })
}

/// The run's identity: account and regions, the plan's digest, what started it, our version.
fn identity(execution_arn: &str, run: Option<&ResolvedRun>) -> Option<model::RunIdentity> {
    // arn:aws:states:<region>:<account>:execution:<machine>:<name>
    let parts: Vec<&str> = execution_arn.split(':').collect();
    let (region, account) = (parts.get(3)?, parts.get(4)?);
    let plan_digest = run
        .and_then(|r| serde_json::to_value(&r.plan).ok())
        .map(|plan| {
            // serde_json's maps are sorted: this is the plan's canonical JSON
            use sha2::Digest;
            let hash = sha2::Sha256::digest(plan.to_string().as_bytes());
            let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
            format!("sha256:{hex}")
        });
    let trigger = run.and_then(|r| r.trigger.as_ref());
    let text = |key: &str| trigger.and_then(|t| t.get(key)).and_then(Value::as_str);
    let started_by = match (text("alarmName"), text("copyJobId")) {
        (Some(alarm), _) => format!(
            "CloudWatch alarm {alarm} (in ALARM at {})",
            text("changedAt").unwrap_or("?")
        ),
        (None, Some(job)) => format!(
            "a backup copy into the DR vault (copy job {job} of {})",
            text("resourceArn").unwrap_or("?")
        ),
        (None, None) => "an operator or a schedule (console, CLI or API): CloudTrail's StartExecution event of this execution names the principal".into(),
    };
    Some(model::RunIdentity {
        account: account.to_string(),
        dr_region: run.map_or(region.to_string(), |r| r.plan.dr_region.clone()),
        primary_region: run.and_then(|r| r.plan.primary_region.clone()),
        plan_digest,
        started_by,
        version: env!("CARGO_PKG_VERSION").to_string(),
    })
}

/// Appends the run to its plan's history and puts the plan's last runs of this mode and the
/// next one's predicted RTO in the report. A history that cannot be written is a warning: the
/// report itself still lands.
async fn add_history(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    report: &mut Report,
    run: Option<&ResolvedRun>,
) {
    let Some(plan) = report.plan.clone() else {
        return;
    };
    let restores = run.map(|r| r.restores.as_slice()).unwrap_or_default();
    let bytes: i64 = restores.iter().filter_map(|r| r.size_bytes).sum();
    let row = past_runs::HistoryRow::of(report, bytes, restores.len());
    match past_runs::append(s3, bucket, &plan, &row).await {
        Ok(past) => {
            let mut runs: Vec<_> = past.into_iter().filter(|r| r.mode == row.mode).collect();
            runs.push(row);
            let runs = runs.split_off(runs.len().saturating_sub(past_runs::SHOWN));
            let prediction = past_runs::predict(&runs, bytes, report.rto.objective_seconds);
            if let Some(warning) = prediction.as_ref().and_then(|p| p.warning.clone()) {
                report.warnings.push(warning);
            }
            report.history = Some(past_runs::RunHistory { runs, prediction });
        }
        Err(err) => {
            tracing::warn!(error = %err, "the plan's run history was not updated");
            report
                .warnings
                .push(format!("the plan's run history was not updated: {err}"));
        }
    }
}

/// `ReportFunction`: the last step of every run, successful or failed. Builds the report from
/// the run's state and its execution history, prints it as CloudWatch Embedded Metric Format
/// lines, stores it (JSON, text and page) in the evidence bucket with the plan's history, and
/// returns a bounded copy as the execution's output.
pub async fn run(
    clients: &Clients,
    request: ReportRequest,
    _: &Invocation,
) -> Result<Report, BackstopError> {
    // the state of a failed run can lack any part: read what is there
    let state = gather_state(&clients.store()?, &request.state).await;
    let reading = std::time::Instant::now();
    let record = read_execution(&clients.sfn, &request.execution_arn).await?;
    let ms = reading.elapsed().as_millis() as u64;
    tracing::info!(steps = record.steps.len(), ms, "history read");
    let now = std::time::SystemTime::now();
    let mut report = build_report(&request, &state, record.steps, now.into());
    let millis = now
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default();
    // EMF: CloudWatch Logs turns each of these stdout lines into metrics
    for line in report.metric_lines(millis) {
        println!("{line}");
    }
    match &clients.settings.evidence_bucket {
        Some(bucket) => {
            add_history(&clients.s3, bucket, &mut report, state.run.as_ref()).await;
            report.evidence = Some(store_evidence(&clients.s3, bucket, &report).await?)
        }
        None => tracing::warn!("EVIDENCE_BUCKET is not set: the report is not stored"),
    }
    let rto = report.rto.measured_seconds;
    tracing::info!(verdict = %report.verdict, rto, "report\n{}", report.text());
    // the execution carries a bounded copy: its size must not grow with the resources
    let mut answer = report.for_payload();
    if let Some(notice) = &state.notice {
        answer.notice = Some(answer.failure_notice(notice));
    }
    Ok(answer)
}

impl NamesRun for ReportRequest {
    fn run_id(&self) -> Option<&str> {
        Some(&self.run_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failbacks_rpo_is_what_the_dr_side_wrote_after_its_backup_began_unless_quiesced() {
        let rpo = |resource: &str| ResourceRpo {
            resource: resource.into(),
            recovery_point_arn: "arn:rp".into(),
            data_captured_at: "2026-12-05T10:00:00Z".into(),
            seconds: 5,
            met: true,
        };
        let capture = |resource: &str, started: &str| crate::steps::failback::capture::Capture {
            resource: resource.into(),
            backup_started_at: Some(started.into()),
            ..Default::default()
        };
        let mut failback = FailbackSummary {
            failover_run_id: Some("failover-1".into()),
            captured: vec![
                capture("app-data", "2026-12-05T10:00:00Z"),
                capture("orders-db", "2026-12-05T10:05:00Z"),
            ],
            quiesced: None,
            retired: None,
        };
        // still serving from the DR region until DNS was home at 10:20
        let mut items = vec![rpo("app-data"), rpo("orders-db")];
        failback_loss(&mut items, &failback, "2026-12-05T10:20:00Z", Some(900));
        assert_eq!((items[0].seconds, items[0].met), (1200, false));
        assert_eq!((items[1].seconds, items[1].met), (900, true));
        // the instances were stopped before the first backup: nothing written after it
        failback.quiesced = Some(crate::steps::failback::capture::Quiesced {
            instances: vec!["i-1".into()],
            requested_at: "2026-12-05T09:58:00Z".into(),
            stopped_at: Some("2026-12-05T09:59:00Z".into()),
        });
        let mut items = vec![rpo("app-data"), rpo("orders-db")];
        failback_loss(&mut items, &failback, "2026-12-05T10:20:00Z", Some(900));
        assert!(items.iter().all(|i| i.seconds == 0 && i.met));
    }
    use serde_json::json;

    fn run_value(mode: &str) -> Value {
        json!({
            "runId": "drill-1",
            "mode": mode,
            "plan": {"name": "shop", "drRegion": "us-west-2", "backupVault": "v",
                     "objectives": {"rtoMinutes": 60, "rpoMinutes": 120}},
            "pointInTime": "2026-12-01T10:00:00Z",
            "settings": {"pollIntervalSeconds": 30, "maxConcurrentRestores": 20},
            "restores": [
                {"resource": "data", "kind": "ebs", "sourceArn": "arn:s", "recoveryPointArn": "arn:rp",
                 "recoveryPointCreatedAt": "2026-12-01T09:00:00Z", "rpoSeconds": 3600, "rpoBreached": false},
                {"resource": "db", "kind": "rds", "sourceArn": "arn:d", "recoveryPointArn": "arn:rp2",
                 "recoveryPointCreatedAt": "2026-12-01T06:00:00Z", "rpoSeconds": 14400, "rpoBreached": true}
            ],
            "startedAt": "2026-12-01T10:00:00Z",
            "deadline": "2026-12-01T12:00:00Z"
        })
    }

    /// The state as `gather_state` puts it together: the payload's parts, and the stored run.
    fn parsed(state: Value) -> RunState {
        let mut parsed: RunState = serde_json::from_value(state.clone()).unwrap();
        parsed.run = Some(serde_json::from_value(state["run"].clone()).unwrap());
        parsed.teardown = serde_json::from_value(state["teardown"].clone()).unwrap_or_default();
        parsed
    }

    /// The report of `state` (as the payload and the run store give it), ended at `end` seconds.
    fn report_at(state: &Value, timeline: Vec<StepSpan>, end: i64) -> Report {
        build_report(
            &request(state.clone()),
            &parsed(state.clone()),
            timeline,
            DateTime::from_secs(end),
        )
    }

    fn request(state: Value) -> ReportRequest {
        ReportRequest {
            run_id: "drill-1".into(),
            execution_arn: "arn:aws:states:us-west-2:1:execution:m:drill-1".into(),
            started_at: "2026-12-01T10:00:00Z".into(),
            state,
        }
    }

    #[test]
    fn a_drill_is_measured_to_its_health_gate_and_fails_on_a_breached_rpo() {
        let state = json!({
            "run": run_value("drill"),
            "dns": {"records": [], "healthyAt": "2026-12-01T10:07:30Z", "inSyncAt": "2026-12-01T10:08:00Z"},
            "teardown": {"runId": "drill-1", "finished": true, "startedAt": "2026-12-01T10:09:00Z",
                         "rounds": 2, "deleted": [], "pending": [], "left": []}
        });
        let request = request(state.clone());
        let parsed = parsed(state);
        let report = build_report(
            &request,
            &parsed,
            vec![],
            DateTime::from_secs(1_800_000_000),
        );
        assert_eq!(report.rto.measured_seconds, Some(450));
        assert!(report.rto.met);
        assert_eq!(report.rpo.measured_seconds, Some(14400));
        assert!(!report.rpo.met);
        assert_eq!(report.verdict, "FAIL");
        assert!(
            report.reasons.iter().any(|r| r.contains("RPO of db")),
            "{:?}",
            report.reasons
        );
        assert!(report.text().contains("Verdict: FAIL"));
    }

    #[test]
    fn the_execution_carries_at_most_ten_entries_per_list_and_says_how_many_more() {
        let mut run = run_value("drill");
        let item = run["restores"][0].clone();
        run["restores"] = json!((0..1000)
            .map(|i| {
                let mut item = item.clone();
                item["resource"] = json!(format!("data-{i:04}"));
                item
            })
            .collect::<Vec<_>>());
        let state = json!({ "run": run });
        let report = report_at(&state, vec![], 1_800_000_000);
        assert_eq!(report.rpo_by_resource.len(), 1000);
        let copy = report.for_payload();
        assert_eq!(copy.rpo_by_resource.len(), MAX_LISTED);
        assert_eq!(copy.omitted["rpoByResource"], 990);
        assert!(serde_json::to_string(&copy).unwrap().len() < 8_000);
        // the full report (the evidence) keeps everything
        assert_eq!(report.omitted.len(), 0);
    }

    #[test]
    fn an_execution_start_with_a_numeric_offset_is_read() {
        let with_offset = parse_time("2026-12-02T00:55:14.5+00:00").unwrap();
        let with_z = parse_time("2026-12-02T00:55:14.5Z").unwrap();
        assert_eq!(with_offset, with_z);
        let east = parse_time("2026-12-02T02:55:14+02:00").unwrap();
        assert_eq!(east.secs(), with_z.secs());
        assert!(parse_time("yesterday").is_none());
    }

    #[test]
    fn a_failed_run_never_passes_and_says_where_it_failed() {
        let state = json!({
            "run": run_value("failover"),
            "notice": {"failedStep": "AttachVolumes", "error": "Backstop.Conflict", "cause": "wrong AZ"}
        });
        let report = report_at(&state, vec![], 1_800_000_000);
        assert_eq!(report.outcome, "failed");
        assert_eq!(report.verdict, "FAIL");
        assert_eq!(report.failure.as_ref().unwrap().step, "AttachVolumes");
        assert_eq!(report.rto.measured_seconds, None);
        let metrics = report.metric_lines(0);
        let first: Value = serde_json::from_str(&metrics[0]).unwrap();
        assert_eq!(first["RunPassed"], 0);
        assert_eq!(
            first["_aws"]["CloudWatchMetrics"][0]["Namespace"],
            "Backstop"
        );
    }

    #[test]
    fn each_validation_is_a_metric_and_each_wave_a_short_timeline_bar() {
        let state = json!({ "run": run_value("drill") });
        let mut report = report_at(&state, vec![], 1_800_000_000);
        report.validations = vec![
            crate::steps::validate::judge("orders-api", "f", None, br#"{"passed": true}"#, 0.4),
            crate::steps::validate::judge("cache", "g", None, br#"{"passed": false}"#, 0.2),
        ];
        let checks: Vec<(String, i64)> = report
            .metric_lines(0)
            .iter()
            .map(|line| serde_json::from_str::<Value>(line).unwrap())
            .filter(|line| line.get("ValidationPassed").is_some())
            .map(|line| {
                (
                    line["Check"].as_str().unwrap().to_string(),
                    line["ValidationPassed"].as_i64().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            checks,
            [("orders-api".to_string(), 1), ("cache".to_string(), 0)]
        );

        let wave = |wave: u32, names: &[&str], start: &str, end: &str| WaveSpan {
            wave,
            instances: names.iter().map(|n| n.to_string()).collect(),
            started_at: start.into(),
            attached_at: Some(end.into()),
            healthy_at: Some(end.into()),
        };
        let waves = [
            wave(1, &["db"], "2026-12-05T10:00:00Z", "2026-12-05T10:03:00Z"),
            wave(
                2,
                &["a", "b", "c", "d", "e"],
                "2026-12-05T10:03:05Z",
                "2026-12-05T10:06:00Z",
            ),
        ];
        let timeline = with_recorded_steps(vec![], None, &waves);
        let bars: Vec<(&str, i64)> = timeline
            .iter()
            .map(|s| (s.step.as_str(), s.seconds))
            .collect();
        assert_eq!(
            bars,
            [("Wave 1 (db)", 180), ("Wave 2 (a, b, c, +2 more)", 175)]
        );
        // one wave is no wave: no bar
        assert!(with_recorded_steps(vec![], None, &waves[..1]).is_empty());
    }

    #[test]
    fn a_run_started_by_an_alarm_says_which() {
        let mut run = run_value("failover");
        run["trigger"] =
            json!({"alarmName": "primary-down", "changedAt": "2026-12-01T10:00:00.000Z"});
        let state = json!({ "run": run });
        let report = report_at(&state, vec![], 1_800_000_000);
        assert_eq!(
            report.trigger.as_ref().unwrap()["alarmName"],
            "primary-down"
        );
        assert!(
            report
                .text()
                .contains("started by {\"alarmName\":\"primary-down\""),
            "{}",
            report.text()
        );
    }

    #[test]
    fn a_drill_whose_teardown_failed_says_so_once_and_how_to_finish() {
        let state = json!({
            "run": run_value("drill"),
            "teardownError": {"Error": "Backstop.AccessDenied", "Cause": "ec2:TerminateInstances denied"},
            "notice": {"runId": "drill-1", "failedStep": "Teardown", "error": "Backstop.TeardownFailed",
                       "cause": "the drill recovered but its teardown failed (Backstop.AccessDenied): ec2:TerminateInstances denied",
                       "leftInPlace": "by tag"}
        });
        let report = report_at(&state, vec![], 1_800_000_000);
        assert_eq!(report.outcome, "failed");
        assert_eq!(report.verdict, "FAIL");
        let teardown_reasons = report
            .reasons
            .iter()
            .filter(|r| r.contains("TerminateInstances"))
            .count();
        assert_eq!(teardown_reasons, 1, "{:?}", report.reasons);
        let notice: Value = serde_json::from_str(&report.failure_notice(&state["notice"])).unwrap();
        let torn_down = notice["tornDown"].as_str().unwrap();
        assert!(
            torn_down.starts_with(
                "teardown failed (Backstop.AccessDenied: ec2:TerminateInstances denied)"
            ) && torn_down.contains(r#"{"runId": "drill-1"}"#),
            "{torn_down}"
        );
        assert!(notice.get("leftInPlace").is_none(), "{notice}");
    }

    #[test]
    fn the_page_has_one_bar_per_step_the_json_s_figures_its_identity_and_fetches_nothing() {
        let mut run = run_value("drill");
        run["restores"][0]["resource"] = json!("<script>alert(1)</script>");
        let state = json!({ "run": run });
        let span = |step: &str, start: &str, end: &str, seconds: i64| StepSpan {
            step: step.into(),
            started_at: start.into(),
            ended_at: Some(end.into()),
            seconds,
            rounds: 1,
        };
        let timeline = vec![
            span(
                "Preflight",
                "2026-12-01T10:00:00Z",
                "2026-12-01T10:00:05Z",
                5,
            ),
            span(
                "RestoreAndLaunch",
                "2026-12-01T10:00:05Z",
                "2026-12-01T10:20:00Z",
                1195,
            ),
            span(
                "Teardown",
                "2026-12-01T10:20:00Z",
                "2026-12-01T10:25:00Z",
                300,
            ),
        ];
        let report = report_at(&state, timeline, 1_764_584_000);
        let page = report.html();
        assert_eq!(page.matches("class=\"bar").count(), 3, "{page}");
        assert!(page.contains("data-step=\"RestoreAndLaunch\" data-seconds=\"1195\""));
        // nothing to run, nothing to fetch: no script, no source, no link, and a policy that
        // forbids any
        assert!(page.contains("content=\"default-src 'none'; style-src 'unsafe-inline'\""));
        for forbidden in ["<script", "src=", "href=", "url(", "@import"] {
            assert!(!page.contains(forbidden), "{forbidden} in the page");
        }
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        // the figures are the JSON's
        let rpo = report.rpo.measured_seconds.unwrap();
        assert!(
            page.contains(&format!(
                "id=\"rpo\" data-measured-seconds=\"{rpo}\" data-objective-seconds=\"7200\""
            )),
            "{page}"
        );
        assert!(page.contains(&format!("id=\"verdict\">{}<", report.verdict)));
        let identity = report.identity.as_ref().unwrap();
        assert_eq!(identity.account, "1");
        assert_eq!(identity.dr_region, "us-west-2");
        assert!(
            identity.started_by.starts_with("an operator"),
            "{identity:?}"
        );
        let digest = identity.plan_digest.as_deref().unwrap();
        assert!(
            digest.starts_with("sha256:") && digest.len() == 71,
            "{digest}"
        );
        assert!(page.contains(digest));
        // another plan, another digest
        let mut other = run_value("drill");
        other["plan"]["objectives"]["rtoMinutes"] = json!(61);
        let other_state = json!({ "run": other });
        let other_report = report_at(&other_state, vec![], 1_764_584_000);
        assert_ne!(other_report.identity.unwrap().plan_digest.unwrap(), digest);
    }
}
