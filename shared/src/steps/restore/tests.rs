//! Edge cases of the restore steps against a mocked AWS Backup: throttling, missing
//! vaults, denied access and malformed answers.

use aws_sdk_backup::config::retry::RetryConfig;
use aws_sdk_backup::operation::get_recovery_point_restore_metadata::GetRecoveryPointRestoreMetadataOutput;
use aws_sdk_backup::operation::list_recovery_points_by_backup_vault::ListRecoveryPointsByBackupVaultOutput;
use aws_sdk_backup::operation::start_restore_job::StartRestoreJobOutput;
use aws_sdk_backup::types::{RecoveryPointByBackupVault, RecoveryPointStatus};
use aws_sdk_backup::Client;
use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
use aws_smithy_runtime_api::http::{Response, StatusCode};
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::DateTime;

use super::poll::{cap_failures, MAX_FAILURE_LINES};
use super::poll::{check_jobs_belong_to_run, summarize};
use super::*;
use crate::model::run::{Mode, RunId};
use crate::plan::ResourceKind;

use crate::plan::example_plan as plan;

/// An AWS error response as the restJson protocol sends it.
fn aws_error(status: u16, code: &str, message: &str) -> Response<SdkBody> {
    let mut response = Response::new(
        StatusCode::try_from(status).unwrap(),
        SdkBody::from(format!(r#"{{"message":"{message}"}}"#)),
    );
    response
        .headers_mut()
        .insert("x-amzn-errortype", code.to_string());
    response
}

fn client(rules: &[&Rule]) -> Client {
    mock_client!(
        aws_sdk_backup,
        RuleMode::MatchAny,
        rules.iter().copied(),
        |conf| conf.retry_config(RetryConfig::disabled())
    )
}

/// The source ARN of the example plan's first resource (app-data).
fn first_source() -> String {
    plan().resources[0].arn.clone().unwrap()
}

fn point(arn: &str, created: i64, status: RecoveryPointStatus) -> RecoveryPointByBackupVault {
    RecoveryPointByBackupVault::builder()
        .recovery_point_arn(arn)
        .resource_arn(first_source())
        .creation_date(DateTime::from_secs(created))
        .status(status)
        .build()
}

fn item(resource: &str, kind: ResourceKind, recovery_point_arn: &str) -> RestoreItem {
    RestoreItem {
        resource: resource.into(),
        kind,
        source_arn: "arn:aws:ec2:us-east-1:123456789012:volume/vol-1".into(),
        recovery_point_arn: recovery_point_arn.into(),
        recovery_point_created_at: "2026-11-25T00:00:00Z".into(),
        copied_at: None,
        rpo_seconds: 60,
        rpo_breached: false,
        optional: false,
        size_bytes: None,
    }
}

/// Two EBS volumes of the example plan, neither started: app-data (snap-1), app-logs (snap-2).
fn two_volumes() -> RestoreProgress {
    RestoreProgress {
        restores: vec![
            item(
                "app-data",
                ResourceKind::Ebs,
                "arn:aws:ec2:us-west-2::snapshot/snap-1",
            ),
            item(
                "app-logs",
                ResourceKind::Ebs,
                "arn:aws:ec2:us-west-2::snapshot/snap-2",
            ),
        ],
        jobs: vec![],
    }
}

#[tokio::test]
async fn the_newest_completed_copy_at_or_before_the_point_in_time_is_chosen() {
    let listing = mock!(Client::list_recovery_points_by_backup_vault).then_output(|| {
        ListRecoveryPointsByBackupVaultOutput::builder()
            .recovery_points(point("arn:old", 1_000, RecoveryPointStatus::Completed))
            .recovery_points(point("arn:best", 2_000, RecoveryPointStatus::Completed))
            .recovery_points(point("arn:partial", 2_500, RecoveryPointStatus::Partial))
            .recovery_points(point("arn:after", 4_000, RecoveryPointStatus::Completed))
            .build()
    });
    let backup = client(&[&listing]);
    let mut plan = plan();
    plan.resources.truncate(1);
    plan.objectives.rpo_minutes = Some(10);

    let (items, warnings) = select_recovery_points(&backup, &plan, DateTime::from_secs(3_000))
        .await
        .unwrap();
    assert!(warnings.is_empty());
    assert_eq!(items[0].recovery_point_arn, "arn:best");
    assert_eq!(items[0].rpo_seconds, 1_000);
    assert!(items[0].rpo_breached, "1000 s is above a 10 minute RPO");
}

#[tokio::test]
async fn a_missing_vault_is_named_with_the_fix() {
    let listing = mock!(Client::list_recovery_points_by_backup_vault)
        .then_http_response(|| aws_error(404, "ResourceNotFoundException", "backstop-dr"));
    let backup = client(&[&listing]);
    let err = select_recovery_points(&backup, &plan(), DateTime::from_secs(3_000))
        .await
        .unwrap_err();
    assert_eq!(err.error_name(), "Backstop.NotFound");
    assert!(
        err.to_string().contains("backup vault backstop-dr"),
        "{err}"
    );
    assert!(err.to_string().contains("correct backupVault"), "{err}");
}

#[tokio::test]
async fn an_optional_resource_without_a_copy_is_a_warning() {
    let listing = mock!(Client::list_recovery_points_by_backup_vault)
        .then_output(|| ListRecoveryPointsByBackupVaultOutput::builder().build());
    let backup = client(&[&listing]);
    let mut plan = plan();
    plan.resources.retain(|r| r.name == "app-logs");
    let (items, warnings) = select_recovery_points(&backup, &plan, DateTime::from_secs(3_000))
        .await
        .unwrap();
    assert!(items.is_empty());
    assert!(warnings[0].starts_with("app-logs"), "{warnings:?}");
}

#[tokio::test]
async fn a_throttled_start_leaves_the_resource_for_the_next_round() {
    let metadata = mock!(Client::get_recovery_point_restore_metadata)
        .then_output(|| GetRecoveryPointRestoreMetadataOutput::builder().build());
    let mut ctx = RestoreContext::for_test(Mode::Drill);
    ctx.run_id = RunId::try_from("run-1".to_string()).unwrap();
    let data = item(
        "app-data",
        ResourceKind::Ebs,
        "arn:aws:ec2:us-west-2::snapshot/snap-1",
    );
    let logs = item(
        "app-logs",
        ResourceKind::Ebs,
        "arn:aws:ec2:us-west-2::snapshot/snap-2",
    );
    let (data_token, logs_token) = (restore_token(&ctx, &data, 0), restore_token(&ctx, &logs, 0));
    let start = mock!(Client::start_restore_job)
        .match_requests(move |req| req.idempotency_token() == Some(data_token.as_str()))
        .then_http_response(|| aws_error(429, "ThrottlingException", "Rate exceeded"));
    let start_other = mock!(Client::start_restore_job)
        .match_requests(move |req| req.idempotency_token() == Some(logs_token.as_str()))
        .then_output(|| {
            StartRestoreJobOutput::builder()
                .restore_job_id("job-logs")
                .build()
        });
    let backup = client(&[&metadata, &start, &start_other]);
    let progress = RestoreProgress {
        restores: vec![data, logs],
        jobs: vec![],
    };

    let outcome = start_restores(&backup, &plan(), &ctx, progress, 10, false)
        .await
        .unwrap();
    assert_eq!(outcome.not_started, 1);
    assert_eq!(outcome.jobs.len(), 1);
    assert_eq!(outcome.jobs[0].resource, "app-logs");
    assert_eq!(outcome.jobs[0].restore_job_id, "job-logs");
}

#[tokio::test]
async fn denied_access_to_the_restore_metadata_names_the_resource() {
    let metadata = mock!(Client::get_recovery_point_restore_metadata)
        .then_http_response(|| aws_error(403, "AccessDeniedException", "not authorized"));
    let backup = client(&[&metadata]);
    let ctx = RestoreContext::for_test(Mode::Drill);
    let progress = RestoreProgress {
        restores: vec![item(
            "orders-db",
            ResourceKind::Rds,
            "arn:aws:rds:us-west-2:123456789012:snapshot:s",
        )],
        jobs: vec![],
    };
    let err = start_restores(&backup, &plan(), &ctx, progress, 10, false)
        .await
        .unwrap_err();
    assert_eq!(err.error_name(), "Backstop.AccessDenied");
    assert!(err.to_string().contains("orders-db"), "{err}");
}

#[tokio::test]
async fn denied_access_to_every_restore_metadata_is_still_access_denied() {
    // the reads in flight are all refused for one cause: the operator sees that cause's type
    let metadata = mock!(Client::get_recovery_point_restore_metadata)
        .then_http_response(|| aws_error(403, "AccessDeniedException", "not authorized"));
    let start = starts_job_x();
    let backup = client(&[&metadata, &start]);
    let ctx = RestoreContext::for_test(Mode::Drill);
    let err = start_restores(&backup, &plan(), &ctx, two_volumes(), 10, false)
        .await
        .unwrap_err();
    assert_eq!(err.error_name(), "Backstop.AccessDenied", "{err}");
    assert_eq!(start.num_calls(), 0);
}

#[tokio::test]
async fn a_start_answer_without_a_job_id_is_an_error_not_a_lost_job() {
    let metadata = mock!(Client::get_recovery_point_restore_metadata)
        .then_output(|| GetRecoveryPointRestoreMetadataOutput::builder().build());
    let start =
        mock!(Client::start_restore_job).then_output(|| StartRestoreJobOutput::builder().build());
    let backup = client(&[&metadata, &start]);
    let ctx = RestoreContext::for_test(Mode::Drill);
    let progress = RestoreProgress {
        restores: vec![item(
            "media",
            ResourceKind::Efs,
            "arn:aws:backup:us-west-2:123456789012:recovery-point:1",
        )],
        jobs: vec![],
    };
    let err = start_restores(&backup, &plan(), &ctx, progress, 10, false)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no restore job id"), "{err}");
}

#[tokio::test]
async fn the_cap_counts_jobs_still_running() {
    let backup = client(&[]);
    let ctx = RestoreContext::for_test(Mode::Drill);
    let running = RestoreJob {
        resource: "app-data".into(),
        kind: ResourceKind::Ebs,
        recovery_point_arn: "arn:aws:ec2:us-west-2::snapshot/snap-1".into(),
        restore_job_id: "job-1".into(),
        attempt: 0,
        status: "RUNNING".into(),
        status_message: None,
        created_resource_arn: None,
        endpoint: None,
        completed_at: None,
        fast_restored: None,
    };
    let progress = RestoreProgress {
        jobs: vec![running.clone()],
        ..two_volumes()
    };
    // no AWS call is made: the one slot is taken
    let outcome = start_restores(&backup, &plan(), &ctx, progress, 1, false)
        .await
        .unwrap();
    assert_eq!(outcome.jobs, vec![running]);
    assert_eq!(outcome.not_started, 1);
}

#[tokio::test]
async fn a_round_out_of_time_starts_nothing_and_leaves_the_rest_for_the_next() {
    // no mocked call: a start after the invocation's work deadline would fail the test
    let backup = client(&[]);
    let mut ctx = RestoreContext::for_test(Mode::Drill);
    ctx.invocation_deadline =
        Some(std::time::SystemTime::now() - std::time::Duration::from_secs(1));
    let progress = two_volumes();
    let outcome = start_restores(&backup, &plan(), &ctx, progress, 10, false)
        .await
        .unwrap();
    assert!(outcome.jobs.is_empty());
    assert_eq!(outcome.not_started, 2);
}

#[tokio::test]
async fn the_rpo_counts_from_when_the_data_was_captured_not_when_it_was_copied() {
    let listing = mock!(Client::list_recovery_points_by_backup_vault).then_output(|| {
        // backed up at 1,000, copied to the DR region at 20,000
        let copy = RecoveryPointByBackupVault::builder()
            .recovery_point_arn("arn:copy")
            .resource_arn(first_source())
            .creation_date(DateTime::from_secs(20_000))
            .initiation_date(DateTime::from_secs(1_000))
            .status(RecoveryPointStatus::Completed)
            .build();
        ListRecoveryPointsByBackupVaultOutput::builder()
            .recovery_points(copy)
            .build()
    });
    let backup = client(&[&listing]);
    let mut plan = plan();
    plan.resources.truncate(1);
    let (items, _) = select_recovery_points(&backup, &plan, DateTime::from_secs(21_000))
        .await
        .unwrap();
    assert_eq!(items[0].rpo_seconds, 20_000);
    assert_eq!(items[0].copied_at.as_deref(), Some("1970-01-01T05:33:20Z"));
}

#[tokio::test]
async fn one_unrestorable_item_stops_the_batch_before_any_job_starts() {
    let metadata = mock!(Client::get_recovery_point_restore_metadata)
        .then_output(|| GetRecoveryPointRestoreMetadataOutput::builder().build());
    let start = starts_job_x();
    let backup = client(&[&metadata, &start]);
    let ctx = RestoreContext::for_test(Mode::Drill);
    let progress = RestoreProgress {
        restores: vec![
            item(
                "app-data",
                ResourceKind::Ebs,
                "arn:aws:ec2:us-west-2::snapshot/snap-1",
            ),
            // a copy left in the primary region cannot be restored in the DR region
            item(
                "app-logs",
                ResourceKind::Ebs,
                "arn:aws:ec2:us-east-1::snapshot/snap-2",
            ),
            // nor can a resource the plan does not have
            item(
                "not-in-plan",
                ResourceKind::Ebs,
                "arn:aws:ec2:us-west-2::snapshot/snap-3",
            ),
        ],
        jobs: vec![],
    };
    let err = start_restores(&backup, &plan(), &ctx, progress, 10, false)
        .await
        .unwrap_err();
    assert_eq!(err.error_name(), "Backstop.InvalidInput");
    assert!(err.to_string().contains("none was started"), "{err}");
    assert!(err.to_string().contains("app-logs"), "{err}");
    assert!(err.to_string().contains("not-in-plan"), "{err}");
    // refused on the plan alone: not one AWS call
    assert_eq!(metadata.num_calls(), 0);
    assert_eq!(start.num_calls(), 0);
}

#[tokio::test]
async fn a_throttled_metadata_read_leaves_the_resource_for_the_next_round() {
    let throttled = mock!(Client::get_recovery_point_restore_metadata)
        .match_requests(|req| {
            req.recovery_point_arn() == Some("arn:aws:ec2:us-west-2::snapshot/snap-1")
        })
        .then_http_response(|| aws_error(429, "ThrottlingException", "Rate exceeded"));
    let metadata = mock!(Client::get_recovery_point_restore_metadata)
        .then_output(|| GetRecoveryPointRestoreMetadataOutput::builder().build());
    let start = mock!(Client::start_restore_job).then_output(|| {
        StartRestoreJobOutput::builder()
            .restore_job_id("job-logs")
            .build()
    });
    let backup = client(&[&throttled, &metadata, &start]);
    let ctx = RestoreContext::for_test(Mode::Drill);
    let progress = two_volumes();
    let outcome = start_restores(&backup, &plan(), &ctx, progress, 10, false)
        .await
        .unwrap();
    assert_eq!(outcome.not_started, 1);
    assert_eq!(outcome.jobs.len(), 1);
    assert_eq!(outcome.jobs[0].resource, "app-logs");
    assert_eq!(start.num_calls(), 1);
}

#[tokio::test]
async fn aws_refusing_one_restore_starts_no_more_and_the_error_names_the_jobs_that_did() {
    // fifteen volumes, their starts ten at a time; AWS no longer has the fourth's copy
    let mut plan = plan();
    let volume = plan.resources[0].clone();
    plan.resources = (0..15)
        .map(|i| ProtectedResource {
            name: format!("data-{i:02}"),
            ..volume.clone()
        })
        .collect();
    let restores = (0..15)
        .map(|i| {
            let point = format!("arn:aws:ec2:us-west-2::snapshot/snap-{i:02}");
            item(&format!("data-{i:02}"), ResourceKind::Ebs, &point)
        })
        .collect();
    let gone = mock!(Client::get_recovery_point_restore_metadata)
        .match_requests(|req| {
            req.recovery_point_arn() == Some("arn:aws:ec2:us-west-2::snapshot/snap-03")
        })
        .then_http_response(|| {
            aws_error(404, "ResourceNotFoundException", "no such recovery point")
        });
    let metadata = mock!(Client::get_recovery_point_restore_metadata)
        .then_output(|| GetRecoveryPointRestoreMetadataOutput::builder().build());
    let start = starts_job_x();
    let backup = client(&[&gone, &metadata, &start]);
    let ctx = RestoreContext::for_test(Mode::Drill);
    let progress = RestoreProgress {
        restores,
        jobs: vec![],
    };
    let err = start_restores(&backup, &plan, &ctx, progress, 100, false)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("data-03"), "{err}");
    // no read starts once the refusal is in: at most the ten in flight and the three the
    // answers before it let in
    let reads = gone.num_calls() + metadata.num_calls();
    assert!(reads <= 13, "{reads} metadata reads");
    // what did start is in the error, for the failure path and the operator
    if start.num_calls() > 0 {
        assert_eq!(err.error_name(), "Backstop.RestoreFailed", "{err}");
        assert!(err.to_string().contains("job-x (data-0"), "{err}");
    } else {
        assert_eq!(err.error_name(), "Backstop.NotFound", "{err}");
    }
}

/// Every StartRestoreJob answered with job `job-x` (a test counts or names the starts).
fn starts_job_x() -> Rule {
    mock!(Client::start_restore_job).then_output(|| {
        StartRestoreJobOutput::builder()
            .restore_job_id("job-x")
            .build()
    })
}

fn job(resource: &str, attempt: u32, status: &str) -> RestoreJob {
    RestoreJob {
        resource: resource.into(),
        kind: ResourceKind::Ebs,
        recovery_point_arn: format!("arn:aws:ec2:us-west-2::snapshot/{resource}"),
        restore_job_id: format!("job-{resource}-{attempt}"),
        attempt,
        status: status.into(),
        status_message: Some("boom".into()),
        created_resource_arn: None,
        endpoint: None,
        completed_at: None,
        fast_restored: None,
    }
}

#[test]
fn a_failed_restore_of_an_optional_resource_is_a_warning_and_the_others_go_on() {
    let mut logs = item(
        "app-logs",
        ResourceKind::Ebs,
        "arn:aws:ec2:us-west-2::snapshot/logs",
    );
    logs.optional = true;
    let data = item(
        "app-data",
        ResourceKind::Ebs,
        "arn:aws:ec2:us-west-2::snapshot/data",
    );
    let restores = vec![data, logs];
    let jobs = vec![job("app-data", 0, "RUNNING"), job("app-logs", 0, "FAILED")];
    let summary = summarize(&restores, &jobs, false);
    assert_eq!(
        (
            summary.failed,
            summary.skipped,
            summary.running,
            summary.done
        ),
        (0, 1, 1, false)
    );
    assert!(summary.failures.is_empty());

    // a required resource's failure still fails the run
    let jobs = vec![
        job("app-data", 0, "FAILED"),
        job("app-logs", 0, "COMPLETED"),
    ];
    let summary = summarize(&restores, &jobs, false);
    assert_eq!(
        (summary.failed, summary.skipped, summary.done),
        (1, 0, true)
    );
}

#[test]
fn a_failed_restore_ends_a_run_but_a_resumed_run_retries_it_a_bounded_number_of_times() {
    let restores = vec![item(
        "app-data",
        ResourceKind::Ebs,
        "arn:aws:ec2:us-west-2::snapshot/app-data",
    )];
    let failed = vec![job("app-data", 0, "FAILED")];
    let summary = summarize(&restores, &failed, false);
    assert_eq!((summary.failed, summary.done), (1, true));
    assert_eq!(
        attempt_to_start(&restores[0], &super::poll::last_attempts(&failed), false),
        None
    );

    let summary = summarize(&restores, &failed, true);
    assert_eq!(
        (summary.failed, summary.not_started, summary.done),
        (0, 1, false)
    );
    assert_eq!(
        attempt_to_start(&restores[0], &super::poll::last_attempts(&failed), true),
        Some(1)
    );

    let last = MAX_RESTORE_ATTEMPTS - 1;
    let exhausted: Vec<RestoreJob> = (0..=last).map(|a| job("app-data", a, "FAILED")).collect();
    let summary = summarize(&restores, &exhausted, true);
    assert_eq!((summary.failed, summary.done), (1, true));
    assert_eq!(
        attempt_to_start(&restores[0], &super::poll::last_attempts(&exhausted), true),
        None
    );

    let recovered = vec![
        job("app-data", 0, "FAILED"),
        job("app-data", 1, "COMPLETED"),
    ];
    let summary = summarize(&restores, &recovered, true);
    assert_eq!(
        (summary.completed, summary.failed, summary.done),
        (1, 0, true)
    );
}

#[test]
fn a_job_that_is_not_the_runs_is_refused() {
    let restores = vec![item(
        "app-data",
        ResourceKind::Ebs,
        "arn:aws:ec2:us-west-2::snapshot/app-data",
    )];
    assert!(check_jobs_belong_to_run(&restores, &[job("app-data", 0, "RUNNING")]).is_ok());
    let mut other_point = job("app-data", 0, "RUNNING");
    other_point.recovery_point_arn = "arn:aws:ec2:us-west-2::snapshot/someone-else".into();
    let err = check_jobs_belong_to_run(&restores, &[other_point]).unwrap_err();
    assert_eq!(err.error_name(), "Backstop.InvalidInput");
    assert!(check_jobs_belong_to_run(&restores, &[job("orders-db", 0, "RUNNING")]).is_err());
}

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

#[test]
fn a_round_starts_due_restores_in_plan_order_only_into_free_slots() {
    let restores: Vec<RestoreItem> = ["a", "b", "c", "d"]
        .iter()
        .map(|name| item(name, ResourceKind::Ebs, &format!("rp-{name}")))
        .collect();
    let names = |started: &[(&RestoreItem, u32)]| -> Vec<String> {
        started
            .iter()
            .map(|(item, attempt)| format!("{}#{attempt}", item.resource))
            .collect()
    };
    // nothing runs: the first three of four start, one waits
    let (started, waiting) = schedule(&restores, &[], 3, false);
    assert_eq!(names(&started), ["a#0", "b#0", "c#0"]);
    assert_eq!(waiting, 1);
    // a running, b completed: two slots left for c and d
    let jobs = [job("a", 0, "RUNNING"), job("b", 0, "COMPLETED")];
    let (started, waiting) = schedule(&restores, &jobs, 3, false);
    assert_eq!(names(&started), ["c#0", "d#0"]);
    assert_eq!(waiting, 0);
    // every slot taken: nothing starts, every due item waits
    let busy = [job("a", 0, "RUNNING"), job("b", 0, "PENDING")];
    let (started, waiting) = schedule(&restores, &busy, 2, false);
    assert!(started.is_empty());
    assert_eq!(waiting, 2);
    // a resumed run gives a failed restore its next attempt; without resume it is done
    let failed = [job("a", 0, "FAILED")];
    let (started, _) = schedule(&restores, &failed, 10, true);
    assert_eq!(names(&started), ["a#1", "b#0", "c#0", "d#0"]);
    let (started, _) = schedule(&restores, &failed, 10, false);
    assert_eq!(names(&started), ["b#0", "c#0", "d#0"]);
}

#[test]
fn under_a_cap_the_largest_restores_start_first_and_equal_sizes_keep_plan_order() {
    const GIB: i64 = 1 << 30;
    let sized = |name: &str, size: Option<i64>| RestoreItem {
        size_bytes: size,
        ..item(name, ResourceKind::Ebs, &format!("rp-{name}"))
    };
    let restores = [
        sized("small", Some(8 * GIB)),
        sized("unknown", None),
        sized("large", Some(2048 * GIB)),
        sized("medium-a", Some(100 * GIB)),
        sized("medium-b", Some(100 * GIB)),
    ];
    let (started, waiting) = schedule(&restores, &[], 3, false);
    let names: Vec<&str> = started.iter().map(|(i, _)| i.resource.as_str()).collect();
    assert_eq!(names, ["large", "medium-a", "medium-b"]);
    assert_eq!(waiting, 2);
    // the next round: the three run, one finished; the rest by size, unknown last
    let jobs = [
        job("large", 0, "RUNNING"),
        job("medium-a", 0, "COMPLETED"),
        job("medium-b", 0, "RUNNING"),
    ];
    let (started, waiting) = schedule(&restores, &jobs, 3, false);
    let names: Vec<&str> = started.iter().map(|(i, _)| i.resource.as_str()).collect();
    assert_eq!(names, ["small"]);
    assert_eq!(waiting, 1);
}

#[test]
fn a_database_that_takes_longer_starts_before_a_larger_volume() {
    const GIB: i64 = 1 << 30;
    let sized = |name: &str, kind: ResourceKind, size: i64| RestoreItem {
        size_bytes: Some(size * GIB),
        ..item(name, kind, &format!("rp-{name}"))
    };
    // 500 GiB of EBS: ~7 minutes (created at once, loaded lazily); 20 GiB of RDS: ~16
    let restores = [
        sized("volume", ResourceKind::Ebs, 500),
        sized("database", ResourceKind::Rds, 20),
        sized("files", ResourceKind::Efs, 10),
    ];
    assert!(
        expected_restore_seconds(&ResourceKind::Rds, Some(20 * GIB))
            > expected_restore_seconds(&ResourceKind::Ebs, Some(500 * GIB))
    );
    let (started, waiting) = schedule(&restores, &[], 2, false);
    let names: Vec<&str> = started.iter().map(|(i, _)| i.resource.as_str()).collect();
    assert_eq!(names, ["database", "files"]);
    assert_eq!(waiting, 1);
}

/// A round woken by a restore's end starts before it polls: the slots of the jobs AWS Backup
/// shows ended are free, a job still running or not listed yet holds its slot, and a job the
/// run already saw end is not counted twice.
#[tokio::test]
async fn a_woken_round_counts_the_slots_of_restores_ended_since_the_last_poll() {
    use aws_sdk_backup::operation::list_restore_jobs::ListRestoreJobsOutput;
    use aws_sdk_backup::types::{RestoreJobStatus, RestoreJobsListMember};
    let listed = |id: &str, status: RestoreJobStatus| {
        RestoreJobsListMember::builder()
            .restore_job_id(id)
            .status(status)
            .build()
    };
    let listing = mock!(Client::list_restore_jobs).then_output(move || {
        ListRestoreJobsOutput::builder()
            .restore_jobs(listed("job-a-0", RestoreJobStatus::Completed))
            .restore_jobs(listed("job-b-0", RestoreJobStatus::Failed))
            .restore_jobs(listed("job-c-0", RestoreJobStatus::Running))
            .restore_jobs(listed("job-e-0", RestoreJobStatus::Completed))
            .build()
    });
    let backup = client(&[&listing]);
    let ctx = RestoreContext::for_test(Mode::Drill);
    let jobs = vec![
        job("a", 0, "RUNNING"),
        job("b", 0, "PENDING"),
        job("c", 0, "RUNNING"),
        job("d", 0, "PENDING"),
        job("e", 0, "COMPLETED"),
    ];
    let ended = super::poll::ended_since_poll(&backup, &ctx, &jobs)
        .await
        .unwrap();
    assert_eq!(ended, 2);
    // nothing running: no listing at all
    let done = vec![job("e", 0, "COMPLETED")];
    assert_eq!(
        super::poll::ended_since_poll(&client(&[]), &ctx, &done)
            .await
            .unwrap(),
        0
    );
}

#[test]
fn only_a_cap_that_holds_back_a_due_restore_needs_the_jobs_that_ended() {
    // a round lists the jobs ended since the last poll only when `schedule` leaves a due
    // restore waiting under the cap alone
    let items = |n: usize| -> Vec<RestoreItem> {
        (0..n)
            .map(|i| item(&format!("r{i}"), ResourceKind::Ebs, &format!("rp-{i}")))
            .collect()
    };
    let running = |n: usize| -> Vec<RestoreJob> {
        (0..n)
            .map(|i| job(&format!("r{i}"), 0, "RUNNING"))
            .collect()
    };
    let held_back = |restores: &[RestoreItem], jobs: &[RestoreJob], cap: usize| {
        schedule(restores, jobs, cap, false).1 > 0
    };
    // no cap (a slot for every restore): room for all of them
    assert!(!held_back(&items(3_000), &[], 3_000));
    // nothing due (every restore has its job): nothing to make room for
    assert!(!held_back(&items(100), &running(100), 100));
    // 20 slots, 15 running: room for 5
    assert!(!held_back(&items(20), &running(15), 20));
    assert!(held_back(&items(21), &running(15), 20));
    // more running than the cap (resumed with a lower one): no room at all
    assert!(held_back(&items(26), &running(25), 20));
}

#[test]
fn only_completed_restores_aws_shows_as_the_runs_are_claimed() {
    use super::poll::{claimable, SeenJob};
    use crate::model::jobs::JobStatus;
    let mut ctx = RestoreContext::for_test(Mode::Drill);
    ctx.started_at = DateTime::from_secs(1_000_000);
    let seen = |resource: &str, status: JobStatus, point: &str, created: i64| SeenJob {
        status,
        status_message: None,
        created_resource_arn: Some(format!(
            "arn:aws:ec2:us-west-2:123456789012:volume/vol-{resource}"
        )),
        resource_type: Some("EBS".into()),
        recovery_point_arn: Some(format!("arn:aws:ec2:us-west-2::snapshot/{point}")),
        iam_role_arn: None,
        created: Some(DateTime::from_secs(created)),
        completed: None,
    };
    let jobs: Vec<RestoreJob> = ["ours", "running", "other-point", "before-run"]
        .iter()
        .map(|r| job(r, 0, "RUNNING"))
        .collect();
    let latest: std::collections::HashMap<String, SeenJob> = [
        seen("ours", JobStatus::Completed, "ours", 1_000_010),
        seen("running", JobStatus::Running, "running", 1_000_010),
        // AWS says this job restores another recovery point, or began before the run
        seen(
            "other-point",
            JobStatus::Completed,
            "someone-else",
            1_000_010,
        ),
        seen("before-run", JobStatus::Completed, "before-run", 900_000),
    ]
    .into_iter()
    .zip(&jobs)
    .map(|(seen, job)| (job.restore_job_id.clone(), seen))
    .collect();
    assert_eq!(
        claimable(&ctx, &jobs, &latest),
        vec!["vol-ours".to_string()]
    );
}
