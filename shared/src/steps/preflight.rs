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
use crate::error::BackstopError;
use crate::error::PlanProblem;
use crate::model::run::{Mode, StackSite};
use crate::plan::{Plan, PlanSource};
use crate::steps::function::region_of;
use crate::steps::readiness::{
    check_readiness, CheckLine, Counts, Readiness, ReadinessClients, ReadinessRequest, Status,
    MAX_LISTED_LINES,
};
use crate::steps::resolve::{parse_input, RunRequest};
use crate::steps::{Invocation, Step};
use crate::telemetry::emf_line;
use aws_config::SdkConfig;

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

/// A plan meant for another region is refused: a run reads and writes only its own region.
pub fn require_region(plan: &Plan, region: &str) -> Result<(), BackstopError> {
    if plan.dr_region != region {
        return Err(BackstopError::InvalidPlan(vec![PlanProblem {
            field: "drRegion".into(),
            message: format!("is {}, but this Backstop runs in {region}", plan.dr_region),
            fix: "deploy Backstop in the DR region, or correct drRegion".into(),
        }]));
    }
    Ok(())
}

/// Lines of the report the logs show in full (beyond it, only the problems).
const LOGGED_LINES: usize = 60;

pub async fn preflight(
    clients: &ReadinessClients<'_>,
    s3: &aws_sdk_s3::Client,
    store: Option<&RunStore>,
    site: &StackSite,
    request: PreflightRequest,
    invocation_deadline: Option<std::time::SystemTime>,
) -> Result<PreflightOutput, BackstopError> {
    let now = DateTime::from(std::time::SystemTime::now());
    match request {
        PreflightRequest::Run(request) => {
            let input = request.input;
            input.check()?;
            input.check_failover_plan_source(site.plan_parameter.as_deref())?;
            let source =
                PlanSource::from_input(input.plan, input.plan_parameter, input.plan_object)?;
            let plan = load_plan(clients.ssm, s3, source).await?;
            require_region(&plan, &site.region)?;
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
            };
            let report = check_readiness(clients, &plan, &checks).await?;
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
            let plan = load_plan(clients.ssm, s3, source).await?;
            require_region(&plan, &site.region)?;
            let checks = ReadinessRequest {
                mode: check.mode,
                accept_warnings: false,
                point_in_time: now,
                resumed: false,
                invocation_deadline,
            };
            let report = check_readiness(clients, &plan, &checks).await?;
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

/// `PreflightFunction`: the first state of every run, and the scheduled readiness check.
pub struct PreflightFunction {
    backup: aws_sdk_backup::Client,
    ec2: aws_sdk_ec2::Client,
    rds: aws_sdk_rds::Client,
    route53: aws_sdk_route53::Client,
    ssm: aws_sdk_ssm::Client,
    kms: aws_sdk_kms::Client,
    cloudwatch: aws_sdk_cloudwatch::Client,
    cloudformation: aws_sdk_cloudformation::Client,
    store: RunStore,
    site: StackSite,
}

impl Step for PreflightFunction {
    const NAME: &'static str = "preflight";
    type Input = Value;
    type Output = PreflightOutput;

    fn from_config(config: &SdkConfig) -> Result<Self, BackstopError> {
        Ok(PreflightFunction {
            backup: aws_sdk_backup::Client::new(config),
            ec2: aws_sdk_ec2::Client::new(config),
            rds: aws_sdk_rds::Client::new(config),
            route53: aws_sdk_route53::Client::new(config),
            ssm: aws_sdk_ssm::Client::new(config),
            kms: aws_sdk_kms::Client::new(config),
            cloudwatch: aws_sdk_cloudwatch::Client::new(config),
            cloudformation: aws_sdk_cloudformation::Client::new(config),
            store: RunStore::from_env(config)?,
            site: StackSite::from_env(region_of(config)),
        })
    }

    /// A run's preflight names its run; the scheduled check has none.
    fn run_id(input: &Value) -> Option<&str> {
        Some(
            input
                .get("runId")
                .and_then(Value::as_str)
                .unwrap_or("scheduled"),
        )
    }

    async fn run(
        &self,
        input: Value,
        invocation: &Invocation,
    ) -> Result<PreflightOutput, BackstopError> {
        let request = PreflightRequest::from_value(input)?;
        let clients = ReadinessClients {
            backup: &self.backup,
            ec2: &self.ec2,
            rds: &self.rds,
            route53: &self.route53,
            ssm: &self.ssm,
            kms: &self.kms,
            cloudwatch: &self.cloudwatch,
            cloudformation: &self.cloudformation,
            s3: self.store.s3(),
        };
        let (s3, store) = (self.store.s3(), Some(&self.store));
        preflight(
            &clients,
            s3,
            store,
            &self.site,
            request,
            Some(invocation.deadline),
        )
        .await
    }
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
