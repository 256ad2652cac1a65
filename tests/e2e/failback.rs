//! Failback: after a failover, the workload comes home to the primary region from backups of
//! the DR side taken after the failover, production DNS answers the primary again, and the
//! failover's DR side is retired (databases with a final snapshot).

use backstop_tests::{
    assert_succeeded, home_block, protected_workload, run_input, Scenario, Seed, PLAN_PARAMETER,
};
use serde_json::{json, Value};

/// The seeded plan with its home block (see [`home_block`]).
fn plan_with_home(seed: &Seed) -> Value {
    let mut plan = backstop_tests::plan_for(seed);
    plan["home"] = home_block(seed);
    plan
}

async fn failback_scenario(name: &str) -> Scenario {
    let (emulator, seed) = protected_workload(name).await;
    let stack = emulator.deploy_stack_with(json!({
        "PrimaryRegion": seed.primary_region,
        "PrimaryBackupVaultName": seed.primary.backup_vault.name,
    }));
    Scenario::of(emulator, seed, stack).await
}

/// A scenario whose plan failed over to the DR region (`failover-1`), and that run's report.
async fn failed_over(name: &str) -> (Scenario, Value) {
    let scenario = failback_scenario(name).await;
    let plan = plan_with_home(&scenario.seed);
    let failover = scenario
        .run_to_end("failover-1", run_input("failover", &plan))
        .await;
    assert_succeeded(&failover);
    let report = serde_json::from_str(failover.output().unwrap()).unwrap();
    (scenario, report)
}

fn failback_input(failover_run_id: &str) -> Value {
    json!({
        "mode": "failback",
        "planParameter": PLAN_PARAMETER,
        "failoverRunId": failover_run_id,
        "settings": { "pollIntervalSeconds": 2 }
    })
}

fn quiesced_failback_input(failover_run_id: &str) -> Value {
    let mut input = failback_input(failover_run_id);
    input["quiesce"] = json!(true);
    input
}

fn parse_time(text: &str) -> i64 {
    aws_smithy_types::DateTime::from_str(text, aws_smithy_types::date_time::Format::DateTime)
        .unwrap()
        .secs()
}

/// Production DNS answers the DR instance `failover` launched (with the plan's TTL).
async fn production_answers_the_dr_instance_of(scenario: &Scenario, failover: &str) {
    let dr_ip = scenario.instances_of_run(failover).await[0]
        .private_ip_address()
        .unwrap()
        .to_string();
    assert_eq!(
        scenario.a_record("app.shop.example.com").await,
        Some((vec![dr_ip], 60))
    );
}

fn volume_id(arn: &str) -> String {
    arn.rsplit('/').next().unwrap().to_string()
}

/// The ARN the failover's report says it restored `resource` as, in the DR region.
fn restored_arn(failover_report: &Value, resource: &str) -> String {
    failover_report["restored"]
        .as_array()
        .unwrap()
        .iter()
        .find(|job| job["resource"] == resource)
        .and_then(|job| job["createdResourceArn"].as_str())
        .unwrap()
        .to_string()
}

/// The volume restored in the primary region from the copy the capture made of `resource`.
async fn home_volume_of(
    scenario: &Scenario,
    captured: &[Value],
    resource: &str,
) -> aws_sdk_ec2::types::Volume {
    let copy = captured
        .iter()
        .find(|c| c["resource"] == resource)
        .and_then(|c| c["homeRecoveryPointArn"].as_str())
        .unwrap();
    let jobs = scenario
        .primary
        .backup
        .list_restore_jobs()
        .send()
        .await
        .unwrap();
    let volume = jobs
        .restore_jobs()
        .iter()
        .find(|job| job.recovery_point_arn() == Some(copy))
        .and_then(|job| job.created_resource_arn())
        .map(volume_id)
        .unwrap_or_else(|| panic!("{resource} restored at home from {copy}"));
    let volumes = scenario
        .primary
        .ec2
        .describe_volumes()
        .volume_ids(&volume)
        .send()
        .await
        .unwrap();
    volumes.volumes()[0].clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failback_through_dr_faults_brings_the_data_home_switches_dns_back_and_retires_the_failover(
) {
    let (scenario, failover_report) = failed_over("failback").await;
    production_answers_the_dr_instance_of(&scenario, "failover-1").await;

    // production runs in the DR region and writes there: the data volume grows
    let dr_data_volume = volume_id(&restored_arn(&failover_report, "app-data"));
    scenario
        .dr
        .ec2
        .modify_volume()
        .volume_id(&dr_data_volume)
        .size(250)
        .send()
        .await
        .expect("grow the DR volume");

    // the DR region is impaired while the failback captures: 5xx, resets and throttling, each
    // three in a row (more than the SDK's own attempts: the state machine's Retry takes over)
    let fault = |service: &str, operation: &str, error: &str| json!({ "service": service, "operation": operation, "error": error, "count": 3 });
    scenario.inject(json!({
        "apiErrors": [
            fault("backup", "StartBackupJob", "ServiceUnavailable"),
            fault("backup", "DescribeBackupJob", "InternalFailure"),
            fault("backup", "StartCopyJob", "ConnectionReset"),
        ],
        "throttle": [{ "service": "backup", "operation": "DescribeCopyJob", "count": 3 }]
    }));
    let failback = scenario
        .run_to_end("failback-1", quiesced_failback_input("failover-1"))
        .await;
    assert_succeeded(&failback);
    let injected = scenario.emulator.fault_report()["injectedCalls"].clone();
    for key in [
        "backup:StartBackupJob:ServiceUnavailable",
        "backup:StartCopyJob:ConnectionReset",
    ] {
        assert_eq!(injected[key], 3, "{key}: {injected}");
    }
    let report: Value = serde_json::from_str(failback.output().unwrap()).unwrap();
    assert_eq!(report["verdict"], "PASS", "{report:#}");

    // the data came from backups of the DR side, copied home after the change
    let captures = scenario
        .stack
        .stored(&scenario.emulator, "failback-1", "capture")
        .await;
    let captured = captures["resources"]
        .as_array()
        .expect("the capture is stored");
    assert_eq!(captured.len(), 4, "{captures:#}");
    for capture in captured {
        assert_eq!(capture["copyStatus"], "COMPLETED", "{capture:#}");
        assert!(
            capture["sourceArn"]
                .as_str()
                .unwrap()
                .contains(":us-west-2:"),
            "{capture:#}"
        );
    }
    let home_jobs = scenario
        .primary
        .backup
        .list_restore_jobs()
        .send()
        .await
        .unwrap();
    let home_jobs = home_jobs.restore_jobs();
    assert_eq!(home_jobs.len(), 4, "four restores in the primary region");
    for job in home_jobs {
        let point = job.recovery_point_arn().unwrap();
        assert!(
            captured
                .iter()
                .any(|c| c["homeRecoveryPointArn"].as_str() == Some(point)),
            "{point} is not a captured copy"
        );
    }
    let volume = home_volume_of(&scenario, captured, "app-data").await;
    let home_volume = volume.volume_id().unwrap().to_string();
    assert_eq!(volume.size(), Some(250), "the DR side's change came home");
    assert_eq!(
        volume.availability_zone(),
        Some(
            scenario.seed.primary.network.subnets[0]
                .availability_zone
                .as_str()
        )
    );

    // the workload runs at home, from the primary's golden AMI, and production DNS answers it
    let home_instances = scenario.instances_at_home("failback-1").await;
    assert_eq!(home_instances.len(), 1);
    let home_instance = &home_instances[0];
    assert_eq!(
        home_instance.image_id(),
        Some(scenario.seed.primary.golden_ami_id.as_str())
    );
    assert_eq!(
        volume.attachments()[0].instance_id(),
        home_instance.instance_id()
    );
    let home_ip = home_instance.private_ip_address().unwrap().to_string();
    assert_eq!(
        scenario.a_record("app.shop.example.com").await,
        Some((vec![home_ip], 60))
    );

    // the failover's DR side is retired: its volumes gone, its instance terminated, its
    // database deleted with a final snapshot
    let dr_volumes = scenario
        .dr
        .ec2
        .describe_volumes()
        .volume_ids(&dr_data_volume)
        .send()
        .await;
    assert!(
        dr_volumes.is_err() || dr_volumes.unwrap().volumes().is_empty(),
        "the failover's DR volume is deleted"
    );
    for instance in scenario.instances_of_run("failover-1").await {
        let state = instance.state().and_then(|s| s.name()).map(|s| s.as_str());
        assert!(
            matches!(state, Some("terminated" | "shutting-down")),
            "{state:?}"
        );
    }
    let retired = scenario
        .stack
        .stored(&scenario.emulator, "failover-1", "teardown")
        .await;
    assert_eq!(retired["left"], json!([]), "{retired:#}");

    // the report closes the failover: what came home, from which backups, and what was retired
    let summary = &report["failback"];
    assert_eq!(summary["failoverRunId"], "failover-1", "{report:#}");
    assert_eq!(summary["captured"].as_array().unwrap().len(), 4);
    let deleted = summary["retired"]["deleted"].as_array().unwrap();
    assert!(
        deleted.iter().any(|d| d["id"] == dr_data_volume.as_str()),
        "{summary:#}"
    );
    assert!(report["rto"]["measuredSeconds"].as_i64().unwrap() > 0);
    // quiesced: the DR instance was stopped before any backup began, so nothing it wrote is
    // lost (the failback's RPO is 0)
    let stopped_at = summary["quiesced"]["stoppedAt"].as_str().expect("quiesced");
    for capture in summary["captured"].as_array().unwrap() {
        let started = capture["backupStartedAt"].as_str().unwrap();
        assert!(parse_time(stopped_at) <= parse_time(started), "{summary:#}");
    }
    assert_eq!(report["rpo"]["measuredSeconds"], 0, "{:#}", report["rpo"]);
    let text = scenario.evidence("runs/shop/failback-1/report.txt").await;
    assert!(
        text.contains("Brought home from failover failover-1"),
        "{text}"
    );
    assert!(text.contains("The failover retired"), "{text}");
    let snapshots = scenario
        .dr
        .rds
        .describe_db_snapshots()
        .send()
        .await
        .unwrap();
    assert!(
        snapshots.db_snapshots().iter().any(|s| s
            .db_snapshot_identifier()
            .is_some_and(|id| id.starts_with("backstop-final-"))),
        "the DR database keeps a final snapshot: {snapshots:?}"
    );

    // once brought home, the failover has nothing left to bring: a second failback stops at
    // preflight, before it backs anything up
    let backups_before = scenario.dr.backup.list_backup_jobs().send().await.unwrap();
    let again = scenario
        .run_to_end("failback-2", failback_input("failover-1"))
        .await;
    assert_eq!(again.status().as_str(), "FAILED");
    assert_eq!(
        again.error(),
        Some("Backstop.NotReady"),
        "{:?}",
        again.cause()
    );
    assert!(again
        .cause()
        .unwrap_or_default()
        .contains("gone from the DR region"));
    let backups_after = scenario.dr.backup.list_backup_jobs().send().await.unwrap();
    assert_eq!(
        backups_after.backup_jobs().len(),
        backups_before.backup_jobs().len()
    );

    // by hand, the failback's resources are production's: refused without consent, and with
    // it deleted where they are, in the primary region
    let refused = scenario
        .invoke("teardown", &json!({ "runId": "failback-1" }))
        .await
        .unwrap_err();
    assert!(refused.1.contains("allowFailover"), "{}", refused.1);
    let still = scenario
        .primary
        .ec2
        .describe_volumes()
        .volume_ids(&home_volume)
        .send()
        .await;
    assert_eq!(
        still.unwrap().volumes().len(),
        1,
        "nothing deleted without consent"
    );
    let torn = scenario.teardown_by_hand("failback-1", true).await;
    assert_eq!(torn["left"], 0, "{torn:#}");
    let gone = scenario
        .primary
        .ec2
        .describe_volumes()
        .volume_ids(&home_volume)
        .send()
        .await;
    assert!(
        gone.is_err() || gone.unwrap().volumes().is_empty(),
        "the home volume is deleted"
    );
}

/// The state of the failover's first DR instance.
async fn dr_instance_state(scenario: &Scenario, failover: &str) -> (String, String) {
    let instance = scenario.instances_of_run(failover).await.remove(0);
    let state = instance.state().and_then(|s| s.name()).unwrap().as_str();
    (
        instance.instance_id().unwrap().to_string(),
        state.to_string(),
    )
}

/// A quiesced failback whose capture fails leaves the DR instances stopped. An operator starts
/// them again to serve and production writes; then the failback is resumed. It must not bring
/// home the backups taken before the restart (what was written since would be lost once the
/// failover is retired): it stops the instances again, backs everything up again, and takes
/// the failed backup again under a new token (the old one would find the failed job).
#[tokio::test(flavor = "multi_thread")]
async fn a_resumed_failback_backs_up_again_what_failed_and_what_ran_after_the_stop() {
    let (scenario, failover_report) = failed_over("failback-resume").await;
    let dr_data = restored_arn(&failover_report, "app-data");

    scenario.inject(json!({ "failJobs": [{
        "jobType": "backup",
        "resourceArn": dr_data,
        "message": "Volume unreadable (injected)"
    }]}));
    let first = scenario
        .run_to_end("failback-1", quiesced_failback_input("failover-1"))
        .await;
    assert_eq!(first.status().as_str(), "FAILED");
    let cause = first.cause().unwrap_or_default();
    assert!(cause.contains("Volume unreadable"), "{cause}");
    assert!(cause.contains("stay stopped"), "{cause}");
    let (instance_id, state) = dr_instance_state(&scenario, "failover-1").await;
    assert_eq!(state, "stopped", "quiesced, and left stopped");
    let stopped_first = scenario
        .stack
        .stored(&scenario.emulator, "failback-1", "capture")
        .await["quiesced"]["stoppedAt"]
        .as_str()
        .map(parse_time)
        .expect("the first run stopped the instance");

    // the operator serves from the DR region again meanwhile, and production writes there
    scenario.emulator.control("DELETE", "faults", &json!({}));
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    scenario
        .dr
        .ec2
        .start_instances()
        .instance_ids(&instance_id)
        .send()
        .await
        .expect("start the DR instance again");
    backstop_tests::wait_for(
        "the DR instance to run again",
        std::time::Duration::from_secs(60),
        || async {
            let (_, state) = dr_instance_state(&scenario, "failover-1").await;
            (state == "running").then_some(())
        },
    )
    .await;
    let dr_data_volume = volume_id(&dr_data);
    scenario
        .dr
        .ec2
        .modify_volume()
        .volume_id(&dr_data_volume)
        .size(300)
        .send()
        .await
        .expect("grow the DR volume");

    let mut resume = quiesced_failback_input("failover-1");
    resume["resumeRunId"] = json!("failback-1");
    let second = scenario.run_to_end("failback-2", resume).await;
    assert_succeeded(&second);
    let report: Value = serde_json::from_str(second.output().unwrap()).unwrap();
    assert_eq!(report["verdict"], "PASS", "{report:#}");

    // stopped again, and every backup brought home began after that stop
    let summary = &report["failback"];
    let stopped_again = parse_time(summary["quiesced"]["stoppedAt"].as_str().unwrap());
    assert!(stopped_again > stopped_first, "{summary:#}");
    let captured = summary["captured"].as_array().unwrap();
    assert_eq!(captured.len(), 4, "{summary:#}");
    for capture in captured {
        assert_eq!(capture["copyStatus"], "COMPLETED", "{capture:#}");
        assert_eq!(capture["attempt"], 1, "taken again: {capture:#}");
        let began = parse_time(capture["backupStartedAt"].as_str().unwrap());
        assert!(began >= stopped_again, "{capture:#}");
    }
    assert_eq!(report["rpo"]["measuredSeconds"], 0, "{:#}", report["rpo"]);

    // what production wrote after the restart came home
    let volume = home_volume_of(&scenario, captured, "app-data").await;
    assert_eq!(volume.size(), Some(300));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failback_of_an_unknown_running_or_drill_run_or_to_an_unready_home_creates_nothing() {
    let scenario = failback_scenario("failback-refused").await;
    let plan = plan_with_home(&scenario.seed);

    // the failover is still running: nothing of it to bring home yet
    let failover = scenario
        .start("failover-1", run_input("failover", &plan))
        .await;
    let running = scenario
        .run_to_end("failback-too-soon", failback_input("failover-1"))
        .await;
    assert_eq!(running.status().as_str(), "FAILED");
    let cause = running.cause().unwrap_or_default();
    assert!(cause.contains("still running"), "{cause}");

    let unknown = scenario
        .run_to_end(
            "failback-unknown",
            failback_input("failover-that-never-ran"),
        )
        .await;
    assert_eq!(unknown.status().as_str(), "FAILED");
    let cause = unknown.cause().unwrap_or_default();
    assert!(cause.contains("failoverRunId"), "{cause}");
    assert_succeeded(
        &scenario
            .ended(&failover, std::time::Duration::from_secs(180))
            .await,
    );

    // a drill is not a failover: there is nothing of it to bring home
    let drill = scenario
        .run_to_end("drill-1", run_input("drill", &plan))
        .await;
    assert_succeeded(&drill);
    let not_a_failover = scenario
        .run_to_end("failback-of-a-drill", failback_input("drill-1"))
        .await;
    assert_eq!(not_a_failover.status().as_str(), "FAILED");
    let cause = not_a_failover.cause().unwrap_or_default();
    assert!(cause.contains("not a failover"), "{cause}");

    // the primary region is not ready for it: a home subnet that does not exist there
    let mut unready = plan.clone();
    unready["home"]["subnetIds"] = json!(["subnet-0123456789abcdef0"]);
    backstop_tests::put_plan(&scenario.emulator, &unready).await;
    let not_ready = scenario
        .run_to_end("failback-unready", failback_input("failover-1"))
        .await;
    assert_eq!(not_ready.status().as_str(), "FAILED");
    assert_eq!(not_ready.error(), Some("Backstop.NotReady"));
    let cause = not_ready.cause().unwrap_or_default();
    assert!(
        cause.contains("primary region") && cause.contains("subnet-0123456789abcdef0"),
        "{cause}"
    );

    // nothing was backed up in the DR region, nothing restored in the primary region, and
    // production still runs in the DR region
    let backups = scenario.dr.backup.list_backup_jobs().send().await.unwrap();
    assert!(backups.backup_jobs().is_empty(), "{backups:?}");
    let restores = scenario
        .primary
        .backup
        .list_restore_jobs()
        .send()
        .await
        .unwrap();
    assert!(restores.restore_jobs().is_empty());
    production_answers_the_dr_instance_of(&scenario, "failover-1").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_drill_of_the_way_home_recovers_at_home_from_the_dr_copies_and_leaves_nothing() {
    let scenario = failback_scenario("failback-drill").await;
    let primary_ip = scenario.seed.primary.app_private_ip.clone();
    let production = scenario.a_record("app.shop.example.com").await;
    let home_vault = scenario.seed.primary.backup_vault.name.clone();
    let points_before = home_points(&scenario, &home_vault).await;
    let mut input = run_input("drill", &plan_with_home(&scenario.seed));
    input["failback"] = json!(true);

    // the drill record is written at home while the drill runs
    let execution = scenario.start("drill-home-1", input).await;
    let drill_record = backstop_tests::wait_for(
        "the drill record at home",
        std::time::Duration::from_secs(180),
        || async { scenario.a_record("drill.app.shop.example.com").await },
    )
    .await;
    let home_instances = scenario.instances_at_home("drill-home-1").await;
    assert_eq!(home_instances.len(), 1);
    let home_instance = &home_instances[0];
    assert_eq!(
        home_instance.image_id(),
        Some(scenario.seed.primary.golden_ami_id.as_str())
    );
    let home_ip = home_instance.private_ip_address().unwrap().to_string();
    assert_eq!(drill_record.0, vec![home_ip]);

    let ended = scenario
        .ended(&execution, std::time::Duration::from_secs(240))
        .await;
    if ended.status().as_str() != "SUCCEEDED" {
        let teardown = scenario.stored("drill-home-1", "teardown").await;
        panic!("{:?}: {:?}\n{teardown:#}", ended.error(), ended.cause());
    }
    let report: Value = serde_json::from_str(ended.output().unwrap()).unwrap();
    assert_eq!(report["verdict"], "PASS", "{report:#}");
    let run = scenario.state_entering("drill-home-1", "Teardown").await;
    assert_eq!(run["run"]["region"], scenario.seed.primary_region);

    // restored at home from the DR vault's copies brought home by this drill
    let captured = report["failback"]["captured"].as_array().unwrap().clone();
    assert_eq!(captured.len(), 4, "{report:#}");
    let restores = scenario
        .primary
        .backup
        .list_restore_jobs()
        .send()
        .await
        .unwrap();
    let created: Vec<String> = restores
        .restore_jobs()
        .iter()
        .map(|job| {
            let point = job.recovery_point_arn().unwrap();
            assert!(
                captured
                    .iter()
                    .any(|c| c["homeRecoveryPointArn"].as_str() == Some(point)),
                "{point} is not a copy the drill brought home"
            );
            job.created_resource_arn().unwrap_or_default().to_string()
        })
        .collect();
    assert_eq!(created.len(), 4);

    // nothing left at home, not even the copies; production DNS as it was
    let left = crate::drill::leftovers_in(&scenario.primary, "drill-home-1", &created).await;
    assert!(left.is_empty(), "left behind at home: {left:?}");
    assert_eq!(home_points(&scenario, &home_vault).await, points_before);
    assert_eq!(scenario.a_record("drill.app.shop.example.com").await, None);
    assert_eq!(scenario.a_record("app.shop.example.com").await, production);
    assert_eq!(production.unwrap().0, vec![primary_ip]);

    // a capture state edited to name production's own backups at home, with a made-up or
    // another run's copy job, deletes none of them
    let production_points = home_points(&scenario, &home_vault).await;
    let forged: Vec<Value> = production_points
        .iter()
        .zip(captured.iter().cycle())
        .map(|(point, real)| {
            json!({ "resource": real["resource"], "sourceArn": real["sourceArn"],
                    "copyJobId": real["copyJobId"], "copyStatus": "COMPLETED",
                    "homeRecoveryPointArn": point })
        })
        .chain(std::iter::once(json!({
            "resource": "app-data", "sourceArn": "arn:x", "copyJobId": "NO-SUCH-JOB",
            "copyStatus": "COMPLETED", "homeRecoveryPointArn": production_points[0]
        })))
        .collect();
    scenario
        .store("drill-home-1", "capture", &json!({ "resources": forged }))
        .await;
    let pass = scenario
        .invoke("teardown", &json!({ "runId": "drill-home-1" }))
        .await
        .expect("a teardown pass by hand");
    assert!(pass["left"].as_u64().unwrap() >= 1, "{pass:#}");
    assert_eq!(home_points(&scenario, &home_vault).await, production_points);
}

/// The recovery points in the home vault.
async fn home_points(scenario: &Scenario, vault: &str) -> Vec<String> {
    let listed = scenario
        .primary
        .backup
        .list_recovery_points_by_backup_vault()
        .backup_vault_name(vault)
        .send()
        .await
        .unwrap();
    let mut points: Vec<String> = listed
        .recovery_points()
        .iter()
        .filter_map(|p| p.recovery_point_arn().map(str::to_string))
        .collect();
    points.sort();
    points
}
