//! The `preflight` step: the state machine's first state, and the scheduled readiness run.
//!
//! In a run it checks the plan against the DR region before anything is created and stops
//! the run with `Backstop.NotReady` on a failing check; on a schedule it reports the same
//! checks as metrics (an alarm fires when DR silently rots or copies stop arriving).

use aws_smithy_types::DateTime;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::aws::plan_source::load_plan;
use crate::aws::store::{Part, RunStore};
use crate::aws::Clients;
use crate::error::BackstopError;
use crate::model::run::Mode;
use crate::plan::{Plan, PlanSource};
use crate::steps::compute::account_of;
use crate::steps::failback::{failback_of, refuse_a_second_failback};
use crate::steps::readiness::{
    check_failover_side, check_readiness, check_recover_into, CheckLine, Counts, Readiness,
    ReadinessRequest, Status, MAX_LISTED_LINES,
};
use crate::steps::resolve::{parse_input, RunRequest};
use crate::steps::Invocation;
use crate::telemetry::emf_line;

/// A scheduled readiness check (the EventBridge schedule's constant input).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScheduledCheck {
    #[serde(default)]
    pub plan_parameter: Option<String>,
    #[serde(default)]
    pub plan_object: Option<String>,
    /// Judge the plan as this mode would use it (default: failover, the strictest).
    #[serde(default = "ScheduledCheck::default_mode")]
    pub mode: Mode,
}

impl ScheduledCheck {
    fn default_mode() -> Mode {
        Mode::Failover
    }
}

/// What `preflight` is asked: a run's first step (the same payload as `resolve-plan`), or a
/// scheduled check.
#[derive(Debug, Clone)]
pub enum PreflightRequest {
    Run(Box<RunRequest>),
    Scheduled(ScheduledCheck),
}

impl PreflightRequest {
    /// A payload with `runId` is a run's; anything else is a scheduled check.
    pub fn from_value(input: Value) -> Result<Self, BackstopError> {
        if input.get("runId").is_some() {
            Ok(Self::Run(Box::new(RunRequest::from_value(input)?)))
        } else {
            Ok(Self::Scheduled(parse_input(input)?))
        }
    }
}

/// What the step returns: the verdict, the counts and the lines that need attention.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PreflightOutput {
    pub plan: String,
    pub mode: Mode,
    pub ready: bool,
    pub counts: Counts,
    /// Fail and warn lines, at most 20 (the stored report has every line).
    pub problems: Vec<CheckLine>,
}

impl PreflightOutput {
    fn of(report: &Readiness) -> Self {
        PreflightOutput {
            plan: report.plan.clone(),
            mode: report.mode,
            ready: report.ready(),
            counts: report.counts(),
            problems: report.problems(MAX_LISTED_LINES),
        }
    }
}

/// Lines of the report the logs show in full (beyond it, only the problems).
const LOGGED_LINES: usize = 60;

pub async fn preflight(
    clients: &Clients,
    store: Option<&RunStore>,
    request: PreflightRequest,
    invocation: &Invocation,
) -> Result<PreflightOutput, BackstopError> {
    let invocation_deadline = Some(invocation.deadline);
    let account = account_of(&invocation.function_arn);
    let now = DateTime::from(std::time::SystemTime::now());
    let site = clients.settings.site();
    match request {
        PreflightRequest::Run(request) => {
            // a failback is checked where it recovers: the primary region, with its plan
            let failback = match (request.input.goes_home(), store) {
                (true, Some(store)) => {
                    refuse_a_second_failback(&clients.sfn, &request).await?;
                    Some(failback_of(clients, store, &request).await?)
                }
                (true, None) => {
                    return Err(BackstopError::invalid_input(
                        "RUN_STATE_BUCKET",
                        "is not set: a failback reads its failover's state from the run store",
                    ))
                }
                _ => None,
            };
            let input = request.input;
            let goes_home = input.goes_home();
            input.check()?;
            input.check_failover_plan_source(site.plan_parameter.as_deref())?;
            let mut failover_side = Vec::new();
            let (plan, there) = match failback {
                Some(failback) => {
                    if failback.failover.is_some() {
                        failover_side = check_failover_side(clients, &failback.home).await?;
                    }
                    let there = clients.in_region(&failback.home.dr_region);
                    (failback.home, Some(there))
                }
                None => {
                    let source = PlanSource::from_input(
                        input.plan,
                        input.plan_parameter,
                        input.plan_object,
                    )?;
                    let plan = load_plan(&clients.ssm, &clients.s3, source).await?;
                    plan.require_region(&site.region)?;
                    (plan, None)
                }
            };
            let target = Target::of(clients, plan, input.mode, request.run_id.as_str()).await?;
            let plan = target.plan;
            let there = there.or(target.clients);
            let clients = there.as_ref().unwrap_or(clients);
            let point_in_time = input
                .point_in_time
                .as_deref()
                .and_then(crate::model::time::parse_time)
                .unwrap_or(now);
            let checks = ReadinessRequest {
                mode: input.mode,
                accept_warnings: input.accept_warnings,
                point_in_time,
                resumed: input.resume_run_id.is_some(),
                invocation_deadline,
                copies_made_by_run: goes_home,
                account: target.account.or(account),
            };
            let mut report = target.line.check(clients, &plan, &checks).await?;
            report.lines.extend(failover_side);
            tracing::info!("{}", report.table(LOGGED_LINES));
            emit_readiness(&report);
            if let Some(store) = store {
                store.put(&request.run_id, Part::Preflight, &report).await?;
            }
            report.refuse_if_not_ready()?;
            Ok(PreflightOutput::of(&report))
        }
        PreflightRequest::Scheduled(check) => {
            let source = PlanSource::from_input(None, check.plan_parameter, check.plan_object)?;
            let plan = load_plan(&clients.ssm, &clients.s3, source).await?;
            plan.require_region(&site.region)?;
            let target = Target::of(clients, plan, check.mode, "readiness-check").await?;
            let plan = target.plan;
            let clients = target.clients.as_ref().unwrap_or(clients);
            let checks = ReadinessRequest {
                mode: check.mode,
                accept_warnings: false,
                point_in_time: now,
                resumed: false,
                invocation_deadline,
                copies_made_by_run: false,
                account: target.account.or(account),
            };
            let report = target.line.check(clients, &plan, &checks).await?;
            if report.ready() {
                tracing::info!("{}", report.table(LOGGED_LINES));
            } else {
                tracing::error!("{}", report.table(LOGGED_LINES));
            }
            emit_readiness(&report);
            emit_copy_ages(&plan, &report);
            Ok(PreflightOutput::of(&report))
        }
    }
}

/// Where a run's checks run: in the account Backstop runs in, or, for a failover with
/// `recoverInto`, in that account as the role it assumes there.
struct Target {
    /// The plan as that account reads it.
    plan: Plan,
    /// That account's clients (none: the function's own).
    clients: Option<Clients>,
    /// That account's id (none: the function's own).
    account: Option<String>,
    line: TargetLine,
}

/// The `recover-into` line: none, one that passed, or one that failed (then nothing else can
/// be checked in that account).
struct TargetLine(Option<CheckLine>);

impl Target {
    async fn of(
        clients: &Clients,
        plan: Plan,
        mode: Mode,
        run_id: &str,
    ) -> Result<Target, BackstopError> {
        match mode.recovers_into(&plan).cloned() {
            Some(into) => {
                let (there, line) = check_recover_into(clients, &into, run_id).await?;
                Ok(Target {
                    plan: plan.seen_from(into.account_id()),
                    clients: there,
                    account: Some(into.account_id().to_string()),
                    line: TargetLine(Some(line)),
                })
            }
            None => Ok(Target {
                plan,
                clients: None,
                account: None,
                line: TargetLine(None),
            }),
        }
    }
}

impl TargetLine {
    /// The readiness report with this line: every check, or this line alone when it failed.
    async fn check(
        self,
        clients: &Clients,
        plan: &Plan,
        request: &ReadinessRequest,
    ) -> Result<Readiness, BackstopError> {
        let mut report = match &self.0 {
            Some(line) if line.status == Status::Fail => {
                Readiness::of(plan, request, Vec::new(), Default::default())
            }
            _ => check_readiness(clients, plan, request).await?,
        };
        report.lines.extend(self.0);
        Ok(report)
    }
}

/// `Ready` (1 or 0) and the failing and warning checks, per plan and account-wide (the
/// template's alarm watches the account-wide one: it needs no plan name).
fn emit_readiness(report: &Readiness) {
    let counts = report.counts();
    let metrics = [
        ("Ready", "Count", if report.ready() { 1.0 } else { 0.0 }),
        ("FailingChecks", "Count", counts.fail as f64),
        ("WarningChecks", "Count", counts.warn as f64),
    ];
    println!("{}", emf_line(&[("Plan", &report.plan)], &metrics));
    println!("{}", emf_line(&[], &metrics));
}

/// The RPO metric per resource (the same as on-backup-event's, from the freshest copy), and
/// the number of resources whose copy is missing or older than the objective.
fn emit_copy_ages(plan: &Plan, report: &Readiness) {
    let objective = plan.objectives.rpo_minutes.map(|m| m.saturating_mul(60));
    let mut stale = 0usize;
    for resource in &plan.resources {
        match report.copy_ages.get(&resource.name) {
            Some(&seconds) => {
                let breached = objective.is_some_and(|o| seconds > o);
                stale += usize::from(breached);
                println!(
                    "{}",
                    emf_line(
                        &[("Plan", &plan.name), ("Resource", &resource.name)],
                        &[
                            ("RpoSeconds", "Seconds", seconds as f64),
                            ("RpoBreached", "Count", if breached { 1.0 } else { 0.0 }),
                        ],
                    )
                );
            }
            None if !resource.optional => stale += 1,
            None => {}
        }
    }
    let without = report
        .lines
        .iter()
        .filter(|l| l.check == "dr-copy" && l.status != Status::Pass)
        .count();
    tracing::info!(
        stale,
        without_fresh_copy = without,
        "copies older than the RPO objective or missing"
    );
    let metrics = [("StaleOrMissingCopies", "Count", stale as f64)];
    println!("{}", emf_line(&[("Plan", &plan.name)], &metrics));
    println!("{}", emf_line(&[], &metrics));
}

/// `PreflightFunction`: a run's readiness (its input names the run), or the scheduled check.
pub async fn run(
    clients: &Clients,
    input: Value,
    invocation: &Invocation,
) -> Result<PreflightOutput, BackstopError> {
    let request = PreflightRequest::from_value(input)?;
    let store = clients.store()?;
    preflight(clients, Some(&store), request, invocation).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_payload_with_a_run_id_is_a_run_and_anything_else_a_scheduled_check() {
        let run = PreflightRequest::from_value(serde_json::json!({
            "runId": "drill-1",
            "input": { "mode": "drill", "planParameter": "/backstop/plan", "acceptWarnings": true }
        }))
        .unwrap();
        match run {
            PreflightRequest::Run(request) => assert!(request.input.accept_warnings),
            other => panic!("{other:?}"),
        }
        let scheduled =
            PreflightRequest::from_value(serde_json::json!({ "planParameter": "/backstop/plan" }))
                .unwrap();
        match scheduled {
            PreflightRequest::Scheduled(check) => assert_eq!(check.mode, Mode::Failover),
            other => panic!("{other:?}"),
        }
        // a scheduled input of the wrong shape names the field
        let err = PreflightRequest::from_value(serde_json::json!({ "planParameters": "/x" }))
            .unwrap_err();
        assert_eq!(err.error_name(), "Backstop.InvalidInput");
        assert!(err.to_string().contains("planParameters"), "{err}");
    }
}
