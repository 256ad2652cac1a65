//! The run's steps as the state machine calls them: each loads what it needs from the run
//! store, does its work, stores what it produced and hands back counts only, so the payload
//! stays the same size whatever the number of resources.

pub mod compute;
pub mod failback;
mod function;
pub mod history;
pub mod on_backup_event;
pub mod preflight;
pub mod readiness;
pub mod recovered;
pub mod report;
pub mod resolve;
pub mod restore;
pub mod start_failover;
pub mod switch_dns;
pub mod teardown;
pub mod wake;

pub use recovered::{post_launch, validate};

pub use function::{serve, Invocation, NamesRun};

use serde::Deserialize;

use crate::aws::store::{Part, RunRef, RunStore};
use crate::error::BackstopError;
use crate::model::run::ResolvedRun;

/// What every run step gets from the state machine: the run reference.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StepInput {
    pub run: RunRef,
    /// The recovery wave a launch or attach round works on (the plan's first when absent).
    #[serde(default)]
    pub wave: Option<u32>,
}

impl NamesRun for StepInput {
    fn run_id(&self) -> Option<&str> {
        Some(self.run.run_id.as_str())
    }

    fn region(&self) -> Option<&str> {
        self.run.region.as_deref()
    }

    fn recovers_into(&self) -> Option<&crate::plan::RecoverInto> {
        self.run.recover_into.as_ref()
    }
}

/// The run with its network stack's outputs filled into the plan, or `None` while the stack is
/// still being built. The first step to see the stack ready stores its outputs (the restore
/// and launch rounds may both do so; they store the same thing).
async fn with_network(
    cf: &aws_sdk_cloudformation::Client,
    store: &RunStore,
    run_ref: &RunRef,
    mut run: ResolvedRun,
) -> Result<(ResolvedRun, bool), BackstopError> {
    if run.plan.network.is_none() {
        return Ok((run, true));
    }
    let state = store.network(run_ref).await?.ok_or_else(|| {
        BackstopError::invalid_input(
            "run",
            "the plan has a network stack but the run never asked for it: start the run again",
        )
    })?;
    let Some(ready) = crate::aws::cloudformation::check(cf, &state).await? else {
        return Ok((run, false));
    };
    if state.outputs.is_none() {
        store.put(&run_ref.execution, Part::Network, &ready).await?;
    }
    if let Some(resolved) = ready.resolve(&run.plan) {
        run.plan = resolved?;
    }
    Ok((run, true))
}
