//! When each restored volume reaches its full performance, and the RTO "to full speed".
//!
//! A volume restored from a snapshot exists (its restore job ended) before it is fast: each
//! block is loaded from S3 on its first read until every block was read once. With fast
//! snapshot restore it is fully initialized at creation (`FastRestored`). AWS states no rate
//! for the default initialization ("fluctuates"), so the time of a lazily loaded volume is an
//! estimate at [`LAZY_MIB_PER_SECOND`], said as one in the report.

use aws_smithy_types::DateTime;
use serde::{Deserialize, Serialize};

use crate::aws::fast_restore::FastRestore;
use crate::model::jobs::{JobStatus, RestoreJob};
use crate::model::time::parse_time;

/// The rate a lazily loaded volume is estimated to initialize at, MiB/s: the lowest rate EBS
/// offers to provision for volume initialization (100-300 MiB/s); the default rate is
/// not stated by AWS.
pub const LAZY_MIB_PER_SECOND: i64 = 100;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VolumeHydration {
    pub resource: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_arn: Option<String>,
    pub size_gib: f64,
    /// Created with fast snapshot restore: full performance at creation.
    pub fast_restored: bool,
    /// Seconds from the volume's creation to its full performance (0 with fast snapshot
    /// restore; estimated otherwise).
    pub seconds_to_full_speed: i64,
    pub note: String,
}

/// The run's volumes, and the latest moment one of them reaches full speed (seconds after
/// `start`), when every one has a completion time.
pub fn volumes(
    jobs: &[RestoreJob],
    sizes: &dyn Fn(&str) -> Option<i64>,
    fast_planned: &dyn Fn(&str) -> bool,
    records: &[FastRestore],
    start: Option<DateTime>,
) -> (Vec<VolumeHydration>, Option<i64>) {
    let mut volumes = Vec::new();
    let mut latest: Option<i64> = None;
    let mut every_time_known = true;
    for job in jobs
        .iter()
        .filter(|job| job.kind.restores_as_volume() && job.status == JobStatus::Completed)
    {
        let size = sizes(&job.resource);
        let bytes = size.unwrap_or(0);
        let fast = job.fast_restored == Some(true);
        let seconds = if fast {
            0
        } else {
            bytes / (LAZY_MIB_PER_SECOND * 1024 * 1024)
        };
        let estimate = match size {
            Some(_) => format!(
                "~{} to full speed, lazily loaded from S3 (estimated at {LAZY_MIB_PER_SECOND} MiB/s: AWS states no default rate)",
                duration(seconds)
            ),
            // no size from AWS Backup: no figure rather than a made-up one
            None => "lazily loaded from S3; its size is unknown, so its time to full speed is not estimated".into(),
        };
        if !fast && size.is_none() {
            every_time_known = false;
        }
        let note = if fast {
            "fast snapshot restore: full performance at creation".to_string()
        } else if fast_planned(&job.resource) {
            let why = records
                .iter()
                .find(|r| r.resource == job.resource)
                .and_then(|r| r.gave_up.clone())
                .unwrap_or_else(|| {
                    "fast snapshot restore was enabled, but its volume creation credit was not there yet".into()
                });
            format!("planned with fast snapshot restore, created without it ({why}); {estimate}")
        } else {
            estimate
        };
        match (start, job.completed_at.as_deref().and_then(parse_time)) {
            (Some(start), Some(created)) => {
                let full = created.secs() - start.secs() + seconds;
                latest = Some(latest.map_or(full, |l| l.max(full)));
            }
            _ => every_time_known = false,
        }
        volumes.push(VolumeHydration {
            resource: job.resource.clone(),
            volume_arn: job.created_resource_arn.clone(),
            size_gib: (bytes as f64 / (1u64 << 30) as f64 * 10.0).round() / 10.0,
            fast_restored: fast,
            seconds_to_full_speed: seconds,
            note,
        });
    }
    (volumes, latest.filter(|_| every_time_known))
}

/// `1 h 05 min`, `12 min`, `40 s`.
pub fn duration(seconds: i64) -> String {
    match seconds {
        s if s >= 3600 => format!("{} h {:02} min", s / 3600, (s % 3600) / 60),
        s if s >= 60 => format!("{} min", (s + 30) / 60),
        s => format!("{s} s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::ResourceKind;

    fn job(resource: &str, fast: Option<bool>, completed: &str) -> RestoreJob {
        RestoreJob {
            resource: resource.into(),
            kind: ResourceKind::Ebs,
            recovery_point_arn: "arn:aws:ec2:us-west-2::snapshot/snap-1".into(),
            restore_job_id: format!("job-{resource}"),
            attempt: 0,
            status: JobStatus::Completed,
            status_message: None,
            created_resource_arn: Some(format!("arn:aws:ec2:us-west-2:1:volume/vol-{resource}")),
            endpoint: None,
            completed_at: Some(completed.into()),
            fast_restored: fast,
        }
    }

    #[test]
    fn a_fast_restored_volume_is_at_full_speed_when_created_and_a_lazy_one_later_by_its_size() {
        let jobs = [
            job("data", Some(true), "2026-12-04T10:10:00Z"),
            job("logs", None, "2026-12-04T10:05:00Z"),
            job("cache", Some(false), "2026-12-04T10:06:00Z"),
        ];
        let sizes = |name: &str| match name {
            "data" => Some(500 << 30),
            "logs" => Some(100 << 30),
            "cache" => Some(10 << 30),
            _ => None,
        };
        let planned = |name: &str| name != "logs";
        let start = parse_time("2026-12-04T10:00:00Z");
        let (volumes, latest) = volumes(&jobs, &sizes, &planned, &[], start);
        let seconds: Vec<i64> = volumes.iter().map(|v| v.seconds_to_full_speed).collect();
        // 100 GiB at 100 MiB/s: 1,024 s; 10 GiB: 102 s
        assert_eq!(seconds, vec![0, 1024, 102]);
        assert!(
            volumes[0].note.starts_with("fast snapshot restore"),
            "{volumes:?}"
        );
        assert!(
            volumes[1].note.contains("estimated at 100 MiB/s"),
            "{volumes:?}"
        );
        assert!(
            volumes[2].note.contains("credit was not there yet"),
            "{volumes:?}"
        );
        // logs: created 300 s in, full speed 1,024 s later
        assert_eq!(latest, Some(1324));
        assert_eq!(duration(1324), "22 min");
        assert_eq!(duration(3900), "1 h 05 min");
        // a lazy volume of unknown size: said so, and no RTO to full speed is claimed
        let unknown = [job("scratch", None, "2026-12-04T10:05:00Z")];
        let (volumes, latest) = super::volumes(&unknown, &sizes, &planned, &[], start);
        assert!(volumes[0].note.contains("not estimated"), "{volumes:?}");
        assert_eq!(latest, None);
    }

    #[test]
    fn a_storage_gateway_volume_is_restored_as_an_ebs_volume_and_counted_as_one() {
        let gateway = RestoreJob {
            kind: ResourceKind::StorageGateway,
            ..job("archive", None, "2026-12-04T10:05:00Z")
        };
        let database = RestoreJob {
            kind: ResourceKind::Rds,
            ..job("db", None, "2026-12-04T10:05:00Z")
        };
        let sizes = |_: &str| Some(10 << 30);
        let start = parse_time("2026-12-04T10:00:00Z");
        let (volumes, _) = volumes(&[gateway, database], &sizes, &|_| false, &[], start);
        let names: Vec<&str> = volumes.iter().map(|v| v.resource.as_str()).collect();
        assert_eq!(names, vec!["archive"]);
    }
}
