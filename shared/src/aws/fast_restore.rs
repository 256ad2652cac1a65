//! EBS fast snapshot restore (FSR) on the DR copies: what a run enabled, and the calls that
//! enable, look at and disable it. FSR has no tags, so the run's record of what it enabled is
//! its own proof of ownership: only those are ever disabled.

use std::collections::HashMap;

use aws_sdk_ec2::types::Filter;
use serde::{Deserialize, Serialize};

use crate::error::{BackstopError, SdkContext};
use crate::model::time::format_time;

/// FSR states that bill and count towards the Region's quota.
pub const ON: [&str; 3] = ["enabling", "optimizing", "enabled"];

/// AWS's default quota: snapshots with FSR on per Region (adjustable in Service Quotas).
pub const SNAPSHOTS_PER_REGION: usize = 5;

/// The largest snapshot FSR can be enabled on, GiB (16 TiB).
pub const MAX_SNAPSHOT_GIB: i64 = 16 * 1024;

/// What one plan resource's restore does with FSR, as the run recorded it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FastRestore {
    pub resource: String,
    pub snapshot_id: String,
    pub availability_zone: String,
    /// The run enabled it (written before the call): the run disables it. One that was on
    /// before the run is left as it was.
    pub owned: bool,
    /// The state last seen.
    pub state: String,
    /// Disabled by the run (after the restore, or by teardown).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub released: bool,
    /// Why the restore went ahead without FSR (it could not be enabled).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gave_up: Option<String>,
    /// EC2's EnablingTime of the FSR the run enabled (RFC 3339): the run turns off only an FSR
    /// that EC2 says was enabled at that moment, not one someone enabled before or after.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled_at: Option<String>,
}

/// An FSR as EC2 describes it: its state and when it was enabled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FsrSeen {
    pub state: String,
    pub enabled_at: Option<String>,
}

impl FastRestore {
    /// Its restore may start: FSR is enabled, or it could not be.
    pub fn ready(&self) -> bool {
        self.state == "enabled" || self.gave_up.is_some()
    }
}

/// The snapshot id of an EBS recovery point (`arn:aws:ec2:<region>::snapshot/snap-…`).
pub fn snapshot_of(recovery_point_arn: &str) -> Option<&str> {
    recovery_point_arn
        .rsplit_once(":snapshot/")
        .map(|(_, id)| id)
        .filter(|id| id.starts_with("snap-"))
}

/// Every FSR EC2 lists under `filters`: (snapshot, AZ, what it says of it).
async fn describe(
    ec2: &aws_sdk_ec2::Client,
    filters: Vec<Filter>,
) -> Result<Vec<(String, String, FsrSeen)>, BackstopError> {
    let mut found = Vec::new();
    let mut pages = ec2
        .describe_fast_snapshot_restores()
        .set_filters(Some(filters))
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.context("describing fast snapshot restores")?;
        for item in page.fast_snapshot_restores() {
            let (Some(snapshot), Some(zone)) = (item.snapshot_id(), item.availability_zone())
            else {
                continue;
            };
            let seen = FsrSeen {
                state: item
                    .state()
                    .map(|s| s.as_str())
                    .unwrap_or_default()
                    .to_string(),
                enabled_at: item.enabling_time().copied().map(format_time),
            };
            found.push((snapshot.to_string(), zone.to_string(), seen));
        }
    }
    Ok(found)
}

fn filter(name: &str, values: &[String]) -> Filter {
    Filter::builder()
        .name(name)
        .set_values(Some(values.to_vec()))
        .build()
}

/// The FSR of each (snapshot, AZ) pair of `snapshot_ids` (pairs never enabled are absent).
pub async fn states(
    ec2: &aws_sdk_ec2::Client,
    snapshot_ids: &[String],
) -> Result<HashMap<(String, String), FsrSeen>, BackstopError> {
    let mut found = HashMap::new();
    // DescribeFastSnapshotRestores takes at most 200 filter values
    for chunk in snapshot_ids.chunks(200) {
        for (snapshot, zone, seen) in describe(ec2, vec![filter("snapshot-id", chunk)]).await? {
            found.insert((snapshot, zone), seen);
        }
    }
    Ok(found)
}

/// The FSR of `snapshot_id` in `zone` while it is on: its state and when it was enabled.
pub async fn on_since(
    ec2: &aws_sdk_ec2::Client,
    snapshot_id: &str,
    zone: &str,
) -> Result<Option<FsrSeen>, BackstopError> {
    let filters = vec![
        filter("snapshot-id", &[snapshot_id.to_string()]),
        filter("availability-zone", &[zone.to_string()]),
    ];
    Ok(describe(ec2, filters)
        .await?
        .into_iter()
        .map(|(_, _, seen)| seen)
        .find(|seen| ON.contains(&seen.state.as_str())))
}

/// The snapshots of the Region with FSR on (each counts once towards the quota).
pub async fn snapshots_on(ec2: &aws_sdk_ec2::Client) -> Result<Vec<String>, BackstopError> {
    let on: Vec<String> = ON.iter().map(|s| s.to_string()).collect();
    let mut found: Vec<String> = Vec::new();
    for (snapshot, _, _) in describe(ec2, vec![filter("state", &on)]).await? {
        if !found.contains(&snapshot) {
            found.push(snapshot);
        }
    }
    Ok(found)
}

/// The volume creation credits of `snapshot_id` in `zone` as EBS last published them
/// (`AWS/EBS` `FastSnapshotRestoreCreditsBalance`, each minute while FSR is on); `None` when
/// there is no datapoint in the last five minutes.
pub async fn credits(
    cloudwatch: &aws_sdk_cloudwatch::Client,
    snapshot_id: &str,
    zone: &str,
) -> Result<Option<f64>, BackstopError> {
    use aws_sdk_cloudwatch::types::{Dimension, Statistic};
    let now = std::time::SystemTime::now();
    let dimension = |name: &str, value: &str| Dimension::builder().name(name).value(value).build();
    let answer = cloudwatch
        .get_metric_statistics()
        .namespace("AWS/EBS")
        .metric_name("FastSnapshotRestoreCreditsBalance")
        .dimensions(dimension("SnapshotId", snapshot_id))
        .dimensions(dimension("AvailabilityZone", zone))
        .start_time((now - std::time::Duration::from_secs(300)).into())
        .end_time((now + std::time::Duration::from_secs(60)).into())
        .period(60)
        .statistics(Statistic::Maximum)
        .send()
        .await
        .context(format!(
            "reading the fast snapshot restore credits of {snapshot_id} in {zone}"
        ))?;
    let latest = answer
        .datapoints()
        .iter()
        .filter(|point| point.timestamp().is_some())
        .max_by_key(|point| point.timestamp().map(|t| t.as_nanos()));
    Ok(latest.and_then(|point| point.maximum()))
}

/// The errors of an Enable/Disable answer's `Unsuccessful` entry (code, message), as text.
fn refusal<'a>(errors: impl Iterator<Item = (Option<&'a str>, Option<&'a str>)>) -> String {
    errors
        .map(|(code, message)| {
            format!(
                "{}: {}",
                code.unwrap_or("Unknown"),
                message.unwrap_or_default()
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Enables FSR on `snapshot_id` in `zone`; the FSR EC2 answers with, or EC2's refusal
/// (`Ok(Err(message))`) when it lists the pair as unsuccessful.
pub async fn enable(
    ec2: &aws_sdk_ec2::Client,
    snapshot_id: &str,
    zone: &str,
) -> Result<Result<FsrSeen, String>, BackstopError> {
    let answer = ec2
        .enable_fast_snapshot_restores()
        .source_snapshot_ids(snapshot_id)
        .availability_zones(zone)
        .send()
        .await
        .context(format!(
            "enabling fast snapshot restore on {snapshot_id} in {zone}"
        ))?;
    if let Some(item) = answer.successful().first() {
        return Ok(Ok(FsrSeen {
            state: item
                .state()
                .map(|s| s.as_str())
                .unwrap_or("enabling")
                .to_string(),
            enabled_at: item.enabling_time().copied().map(format_time),
        }));
    }
    let refused = answer
        .unsuccessful()
        .iter()
        .map(|item| {
            refusal(
                item.fast_snapshot_restore_state_errors()
                    .iter()
                    .filter_map(|e| e.error())
                    .map(|e| (e.code(), e.message())),
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    Ok(Err(refused))
}

/// Disables FSR on `snapshot_id` in `zone`. One that is off already is not an error.
pub async fn disable(
    ec2: &aws_sdk_ec2::Client,
    snapshot_id: &str,
    zone: &str,
) -> Result<(), BackstopError> {
    let answer = ec2
        .disable_fast_snapshot_restores()
        .source_snapshot_ids(snapshot_id)
        .availability_zones(zone)
        .send()
        .await
        .context(format!(
            "disabling fast snapshot restore on {snapshot_id} in {zone}"
        ))?;
    for item in answer.unsuccessful() {
        let refused = refusal(
            item.fast_snapshot_restore_state_errors()
                .iter()
                .filter_map(|e| e.error())
                .map(|e| (e.code(), e.message())),
        );
        // off already (disabled by someone, or the snapshot deleted): nothing left to stop
        if !refused.starts_with("IncorrectState") {
            tracing::warn!(snapshot = snapshot_id, zone, "{refused}");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_snapshot_of_an_ebs_recovery_point_is_read_from_its_arn() {
        assert_eq!(
            snapshot_of("arn:aws:ec2:us-west-2::snapshot/snap-0123456789abcdef0"),
            Some("snap-0123456789abcdef0")
        );
        assert_eq!(
            snapshot_of("arn:aws:backup:us-west-2:123456789012:recovery-point:abc"),
            None
        );
    }
}
