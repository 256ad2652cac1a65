//! Recovered, not just restored: the workload's own code run on what a run recovered.
//! Post-launch actions (after each wave is healthy) and validations (before DNS moves) are
//! Lambda functions or Systems Manager commands; both get the same view of the run, and their
//! parameters the same `${...}` references.

pub mod post_launch;
pub mod validate;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use aws_sdk_lambda::primitives::Blob;
use serde_json::{json, Value};

use crate::aws::run_command::{self, InvocationOutcome};
use crate::error::{truncate_chars, BackstopError};
use crate::model::instances::LaunchedInstance;
use crate::model::jobs::{JobStatus, RestoreJob};
use crate::model::run::ResolvedRun;
use crate::plan::references::{substitute, Reference};
use crate::plan::{ResourceKind, SsmCommandPlan};

/// How much of an error or answer a result keeps.
pub(crate) const MESSAGE_CHARS: usize = 1_000;

/// What the run recovered, as a function is given it: the run, the instances (IP, wave) and
/// the restored resources (ARN, endpoint).
pub fn recovered_view(
    run: &ResolvedRun,
    instances: &[LaunchedInstance],
    jobs: &[RestoreJob],
) -> Value {
    json!({
        "runId": run.run_id.as_str(),
        "mode": run.mode,
        "plan": run.plan.name,
        "drRegion": run.plan.dr_region,
        "instances": instances.iter().map(|i| json!({
            "name": i.name,
            "instanceId": i.instance_id,
            "privateIp": i.private_ip,
            "availabilityZone": i.availability_zone,
            "wave": run.plan.wave_of(&i.name),
        })).collect::<Vec<_>>(),
        "restored": jobs.iter().filter(|j| j.status == JobStatus::Completed).map(|j| json!({
            "resource": j.resource,
            "kind": j.kind,
            "createdResourceArn": j.created_resource_arn,
            "endpoint": j.endpoint,
        })).collect::<Vec<_>>(),
    })
}

/// The value of a `${...}` reference in this run, once it exists.
fn reference_value(
    run: &ResolvedRun,
    instances: &[LaunchedInstance],
    jobs: &[RestoreJob],
    reference: &Reference,
) -> Option<String> {
    let restored = |name: &str| {
        jobs.iter()
            .find(|j| j.resource == name && j.status == JobStatus::Completed)
    };
    let instance = |name: &str| instances.iter().find(|i| i.name == name);
    match reference {
        Reference::RestoredEndpoint(name) => restored(name)?.endpoint.clone(),
        Reference::RestoredArn(name) => restored(name)?.created_resource_arn.clone(),
        Reference::InstancePrivateIp(name) => Some(instance(name)?.private_ip.clone()),
        Reference::InstanceId(name) => Some(instance(name)?.instance_id.clone()),
        Reference::RunId => Some(run.run_id.as_str().to_string()),
        Reference::RunMode => Some(run.mode.to_string()),
    }
}

/// `text` with its references filled in from the run; a reference without a value (a
/// resource whose restore did not complete) is the error.
pub(crate) fn fill(
    run: &ResolvedRun,
    instances: &[LaunchedInstance],
    jobs: &[RestoreJob],
    text: &str,
) -> Result<String, String> {
    substitute(text, |r| reference_value(run, instances, jobs, r))
}

/// The restored databases an entry's parameters reference: it runs once they are available.
pub(crate) fn referenced_databases<'j>(
    texts: impl Iterator<Item = &'j str>,
    jobs: &'j [RestoreJob],
) -> Vec<RestoreJob> {
    let mut names = Vec::new();
    for text in texts {
        for reference in crate::plan::references::references_in(text).unwrap_or_default() {
            if let Reference::RestoredEndpoint(name) | Reference::RestoredArn(name) = reference {
                names.push(name);
            }
        }
    }
    jobs.iter()
        .filter(|j| j.kind == ResourceKind::Rds && names.contains(&j.resource))
        .cloned()
        .collect()
}

/// A command's document, instance ids and filled-in parameters.
pub(crate) struct CommandToSend {
    pub document: String,
    pub instance_ids: Vec<String>,
    pub parameters: BTreeMap<String, Vec<String>>,
}

/// The command of `ssm` for this run: its instances' ids (launched by now: the plan checked
/// their waves) and its parameters filled in.
pub(crate) fn command_for(
    run: &ResolvedRun,
    instances: &[LaunchedInstance],
    jobs: &[RestoreJob],
    ssm: &SsmCommandPlan,
) -> Result<CommandToSend, String> {
    let mut instance_ids = Vec::new();
    for name in &ssm.instances {
        let launched = instances
            .iter()
            .find(|i| &i.name == name)
            .ok_or_else(|| format!("instance {name} was not launched"))?;
        instance_ids.push(launched.instance_id.clone());
    }
    let mut parameters = BTreeMap::new();
    for (key, values) in &ssm.parameters {
        let filled: Result<Vec<String>, String> = values
            .iter()
            .map(|v| fill(run, instances, jobs, v))
            .collect();
        parameters.insert(key.clone(), filled?);
    }
    Ok(CommandToSend {
        document: ssm.document.clone(),
        instance_ids,
        parameters,
    })
}

/// One line per instance: how the command ended there.
pub(crate) fn describe_outcomes(
    outcomes: &[InvocationOutcome],
    instances: &[LaunchedInstance],
) -> String {
    outcomes
        .iter()
        .map(|o| {
            let name = instances
                .iter()
                .find(|i| i.instance_id == o.instance_id)
                .map_or(o.instance_id.as_str(), |i| i.name.as_str());
            format!(
                "{name} ({}): {} exit {}",
                o.instance_id, o.status, o.response_code
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Invokes `function` with `payload`, bounded by `timeout`: its error kind (if it failed) and
/// its answer, or why there is none.
pub(crate) async fn invoke_bounded(
    lambda: &aws_sdk_lambda::Client,
    function: &str,
    payload: &Value,
    timeout: Duration,
) -> Result<(Option<String>, Vec<u8>), String> {
    let sent = lambda
        .invoke()
        .function_name(function)
        .payload(Blob::new(serde_json::to_vec(payload).unwrap_or_default()))
        .send();
    match tokio::time::timeout(timeout, sent).await {
        Err(_) => Err(format!("no answer within {:.0} s", timeout.as_secs_f64())),
        Ok(Err(err)) => {
            let err = aws_sdk_lambda::error::DisplayErrorContext(err);
            Err(truncate_chars(
                &format!("could not invoke {function}: {err} (is it in the stack's ValidationFunctionArns?)"),
                MESSAGE_CHARS,
            )
            .to_string())
        }
        Ok(Ok(answer)) => Ok((
            answer.function_error().map(str::to_string),
            answer
                .payload()
                .map(|p| p.as_ref().to_vec())
                .unwrap_or_default(),
        )),
    }
}

/// Runs a command to its end within `timeout` (a validation: one invocation): waits for the
/// agents to be online, sends, and follows each invocation; cancels what outlives the bound.
pub(crate) async fn run_command_within(
    ssm: &aws_sdk_ssm::Client,
    command: &CommandToSend,
    comment: &str,
    timeout: Duration,
) -> Result<Vec<InvocationOutcome>, String> {
    let started = Instant::now();
    let pause = Duration::from_millis(500);
    let text = |e: BackstopError| e.to_string();
    loop {
        let missing = run_command::not_online(ssm, &command.instance_ids)
            .await
            .map_err(text)?;
        if missing.is_empty() {
            break;
        }
        if started.elapsed() + pause >= timeout {
            return Err(never_registered(&missing, timeout));
        }
        tokio::time::sleep(pause).await;
    }
    let seconds = timeout.as_secs().max(1) as u32;
    let command_id = run_command::send(
        ssm,
        &command.document,
        &command.instance_ids,
        &with_execution_timeout(command, seconds),
        comment,
        seconds,
    )
    .await
    .map_err(text)?;
    let mut outcomes: Vec<Option<InvocationOutcome>> = vec![None; command.instance_ids.len()];
    loop {
        for (slot, instance_id) in outcomes.iter_mut().zip(&command.instance_ids) {
            if slot.is_none() {
                *slot = run_command::finished(ssm, &command_id, instance_id)
                    .await
                    .map_err(text)?;
            }
        }
        if outcomes.iter().all(Option::is_some) {
            return Ok(outcomes.into_iter().flatten().collect());
        }
        if started.elapsed() + pause >= timeout {
            run_command::cancel(ssm, &command_id).await;
            return Err(format!(
                "command {command_id} did not finish within {:.0} s (cancelled)",
                timeout.as_secs_f64()
            ));
        }
        tokio::time::sleep(pause).await;
    }
}

/// The parameters with `executionTimeout` set to `seconds` where the document takes it and
/// the plan left it out (`AWS-RunShellScript`'s default is an hour).
pub(crate) fn with_execution_timeout(
    command: &CommandToSend,
    seconds: u32,
) -> BTreeMap<String, Vec<String>> {
    let mut parameters = command.parameters.clone();
    if command.document == SsmCommandPlan::RUN_SHELL_SCRIPT {
        parameters
            .entry("executionTimeout".to_string())
            .or_insert_with(|| vec![seconds.to_string()]);
    }
    parameters
}

pub(crate) fn never_registered(missing: &[String], waited: Duration) -> String {
    format!(
        "{} never registered with Systems Manager within {:.0} s: does its instance profile's role allow it (AmazonSSMManagedInstanceCore), and does the golden AMI run the SSM agent?",
        missing.join(", "),
        waited.as_secs_f64()
    )
}
