//! First, do no harm: tried as an attacker or a tired operator would, no input, trigger or
//! stored state lets a run write a DNS name it does not own or delete what it did not create.

use backstop_tests::{
    a_record, assert_succeeded, instances_of_run, invoke, plan_for, protected_workload, put_plan,
    run_ended, run_to_end, topic_messages, Emulator, Seed, DR_REGION, PLAN_PARAMETER,
    PRIMARY_REGION,
};
use serde_json::{json, Value};

use crate::hardening::dr_inventory;

fn input(mode: &str, plan: &Value) -> Value {
    json!({ "mode": mode, "plan": plan, "settings": { "pollIntervalSeconds": 2 } })
}

/// Creates (UPSERTs) an A record in the seeded zone, as production's own tooling would.
async fn put_a_record(emulator: &Emulator, seed: &Seed, name: &str, value: &str) {
    use aws_sdk_route53::types::{
        Change, ChangeAction, ChangeBatch, ResourceRecord, ResourceRecordSet, RrType,
    };
    let route53 = aws_sdk_route53::Client::new(&emulator.sdk_config(PRIMARY_REGION).await);
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
        .hosted_zone_id(seed.dns.hosted_zone_id.as_str())
        .change_batch(ChangeBatch::builder().changes(change).build().unwrap())
        .send()
        .await
        .expect("create the production record");
}

/// Every record set name in the seeded zone.
async fn record_names(emulator: &Emulator, seed: &Seed) -> Vec<String> {
    let route53 = aws_sdk_route53::Client::new(&emulator.sdk_config(PRIMARY_REGION).await);
    route53
        .list_resource_record_sets()
        .hosted_zone_id(seed.dns.hosted_zone_id.as_str())
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
    let (emulator, seed) = protected_workload("drill-record-owner").await;
    let machine = emulator.deploy_stack().state_machine();
    // production names the plan does not list: a sibling of the production record, and a
    // name beside it
    put_a_record(&emulator, &seed, "www.shop.example.com", "203.0.113.10").await;
    put_a_record(&emulator, &seed, "api.shop.example.com", "203.0.113.20").await;
    let before = dr_inventory(&emulator, &seed).await;

    for (index, taken) in ["www.shop.example.com", "api.shop.example.com"]
        .iter()
        .enumerate()
    {
        let mut plan = plan_for(&seed);
        plan["dns"][0]["drillRecordName"] = json!(taken);
        let execution = run_to_end(
            &emulator,
            &machine,
            &format!("drill-taken-name-{index}"),
            input("drill", &plan),
        )
        .await;
        // refused in preflight, before anything is created, naming the field and the fix
        assert_eq!(execution.status().as_str(), "FAILED");
        assert_eq!(execution.error(), Some("Backstop.NotReady"));
        let cause = execution.cause().unwrap_or_default();
        assert!(cause.contains("dns[0].drillRecordName"), "{cause}");
        assert!(cause.contains("did not create it"), "{cause}");
    }
    assert_eq!(dr_inventory(&emulator, &seed).await, before);
    assert_eq!(
        a_record(&emulator, &seed, "www.shop.example.com").await,
        Some((vec!["203.0.113.10".to_string()], 300))
    );
    assert_eq!(
        a_record(&emulator, &seed, "api.shop.example.com").await,
        Some((vec!["203.0.113.20".to_string()], 300))
    );

    // a free name is written with its ownership mark, and both are gone after the drill
    let execution = run_to_end(
        &emulator,
        &machine,
        "drill-own-name",
        input("drill", &plan_for(&seed)),
    )
    .await;
    assert_succeeded(&execution);
    let names = record_names(&emulator, &seed).await;
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
    let (emulator, seed) = protected_workload("teardown-failover").await;
    let stack = emulator.deploy_stack();
    let machine = stack.state_machine();
    let execution = run_to_end(
        &emulator,
        &machine,
        "failover-prod",
        input("failover", &plan_for(&seed)),
    )
    .await;
    assert_succeeded(&execution);
    let before = dr_inventory(&emulator, &seed).await;
    let teardown = stack.function("teardown");

    // (a) an executionArn naming an execution that does not exist: no stored state to read
    let bogus = machine.replace(":stateMachine:", ":execution:") + ":no-such-run";
    let refused = invoke(
        &emulator,
        &teardown,
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
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&emulator.sdk_config(DR_REGION).await)
            .force_path_style(true)
            .build(),
    );
    let bucket = stack.output("RunStateBucketName");
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
        let refused = invoke(&emulator, &teardown, &request).await.unwrap_err();
        assert_eq!(refused.0, "Backstop.InvalidInput", "{request}");
    }
    let refused = invoke(
        &emulator,
        &teardown,
        &json!({ "runId": "failover-prod", "allowFailover": true }),
    )
    .await
    .unwrap_err();
    assert!(refused.1.contains("no stored state"), "{}", refused.1);

    // nothing was deleted: the failover's instance runs, its database and file system exist
    assert_eq!(dr_inventory(&emulator, &seed).await, before);
    let instances = instances_of_run(&emulator, "failover-prod").await;
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
    let (emulator, seed) = protected_workload("teardown-forged-tag").await;
    let stack = emulator.deploy_stack();
    let machine = stack.state_machine();
    let execution = run_to_end(
        &emulator,
        &machine,
        "drill-forged",
        input("drill", &plan_for(&seed)),
    )
    .await;
    assert_succeeded(&execution);

    // someone who may tag writes the drill's tags on a volume the drill never created
    let ec2 = aws_sdk_ec2::Client::new(&emulator.sdk_config(DR_REGION).await);
    let zone = seed.dr.subnets[0].availability_zone.as_str();
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
    let run = stack.stored(&emulator, "drill-forged", "run").await;
    let point = run["restores"][0]["recoveryPointArn"]
        .as_str()
        .unwrap()
        .to_string();
    let backup = aws_sdk_backup::Client::new(&emulator.sdk_config(DR_REGION).await);
    let mut metadata = backup
        .get_recovery_point_restore_metadata()
        .backup_vault_name(seed.dr.backup_vault.name.as_str())
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
        .iam_role_arn(seed.backup_role_arn.as_str())
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
    let mut jobs = stack.stored(&emulator, "drill-forged", "restore").await;
    jobs.as_array_mut().unwrap().push(json!({
        "resource": "app-data", "kind": "ebs", "recoveryPointArn": point,
        "restoreJobId": job, "status": "COMPLETED"
    }));
    stack
        .store(&emulator, "drill-forged", "restore", &jobs)
        .await;

    let pass = invoke(
        &emulator,
        &stack.function("teardown"),
        &json!({ "runId": "drill-forged" }),
    )
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
    let (emulator, seed) = protected_workload("bad-input").await;
    let stack = emulator.deploy_stack();
    let machine = stack.state_machine();
    let plan = plan_for(&seed);
    // the stack's own plan, and a truncated copy in another parameter
    put_plan(&emulator, &plan).await;
    let text = plan.to_string();
    aws_sdk_ssm::Client::new(&emulator.sdk_config(DR_REGION).await)
        .put_parameter()
        .name("/backstop/truncated")
        .value(&text[..text.len() / 2])
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .send()
        .await
        .unwrap();
    let before = dr_inventory(&emulator, &seed).await;

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
        "hostedZoneId": seed.dns.hosted_zone_id, "recordName": "shop.example.com",
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
    let sfn = aws_sdk_sfn::Client::new(&emulator.sdk_config(DR_REGION).await);
    for (run_id, input, error, field) in &cases {
        // started as given (no harness help): what anyone allowed to StartExecution could do
        let arn = sfn
            .start_execution()
            .state_machine_arn(&machine)
            .name(*run_id)
            .input(input.to_string())
            .send()
            .await
            .unwrap()
            .execution_arn;
        let ended = run_ended(&emulator, &arn, std::time::Duration::from_secs(120)).await;
        assert_eq!(ended.status().as_str(), "FAILED", "{run_id}");
        assert_eq!(ended.error(), Some(*error), "{run_id}: {:?}", ended.cause());
        let cause = ended.cause().unwrap_or_default();
        assert!(cause.contains(field), "{run_id}: {cause}");
    }
    assert_eq!(
        dr_inventory(&emulator, &seed).await,
        before,
        "nothing created"
    );
    // every refusal was announced, the malformed inputs too
    let noticed: Vec<String> = topic_messages(&emulator, &stack.output("NoticeTopicArn"))
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
    put_plan(&emulator, &plan_for(&seed)).await;
    let cloudwatch = |action: &str, params: Value| {
        emulator.control(
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
    let sfn = aws_sdk_sfn::Client::new(&emulator.sdk_config(DR_REGION).await);
    let machine = stack.state_machine();
    let execution = backstop_tests::wait_for(
        "the alarm's failover",
        std::time::Duration::from_secs(60),
        || async {
            let listed = sfn
                .list_executions()
                .state_machine_arn(&machine)
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
    let ended = run_ended(&emulator, &execution, std::time::Duration::from_secs(180)).await;
    assert_succeeded(&ended);
    let report: Value = serde_json::from_str(ended.output().unwrap()).unwrap();
    assert!(
        report.to_string().contains(&name),
        "the trigger is in the report"
    );
}
