//! Step 0 of a run: load the plan and decide what to recover, from which recovery point.

use aws_smithy_types::date_time::Format;
use aws_smithy_types::DateTime;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::BackstopError;
use crate::plan::{load_plan, Plan, PlanProblem, PlanSource};
use crate::restore::{format_time, select_recovery_points, RestoreContext, RestoreItem};
use crate::run::{Mode, RunId};

/// What the state machine passes to `resolve-plan`: the run id and the execution input as given.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RunRequest {
    /// The execution name (`$$.Execution.Name`).
    pub run_id: RunId,
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
    /// Recover to this time (RFC 3339); default now.
    #[serde(default)]
    pub point_in_time: Option<String>,
    #[serde(default)]
    pub settings: RunSettings,
}

/// How the run paces itself; the defaults suit AWS, tests shorten the poll interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RunSettings {
    #[serde(default = "RunSettings::default_poll_interval")]
    pub poll_interval_seconds: u32,
    #[serde(default = "RunSettings::default_max_concurrent_restores")]
    pub max_concurrent_restores: u32,
}

impl RunSettings {
    fn default_poll_interval() -> u32 {
        30
    }
    fn default_max_concurrent_restores() -> u32 {
        20
    }
}

impl Default for RunSettings {
    fn default() -> Self {
        RunSettings {
            poll_interval_seconds: Self::default_poll_interval(),
            max_concurrent_restores: Self::default_max_concurrent_restores(),
        }
    }
}

/// The resolved run: what every later step reads.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResolvedRun {
    pub run_id: RunId,
    pub mode: Mode,
    pub plan: Plan,
    pub point_in_time: String,
    pub settings: RunSettings,
    pub restores: Vec<RestoreItem>,
    #[serde(default)]
    pub warnings: Vec<String>,
}

impl ResolvedRun {
    pub fn restore_context(&self, restore_role_arn: Option<String>) -> RestoreContext {
        RestoreContext {
            run_id: self.run_id.clone(),
            mode: self.mode,
            plan_name: self.plan.name.clone(),
            dr_region: self.plan.dr_region.clone(),
            backup_vault: self.plan.backup_vault.clone(),
            restore_role_arn,
        }
    }
}

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

/// Loads and validates the plan, checks it is meant for this region, and picks a recovery
/// point for every protected resource.
pub async fn resolve_plan(
    ssm: &aws_sdk_ssm::Client,
    backup: &aws_sdk_backup::Client,
    region: &str,
    request: RunRequest,
) -> Result<ResolvedRun, BackstopError> {
    let input = request.input;
    check_settings(&input.settings)?;
    let point_in_time = match &input.point_in_time {
        None => DateTime::from(std::time::SystemTime::now()),
        Some(text) => DateTime::from_str(text, Format::DateTime).map_err(|_| {
            BackstopError::invalid_input(
                "pointInTime",
                format!("\"{text}\" is not an RFC 3339 time; use e.g. 2026-11-25T03:00:00Z"),
            )
        })?,
    };
    let source = PlanSource::from_input(input.plan, input.plan_parameter)?;
    let plan = load_plan(ssm, source).await?;
    // Statically stable: a run reads and writes only its own (DR) region.
    if plan.dr_region != region {
        return Err(BackstopError::InvalidPlan(vec![PlanProblem {
            field: "drRegion".into(),
            message: format!("is {}, but this Backstop runs in {region}", plan.dr_region),
            fix: "deploy Backstop in the DR region, or correct drRegion".into(),
        }]));
    }
    let (restores, warnings) = select_recovery_points(backup, &plan, point_in_time).await?;
    for item in restores.iter().filter(|item| item.rpo_breached) {
        tracing::warn!(resource = %item.resource, rpo_seconds = item.rpo_seconds, "recovery point older than the RPO objective");
    }
    tracing::info!(
        plan = %plan.name,
        restores = restores.len(),
        instances = plan.instances.len(),
        "plan loaded and valid"
    );
    Ok(ResolvedRun {
        run_id: request.run_id,
        mode: input.mode,
        plan,
        point_in_time: format_time(point_in_time),
        settings: input.settings,
        restores,
        warnings,
    })
}

fn check_settings(settings: &RunSettings) -> Result<(), BackstopError> {
    if !(1..=3600).contains(&settings.poll_interval_seconds) {
        return Err(BackstopError::invalid_input(
            "settings.pollIntervalSeconds",
            "must be between 1 and 3600",
        ));
    }
    if !(1..=200).contains(&settings.max_concurrent_restores) {
        return Err(BackstopError::invalid_input(
            "settings.maxConcurrentRestores",
            "must be between 1 and 200",
        ));
    }
    Ok(())
}
