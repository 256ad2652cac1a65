//! A drill is proof only if it measures the RTO and leaves nothing behind: after a drill,
//! successful or failed, nothing tagged with its run id or created by its restore jobs remains
//! (instances, volumes, databases, file systems, drill records), production DNS is unchanged,
//! and the report's RTO and RPO match what the test measured itself, stored as evidence in S3.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use aws_sdk_ec2::types::Filter;
use backstop_tests::{
    assert_succeeded, open_page, put_plan, run_input, Scenario, DR_REGION, PLAN_PARAMETER,
};
use serde_json::{json, Value};

/// Everything of `run_id` still in the DR region: resources tagged with it (instances not
/// terminated), and resources its restore jobs created (`created`) that still exist.
pub(crate) async fn leftovers(
    scenario: &Scenario,
    run_id: &str,
    created: &[String],
) -> Vec<String> {
    leftovers_in(&scenario.dr, run_id, created).await
}

/// [`leftovers`] in the region of `clients` (a drill of the way home runs in the primary).
pub(crate) async fn leftovers_in(
    clients: &backstop_tests::Clients,
    run_id: &str,
    created: &[String],
) -> Vec<String> {
    let ec2 = &clients.ec2;
    let rds = &clients.rds;
    let efs = &clients.efs;
    let tagged = || {
        Filter::builder()
            .name("tag:backstop:run-id")
            .values(run_id)
            .build()
    };
    let mut left = Vec::new();
    let instances = ec2
        .describe_instances()
        .filters(tagged())
        .send()
        .await
        .unwrap();
    for instance in instances.reservations().iter().flat_map(|r| r.instances()) {
        let state = instance.state().and_then(|s| s.name()).map(|s| s.as_str());
        if state != Some("terminated") {
            left.push(format!("instance {:?} ({state:?})", instance.instance_id()));
        }
    }
    let volumes = ec2
        .describe_volumes()
        .filters(tagged())
        .send()
        .await
        .unwrap();
    left.extend(
        volumes
            .volumes()
            .iter()
            .map(|v| format!("volume {:?}", v.volume_id())),
    );
    let volumes = ec2.describe_volumes().send().await.unwrap();
    let databases = rds.describe_db_instances().send().await.unwrap();
    let file_systems = efs.describe_file_systems().send().await.unwrap();
    for db in databases.db_instances() {
        if db.tag_list().iter().any(|t| t.value() == Some(run_id)) {
            left.push(format!("db {:?}", db.db_instance_identifier()));
        }
    }
    for fs in file_systems.file_systems() {
        if fs.tags().iter().any(|t| t.value() == run_id) {
            left.push(format!("file system {}", fs.file_system_id()));
        }
    }
    for arn in created {
        let id = arn.rsplit(['/', ':']).next().unwrap();
        let exists = volumes.volumes().iter().any(|v| v.volume_id() == Some(id))
            || databases
                .db_instances()
                .iter()
                .any(|d| d.db_instance_identifier() == Some(id))
            || file_systems
                .file_systems()
                .iter()
                .any(|f| f.file_system_id() == id);
        if exists {
            left.push(format!("created by a restore job: {arn}"));
        }
    }
    left
}

/// Whether the drill's side is healthy now, as the test sees it: every instance of the run
/// running with passing status checks, and its database available.
async fn drill_side_healthy(scenario: &Scenario, run_id: &str) -> bool {
    let ec2 = &scenario.dr.ec2;
    let rds = &scenario.dr.rds;
    let instances = scenario.instances_of_run(run_id).await;
    let Some(instance) = instances.first() else {
        return false;
    };
    let status = ec2
        .describe_instance_status()
        .instance_ids(instance.instance_id().unwrap())
        .send()
        .await
        .unwrap();
    let ok = status.instance_statuses().first().is_some_and(|s| {
        s.instance_status()
            .and_then(|x| x.status())
            .map(|x| x.as_str())
            == Some("ok")
            && s.system_status()
                .and_then(|x| x.status())
                .map(|x| x.as_str())
                == Some("ok")
    });
    let databases = rds.describe_db_instances().send().await.unwrap();
    let db_available = databases.db_instances().iter().any(|db| {
        db.tag_list().iter().any(|t| t.value() == Some(run_id))
            && db.db_instance_status() == Some("available")
    });
    ok && db_available
}

struct Watched {
    execution: aws_sdk_sfn::operation::describe_execution::DescribeExecutionOutput,
    /// When the test first saw the drill side healthy.
    healthy_seen: Option<std::time::SystemTime>,
}

/// Runs the drill to its end, watching (every 200 ms) for the moment its side is healthy.
async fn run_watching(scenario: &Scenario, machine: &str, run_id: &str, input: Value) -> Watched {
    let sfn = &scenario.dr.sfn;
    let input = backstop_tests::as_operator_starts_it(&scenario.emulator, input).await;
    let arn = sfn
        .start_execution()
        .state_machine_arn(machine)
        .name(run_id)
        .input(input.to_string())
        .send()
        .await
        .unwrap()
        .execution_arn;
    let deadline = Instant::now() + Duration::from_secs(180);
    let mut healthy_seen = None;
    loop {
        let described = sfn
            .describe_execution()
            .execution_arn(&arn)
            .send()
            .await
            .unwrap();
        if described.status().as_str() != "RUNNING" {
            return Watched {
                execution: described,
                healthy_seen,
            };
        }
        if healthy_seen.is_none() && drill_side_healthy(scenario, run_id).await {
            healthy_seen = Some(std::time::SystemTime::now());
        }
        assert!(Instant::now() < deadline, "{run_id} still running");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn created_arns(report: &Value) -> Vec<String> {
    report["restored"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|job| job["createdResourceArn"].as_str().map(str::to_string))
        .collect()
}

fn secs(time: &aws_smithy_types::DateTime) -> f64 {
    time.as_secs_f64()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_drill_leaves_nothing_behind_and_reports_the_rto_and_rpo_the_test_measured() {
    let scenario = Scenario::protected("drill-teardown").await;
    let production = scenario.a_record("app.shop.example.com").await;

    let watched = run_watching(
        &scenario,
        &scenario.machine(),
        "drill-proof-1",
        scenario.input("drill"),
    )
    .await;
    assert_succeeded(&watched.execution);
    let report: Value = serde_json::from_str(watched.execution.output().unwrap()).unwrap();
    assert_eq!(report["verdict"], "PASS", "{report:#}");
    assert_eq!(report["mode"], "drill");
    // the tests' 2 s interval over a two-hour bound (RTO 60) could outgrow Step Functions'
    // history: the run waited longer between rounds, and says so
    let lengthened = report["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .find_map(|w| w.strip_prefix("the run waited "))
        .unwrap_or_else(|| panic!("no lengthened wait reported: {report:#}"));
    let waited: u32 = lengthened.split(' ').next().unwrap().parse().unwrap();
    assert!((3..=30).contains(&waited), "{lengthened}");
    assert!(
        lengthened.contains("not settings.pollIntervalSeconds' 2 s"),
        "{lengthened}"
    );
    // and the state machine waited that long: the restore loop's waits time out after it
    let timeouts = restore_wait_timeouts(&scenario, watched.execution.execution_arn()).await;
    assert!(!timeouts.is_empty(), "the restore loop never waited");
    assert!(
        timeouts.iter().all(|t| *t == i64::from(waited)),
        "waits of {timeouts:?} s, the report says {waited} s"
    );

    // the drill wrote its drill record, then deleted it with everything else
    assert_eq!(report["dns"][0]["recordName"], "drill.app.shop.example.com");
    assert_eq!(scenario.a_record("drill.app.shop.example.com").await, None);
    assert_eq!(scenario.a_record("app.shop.example.com").await, production);
    let created = created_arns(&report);
    assert_eq!(created.len(), 4, "{report:#}");
    let left = leftovers(&scenario, "drill-proof-1", &created).await;
    assert!(left.is_empty(), "left behind: {left:?}");
    let teardown = &report["teardown"];
    assert_eq!(teardown["finished"], true);
    assert_eq!(teardown["left"], json!([]));
    let deleted: Vec<&str> = teardown["deleted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["kind"].as_str().unwrap())
        .collect();
    for kind in [
        "dns-record",
        "instance",
        "volume",
        "db-instance",
        "file-system",
    ] {
        assert!(deleted.contains(&kind), "{kind} not in {deleted:?}");
    }

    // teardown again by hand (as an operator would): nothing more to do, nothing left
    let again = scenario
        .invoke("teardown", &json!({ "runId": "drill-proof-1" }))
        .await
        .expect("teardown by hand");
    assert_eq!(again["finished"], true, "{again:#}");
    assert_eq!(again["left"], 0, "{again:#}");
    assert_eq!(again["pending"], 0, "{again:#}");
    assert_eq!(again["leftItems"], json!([]), "{again:#}");

    // RTO: execution start to the health gate; the test saw the same moment (the handler
    // checks every 2 s, so it sees health at most one check later)
    let started = secs(watched.execution.start_date());
    let seen = watched
        .healthy_seen
        .expect("the test saw the drill side healthy")
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let measured = seen - started;
    let reported = report["rto"]["measuredSeconds"].as_f64().unwrap();
    assert!(
        (reported - measured).abs() <= 3.0,
        "report says {reported} s, the test saw {measured:.1} s"
    );
    assert_eq!(report["rto"]["objectiveSeconds"], 3600);
    assert_eq!(report["rto"]["met"], true);

    // RPO: the run's start minus when each recovered copy's data was captured
    let backup = &scenario.dr.backup;
    let vault = scenario.seed.dr.backup_vault.name.as_str();
    for item in report["rpoByResource"].as_array().unwrap() {
        let point = backup
            .describe_recovery_point()
            .backup_vault_name(vault)
            .recovery_point_arn(item["recoveryPointArn"].as_str().unwrap())
            .send()
            .await
            .unwrap();
        let captured = point.initiation_date().or(point.creation_date()).unwrap();
        let expected = started - secs(captured);
        let reported = item["seconds"].as_f64().unwrap();
        assert!(
            (reported - expected).abs() <= 2.0,
            "{}: report says {reported} s, the recovery point says {expected:.1} s",
            item["resource"]
        );
    }
    assert_eq!(report["rpo"]["met"], true);

    // the evidence is in the DR region, as JSON, as text and as a page
    let s3 = &scenario.dr.s3;
    let bucket = scenario.stack.output("EvidenceBucketName");
    assert_eq!(report["evidence"]["bucket"], bucket.as_str());
    let listed = s3
        .list_objects_v2()
        .bucket(&bucket)
        .prefix("runs/shop/drill-proof-1/")
        .send()
        .await
        .unwrap();
    let keys: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(
        keys,
        [
            "runs/shop/drill-proof-1/report.html",
            "runs/shop/drill-proof-1/report.json",
            "runs/shop/drill-proof-1/report.txt"
        ]
    );
    let stored: Value = serde_json::from_str(&scenario.evidence(keys[1]).await).unwrap();
    assert_eq!(stored["verdict"], "PASS");
    assert_eq!(stored["rto"], report["rto"]);
    let text = scenario.evidence(keys[2]).await;
    assert!(text.contains("Verdict: PASS"), "{text}");
    assert!(text.contains("SwitchDns"), "{text}");

    // the page, as a reader's browser renders it: the JSON's figures, one bar per step, the
    // run's identity, and not one request to the network
    let page = open_page(&scenario.evidence(keys[0]).await, "drill-proof-1");
    assert!(page.page_requests.is_empty(), "{:?}", page.page_requests);
    assert!(page.dom.contains("id=\"verdict\">PASS<"), "{}", page.dom);
    let steps = stored["timeline"].as_array().unwrap();
    assert!(steps.len() >= 6, "{steps:?}");
    assert_eq!(page.dom.matches("class=\"bar").count(), steps.len());
    for step in steps {
        let bar = format!(
            "data-step=\"{}\" data-seconds=\"{}\"",
            step["step"].as_str().unwrap(),
            step["seconds"]
        );
        assert!(page.dom.contains(&bar), "{bar} not in the page");
    }
    let rto = format!(
        "id=\"rto\" data-measured-seconds=\"{}\" data-objective-seconds=\"3600\"",
        stored["rto"]["measuredSeconds"]
    );
    assert!(page.dom.contains(&rto), "{rto} not in the page");
    let identity = &stored["identity"];
    assert_eq!(identity["drRegion"], "us-west-2", "{identity:#}");
    for part in ["account", "planDigest", "version"] {
        let value = identity[part].as_str().unwrap();
        assert!(page.dom.contains(value), "{part} {value} not in the page");
    }
    for item in stored["rpoByResource"].as_array().unwrap() {
        let point = item["recoveryPointArn"].as_str().unwrap();
        assert!(page.dom.contains(point), "{point} not in the page");
    }
    let png = std::fs::read(&page.screenshot).unwrap();
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 20_000,
        "{} bytes",
        png.len()
    );

    // and the check above can fail: a page that fetches something is caught
    let fetching = open_page(
        "<!DOCTYPE html><img src=\"http://192.0.2.1/pixel.png\">",
        "fetching-page",
    );
    assert_eq!(fetching.page_requests, ["http://192.0.2.1/pixel.png"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_drill_whose_restore_fails_after_its_instance_launched_is_torn_down_and_announced() {
    let scenario = Scenario::protected("drill-failed-teardown").await;
    let production = scenario.a_record("app.shop.example.com").await;
    // the database restore fails late, long after the instance launched
    scenario.inject(json!({
        "failJobs": [{ "jobType": "restore", "resourceArn": scenario.seed.primary.db.arn,
                       "message": "Insufficient storage in the DB subnet group (injected)" }],
        "slowJobs": [{ "resourceArn": scenario.seed.primary.db.arn, "seconds": 300 }]
    }));

    let watched = run_watching(
        &scenario,
        &scenario.machine(),
        "drill-fails-1",
        scenario.input("drill"),
    )
    .await;
    let execution = &watched.execution;
    assert_eq!(execution.status().as_str(), "FAILED");
    assert_eq!(execution.error(), Some("Backstop.RestoreFailed"));

    // the instance had launched; it and every restored resource are gone
    let instances = scenario.instances_of_run("drill-fails-1").await;
    assert_eq!(
        instances.len(),
        1,
        "the instance launched before the failure"
    );
    let sfn = &scenario.dr.sfn;
    let history = sfn
        .get_execution_history()
        .execution_arn(execution.execution_arn())
        .max_results(1000)
        .send()
        .await
        .unwrap();
    let created = created_by_restores(&scenario).await;
    assert_eq!(
        created.len(),
        3,
        "the volumes and the file system were restored"
    );
    let left = leftovers(&scenario, "drill-fails-1", &created).await;
    assert!(left.is_empty(), "left behind: {left:?}");
    assert_eq!(scenario.a_record("app.shop.example.com").await, production);
    // the drill never reached its DNS switch: teardown counts no drill record it never wrote
    let torn_down = scenario.stored("drill-fails-1", "teardown").await;
    let deleted = torn_down["deleted"].as_array().expect("a teardown pass");
    assert!(
        deleted.iter().all(|item| item["kind"] != "dns-record"),
        "{torn_down:#}"
    );
    assert_eq!(
        deleted.len(),
        4,
        "the instance, two volumes, the file system: {torn_down:#}"
    );
    let entered: Vec<&str> = history
        .events()
        .iter()
        .filter_map(|e| e.state_entered_event_details())
        .map(|d| d.name())
        .collect();
    assert!(entered.contains(&"Teardown"), "{entered:?}");

    // one notice, saying what failed and that the drill was torn down
    let topic = scenario.stack.output("NoticeTopicArn");
    let messages = scenario.topic_messages(&topic);
    assert_eq!(messages.len(), 1, "{messages:?}");
    let notice = &messages[0];
    assert_eq!(notice["runId"], "drill-fails-1");
    assert_eq!(notice["mode"], "drill");
    assert_eq!(notice["failedStep"], "RestoreAndLaunch");
    assert_eq!(notice["error"], "Backstop.RestoreFailed");
    assert_eq!(notice["verdict"], "FAIL");
    assert!(
        notice["tornDown"].as_str().unwrap().contains(" 0 left"),
        "{notice}"
    );
    assert!(
        notice["report"].as_str().unwrap().starts_with("s3://"),
        "{notice}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_drill_with_an_isolation_block_runs_in_its_own_network() {
    let scenario = Scenario::protected("drill-isolated").await;
    // an isolated drill subnet (in the volumes' AZ) and security group in the DR VPC
    let ec2 = &scenario.dr.ec2;
    let zone = scenario.seed.dr.subnets[0].availability_zone.as_str();
    let vpc = scenario.seed.dr.vpc_id.as_str();
    let subnet = ec2
        .create_subnet()
        .vpc_id(vpc)
        .cidr_block("10.1.200.0/24")
        .availability_zone(zone)
        .send()
        .await
        .unwrap();
    let subnet = subnet.subnet().unwrap().subnet_id().unwrap().to_string();
    let group = ec2
        .create_security_group()
        .vpc_id(vpc)
        .group_name("drill-isolated")
        .description("drills only")
        .send()
        .await
        .unwrap()
        .group_id()
        .unwrap()
        .to_string();
    let mut plan = scenario.plan();
    plan["drill"] = json!({ "subnetIds": [subnet], "securityGroupIds": [group] });

    let watched = run_watching(
        &scenario,
        &scenario.machine(),
        "drill-isolated-1",
        run_input("drill", &plan),
    )
    .await;
    assert_succeeded(&watched.execution);
    let report: Value = serde_json::from_str(watched.execution.output().unwrap()).unwrap();
    assert_eq!(report["launched"][0]["subnetId"], subnet.as_str());
    let instances = scenario.instances_of_run("drill-isolated-1").await;
    let groups: Vec<&str> = instances[0]
        .security_groups()
        .iter()
        .filter_map(|g| g.group_id())
        .collect();
    assert_eq!(groups, [group.as_str()]);
    let left = leftovers(&scenario, "drill-isolated-1", &created_arns(&report)).await;
    assert!(left.is_empty(), "left behind: {left:?}");

    // a failover with the same plan launches into production's network
    let failover = run_watching(
        &scenario,
        &scenario.machine(),
        "failover-not-isolated",
        run_input("failover", &plan),
    )
    .await;
    assert_succeeded(&failover.execution);
    let report: Value = serde_json::from_str(failover.execution.output().unwrap()).unwrap();
    assert_eq!(
        report["launched"][0]["subnetId"],
        scenario.seed.dr.subnets[0].id
    );

    // a failover's resources serve production: teardown by hand refuses without consent
    let refused = scenario
        .invoke("teardown", &json!({ "runId": "failover-not-isolated" }))
        .await
        .unwrap_err();
    assert_eq!(refused.0, "Backstop.InvalidInput");
    assert!(refused.1.contains("allowFailover"), "{}", refused.1);
    let instances = scenario.instances_of_run("failover-not-isolated").await;
    let state = instances[0]
        .state()
        .and_then(|s| s.name())
        .map(|s| s.as_str());
    assert_eq!(state, Some("running"));

    // nor does a drill's teardown act on an id slipped into its stored last pass as "pending"
    let production_instance = instances[0].instance_id().unwrap().to_string();
    let forged = json!({
        "runId": "drill-isolated-1", "finished": false, "startedAt": "2026-12-01T00:00:00Z",
        "rounds": 1, "deleted": [], "left": [],
        "pending": [{ "kind": "instance", "id": production_instance, "reason": "terminating" }]
    });
    scenario
        .store("drill-isolated-1", "teardown", &forged)
        .await;
    let pass = scenario
        .invoke(
            "teardown",
            &json!({ "runId": "drill-isolated-1", "previous": { "finished": false } }),
        )
        .await
        .expect("teardown pass");
    let stored_pass = scenario.stored("drill-isolated-1", "teardown").await;
    assert_eq!(stored_pass["rounds"], 2, "{stored_pass:#}");
    assert!(
        !stored_pass["deleted"]
            .to_string()
            .contains(&production_instance),
        "{stored_pass:#}"
    );
    let instances = scenario.instances_of_run("failover-not-isolated").await;
    let state = instances[0]
        .state()
        .and_then(|s| s.name())
        .map(|s| s.as_str());
    assert_eq!(state, Some("running"), "{pass:#}");
}

/// A teardown pass ends within its invocation however much the last pass left to check: on
/// an EC2 that answers slowly, 300 volumes the last pass left deleting are looked at over
/// several passes, each answering before its timeout, and the teardown then finishes with
/// each of them accounted for.
#[tokio::test(flavor = "multi_thread")]
async fn a_teardown_left_much_to_check_on_a_slow_ec2_answers_each_pass_in_time_and_finishes() {
    let scenario = Scenario::protected("drill-bounded-teardown").await;
    let watched = run_watching(
        &scenario,
        &scenario.machine(),
        "drill-bounded-1",
        run_input("drill", &scenario.plan()),
    )
    .await;
    assert_succeeded(&watched.execution);
    // the last pass left 300 volumes deleting; they are gone since. The teardown began past
    // its 2-hour bound: a pass cut short still reports none of what it did not look at as left
    let volumes: Vec<String> = (0..300).map(|i| format!("vol-{i:017x}")).collect();
    let pending: Vec<Value> = volumes
        .iter()
        .map(|id| json!({ "kind": "volume", "id": id, "reason": "deleting" }))
        .collect();
    let last_pass = json!({
        "runId": "drill-bounded-1", "finished": false, "startedAt": "2026-12-01T00:00:00Z",
        "rounds": 1, "deleted": [], "left": [], "pending": pending
    });
    scenario
        .store("drill-bounded-1", "teardown", &last_pass)
        .await;
    // each look takes 0.3 s: one after the other, 300 of them outlast the function's 6 s
    // (300 AWS seconds at the tests' time scale) fifteen times over
    scenario.inject(json!({ "latency": [
        { "service": "ec2", "operation": "DescribeVolumes", "ms": 300 }
    ] }));
    let mut passes = Vec::new();
    loop {
        let pass = scenario
            .invoke(
                "teardown",
                &json!({ "runId": "drill-bounded-1", "previous": { "finished": false } }),
            )
            .await
            .unwrap_or_else(|err| panic!("pass {} did not answer: {err:?}", passes.len() + 2));
        let finished = pass["finished"] == true;
        passes.push(pass);
        if finished {
            break;
        }
        assert!(
            passes.len() < 10,
            "not finished after 10 passes: {passes:#?}"
        );
    }
    assert!(passes.len() >= 2, "one pass looked at all 300: {passes:#?}");
    let stored_pass = scenario.stored("drill-bounded-1", "teardown").await;
    let deleted: BTreeSet<&str> = stored_pass["deleted"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["kind"] == "volume")
        .filter_map(|o| o["id"].as_str())
        .collect();
    let missing: Vec<&String> = volumes
        .iter()
        .filter(|id| !deleted.contains(id.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "{} not accounted for, after {passes:#?}",
        missing.len()
    );
    assert!(
        stored_pass["pending"].as_array().unwrap().is_empty(),
        "{stored_pass:#}"
    );
}

/// EC2 throttles each mutating action on its own once its bucket is spent (a few calls a
/// second come back): a teardown pass whose deletions EC2 refuses stores what it could not
/// delete as pending and stops there, and a later pass deletes it, instead of the teardown
/// failing and its drill leaving volumes behind.
#[tokio::test(flavor = "multi_thread")]
async fn a_teardown_ec2_throttles_leaves_the_rest_to_its_next_pass_and_finishes() {
    let scenario = Scenario::protected("drill-throttled-teardown").await;
    let extra = more_protected_volumes(&scenario, 6).await;
    let plan = plan_with_scratch_volumes(&scenario, &extra);
    // two DeleteVolume calls, then no token back for hours: not all 8 volumes in one pass
    let scarce = json!({ "capacity": 2, "refillPerSecond": 0.0001 });
    scenario.emulator.control(
        "POST",
        "rates",
        &json!({ "actions": { "DeleteVolume": scarce } }),
    );
    let run_id = "drill-throttled-1";
    let execution = scenario.start(run_id, run_input("drill", &plan)).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(180);
    loop {
        let pass = scenario.stored(run_id, "teardown").await;
        let throttled = pass["pending"].as_array().is_some_and(|pending| {
            pending
                .iter()
                .any(|item| item["reason"].as_str().unwrap_or("").contains("throttled"))
        });
        if throttled {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no teardown pass stored what EC2 throttled as pending: {pass:#}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    // EC2's bucket refills
    let rates = scenario.emulator.control(
        "POST",
        "rates",
        &json!({ "actions": { "DeleteVolume": null } }),
    );
    assert!(
        rates["refused"]["DeleteVolume"].as_u64().unwrap_or(0) >= 1,
        "{rates:#}"
    );
    let ended = scenario
        .ended(&execution, std::time::Duration::from_secs(300))
        .await;
    assert_succeeded(&ended);
    let report: Value = serde_json::from_str(ended.output().unwrap_or("null")).unwrap();
    assert_eq!(report["verdict"], "PASS", "{report:#}");
    let pass = scenario.stored(run_id, "teardown").await;
    assert!(pass["rounds"].as_u64().unwrap_or(0) >= 2, "{pass:#}");
    let created = created_by_restores(&scenario).await;
    assert_eq!(created.len(), 10, "{created:?}");
    let left = leftovers(&scenario, run_id, &created).await;
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_resource_restored_after_its_branch_was_cancelled_is_found_by_its_job_and_deleted() {
    let scenario = Scenario::protected("drill-cancelled").await;
    // no capacity for any planned type in the volumes' AZ: the launch branch fails while the
    // file system is still being restored, so the restore branch is cancelled before it could
    // tag what that job creates
    let zone = scenario.seed.dr.subnets[0].availability_zone.clone();
    scenario.inject(json!({
        "insufficientCapacity": [
            { "instanceType": "m6i.large", "availabilityZone": zone },
            { "instanceType": "m5.large", "availabilityZone": zone }
        ],
        "slowJobs": [{ "resourceArn": scenario.seed.primary.file_system.arn, "seconds": 900 }]
    }));

    let watched = run_watching(
        &scenario,
        &scenario.machine(),
        "drill-cancelled-1",
        scenario.input("drill"),
    )
    .await;
    let execution = &watched.execution;
    assert_eq!(execution.status().as_str(), "FAILED");
    assert_eq!(execution.error(), Some("Backstop.InsufficientCapacity"));

    // every restore job of the run finished, and nothing any of them created is left
    let backup = &scenario.dr.backup;
    let jobs = backup.list_restore_jobs().send().await.unwrap();
    let created: Vec<String> = jobs
        .restore_jobs()
        .iter()
        .filter_map(|j| j.created_resource_arn().map(str::to_string))
        .collect();
    assert_eq!(created.len(), 4, "{:?}", jobs.restore_jobs());
    let left = leftovers(&scenario, "drill-cancelled-1", &created).await;
    assert!(left.is_empty(), "left behind: {left:?}");

    // the evidence says the file system was deleted
    let s3 = &scenario.dr.s3;
    let stored = s3
        .get_object()
        .bucket(scenario.stack.output("EvidenceBucketName"))
        .key("runs/shop/drill-cancelled-1/report.json")
        .send()
        .await
        .unwrap();
    let report: Value =
        serde_json::from_slice(&stored.body.collect().await.unwrap().into_bytes()).unwrap();
    assert_eq!(report["verdict"], "FAIL");
    let file_system = created
        .iter()
        .find(|a| a.contains(":file-system/"))
        .unwrap();
    assert!(
        report["teardown"]["deleted"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| file_system.ends_with(d["id"].as_str().unwrap())),
        "{:#}",
        report["teardown"]
    );
}

/// `n` more EBS volumes in the primary region, backed up and copied to the DR vault.
async fn more_protected_volumes(scenario: &Scenario, n: usize) -> Vec<String> {
    let ec2 = aws_sdk_ec2::Client::new(
        &scenario
            .emulator
            .sdk_config(backstop_tests::PRIMARY_REGION)
            .await,
    );
    let zone = scenario.seed.primary.subnets[0].availability_zone.as_str();
    let mut arns = Vec::new();
    for _ in 0..n {
        let volume = ec2
            .create_volume()
            .availability_zone(zone)
            .size(10)
            .send()
            .await
            .expect("create a volume");
        arns.push(format!(
            "arn:aws:ec2:{}:{}:volume/{}",
            backstop_tests::PRIMARY_REGION,
            scenario.seed.account.as_str(),
            volume.volume_id().unwrap()
        ));
    }
    let borrowed: Vec<&str> = arns.iter().map(String::as_str).collect();
    backstop_tests::protect(&scenario.emulator, &scenario.seed, &borrowed).await;
    arns
}

/// The seeded plan and `extra` volumes as `scratch-<i>`, restored in the DR subnets' first AZ.
fn plan_with_scratch_volumes(scenario: &Scenario, extra: &[String]) -> Value {
    let dr_az = scenario.seed.dr.subnets[0].availability_zone.clone();
    let mut plan = scenario.plan();
    for (i, arn) in extra.iter().enumerate() {
        plan["resources"].as_array_mut().unwrap().push(json!({
            "name": format!("scratch-{i}"), "kind": "ebs", "arn": arn,
            "ebs": { "availabilityZone": dr_az }
        }));
    }
    plan
}

/// The resources restore jobs created in the DR region (AWS Backup's record of them).
pub(crate) async fn created_by_restores(scenario: &Scenario) -> Vec<String> {
    scenario
        .restore_jobs()
        .await
        .iter()
        .filter_map(|job| job.created_resource_arn().map(str::to_string))
        .collect()
}

/// Restore jobs per recovery point, across the emulator's DR region.
pub(crate) async fn restore_jobs_per_resource(
    scenario: &Scenario,
) -> std::collections::BTreeMap<String, usize> {
    let mut counts = std::collections::BTreeMap::new();
    for job in scenario.restore_jobs().await {
        let point = job.recovery_point_arn().unwrap_or_default().to_string();
        *counts.entry(point).or_default() += 1;
    }
    counts
}

#[tokio::test(flavor = "multi_thread")]
async fn one_failed_restore_of_twenty_is_a_warning_when_optional_and_fails_the_drill_when_required()
{
    let scenario = Scenario::protected("one-of-twenty").await;
    let extra = more_protected_volumes(&scenario, 16).await;
    let mut plan = plan_with_scratch_volumes(&scenario, &extra);
    assert_eq!(plan["resources"].as_array().unwrap().len(), 20);
    let failing = 7;
    scenario.inject(json!({
        "failJobs": [{ "jobType": "restore", "resourceArn": extra[failing],
                       "message": "Snapshot is in an unusable state (injected)" }]
    }));

    // optional: the other 19 restore, the drill passes with a warning naming it
    plan["resources"][4 + failing]["optional"] = json!(true);
    let watched = run_watching(
        &scenario,
        &scenario.machine(),
        "drill-20-optional",
        run_input("drill", &plan),
    )
    .await;
    let report: Value = serde_json::from_str(watched.execution.output().unwrap_or("null")).unwrap();
    assert_succeeded(&watched.execution);
    assert_eq!(report["verdict"], "PASS", "{report:#}");
    let warnings = report["warnings"].to_string();
    assert!(
        warnings.contains(&format!("scratch-{failing} (optional) was not restored"))
            && warnings.contains("unusable state"),
        "{warnings}"
    );
    // (the execution output lists the first few jobs; AWS Backup has them all)
    let backup = &scenario.dr.backup;
    let jobs = backup.list_restore_jobs().send().await.unwrap();
    let statuses: Vec<&str> = jobs
        .restore_jobs()
        .iter()
        .map(|job| job.status().map(|s| s.as_str()).unwrap_or_default())
        .collect();
    assert_eq!(statuses.len(), 20, "one job per resource");
    assert_eq!(statuses.iter().filter(|s| **s == "COMPLETED").count(), 19);
    let created: Vec<String> = jobs
        .restore_jobs()
        .iter()
        .filter_map(|job| job.created_resource_arn().map(str::to_string))
        .collect();
    let left = leftovers(&scenario, "drill-20-optional", &created).await;
    assert!(left.is_empty(), "left behind: {left:?}");

    // required: the same failure fails the drill, which still leaves nothing behind
    plan["resources"][4 + failing]
        .as_object_mut()
        .unwrap()
        .remove("optional");
    let watched = run_watching(
        &scenario,
        &scenario.machine(),
        "drill-20-required",
        run_input("drill", &plan),
    )
    .await;
    assert_eq!(watched.execution.status().as_str(), "FAILED");
    assert_eq!(watched.execution.error(), Some("Backstop.RestoreFailed"));
    assert!(
        watched
            .execution
            .cause()
            .unwrap_or_default()
            .contains(&format!("scratch-{failing}")),
        "{:?}",
        watched.execution.cause()
    );
    let created = created_by_restores(&scenario).await;
    let left = leftovers(&scenario, "drill-20-required", &created).await;
    assert!(left.is_empty(), "left behind: {left:?}");

    // nothing duplicated: each recovery point was restored once per drill
    let per_point = restore_jobs_per_resource(&scenario).await;
    assert_eq!(per_point.len(), 20, "{per_point:?}");
    assert!(per_point.values().all(|n| *n == 2), "{per_point:?}");
}

/// Each report appends its run to the plan's history; after five drills the report shows the
/// five, in order, and predicts the next drill's RTO from them.
#[tokio::test(flavor = "multi_thread")]
async fn five_drills_make_a_history_whose_report_predicts_the_next_rto() {
    let scenario = Scenario::protected("drill-history").await;
    let mut run_ids = Vec::new();
    let mut report = Value::Null;
    for n in 1..=5 {
        let run_id = format!("drill-history-{n}");
        let ended = scenario.run_to_end(&run_id, scenario.input("drill")).await;
        assert_succeeded(&ended);
        report = serde_json::from_str(ended.output().unwrap()).unwrap();
        run_ids.push(run_id);
    }
    // the execution output keeps the prediction and counts the runs it leaves to the evidence
    assert_eq!(report["omitted"]["history.runs"], 5, "{report:#}");
    let prediction = &report["history"]["prediction"];
    assert_eq!(prediction["basedOn"], 5, "{report:#}");
    assert!(
        prediction["predictedSeconds"].as_i64().unwrap() > 0,
        "{prediction:#}"
    );
    assert_eq!(prediction["objectiveSeconds"], 3600);

    // the history file: one line per run, in the order they ran
    let lines = scenario.evidence("runs/shop/history.jsonl").await;
    let rows: Vec<Value> = lines
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let ids: Vec<&str> = rows.iter().map(|r| r["runId"].as_str().unwrap()).collect();
    assert_eq!(ids, run_ids);
    for row in &rows {
        assert_eq!(row["verdict"], "PASS", "{row}");
        assert!(row["rtoSeconds"].as_i64().unwrap() > 0, "{row}");
        assert!(row["restoredBytes"].as_i64().unwrap() > 0, "{row}");
    }
    // the last report's evidence and page show all five and the prediction
    let stored: Value = serde_json::from_str(
        &scenario
            .evidence("runs/shop/drill-history-5/report.json")
            .await,
    )
    .unwrap();
    assert_eq!(stored["history"]["runs"].as_array().unwrap().len(), 5);
    assert_eq!(stored["history"]["prediction"], *prediction);
    let page = open_page(
        &scenario
            .evidence("runs/shop/drill-history-5/report.html")
            .await,
        "drill-history-5",
    );
    assert!(page.page_requests.is_empty(), "{:?}", page.page_requests);
    assert_eq!(page.dom.matches("<rect class=\"run\"").count(), 5);
    for row in &rows {
        let bar = format!(
            "data-run=\"{}\" data-rto-seconds=\"{}\"",
            row["runId"].as_str().unwrap(),
            row["rtoSeconds"]
        );
        assert!(page.dom.contains(&bar), "{bar} not in the page");
    }
    assert!(
        page.dom.contains(&format!(
            "id=\"prediction\" data-predicted-seconds=\"{}\"",
            prediction["predictedSeconds"]
        )),
        "no prediction in the page"
    );

    // the stack's dashboard shows only metrics these runs and the scheduled readiness check
    // emitted (CloudWatch Embedded Metric Format lines in the functions' logs): a widget on a
    // metric nobody emits stays empty
    put_plan(&scenario.emulator, &scenario.plan()).await;
    let readiness = scenario
        .invoke("preflight", &json!({ "planParameter": PLAN_PARAMETER }))
        .await
        .expect("the scheduled readiness check");
    assert_eq!(readiness["ready"], true, "{readiness:#}");
    let cloudwatch =
        aws_sdk_cloudwatch::Client::new(&scenario.emulator.sdk_config(DR_REGION).await);
    let dashboard = cloudwatch
        .get_dashboard()
        .dashboard_name(scenario.stack.output("DashboardName"))
        .send()
        .await
        .unwrap();
    let body: Value = serde_json::from_str(dashboard.dashboard_body().unwrap()).unwrap();
    let emitted = emitted_metrics(&scenario.emulator.log_dir);
    let shown = dashboard_metrics(&body);
    assert!(shown.len() >= 8, "{shown:?}");
    for (namespace, name, dimensions, filters) in &shown {
        let found = emitted.iter().any(|(ns, n, dims, values)| {
            ns == namespace
                && n == name
                && dims == dimensions
                && filters.iter().all(|(k, v)| values.get(k) == Some(v))
        });
        assert!(
            found,
            "the dashboard shows {namespace} {name} {dimensions:?} {filters:?}, which no function emitted"
        );
    }
}

/// (namespace, metric, dimension names, dimension values) of every EMF line in the functions'
/// logs.
type Emitted = (String, String, BTreeSet<String>, BTreeMap<String, String>);

fn emitted_metrics(log_dir: &std::path::Path) -> Vec<Emitted> {
    let mut emitted = Vec::new();
    for entry in std::fs::read_dir(log_dir).unwrap() {
        let path = entry.unwrap().path();
        let is_lambda_log = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("lambda-"));
        if !is_lambda_log {
            continue;
        }
        let text = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).to_string();
        for line in text.lines() {
            let Ok(value) = serde_json::from_str::<Value>(line) else {
                continue;
            };
            for directive in value["_aws"]["CloudWatchMetrics"]
                .as_array()
                .into_iter()
                .flatten()
            {
                let namespace = directive["Namespace"].as_str().unwrap_or_default();
                for dimensions in directive["Dimensions"].as_array().into_iter().flatten() {
                    let names: BTreeSet<String> = dimensions
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|d| d.as_str().map(str::to_string))
                        .collect();
                    let values: BTreeMap<String, String> = names
                        .iter()
                        .filter_map(|n| Some((n.clone(), value[n].as_str()?.to_string())))
                        .collect();
                    for metric in directive["Metrics"].as_array().into_iter().flatten() {
                        let name = metric["Name"].as_str().unwrap_or_default();
                        assert!(value[name].is_number(), "{name} has no value in {line}");
                        emitted.push((
                            namespace.into(),
                            name.into(),
                            names.clone(),
                            values.clone(),
                        ));
                    }
                }
            }
        }
    }
    emitted
}

/// (namespace, metric, dimension names, dimension values asked for).
type Shown = (String, String, BTreeSet<String>, Vec<(String, String)>);

/// (namespace, metric, dimension names, dimension values asked for) of every metric a
/// dashboard's widgets show: explicit metrics (`"."` repeats the one above) and SEARCH
/// expressions (`{Namespace,Dim,...} Dim="value" MetricName="name"`).
fn dashboard_metrics(body: &Value) -> Vec<Shown> {
    let mut shown = Vec::new();
    for widget in body["widgets"].as_array().unwrap() {
        let mut previous: Vec<String> = Vec::new();
        for metric in widget["properties"]["metrics"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let parts = metric.as_array().unwrap();
            if let Some(expression) = parts[0]["expression"].as_str() {
                let search = expression
                    .strip_prefix("SEARCH('{")
                    .and_then(|rest| rest.split_once("}"))
                    .expect("a SEARCH expression");
                let mut names = search.0.split(',').map(str::to_string);
                let namespace = names.next().unwrap();
                let mut name = String::new();
                let mut filters = Vec::new();
                for term in search.1.split('\'').next().unwrap().split_whitespace() {
                    let (key, value) = term.split_once('=').unwrap();
                    let value = value.trim_matches('"').to_string();
                    match key {
                        "MetricName" => name = value,
                        _ => filters.push((key.to_string(), value)),
                    }
                }
                shown.push((namespace, name, names.collect(), filters));
                continue;
            }
            let strings: Vec<String> = parts
                .iter()
                .filter_map(|p| p.as_str().map(str::to_string))
                .collect();
            let resolved: Vec<String> = strings
                .iter()
                .enumerate()
                .map(|(i, s)| match s.as_str() {
                    "." => previous[i].clone(),
                    _ => s.clone(),
                })
                .collect();
            // [namespace, metric, dimension name, value, ...]
            let dimensions = resolved[2..].chunks(2).map(|c| c[0].clone()).collect();
            shown.push((
                resolved[0].clone(),
                resolved[1].clone(),
                dimensions,
                Vec::new(),
            ));
            previous = resolved;
        }
    }
    shown
}

/// An execution's whole history, page by page.
async fn history(
    scenario: &Scenario,
    execution_arn: &str,
) -> Vec<aws_sdk_sfn::types::HistoryEvent> {
    let mut pages = scenario
        .dr
        .sfn
        .get_execution_history()
        .execution_arn(execution_arn)
        .max_results(1000)
        .into_paginator()
        .send();
    let mut events = Vec::new();
    while let Some(page) = pages.next().await {
        events.extend(page.unwrap().events().iter().cloned());
    }
    events
}

/// The restore loop's waits are the only Lambda tasks that wait for their token.
fn parked(resource: &str) -> bool {
    resource == "invoke.waitForTaskToken"
}

/// The timeout of each of the restore loop's waits, in AWS seconds, as the execution history
/// has them.
async fn restore_wait_timeouts(scenario: &Scenario, execution_arn: &str) -> Vec<i64> {
    history(scenario, execution_arn)
        .await
        .iter()
        .filter_map(|e| e.task_scheduled_event_details())
        .filter(|d| parked(d.resource()))
        .map(|d| d.timeout_in_seconds().unwrap_or_default())
        .collect()
}

/// The waits of an execution's restore loop: how many were woken, and how many ran their
/// whole interval.
pub(crate) async fn restore_waits(scenario: &Scenario, execution_arn: &str) -> (usize, usize) {
    let events = history(scenario, execution_arn).await;
    let woken = events
        .iter()
        .filter_map(|e| e.task_succeeded_event_details())
        .filter(|d| parked(d.resource()))
        .count();
    let timed_out = events
        .iter()
        .filter_map(|e| e.task_timed_out_event_details())
        .filter(|d| parked(d.resource()))
        .count();
    (woken, timed_out)
}

/// A restore job that ends wakes the run's wait (AWS Backup's restore job event hands the
/// parked task token back): with a poll interval of ten minutes, longer than any of its
/// restores, the drill's restore loop never waits a whole interval, and it leaves nothing.
#[tokio::test(flavor = "multi_thread")]
async fn a_restore_job_that_ends_wakes_the_run_before_its_poll_interval() {
    let scenario = Scenario::protected("drill-wake").await;
    let mut input = scenario.input("drill");
    input["settings"]["pollIntervalSeconds"] = json!(600);
    let execution = scenario.run_to_end("drill-wake-1", input).await;
    assert_succeeded(&execution);
    let report: Value = serde_json::from_str(execution.output().unwrap()).unwrap();
    assert_eq!(report["verdict"], "PASS", "{report:#}");

    let (woken, timed_out) = restore_waits(&scenario, execution.execution_arn()).await;
    assert!(woken >= 1, "no wait was woken by a restore's end");
    assert_eq!(
        timed_out, 0,
        "a wait ran its whole interval ({woken} woken)"
    );
    let created = created_by_restores(&scenario).await;
    let left = leftovers(&scenario, "drill-wake-1", &created).await;
    assert!(left.is_empty(), "left behind: {left:?}");
}
