//! The runs of the recovery state machine as Step Functions lists them: which are running
//! (with their inputs), and starting one under a name that makes a repeated start harmless.

use aws_smithy_types::DateTime;
use serde_json::Value;

use crate::error::{classify_sdk_error, BackstopError, SdkContext};

/// A running execution and the input it was started with.
pub struct RunningExecution {
    pub name: String,
    pub started: DateTime,
    pub input: Value,
}

/// The plan a failover's execution input names (its SSM parameter or S3 object, or its inline plan's
/// name); `None` for a drill or an input naming no plan.
pub fn failover_plan(input: &Value) -> Option<String> {
    if input.get("mode").and_then(Value::as_str) != Some("failover") {
        return None;
    }
    if let Some(parameter) = input.get("planParameter").and_then(Value::as_str) {
        return Some(format!("ssm:{parameter}"));
    }
    if let Some(object) = input.get("planObject").and_then(Value::as_str) {
        return Some(format!("s3:{object}"));
    }
    let name = input.get("plan")?.get("name")?.as_str()?;
    Some(format!("inline:{name}"))
}

/// Every running execution of `machine`, with its input (running executions are few).
pub async fn running(
    sfn: &aws_sdk_sfn::Client,
    machine: &str,
) -> Result<Vec<RunningExecution>, BackstopError> {
    let mut found = Vec::new();
    let mut pages = sfn
        .list_executions()
        .state_machine_arn(machine)
        .status_filter(aws_sdk_sfn::types::ExecutionStatus::Running)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.context("listing running runs")?;
        for execution in page.executions() {
            let described = sfn
                .describe_execution()
                .execution_arn(execution.execution_arn())
                .send()
                .await
                .context("reading a running run's input")?;
            found.push(RunningExecution {
                name: execution.name().to_string(),
                started: *execution.start_date(),
                input: described
                    .input()
                    .and_then(|text| serde_json::from_str(text).ok())
                    .unwrap_or(Value::Null),
            });
        }
    }
    Ok(found)
}

/// Starts execution `name`; `Ok(None)` if an execution of that name already exists (a
/// repeated start of the same run).
pub async fn start(
    sfn: &aws_sdk_sfn::Client,
    machine: &str,
    name: &str,
    input: &Value,
) -> Result<Option<String>, BackstopError> {
    match sfn
        .start_execution()
        .state_machine_arn(machine)
        .name(name)
        .input(input.to_string())
        .send()
        .await
    {
        Ok(output) => Ok(Some(output.execution_arn().to_string())),
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_execution_already_exists()) =>
        {
            Ok(None)
        }
        Err(err) => Err(classify_sdk_error(format!("starting run {name}"), err)),
    }
}

/// The execution named `name` of the state machine `machine` (`$$.StateMachine.Id`), as an
/// operator names a run in an input `field` (`resumeRunId`, `failoverRunId`): its name checked,
/// and an unknown one refused naming that field and `what` the field must name.
pub async fn describe_named(
    sfn: &aws_sdk_sfn::Client,
    machine: Option<&str>,
    name: &str,
    (field, what): (&str, &str),
) -> Result<
    (
        crate::model::run::RunId,
        aws_sdk_sfn::operation::describe_execution::DescribeExecutionOutput,
    ),
    BackstopError,
> {
    let run_id = crate::model::run::RunId::try_from(name.to_string())
        .map_err(|err| BackstopError::invalid_input(field, err.to_string()))?;
    let machine = machine
        .filter(|arn| arn.contains(":stateMachine:"))
        .ok_or_else(|| {
            BackstopError::invalid_input(
                "stateMachineArn",
                format!("{field} needs the state machine's ARN ($$.StateMachine.Id) in the step's payload"),
            )
        })?;
    let execution_arn = format!(
        "{}:{run_id}",
        machine.replacen(":stateMachine:", ":execution:", 1)
    );
    let described = sfn
        .describe_execution()
        .execution_arn(&execution_arn)
        .send()
        .await
        .map_err(
            |err| match classify_sdk_error(format!("reading run {run_id}"), err) {
                BackstopError::NotFound { .. } => BackstopError::invalid_input(
                    field,
                    format!(
                        "no run {run_id} of this state machine: give the execution name of {what}"
                    ),
                ),
                other => other,
            },
        )?;
    Ok((run_id, described))
}
