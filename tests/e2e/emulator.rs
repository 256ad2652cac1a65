//! The local AWS emulator does what Backstop relies on: AWS Backup jobs that
//! leave real resources behind, our handlers running as Lambda functions, and
//! the faults a DR run must survive.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_backup::types::RestoreJobStatus;
use backstop::error::classify_sdk_error;
use backstop_tests::{
    back_up, copy_to_dr, plan_for, protect, run_to_end, Emulator, DR_REGION, PRIMARY_REGION,
};
use serde_json::{json, Value};

/// Restore metadata of a DR recovery point with the DR-region overrides applied.
async fn restore_metadata(
    dr_backup: &aws_sdk_backup::Client,
    recovery_point: &str,
    overrides: &[(&str, String)],
) -> HashMap<String, String> {
    let mut metadata = dr_backup
        .get_recovery_point_restore_metadata()
        .backup_vault_name("backstop-dr")
        .recovery_point_arn(recovery_point)
        .send()
        .await
        .expect("restore metadata")
        .restore_metadata
        .unwrap_or_default();
    for (key, value) in overrides {
        metadata.insert(key.to_string(), value.clone());
    }
    metadata
}

/// Waits for a restore job to end; returns every status seen on the way and the final job.
async fn watch_restore(
    dr_backup: &aws_sdk_backup::Client,
    job_id: &str,
) -> (
    Vec<RestoreJobStatus>,
    aws_sdk_backup::operation::describe_restore_job::DescribeRestoreJobOutput,
) {
    let mut seen = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let job = loop {
        let job = dr_backup
            .describe_restore_job()
            .restore_job_id(job_id)
            .send()
            .await
            .expect("describe restore job");
        let status = job.status().cloned().unwrap();
        if seen.last() != Some(&status) {
            seen.push(status.clone());
        }
        if matches!(
            status,
            RestoreJobStatus::Completed | RestoreJobStatus::Failed
        ) {
            break job;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "restore job still {status:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    (seen, job)
}

#[tokio::test(flavor = "multi_thread")]
async fn backups_copied_to_the_dr_region_restore_into_real_resources() {
    let emulator = Emulator::start("round-trip");
    let seed = emulator.seed();
    let backup = aws_sdk_backup::Client::new(&emulator.sdk_config(PRIMARY_REGION).await);
    let dr_backup = aws_sdk_backup::Client::new(&emulator.sdk_config(DR_REGION).await);
    let dr_config = emulator.sdk_config(DR_REGION).await;

    let volume = &seed.primary.volumes["app-data"];
    let db = &seed.primary.db;
    let volume_point = back_up(&backup, &seed, &volume.arn).await;
    let db_point = back_up(&backup, &seed, &db.arn).await;
    let volume_copy = copy_to_dr(&backup, &seed, &volume_point).await;
    let db_copy = copy_to_dr(&backup, &seed, &db_point).await;
    assert!(
        volume_copy.starts_with(&format!("arn:aws:ec2:{DR_REGION}::snapshot/snap-")),
        "{volume_copy}"
    );

    // the DR vault lists both copies, with the source resource and the backup's creation time
    let listed = dr_backup
        .list_recovery_points_by_backup_vault()
        .backup_vault_name("backstop-dr")
        .send()
        .await
        .unwrap();
    let points = listed.recovery_points();
    assert_eq!(points.len(), 2);
    let listed_volume = points
        .iter()
        .find(|p| p.recovery_point_arn() == Some(&volume_copy))
        .unwrap();
    assert_eq!(listed_volume.resource_arn(), Some(volume.arn.as_str()));
    assert_eq!(listed_volume.status().unwrap().as_str(), "COMPLETED");

    let az = format!("{DR_REGION}a");
    let volume_metadata = restore_metadata(
        &dr_backup,
        &volume_copy,
        &[("availabilityZone", az.clone())],
    )
    .await;
    assert_eq!(volume_metadata["volumeSize"], "50");
    let db_metadata = restore_metadata(
        &dr_backup,
        &db_copy,
        &[
            ("DBInstanceIdentifier", "orders-dr".to_string()),
            ("DBSubnetGroupName", "dr-db-subnets".to_string()),
            // the copy's metadata names the primary region's AZ: RDS in the DR region refuses it
            ("AvailabilityZone", az.clone()),
            (
                "VpcSecurityGroupIds",
                json!([seed.dr.db_security_group_id]).to_string(),
            ),
        ],
    )
    .await;

    let volume_job = dr_backup
        .start_restore_job()
        .recovery_point_arn(&volume_copy)
        .set_metadata(Some(volume_metadata))
        .iam_role_arn(seed.backup_role_arn.as_str())
        .send()
        .await
        .unwrap()
        .restore_job_id
        .unwrap();
    let db_job = dr_backup
        .start_restore_job()
        .recovery_point_arn(&db_copy)
        .set_metadata(Some(db_metadata))
        .iam_role_arn(seed.backup_role_arn.as_str())
        .send()
        .await
        .unwrap()
        .restore_job_id
        .unwrap();

    let (statuses, volume_restore) = watch_restore(&dr_backup, &volume_job).await;
    assert_eq!(
        statuses.last(),
        Some(&RestoreJobStatus::Completed),
        "{statuses:?}"
    );
    assert!(
        statuses.contains(&RestoreJobStatus::Running),
        "never seen RUNNING: {statuses:?}"
    );
    let (_, db_restore) = watch_restore(&dr_backup, &db_job).await;
    assert_eq!(
        db_restore.status(),
        Some(&RestoreJobStatus::Completed),
        "{:?}",
        db_restore.status_message()
    );

    // the restored volume is a real EBS volume in the DR region, sized like its source
    let volume_arn = volume_restore.created_resource_arn().unwrap();
    let volume_id = volume_arn.rsplit('/').next().unwrap();
    let ec2 = aws_sdk_ec2::Client::new(&dr_config);
    let volumes = ec2
        .describe_volumes()
        .volume_ids(volume_id)
        .send()
        .await
        .unwrap();
    let restored = &volumes.volumes()[0];
    assert_eq!(restored.size(), Some(50));
    assert_eq!(restored.availability_zone(), Some(az.as_str()));
    assert_eq!(restored.volume_type().map(|t| t.as_str()), Some("gp3"));

    // the restored database is a real RDS instance in the DR region, same engine
    assert_eq!(
        db_restore.created_resource_arn(),
        Some(format!("arn:aws:rds:{DR_REGION}:123456789012:db:orders-dr").as_str())
    );
    let rds = aws_sdk_rds::Client::new(&dr_config);
    let instances = rds
        .describe_db_instances()
        .db_instance_identifier("orders-dr")
        .send()
        .await
        .unwrap();
    let instance = &instances.db_instances()[0];
    assert_eq!(instance.engine(), Some(db.engine.as_str()));
    assert_eq!(
        instance.allocated_storage(),
        Some(db.allocated_storage as i32)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restore_job_started_twice_with_one_idempotency_token_is_one_job() {
    let emulator = Emulator::start("idempotency");
    let seed = emulator.seed();
    let backup = aws_sdk_backup::Client::new(&emulator.sdk_config(PRIMARY_REGION).await);
    let dr_backup = aws_sdk_backup::Client::new(&emulator.sdk_config(DR_REGION).await);
    let point = back_up(
        &backup,
        &seed,
        seed.primary.volumes["app-logs"].arn.as_str(),
    )
    .await;
    let copy = copy_to_dr(&backup, &seed, &point).await;
    let metadata = restore_metadata(
        &dr_backup,
        &copy,
        &[("availabilityZone", format!("{DR_REGION}b"))],
    )
    .await;

    let mut ids = Vec::new();
    for _ in 0..2 {
        let id = dr_backup
            .start_restore_job()
            .recovery_point_arn(&copy)
            .set_metadata(Some(metadata.clone()))
            .idempotency_token("run-1/app-logs")
            .send()
            .await
            .unwrap()
            .restore_job_id
            .unwrap();
        ids.push(id);
    }
    assert_eq!(ids[0], ids[1]);
    let jobs = dr_backup.list_restore_jobs().send().await.unwrap();
    assert_eq!(jobs.restore_jobs().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_injected_restore_failure_ends_the_job_failed_with_its_message() {
    let emulator = Emulator::start("restore-failure");
    let seed = emulator.seed();
    let volume_arn = seed.primary.volumes["app-data"].arn.as_str();
    emulator.inject(json!({ "failJobs": [{
        "jobType": "restore",
        "resourceArn": volume_arn,
        "message": "Snapshot snap-x is corrupted (injected)"
    }]}));
    let backup = aws_sdk_backup::Client::new(&emulator.sdk_config(PRIMARY_REGION).await);
    let dr_backup = aws_sdk_backup::Client::new(&emulator.sdk_config(DR_REGION).await);
    let point = back_up(&backup, &seed, volume_arn).await;
    let copy = copy_to_dr(&backup, &seed, &point).await;
    let metadata = restore_metadata(
        &dr_backup,
        &copy,
        &[("availabilityZone", format!("{DR_REGION}a"))],
    )
    .await;
    let job = dr_backup
        .start_restore_job()
        .recovery_point_arn(&copy)
        .set_metadata(Some(metadata))
        .send()
        .await
        .unwrap()
        .restore_job_id
        .unwrap();

    let (_, restore) = watch_restore(&dr_backup, &job).await;
    assert_eq!(restore.status(), Some(&RestoreJobStatus::Failed));
    assert_eq!(
        restore.status_message(),
        Some("Snapshot snap-x is corrupted (injected)")
    );
    assert_eq!(restore.created_resource_arn(), None);
}

#[tokio::test(flavor = "multi_thread")]
async fn restoring_a_copy_in_the_wrong_region_is_refused() {
    let emulator = Emulator::start("wrong-region");
    let seed = emulator.seed();
    let backup = aws_sdk_backup::Client::new(&emulator.sdk_config(PRIMARY_REGION).await);
    let point = back_up(
        &backup,
        &seed,
        seed.primary.volumes["app-logs"].arn.as_str(),
    )
    .await;
    let copy = copy_to_dr(&backup, &seed, &point).await;

    // the primary-region client tries to restore the DR copy
    let err = backup
        .start_restore_job()
        .recovery_point_arn(&copy)
        .metadata("availabilityZone", format!("{PRIMARY_REGION}a"))
        .send()
        .await
        .unwrap_err();
    let err = classify_sdk_error("restoring app-logs", err);
    assert_eq!(err.error_name(), "Backstop.AwsError");
    assert!(
        err.to_string().contains("InvalidParameterValueException"),
        "{err}"
    );
    assert!(err.to_string().contains(DR_REGION), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_sdk_retries_throttled_calls_and_gives_up_with_a_typed_error() {
    let emulator = Emulator::start("throttling");
    emulator.seed();
    let dr_backup = aws_sdk_backup::Client::new(&emulator.sdk_config(DR_REGION).await);

    // two throttles: the SDK's standard retry (3 attempts) gets through
    emulator.inject(json!({ "throttle": [{ "service": "backup", "operation": "ListRestoreJobs", "count": 2 }] }));
    dr_backup
        .list_restore_jobs()
        .send()
        .await
        .expect("retried past two throttles");
    assert_eq!(
        emulator.fault_report()["throttledCalls"]["backup:ListRestoreJobs"],
        2
    );

    // throttled every time: the error is Backstop.Throttled, which the state machine retries
    emulator.inject(json!({ "throttle": [{ "service": "backup", "operation": "ListRestoreJobs", "probability": 1.0 }] }));
    let err = dr_backup.list_restore_jobs().send().await.unwrap_err();
    let err = classify_sdk_error("listing restore jobs", err);
    assert_eq!(err.error_name(), "Backstop.Throttled", "{err}");
    assert_eq!(
        emulator.fault_report()["throttledCalls"]["backup:ListRestoreJobs"],
        5
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_instance_type_without_capacity_fails_to_launch_and_another_type_launches() {
    let emulator = Emulator::start("capacity");
    let seed = emulator.seed();
    emulator.inject(json!({ "insufficientCapacity": [{
        "instanceType": "m6i.large", "availabilityZone": format!("{DR_REGION}a")
    }]}));
    let ec2 = aws_sdk_ec2::Client::new(&emulator.sdk_config(DR_REGION).await);
    let subnet = seed.dr.subnets[0].id.as_str();
    let ami = seed.dr.golden_ami_id.as_str();
    let launch = |instance_type: &'static str| {
        ec2.run_instances()
            .image_id(ami)
            .instance_type(instance_type.into())
            .subnet_id(subnet)
            .min_count(1)
            .max_count(1)
            .send()
    };

    let err = launch("m6i.large").await.unwrap_err();
    let err = classify_sdk_error("launching app", err);
    assert_eq!(err.error_name(), "Backstop.InsufficientCapacity", "{err}");
    let launched = launch("m5.large")
        .await
        .expect("the fallback type has capacity");
    assert_eq!(
        launched.instances()[0].instance_type().unwrap().as_str(),
        "m5.large"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_handler_runs_as_a_lambda_function_and_returns_its_output() {
    let emulator = Emulator::start("lambda-output");
    let seed = emulator.seed();
    protect(
        &emulator,
        &seed,
        &[seed.primary.volumes["app-data"].arn.as_str()],
    )
    .await;
    let mut plan = plan_for(&seed);
    for resource in plan["resources"].as_array_mut().unwrap().iter_mut().skip(1) {
        resource["optional"] = json!(true);
    }
    let function = emulator.deploy_stack().function("resolve-plan");
    let lambda = aws_sdk_lambda::Client::new(&emulator.sdk_config(DR_REGION).await);
    let input = json!({ "runId": "drill-1", "input": { "mode": "drill", "plan": plan } });

    let output = lambda
        .invoke()
        .function_name(&function)
        .payload(input.to_string().into_bytes().into())
        .send()
        .await
        .expect("invoke");
    assert_eq!(output.function_error(), None, "{:?}", output.payload());
    let result: Value = serde_json::from_slice(output.payload().unwrap().as_ref()).unwrap();
    assert_eq!(result["runId"], "drill-1");
    assert_eq!(result["mode"], "drill");
    assert_eq!(result["counts"]["restores"], 1, "{result}");
    assert_eq!(result["counts"]["warnings"], 3, "{result}");

    // the handler logged JSON lines carrying the run id
    let log =
        std::fs::read_to_string(emulator.log_dir.join(format!("lambda-{function}.log"))).unwrap();
    let line = log
        .lines()
        .find(|l| l.contains("plan loaded and valid"))
        .unwrap_or_else(|| panic!("no log line in {log}"));
    let line: Value = serde_json::from_str(line).expect("a JSON log line");
    assert_eq!(line["span"]["run_id"], "drill-1", "{line}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_handler_error_reaches_the_caller_with_its_backstop_error_type() {
    let emulator = Emulator::start("lambda-error");
    let function = emulator.deploy_stack().function("resolve-plan");
    let lambda = aws_sdk_lambda::Client::new(&emulator.sdk_config(DR_REGION).await);
    let input =
        json!({ "runId": "drill-2", "input": { "mode": "drill", "plan": { "name": "shop" } } });

    let output = lambda
        .invoke()
        .function_name(&function)
        .payload(input.to_string().into_bytes().into())
        .send()
        .await
        .expect("invoke");
    assert_eq!(output.function_error(), Some("Unhandled"));
    let error: Value = serde_json::from_slice(output.payload().unwrap().as_ref()).unwrap();
    assert_eq!(error["errorType"], "Backstop.InvalidPlan");
    let message = error["errorMessage"].as_str().unwrap();
    assert!(message.contains("drRegion: is missing"), "{message}");
    assert!(message.contains("backupVault: is missing"), "{message}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_state_machine_runs_the_real_definition_and_fails_a_bad_plan_by_its_error_name() {
    let emulator = Emulator::start("state-machine");
    let machine = emulator.deploy_stack().state_machine();
    let bad = run_to_end(
        &emulator,
        &machine,
        "drill-bad-plan",
        json!({ "mode": "drill", "plan": { "name": "shop" } }),
    )
    .await;
    assert_eq!(bad.status().as_str(), "FAILED");
    assert_eq!(
        bad.error(),
        Some("Backstop.InvalidPlan"),
        "{:?}",
        bad.cause()
    );
    assert!(
        bad.cause().unwrap_or_default().contains("drRegion"),
        "{:?}",
        bad.cause()
    );
}
