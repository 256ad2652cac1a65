//! Fast snapshot restore (FSR) around a run's EBS restores. A volume restored from a snapshot
//! loads each block from S3 on its first read (it is slow until every block was read once);
//! restored from a snapshot with FSR `enabled` in its AZ, it has its full performance at once.
//! AWS Backup's EBS restores take no volume initialization rate, but they create the volume
//! from the copy's snapshot, so FSR on that snapshot applies to them.
//!
//! For each resource the plan marks `fastSnapshotRestore`: before its restore the run enables
//! FSR on the DR copy in the restore's AZ (unless it is on already: then it is not the run's),
//! holds the restore until FSR is `enabled`, and once the restore job has ended disables what
//! it enabled (FSR is billed per hour). Teardown disables whatever the run still has on.
//! What the run enabled is recorded under the run id (before the call), so a resumed run and
//! teardown know what is theirs: FSR carries no tags.

use std::collections::{HashMap, HashSet};

use crate::aws::fast_restore::{self, snapshot_of, FastRestore, FsrSeen, ON};
use crate::aws::store::{key, Part, RunStore};
use crate::error::BackstopError;
use crate::model::jobs::{RestoreItem, RestoreJob};
use crate::model::run::{ResolvedRun, RunId};
use crate::plan::EbsRestore;

/// A restore the plan wants with FSR: its resource, the copy's snapshot and the AZ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Wanted {
    pub resource: String,
    pub snapshot_id: String,
    pub zone: String,
}

/// The restores due this round that the plan wants with FSR.
pub(super) fn wanted<'r>(
    run: &ResolvedRun,
    due: impl Iterator<Item = &'r RestoreItem>,
) -> Vec<Wanted> {
    // by name, once: a round at 3,000 resources asks for each due item
    let fast: HashMap<&str, &EbsRestore> = run
        .plan
        .resources
        .iter()
        .filter_map(|r| Some((r.name.as_str(), r.ebs.as_ref()?)))
        .filter(|(_, ebs)| ebs.fast_snapshot_restore)
        .collect();
    if fast.is_empty() {
        return Vec::new();
    }
    due.filter_map(|item| {
        let ebs = *fast.get(item.resource.as_str())?;
        Some(Wanted {
            resource: item.resource.clone(),
            snapshot_id: snapshot_of(&item.recovery_point_arn)?.to_string(),
            zone: ebs.availability_zone.clone()?,
        })
    })
    .collect()
}

/// This round's FSR decision.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Decision {
    /// Pairs to enable now (their records, `owned`, are written first).
    pub enable: Vec<(String, String)>,
    /// Resources whose restore waits for FSR.
    pub held: HashSet<String>,
}

/// Updates `records` with the states seen and decides what to enable and which restores wait.
/// A pair on before the run is used, not owned; one the run asked for that went off before it
/// was `enabled` (refused, disabled by someone) is given up: the restore goes ahead without it.
pub(super) fn decide(
    records: &mut Vec<FastRestore>,
    wanted: &[Wanted],
    seen: &HashMap<(String, String), FsrSeen>,
) -> Decision {
    let mut decision = Decision::default();
    for want in wanted {
        let pair = (want.snapshot_id.clone(), want.zone.clone());
        let found = seen.get(&pair);
        let state = found.map(|f| f.state.clone());
        let existing = records.iter_mut().find(|r| {
            r.resource == want.resource
                && r.snapshot_id == want.snapshot_id
                && r.availability_zone == want.zone
        });
        let record = match existing {
            Some(record) => record,
            None => {
                let on = state.as_deref().is_some_and(|s| ON.contains(&s));
                records.push(FastRestore {
                    resource: want.resource.clone(),
                    snapshot_id: want.snapshot_id.clone(),
                    availability_zone: want.zone.clone(),
                    owned: !on,
                    state: state
                        .clone()
                        .filter(|_| on)
                        .unwrap_or_else(|| "requested".into()),
                    released: false,
                    gave_up: None,
                    enabled_at: None,
                });
                let record = records.last_mut().expect("just pushed");
                if !on {
                    decision.enable.push(pair);
                    decision.held.insert(want.resource.clone());
                    continue;
                }
                record
            }
        };
        if record.gave_up.is_some() {
            continue;
        }
        match state.as_deref() {
            Some(now) if ON.contains(&now) => {
                // enabled by the run's call, whose answer was not recorded: EC2's time is it
                if record.owned && record.enabled_at.is_none() {
                    record.enabled_at = found.and_then(|f| f.enabled_at.clone());
                }
                record.state = now.to_string();
            }
            // asked for (the record written) but the call never made it: ask again
            _ if record.state == "requested" => {
                decision.enable.push(pair);
                decision.held.insert(want.resource.clone());
                continue;
            }
            other => {
                let now = other.unwrap_or("gone");
                record.gave_up = Some(format!(
                    "fast snapshot restore on {} in {} went {now} before it was enabled",
                    record.snapshot_id, record.availability_zone
                ));
                record.state = now.to_string();
            }
        }
        if !record.ready() {
            decision.held.insert(want.resource.clone());
        }
    }
    decision
}

/// Where the run keeps its FSR records: under the run id, shared by its executions (a resumed
/// run disables what the run it resumes enabled).
fn records_key(run_id: &RunId) -> String {
    key(run_id, Part::FastRestore)
}

/// What the run did with FSR so far.
pub async fn records(store: &RunStore, run_id: &RunId) -> Result<Vec<FastRestore>, BackstopError> {
    Ok(store
        .get_at(&records_key(run_id))
        .await?
        .unwrap_or_default())
}

/// Before this round's restores start: enables FSR where the plan wants it and returns the
/// resources whose restore waits for it: until FSR is `enabled`, and then until its credit
/// bucket (empty when FSR is enabled, filling at up to 10 credits an hour) holds a credit for
/// the volume, or the volume would be created without FSR all the same.
pub(super) async fn prepare(
    ec2: &aws_sdk_ec2::Client,
    cloudwatch: &aws_sdk_cloudwatch::Client,
    store: &RunStore,
    run_id: &RunId,
    wanted: &[Wanted],
) -> Result<HashSet<String>, BackstopError> {
    if wanted.is_empty() {
        return Ok(HashSet::new());
    }
    let mut records = records(store, run_id).await?;
    let before = records.clone();
    let snapshots: Vec<String> = wanted.iter().map(|w| w.snapshot_id.clone()).collect();
    let seen = fast_restore::states(ec2, &snapshots).await?;
    let decision = decide(&mut records, wanted, &seen);
    if records != before {
        // what the run is about to enable is its own from here on
        store.put_at(&records_key(run_id), &records).await?;
    }
    let mut held = decision.held;
    for want in wanted {
        if held.contains(&want.resource) {
            continue;
        }
        let enabled = records
            .iter()
            .any(|r| r.resource == want.resource && r.state == "enabled" && r.gave_up.is_none());
        if !enabled {
            continue;
        }
        // no datapoint (not published yet, or not readable): the restore goes ahead, and the
        // report says whether the volume got FSR
        if let Some(balance) =
            fast_restore::credits(cloudwatch, &want.snapshot_id, &want.zone).await?
        {
            if balance < 1.0 {
                tracing::info!(resource = %want.resource, balance, "fast snapshot restore enabled; waiting for a volume creation credit");
                held.insert(want.resource.clone());
            }
        }
    }
    if decision.enable.is_empty() {
        return Ok(held);
    }
    for (snapshot, zone) in &decision.enable {
        let answer = fast_restore::enable(ec2, snapshot, zone).await?;
        for record in records.iter_mut().filter(|r| {
            &r.snapshot_id == snapshot && &r.availability_zone == zone && r.gave_up.is_none()
        }) {
            match &answer {
                Ok(fsr) => {
                    tracing::info!(resource = %record.resource, snapshot, zone, state = %fsr.state, "fast snapshot restore enabled");
                    record.state = fsr.state.clone();
                    record.enabled_at = fsr.enabled_at.clone();
                }
                Err(refused) => {
                    tracing::warn!(resource = %record.resource, snapshot, zone, "fast snapshot restore refused: {refused}; restoring without it");
                    record.gave_up = Some(format!(
                        "EC2 refused fast snapshot restore on {snapshot} in {zone}: {refused}"
                    ));
                    record.state = "refused".into();
                    // nothing went on: nothing to disable
                    record.released = true;
                    held.remove(&record.resource);
                }
            }
        }
    }
    store.put_at(&records_key(run_id), &records).await?;
    Ok(held)
}

/// The records the run must still disable, given its jobs: every one when `all` (teardown),
/// else those whose resource's restore has ended (its volume exists, or it failed).
fn to_release<'a>(
    records: &'a [FastRestore],
    jobs: &[RestoreJob],
    all: bool,
) -> Vec<&'a FastRestore> {
    records
        .iter()
        .filter(|r| r.owned && !r.released)
        .filter(|r| {
            all || jobs
                .iter()
                .filter(|job| job.resource == r.resource)
                .max_by_key(|job| job.attempt)
                .is_some_and(RestoreJob::is_finished)
        })
        .collect()
}

/// What to do with an FSR the run's record says it enabled, given what EC2 says of it now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Release {
    /// On, and enabled at the moment the run's own call enabled it: the run's; turn it off.
    Disable,
    /// Off already: nothing to do.
    Off,
    /// On, but enabled at another moment (before the run, or by someone after it turned its
    /// own off), or the record does not know when: not provably the run's; left on.
    NotTheRuns,
}

pub(super) fn judge_release(now: Option<&FsrSeen>, recorded: Option<&str>) -> Release {
    match now {
        None => Release::Off,
        Some(seen) if !ON.contains(&seen.state.as_str()) => Release::Off,
        Some(seen) if seen.enabled_at.is_some() && seen.enabled_at.as_deref() == recorded => {
            Release::Disable
        }
        Some(_) => Release::NotTheRuns,
    }
}

/// Disables the FSR the run enabled and no longer needs (see [`to_release`]): only one whose
/// EnablingTime (EC2's) is the one the run's call got back; a record that names someone
/// else's FSR is not proof, and that FSR is left on. Returns the records, as now stored.
pub async fn release(
    ec2: &aws_sdk_ec2::Client,
    store: &RunStore,
    run_id: &RunId,
    jobs: &[RestoreJob],
    all: bool,
) -> Result<Vec<FastRestore>, BackstopError> {
    let mut records = records(store, run_id).await?;
    let releasing: Vec<usize> = to_release(&records, jobs, all)
        .into_iter()
        .filter_map(|r| records.iter().position(|x| std::ptr::eq(x, r)))
        .collect();
    if releasing.is_empty() {
        return Ok(records);
    }
    for index in releasing {
        let record = &mut records[index];
        let (snapshot, zone) = (record.snapshot_id.clone(), record.availability_zone.clone());
        let now = fast_restore::on_since(ec2, &snapshot, &zone).await?;
        let judged = judge_release(now.as_ref(), record.enabled_at.as_deref());
        record.released = true;
        match judged {
            Release::Disable => {
                fast_restore::disable(ec2, &snapshot, &zone).await?;
                tracing::info!(snapshot, zone, "fast snapshot restore disabled");
                record.state = "disabling".into();
            }
            Release::Off => record.state = "disabled".into(),
            Release::NotTheRuns => {
                tracing::warn!(snapshot, zone, enabled_at = ?now.and_then(|n| n.enabled_at), recorded = ?record.enabled_at, "fast snapshot restore on, but not enabled by the run's call: not the run's to turn off, left on");
                record.owned = false;
            }
        }
    }
    store.put_at(&records_key(run_id), &records).await?;
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::jobs::JobStatus;
    use crate::plan::ResourceKind;

    fn want(resource: &str, snapshot: &str) -> Wanted {
        Wanted {
            resource: resource.into(),
            snapshot_id: snapshot.into(),
            zone: "us-west-2a".into(),
        }
    }

    fn seen(pairs: &[(&str, &str)]) -> HashMap<(String, String), FsrSeen> {
        pairs
            .iter()
            .map(|(snapshot, state)| {
                let fsr = FsrSeen {
                    state: state.to_string(),
                    enabled_at: Some("2026-12-04T10:00:00Z".into()),
                };
                ((snapshot.to_string(), "us-west-2a".to_string()), fsr)
            })
            .collect()
    }

    #[test]
    fn fsr_off_is_enabled_and_owned_fsr_on_already_is_used_and_not_owned() {
        let mut records = Vec::new();
        let wanted = [
            want("data", "snap-1"),
            want("logs", "snap-2"),
            want("cache", "snap-3"),
        ];
        let decision = decide(
            &mut records,
            &wanted,
            &seen(&[("snap-2", "enabled"), ("snap-3", "disabled")]),
        );
        assert_eq!(
            decision.enable,
            vec![
                ("snap-1".to_string(), "us-west-2a".to_string()),
                ("snap-3".to_string(), "us-west-2a".to_string())
            ]
        );
        assert_eq!(
            decision.held,
            HashSet::from(["data".to_string(), "cache".to_string()])
        );
        let owned: Vec<(&str, bool)> = records
            .iter()
            .map(|r| (r.resource.as_str(), r.owned))
            .collect();
        assert_eq!(
            owned,
            vec![("data", true), ("logs", false), ("cache", true)]
        );
    }

    #[test]
    fn a_restore_waits_until_enabled_and_goes_ahead_without_fsr_that_went_off() {
        let mut records = Vec::new();
        let wanted = [want("data", "snap-1"), want("logs", "snap-2")];
        decide(&mut records, &wanted, &HashMap::new());
        // the enable call answered
        for record in &mut records {
            record.state = "enabling".into();
        }
        let round = decide(
            &mut records,
            &wanted,
            &seen(&[("snap-1", "optimizing"), ("snap-2", "enabled")]),
        );
        assert!(round.enable.is_empty());
        assert_eq!(round.held, HashSet::from(["data".to_string()]));
        // someone disabled it while it optimized: the restore is not held forever
        let round = decide(
            &mut records,
            &wanted,
            &seen(&[("snap-1", "disabling"), ("snap-2", "enabled")]),
        );
        assert!(round.held.is_empty() && round.enable.is_empty());
        assert!(
            records[0]
                .gave_up
                .as_deref()
                .unwrap()
                .contains("went disabling"),
            "{records:?}"
        );
    }

    #[test]
    fn a_request_whose_call_never_happened_is_made_again() {
        let mut records = Vec::new();
        let wanted = [want("data", "snap-1")];
        decide(&mut records, &wanted, &HashMap::new());
        // the step stopped after writing the record, before EnableFastSnapshotRestores
        let again = decide(&mut records, &wanted, &HashMap::new());
        assert_eq!(again.enable.len(), 1);
        assert!(records[0].owned && records[0].gave_up.is_none());
        // the call happened, its answer was lost: EC2's EnablingTime becomes the run's proof
        let adopted = decide(&mut records, &wanted, &seen(&[("snap-1", "enabling")]));
        assert!(adopted.enable.is_empty());
        assert_eq!(
            records[0].enabled_at.as_deref(),
            Some("2026-12-04T10:00:00Z")
        );
    }

    fn job(resource: &str, status: JobStatus) -> RestoreJob {
        RestoreJob {
            resource: resource.into(),
            kind: ResourceKind::Ebs,
            recovery_point_arn: "arn:aws:ec2:us-west-2::snapshot/snap-1".into(),
            restore_job_id: format!("job-{resource}"),
            attempt: 0,
            status,
            status_message: None,
            created_resource_arn: None,
            endpoint: None,
            completed_at: None,
            fast_restored: None,
        }
    }

    #[test]
    fn fsr_is_turned_off_only_when_ec2_says_it_is_the_one_the_runs_call_enabled() {
        let seen = |state: &str, at: Option<&str>| FsrSeen {
            state: state.into(),
            enabled_at: at.map(str::to_string),
        };
        let ours = Some("2026-12-04T10:00:00Z");
        let on = seen("optimizing", ours);
        assert_eq!(judge_release(Some(&on), ours), Release::Disable);
        // on, but enabled at another moment (the operator's, or re-enabled after the run's)
        let theirs = seen("enabled", Some("2026-12-01T08:00:00Z"));
        assert_eq!(judge_release(Some(&theirs), ours), Release::NotTheRuns);
        // a record that does not say when (edited, or from before this check) proves nothing
        assert_eq!(judge_release(Some(&on), None), Release::NotTheRuns);
        assert_eq!(
            judge_release(Some(&seen("enabled", None)), None),
            Release::NotTheRuns
        );
        assert_eq!(
            judge_release(Some(&seen("disabled", ours)), ours),
            Release::Off
        );
        assert_eq!(judge_release(None, ours), Release::Off);
    }

    #[test]
    fn only_what_the_run_enabled_is_released_once_its_restore_ended() {
        let mut records = Vec::new();
        decide(
            &mut records,
            &[
                want("data", "snap-1"),
                want("logs", "snap-2"),
                want("cache", "snap-3"),
            ],
            &seen(&[("snap-2", "enabled")]),
        );
        let jobs = [
            job("data", JobStatus::Completed),
            job("logs", JobStatus::Completed),
            job("cache", JobStatus::Running),
        ];
        let names =
            |list: Vec<&FastRestore>| list.iter().map(|r| r.resource.clone()).collect::<Vec<_>>();
        // logs' FSR was on before the run: never the run's to disable
        assert_eq!(names(to_release(&records, &jobs, false)), vec!["data"]);
        assert_eq!(
            names(to_release(&records, &jobs, true)),
            vec!["data", "cache"]
        );
    }
}
