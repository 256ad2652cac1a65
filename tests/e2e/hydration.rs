//! Volumes at full speed, not just restored: a plan's `fastSnapshotRestore` volumes are
//! restored from DR copies with EBS fast snapshot restore enabled in their AZ (EC2 says so:
//! `FastRestored`), the run turns off what it turned on (FSR is billed per hour) and leaves
//! alone what was on before it, and the report gives each volume's time to full speed and the
//! RTO to full speed beside the RTO to DNS.

use std::collections::BTreeMap;

use aws_sdk_ec2::types::Filter;
use backstop_tests::{assert_succeeded, run_input, Scenario};
use serde_json::{json, Value};

use crate::drill::leftovers;

/// The plan of the seeded workload with both volumes restored with FSR.
fn plan_with_fast_restore(scenario: &Scenario) -> Value {
    let mut plan = scenario.plan();
    for resource in plan["resources"].as_array_mut().unwrap() {
        if resource["kind"] == "ebs" {
            resource["ebs"]["fastSnapshotRestore"] = json!(true);
        }
    }
    plan
}

/// The snapshot of the DR copy each resource was restored from (the report's RPO lines).
fn copy_snapshots(report: &Value) -> BTreeMap<String, String> {
    report["rpoByResource"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| {
            let arn = r["recoveryPointArn"].as_str()?;
            let snapshot = arn.rsplit_once(":snapshot/")?.1;
            Some((r["resource"].as_str()?.to_string(), snapshot.to_string()))
        })
        .collect()
}

/// FSR state of each (snapshot, AZ) in the DR region, as EC2 lists it.
async fn fsr_states(scenario: &Scenario, snapshot: &str) -> BTreeMap<String, String> {
    scenario
        .dr
        .ec2
        .describe_fast_snapshot_restores()
        .filters(
            Filter::builder()
                .name("snapshot-id")
                .values(snapshot)
                .build(),
        )
        .send()
        .await
        .unwrap()
        .fast_snapshot_restores()
        .iter()
        .map(|f| {
            (
                f.availability_zone().unwrap().to_string(),
                f.state().unwrap().as_str().to_string(),
            )
        })
        .collect()
}

/// The run's report as stored in the evidence bucket (the execution output leaves out each
/// volume's way to full speed, to keep the payload's size), and its text.
async fn evidence(scenario: &Scenario, report: &Value) -> (Value, String) {
    let read = |key: String| async move {
        let object = scenario
            .dr
            .s3
            .get_object()
            .bucket(report["evidence"]["bucket"].as_str().unwrap())
            .key(key)
            .send()
            .await
            .unwrap();
        object.body.collect().await.unwrap().into_bytes()
    };
    let json = read(report["evidence"]["jsonKey"].as_str().unwrap().to_string()).await;
    let text = read(report["evidence"]["textKey"].as_str().unwrap().to_string()).await;
    (
        serde_json::from_slice(&json).unwrap(),
        String::from_utf8(text.to_vec()).unwrap(),
    )
}

async fn fast_restored(scenario: &Scenario, volume_arn: &str) -> Option<bool> {
    let id = volume_arn.rsplit('/').next().unwrap();
    let volumes = scenario
        .dr
        .ec2
        .describe_volumes()
        .volume_ids(id)
        .send()
        .await
        .unwrap();
    volumes.volumes()[0].fast_restored()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failover_restores_with_fast_snapshot_restore_then_turns_it_off_and_reports_full_speed() {
    let scenario = Scenario::protected("fsr-failover").await;
    let dr_az = scenario.seed.dr.subnets[0].availability_zone.clone();
    let plan = plan_with_fast_restore(&scenario);

    let execution = scenario
        .run_to_end("failover-fsr-1", run_input("failover", &plan))
        .await;
    assert_succeeded(&execution);
    let report: Value = serde_json::from_str(execution.output().unwrap()).unwrap();
    assert_eq!(report["verdict"], "PASS", "{report:#}");

    // preflight said what the run would do, its wait and its cost
    let readiness = scenario.stored("failover-fsr-1", "preflight").await;
    let fsr_lines: Vec<&Value> = readiness["lines"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["check"] == "fast-snapshot-restore")
        .collect();
    assert_eq!(fsr_lines.len(), 2, "{readiness:#}");
    assert!(fsr_lines
        .iter()
        .all(|l| l["detail"].as_str().unwrap().contains("the run enables it")));

    // both volumes came from their copy with FSR, as EC2 records it
    let snapshots = copy_snapshots(&report);
    let restored = report["restored"].as_array().unwrap();
    for resource in ["app-data", "app-logs"] {
        let job = restored.iter().find(|j| j["resource"] == resource).unwrap();
        let volume = job["createdResourceArn"].as_str().unwrap();
        assert_eq!(
            fast_restored(&scenario, volume).await,
            Some(true),
            "{resource}: {report:#}"
        );
        // and FSR, billed per hour, was turned off once the volume existed
        let states = fsr_states(&scenario, &snapshots[resource]).await;
        assert_eq!(states.len(), 1, "{states:?}");
        assert!(
            matches!(states[&dr_az].as_str(), "disabling" | "disabled"),
            "{resource}: {states:?}"
        );
    }

    // the report: each volume at full speed at creation, and the RTO to full speed
    assert_eq!(report["omitted"]["hydration"], 2, "{report:#}");
    let (stored, text) = evidence(&scenario, &report).await;
    assert!(text.contains("to full speed"), "{text}");
    let hydration = stored["hydration"].as_array().unwrap();
    assert_eq!(hydration.len(), 2, "{report:#}");
    for volume in hydration {
        assert_eq!(volume["fastRestored"], true, "{volume:#}");
        assert_eq!(volume["secondsToFullSpeed"], 0, "{volume:#}");
    }
    let rto = report["rto"]["measuredSeconds"].as_i64().unwrap();
    // both volumes were at full speed when created, before DNS: nothing comes after the RTO
    let full_speed = report["rtoToFullSpeedSeconds"].as_i64().unwrap();
    assert_eq!(full_speed, rto, "{report:#}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_drill_turns_off_only_the_fast_snapshot_restore_it_turned_on_and_leaves_nothing() {
    let scenario = Scenario::protected("fsr-drill").await;
    let dr_az = scenario.seed.dr.subnets[0].availability_zone.clone();
    let mut plan = plan_with_fast_restore(&scenario);
    // app-logs is restored lazily: the operator keeps FSR on its copy for their own reasons
    plan["resources"][1]["ebs"]
        .as_object_mut()
        .unwrap()
        .remove("fastSnapshotRestore");
    let copies = scenario
        .dr
        .backup
        .list_recovery_points_by_backup_vault()
        .backup_vault_name(&scenario.seed.dr.backup_vault.name)
        .send()
        .await
        .unwrap();
    let logs_copy = copies
        .recovery_points()
        .iter()
        .find(|p| p.resource_arn() == Some(scenario.seed.primary.volumes["app-logs"].arn.as_str()))
        .and_then(|p| p.recovery_point_arn())
        .unwrap();
    let logs_snapshot = logs_copy.rsplit_once(":snapshot/").unwrap().1.to_string();
    scenario
        .dr
        .ec2
        .enable_fast_snapshot_restores()
        .source_snapshot_ids(&logs_snapshot)
        .availability_zones(&dr_az)
        .send()
        .await
        .unwrap();

    let execution = scenario
        .run_to_end("drill-fsr-1", run_input("drill", &plan))
        .await;
    assert_succeeded(&execution);
    let report: Value = serde_json::from_str(execution.output().unwrap()).unwrap();
    assert_eq!(report["verdict"], "PASS", "{report:#}");
    let snapshots = copy_snapshots(&report);

    // the run's own FSR is off; the operator's is on as they left it
    let data = fsr_states(&scenario, &snapshots["app-data"]).await;
    assert!(
        matches!(data[&dr_az].as_str(), "disabling" | "disabled"),
        "{data:?}"
    );
    let logs = fsr_states(&scenario, &logs_snapshot).await;
    assert!(
        matches!(logs[&dr_az].as_str(), "enabling" | "optimizing" | "enabled"),
        "{logs:?}"
    );

    // the drill accounts for it and leaves nothing behind
    let deleted = report["teardown"]["deleted"].as_array().unwrap();
    let fsr: Vec<&Value> = deleted
        .iter()
        .filter(|d| d["kind"] == "fast-snapshot-restore")
        .collect();
    assert_eq!(fsr.len(), 1, "{deleted:#?}");
    assert_eq!(fsr[0]["id"], format!("{}/{dr_az}", snapshots["app-data"]));
    let created: Vec<String> = report["restored"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|j| j["createdResourceArn"].as_str().map(str::to_string))
        .collect();
    assert!(leftovers(&scenario, "drill-fsr-1", &created)
        .await
        .is_empty());

    // the lazily restored volume's way to full speed is an estimate by its size, said as one
    let (stored, _) = evidence(&scenario, &report).await;
    let hydration = stored["hydration"].as_array().unwrap();
    let lazy = hydration
        .iter()
        .find(|v| v["resource"] == "app-logs")
        .unwrap();
    assert_eq!(lazy["fastRestored"], false, "{lazy:#}");
    assert!(lazy["secondsToFullSpeed"].as_i64().unwrap() > 0, "{lazy:#}");
    assert!(
        lazy["note"].as_str().unwrap().contains("estimated"),
        "{lazy:#}"
    );
    // a volume still loading from S3 when the health gate passed: full speed comes later
    let rto = report["rto"]["measuredSeconds"].as_i64().unwrap();
    let full_speed = report["rtoToFullSpeedSeconds"].as_i64().unwrap();
    assert!(full_speed > rto, "{full_speed} <= {rto}: {report:#}");
    let fast = hydration
        .iter()
        .find(|v| v["resource"] == "app-data")
        .unwrap();
    assert_eq!(fast["fastRestored"], true, "{fast:#}");

    // abuse: the run's record edited to claim the operator's FSR as the run's; a teardown by
    // hand leaves it on (EC2's EnablingTime is not the one the run's call got back)
    let mut records = scenario.stored("drill-fsr-1", "fast-restore").await;
    records.as_array_mut().unwrap().push(json!({
        "resource": "app-logs", "snapshotId": logs_snapshot, "availabilityZone": dr_az,
        "owned": true, "state": "enabled", "enabledAt": "2026-12-04T00:00:00Z"
    }));
    scenario
        .store("drill-fsr-1", "fast-restore", &records)
        .await;
    let again = scenario
        .invoke("teardown", &json!({ "runId": "drill-fsr-1" }))
        .await
        .expect("teardown by hand");
    assert_eq!(again["finished"], true, "{again:#}");
    let logs = fsr_states(&scenario, &logs_snapshot).await;
    assert!(
        matches!(logs[&dr_az].as_str(), "enabling" | "optimizing" | "enabled"),
        "{logs:?}"
    );
}
