//! First, do no harm: tried as an attacker or a tired operator would, no input, trigger or
//! stored state lets a run write a DNS name it does not own or delete what it did not create.

use backstop_tests::{
    assert_succeeded, protected_workload, put_plan, run_input, Scenario, DR_REGION, PLAN_PARAMETER,
};
use serde_json::{json, Value};

use crate::hardening::dr_inventory;

/// Creates (UPSERTs) an A record in the seeded zone, as production's own tooling would.
async fn put_a_record(scenario: &Scenario, name: &str, value: &str) {
    use aws_sdk_route53::types::{
        Change, ChangeAction, ChangeBatch, ResourceRecord, ResourceRecordSet, RrType,
    };
    let route53 = &scenario.primary.route53;
    let set = ResourceRecordSet::builder()
        .name(format!("{name}."))
        .r#type(RrType::A)
        .ttl(300)
        .resource_records(ResourceRecord::builder().value(value).build().unwrap())
        .build()
        .unwrap();
    let change = Change::builder()
        .action(ChangeAction::Upsert)
        .resource_record_set(set)
        .build()
        .unwrap();
    route53
        .change_resource_record_sets()
        .hosted_zone_id(scenario.seed.dns.hosted_zone_id.as_str())
        .change_batch(ChangeBatch::builder().changes(change).build().unwrap())
        .send()
        .await
        .expect("create the production record");
}

/// Every record set name in the seeded zone.
async fn record_names(scenario: &Scenario) -> Vec<String> {
    let route53 = &scenario.primary.route53;
    route53
        .list_resource_record_sets()
        .hosted_zone_id(scenario.seed.dns.hosted_zone_id.as_str())
        .send()
        .await
        .unwrap()
        .resource_record_sets()
        .iter()
        .map(|set| format!("{} {}", set.name(), set.r#type().as_str()))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_drill_never_takes_over_a_dns_name_it_did_not_create() {
    let scenario = Scenario::protected("drill-record-owner").await;
    // production names the plan does not list: a sibling of the production record, and a
    // name beside it
    put_a_record(&scenario, "www.shop.example.com", "203.0.113.10").await;
    put_a_record(&scenario, "api.shop.example.com", "203.0.113.20").await;
    let before = dr_inventory(&scenario).await;

    for (index, taken) in ["www.shop.example.com", "api.shop.example.com"]
        .iter()
        .enumerate()
    {
        let mut plan = scenario.plan();
        plan["dns"][0]["drillRecordName"] = json!(taken);
        let execution = scenario
            .run_to_end(
                &format!("drill-taken-name-{index}"),
                run_input("drill", &plan),
            )
            .await;
        // refused in preflight, before anything is created, naming the field and the fix
        assert_eq!(execution.status().as_str(), "FAILED");
        assert_eq!(execution.error(), Some("Backstop.NotReady"));
        let cause = execution.cause().unwrap_or_default();
        assert!(cause.contains("dns[0].drillRecordName"), "{cause}");
        assert!(cause.contains("did not create it"), "{cause}");
    }
    assert_eq!(dr_inventory(&scenario).await, before);
    assert_eq!(
        scenario.a_record("www.shop.example.com").await,
        Some((vec!["203.0.113.10".to_string()], 300))
    );
    assert_eq!(
        scenario.a_record("api.shop.example.com").await,
        Some((vec!["203.0.113.20".to_string()], 300))
    );

    // a free name is written with its ownership mark, and both are gone after the drill
    let execution = scenario
        .run_to_end("drill-own-name", scenario.input("drill"))
        .await;
    assert_succeeded(&execution);
    let names = record_names(&scenario).await;
    assert!(
        !names
            .iter()
            .any(|n| n.contains("drill.app.shop.example.com")),
        "{names:?}"
    );
    let report: Value = serde_json::from_str(execution.output().unwrap()).unwrap();
    let deleted = report["teardown"]["deleted"].to_string();
    assert!(deleted.contains("drill.app.shop.example.com"), "{report:#}");
}

#[tokio::test(flavor = "multi_thread")]
async fn teardown_never_deletes_a_failovers_resources_without_consent() {
    let scenario = Scenario::protected("teardown-failover").await;
    let execution = scenario
        .run_to_end("failover-prod", scenario.input("failover"))
        .await;
    assert_succeeded(&execution);
    let before = dr_inventory(&scenario).await;

    // (a) an executionArn naming an execution that does not exist: no stored state to read
    let bogus = scenario.machine().replace(":stateMachine:", ":execution:") + ":no-such-run";
    let refused = scenario
        .invoke(
            "teardown",
            &json!({ "runId": "failover-prod", "executionArn": bogus }),
        )
        .await
        .unwrap_err();
    assert_eq!(refused.0, "Backstop.InvalidInput");
    // the resources' own backstop:mode tag says failover, whatever the state says
    assert!(refused.1.contains("allowFailover"), "{}", refused.1);
    assert!(
        refused.1.contains("backstop:mode=failover"),
        "{}",
        refused.1
    );

    // (b) the run's state expired (the bucket expires state/ after 90 days)
    let s3 = &scenario.dr.s3;
    let bucket = scenario.stack.output("RunStateBucketName");
    let listed = s3
        .list_objects_v2()
        .bucket(&bucket)
        .prefix("state/failover-prod/")
        .send()
        .await
        .unwrap();
    for object in listed.contents() {
        s3.delete_object()
            .bucket(&bucket)
            .key(object.key().unwrap())
            .send()
            .await
            .unwrap();
    }
    for request in [
        json!({ "runId": "failover-prod" }),
        // consent cannot stand in for proof
        json!({ "runId": "failover-prod", "allowFailover": true }),
    ] {
        let refused = scenario.invoke("teardown", &request).await.unwrap_err();
        assert_eq!(refused.0, "Backstop.InvalidInput", "{request}");
    }
    let refused = scenario
        .invoke(
            "teardown",
            &json!({ "runId": "failover-prod", "allowFailover": true }),
        )
        .await
        .unwrap_err();
    assert!(refused.1.contains("no stored state"), "{}", refused.1);

    // nothing was deleted: the failover's instance runs, its database and file system exist
    assert_eq!(dr_inventory(&scenario).await, before);
    let instances = scenario.instances_of_run("failover-prod").await;
    assert_eq!(
        instances[0]
            .state()
            .and_then(|s| s.name())
            .map(|s| s.as_str()),
        Some("running")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn teardown_leaves_alone_what_carries_a_drills_tag_but_was_not_created_by_it() {
    let scenario = Scenario::protected("teardown-forged-tag").await;
    let execution = scenario
        .run_to_end("drill-forged", scenario.input("drill"))
        .await;
    assert_succeeded(&execution);

    // someone who may tag writes the drill's tags on a volume the drill never created
    let ec2 = &scenario.dr.ec2;
    let zone = scenario.seed.dr.subnets[0].availability_zone.as_str();
    let volume = ec2
        .create_volume()
        .availability_zone(zone)
        .size(8)
        .send()
        .await
        .unwrap()
        .volume_id()
        .unwrap()
        .to_string();
    ec2.create_tags()
        .resources(&volume)
        .tags(
            aws_sdk_ec2::types::Tag::builder()
                .key("backstop:run-id")
                .value("drill-forged")
                .build(),
        )
        .tags(
            aws_sdk_ec2::types::Tag::builder()
                .key("backstop:mode")
                .value("drill")
                .build(),
        )
        .send()
        .await
        .unwrap();
    // and an operator's own restore of one of the drill's recovery points, after the drill
    // started, slipped into the drill's stored restore jobs
    let run = scenario.stored("drill-forged", "run").await;
    let point = run["restores"][0]["recoveryPointArn"]
        .as_str()
        .unwrap()
        .to_string();
    let backup = &scenario.dr.backup;
    let mut metadata = backup
        .get_recovery_point_restore_metadata()
        .backup_vault_name(scenario.seed.dr.backup_vault.name.as_str())
        .recovery_point_arn(&point)
        .send()
        .await
        .unwrap()
        .restore_metadata
        .unwrap_or_default();
    metadata.insert("availabilityZone".into(), zone.to_string());
    let job = backup
        .start_restore_job()
        .recovery_point_arn(&point)
        .set_metadata(Some(metadata))
        .iam_role_arn(scenario.seed.backup_role_arn.as_str())
        .send()
        .await
        .unwrap()
        .restore_job_id
        .unwrap();
    let operators = backstop_tests::wait_for(
        "the operator's restore",
        std::time::Duration::from_secs(60),
        || async {
            let described = backup
                .describe_restore_job()
                .restore_job_id(&job)
                .send()
                .await
                .unwrap();
            described
                .created_resource_arn()
                .map(|arn| arn.rsplit('/').next().unwrap().to_string())
        },
    )
    .await;
    let mut jobs = scenario.stored("drill-forged", "restore").await;
    jobs.as_array_mut().unwrap().push(json!({
        "resource": "app-data", "kind": "ebs", "recoveryPointArn": point,
        "restoreJobId": job, "status": "COMPLETED"
    }));
    scenario.store("drill-forged", "restore", &jobs).await;

    let pass = scenario
        .invoke("teardown", &json!({ "runId": "drill-forged" }))
        .await
        .expect("a teardown pass");
    assert_eq!(pass["finished"], true, "{pass:#}");
    let left = pass["leftItems"].to_string();
    assert!(left.contains(&volume), "{pass:#}");
    assert!(left.contains("did not launch it"), "{pass:#}");
    for id in [&volume, &operators] {
        let described = ec2.describe_volumes().volume_ids(id).send().await.unwrap();
        let kept = &described.volumes()[0];
        assert_eq!(kept.state().map(|s| s.as_str()), Some("available"), "{id}");
        if id == &operators {
            // not even tagged: teardown adopts nothing it did not create
            assert!(kept.tags().is_empty(), "{:?}", kept.tags());
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn starting_a_run_is_not_a_way_around_the_stacks_plan_or_its_input_rules() {
    let scenario = Scenario::protected("bad-input").await;
    let plan = scenario.plan();
    // the stack's own plan, and a truncated copy in another parameter
    put_plan(&scenario.emulator, &plan).await;
    let text = plan.to_string();
    scenario
        .dr
        .ssm
        .put_parameter()
        .name("/backstop/truncated")
        .value(&text[..text.len() / 2])
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .send()
        .await
        .unwrap();
    let before = dr_inventory(&scenario).await;

    let soon = (std::time::SystemTime::now() + std::time::Duration::from_secs(86_400))
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let tomorrow = aws_smithy_types::DateTime::from_secs(soon as i64)
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap();
    let mut long_user_data = plan.clone();
    long_user_data["instances"][0]["userData"] = json!("#!/bin/sh\n".repeat(2000));
    let mut apex_cname = plan.clone();
    apex_cname["dns"][0] = json!({
        "hostedZoneId": scenario.seed.dns.hosted_zone_id, "recordName": "shop.example.com",
        "recordType": "CNAME", "drillRecordName": "drill-db.shop.example.com",
        "target": { "resource": "orders-db" }
    });
    let cases: Vec<(&str, Value, &str, &str)> = vec![
        // a failover reads its plan only from the stack's plan parameter
        (
            "failover-inline",
            json!({ "mode": "failover", "plan": plan }),
            "Backstop.InvalidInput",
            "`plan`",
        ),
        (
            "failover-object",
            json!({ "mode": "failover", "planObject": "s3://somebody-else/plan.json" }),
            "Backstop.InvalidInput",
            "`planObject`",
        ),
        (
            "failover-other-parameter",
            json!({ "mode": "failover", "planParameter": "/backstop/truncated" }),
            "Backstop.InvalidInput",
            "`planParameter`",
        ),
        (
            "drill-truncated-plan",
            json!({ "mode": "drill", "planParameter": "/backstop/truncated" }),
            "Backstop.InvalidInput",
            "`planParameter`",
        ),
        (
            "drill-future",
            json!({ "mode": "drill", "planParameter": PLAN_PARAMETER, "pointInTime": tomorrow }),
            "Backstop.InvalidInput",
            "`pointInTime`",
        ),
        (
            "drill-settings-array",
            json!({ "mode": "drill", "planParameter": PLAN_PARAMETER, "settings": [] }),
            "Backstop.InvalidInput",
            "settings",
        ),
        (
            "drill-resume-unknown",
            json!({ "mode": "drill", "planParameter": PLAN_PARAMETER, "resumeRunId": "drill-never-ran" }),
            "Backstop.InvalidInput",
            "`resumeRunId`",
        ),
        (
            "drill-user-data",
            json!({ "mode": "drill", "plan": long_user_data }),
            "Backstop.InvalidPlan",
            "instances[0].userData",
        ),
        (
            "drill-apex-cname",
            json!({ "mode": "drill", "plan": apex_cname }),
            "Backstop.NotReady",
            "dns[0].recordType",
        ),
        // not an object at all: a notice, not States.Runtime
        (
            "input-array",
            json!(["drill"]),
            "Backstop.InvalidInput",
            "not a JSON object",
        ),
        (
            "input-string",
            json!("drill"),
            "Backstop.InvalidInput",
            "not a JSON object",
        ),
    ];
    let sfn = &scenario.dr.sfn;
    for (run_id, input, error, field) in &cases {
        // started as given (no harness help): what anyone allowed to StartExecution could do
        let arn = sfn
            .start_execution()
            .state_machine_arn(scenario.machine())
            .name(*run_id)
            .input(input.to_string())
            .send()
            .await
            .unwrap()
            .execution_arn;
        let ended = scenario
            .ended(&arn, std::time::Duration::from_secs(120))
            .await;
        assert_eq!(ended.status().as_str(), "FAILED", "{run_id}");
        assert_eq!(ended.error(), Some(*error), "{run_id}: {:?}", ended.cause());
        let cause = ended.cause().unwrap_or_default();
        assert!(cause.contains(field), "{run_id}: {cause}");
    }
    assert_eq!(dr_inventory(&scenario).await, before, "nothing created");
    // every refusal was announced, the malformed inputs too
    let noticed: Vec<String> = scenario
        .topic_messages(&scenario.stack.output("NoticeTopicArn"))
        .iter()
        .filter_map(|m| m["runId"].as_str().map(str::to_string))
        .collect();
    for (run_id, ..) in &cases {
        assert!(noticed.iter().any(|n| n == run_id), "{run_id}: {noticed:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_alarm_with_the_longest_name_cloudwatch_allows_still_fails_over() {
    let (emulator, seed) = protected_workload("long-alarm-name").await;
    // 255 characters, CloudWatch's longest: its ARN is longer than 256
    let name = format!("primary-down-{}", "x".repeat(242));
    let stack = emulator.deploy_stack_with(json!({ "FailoverAlarmNames": name }));
    let scenario = Scenario::of(emulator, seed, stack).await;
    put_plan(&scenario.emulator, &scenario.plan()).await;
    let cloudwatch = |action: &str, params: Value| {
        scenario.emulator.control(
            "POST",
            "cloudwatch",
            &json!({ "region": DR_REGION, "action": action, "params": params }),
        )
    };
    cloudwatch(
        "PutMetricAlarm",
        json!({
            "AlarmName": name, "Namespace": "Shop/Primary", "MetricName": "HealthCheckFailed",
            "Statistic": "Maximum", "Period": 60, "EvaluationPeriods": 1, "Threshold": 1.0,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        }),
    );
    cloudwatch(
        "SetAlarmState",
        json!({ "AlarmName": name, "StateValue": "ALARM", "StateReason": "test: primary down" }),
    );
    let sfn = &scenario.dr.sfn;
    let execution = backstop_tests::wait_for(
        "the alarm's failover",
        std::time::Duration::from_secs(60),
        || async {
            let listed = sfn
                .list_executions()
                .state_machine_arn(scenario.machine())
                .send()
                .await
                .unwrap();
            listed
                .executions()
                .first()
                .map(|e| e.execution_arn().to_string())
        },
    )
    .await;
    let ended = scenario
        .ended(&execution, std::time::Duration::from_secs(180))
        .await;
    assert_succeeded(&ended);
    let report: Value = serde_json::from_str(ended.output().unwrap()).unwrap();
    assert!(
        report.to_string().contains(&name),
        "the trigger is in the report"
    );
}
