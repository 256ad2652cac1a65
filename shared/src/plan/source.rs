//! Where a run gets its plan: inline in the execution input, or from an SSM parameter
//! in the DR region (so a failover never reads the primary region).

use aws_sdk_ssm::Client as SsmClient;
use serde_json::Value;

use super::Plan;
use crate::error::{classify_sdk_error, BackstopError};

#[derive(Debug, Clone, PartialEq)]
pub enum PlanSource {
    Inline(Value),
    SsmParameter(String),
}

impl PlanSource {
    /// Exactly one of `plan` and `planParameter` must be given in the execution input.
    pub fn from_input(
        plan: Option<Value>,
        plan_parameter: Option<String>,
    ) -> Result<Self, BackstopError> {
        match (plan, plan_parameter) {
            (Some(plan), None) => Ok(Self::Inline(plan)),
            (None, Some(name)) if !name.trim().is_empty() => Ok(Self::SsmParameter(name)),
            (None, Some(_)) => Err(BackstopError::invalid_input(
                "planParameter",
                "is empty; give the name of the SSM parameter holding the plan JSON",
            )),
            (None, None) => Err(BackstopError::invalid_input(
                "plan",
                "no plan given; set `plan` to the plan JSON or `planParameter` to an SSM parameter name",
            )),
            (Some(_), Some(_)) => Err(BackstopError::invalid_input(
                "planParameter",
                "both `plan` and `planParameter` are given; keep only one",
            )),
        }
    }
}

/// Loads and validates the plan. An SSM parameter is read with decryption (SecureString allowed).
pub async fn load_plan(ssm: &SsmClient, source: PlanSource) -> Result<Plan, BackstopError> {
    match source {
        PlanSource::Inline(value) => Plan::from_value(value),
        PlanSource::SsmParameter(name) => {
            let output = ssm
                .get_parameter()
                .name(&name)
                .with_decryption(true)
                .send()
                .await
                .map_err(|err| {
                    classify_sdk_error(format!("reading the plan from SSM parameter {name}"), err)
                })?;
            let text = output
                .parameter
                .and_then(|parameter| parameter.value)
                .ok_or_else(|| {
                    BackstopError::not_found(
                        format!("SSM parameter {name}"),
                        "the parameter has no value; store the plan JSON in it",
                    )
                })?;
            Plan::from_json(&text)
        }
    }
}
