//! Teardown: delete exactly what a run created, and say what could not be deleted.
//!
//! What the run created is found two ways: by the run-id tag (instances, volumes, DB
//! instances, file systems), and by the run's own restore jobs as its steps stored them
//! (`CreatedResourceArn`): a resource restored after its branch was cancelled
//! carries no tag yet. Nothing else is ever deleted. One invocation makes one pass (start or
//! check each deletion) and returns; the state machine calls it again until nothing is pending.

use std::collections::{BTreeMap, BTreeSet};

use aws_smithy_types::date_time::Format;
use aws_smithy_types::DateTime;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::dns::remove_drill_record;
use crate::error::{classify_sdk_error, BackstopError};
use crate::kinds::{self, Owned, Removal};
use crate::network::{self, NetworkState, StackRemoval};
use crate::plan::ResourceKind;
use crate::resolve::ResolvedRun;
use crate::restore::format_time;
use crate::restore::RestoreJob;
use crate::run::{Mode, RunId};
use crate::store::{Part, RunStore};
use crate::tags::RUN_ID;
use crate::wait::time_left;

/// The `Owned` kind of a drill's network stack (its id is the stack's name).
pub const STACK: &str = "stack";

/// Deletions still pending this long after teardown began are reported as left behind.
const TEARDOWN_BOUND_SECONDS: i64 = 2 * 60 * 60;

/// What starts a teardown: the state machine (after a drill) or an operator (any run id).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TeardownRequest {
    /// The run to tear down: its execution name.
    pub run_id: RunId,
    /// Its execution ARN; by default the execution of that name of this stack's state machine.
    #[serde(default)]
    pub execution_arn: Option<String>,
    /// A failover's resources are production: tearing one down needs this set to true.
    #[serde(default)]
    pub allow_failover: bool,
    /// The previous pass's summary (the state machine's loop): the pass itself is read from
    /// the run store. Absent or null: a first pass.
    #[serde(default)]
    pub previous: Option<Value>,
}

/// A resource teardown did not delete, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Leftover {
    #[serde(flatten)]
    pub owned: Owned,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TeardownOutcome {
    pub run_id: String,
    /// Nothing is pending any more: everything is deleted, or reported in `left`.
    pub finished: bool,
    pub started_at: String,
    pub rounds: u32,
    /// Deleted by this teardown (or found already gone), across passes.
    pub deleted: Vec<Owned>,
    /// Deletions under way.
    pub pending: Vec<Leftover>,
    /// Not deleted: not this run's to delete, refused, or still pending past the bound.
    pub left: Vec<Leftover>,
}

/// What a pass hands back to the state machine: counts, and the first few left-behind items
/// (the whole pass is stored, and the report lists everything).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TeardownSummary {
    pub run_id: String,
    pub finished: bool,
    pub started_at: String,
    pub rounds: u32,
    pub deleted: usize,
    pub pending: usize,
    pub left: usize,
    /// Up to [`MAX_LEFT_SHOWN`] of the items left behind, with why.
    #[serde(default)]
    pub left_items: Vec<Leftover>,
}

const MAX_LEFT_SHOWN: usize = 20;

impl TeardownOutcome {
    pub fn summary(&self) -> TeardownSummary {
        TeardownSummary {
            run_id: self.run_id.clone(),
            finished: self.finished,
            started_at: self.started_at.clone(),
            rounds: self.rounds,
            deleted: self.deleted.len(),
            pending: self.pending.len(),
            left: self.left.len(),
            left_items: self.left.iter().take(MAX_LEFT_SHOWN).cloned().collect(),
        }
    }
}

pub struct TeardownClients {
    pub backup: aws_sdk_backup::Client,
    pub ec2: aws_sdk_ec2::Client,
    pub rds: aws_sdk_rds::Client,
    pub efs: aws_sdk_efs::Client,
    pub route53: aws_sdk_route53::Client,
    pub cloudformation: aws_sdk_cloudformation::Client,
    /// Where the run's steps stored what they did.
    pub store: RunStore,
}

impl TeardownClients {
    fn resources(&self) -> kinds::Clients<'_> {
        kinds::Clients {
            ec2: &self.ec2,
            rds: &self.rds,
            efs: &self.efs,
        }
    }
}

/// One pass of the teardown of `request.run_id`.
pub async fn teardown(
    clients: &TeardownClients,
    request: TeardownRequest,
    now: DateTime,
    deadline: Option<std::time::SystemTime>,
) -> Result<TeardownOutcome, BackstopError> {
    let run_id = request.run_id.as_str().to_string();
    // the run's state is stored under its execution's name (the ARN's last part)
    let execution = match &request.execution_arn {
        Some(arn) => arn.rsplit(':').next().unwrap_or_default().to_string(),
        None => run_id.clone(),
    };
    let execution = RunId::try_from(execution)
        .map_err(|err| BackstopError::invalid_input("executionArn", err.to_string()))?;
    let stored: Option<Value> = clients.store.get(&execution, Part::Run).await?;
    // the loop's previous pass, as it stored itself (a first pass, or one by hand, has none)
    let previous: Option<TeardownOutcome> = match request.previous.as_ref() {
        Some(summary) if !summary.is_null() => {
            clients.store.get(&execution, Part::Teardown).await?
        }
        _ => None,
    };
    let run: Option<ResolvedRun> = stored
        .clone()
        .and_then(|value| serde_json::from_value(value).ok());
    // read from the raw state too: a run whose plan no longer parses is still a failover
    let failover = run.as_ref().map(|r| r.mode) == Some(Mode::Failover)
        || stored
            .as_ref()
            .and_then(|value| value.get("mode"))
            .and_then(|mode| mode.as_str())
            == Some("failover");
    if failover && !request.allow_failover {
        return Err(BackstopError::invalid_input(
            "allowFailover",
            format!(
                "run {run_id} is a failover: its resources may be serving production. Set allowFailover to true to delete them"
            ),
        ));
    }
    // every restore job the run started, as its steps stored them (a branch cancelled by a
    // failure still stored the jobs it started: its last invocation ran to the end)
    let stored_jobs: Vec<RestoreJob> = clients
        .store
        .get(&execution, Part::Restore)
        .await?
        .unwrap_or_default();
    let stored_jobs: Vec<RestoreJob> = stored_jobs;

    // a resumed run tags with the run id of the run it resumes
    let run_id = run
        .as_ref()
        .map(|r| r.run_id.as_str().to_string())
        .unwrap_or(run_id);
    let mut owned: BTreeMap<(String, String), Owned> = BTreeMap::new();
    let mut endpoints = BTreeSet::new();
    let mut left = Vec::new();
    let mut pending = Vec::new();
    for found in kinds::tagged_with_run(clients.resources(), &run_id).await? {
        if let Some(endpoint) = found.endpoint {
            endpoints.insert(endpoint.trim_end_matches('.').to_ascii_lowercase());
        }
        owned.insert(
            (found.owned.kind.clone(), found.owned.id.clone()),
            found.owned,
        );
    }
    // what the last pass left deleting is looked at again (a terminated instance or a deleted
    // database no longer shows up by tag). The previous pass is step input: an id in it is
    // only acted on if it still carries this run's tag; one that is gone counts as deleted.
    let mut confirmed_gone = Vec::new();
    for item in previous.iter().flat_map(|p| &p.pending) {
        let key = (item.owned.kind.clone(), item.owned.id.clone());
        if owned.contains_key(&key) || item.owned.kind == "restore-job" || item.owned.kind == STACK
        {
            continue;
        }
        match kinds::run_tag_of_owned(clients.resources(), &item.owned).await? {
            kinds::Tagged::Gone => confirmed_gone.push(item.owned.clone()),
            kinds::Tagged::With(tag) if tag == run_id => {
                owned.insert(key, item.owned.clone());
            }
            _ => {
                tracing::warn!(id = %item.owned.id, "a pending item of the previous pass is not this run's: left alone")
            }
        }
    }
    // what earlier passes deleted: their jobs need no second look
    let deleted_before: BTreeSet<(String, String)> = previous
        .iter()
        .flat_map(|p| &p.deleted)
        .map(|o| (o.kind.clone(), o.id.clone()))
        .collect();
    let mut out_of_time = false;
    for job in &stored_jobs {
        // a restored resource already found by its tag, or deleted by an earlier pass, needs
        // no look at its job
        let known = job
            .created_resource_arn
            .as_deref()
            .and_then(|arn| Owned::restored(&job.kind, arn, None))
            .is_some_and(|o| {
                let key = (o.kind, o.id);
                owned.contains_key(&key) || deleted_before.contains(&key)
            });
        if known {
            continue;
        }
        if !time_left(deadline) {
            out_of_time = true;
            break;
        }
        let job_id = &job.restore_job_id;
        match restored_by_job(clients, job_id, &run_id).await? {
            JobResource::Owned(resource) => {
                owned
                    .entry((resource.kind.clone(), resource.id.clone()))
                    .or_insert(resource);
            }
            JobResource::Running(status) => pending.push(Leftover {
                owned: Owned {
                    kind: "restore-job".into(),
                    id: job_id.clone(),
                    resource: None,
                },
                reason: format!(
                    "restore job still {status}: what it creates is deleted once it exists (AWS Backup cannot cancel a restore)"
                ),
            }),
            JobResource::Other(reason) => {
                if let Some(reason) = reason {
                    tracing::warn!(job = %job_id, %reason, "restored resource not torn down");
                }
            }
            JobResource::Kept(resource, reason) => left.push(Leftover {
                owned: resource,
                reason,
            }),
        }
    }

    let mut deleted: Vec<Owned> = previous
        .as_ref()
        .map(|p| p.deleted.clone())
        .unwrap_or_default();
    for gone in confirmed_gone {
        push_unique(&mut deleted, gone);
    }
    // drill records first: they point at the instances and databases deleted next
    if let Some(run) = run.as_ref().filter(|r| r.mode == Mode::Drill) {
        for record in &run.plan.dns {
            let name = Owned {
                kind: "dns-record".into(),
                id: record.drill_record_name.clone(),
                resource: None,
            };
            let removal = remove_drill_record(&clients.route53, record, &endpoints).await?;
            file(removal, name, &mut deleted, &mut pending, &mut left);
        }
    }
    // one deletion after the other while the invocation has time; the rest are found again
    // (by tag) in the next pass
    for resource in owned.into_values() {
        if !time_left(deadline) {
            out_of_time = true;
            break;
        }
        let removal = kinds::remove(clients.resources(), &resource).await?;
        file(removal, resource, &mut deleted, &mut pending, &mut left);
    }
    // a drill's own network stack goes last: what ran inside it must be gone first, or
    // CloudFormation could not delete its subnets and security groups
    let network: Option<NetworkState> = clients.store.get(&execution, Part::Network).await?;
    let mode = run.as_ref().map(|r| r.mode);
    if let Some(network) = network.filter(|n| mode.is_some_and(|m| n.deleted_by_teardown(m))) {
        let stack = Owned {
            kind: STACK.into(),
            id: network.stack_name.clone(),
            resource: None,
        };
        if pending.is_empty() && !out_of_time {
            let run_id = RunId::try_from(run_id.clone())
                .map_err(|err| BackstopError::invalid_input("runId", err.to_string()))?;
            let removal =
                match network::remove_drill_stack(&clients.cloudformation, &network, &run_id)
                    .await?
                {
                    StackRemoval::Gone => Removal::Gone,
                    StackRemoval::Pending(why) => Removal::Pending(why),
                    StackRemoval::Kept(why) => Removal::Kept(why),
                };
            file(removal, stack, &mut deleted, &mut pending, &mut left);
        } else {
            pending.push(Leftover {
                owned: stack,
                reason: "deleted once the run's resources inside it are gone".into(),
            });
        }
    }

    let started_at = previous
        .as_ref()
        .map(|p| p.started_at.clone())
        .unwrap_or_else(|| format_time(now));
    let began = DateTime::from_str(&started_at, Format::DateTime).unwrap_or(now);
    if !pending.is_empty() && now.secs() - began.secs() > TEARDOWN_BOUND_SECONDS {
        for item in pending.drain(..) {
            left.push(Leftover {
                reason: format!("{} for more than 2 hours: check it by hand", item.reason),
                owned: item.owned,
            });
        }
    }
    let outcome = TeardownOutcome {
        run_id,
        finished: pending.is_empty() && !out_of_time,
        started_at,
        rounds: previous.as_ref().map_or(0, |p| p.rounds) + 1,
        deleted,
        pending,
        left,
    };
    tracing::info!(
        deleted = outcome.deleted.len(),
        pending = outcome.pending.len(),
        left = outcome.left.len(),
        finished = outcome.finished,
        "teardown pass"
    );
    clients
        .store
        .put(&execution, Part::Teardown, &outcome)
        .await?;
    Ok(outcome)
}

/// Files one removal's outcome under deleted, pending or left.
fn file(
    removal: Removal,
    owned: Owned,
    deleted: &mut Vec<Owned>,
    pending: &mut Vec<Leftover>,
    left: &mut Vec<Leftover>,
) {
    match removal {
        Removal::Gone => push_unique(deleted, owned),
        Removal::Pending(reason) => pending.push(Leftover { owned, reason }),
        Removal::Kept(reason) => left.push(Leftover { owned, reason }),
    }
}

fn push_unique(list: &mut Vec<Owned>, item: Owned) {
    if !list.iter().any(|o| o.kind == item.kind && o.id == item.id) {
        list.push(item);
    }
}

enum JobResource {
    Owned(Owned),
    Running(String),
    /// Restored, but carries another run's tag.
    Kept(Owned, String),
    /// Nothing to delete (the job failed, or created nothing).
    Other(Option<String>),
}

/// What one of the run's restore jobs created, if it is the run's to delete.
async fn restored_by_job(
    clients: &TeardownClients,
    job_id: &str,
    run_id: &str,
) -> Result<JobResource, BackstopError> {
    let job = match clients
        .backup
        .describe_restore_job()
        .restore_job_id(job_id)
        .send()
        .await
    {
        Ok(job) => job,
        Err(err) => {
            return match classify_sdk_error(format!("describing restore job {job_id}"), err) {
                BackstopError::NotFound { .. } => Ok(JobResource::Other(None)),
                other => Err(other),
            }
        }
    };
    let status = job.status().map(|s| s.as_str()).unwrap_or_default();
    if matches!(status, "PENDING" | "RUNNING" | "CREATED") {
        return Ok(JobResource::Running(status.to_string()));
    }
    let (Some(arn), Some(resource_type)) = (job.created_resource_arn(), job.resource_type()) else {
        return Ok(JobResource::Other(None));
    };
    let kind = ResourceKind::from_backup_resource_type(resource_type);
    let Some(resource) = Owned::restored(&kind, arn, None) else {
        return Ok(JobResource::Other(Some(format!(
            "{arn}: resource type {resource_type} is not one Backstop restores"
        ))));
    };
    match kinds::run_tag_of(clients.resources(), &kind, arn).await {
        Ok(Some(other)) if other != run_id => Ok(JobResource::Kept(
            resource,
            format!("restored by this run's job {job_id} but tagged for run {other}: left alone"),
        )),
        Ok(Some(_)) => Ok(JobResource::Owned(resource)),
        Ok(None) => {
            // restored after its branch was cancelled: tag it now, so it is accounted for
            // (and the teardown role, limited to tagged resources, may delete it)
            let tags = [(RUN_ID.to_string(), run_id.to_string())];
            let action = format!("tagging {arn} (restored by job {job_id}) for teardown");
            match kinds::tag(clients.resources(), &kind, arn, &tags, action).await {
                Ok(()) | Err(BackstopError::NotFound { .. }) => Ok(JobResource::Owned(resource)),
                Err(other) => Err(other),
            }
        }
        // deleted already
        Err(BackstopError::NotFound { .. }) => Ok(JobResource::Owned(resource)),
        Err(other) => Err(other),
    }
}
