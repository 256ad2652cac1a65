//! Step 0 of a run: load the plan and decide what to recover, from which recovery point.

use aws_sdk_sfn::types::ExecutionStatus;
use aws_smithy_types::DateTime;
use serde::Deserialize;
use serde_json::Value;

use crate::aws::plan_source::load_plan;
use crate::aws::store::Part;
use crate::aws::store::RunRef;
use crate::aws::Clients;
use crate::error::BackstopError;
use crate::model::run::{check_settings, ApprovalGate, FailbackOf, ResolvedRun, RunSettings};
use crate::model::run::{Mode, RunId};
use crate::model::time::format_time;
use crate::model::time::parse_time_field;
use crate::plan::PlanSource;
use crate::steps::failback::capture::{Capture, CaptureState};
use crate::steps::failback::{failback_of, refuse_a_second_failback};
use crate::steps::restore::select_among;
use crate::steps::switch_dns::records::check_records_in_zones;
use crate::steps::{Invocation, NamesRun};

/// What the state machine passes to `resolve-plan`: the run id and the execution input as given.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RunRequest {
    /// The execution name (`$$.Execution.Name`).
    pub run_id: RunId,
    /// The state machine (`$$.StateMachine.Id`): where a resumed run's execution is found.
    #[serde(default)]
    pub state_machine_arn: Option<String>,
    /// When this execution started (`$$.Execution.StartTime`): orders concurrent failovers.
    #[serde(default)]
    pub started_at: Option<String>,
    pub input: ExecutionInput,
}

/// The execution input, as an operator (Step Functions console) or a trigger starts a run.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExecutionInput {
    pub mode: Mode,
    #[serde(default)]
    pub plan: Option<Value>,
    #[serde(default)]
    pub plan_parameter: Option<String>,
    /// `s3://bucket/key` of the plan JSON in the DR region (a plan of any size).
    #[serde(default)]
    pub plan_object: Option<String>,
    /// Recover to this time (RFC 3339); default now.
    #[serde(default)]
    pub point_in_time: Option<String>,
    /// An object (`settings: []` is not read as the defaults).
    #[serde(default, deserialize_with = "settings_object")]
    pub settings: RunSettings,
    /// Resume this earlier, failed run (its execution name): reuse what it created and give
    /// its failed restores another attempt.
    #[serde(default)]
    pub resume_run_id: Option<String>,
    /// Who started the run, when a trigger did (the alarm and its state change, or the copy
    /// job); informational, carried into the report.
    #[serde(default)]
    pub trigger: Option<serde_json::Map<String, Value>>,
    /// Go ahead despite readiness warnings an operator accepts: in a failover, copies older
    /// than the plan's RPO objective (preflight fails the run on them otherwise).
    #[serde(default)]
    pub accept_warnings: bool,
    /// A failback: the failover it brings home (that run's execution name).
    #[serde(default)]
    pub failover_run_id: Option<String>,
    /// A failback: stop the failover's instances in the DR region before the final backups, so
    /// nothing they write after them is lost (the workload is down until DNS is home).
    #[serde(default)]
    pub quiesce: bool,
    /// A drill of the way home: the DR vault's copies brought to the primary region and
    /// recovered there in isolation (the plan's `home` block), torn down after.
    #[serde(default)]
    pub failback: bool,
}

impl ExecutionInput {
    /// A failback, or a drill of one: the run recovers in the primary region.
    pub fn goes_home(&self) -> bool {
        self.mode == Mode::Failback || (self.mode == Mode::Drill && self.failback)
    }
}

/// serde reads a struct from a JSON array too (by position): settings must be an object.
fn settings_object<'de, D>(deserializer: D) -> Result<RunSettings, D::Error>
where
    D: serde::Deserializer<'de>,
{
    use serde::de::Error;
    let value = Value::deserialize(deserializer)?;
    if !value.is_object() {
        return Err(D::Error::custom(format!(
            "settings must be an object such as {{\"pollIntervalSeconds\": 30}}, not {value}"
        )));
    }
    // the field inside settings is named, as for any other input field
    serde_path_to_error::deserialize(value)
        .map_err(|err| D::Error::custom(format!("{}: {}", err.path(), err.inner())))
}

impl ExecutionInput {
    /// A failover recovers production, so starting one must not be a way to point it at any
    /// record, Elastic IP or role: it reads its plan only from the stack's own plan parameter
    /// (`configured`, the template's PlanParameterName). Inline plans and plan objects are for
    /// drills.
    pub fn check_failover_plan_source(
        &self,
        configured: Option<&str>,
    ) -> Result<(), BackstopError> {
        if !self.mode.is_production() {
            return Ok(());
        }
        let configured = configured.unwrap_or("(none: PLAN_PARAMETER is not set)");
        let how = format!(
            "put the plan in the stack's plan parameter {configured} (output PutPlanCommand) and start the failover with {{\"mode\": \"failover\", \"planParameter\": \"{configured}\"}}"
        );
        if self.plan.is_some() {
            return Err(BackstopError::invalid_input(
                "plan",
                format!("a failover does not take an inline plan (only a drill does): {how}"),
            ));
        }
        if self.plan_object.is_some() {
            return Err(BackstopError::invalid_input(
                "planObject",
                format!("a failover does not read a plan object (only a drill does): {how}"),
            ));
        }
        match &self.plan_parameter {
            Some(name) if name != configured => Err(BackstopError::invalid_input(
                "planParameter",
                format!(
                    "is {name}, but this stack fails over only the plan in {configured}: {how}"
                ),
            )),
            _ => Ok(()),
        }
    }

    /// The rules of `statemachine/input.schema.json`, checked before anything is read or
    /// created: one plan source, a plan that is an object, an RFC 3339 point in time, settings
    /// in range, a resumable run id.
    pub fn check(&self) -> Result<(), BackstopError> {
        PlanSource::from_input(
            self.plan.clone(),
            self.plan_parameter.clone(),
            self.plan_object.clone(),
        )?;
        if let Some(plan) = &self.plan {
            if !plan.is_object() {
                return Err(BackstopError::invalid_input(
                    "plan",
                    "is not a JSON object: give the plan itself, or its SSM parameter name in planParameter",
                ));
            }
        }
        if let Some(text) = &self.point_in_time {
            let when = parse_time_field("pointInTime", text)?;
            let now = DateTime::from(std::time::SystemTime::now());
            // a recovery to a moment that has not come yet would pick today's copies and
            // report a made-up RPO
            if when.secs() > now.secs() + FUTURE_SKEW_SECONDS {
                return Err(BackstopError::invalid_input(
                    "pointInTime",
                    format!(
                        "{text} is in the future (now is {}): give a past time, or leave it out to recover to now",
                        format_time(now)
                    ),
                ));
            }
        }
        check_settings(&self.settings)?;
        match (&self.failover_run_id, self.mode) {
            (None, Mode::Failback) => {
                return Err(BackstopError::invalid_input(
                    "failoverRunId",
                    "is missing: a failback brings home the failover you name here (its execution name, as the failover's report gives it)",
                ))
            }
            (Some(_), Mode::Failover | Mode::Drill) => {
                return Err(BackstopError::invalid_input(
                    "failoverRunId",
                    format!("is only for a failback (mode \"failback\"), not a {}", self.mode),
                ))
            }
            (Some(failover), Mode::Failback) => {
                RunId::try_from(failover.clone()).map_err(|err| {
                    BackstopError::invalid_input("failoverRunId", err.to_string())
                })?;
            }
            (None, _) => {}
        }
        if self.failback && self.mode != Mode::Drill {
            return Err(BackstopError::invalid_input(
                "failback",
                format!("is only for a drill of the way home (mode \"drill\"), not a {}: a failback itself is mode \"failback\"", self.mode),
            ));
        }
        if self.quiesce && self.mode != Mode::Failback {
            return Err(BackstopError::invalid_input(
                "quiesce",
                format!(
                    "is only for a failback (mode \"failback\"), not a {}",
                    self.mode
                ),
            ));
        }
        if let Some(earlier) = &self.resume_run_id {
            RunId::try_from(earlier.clone())
                .map_err(|err| BackstopError::invalid_input("resumeRunId", err.to_string()))?;
        }
        // carried in every state and the report: small, flat, strings only
        if let Some(trigger) = &self.trigger {
            let flat = trigger.len() <= MAX_TRIGGER_FIELDS
                && trigger.values().all(|v| {
                    v.as_str()
                        .is_some_and(|s| s.chars().count() <= MAX_TRIGGER_VALUE_CHARS)
                });
            if !flat {
                return Err(BackstopError::invalid_input(
                    "trigger",
                    format!("must be at most {MAX_TRIGGER_FIELDS} fields whose values are strings of at most {MAX_TRIGGER_VALUE_CHARS} characters"),
                ));
            }
        }
        Ok(())
    }
}

const MAX_TRIGGER_FIELDS: usize = 10;
/// An alarm name may have 255 characters, so its ARN about 320: room for both.
const MAX_TRIGGER_VALUE_CHARS: usize = 1024;
/// How far a pointInTime may be ahead of this clock (the operator's clock may run ahead).
const FUTURE_SKEW_SECONDS: i64 = 300;

/// Parses a step's raw input; a wrong shape names the field at fault.
pub fn parse_input<T: serde::de::DeserializeOwned>(input: Value) -> Result<T, BackstopError> {
    serde_path_to_error::deserialize(input).map_err(|err| {
        let field = err.path().to_string();
        BackstopError::invalid_input(field, err.into_inner().to_string())
    })
}

impl RunRequest {
    pub fn from_value(input: Value) -> Result<Self, BackstopError> {
        parse_input(input)
    }
}

/// The clients `resolve-plan` needs: SSM or S3 (plan), Backup (copies), Route 53 (drill records'
/// zones), Step Functions (the run being resumed).
/// Loads and validates the plan, checks it is meant for this region, and picks a recovery
/// point for every protected resource (for a resumed run, the same ones as before). With the
/// run, the clients of the account it recovers in when that is not Backstop's own (its role
/// assumed once, for the copies and the network stack alike).
pub async fn resolve_plan(
    clients: &Clients,
    store: &crate::aws::store::RunStore,
    region: &str,
    request: RunRequest,
) -> Result<(ResolvedRun, Option<Clients>), BackstopError> {
    // a failback recovers the plan swapped to the primary region, from its captured copies
    let failback = match request.input.goes_home() {
        true => {
            refuse_a_second_failback(&clients.sfn, &request).await?;
            Some(failback_of(clients, store, &request).await?)
        }
        false => None,
    };
    let capture: CaptureState = match failback {
        Some(_) => store
            .get::<CaptureState>(&request.run_id, Part::Capture)
            .await?
            .unwrap_or_default(),
        None => CaptureState::default(),
    };
    let captures: &[Capture] = &capture.resources;
    let home_clients = failback
        .as_ref()
        .map(|f| clients.in_region(&f.home.dr_region));
    let failback_of_run = match &failback {
        Some(failback) => Some(FailbackOf {
            failover_run_id: request
                .input
                .failover_run_id
                .clone()
                .map(RunId::try_from)
                .transpose()?,
            retire_after_seconds: failback
                .plan
                .home
                .as_ref()
                .map_or(0, |home| home.retire_after_seconds()),
        }),
        None => None,
    };
    let ssm = &clients.ssm;
    let backup = &home_clients.as_ref().unwrap_or(clients).backup;
    let input = request.input;
    input.check()?;
    input.check_failover_plan_source(clients.settings.plan_parameter.as_deref())?;
    let now = DateTime::from(std::time::SystemTime::now());
    let requested_time = input
        .point_in_time
        .as_deref()
        .map(|text| parse_time_field("pointInTime", text))
        .transpose()?;
    let request_name = request.run_id.to_string();
    // a failback's run began with its capture, before this step: its copy jobs are its own
    let began = match &failback_of_run {
        Some(_) => request
            .started_at
            .as_deref()
            .and_then(crate::model::time::parse_time)
            .unwrap_or(now),
        None => now,
    };
    let (run_id, started_at, point_in_time, resumed) = match &input.resume_run_id {
        None => (request.run_id, began, requested_time.unwrap_or(now), false),
        Some(earlier_id) => {
            let earlier = earlier_run(
                &clients.sfn,
                request.state_machine_arn.as_deref(),
                earlier_id,
                input.mode,
            )
            .await?;
            // the same recovery points as the earlier run, so its restores are reused; but a
            // failback restores what its capture brought home, backed up after the earlier
            // run began (and again when it was taken again: `capture`)
            let point_in_time = match failback_of_run {
                Some(_) => requested_time.unwrap_or(now),
                None => requested_time
                    .or(earlier.point_in_time)
                    .unwrap_or(earlier.started_at),
            };
            (earlier.run_id, earlier.started_at, point_in_time, true)
        }
    };
    if input.mode == Mode::Failover {
        if let Some(machine) = request.state_machine_arn.as_deref() {
            let started = request
                .started_at
                .as_deref()
                .and_then(crate::model::time::parse_time)
                .unwrap_or(now);
            let this = (started, request_name.as_str());
            refuse_a_second_failover(&clients.sfn, machine, this, &input).await?;
        }
    }
    let plan = match failback {
        Some(failback) => failback.home,
        None => {
            let source =
                PlanSource::from_input(input.plan, input.plan_parameter, input.plan_object)?;
            let plan = load_plan(ssm, &clients.s3, source).await?;
            // Statically stable: a run reads and writes only its own (DR) region.
            plan.require_region(region)?;
            plan
        }
    };
    // A drill record must be a plain name inside its zone, as Route 53 has the zone. Only a
    // drill needs this (a failover writes production records by design), so a failover does
    // not depend on Route 53's control plane here.
    if input.mode == Mode::Drill {
        check_records_in_zones(&clients.route53, &plan).await?;
    }
    let bound_minutes = input
        .settings
        .run_timeout_minutes
        .map(i64::from)
        .unwrap_or_else(|| {
            plan.objectives
                .rto_minutes
                .unwrap_or(60)
                .saturating_mul(2)
                .max(30)
        });
    // time spent waiting for an operator does not count against the run's own bound
    let approval = ApprovalGate::for_run(&plan, input.mode);
    let deadline = DateTime::from_secs(
        now.secs()
            .saturating_add(bound_minutes * 60)
            .saturating_add(approval.timeout_seconds as i64),
    );
    // a failback (or its drill) restores exactly the copies its capture made
    let captured: Option<std::collections::HashSet<String>> = failback_of_run.as_ref().map(|_| {
        captures
            .iter()
            .filter_map(|c| c.home_recovery_point_arn.clone())
            .collect()
    });
    // a failover into another account picks its copies there, where it restores them, and
    // reads that account's own vault as its own
    let into = input.mode.recovers_into(&plan).cloned();
    let there = clients
        .for_run(None, into.as_ref(), run_id.as_str())
        .await?;
    let backup = there.as_ref().map_or(backup, |there| &there.backup);
    // (the run keeps the plan as written: every step validates it again)
    let seen = into
        .as_ref()
        .map(|into| plan.clone().seen_from(into.account_id()));
    let (restores, warnings) = select_among(
        backup,
        seen.as_ref().unwrap_or(&plan),
        point_in_time,
        captured.as_ref(),
    )
    .await?;
    for item in restores.iter().filter(|item| item.rpo_breached) {
        tracing::warn!(resource = %item.resource, rpo_seconds = item.rpo_seconds, "recovery point older than the RPO objective");
    }
    tracing::info!(
        plan = %plan.name,
        restores = restores.len(),
        instances = plan.instances.len(),
        "plan loaded and valid"
    );
    if resumed {
        tracing::info!(run = %run_id, "resuming the run: reusing what it created, retrying its failed restores");
    }
    let run = ResolvedRun {
        run_id,
        mode: input.mode,
        plan,
        point_in_time: format_time(point_in_time),
        settings: input.settings,
        restores,
        warnings,
        started_at: format_time(started_at),
        deadline: format_time(deadline),
        resumed,
        approval,
        trigger: input.trigger,
        failback: failback_of_run,
        capture_rounds: capture.rounds,
    };
    let rounds = run.rounds();
    if rounds.lengthened(run.settings.poll_interval_seconds) {
        tracing::warn!(
            poll_interval_seconds = run.settings.poll_interval_seconds,
            wait_seconds = rounds.wait_seconds,
            bound_seconds = run.bound_seconds(),
            "the wait between rounds is lengthened: at the poll interval, the run's bound could outgrow Step Functions' execution history"
        );
    }
    Ok((run, there))
}

/// One failover of a plan at a time: a second one (started twice from the console, or from
/// the console while an alarm's runs) stops here, before it creates anything, unless it is the
/// earliest of those running.
async fn refuse_a_second_failover(
    sfn: &aws_sdk_sfn::Client,
    machine: &str,
    (started, name): (DateTime, &str),
    input: &ExecutionInput,
) -> Result<(), BackstopError> {
    let ours = crate::aws::executions::failover_plan(&serde_json::json!({
        "mode": "failover",
        "planParameter": input.plan_parameter,
        "planObject": input.plan_object,
        "plan": input.plan,
    }));
    let Some(ours) = ours else {
        return Ok(());
    };
    for other in crate::aws::executions::running(sfn, machine).await? {
        let earlier = (other.started.as_nanos(), other.name.as_str()) < (started.as_nanos(), name);
        if other.name != name
            && earlier
            && crate::aws::executions::failover_plan(&other.input).as_ref() == Some(&ours)
        {
            return Err(BackstopError::Conflict(format!(
                "failover {} of the same plan is already running: one failover at a time; this run stopped before creating anything (watch that one, or stop it and start again)",
                other.name
            )));
        }
    }
    Ok(())
}

/// What a resumed run takes from the earlier execution of the same state machine.
struct EarlierRun {
    run_id: RunId,
    started_at: DateTime,
    point_in_time: Option<DateTime>,
}

/// Finds the earlier execution named `earlier_id`: it must have ended without succeeding, in
/// the same mode. Its start time and point in time pin the resumed run to the same copies.
async fn earlier_run(
    sfn: &aws_sdk_sfn::Client,
    state_machine_arn: Option<&str>,
    earlier_id: &str,
    mode: Mode,
) -> Result<EarlierRun, BackstopError> {
    let (run_id, described) = crate::aws::executions::describe_named(
        sfn,
        state_machine_arn,
        earlier_id,
        ("resumeRunId", "the failed run"),
    )
    .await?;
    let status = described.status().as_str();
    match described.status() {
        ExecutionStatus::Failed | ExecutionStatus::TimedOut | ExecutionStatus::Aborted => {}
        ExecutionStatus::Running | ExecutionStatus::PendingRedrive => {
            return Err(BackstopError::Conflict(format!(
                "run {run_id} is still {status}: wait for it to end (or stop it) before resuming it"
            )))
        }
        _ => {
            return Err(BackstopError::Conflict(format!(
                "run {run_id} is {status}: only a failed, timed-out or aborted run can be resumed"
            )))
        }
    }
    let earlier_input: Value = described
        .input()
        .and_then(|text| serde_json::from_str(text).ok())
        .unwrap_or(Value::Null);
    if let Some(earlier_mode) = earlier_input.get("mode").and_then(Value::as_str) {
        if earlier_mode != mode.to_string() {
            return Err(BackstopError::invalid_input(
                "mode",
                format!("run {run_id} was a {earlier_mode}; resume it as a {earlier_mode}"),
            ));
        }
    }
    let point_in_time = earlier_input
        .get("pointInTime")
        .and_then(Value::as_str)
        .map(|text| parse_time_field("pointInTime", text))
        .transpose()?;
    Ok(EarlierRun {
        run_id,
        started_at: *described.start_date(),
        point_in_time,
    })
}

/// Resolves the run and stores it (`state/<execution>/run.json`); what the state machine
/// carries from here on is the small reference.
pub async fn resolve_and_store(
    clients: &Clients,
    store: &crate::aws::store::RunStore,
    region: &str,
    request: RunRequest,
) -> Result<crate::aws::store::RunRef, BackstopError> {
    let execution = request.run_id.clone();
    let (run, there) = resolve_plan(clients, store, region, request).await?;
    store
        .put(&execution, crate::aws::store::Part::Run, &run)
        .await?;
    // the DR network is asked for now: it builds while the restores that need none of it run
    if run.plan.network.is_some() {
        // in the account the run recovers in
        let clients = there.as_ref().unwrap_or(clients);
        let stack = crate::aws::cloudformation::StackRequest {
            plan: &run.plan,
            mode: run.mode,
            run_id: &run.run_id,
            role_arn: clients.settings.network_stack_role_arn.as_deref(),
            region,
            store,
            execution: &execution,
        };
        let network =
            crate::aws::cloudformation::ensure_stack(&clients.cloudformation, &stack).await?;
        // the stack is recorded by name already: not recording its id is no reason to fail
        if let Err(err) = store
            .put(&execution, crate::aws::store::Part::Network, &network)
            .await
        {
            tracing::warn!(%err, stack = %network.stack_name, "the network stack's id is not recorded; its name is");
        }
    }
    Ok(crate::aws::store::RunRef::of(&run, execution))
}

/// `ResolvePlanFunction`: step 0 of a run, the plan and a recovery point for every resource.
pub async fn run(
    clients: &Clients,
    request: RunRequest,
    _: &Invocation,
) -> Result<RunRef, BackstopError> {
    let region = clients.settings.region.clone();
    resolve_and_store(clients, &clients.store()?, &region, request).await
}

impl NamesRun for RunRequest {
    fn run_id(&self) -> Option<&str> {
        Some(self.run_id.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Plan;

    /// The same example inputs the schema test (tests/emulator/tests/test_input_schema.py) reads.
    fn inputs(kind: &str) -> Vec<(String, Value)> {
        let folder = format!("{}/../tests/inputs/{kind}", env!("CARGO_MANIFEST_DIR"));
        let mut found: Vec<(String, Value)> = std::fs::read_dir(&folder)
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.extension().is_some_and(|e| e == "json"))
            .map(|path| {
                let text = std::fs::read_to_string(&path).unwrap();
                (
                    path.display().to_string(),
                    serde_json::from_str(&text).unwrap(),
                )
            })
            .collect();
        found.sort_by(|a, b| a.0.cmp(&b.0));
        found
    }

    fn checked(input: Value) -> Result<(), BackstopError> {
        parse_input::<ExecutionInput>(input)?.check()
    }

    #[test]
    fn a_gated_failover_switches_dns_only_with_the_operators_yes() {
        let gate = ApprovalGate {
            required: true,
            timeout_seconds: 60,
        };
        assert!(gate.let_through(Some(&serde_json::json!(true))).is_ok());
        assert!(gate
            .let_through(Some(&serde_json::json!({"approved": true, "by": "sre"})))
            .is_ok());
        for answer in [
            None,
            Some(serde_json::json!(false)),
            Some(serde_json::json!({"approved": "yes"})),
            Some(Value::Null),
        ] {
            let err = gate.let_through(answer.as_ref()).unwrap_err();
            assert_eq!(err.error_name(), "Backstop.Conflict");
        }
        assert!(ApprovalGate::default().let_through(None).is_ok());
    }

    #[test]
    fn a_run_state_edited_to_skip_the_approval_gate_is_refused() {
        let mut plan: Value = crate::plan::example_plan_json();
        plan["failover"] = serde_json::json!({"approval": "operator"});
        let plan = Plan::from_value(plan).unwrap();
        let run = |approval: ApprovalGate| ResolvedRun {
            approval,
            ..ResolvedRun::for_test("failover-1", Mode::Failover, plan.clone())
        };
        assert!(run(ApprovalGate::for_run(&plan, Mode::Failover))
            .checked()
            .is_ok());
        let err = run(ApprovalGate::default()).checked().unwrap_err();
        assert!(err.to_string().contains("run.approval"), "{err}");
    }

    #[test]
    fn resolve_plan_accepts_exactly_what_the_input_schema_accepts() {
        let valid = inputs("valid");
        assert!(valid.len() >= 5);
        for (path, input) in valid {
            if let Err(err) = checked(input) {
                panic!("{path}: {err}");
            }
        }
        let invalid = inputs("invalid");
        assert!(invalid.len() >= 15);
        for (path, input) in invalid {
            let err = checked(input).expect_err(&path);
            assert_eq!(err.error_name(), "Backstop.InvalidInput", "{path}: {err}");
        }
    }

    #[test]
    fn a_failover_reads_its_plan_only_from_the_stacks_plan_parameter() {
        let input = |value: Value| parse_input::<ExecutionInput>(value).unwrap();
        let configured = Some("/backstop/plan");
        let field = |value: Value| {
            let err = input(value)
                .check_failover_plan_source(configured)
                .unwrap_err();
            assert_eq!(err.error_name(), "Backstop.InvalidInput");
            err.to_string()
        };
        assert!(
            field(serde_json::json!({"mode": "failover", "plan": {"name": "shop"}}))
                .contains("`plan`")
        );
        assert!(
            field(serde_json::json!({"mode": "failover", "planObject": "s3://b-1/plan.json"}))
                .contains("`planObject`")
        );
        let other = field(serde_json::json!({"mode": "failover", "planParameter": "/other/plan"}));
        assert!(
            other.contains("`planParameter`") && other.contains("/backstop/plan"),
            "{other}"
        );
        input(serde_json::json!({"mode": "failover", "planParameter": "/backstop/plan"}))
            .check_failover_plan_source(configured)
            .unwrap();
        // drills take any source
        input(serde_json::json!({"mode": "drill", "plan": {"name": "shop"}}))
            .check_failover_plan_source(configured)
            .unwrap();
    }

    #[test]
    fn a_point_in_time_in_the_future_is_refused() {
        let soon = DateTime::from_secs(DateTime::from(std::time::SystemTime::now()).secs() + 3600);
        let err = checked(serde_json::json!({
            "mode": "drill", "planParameter": "/backstop/plan", "pointInTime": format_time(soon)
        }))
        .unwrap_err();
        assert!(err.to_string().contains("`pointInTime`"), "{err}");
        assert!(err.to_string().contains("future"), "{err}");
    }

    #[test]
    fn an_alarm_arn_of_the_longest_alarm_name_fits_the_trigger() {
        let arn = format!(
            "arn:aws:cloudwatch:us-west-2:123456789012:alarm:{}",
            "a".repeat(255)
        );
        checked(serde_json::json!({
            "mode": "failover", "planParameter": "/backstop/plan",
            "trigger": { "alarmName": "a".repeat(255), "alarmArn": arn }
        }))
        .unwrap();
    }

    #[test]
    fn a_step_refuses_a_run_whose_start_or_bound_is_not_a_time() {
        let plan: Value = crate::plan::example_plan_json();
        let run = |started_at: &str, deadline: &str| ResolvedRun {
            started_at: started_at.into(),
            deadline: deadline.into(),
            ..ResolvedRun::for_test(
                "drill-1",
                Mode::Drill,
                Plan::from_value(plan.clone()).unwrap(),
            )
        };
        assert!(run("2026-11-25T03:00:00Z", "2026-11-25T05:00:00Z")
            .checked()
            .is_ok());
        let err = run("2026-11-25T03:00:00Z", "never").checked().unwrap_err();
        assert_eq!(err.error_name(), "Backstop.InvalidInput");
        assert!(err.to_string().contains("run.deadline"), "{err}");
        let err = run("", "2026-11-25T05:00:00Z").checked().unwrap_err();
        assert!(err.to_string().contains("run.startedAt"), "{err}");
    }
}
