//! Before DNS moves: the workload's own checks. Once the DR side is healthy (instances past
//! their status checks, databases available), each of the plan's validations, a Lambda
//! function in the DR region, is invoked with what the run recovered and answers
//! `{"passed": true|false, "message": "..."}`. Any check that fails, errs, answers something
//! else or outlives its timeout fails the step (`Backstop.ValidationFailed`): a failover stops
//! before DNS and before asking for approval, a drill fails and is torn down.

use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{
    command_for, describe_outcomes, invoke_bounded, recovered_view, run_command_within,
    MESSAGE_CHARS,
};
use crate::aws::run_command::InvocationOutcome;
use crate::aws::store::{Part, RunRef, RunStore};
use crate::aws::Clients;
use crate::error::{truncate_chars, BackstopError};
use crate::kinds::Health;
use crate::model::instances::LaunchedInstance;
use crate::model::jobs::RestoreJob;
use crate::model::run::ResolvedRun;
use crate::plan::ValidationPlan;
use crate::steps::{Invocation, StepInput};

/// One check as it ran.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckResult {
    pub name: String,
    /// What ran: the function, or the document and the instances.
    #[serde(alias = "lambdaFunction")]
    pub target: String,
    pub passed: bool,
    /// The function's message (truncated), how the command ended, or why the check did not
    /// answer.
    pub message: String,
    pub seconds: f64,
    /// A command's end on each instance (its output's end).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outputs: Vec<InvocationOutcome>,
}

/// The checks of a run, for the state machine and the report.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ValidationOutcome {
    pub passed: bool,
    pub checks: Vec<CheckResult>,
}

/// What a validation function is given: the run, and what it recovered where.
pub fn check_input(
    run: &ResolvedRun,
    check: &ValidationPlan,
    instances: &[LaunchedInstance],
    jobs: &[RestoreJob],
) -> Value {
    let mut input = recovered_view(run, instances, jobs);
    input["check"] = check.name.clone().into();
    input
}

/// A function's answer as a check result: `{"passed": bool, "message": string}` (message
/// optional), anything else a failed check that says what came back.
pub fn judge(
    name: &str,
    function: &str,
    function_error: Option<&str>,
    payload: &[u8],
    seconds: f64,
) -> CheckResult {
    let text = String::from_utf8_lossy(payload);
    let answer: Option<Value> = serde_json::from_slice(payload).ok();
    let (passed, message) = match (function_error, &answer) {
        (Some(kind), _) => {
            let said = answer
                .as_ref()
                .and_then(|a| a["errorMessage"].as_str().map(str::to_string))
                .unwrap_or_else(|| text.to_string());
            (false, format!("the function failed ({kind}): {said}"))
        }
        (None, Some(Value::Object(fields)))
            if fields.get("passed").is_some_and(Value::is_boolean) =>
        {
            let passed = fields["passed"].as_bool().unwrap_or(false);
            let message = fields
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or(if passed { "passed" } else { "failed" });
            (passed, message.to_string())
        }
        _ => (
            false,
            format!(
                "answered {}, not {{\"passed\": true|false, \"message\": \"...\"}}",
                truncate_chars(&text, 200)
            ),
        ),
    };
    CheckResult {
        name: name.to_string(),
        target: function.to_string(),
        passed,
        message: truncate_chars(&message, MESSAGE_CHARS).to_string(),
        seconds,
        outputs: Vec::new(),
    }
}

/// The bound of one check: its own timeout, or what the invocation has left if less (the
/// message says which).
fn bound(check: &ValidationPlan, time_left: Duration) -> (Duration, String) {
    let own = Duration::from_secs(u64::from(check.timeout_seconds()));
    if time_left < own {
        (
            time_left,
            format!(
                "all the validate step had left (its timeout: {} s)",
                check.timeout_seconds()
            ),
        )
    } else {
        (own, format!("its {} s timeout", check.timeout_seconds()))
    }
}

/// Runs one check, bounded by its timeout and by `time_left` of this invocation (a check
/// that does not answer in time failed).
async fn run_check(
    clients: Clients,
    run: ResolvedRun,
    check: ValidationPlan,
    instances: Vec<LaunchedInstance>,
    jobs: Vec<RestoreJob>,
    comment: String,
    time_left: Duration,
) -> CheckResult {
    let started = Instant::now();
    let (timeout, which) = bound(&check, time_left);
    let elapsed = |started: Instant| (started.elapsed().as_secs_f64() * 10.0).round() / 10.0;
    let failed = |message: String| CheckResult {
        name: check.name.clone(),
        target: check.target(),
        passed: false,
        message: truncate_chars(&message, MESSAGE_CHARS).to_string(),
        seconds: elapsed(started),
        outputs: Vec::new(),
    };
    if let Some(ssm) = &check.ssm {
        let command = match command_for(&run, &instances, &jobs, ssm) {
            Ok(command) => command,
            Err(why) => return failed(why),
        };
        return match run_command_within(&clients.ssm, &command, &comment, timeout).await {
            Err(why) => failed(format!("{why} ({which})")),
            Ok(outputs) => CheckResult {
                passed: outputs.iter().all(InvocationOutcome::succeeded),
                message: describe_outcomes(&outputs, &instances),
                outputs,
                ..failed(String::new())
            },
        };
    }
    let input = check_input(&run, &check, &instances, &jobs);
    match invoke_bounded(&clients.lambda, &check.lambda_function, &input, timeout).await {
        Err(why) if why.starts_with("no answer") => failed(format!("no answer within {which}")),
        Err(why) => failed(why),
        Ok((function_error, payload)) => judge(
            &check.name,
            &check.lambda_function,
            function_error.as_deref(),
            &payload,
            elapsed(started),
        ),
    }
}

/// `Validate`: once the DR side is healthy (not yet: `Backstop.StillWaiting`, so the health
/// wait never eats the checks' time), runs every check at once, each until its timeout or
/// `deadline`.
pub async fn validate_round(
    clients: &Clients,
    store: &RunStore,
    run_ref: &RunRef,
    deadline: SystemTime,
) -> Result<ValidationOutcome, BackstopError> {
    let run = store.load_run_resolved(run_ref).await?;
    if run.plan.validations.is_empty() {
        return Ok(ValidationOutcome {
            passed: true,
            checks: Vec::new(),
        });
    }
    let instances = store.instances(run_ref).await?;
    let jobs = store.jobs(run_ref).await?;
    if let Health::NotYet(why) =
        crate::steps::switch_dns::check_health(clients, &instances, &jobs).await?
    {
        return Err(BackstopError::StillWaiting {
            what: "the DR side to be healthy before the validations".into(),
            message: why,
        });
    }
    // a moment to store the outcome and answer before Lambda stops the invocation
    let time_left = deadline
        .duration_since(SystemTime::now())
        .unwrap_or_default()
        .saturating_sub(Duration::from_secs(2));
    let mut running = tokio::task::JoinSet::new();
    for check in &run.plan.validations {
        running.spawn(run_check(
            clients.clone(),
            run.clone(),
            check.clone(),
            instances.clone(),
            jobs.clone(),
            super::post_launch::comment(&run_ref.execution, "check", &check.name),
            time_left,
        ));
    }
    let mut checks = running.join_all().await;
    // in the plan's order, whatever order they answered in
    checks.sort_by_key(|c| run.plan.validations.iter().position(|v| v.name == c.name));
    for check in &checks {
        tracing::info!(check = %check.name, passed = check.passed, message = %check.message, seconds = check.seconds, "validation");
    }
    let outcome = ValidationOutcome {
        passed: checks.iter().all(|c| c.passed),
        checks,
    };
    store
        .put(&run_ref.execution, Part::Validation, &outcome)
        .await?;
    if !outcome.passed {
        let failed: Vec<String> = outcome
            .checks
            .iter()
            .filter(|c| !c.passed)
            .map(|c| format!("{} ({}): {}", c.name, c.target, c.message))
            .collect();
        return Err(BackstopError::ValidationFailed(format!(
            "{} of {} check(s) failed, DNS left unchanged: {}",
            failed.len(),
            outcome.checks.len(),
            failed.join("; ")
        )));
    }
    Ok(outcome)
}

/// `ValidateFunction`: the plan's validations, once the DR side is healthy.
pub async fn run(
    clients: &Clients,
    input: StepInput,
    invocation: &Invocation,
) -> Result<ValidationOutcome, BackstopError> {
    validate_round(clients, &clients.store()?, &input.run, invocation.deadline).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_passes_only_when_it_says_so_in_the_contract_shape() {
        let ok = judge(
            "api",
            "f",
            None,
            br#"{"passed": true, "message": "200 OK"}"#,
            0.1,
        );
        assert!(ok.passed);
        assert_eq!(ok.message, "200 OK");
        let failed = judge(
            "api",
            "f",
            None,
            br#"{"passed": false, "message": "orders table empty"}"#,
            0.1,
        );
        assert!(!failed.passed);
        assert_eq!(failed.message, "orders table empty");
        // a truthy string, a bare true, or nothing are not a pass
        for payload in [&br#"{"passed": "yes"}"#[..], b"true", b"", b"null"] {
            let judged = judge("api", "f", None, payload, 0.1);
            assert!(!judged.passed, "{}", String::from_utf8_lossy(payload));
            assert!(
                judged.message.contains("not {\"passed\""),
                "{}",
                judged.message
            );
        }
        // the function's own error, with its message
        let errored = judge(
            "api",
            "f",
            Some("Unhandled"),
            br#"{"errorType": "Panic", "errorMessage": "connection refused"}"#,
            0.1,
        );
        assert!(!errored.passed);
        assert!(
            errored.message.contains("connection refused") && errored.message.contains("Unhandled"),
            "{}",
            errored.message
        );
        // a long message is kept short in the report
        let long = format!(r#"{{"passed": true, "message": "{}"}}"#, "x".repeat(5_000));
        assert!(
            judge("api", "f", None, long.as_bytes(), 0.1)
                .message
                .chars()
                .count()
                <= MESSAGE_CHARS
        );
    }
}
