//! Step 1 of recovery against the emulator: the three restore handlers, as Lambda
//! functions driven by the real state machine, turn DR copies into DR resources.

use std::time::Duration;

use backstop_tests::{
    protect, protected_workload, run_input, workload_arns, Emulator, Scenario, DR_REGION,
};
use serde_json::{json, Value};

async fn count_restore_jobs(scenario: &Scenario) -> usize {
    scenario.restore_jobs().await.len()
}

/// Polls through the poll-restore function until every job has finished; returns the last
/// summary and the jobs as the poll stored them.
async fn poll_until_done(scenario: &Scenario, run: &Value) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let outcome = scenario
            .invoke("poll-restore", &json!({ "run": run }))
            .await
            .expect("poll-restore");
        if outcome["summary"]["done"] == true {
            let execution = run["execution"].as_str().unwrap();
            let jobs = scenario.stored(execution, "restore").await;
            assert_eq!(outcome["jobs"], jobs.as_array().unwrap().len());
            return json!({ "summary": outcome["summary"], "jobs": jobs });
        }
        assert!(
            std::time::Instant::now() < deadline,
            "restores still running: {outcome:#}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// The restore job ids a run's steps stored, sorted.
async fn stored_job_ids(scenario: &Scenario, execution: &str) -> Vec<String> {
    let jobs = scenario.stored(execution, "restore").await;
    let mut ids: Vec<String> = jobs
        .as_array()
        .unwrap()
        .iter()
        .map(|job| job["restoreJobId"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

#[tokio::test(flavor = "multi_thread")]
async fn a_drill_restores_two_volumes_a_database_and_a_file_system_in_the_dr_region() {
    let scenario = Scenario::protected("restore-all").await;
    let plan = scenario.plan();
    // a plan of any size comes from S3 (an SSM parameter holds at most 8 KB)
    scenario
        .stack
        .put_object(&scenario.emulator, "plans/shop.json", &plan.to_string())
        .await;
    let bucket = scenario.stack.output("RunStateBucketName");
    let input = json!({
        "mode": "drill",
        "planObject": format!("s3://{bucket}/plans/shop.json"),
        "settings": { "pollIntervalSeconds": 2 }
    });

    // the restore steps by hand (a whole drill would tear down what this test inspects)
    let run = scenario
        .invoke(
            "resolve-plan",
            &json!({ "runId": "drill-restore-all", "input": input }),
        )
        .await
        .expect("resolve-plan");
    let started = scenario
        .invoke("start-restore", &json!({ "run": run }))
        .await
        .expect("start-restore");
    assert_eq!(started["jobs"], 4, "{started}");
    let polled = poll_until_done(&scenario, &run).await;

    // the payload carries a reference; the run itself is stored in the DR region
    assert_eq!(run["counts"]["restores"], 4, "{run}");
    assert!(run.get("restores").is_none(), "{run}");
    let stored = scenario.stored("drill-restore-all", "run").await;
    // the run reports each recovery point's time and the RPO it implies
    let restores = stored["restores"].as_array().unwrap();
    assert_eq!(restores.len(), 4);
    for item in restores {
        assert!(
            item["recoveryPointArn"]
                .as_str()
                .unwrap()
                .contains(DR_REGION),
            "{item}"
        );
        assert!(
            item["recoveryPointCreatedAt"]
                .as_str()
                .unwrap()
                .ends_with('Z'),
            "{item}"
        );
        let rpo = item["rpoSeconds"].as_i64().unwrap();
        assert!((0..600).contains(&rpo), "{item}");
        assert_eq!(item["rpoBreached"], false);
    }

    let jobs = polled["jobs"].as_array().unwrap();
    assert_eq!(jobs.len(), 4);
    assert!(
        jobs.iter().all(|job| job["status"] == "COMPLETED"),
        "{jobs:#?}"
    );
    let job = |name: &str| {
        jobs.iter()
            .find(|job| job["resource"] == name)
            .unwrap()
            .clone()
    };

    let config = scenario.emulator.sdk_config(DR_REGION).await;
    let ec2 = aws_sdk_ec2::Client::new(&config);
    let dr_az = scenario.seed.dr.subnets[0].availability_zone.as_str();
    for (name, size, volume_type) in [("app-data", 50, "gp3"), ("app-logs", 20, "gp2")] {
        let arn = job(name)["createdResourceArn"]
            .as_str()
            .unwrap()
            .to_string();
        let volume_id = arn.rsplit('/').next().unwrap();
        let volumes = ec2
            .describe_volumes()
            .volume_ids(volume_id)
            .send()
            .await
            .unwrap();
        let volume = &volumes.volumes()[0];
        assert_eq!(volume.size(), Some(size), "{name}");
        assert_eq!(volume.availability_zone(), Some(dr_az), "{name}");
        assert_eq!(
            volume.volume_type().unwrap().as_str(),
            volume_type,
            "{name}"
        );
        let tag = |key: &str| {
            volume
                .tags()
                .iter()
                .find(|t| t.key() == Some(key))
                .and_then(|t| t.value())
                .map(str::to_string)
        };
        assert_eq!(
            tag("backstop:run-id").as_deref(),
            Some("drill-restore-all"),
            "{name}"
        );
        assert_eq!(tag("backstop:mode").as_deref(), Some("drill"), "{name}");
    }

    // the database is restored under a drill-specific name, with its endpoint reported
    let db = job("orders-db");
    let identifier = db["createdResourceArn"]
        .as_str()
        .unwrap()
        .rsplit(':')
        .next()
        .unwrap()
        .to_string();
    assert!(identifier.starts_with("orders-drill-"), "{identifier}");
    let rds = aws_sdk_rds::Client::new(&config);
    let described = rds
        .describe_db_instances()
        .db_instance_identifier(&identifier)
        .send()
        .await
        .unwrap();
    let instance = &described.db_instances()[0];
    assert_eq!(instance.engine(), Some("postgres"));
    assert_eq!(instance.multi_az(), Some(false));
    assert_eq!(
        db["endpoint"].as_str(),
        instance.endpoint().and_then(|e| e.address())
    );

    // the file system is new and encrypted
    let efs = aws_sdk_efs::Client::new(&config);
    let fs_id = job("media")["createdResourceArn"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_string();
    let systems = efs
        .describe_file_systems()
        .file_system_id(&fs_id)
        .send()
        .await
        .unwrap();
    assert_eq!(systems.file_systems()[0].encrypted(), Some(true));
}

#[tokio::test(flavor = "multi_thread")]
async fn starting_the_restores_again_with_the_same_run_id_starts_no_new_job() {
    let scenario = Scenario::protected("restart").await;
    let run = scenario
        .invoke(
            "resolve-plan",
            &json!({ "runId": "drill-rerun", "input": run_input("drill", &scenario.plan()) }),
        )
        .await
        .expect("resolve-plan");

    let first = scenario
        .invoke("start-restore", &json!({ "run": run }))
        .await
        .expect("start-restore");
    assert_eq!(first["jobs"], 4);
    assert_eq!(count_restore_jobs(&scenario).await, 4);
    let first_ids = stored_job_ids(&scenario, "drill-rerun").await;

    // a retry whose earlier attempt never stored its jobs gets the same jobs back
    scenario.store("drill-rerun", "restore", &json!([])).await;
    let second = scenario
        .invoke("start-restore", &json!({ "run": run }))
        .await
        .expect("start-restore again");
    assert_eq!(second["jobs"], 4);
    assert_eq!(count_restore_jobs(&scenario).await, 4);
    assert_eq!(stored_job_ids(&scenario, "drill-rerun").await, first_ids);

    // a round that already knows its jobs starts nothing
    let third = scenario
        .invoke("start-restore", &json!({ "run": run }))
        .await
        .unwrap();
    assert_eq!(third["jobs"], 4);
    assert_eq!(stored_job_ids(&scenario, "drill-rerun").await, first_ids);
    assert_eq!(count_restore_jobs(&scenario).await, 4);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_concurrency_cap_starts_restores_in_rounds() {
    let scenario = Scenario::protected("cap").await;
    let mut input = run_input("drill", &scenario.plan());
    input["settings"]["maxConcurrentRestores"] = json!(3);
    let run = scenario
        .invoke(
            "resolve-plan",
            &json!({ "runId": "drill-cap", "input": input }),
        )
        .await
        .unwrap();

    let first = scenario
        .invoke("start-restore", &json!({ "run": run }))
        .await
        .unwrap();
    assert_eq!(first["jobs"], 3);
    assert_eq!(first["notStarted"], 1);
    assert_eq!(count_restore_jobs(&scenario).await, 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_restore_is_reported_with_its_message_while_the_others_complete() {
    let (emulator, seed) = protected_workload("restore-failure").await;
    emulator.inject(json!({ "failJobs": [{
        "jobType": "restore",
        "resourceArn": seed.primary.db.arn,
        "message": "Insufficient storage in the DB subnet group (injected)"
    }]}));
    let stack = emulator.deploy_stack();
    let scenario = Scenario::of(emulator, seed, stack).await;
    let run = scenario
        .invoke(
            "resolve-plan",
            &json!({ "runId": "drill-fail", "input": run_input("drill", &scenario.plan()) }),
        )
        .await
        .unwrap();
    scenario
        .invoke("start-restore", &json!({ "run": run }))
        .await
        .unwrap();

    let outcome = poll_until_done(&scenario, &run).await;
    let summary = &outcome["summary"];
    assert_eq!(summary["completed"], 3, "{outcome:#}");
    assert_eq!(summary["failed"], 1, "{outcome:#}");
    let failed = outcome["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["status"] == "FAILED")
        .unwrap();
    assert_eq!(failed["resource"], "orders-db");
    assert_eq!(
        failed["statusMessage"],
        "Insufficient storage in the DB subnet group (injected)"
    );
    assert!(
        summary["failures"][0]
            .as_str()
            .unwrap()
            .starts_with("orders-db: "),
        "{summary}"
    );

    // the state machine fails the run with Backstop.RestoreFailed and the reason
    let execution = scenario
        .run_to_end("drill-fail-sfn", run_input("drill", &scenario.plan()))
        .await;
    assert_eq!(execution.status().as_str(), "FAILED");
    assert_eq!(execution.error(), Some("Backstop.RestoreFailed"));
    assert!(
        execution
            .cause()
            .unwrap_or_default()
            .contains("Insufficient storage"),
        "{:?}",
        execution.cause()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_recovery_inputs_are_named_in_typed_errors() {
    let emulator = Emulator::start("restore-errors");
    let seed = emulator.seed();
    // three of the four resources are protected; the file system never was
    let all = workload_arns(&seed);
    let arns: Vec<&str> = all.iter().take(3).map(String::as_str).collect();
    protect(&emulator, &seed, &arns).await;
    let stack = emulator.deploy_stack();
    let scenario = Scenario::of(emulator, seed, stack).await;
    let plan = scenario.plan();

    let (error, message) = scenario
        .invoke(
            "resolve-plan",
            &json!({ "runId": "drill-e1", "input": run_input("drill", &plan) }),
        )
        .await
        .unwrap_err();
    assert_eq!(error, "Backstop.NotFound");
    assert!(message.contains("media"), "{message}");
    assert!(
        message.contains(scenario.seed.primary.file_system.arn.as_str()),
        "{message}"
    );

    let mut unknown_vault = plan.clone();
    unknown_vault["backupVault"] = json!("no-such-vault");
    let (error, message) = scenario
        .invoke(
            "resolve-plan",
            &json!({ "runId": "drill-e2", "input": run_input("drill", &unknown_vault) }),
        )
        .await
        .unwrap_err();
    assert_eq!(error, "Backstop.NotFound");
    assert!(message.contains("no-such-vault"), "{message}");

    // the plan's file system is optional now; its recovery point is swapped for the primary-region one
    let mut optional_media = plan.clone();
    optional_media["resources"][3]["optional"] = json!(true);
    let run = scenario
        .invoke(
            "resolve-plan",
            &json!({ "runId": "drill-e3", "input": run_input("drill", &optional_media) }),
        )
        .await
        .expect("resolve with an optional resource");
    assert_eq!(run["counts"]["warnings"], 1);
    let mut stored = scenario.stored("drill-e3", "run").await;
    assert_eq!(stored["warnings"].as_array().unwrap().len(), 1);
    let primary_backup = aws_sdk_backup::Client::new(
        &scenario
            .emulator
            .sdk_config(backstop_tests::PRIMARY_REGION)
            .await,
    );
    let primary_points = primary_backup
        .list_recovery_points_by_backup_vault()
        .backup_vault_name("backstop-primary")
        .by_resource_arn(arns[0])
        .send()
        .await
        .unwrap();
    // the stored run edited: a copy in the primary region instead of the DR one
    stored["restores"][0]["recoveryPointArn"] =
        json!(primary_points.recovery_points()[0].recovery_point_arn());
    scenario.store("drill-e3", "run", &stored).await;
    let (error, message) = scenario
        .invoke("start-restore", &json!({ "run": run }))
        .await
        .unwrap_err();
    assert_eq!(error, "Backstop.InvalidInput");
    assert!(message.contains("app-data"), "{message}");
    assert!(message.contains("not in the DR region"), "{message}");
    assert_eq!(
        count_restore_jobs(&scenario).await,
        0,
        "nothing half-started"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_poll_never_claims_the_restores_of_another_run() {
    let scenario = Scenario::protected("claim").await;
    let input = run_input("drill", &scenario.plan());
    let run_a = scenario
        .invoke(
            "resolve-plan",
            &json!({ "runId": "drill-a", "input": input }),
        )
        .await
        .unwrap();
    scenario
        .invoke("start-restore", &json!({ "run": run_a }))
        .await
        .unwrap();
    let done = poll_until_done(&scenario, &run_a).await;

    // run B's state claims A's jobs as its own, as if they were still running
    let run_b = scenario
        .invoke(
            "resolve-plan",
            &json!({ "runId": "drill-b", "input": input }),
        )
        .await
        .unwrap();
    let mut claimed = done["jobs"].clone();
    for job in claimed.as_array_mut().unwrap() {
        job["status"] = json!("RUNNING");
    }
    scenario.store("drill-b", "restore", &claimed).await;
    let (error, message) = scenario
        .invoke("poll-restore", &json!({ "run": run_b }))
        .await
        .unwrap_err();
    assert_eq!(error, "Backstop.Conflict", "{message}");
    assert!(message.contains("drill-a"), "{message}");

    // A's volume still belongs to A (a drill-b teardown would never find it)
    let volume = done["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["resource"] == "app-data")
        .unwrap()["createdResourceArn"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_string();
    let ec2 = &scenario.dr.ec2;
    let described = ec2
        .describe_volumes()
        .volume_ids(volume)
        .send()
        .await
        .unwrap();
    let run_tag = described.volumes()[0]
        .tags()
        .iter()
        .find(|t| t.key() == Some("backstop:run-id"))
        .and_then(|t| t.value())
        .map(str::to_string);
    assert_eq!(run_tag.as_deref(), Some("drill-a"));
}
