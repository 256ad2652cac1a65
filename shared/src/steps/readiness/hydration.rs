//! Fast snapshot restore on the copies the plan restores with it: the snapshot size FSR takes,
//! the Region's quota of snapshots with FSR on, what the run will enable and how long its
//! restore waits for it, and what it costs.

use std::collections::{BTreeSet, HashMap};

use super::{join, line, CheckLine, Status};
use crate::aws::fast_restore::{self, snapshot_of, MAX_SNAPSHOT_GIB, ON, SNAPSHOTS_PER_REGION};
use crate::error::BackstopError;
use crate::plan::Plan;
use crate::steps::restore::DrCopy;

const CHECK: &str = "fast-snapshot-restore";

/// One resource the plan restores with FSR, and its copy.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Planned {
    pub resource: String,
    pub snapshot_id: String,
    pub zone: String,
    pub size_gib: Option<i64>,
}

/// What the Region answered: FSR states of the planned pairs, and the snapshots with FSR on.
#[derive(Debug, Default)]
pub(super) struct FsrFound {
    pub states: HashMap<(String, String), String>,
    pub on_in_region: Vec<String>,
}

fn planned(plan: &Plan, copies: &HashMap<String, DrCopy>) -> Vec<Planned> {
    plan.resources
        .iter()
        .filter_map(|resource| {
            let ebs = resource
                .ebs
                .as_ref()
                .filter(|ebs| ebs.fast_snapshot_restore)?;
            let copy = copies.get(resource.arn.as_ref()?)?;
            Some(Planned {
                resource: resource.name.clone(),
                snapshot_id: snapshot_of(&copy.arn)?.to_string(),
                zone: ebs.availability_zone.clone()?,
                size_gib: copy.size_bytes.map(|b| (b + (1 << 30) - 1) >> 30),
            })
        })
        .collect()
}

/// Minutes AWS takes to optimize a snapshot for FSR (60 per TiB), and to its first volume
/// creation credit (the bucket starts empty, filling at MIN(10, 1024 / GiB) an hour).
fn minutes_to_ready(size_gib: i64) -> (i64, i64) {
    let optimizing = (60 * size_gib + 1023) / 1024 + 1;
    let per_hour = (1024.0 / size_gib.max(1) as f64).min(10.0);
    let first_credit = (60.0 / per_hour).ceil() as i64;
    (optimizing, first_credit)
}

/// Turns what the Region answered into lines.
pub(super) fn judge_fast_restores(
    planned: &[Planned],
    found: &FsrFound,
    region: &str,
) -> Vec<CheckLine> {
    let mut lines = Vec::new();
    let on_now: BTreeSet<&str> = found.on_in_region.iter().map(String::as_str).collect();
    let mut to_enable = BTreeSet::new();
    for want in planned {
        let pair = (want.snapshot_id.clone(), want.zone.clone());
        let state = found.states.get(&pair).map(String::as_str);
        let size = want.size_gib.unwrap_or(0);
        if size > MAX_SNAPSHOT_GIB {
            lines.push(
                line(
                    CHECK,
                    Status::Fail,
                    &want.resource,
                    format!(
                        "its copy {} is {size} GiB: fast snapshot restore takes snapshots of 16 TiB or less",
                        want.snapshot_id
                    ),
                )
                .fix(format!(
                    "drop fastSnapshotRestore from resources[{}].ebs (restored lazily, its blocks loaded from S3 on first read)",
                    want.resource
                )),
            );
            continue;
        }
        let detail = match state {
            Some("enabled") => format!(
                "on already for {} in {}: restored at full performance at once (on before the run: the run leaves it on)",
                want.snapshot_id, want.zone
            ),
            Some(now) if ON.contains(&now) => format!(
                "{now} for {} in {} (not by this run): the restore waits until it is enabled",
                want.snapshot_id, want.zone
            ),
            _ => {
                to_enable.insert(want.snapshot_id.clone());
                let (optimizing, first_credit) = minutes_to_ready(size);
                format!(
                    "the run enables it on {} in {} and holds this restore until it is enabled (~{optimizing} min for {size} GiB: 60 min per TiB; the first volume creation credit after ~{first_credit} min), then disables it once the volume exists; billed per hour while on (USD 0.75 per snapshot and AZ in us-east-1)",
                    want.snapshot_id, want.zone
                )
            }
        };
        lines.push(line(CHECK, Status::Pass, &want.resource, detail));
    }
    let new: BTreeSet<String> = to_enable
        .into_iter()
        .filter(|snapshot| !on_now.contains(snapshot.as_str()))
        .collect();
    if !new.is_empty() && on_now.len() + new.len() > SNAPSHOTS_PER_REGION {
        let on: BTreeSet<String> = on_now.iter().map(|s| s.to_string()).collect();
        lines.push(
            line(
                CHECK,
                Status::Fail,
                region,
                format!(
                    "{} snapshot(s) have fast snapshot restore on in {region} ({}) and the run would turn it on for {} more ({}): over AWS's default quota of {SNAPSHOTS_PER_REGION} per Region",
                    on.len(),
                    join(&on),
                    new.len(),
                    join(&new)
                ),
            )
            .fix("disable fast snapshot restore on snapshots that no longer need it, ask for a higher \"Fast snapshot restore\" quota in Service Quotas, or drop fastSnapshotRestore from some resources"),
        );
    }
    lines
}

/// Collects what the Region says of the planned FSR and judges it.
pub(super) async fn check_fast_restores(
    ec2: &aws_sdk_ec2::Client,
    plan: &Plan,
    copies: &HashMap<String, DrCopy>,
    lines: &mut Vec<CheckLine>,
) -> Result<(), BackstopError> {
    let planned = planned(plan, copies);
    if planned.is_empty() {
        return Ok(());
    }
    let snapshots: Vec<String> = planned.iter().map(|p| p.snapshot_id.clone()).collect();
    let found = match (
        fast_restore::states(ec2, &snapshots).await,
        fast_restore::snapshots_on(ec2).await,
    ) {
        (Ok(states), Ok(on_in_region)) => FsrFound {
            states: states
                .into_iter()
                .map(|(pair, fsr)| (pair, fsr.state))
                .collect(),
            on_in_region,
        },
        (Err(err), _) | (_, Err(err)) => {
            lines.push(super::unchecked(CHECK, &plan.dr_region, err)?);
            return Ok(());
        }
    };
    lines.extend(judge_fast_restores(&planned, &found, &plan.dr_region));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn want(resource: &str, snapshot: &str, size_gib: i64) -> Planned {
        Planned {
            resource: resource.into(),
            snapshot_id: snapshot.into(),
            zone: "us-west-2a".into(),
            size_gib: Some(size_gib),
        }
    }

    #[test]
    fn the_wait_and_the_cost_are_said_and_a_snapshot_too_large_fails() {
        let found = FsrFound {
            states: HashMap::from([(("snap-on".into(), "us-west-2a".into()), "enabled".into())]),
            on_in_region: vec!["snap-on".into()],
        };
        let lines = judge_fast_restores(
            &[
                want("data", "snap-1", 512),
                want("logs", "snap-on", 20),
                want("huge", "snap-2", 17 * 1024),
            ],
            &found,
            "us-west-2",
        );
        let statuses: Vec<(&str, Status)> = lines
            .iter()
            .map(|l| (l.resource.as_str(), l.status))
            .collect();
        assert_eq!(
            statuses,
            vec![
                ("data", Status::Pass),
                ("logs", Status::Pass),
                ("huge", Status::Fail)
            ]
        );
        // 512 GiB: 30 min optimizing (+1 enabling); credits MIN(10, 2) = 2 an hour: the first after 30
        assert!(
            lines[0].detail.contains("~31 min for 512 GiB")
                && lines[0]
                    .detail
                    .contains("first volume creation credit after ~30 min"),
            "{}",
            lines[0].detail
        );
        assert!(lines[0].detail.contains("USD 0.75"), "{}", lines[0].detail);
        assert!(
            lines[1].detail.contains("leaves it on"),
            "{}",
            lines[1].detail
        );
    }

    #[test]
    fn more_than_five_snapshots_with_fsr_on_in_the_region_fails_before_anything_is_enabled() {
        let on: Vec<String> = (1..=4).map(|i| format!("snap-other{i}")).collect();
        let found = FsrFound {
            states: HashMap::new(),
            on_in_region: on,
        };
        let lines = judge_fast_restores(&[want("data", "snap-1", 50)], &found, "us-west-2");
        assert!(lines.iter().all(|l| l.status == Status::Pass), "{lines:?}");
        let lines = judge_fast_restores(
            &[want("data", "snap-1", 50), want("logs", "snap-2", 20)],
            &found,
            "us-west-2",
        );
        let quota = lines
            .iter()
            .find(|l| l.status == Status::Fail)
            .expect("a quota line");
        assert!(
            quota.detail.contains("4 snapshot(s)") && quota.detail.contains("2 more"),
            "{}",
            quota.detail
        );
        assert!(quota.fix.as_deref().unwrap().contains("Service Quotas"));
    }
}
