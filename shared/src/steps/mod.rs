//! The run's steps as the state machine calls them: each loads what it needs from the run
//! store, does its work, stores what it produced and hands back counts only, so the payload
//! stays the same size whatever the number of resources.

pub mod compute;
pub mod history;
pub mod on_backup_event;
pub mod preflight;
pub mod readiness;
pub mod report;
pub mod resolve;
pub mod restore;
pub mod start_failover;
pub mod switch_dns;
pub mod teardown;

use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::aws::store::{Part, RunRef, RunStore};
use crate::aws::wait::{work_deadline, WaitPolicy};
use crate::error::BackstopError;
use crate::model::jobs::RestoreItem;
use crate::model::run::ResolvedRun;
use crate::plan::{Plan, ResourceKind};
use crate::steps::compute::{
    account_of, attach_volumes, launch_instances, LaunchContext, VolumeOwner,
};
use crate::steps::restore::{
    poll_restores, start_restores, PollClients, PollSummary, RestoreProgress,
};
use crate::steps::switch_dns::{switch_dns, DnsClients, PendingChange, SwitchOutcome};

/// At most this many failure lines travel in the payload (and into a `Fail` state's cause);
/// the report lists them all.
const MAX_FAILURE_LINES: usize = 20;

/// What every run step gets from the state machine: the run reference.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StepInput {
    pub run: RunRef,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StartCounts {
    /// Restore jobs the run has (started now or before).
    pub jobs: usize,
    /// Work items not started yet (concurrency cap reached, or throttled): the next round starts them.
    pub not_started: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PollCounts {
    pub jobs: usize,
    pub summary: PollSummary,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LaunchCounts {
    pub instances: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttachCounts {
    pub attachments: usize,
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

/// Whether a restore must wait for the network stack (it names a subnet, security group, DB
/// subnet group or AZ the stack provides, itself or through the drill's isolation block).
fn waits_for_network(run: &ResolvedRun, item: &RestoreItem) -> bool {
    let Some(resource) = run.plan.resource(&item.resource) else {
        return false;
    };
    let drill_block = run.mode == crate::model::run::Mode::Drill
        && matches!(item.kind, ResourceKind::Rds | ResourceKind::Ec2)
        && run.plan.drill.as_ref().is_some_and(Plan::needs_stack);
    Plan::needs_stack(resource) || drill_block
}

/// `StartRestores`: starts the restores that have no job yet, within the concurrency cap.
/// While the network stack is being built, only the restores that need nothing from it start.
pub async fn start_round(
    clients: &StartClients<'_>,
    store: &RunStore,
    run_ref: &RunRef,
    restore_role_arn: Option<String>,
    deadline: SystemTime,
) -> Result<StartCounts, BackstopError> {
    let run = store.load_run(run_ref).await?;
    let jobs = store.jobs(run_ref).await?;
    let (mut run, network_ready) =
        with_network(clients.cloudformation, store, run_ref, run).await?;
    let mut withheld = 0;
    if !network_ready {
        let before = run.restores.len();
        let restores = std::mem::take(&mut run.restores);
        run.restores = restores
            .into_iter()
            .filter(|item| !waits_for_network(&run, item))
            .collect();
        withheld = before - run.restores.len();
    }
    let mut ctx = crate::kinds::RestoreContext::for_run(&run, restore_role_arn);
    ctx.invocation_deadline = Some(work_deadline(deadline));
    let max_running = run.settings.max_concurrent_restores as usize;
    let progress = RestoreProgress {
        restores: run.restores,
        jobs,
    };
    let outcome = start_restores(
        clients.backup,
        &run.plan,
        &ctx,
        progress,
        max_running,
        ctx.resume,
    )
    .await?;
    store
        .put(&run_ref.execution, Part::Restore, &outcome.jobs)
        .await?;
    Ok(StartCounts {
        jobs: outcome.jobs.len(),
        not_started: outcome.not_started + withheld,
    })
}

/// What `StartRestores` calls.
pub struct StartClients<'a> {
    pub backup: &'a aws_sdk_backup::Client,
    pub cloudformation: &'a aws_sdk_cloudformation::Client,
}

/// `PollRestores`: one look at every pending job.
pub async fn poll_round(
    clients: &PollClients,
    store: &RunStore,
    run_ref: &RunRef,
    deadline: SystemTime,
) -> Result<PollCounts, BackstopError> {
    let run = store.load_run(run_ref).await?;
    let jobs = store.jobs(run_ref).await?;
    let mut ctx = crate::kinds::RestoreContext::for_run(&run, None);
    ctx.invocation_deadline = Some(work_deadline(deadline));
    let progress = RestoreProgress {
        restores: run.restores,
        jobs,
    };
    let outcome = poll_restores(clients, &ctx, progress).await?;
    store
        .put(&run_ref.execution, Part::Restore, &outcome.jobs)
        .await?;
    let mut summary = outcome.summary;
    cap_failures(&mut summary.failures);
    Ok(PollCounts {
        jobs: outcome.jobs.len(),
        summary,
    })
}

fn cap_failures(failures: &mut Vec<String>) {
    if failures.len() > MAX_FAILURE_LINES {
        let more = failures.len() - MAX_FAILURE_LINES;
        failures.truncate(MAX_FAILURE_LINES);
        failures.push(format!(
            "... and {more} more (the run's report lists every one)"
        ));
    }
}

/// `LaunchInstances`: every instance of the plan, from the golden AMI.
pub async fn launch_round(
    ec2: &aws_sdk_ec2::Client,
    ssm: &aws_sdk_ssm::Client,
    cloudformation: &aws_sdk_cloudformation::Client,
    store: &RunStore,
    run_ref: &RunRef,
    wait: WaitPolicy,
) -> Result<LaunchCounts, BackstopError> {
    let run = store.load_run(run_ref).await?;
    let (run, network_ready) = with_network(cloudformation, store, run_ref, run).await?;
    if !network_ready {
        // the state machine runs the launch again after a pause (Backstop.StillWaiting)
        return Err(BackstopError::StillWaiting {
            what: "the DR network stack".into(),
            message: "its subnets and security groups are not created yet".into(),
        });
    }
    let ctx = LaunchContext {
        run_id: &run.run_id,
        mode: run.mode,
        plan: &run.plan,
        wait: wait.within_run(&run.deadline),
    };
    let outcome = launch_instances(ec2, ssm, &ctx).await?;
    store
        .put(&run_ref.execution, Part::Launch, &outcome.instances)
        .await?;
    Ok(LaunchCounts {
        instances: outcome.instances.len(),
    })
}

/// `AttachVolumes`: each restored volume to its instance. `invoked_arn`: this function's
/// ARN, whose account is the only one whose volumes are attached.
pub async fn attach_round(
    ec2: &aws_sdk_ec2::Client,
    store: &RunStore,
    run_ref: &RunRef,
    invoked_arn: &str,
    wait: WaitPolicy,
) -> Result<AttachCounts, BackstopError> {
    let run = store.load_run_resolved(run_ref).await?;
    let jobs = store.jobs(run_ref).await?;
    let instances = store.instances(run_ref).await?;
    let account = account_of(invoked_arn);
    let owner = VolumeOwner {
        run_id: &run.run_id,
        account: account.as_deref(),
        region: &run.plan.dr_region,
    };
    let wait = wait.within_run(&run.deadline);
    let outcome = attach_volumes(ec2, &run.plan, &owner, &jobs, &instances, wait).await?;
    store
        .put(&run_ref.execution, Part::Attach, &outcome.attachments)
        .await?;
    Ok(AttachCounts {
        attachments: outcome.attachments.len(),
    })
}

/// What `SwitchDns` gets: the run, and what its earlier rounds left to finish.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SwitchInput {
    pub run: RunRef,
    /// Changes an earlier round submitted that were not yet INSYNC.
    #[serde(default)]
    pub changes: Vec<PendingChange>,
    /// When an earlier round's health gate passed.
    #[serde(default)]
    pub healthy_at: Option<String>,
    /// The operator's answer, when the plan asks for one (`AwaitApproval`'s output).
    #[serde(default)]
    pub approval: Option<Value>,
}

/// `SwitchDns`: the health gate, then the records (a drill: its drill records only).
pub async fn switch_round(
    clients: &DnsClients,
    store: &RunStore,
    input: SwitchInput,
    wait: WaitPolicy,
) -> Result<SwitchOutcome, BackstopError> {
    let run = store.load_run_resolved(&input.run).await?;
    // never switch a gated failover's DNS without the operator's yes, whatever led here
    run.approval.let_through(input.approval.as_ref())?;
    let jobs = store.jobs(&input.run).await?;
    let instances = store.instances(&input.run).await?;
    let wait = wait.within_run(&run.deadline);
    switch_dns(
        clients,
        &run.plan,
        run.mode,
        &instances,
        &jobs,
        &input.changes,
        input.healthy_at,
        wait,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_payload_carries_at_most_twenty_failure_lines() {
        let mut failures: Vec<String> = (0..25).map(|i| format!("vol-{i}: failed")).collect();
        cap_failures(&mut failures);
        assert_eq!(failures.len(), MAX_FAILURE_LINES + 1);
        assert!(failures.last().unwrap().contains("5 more"));
        let mut few = vec!["a: failed".to_string()];
        cap_failures(&mut few);
        assert_eq!(few, vec!["a: failed".to_string()]);
    }
}
