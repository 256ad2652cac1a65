//! Failback: the way home after a failover. It names the failover it closes
//! (`failoverRunId`); its data comes from backups of the DR side taken now and copied into the
//! primary region's vault ([`capture`]); the rest is a recovery like the others, of the plan
//! [`Plan::for_failback`] swaps to the primary region, and it ends by retiring the failover
//! (its DR resources deleted, databases with a final snapshot) once DNS is home.

pub mod capture;
pub mod copies;

use std::collections::BTreeMap;

use aws_sdk_sfn::types::ExecutionStatus;

use crate::aws::plan_source::load_plan;
use crate::aws::store::{Part, RunStore};
use crate::aws::Clients;
use crate::error::BackstopError;
use crate::model::instances::LaunchedInstance;
use crate::model::jobs::{JobStatus, RestoreJob};
use crate::model::run::{Mode, ResolvedRun};
use crate::plan::home::HomeSource;
use crate::plan::{Plan, PlanSource};
use crate::steps::resolve::RunRequest;

/// What a failback knows of the failover it brings home.
#[derive(Debug, Clone)]
pub struct FailoverToBringHome {
    pub run: ResolvedRun,
    /// Its restore jobs as last seen: what it restored, and where.
    pub restores: Vec<RestoreJob>,
    /// The instances it launched (a quiesced failback stops them before its backups).
    pub launched: Vec<LaunchedInstance>,
}

impl FailoverToBringHome {
    /// What the failover restored, by the plan's name for each resource: the ARN its last
    /// completed restore job created.
    pub fn restored_arns(&self) -> BTreeMap<String, String> {
        let mut restored: BTreeMap<String, (u32, String)> = BTreeMap::new();
        for job in self
            .restores
            .iter()
            .filter(|j| j.status == JobStatus::Completed)
        {
            let Some(arn) = &job.created_resource_arn else {
                continue;
            };
            let later = restored
                .get(&job.resource)
                .is_none_or(|(attempt, _)| job.attempt >= *attempt);
            if later {
                restored.insert(job.resource.clone(), (job.attempt, arn.clone()));
            }
        }
        restored
            .into_iter()
            .map(|(name, (_, arn))| (name, arn))
            .collect()
    }
}

/// The plans of a failback: the stack's plan (its DR side: the vault the captures go to) and
/// the plan swapped to the primary region that the rest of the run recovers, with the failover.
#[derive(Debug, Clone)]
pub struct Failback {
    pub plan: Plan,
    pub home: Plan,
    /// None in a drill of the way home.
    pub failover: Option<FailoverToBringHome>,
}

/// Loads what a failback request names and checks it, before anything is created: the plan
/// from the stack's plan parameter (as for a failover), meant for this region, with a home
/// block; the failover, a succeeded run of this state machine of the same plan.
pub async fn failback_of(
    clients: &Clients,
    store: &RunStore,
    request: &RunRequest,
) -> Result<Failback, BackstopError> {
    let input = &request.input;
    input.check()?;
    input.check_failover_plan_source(clients.settings.plan_parameter.as_deref())?;
    if !input.goes_home() {
        return Err(BackstopError::invalid_input(
            "mode",
            "is neither a failback nor a drill of one (\"failback\": true)",
        ));
    }
    let source = PlanSource::from_input(
        input.plan.clone(),
        input.plan_parameter.clone(),
        input.plan_object.clone(),
    )?;
    let plan = load_plan(&clients.ssm, &clients.s3, source).await?;
    plan.require_region(&clients.settings.region)?;
    // a drill of the way home rehearses it from the DR vault's copies: no failover needed
    let Some(failover_run_id) = input.failover_run_id.as_deref() else {
        let home = plan.swapped_home(HomeSource::DrCopies)?;
        return Ok(Failback {
            plan,
            home,
            failover: None,
        });
    };
    let failover = failover_to_bring_home(
        &clients.sfn,
        store,
        request.state_machine_arn.as_deref(),
        failover_run_id,
        &plan,
    )
    .await?;
    let home = plan.for_failback(&failover.restored_arns())?;
    Ok(Failback {
        plan,
        home,
        failover: Some(failover),
    })
}

/// One failback of a failover at a time: a second one (started twice, from two consoles)
/// stops before it creates anything, unless it is the earliest of those running. Two would
/// restore the workload twice at home and move DNS back and forth.
pub async fn refuse_a_second_failback(
    sfn: &aws_sdk_sfn::Client,
    request: &RunRequest,
) -> Result<(), BackstopError> {
    let (Some(machine), Some(failover)) = (
        request.state_machine_arn.as_deref(),
        request.input.failover_run_id.as_deref(),
    ) else {
        return Ok(());
    };
    let name = request.run_id.as_str();
    let started = request
        .started_at
        .as_deref()
        .and_then(crate::model::time::parse_time)
        .unwrap_or(aws_smithy_types::DateTime::from(
            std::time::SystemTime::now(),
        ));
    // a resumed failback's own earlier execution has ended: it is not among the running ones
    for other in crate::aws::executions::running(sfn, machine).await? {
        let same_failover = other.input.get("mode").and_then(|m| m.as_str()) == Some("failback")
            && other.input.get("failoverRunId").and_then(|f| f.as_str()) == Some(failover);
        let earlier = (other.started.as_nanos(), other.name.as_str()) < (started.as_nanos(), name);
        if other.name != name && same_failover && earlier {
            return Err(BackstopError::Conflict(format!(
                "failback {} of failover {failover} is already running: one failback at a time; this run stopped before creating anything (watch that one, or stop it and start again)",
                other.name
            )));
        }
    }
    Ok(())
}

/// The failover `failover_run_id`: an execution of this state machine that succeeded, whose
/// stored state is a failover of `plan`. Anything else is refused, naming what to do.
async fn failover_to_bring_home(
    sfn: &aws_sdk_sfn::Client,
    store: &RunStore,
    state_machine_arn: Option<&str>,
    failover_run_id: &str,
    plan: &Plan,
) -> Result<FailoverToBringHome, BackstopError> {
    let (execution, described) = crate::aws::executions::describe_named(
        sfn,
        state_machine_arn,
        failover_run_id,
        (
            "failoverRunId",
            "the failover to bring home (its report names it)",
        ),
    )
    .await?;
    match described.status() {
        ExecutionStatus::Succeeded => {}
        ExecutionStatus::Running | ExecutionStatus::PendingRedrive => {
            return Err(BackstopError::Conflict(format!(
                "failover {execution} is still running: a failback starts once it has succeeded; nothing was created"
            )))
        }
        other => {
            return Err(BackstopError::Conflict(format!(
                "failover {execution} is {}: only a succeeded failover is brought home (resume it with resumeRunId until it succeeds); nothing was created",
                other.as_str()
            )))
        }
    }
    let run: ResolvedRun = store
        .get(&execution, Part::Run)
        .await?
        .ok_or_else(|| {
            BackstopError::invalid_input(
                "failoverRunId",
                format!("run {execution} has no stored state (it ended before resolving its plan, or its state expired): there is nothing of it to bring home"),
            )
        })?;
    if run.mode != Mode::Failover {
        return Err(BackstopError::invalid_input(
            "failoverRunId",
            format!(
                "run {execution} is a {}, not a failover: a failback brings a failover home",
                run.mode
            ),
        ));
    }
    if run.plan.name != plan.name {
        return Err(BackstopError::invalid_input(
            "failoverRunId",
            format!(
                "run {execution} failed over plan {}, not {}: name a failover of this plan",
                run.plan.name, plan.name
            ),
        ));
    }
    let restores: Vec<RestoreJob> = store
        .get(&execution, Part::Restore)
        .await?
        .unwrap_or_default();
    let launched: Vec<LaunchedInstance> = store
        .get(&execution, Part::Launch)
        .await?
        .unwrap_or_default();
    Ok(FailoverToBringHome {
        run,
        restores,
        launched,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_the_failover_restored_is_its_last_completed_attempt() {
        let job = |resource: &str, attempt: u32, status: &str, arn: Option<&str>| -> RestoreJob {
            serde_json::from_value(serde_json::json!({
                "resource": resource, "kind": "ebs", "recoveryPointArn": "arn:rp",
                "restoreJobId": format!("{resource}-{attempt}"), "attempt": attempt,
                "status": status, "createdResourceArn": arn
            }))
            .unwrap()
        };
        let failover = FailoverToBringHome {
            run: serde_json::from_value(serde_json::json!({
                "runId": "failover-1", "mode": "failover", "plan": crate::plan::example_plan_json(),
                "pointInTime": "2026-12-05T10:00:00Z", "settings": {}, "restores": [],
                "startedAt": "2026-12-05T10:00:00Z", "deadline": "2026-12-05T12:00:00Z"
            }))
            .unwrap(),
            restores: vec![
                job("app-data", 0, "FAILED", None),
                job("app-data", 1, "COMPLETED", Some("arn:vol-1")),
                job("orders-db", 0, "RUNNING", None),
            ],
            launched: vec![],
        };
        let restored = failover.restored_arns();
        assert_eq!(
            restored.get("app-data").map(String::as_str),
            Some("arn:vol-1")
        );
        assert!(
            !restored.contains_key("orders-db"),
            "still running: nothing to bring home"
        );
    }
}
