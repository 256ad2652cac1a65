//! The run's DR network stack (`state/<execution>/network.json`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::run::Mode;
use crate::error::BackstopError;
use crate::plan::Plan;

/// What the run did with the network stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum StackAction {
    /// The run asked CloudFormation to create it and has no answer yet: recorded before the
    /// request, so that a stack created by a request whose answer was lost is accounted for.
    /// A run that stops here was refused (the run's error says why) or lost the answer.
    Requested,
    /// The run created it (a drill's copy, or a failover's first network).
    Created,
    /// A failover updated the existing stack to the plan's template and parameters.
    Updated,
    /// A failover uses the existing stack as it is.
    Reused,
}

/// The run's network stack (`state/<execution>/network.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkState {
    pub stack_name: String,
    /// The stack's ARN: a deleted stack is still described by it.
    pub stack_id: String,
    pub action: StackAction,
    /// RFC 3339; when the run asked CloudFormation for the stack.
    pub requested_at: String,
    /// RFC 3339; when the stack was ready (its last CREATE/UPDATE_COMPLETE), once it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_at: Option<String>,
    /// The stack's outputs, once it is ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outputs: Option<BTreeMap<String, String>>,
}

impl NetworkState {
    /// Whether the run owns the stack and its teardown may delete it: only a drill's copy.
    pub fn deleted_by_teardown(&self, mode: Mode) -> bool {
        mode == Mode::Drill && matches!(self.action, StackAction::Created | StackAction::Requested)
    }

    /// The plan with the stack's outputs filled in (`None` until the stack is ready).
    pub fn resolve(&self, plan: &Plan) -> Option<Result<Plan, BackstopError>> {
        let outputs = self.outputs.as_ref()?;
        Some(plan.with_stack_outputs(
            &self.stack_name,
            outputs,
            crate::plan::stack_output::Unknown::Refuse,
        ))
    }
}
