//! Step 0 of a run: load the plan and decide what to recover.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::BackstopError;
use crate::plan::{load_plan, Plan, PlanSource};
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
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResolvedRun {
    pub run_id: RunId,
    pub mode: Mode,
    pub plan: Plan,
}

impl RunRequest {
    /// Parses the raw execution input; a wrong shape names the field at fault.
    pub fn from_value(input: Value) -> Result<Self, BackstopError> {
        serde_path_to_error::deserialize(input).map_err(|err| {
            let field = err.path().to_string();
            BackstopError::invalid_input(field, err.into_inner().to_string())
        })
    }
}

/// Loads and validates the plan of a run.
pub async fn resolve_plan(
    ssm: &aws_sdk_ssm::Client,
    request: RunRequest,
) -> Result<ResolvedRun, BackstopError> {
    let input = request.input;
    let source = PlanSource::from_input(input.plan, input.plan_parameter)?;
    let plan = load_plan(ssm, source).await?;
    tracing::info!(
        plan = %plan.name,
        resources = plan.resources.len(),
        instances = plan.instances.len(),
        "plan loaded and valid"
    );
    Ok(ResolvedRun {
        run_id: request.run_id,
        mode: input.mode,
        plan,
    })
}
