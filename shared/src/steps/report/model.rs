//! What a run's report is: its figures, lists and evidence (built in `mod`, rendered in
//! `render`, stored by `evidence`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::instances::LaunchedInstance;
use crate::model::jobs::JobStatus;
use crate::model::run::Mode;
use crate::steps::history::StepSpan;
use crate::steps::switch_dns::SwitchedRecord;
use crate::steps::teardown::TeardownOutcome;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Objective {
    /// Seconds measured; none when the run never got there.
    pub measured_seconds: Option<i64>,
    pub objective_seconds: Option<i64>,
    pub met: bool,
    /// What was measured.
    pub measure: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceRpo {
    pub resource: String,
    pub recovery_point_arn: String,
    /// When the recovered data was captured.
    pub data_captured_at: String,
    pub seconds: i64,
    pub met: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Restored {
    pub resource: String,
    pub kind: String,
    pub restore_job_id: String,
    pub status: JobStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_resource_arn: Option<String>,
    /// Where clients connect now (a database's address): what the app must be pointed at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Failure {
    pub step: String,
    pub error: String,
    pub cause: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Evidence {
    pub bucket: String,
    pub json_key: String,
    pub text_key: String,
    /// The report as one self-contained HTML page.
    pub html_key: String,
}

/// Who ran what, where: what an auditor asks of a run before its figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunIdentity {
    /// The account the run ran in (from its execution ARN).
    pub account: String,
    pub dr_region: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_region: Option<String>,
    /// `sha256:` and the digest of the plan the run followed, as canonical JSON (keys sorted,
    /// no whitespace: `jq -cjS . plan.json | sha256sum` of the plan as the run stored it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan_digest: Option<String>,
    /// The trigger that started the run, or who may have.
    pub started_by: String,
    /// Backstop's version (the workspace's).
    pub version: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub run_id: String,
    pub execution_arn: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<Mode>,
    /// What started the run, when a trigger did (the alarm and its state change, the copy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<RunIdentity>,
    /// `succeeded` or `failed`.
    pub outcome: String,
    /// `PASS` or `FAIL`.
    pub verdict: String,
    pub reasons: Vec<String>,
    pub started_at: String,
    pub ended_at: String,
    pub rto: Objective,
    /// The RTO to the moment the last restored volume has its full performance (its blocks
    /// loaded, or restored with fast snapshot restore), when later than the RTO's end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rto_to_full_speed_seconds: Option<i64>,
    /// The plan's last runs of this mode (this one last) and the next one's predicted RTO.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history: Option<super::past_runs::RunHistory>,
    /// Each restored volume's way to full performance.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hydration: Vec<super::hydration::VolumeHydration>,
    pub rpo: Objective,
    pub rpo_by_resource: Vec<ResourceRpo>,
    pub timeline: Vec<StepSpan>,
    /// The DR network stack the run created, updated or reused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<NetworkUsed>,
    pub restored: Vec<Restored>,
    pub launched: Vec<LaunchedInstance>,
    /// The plan's post-launch actions as they ran (none: the plan has none, or the run ended
    /// before), each with how it ended and its output's end.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub post_launch: Vec<crate::steps::post_launch::ActionResult>,
    /// The plan's validations as they ran (none: the plan has none, or the run ended before).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub validations: Vec<crate::steps::validate::CheckResult>,
    pub dns: Vec<SwitchedRecord>,
    pub warnings: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<Failure>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub teardown: Option<TeardownOutcome>,
    /// A failback: the failover it closes, its DR-side backups and their copies home, and the
    /// failover's retirement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failback: Option<FailbackSummary>,
    /// Why the drill's teardown itself failed (its error and cause), when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub teardown_error: Option<String>,
    /// What preflight found before the run (its problems; the run store has every line).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub readiness: Option<ReadinessSummary>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<Evidence>,
    /// For a failed run: the message the failure topic publishes (JSON text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notice: Option<String>,
    /// In the execution's copy of the report: how many entries each long list leaves out
    /// (the evidence in S3 has them all).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub omitted: BTreeMap<String, usize>,
}

/// What a failback did besides recovering at home.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FailbackSummary {
    /// The failover it brings home (and retires); none in a drill of the way home.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failover_run_id: Option<String>,
    /// Each resource's backup in the DR vault and its copy in the home vault.
    pub captured: Vec<crate::steps::failback::capture::Capture>,
    /// The failover's instances stopped before the backups, when the run was asked to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quiesced: Option<crate::steps::failback::capture::Quiesced>,
    /// The failover's teardown after the soak (none: not reached).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retired: Option<TeardownOutcome>,
}

/// The network stack in the report (its outputs are in the run store).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkUsed {
    pub stack_name: String,
    pub stack_id: String,
    pub action: crate::model::network::StackAction,
    pub requested_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_at: Option<String>,
}

pub(super) fn action_word(action: crate::model::network::StackAction) -> &'static str {
    match action {
        crate::model::network::StackAction::Requested => "requested",
        crate::model::network::StackAction::Created => "created",
        crate::model::network::StackAction::Updated => "updated",
        crate::model::network::StackAction::Reused => "reused",
    }
}

/// Preflight's verdict in the report: the counts and the lines that needed attention.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReadinessSummary {
    pub ready: bool,
    pub counts: crate::steps::readiness::Counts,
    pub problems: Vec<crate::steps::readiness::CheckLine>,
}

/// The execution output and the failure notice list at most this many entries per list, so
/// their size does not grow with the number of resources.
pub const MAX_LISTED: usize = 10;

fn keep_first<T>(list: &mut Vec<T>, name: &str, omitted: &mut BTreeMap<String, usize>) {
    if list.len() > MAX_LISTED {
        omitted.insert(name.to_string(), list.len() - MAX_LISTED);
        list.truncate(MAX_LISTED);
    }
}

impl Report {
    /// The copy of the report the state machine carries (its output, the failure notice): the
    /// first [`MAX_LISTED`] entries of each list, and how many were left out.
    pub fn for_payload(&self) -> Report {
        let mut copy = self.clone();
        let omitted = &mut copy.omitted;
        keep_first(&mut copy.reasons, "reasons", omitted);
        keep_first(&mut copy.rpo_by_resource, "rpoByResource", omitted);
        keep_first(&mut copy.restored, "restored", omitted);
        // each volume's way to full speed is in the evidence only: the payload keeps its size
        if !copy.hydration.is_empty() {
            omitted.insert("hydration".into(), copy.hydration.len());
            copy.hydration.clear();
        }
        // the past runs are in the evidence only; the prediction stays
        if let Some(history) = copy.history.as_mut() {
            if !history.runs.is_empty() {
                omitted.insert("history.runs".into(), history.runs.len());
                history.runs.clear();
            }
        }
        keep_first(&mut copy.launched, "launched", omitted);
        keep_first(&mut copy.dns, "dns", omitted);
        keep_first(&mut copy.warnings, "warnings", omitted);
        if let Some(failback) = copy.failback.as_mut() {
            keep_first(&mut failback.captured, "failback.captured", omitted);
            if let Some(retired) = failback.retired.as_mut() {
                keep_first(&mut retired.deleted, "failback.retired.deleted", omitted);
                keep_first(&mut retired.pending, "failback.retired.pending", omitted);
                keep_first(&mut retired.left, "failback.retired.left", omitted);
            }
        }
        if let Some(teardown) = copy.teardown.as_mut() {
            keep_first(&mut teardown.deleted, "teardown.deleted", omitted);
            keep_first(&mut teardown.pending, "teardown.pending", omitted);
            keep_first(&mut teardown.left, "teardown.left", omitted);
        }
        copy
    }
}
