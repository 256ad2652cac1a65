//! A real region, survived: a run refuses up front with every problem listed, or it converges
//! (AWS-like durations, transient faults, long names, a resumed failed run), never half-done.

use std::collections::BTreeMap;

use backstop_tests::{
    assert_succeeded, back_up, copy_to_dr, protected_workload, run_input, Emulator, Scenario,
};
use serde_json::{json, Value};

/// What exists in the DR region (and the hosted zone) that a run could have created.
pub(crate) async fn dr_inventory(scenario: &Scenario) -> BTreeMap<&'static str, usize> {
    let backup = &scenario.dr.backup;
    let ec2 = &scenario.dr.ec2;
    let rds = &scenario.dr.rds;
    let efs = &scenario.dr.efs;
    let route53 = &scenario.primary.route53;
    let restore_jobs = backup.list_restore_jobs().send().await.unwrap();
    let instances = ec2.describe_instances().send().await.unwrap();
    let volumes = ec2.describe_volumes().send().await.unwrap();
    let databases = rds.describe_db_instances().send().await.unwrap();
    let file_systems = efs.describe_file_systems().send().await.unwrap();
    let records = route53
        .list_resource_record_sets()
        .hosted_zone_id(scenario.seed.dns.hosted_zone_id.as_str())
        .send()
        .await
        .unwrap();
    BTreeMap::from([
        ("restore jobs", restore_jobs.restore_jobs().len()),
        (
            "instances",
            instances
                .reservations()
                .iter()
                .map(|r| r.instances().len())
                .sum(),
        ),
        ("volumes", volumes.volumes().len()),
        ("databases", databases.db_instances().len()),
        ("file systems", file_systems.file_systems().len()),
        ("records", records.resource_record_sets().len()),
    ])
}

/// No handler ran past its Lambda timeout (the emulator enforces the template's Timeout).
fn assert_no_function_timed_out(emulator: &Emulator) {
    let errors = emulator.control("GET", "lambda/errors", &json!({}));
    for (function, counts) in errors.as_object().unwrap() {
        assert!(
            counts.get("Sandbox.Timedout").is_none(),
            "{function} timed out: {counts}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plan_a_later_step_would_refuse_creates_nothing() {
    let scenario = Scenario::protected("refuse-up-front").await;
    let before = dr_inventory(&scenario).await;

    let good = scenario.plan();
    // (the field the error must name, the JSON pointer edited, its new value or None to remove it)
    let edits: Vec<(&str, &str, Option<Value>)> = vec![
        (
            "resources[0].ebs.availabilityZone",
            "/resources/0/ebs/availabilityZone",
            None,
        ),
        (
            "resources[2].rds.dbSubnetGroupName",
            "/resources/2/rds/dbSubnetGroupName",
            None,
        ),
        // an ebs resource without its ebs block
        (
            "resources[1].ebs.availabilityZone",
            "/resources/1/ebs",
            None,
        ),
        (
            "objectives.rpoMinutes",
            "/objectives/rpoMinutes",
            Some(json!(i64::MAX - 1)),
        ),
        // Route 53 reads \141 as "a": the production record
        (
            "dns[0].drillRecordName",
            "/dns/0/drillRecordName",
            Some(json!("\\141pp.shop.example.com")),
        ),
        (
            "dns[0].drillRecordName",
            "/dns/0/drillRecordName",
            Some(json!("*.shop.example.com")),
        ),
        // the zone apex, and a name outside the zone: only Route 53 knows the zone's name
        (
            "dns[0].drillRecordName",
            "/dns/0/drillRecordName",
            Some(json!("shop.example.com.")),
        ),
        (
            "dns[0].drillRecordName",
            "/dns/0/drillRecordName",
            Some(json!("drill.example.org")),
        ),
    ];
    for (index, (field, pointer, value)) in edits.into_iter().enumerate() {
        // a name checked against its hosted zone is a readiness problem (only Route 53 knows
        // the zone); the rest are the plan's own
        let zone_dependent = matches!(
            value.as_ref().and_then(Value::as_str),
            Some("shop.example.com." | "drill.example.org")
        );
        let expected = if zone_dependent {
            "Backstop.NotReady"
        } else {
            "Backstop.InvalidPlan"
        };
        let mut plan = good.clone();
        let (parent, key) = pointer.rsplit_once('/').unwrap();
        let parent = plan.pointer_mut(parent).unwrap().as_object_mut().unwrap();
        match value {
            Some(value) => parent.insert(key.to_string(), value),
            None => parent.remove(key),
        };
        let execution = scenario
            .run_to_end(&format!("drill-bad-{index}"), run_input("drill", &plan))
            .await;
        assert_eq!(execution.status().as_str(), "FAILED", "{field}");
        assert_eq!(execution.error(), Some(expected), "{field}");
        let cause = execution.cause().unwrap_or_default();
        assert!(cause.contains(field), "{field}: {cause}");
    }
    // nothing was created: no restore job, instance, volume, database, file system or record
    assert_eq!(dr_inventory(&scenario).await, before);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failover_with_aws_like_durations_completes_without_a_function_timing_out() {
    let (emulator, seed) = protected_workload("aws-durations").await;
    // restores as long as AWS's (RDS 15 min, EFS 10 min, EBS 3 min, plus per GiB) on top of
    // the AWS-like instance, status check, attachment, database and DNS lifecycles
    let aws = emulator.control("POST", "durations/reset", &json!({}));
    assert_eq!(aws["restore"]["RDS"]["base"], 900.0);
    let stack = emulator.deploy_stack();
    let scenario = Scenario::of(emulator, seed, stack).await;

    let execution = scenario
        .run_to_end("failover-aws-durations", scenario.input("failover"))
        .await;
    assert_succeeded(&execution);
    assert_no_function_timed_out(&scenario.emulator);
    let output: Value = serde_json::from_str(execution.output().unwrap()).unwrap();
    // the run is measured from its start to production DNS in sync
    let rto = output["rto"]["measuredSeconds"].as_i64().expect("an RTO");
    assert!(rto > 0, "{output}");
    assert_eq!(
        scenario
            .instances_of_run("failover-aws-durations")
            .await
            .len(),
        1
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_long_run_id_and_a_unicode_instance_name_launch_with_fallbacks_and_no_token_error() {
    let (emulator, seed) = protected_workload("long-names").await;
    let dr_az = seed.dr.subnets[0].availability_zone.clone();
    emulator.inject(json!({ "insufficientCapacity": [{ "instanceType": "m6i.large", "availabilityZone": dr_az }] }));
    let stack = emulator.deploy_stack();
    let scenario = Scenario::of(emulator, seed, stack).await;
    let mut plan = scenario.plan();
    let name = "anwendungsserver-ü";
    plan["instances"][0]["name"] = json!(name);
    for volume in [0, 1] {
        plan["resources"][volume]["ebs"]["attachTo"]["instance"] = json!(name);
    }
    plan["dns"][0]["target"]["instance"] = json!(name);
    // 80 characters, the longest execution name; distinct only at its start
    let run_id = format!("übung-{}", "x".repeat(74));
    assert_eq!(run_id.chars().count(), 80);

    let execution = scenario
        .run_to_end(&run_id, run_input("drill", &plan))
        .await;
    assert_succeeded(&execution);
    let output: Value = serde_json::from_str(execution.output().unwrap()).unwrap();
    let launched = &output["launched"][0];
    assert_eq!(launched["name"], name);
    assert_eq!(launched["instanceType"], "m5.large");
    assert_eq!(
        launched["fallbacks"].as_array().unwrap().len(),
        1,
        "{launched}"
    );
    let instances = scenario.instances_of_run(&run_id).await;
    assert_eq!(instances.len(), 1);
    // the drill's database has its own RDS identifier, within RDS's rules
    let db = output["restored"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["resource"] == "orders-db")
        .unwrap();
    let identifier = db["createdResourceArn"]
        .as_str()
        .unwrap()
        .rsplit(':')
        .next()
        .unwrap();
    assert!(identifier.starts_with("orders-drill-"), "{identifier}");
    assert!(
        identifier.len() <= 63 && !identifier.contains("--"),
        "{identifier}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn server_errors_and_connection_resets_on_every_service_do_not_stop_a_failover() {
    let (emulator, seed) = protected_workload("transient-faults").await;
    // three in a row outlast the SDK's own three attempts: the state machine's Retry takes over
    let fault = |service: &str, operation: &str, error: &str| json!({ "service": service, "operation": operation, "error": error, "count": 3 });
    emulator.inject(json!({ "apiErrors": [
        fault("backup", "ListRecoveryPointsByBackupVault", "InternalFailure"),
        fault("backup", "StartRestoreJob", "ServiceUnavailable"),
        fault("backup", "ListRestoreJobs", "ConnectionReset"),
        fault("ec2", "RunInstances", "ConnectionReset"),
        fault("ec2", "AttachVolume", "InternalFailure"),
        fault("rds", "DescribeDBInstances", "ServiceUnavailable"),
        fault("route53", "ChangeResourceRecordSets", "InternalFailure"),
        fault("route53", "GetChange", "ConnectionReset"),
    ] }));
    let stack = emulator.deploy_stack();
    let scenario = Scenario::of(emulator, seed, stack).await;

    let execution = scenario
        .run_to_end("failover-faults", scenario.input("failover"))
        .await;
    assert_succeeded(&execution);
    let injected = scenario.emulator.fault_report()["injectedCalls"].clone();
    for key in [
        "backup:StartRestoreJob:ServiceUnavailable",
        "ec2:RunInstances:ConnectionReset",
        "route53:ChangeResourceRecordSets:InternalFailure",
    ] {
        assert_eq!(injected[key], 3, "{key}: {injected}");
    }
    // converged, not duplicated: one instance, one restore job per resource
    assert_eq!(scenario.instances_of_run("failover-faults").await.len(), 1);
    let output: Value = serde_json::from_str(execution.output().unwrap()).unwrap();
    assert_eq!(output["restored"].as_array().unwrap().len(), 4);
    let backup = &scenario.dr.backup;
    let jobs = backup.list_restore_jobs().send().await.unwrap();
    assert_eq!(jobs.restore_jobs().len(), 4);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_rpo_is_the_age_of_the_data_not_of_the_dr_copy() {
    let scenario = Scenario::seeded("rpo-of-data").await;
    let primary = &scenario.primary.backup;
    let volume = scenario.seed.primary.volumes["app-data"].arn.as_str();
    let point = back_up(primary, &scenario.seed, volume).await;
    // the backup was taken six hours before it was copied to the DR region
    scenario.emulator.control(
        "POST",
        "recovery-points/backdate",
        &json!({ "recoveryPointArn": point, "seconds": 6 * 3600 }),
    );
    copy_to_dr(primary, &scenario.seed, &point).await;
    let mut plan = scenario.plan();
    plan["resources"].as_array_mut().unwrap().truncate(1);

    let resolved = scenario
        .invoke(
            "resolve-plan",
            &json!({ "runId": "drill-rpo", "input": { "mode": "drill", "plan": plan } }),
        )
        .await
        .expect("resolve-plan");
    assert_eq!(resolved["counts"]["restores"], 1, "{resolved}");
    let stored = scenario.stored("drill-rpo", "run").await;
    let item = &stored["restores"][0];
    let rpo = item["rpoSeconds"].as_i64().unwrap();
    assert!((6 * 3600..7 * 3600).contains(&rpo), "{item}");
    assert_eq!(
        item["rpoBreached"], true,
        "6 h is above the 240 min objective"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_run_resumed_by_its_run_id_converges_without_duplicates() {
    let scenario = Scenario::protected("resume").await;
    scenario.inject(json!({ "failJobs": [{
        "jobType": "restore",
        "resourceArn": scenario.seed.primary.db.arn,
        "message": "Insufficient storage in the DB subnet group's AZs"
    }] }));
    let first = scenario
        .run_to_end("failover-7", scenario.input("failover"))
        .await;
    assert_eq!(first.status().as_str(), "FAILED");
    assert_eq!(
        first.error(),
        Some("Backstop.RestoreFailed"),
        "{:?}",
        first.cause()
    );

    // the cause is gone; the operator resumes the run instead of starting from scratch
    scenario.emulator.control("DELETE", "faults", &json!({}));
    let mut resume = scenario.input("failover");
    resume["resumeRunId"] = json!("failover-7");
    let second = scenario.run_to_end("failover-7-resume-1", resume).await;
    assert_succeeded(&second);
    let output: Value = serde_json::from_str(second.output().unwrap()).unwrap();
    assert_eq!(output["runId"], "failover-7");

    // the volumes, file system and instance of the first execution were reused; only the
    // failed database restore ran again
    let backup = &scenario.dr.backup;
    let jobs = backup.list_restore_jobs().send().await.unwrap();
    let mut per_resource: BTreeMap<String, usize> = BTreeMap::new();
    for job in jobs.restore_jobs() {
        *per_resource
            .entry(job.resource_type().unwrap_or_default().to_string())
            .or_default() += 1;
    }
    assert_eq!(per_resource.get("EBS"), Some(&2), "{per_resource:?}");
    assert_eq!(per_resource.get("EFS"), Some(&1), "{per_resource:?}");
    assert_eq!(per_resource.get("RDS"), Some(&2), "{per_resource:?}");
    let db_jobs = output["restored"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|j| j["resource"] == "orders-db")
        .count();
    assert_eq!(db_jobs, 2, "the failed attempt and its retry");
    assert_eq!(scenario.instances_of_run("failover-7").await.len(), 1);
    assert!(scenario
        .instances_of_run("failover-7-resume-1")
        .await
        .is_empty());
}
