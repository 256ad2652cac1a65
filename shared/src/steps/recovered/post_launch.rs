//! `PostLaunch`: after a wave is attached and healthy, the plan's post-launch actions due by
//! then, one after another in the plan's order: a Systems Manager command on the recovered
//! instances (sent once, followed across invocations), or a Lambda function (invoked within
//! one). Each waits until what it runs on and references is ready (instances past their
//! status checks with their SSM agents online, referenced databases available). A failed
//! action fails the step (`Backstop.ActionFailed`): the next wave does not launch and DNS
//! does not move.

use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};
use sha2::Digest;

use super::{
    command_for, describe_outcomes, fill, invoke_bounded, never_registered, recovered_view,
    referenced_databases, with_execution_timeout, MESSAGE_CHARS,
};
use crate::aws::run_command::{self, InvocationOutcome};
use crate::aws::store::{Part, RunRef, RunStore};
use crate::aws::Clients;
use crate::error::{truncate_chars, BackstopError};
use crate::kinds::Health;
use crate::model::instances::LaunchedInstance;
use crate::model::jobs::RestoreJob;
use crate::model::run::ResolvedRun;
use crate::model::run::RunId;
use crate::model::time::{now_rfc3339, seconds_since};
use crate::plan::ActionPlan;
use crate::steps::{Invocation, StepInput};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ActionStatus {
    /// Waiting for its instances' SSM agents (since `started_at`).
    Waiting,
    /// A command sent, not finished.
    Running,
    Succeeded,
    Failed,
}

/// One action as it ran.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionResult {
    pub name: String,
    pub wave: u32,
    /// What ran: the function, or the document and the instances.
    pub target: String,
    pub status: ActionStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command_id: Option<String>,
    /// When it started (waiting for agents included), RFC 3339.
    pub started_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<String>,
    /// The function's answer, or how the command ended on each instance, or why it failed.
    pub message: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outputs: Vec<InvocationOutcome>,
}

impl ActionResult {
    fn end(&mut self, status: ActionStatus, message: String) {
        self.status = status;
        self.message = truncate_chars(&message, MESSAGE_CHARS).to_string();
        self.ended_at = Some(now_rfc3339());
    }

    fn seconds_since_start(&self) -> f64 {
        seconds_since(&self.started_at)
    }
}

/// The run's post-launch actions so far (stored as `Part::PostLaunch`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PostLaunchOutcome {
    pub actions: Vec<ActionResult>,
}

/// What the step hands the state machine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PostLaunchSummary {
    pub wave: u32,
    pub actions: usize,
}

/// The comment a command is sent with: names the run and the entry, and finds the command
/// again after a retry (SSM allows 100 characters; the run's part is a hash).
pub fn comment(execution: &RunId, kind: &str, name: &str) -> String {
    let digest = sha2::Sha256::digest(format!("{}\n{kind}\n{name}", execution.as_str()));
    let hash: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    truncate_chars(&format!("backstop {hash} {kind} {name}"), 100).to_string()
}

/// What one look at an action decided.
enum Step {
    /// It ended (the result says how); go on with the next.
    Done,
    /// Not yet: look again in the next round.
    Later(String),
}

/// `PostLaunch` for `wave`: the actions due by then, in order; `Backstop.StillWaiting` while
/// one is not finished.
pub async fn post_launch_round(
    clients: &Clients,
    store: &RunStore,
    run_ref: &RunRef,
    wave: Option<u32>,
    deadline: SystemTime,
) -> Result<PostLaunchSummary, BackstopError> {
    let run = store.load_run_resolved(run_ref).await?;
    let wave = run.plan.round_wave(wave)?;
    let due: Vec<&ActionPlan> = run
        .plan
        .post_launch
        .iter()
        .filter(|a| run.plan.action_wave(a) <= wave)
        .collect();
    if due.is_empty() {
        return Ok(PostLaunchSummary { wave, actions: 0 });
    }
    let instances = store.instances(run_ref).await?;
    let jobs = store.jobs(run_ref).await?;
    let mut outcome: PostLaunchOutcome = store
        .get(&run_ref.execution, Part::PostLaunch)
        .await?
        .unwrap_or_default();
    // a moment to store what happened and answer before Lambda stops the invocation
    let until = deadline
        .checked_sub(Duration::from_secs(5))
        .unwrap_or(deadline);
    for action in &due {
        let at = match outcome.actions.iter().position(|a| a.name == action.name) {
            Some(at) => at,
            None => {
                outcome.actions.push(ActionResult {
                    name: action.name.clone(),
                    wave: run.plan.action_wave(action),
                    target: action.target(),
                    status: ActionStatus::Waiting,
                    command_id: None,
                    started_at: now_rfc3339(),
                    ended_at: None,
                    message: String::new(),
                    outputs: Vec::new(),
                });
                outcome.actions.len() - 1
            }
        };
        let step = advance(
            clients,
            run_ref,
            &run,
            action,
            &mut outcome.actions[at],
            &instances,
            &jobs,
            until,
        )
        .await;
        store
            .put(&run_ref.execution, Part::PostLaunch, &outcome)
            .await?;
        let result = &outcome.actions[at];
        match step? {
            Step::Later(why) => {
                return Err(BackstopError::StillWaiting {
                    what: format!("post-launch action {}", action.name),
                    message: why,
                })
            }
            Step::Done if result.status == ActionStatus::Failed => {
                return Err(BackstopError::ActionFailed(format!(
                    "{} ({}) failed after wave {}: {}",
                    result.name, result.target, result.wave, result.message
                )))
            }
            Step::Done => {
                tracing::info!(action = %result.name, message = %result.message, "post-launch action succeeded")
            }
        }
    }
    Ok(PostLaunchSummary {
        wave,
        actions: due.len(),
    })
}

/// Takes one action as far as it goes in this round.
#[allow(clippy::too_many_arguments)]
async fn advance(
    clients: &Clients,
    run_ref: &RunRef,
    run: &ResolvedRun,
    action: &ActionPlan,
    result: &mut ActionResult,
    instances: &[LaunchedInstance],
    jobs: &[RestoreJob],
    until: SystemTime,
) -> Result<Step, BackstopError> {
    if matches!(
        result.status,
        ActionStatus::Succeeded | ActionStatus::Failed
    ) {
        return Ok(Step::Done);
    }
    let timeout = Duration::from_secs(u64::from(action.timeout_seconds()));
    // what it runs on and what it references must be ready first
    let texts: Vec<&str> = match &action.ssm {
        Some(ssm) => ssm
            .parameters
            .values()
            .flatten()
            .map(String::as_str)
            .collect(),
        None => action.parameters.values().map(String::as_str).collect(),
    };
    let databases = referenced_databases(texts.into_iter(), jobs);
    let targets: Vec<LaunchedInstance> = match &action.ssm {
        Some(ssm) => instances
            .iter()
            .filter(|i| ssm.instances.contains(&i.name))
            .cloned()
            .collect(),
        None => Vec::new(),
    };
    if result.status == ActionStatus::Waiting {
        if let Health::NotYet(why) =
            crate::steps::switch_dns::check_health(clients, &targets, &databases).await?
        {
            return Ok(Step::Later(why));
        }
    }
    let Some(ssm) = &action.ssm else {
        return run_function(
            clients, run, action, result, instances, jobs, timeout, until,
        )
        .await;
    };
    let command = match command_for(run, instances, jobs, ssm) {
        Ok(command) => command,
        Err(why) => {
            result.end(ActionStatus::Failed, why);
            return Ok(Step::Done);
        }
    };
    let comment = comment(&run_ref.execution, "action", &action.name);
    if result.status == ActionStatus::Waiting {
        let missing = run_command::not_online(&clients.ssm, &command.instance_ids).await?;
        if !missing.is_empty() {
            let waited = result.seconds_since_start();
            if waited > timeout.as_secs_f64() {
                result.end(
                    ActionStatus::Failed,
                    never_registered(&missing, Duration::from_secs_f64(waited)),
                );
                return Ok(Step::Done);
            }
            return Ok(Step::Later(format!(
                "the SSM agents of {} to come online",
                missing.join(", ")
            )));
        }
        // a retry after a send whose answer was lost finds the command instead of resending
        let first = &command.instance_ids[0];
        let command_id = match run_command::find_sent(&clients.ssm, first, &comment).await? {
            Some(sent) => sent,
            None => {
                let seconds = action.timeout_seconds();
                run_command::send(
                    &clients.ssm,
                    &command.document,
                    &command.instance_ids,
                    &with_execution_timeout(&command, seconds),
                    &comment,
                    seconds,
                )
                .await?
            }
        };
        result.command_id = Some(command_id);
        result.status = ActionStatus::Running;
        result.started_at = now_rfc3339();
    }
    let command_id = result.command_id.clone().unwrap_or_default();
    // follow it a little while in this round: short commands end here
    let watching = Instant::now();
    loop {
        let mut outputs = Vec::new();
        for instance_id in &command.instance_ids {
            if let Some(done) =
                run_command::finished(&clients.ssm, &command_id, instance_id).await?
            {
                outputs.push(done);
            }
        }
        if outputs.len() == command.instance_ids.len() {
            let passed = outputs.iter().all(InvocationOutcome::succeeded);
            let message = describe_outcomes(&outputs, instances);
            result.outputs = outputs;
            result.end(
                if passed {
                    ActionStatus::Succeeded
                } else {
                    ActionStatus::Failed
                },
                message,
            );
            return Ok(Step::Done);
        }
        if result.seconds_since_start() > timeout.as_secs_f64() {
            run_command::cancel(&clients.ssm, &command_id).await;
            result.end(
                ActionStatus::Failed,
                format!(
                    "command {command_id} did not finish within its {} s timeout (cancelled)",
                    action.timeout_seconds()
                ),
            );
            return Ok(Step::Done);
        }
        let pause = Duration::from_secs(1);
        if watching.elapsed() > Duration::from_secs(20) || SystemTime::now() + pause >= until {
            return Ok(Step::Later(format!("command {command_id} to finish")));
        }
        tokio::time::sleep(pause).await;
    }
}

/// A Lambda action: invoked with the run's view and its parameters filled in; a function
/// error or no answer in time fails it, any answer passes (its text is the message).
#[allow(clippy::too_many_arguments)]
async fn run_function(
    clients: &Clients,
    run: &ResolvedRun,
    action: &ActionPlan,
    result: &mut ActionResult,
    instances: &[LaunchedInstance],
    jobs: &[RestoreJob],
    timeout: Duration,
    until: SystemTime,
) -> Result<Step, BackstopError> {
    let mut payload = recovered_view(run, instances, jobs);
    payload["action"] = action.name.clone().into();
    let mut parameters = serde_json::Map::new();
    for (key, value) in &action.parameters {
        match fill(run, instances, jobs, value) {
            Ok(filled) => parameters.insert(key.clone(), filled.into()),
            Err(why) => {
                result.end(ActionStatus::Failed, why);
                return Ok(Step::Done);
            }
        };
    }
    payload["parameters"] = parameters.into();
    let left = until.duration_since(SystemTime::now()).unwrap_or_default();
    if left < timeout {
        // not enough of this invocation left for its whole timeout: start it in the next
        return Ok(Step::Later(format!(
            "a fresh invocation to run {} (its timeout {} s)",
            action.lambda_function,
            action.timeout_seconds()
        )));
    }
    result.status = ActionStatus::Running;
    result.started_at = now_rfc3339();
    match invoke_bounded(&clients.lambda, &action.lambda_function, &payload, timeout).await {
        Err(why) => result.end(ActionStatus::Failed, why),
        Ok((Some(kind), answer)) => result.end(
            ActionStatus::Failed,
            format!(
                "the function failed ({kind}): {}",
                String::from_utf8_lossy(&answer)
            ),
        ),
        Ok((None, answer)) => result.end(
            ActionStatus::Succeeded,
            String::from_utf8_lossy(&answer).to_string(),
        ),
    }
    Ok(Step::Done)
}

/// `PostLaunchFunction`: the actions due after the input's wave.
pub async fn run(
    clients: &Clients,
    input: StepInput,
    invocation: &Invocation,
) -> Result<PostLaunchSummary, BackstopError> {
    post_launch_round(
        clients,
        &clients.store()?,
        &input.run,
        input.wave,
        invocation.deadline,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_comment_fits_ssm_and_differs_per_run_and_entry() {
        let long = RunId::try_from("x".repeat(80)).unwrap();
        let a = comment(&long, "action", &"n".repeat(60));
        assert!(a.chars().count() <= 100, "{a}");
        let other = RunId::try_from("y".repeat(80)).unwrap();
        assert_ne!(a, comment(&other, "action", &"n".repeat(60)));
        assert_ne!(
            comment(&long, "action", "warm"),
            comment(&long, "check", "warm")
        );
        assert!(comment(&long, "action", "warm").ends_with("action warm"));
    }
}
