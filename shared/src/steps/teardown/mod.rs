//! Teardown: delete exactly what a run created, and say what could not be deleted.
//!
//! Gather, decide, execute. What may be the run's is gathered two ways: by the run-id tag
//! (instances, volumes, DB instances, file systems), and by the run's own restore jobs as AWS
//! Backup reports them (jobs the run stored, created since the run started, restoring one of
//! its recovery points under the stack's restore role): a resource restored after its branch
//! was cancelled carries no tag yet. [`decide::decide`] then says, from those facts alone,
//! what is deleted and what is refused (and why); nothing else is ever deleted. One invocation
//! makes one pass (start or check each deletion) and returns; the state machine calls it
//! again until nothing is pending.

use std::collections::{BTreeMap, BTreeSet};

use aws_smithy_types::date_time::Format;
use aws_smithy_types::DateTime;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::aws::batch::in_batches;
use crate::aws::cloudformation::{self, StackRemoval};
use crate::aws::store::{Part, RunStore};
use crate::aws::tags::run_tags;
use crate::aws::wait::work_deadline;
use crate::aws::Clients;
use crate::error::BackstopError;
use crate::kinds::{self, Owned, OwnedKind, Removal};
use crate::model::jobs::RestoreJob;
use crate::model::network::NetworkState;
use crate::model::rounds::TEARDOWN_BOUND_SECONDS;
use crate::model::run::ResolvedRun;
use crate::model::run::{Mode, RunId};
use crate::model::time::format_time;
use crate::plan::ResourceKind;
use crate::steps::failback::capture::CaptureState;
use crate::steps::failback::copies::remove_home_copy;
use crate::steps::restore::{describe_restore_job, hydration, restore_jobs_since};
use crate::steps::switch_dns::records::remove_drill_record;
use crate::steps::{Invocation, NamesRun};

pub mod decide;

pub use decide::Leftover;
use decide::{Action, Candidate, Origin, Refusal, RunFacts};

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

/// One pass of the teardown of `request.run_id`: gather what may be the run's, decide
/// ([`decide::decide`]), then delete what the decision allows.
pub async fn teardown(
    clients: &Clients,
    store: &RunStore,
    request: TeardownRequest,
    now: DateTime,
    deadline: Option<std::time::SystemTime>,
) -> Result<TeardownOutcome, BackstopError> {
    let requested = request.run_id.as_str().to_string();
    // the run's state is stored under its execution's name (the ARN's last part)
    let execution = match &request.execution_arn {
        Some(arn) => arn.rsplit(':').next().unwrap_or_default().to_string(),
        None => requested.clone(),
    };
    let execution = RunId::try_from(execution)
        .map_err(|err| BackstopError::invalid_input("executionArn", err.to_string()))?;
    let stored: Option<Value> = store.get(&execution, Part::Run).await?;
    // the loop's previous pass, as it stored itself (a first pass, or one by hand, has none)
    let previous: Option<TeardownOutcome> = match request.previous.as_ref() {
        Some(summary) if !summary.is_null() => store.get(&execution, Part::Teardown).await?,
        _ => None,
    };
    let run: Option<ResolvedRun> = stored
        .clone()
        .and_then(|value| serde_json::from_value(value).ok());
    // read from the raw state too: a run whose plan no longer parses is still a failover
    let stored_failover = matches!(
        stored
            .as_ref()
            .and_then(|value| value.get("mode"))
            .and_then(|mode| mode.as_str()),
        Some("failover" | "failback")
    );
    // a failback's resources are in the region it recovered in (the primary), and a failover's
    // into another account in that account
    let elsewhere = match &run {
        Some(r) => {
            let region = r.failback.as_ref().map(|_| r.plan.dr_region.as_str());
            clients
                .for_run(region, r.recovers_into(), r.run_id.as_str())
                .await?
        }
        None => None,
    };
    let stack_clients = clients;
    let clients = elsewhere.as_ref().unwrap_or(clients);
    // a resumed run tags with the run id of the run it resumes
    let run_id = run
        .as_ref()
        .map(|r| r.run_id.as_str().to_string())
        .unwrap_or_else(|| requested.clone());
    let facts = run.as_ref().map(|r| RunFacts {
        run_id: run_id.clone(),
        mode: r.mode,
        started_at: DateTime::from_str(&r.started_at, Format::DateTime)
            .map(|t| t.secs())
            .unwrap_or(i64::MAX),
    });

    let mut left = Vec::new();
    let mut pending = Vec::new();
    let deleted_before: BTreeSet<(OwnedKind, String)> = previous
        .iter()
        .flat_map(|p| &p.deleted)
        .map(|o| (o.kind, o.id.clone()))
        .collect();
    let mut deleted: Vec<Owned> = previous
        .as_ref()
        .map(|p| p.deleted.clone())
        .unwrap_or_default();

    // what AWS Backup says the run's restore jobs created
    let restored = match (&run, &facts) {
        (Some(run), Some(facts)) => {
            restored_by_run(
                clients,
                store,
                &execution,
                run,
                facts,
                deadline,
                &mut pending,
            )
            .await?
        }
        _ => BTreeMap::new(),
    };
    // everything tagged with the run, and what the run restored that carries no tag yet
    let mut candidates: BTreeMap<(OwnedKind, String), Candidate> = BTreeMap::new();
    let mut endpoints: BTreeMap<(OwnedKind, String), String> = BTreeMap::new();
    for found in kinds::tagged_with_run(clients, &run_id).await? {
        let key = (found.owned.kind, found.owned.id.clone());
        if let Some(endpoint) = &found.endpoint {
            endpoints.insert(
                key.clone(),
                endpoint.trim_end_matches('.').to_ascii_lowercase(),
            );
        }
        let origin = match restored.get(&key) {
            Some(job) => job.origin.clone(),
            None if found.launched_by_run => Origin::Launched,
            None => Origin::Unproven,
        };
        let mut owned = found.owned;
        // claimed in bulk with the run's other restores: its plan entry is the job's
        if owned.resource.is_none() {
            owned.resource = restored.get(&key).map(|job| job.resource.clone());
        }
        candidates.insert(
            key,
            Candidate {
                owned,
                run_tag: Some(run_id.clone()),
                mode_tag: found.mode,
                created: found.created,
                origin,
            },
        );
    }
    // what the run restored and no tag shows: whose it is now, a few at a time while the
    // invocation has time (the rest are looked at in the next pass)
    let untagged: Vec<_> = restored
        .iter()
        .filter(|(key, _)| !candidates.contains_key(*key) && !deleted_before.contains(*key))
        .collect();
    // each read by the resource itself, not by its tags: a resource deleted by a pass whose
    // outcome was lost is gone, not untagged
    let looks = in_batches(
        untagged,
        deadline,
        |(key, job)| async move { (key, job, kinds::run_tag_of_owned(clients, &job.owned).await) },
        |(_, _, answer)| answer.is_err(),
    )
    .await;
    let mut out_of_time = looks.out_of_time;
    for (key, job, answer) in looks.answers {
        let run_tag = match answer {
            // restored, and deleted already
            Ok(kinds::Tagged::Gone) => {
                push_unique(&mut deleted, job.owned.clone());
                continue;
            }
            Ok(kinds::Tagged::With(tag)) => Some(tag),
            Ok(kinds::Tagged::Untagged) => None,
            Err(err) if err.is_transient() => {
                pending.push(left_for_next_pass(&job.owned, &err));
                continue;
            }
            Err(other) => return Err(other),
        };
        candidates.insert(
            key.clone(),
            Candidate {
                owned: job.owned.clone(),
                run_tag,
                mode_tag: None,
                created: None,
                origin: job.origin.clone(),
            },
        );
    }
    if !looks.out_of_time {
        pending.extend(looks.not_reached.into_iter().map(|(_, job)| Leftover {
            owned: job.owned.clone(),
            reason: "not looked at in this pass (stopped at a throttled or failed call): looked at in the next".into(),
        }));
    }
    // what the last pass left deleting and no longer shows up by tag (a terminated instance,
    // a deleted database) is gone; an id there that is not this run's is left alone
    let unseen: Vec<&Leftover> = previous
        .iter()
        .flat_map(|p| &p.pending)
        .filter(|item| {
            let key = (item.owned.kind, item.owned.id.clone());
            !candidates.contains_key(&key)
                && item.owned.kind != OwnedKind::RestoreJob
                && item.owned.kind != OwnedKind::Stack
        })
        .collect();
    let checks = in_batches(
        unseen,
        deadline,
        |item| async move { (item, kinds::run_tag_of_owned(clients, &item.owned).await) },
        |(_, answer)| answer.is_err(),
    )
    .await;
    out_of_time |= checks.out_of_time;
    for (item, answer) in checks.answers {
        match answer {
            Ok(kinds::Tagged::Gone) => push_unique(&mut deleted, item.owned.clone()),
            Ok(kinds::Tagged::With(tag)) if tag == run_id => {
                push_unique(&mut deleted, item.owned.clone())
            }
            Err(err) if err.is_transient() => pending.push(item.clone()),
            Err(other) => return Err(other),
            Ok(_) => {
                tracing::warn!(id = %item.owned.id, "a pending item of the previous pass is not this run's: left alone")
            }
        }
    }
    // not looked at in this pass: still pending, looked at in the next
    pending.extend(checks.not_reached.into_iter().cloned());

    let candidates: Vec<Candidate> = candidates.into_values().collect();
    let decision = decide::decide(
        facts.as_ref(),
        stored_failover,
        request.allow_failover,
        &candidates,
    )
    .map_err(|refusal| refused(&requested, refusal))?;
    left.extend(decision.refused);
    let mode = run.as_ref().map(|r| r.mode);

    // drill records first: they point at the instances and databases deleted next
    if let Some(run) = run.as_ref().filter(|r| r.mode == Mode::Drill) {
        let ours: BTreeSet<String> = decision
            .delete
            .iter()
            .filter_map(|(owned, _)| endpoints.get(&(owned.kind, owned.id.clone())))
            .cloned()
            .collect();
        for record in &run.plan.dns {
            let name = Owned {
                kind: OwnedKind::DnsRecord,
                id: record.drill_record_name.clone(),
                resource: None,
            };
            // a record never written (or deleted by an earlier pass) is not counted again
            if let Some(removal) =
                remove_drill_record(&clients.route53, &run.plan.name, record, &ours).await?
            {
                file(removal, name, &mut deleted, &mut pending, &mut left);
            }
        }
    }
    // a few deletions at a time while the invocation has time; the rest are found again (by
    // tag) in the next pass
    let deletions = in_batches(
        decision.delete,
        deadline,
        |(resource, action)| {
            let restored = &restored;
            let (run, facts) = (run.as_ref(), facts.as_ref());
            async move {
                let removal = delete_one(clients, restored, run, facts, &resource, action).await;
                (resource, removal)
            }
        },
        |(_, removal)| removal.is_err(),
    )
    .await;
    out_of_time |= deletions.out_of_time;
    for (resource, removal) in deletions.answers {
        match removal {
            Ok(Some(removal)) => file(removal, resource, &mut deleted, &mut pending, &mut left),
            Ok(None) => {}
            // throttled (EC2 refills a few DeleteVolume calls a second): no new deletion
            // started after it, and the next pass goes on where this one stopped
            Err(err) if err.is_transient() => pending.push(left_for_next_pass(&resource, &err)),
            Err(other) => return Err(other),
        }
    }
    if !deletions.out_of_time {
        pending.extend(
            deletions
                .not_reached
                .into_iter()
                .map(|(owned, _)| Leftover {
                    owned,
                    reason:
                        "not deleted in this pass (stopped at a throttled or failed call): deleted in the next"
                            .into(),
                }),
        );
    }
    // fast snapshot restore the run turned on (and still has on) goes off: it is billed per hour
    if let Ok(run_key) = RunId::try_from(run_id.clone()) {
        let records = hydration::release(&clients.ec2, store, &run_key, &[], true).await?;
        for record in records.iter().filter(|r| r.owned && r.state != "refused") {
            let owned = Owned {
                kind: OwnedKind::FastSnapshotRestore,
                id: format!("{}/{}", record.snapshot_id, record.availability_zone),
                resource: Some(record.resource.clone()),
            };
            push_unique(&mut deleted, owned);
        }
    }
    // a drill of the way home made copies in the home vault: each deleted once proven its own
    if let Some(run) = run
        .as_ref()
        .filter(|r| r.mode == Mode::Drill && r.failback.is_some())
    {
        let capture: CaptureState = store
            .get(&execution, Part::Capture)
            .await?
            .unwrap_or_default();
        for copy in &capture.resources {
            let Some(point) = &copy.home_recovery_point_arn else {
                continue;
            };
            let owned = Owned {
                kind: OwnedKind::RecoveryPoint,
                id: point.clone(),
                resource: Some(copy.resource.clone()),
            };
            if deleted_before.contains(&(owned.kind, owned.id.clone())) {
                continue;
            }
            let removal =
                remove_home_copy(&stack_clients.backup, &clients.backup, run, copy).await?;
            file(removal, owned, &mut deleted, &mut pending, &mut left);
        }
    }
    // a drill's own network stack goes last: what ran inside it must be gone first, or
    // CloudFormation could not delete its subnets and security groups
    let network: Option<NetworkState> = store.get(&execution, Part::Network).await?;
    if let Some(network) = network.filter(|n| mode.is_some_and(|m| n.deleted_by_teardown(m))) {
        let stack = Owned {
            kind: OwnedKind::Stack,
            id: network.stack_name.clone(),
            resource: None,
        };
        if pending.is_empty() && !out_of_time {
            let run_id = RunId::try_from(run_id.clone())
                .map_err(|err| BackstopError::invalid_input("runId", err.to_string()))?;
            let removal = match cloudformation::remove_drill_stack(
                &clients.cloudformation,
                &network,
                &run_id,
            )
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
    // a pass cut short by its deadline gives up on nothing: what it did not reach is looked
    // at in the next pass, and only a whole pass past the bound reports what is still pending
    if !pending.is_empty() && !out_of_time && now.secs() - began.secs() > TEARDOWN_BOUND_SECONDS {
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
    store.put(&execution, Part::Teardown, &outcome).await?;
    Ok(outcome)
}

/// The error of a teardown that refuses the whole run.
fn refused(run_id: &str, refusal: Refusal) -> BackstopError {
    match refusal {
        Refusal::Failover(why) => BackstopError::invalid_input(
            "allowFailover",
            format!(
                "run {run_id} is a failover or failback ({why}): its resources may be serving production. Nothing was deleted; set allowFailover to true to delete them (databases keep a final snapshot)"
            ),
        ),
        Refusal::NoState(tagged) => BackstopError::invalid_input(
            "runId",
            format!(
                "run {run_id} has no stored state (never ran under this name, the executionArn names another execution, or its state expired): teardown deletes only what it can prove a run created, so the {tagged} resources tagged backstop:run-id={run_id} were left alone; delete them by hand if they are not production's"
            ),
        ),
    }
}

/// A resource one of the run's restore jobs created, as AWS Backup reports it.
struct RestoredByJob {
    owned: Owned,
    kind: ResourceKind,
    arn: String,
    job_id: String,
    /// The plan entry it was restored for.
    resource: String,
    origin: Origin,
}

/// What the run's restore jobs created, by AWS Backup's own record (the jobs created since the
/// run started, restoring the run's recovery points). A job still running is pending.
async fn restored_by_run(
    clients: &Clients,
    store: &RunStore,
    execution: &RunId,
    run: &ResolvedRun,
    facts: &RunFacts,
    deadline: Option<std::time::SystemTime>,
    pending: &mut Vec<Leftover>,
) -> Result<BTreeMap<(OwnedKind, String), RestoredByJob>, BackstopError> {
    // every restore job the run started, as its steps stored them (a branch cancelled by a
    // failure still stored the jobs it started: its last invocation ran to the end)
    let stored_jobs: Vec<RestoreJob> = store
        .get(execution, Part::Restore)
        .await?
        .unwrap_or_default();
    let mut restored = BTreeMap::new();
    if stored_jobs.is_empty() {
        return Ok(restored);
    }
    let mut listed =
        restore_jobs_since(&clients.backup, DateTime::from_secs(facts.started_at)).await?;
    let recovery_points: BTreeSet<&str> = run
        .restores
        .iter()
        .map(|r| r.recovery_point_arn.as_str())
        .collect();
    // not in the listing (listing lag, or not this run's): asked of AWS Backup directly
    let unlisted: Vec<&RestoreJob> = stored_jobs
        .iter()
        .filter(|job| !listed.contains_key(&job.restore_job_id))
        .collect();
    let described = in_batches(
        unlisted,
        deadline,
        |job| async move {
            let seen = describe_restore_job(&clients.backup, &job.restore_job_id).await;
            (job, seen)
        },
        |(_, seen)| seen.as_ref().is_err_and(|err| !is_not_found(err)),
    )
    .await;
    for (job, seen) in described.answers {
        match seen {
            Ok(seen) => {
                listed.insert(job.restore_job_id.clone(), seen);
            }
            Err(BackstopError::NotFound { .. }) => {}
            Err(other) => return Err(other),
        }
    }
    // what a job not looked at yet created is not known: the teardown is not finished
    for job in described.not_reached {
        pending.push(Leftover {
            owned: Owned {
                kind: OwnedKind::RestoreJob,
                id: job.restore_job_id.clone(),
                resource: None,
            },
            reason: "not looked at yet: looked at in the next pass".into(),
        });
    }
    for job in &stored_jobs {
        let job_id = &job.restore_job_id;
        let Some(seen) = listed.remove(job_id) else {
            continue;
        };
        let of_run = seen
            .recovery_point_arn
            .as_deref()
            .is_some_and(|arn| recovery_points.contains(arn));
        let by_stack = match (&clients.settings.restore_role_arn, &seen.iam_role_arn) {
            (Some(ours), Some(used)) => ours == used,
            (Some(_), None) => false,
            (None, _) => true,
        };
        if !of_run || !by_stack {
            tracing::warn!(job = %job_id, role = ?seen.iam_role_arn, "a stored restore job is not one the run started (another recovery point, or another role): not the run's");
            continue;
        }
        if seen.status.is_pending() {
            pending.push(Leftover {
                owned: Owned {
                    kind: OwnedKind::RestoreJob,
                    id: job_id.clone(),
                    resource: None,
                },
                reason: format!(
                    "restore job still {}: what it creates is deleted once it exists (AWS Backup cannot cancel a restore)",
                    seen.status
                ),
            });
            continue;
        }
        let (Some(arn), Some(resource_type)) = (seen.created_resource_arn, seen.resource_type)
        else {
            continue;
        };
        let kind = ResourceKind::from_backup_resource_type(&resource_type);
        let Some(owned) = Owned::restored(&kind, &arn, Some(job.resource.clone())) else {
            tracing::warn!(%arn, %resource_type, "not a resource type Backstop restores");
            continue;
        };
        let origin = Origin::Restored {
            job_id: job_id.clone(),
            job_created: seen.created.map_or(i64::MIN, |t| t.secs()),
        };
        restored.insert(
            (owned.kind, owned.id.clone()),
            RestoredByJob {
                owned,
                kind,
                arn,
                job_id: job_id.clone(),
                resource: job.resource.clone(),
                origin,
            },
        );
    }
    Ok(restored)
}

/// Deletes one resource the decision allows; a resource restored after its branch was
/// cancelled is tagged first, like everything the run creates, so it is accounted for (and the
/// teardown role may delete it). None: nothing to do for it here.
async fn delete_one(
    clients: &Clients,
    restored: &BTreeMap<(OwnedKind, String), RestoredByJob>,
    run: Option<&ResolvedRun>,
    facts: Option<&RunFacts>,
    resource: &Owned,
    action: Action,
) -> Result<Option<Removal>, BackstopError> {
    let final_snapshot = match action {
        Action::Delete { final_snapshot } => final_snapshot,
        Action::TagThenDelete => {
            let key = (resource.kind, resource.id.clone());
            let (Some(job), Some(run), Some(facts)) = (restored.get(&key), run, facts) else {
                return Ok(None);
            };
            let run_id = RunId::try_from(facts.run_id.clone())?;
            let tags = run_tags(&run_id, facts.mode, &run.plan.name, &job.resource);
            let action = format!(
                "tagging {} (restored by job {}) for teardown",
                job.arn, job.job_id
            );
            match kinds::tag(clients, &job.kind, &job.arn, &tags, action).await {
                Ok(()) | Err(BackstopError::NotFound { .. }) => false,
                Err(other) => return Err(other),
            }
        }
    };
    kinds::remove(clients, resource, final_snapshot)
        .await
        .map(Some)
}

/// What a pass leaves for the next because AWS answered a transient error (throttling).
fn left_for_next_pass(owned: &Owned, err: &BackstopError) -> Leftover {
    Leftover {
        owned: owned.clone(),
        reason: format!("looked at again in the next pass: {err}"),
    }
}

fn is_not_found(err: &BackstopError) -> bool {
    matches!(err, BackstopError::NotFound { .. })
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

/// `TeardownFunction`: one pass of deleting what a run created.
pub async fn run(
    clients: &Clients,
    request: TeardownRequest,
    invocation: &Invocation,
) -> Result<TeardownSummary, BackstopError> {
    let now = DateTime::from(std::time::SystemTime::now());
    let deadline = Some(work_deadline(invocation.deadline));
    let store = clients.store()?;
    Ok(teardown(clients, &store, request, now, deadline)
        .await?
        .summary())
}

impl NamesRun for TeardownRequest {
    fn run_id(&self) -> Option<&str> {
        Some(self.run_id.as_str())
    }
}
