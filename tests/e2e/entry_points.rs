//! The three ways a run starts, as AWS delivers them: CloudWatch alarms (through the deployed
//! EventBridge rule and as an alarm's own Lambda action) start exactly one failover per
//! incident; AWS Backup's job events, forwarded from the primary region, keep every protected
//! resource's RPO and announce failed jobs; and a failover gated on an operator's approval
//! waits before touching DNS.

use std::time::Duration;

use backstop_tests::{
    back_up, invoke, plan_for, protected_workload, put_plan, wait_for, Emulator, Scenario, Seed,
    DR_REGION, PLAN_PARAMETER, PRIMARY_REGION,
};
use serde_json::{json, Value};

async fn sfn(emulator: &Emulator) -> aws_sdk_sfn::Client {
    aws_sdk_sfn::Client::new(&emulator.sdk_config(DR_REGION).await)
}

/// (name, status) of every execution of the machine, newest first.
async fn executions(scenario: &Scenario, machine: &str) -> Vec<(String, String)> {
    let listed = scenario
        .dr
        .sfn
        .list_executions()
        .state_machine_arn(machine)
        .send()
        .await
        .expect("list executions");
    listed
        .executions()
        .iter()
        .map(|e| (e.name().to_string(), e.status().as_str().to_string()))
        .collect()
}

/// Waits until `function` has returned from `count` invocations in all.
async fn finished(emulator: &Emulator, function: &str, count: u64) {
    wait_for(
        &format!("{count} invocations of {function} to finish"),
        Duration::from_secs(60),
        || async {
            let done = emulator.control("GET", "lambda/finished", &json!({}))[function]
                .as_u64()
                .unwrap_or(0);
            (done >= count).then_some(())
        },
    )
    .await
}

/// An alarm call through the emulator (see its `/backstop/cloudwatch` endpoint).
fn cloudwatch(emulator: &Emulator, action: &str, params: Value) -> Value {
    emulator.control(
        "POST",
        "cloudwatch",
        &json!({ "region": DR_REGION, "action": action, "params": params }),
    )
}

fn alarm(emulator: &Emulator, name: &str, actions: &[&str]) {
    cloudwatch(
        emulator,
        "PutMetricAlarm",
        json!({
            "AlarmName": name, "Namespace": "Shop/Primary", "MetricName": "HealthCheckFailed",
            "Statistic": "Maximum", "Period": 60, "EvaluationPeriods": 1, "Threshold": 1.0,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold", "AlarmActions": actions,
        }),
    );
}

fn set_state(emulator: &Emulator, name: &str, state: &str) {
    cloudwatch(
        emulator,
        "SetAlarmState",
        json!({
            "AlarmName": name, "StateValue": state, "StateReason": "test: primary region health check",
        }),
    );
}

async fn alarm_stack(test: &str) -> Scenario {
    let (emulator, seed) = protected_workload(test).await;
    let stack =
        emulator.deploy_stack_with(json!({ "FailoverAlarmNames": "primary-down,primary-5xx" }));
    put_plan(&emulator, &plan_for(&seed)).await;
    let function_arn = stack.output("StartFailoverFunctionArn");
    alarm(&emulator, "primary-down", &[&function_arn]);
    alarm(&emulator, "primary-5xx", &[]);
    alarm(&emulator, "disk-full", &[&function_arn]);
    Scenario::of(emulator, seed, stack).await
}

#[tokio::test(flavor = "multi_thread")]
async fn alarms_start_exactly_one_failover_per_incident() {
    let scenario = alarm_stack("alarm-failover").await;
    let function = scenario.stack.function("start-failover");
    let lambda = scenario.dr.lambda.clone();

    // one incident: the alarm fires (the rule and its own action both deliver), its event is
    // delivered again 8 times, and a second alarm for the same outage fires too; meanwhile
    // ListExecutions does not list the failover yet (it is eventually consistent)
    scenario.inject(json!({ "staleListExecutionsSeconds": 600 }));
    // a failover record left unreadable (by hand, or an older version) blocks nothing
    scenario
        .stack
        .put_object(
            &scenario.emulator,
            &backstop::steps::start_failover::last_failover_key(PLAN_PARAMETER),
            "{ not a record",
        )
        .await;
    set_state(&scenario.emulator, "primary-down", "ALARM");
    let described = cloudwatch(
        &scenario.emulator,
        "DescribeAlarms",
        json!({ "AlarmNames": ["primary-down"] }),
    );
    let fired = &described["MetricAlarms"][0];
    let alarm_arn = fired["AlarmArn"].as_str().unwrap().to_string();
    // "2026-12-02 04:19:12.345000+00:00" as CloudWatch writes it: 2026-12-02T04:19:12.345+0000
    let updated = fired["StateUpdatedTimestamp"].as_str().unwrap();
    let changed_at = format!("{}T{}+0000", &updated[..10], &updated[11..23]);
    let repeated = json!({
        "version": "0", "id": "repeat", "detail-type": "CloudWatch Alarm State Change",
        "source": "aws.cloudwatch", "account": "123456789012", "time": "2026-12-02T03:00:00Z",
        "region": DR_REGION, "resources": [alarm_arn],
        "detail": {
            "alarmName": "primary-down",
            "state": { "value": "ALARM", "reason": "test", "timestamp": changed_at },
            "previousState": { "value": "OK", "reason": "test", "timestamp": changed_at },
            "configuration": { "metrics": [] }
        }
    });
    for _ in 0..8 {
        lambda
            .invoke()
            .function_name(&function)
            .invocation_type(aws_sdk_lambda::types::InvocationType::Event)
            .payload(repeated.to_string().into_bytes().into())
            .send()
            .await
            .expect("deliver the event again");
    }
    set_state(&scenario.emulator, "primary-5xx", "ALARM");
    // 2 + 8 + 1 deliveries
    finished(&scenario.emulator, &function, 11).await;
    let stale = scenario.emulator.control("GET", "faults", &json!({}));
    assert!(
        stale["injectedCalls"]["staleListExecutions"].as_u64() > Some(0),
        "the deliveries after the first did not list a stale view: {stale}"
    );
    scenario.emulator.control("DELETE", "faults", &json!({}));
    let runs = executions(&scenario, &scenario.machine()).await;
    assert_eq!(runs.len(), 1, "one failover per incident: {runs:?}");
    let (first, status) = &runs[0];
    assert!(first.starts_with("failover-primary-down-"), "{first}");
    assert_eq!(status, "RUNNING");
    let input = sfn(&scenario.emulator)
        .await
        .describe_execution()
        .execution_arn(scenario.machine().replace(":stateMachine:", ":execution:") + ":" + first)
        .send()
        .await
        .unwrap()
        .input()
        .map(|text| serde_json::from_str::<Value>(text).unwrap())
        .unwrap();
    assert_eq!(input["mode"], "failover");
    assert_eq!(input["planParameter"], PLAN_PARAMETER);
    assert_eq!(input["trigger"]["alarmName"], "primary-down");

    // flapping while the failover runs: a new ALARM starts nothing
    set_state(&scenario.emulator, "primary-down", "OK");
    set_state(&scenario.emulator, "primary-down", "ALARM");
    finished(&scenario.emulator, &function, 13).await;
    assert_eq!(executions(&scenario, &scenario.machine()).await.len(), 1);

    // an operator starting the same failover from the console meanwhile: refused before it
    // creates anything
    let console = start(
        &scenario.emulator,
        &scenario.machine(),
        "failover-from-console",
        json!({ "mode": "failover", "planParameter": PLAN_PARAMETER }),
    )
    .await;
    let console = ended(&scenario.emulator, &console).await;
    assert_eq!(console.status().as_str(), "FAILED");
    assert_eq!(
        console.error(),
        Some("Backstop.Conflict"),
        "{:?}",
        console.cause()
    );
    assert!(
        console.cause().unwrap().contains(first.as_str()),
        "{:?}",
        console.cause()
    );
    assert!(scenario
        .instances_of_run("failover-from-console")
        .await
        .is_empty());

    // malformed events and an alarm that is not a failover alarm: a clear error, nothing started
    let not_configured = json!({
        "source": "aws.cloudwatch", "alarmArn": "arn:aws:cloudwatch:us-west-2:123456789012:alarm:disk-full",
        "time": "2026-12-02T03:00:00.000+0000",
        "alarmData": { "alarmName": "disk-full", "configuration": {},
            "state": { "value": "ALARM", "reason": "r", "timestamp": "2026-12-02T03:00:00.000+0000" } }
    });
    let malformed = [
        (
            json!({ "source": "aws.ec2", "detail-type": "CloudWatch Alarm State Change", "detail": {} }),
            "source",
        ),
        (
            json!({ "source": "aws.cloudwatch", "detail-type": "CloudWatch Alarm State Change", "resources": [alarm_arn] }),
            "detail",
        ),
        (
            json!({ "source": "aws.cloudwatch", "detail-type": "CloudWatch Alarm State Change", "resources": [alarm_arn],
                 "detail": { "alarmName": ["primary-down"], "configuration": {} } }),
            "detail.alarmName",
        ),
        (not_configured, "alarmName"),
    ];
    for (event, field) in malformed {
        let (error, message) = invoke(&scenario.emulator, &function, &event)
            .await
            .unwrap_err();
        assert_eq!(error, "Backstop.InvalidInput", "{event}: {message}");
        assert!(
            message.contains(&format!("`{field}`")),
            "{field}: {message}"
        );
    }
    // (the refused console run and the first failover)
    assert_eq!(executions(&scenario, &scenario.machine()).await.len(), 2);

    // once that run has ended, the next OK -> ALARM is a new incident
    sfn(&scenario.emulator)
        .await
        .stop_execution()
        .execution_arn(scenario.machine().replace(":stateMachine:", ":execution:") + ":" + first)
        .send()
        .await
        .unwrap();
    set_state(&scenario.emulator, "primary-down", "OK");
    set_state(&scenario.emulator, "primary-down", "ALARM");
    finished(&scenario.emulator, &function, 19).await;
    let runs = executions(&scenario, &scenario.machine()).await;
    assert_eq!(runs.len(), 3, "{runs:?}");
    assert!(runs[0].0.starts_with("failover-primary-down-"), "{runs:?}");
    assert_ne!(&runs[0].0, first);
    assert_eq!(runs[0].1, "RUNNING");
}

/// The approval request a gated failover published: (task token, the whole message).
async fn approval_request(scenario: &Scenario, run_id: &str) -> (String, Value) {
    scenario.approval_request(run_id).await
}

async fn start(emulator: &Emulator, machine: &str, run_id: &str, input: Value) -> String {
    backstop_tests::start_run(emulator, machine, run_id, input).await
}

async fn ended(
    emulator: &Emulator,
    arn: &str,
) -> aws_sdk_sfn::operation::describe_execution::DescribeExecutionOutput {
    backstop_tests::run_ended(emulator, arn, Duration::from_secs(180)).await
}

fn gated_plan(seed: &Seed, timeout_minutes: u32) -> Value {
    let mut plan = plan_for(seed);
    plan["failover"] = json!({ "approval": "operator", "approvalTimeoutMinutes": timeout_minutes });
    plan
}

#[tokio::test(flavor = "multi_thread")]
async fn an_approved_failover_waits_for_the_operator_then_switches_dns() {
    let scenario = Scenario::protected("approval-approved").await;
    let before = scenario.a_record("app.shop.example.com").await;
    let input = json!({ "mode": "failover", "plan": gated_plan(&scenario.seed, 60), "settings": { "pollIntervalSeconds": 2 } });
    let arn = start(
        &scenario.emulator,
        &scenario.machine(),
        "failover-approved",
        input,
    )
    .await;
    let (token, request) = approval_request(&scenario, "failover-approved").await;
    // restored and launched, waiting: DNS untouched, the commands to answer at hand
    assert_eq!(request["plan"], "shop");
    assert_eq!(request["instancesLaunched"], 1, "{request}");
    assert!(
        request["approve"].as_str().unwrap().contains(&token),
        "{request}"
    );
    assert!(request["approve"]
        .as_str()
        .unwrap()
        .contains("send-task-success"));
    assert!(request["reject"]
        .as_str()
        .unwrap()
        .contains("send-task-failure"));
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(scenario.a_record("app.shop.example.com").await, before);
    let described = scenario
        .dr
        .sfn
        .describe_execution()
        .execution_arn(&arn)
        .send()
        .await
        .unwrap();
    assert_eq!(described.status().as_str(), "RUNNING");

    scenario
        .dr
        .sfn
        .send_task_success()
        .task_token(&token)
        .output(json!({ "approved": true, "by": "sre-on-call" }).to_string())
        .send()
        .await
        .expect("approve");
    let done = ended(&scenario.emulator, &arn).await;
    assert_eq!(done.status().as_str(), "SUCCEEDED", "{:?}", done.cause());
    let (values, _) = scenario
        .a_record("app.shop.example.com")
        .await
        .expect("the record");
    assert_ne!(
        Some(values.clone()),
        before.map(|b| b.0),
        "DNS switched after approval"
    );
    let report: Value = serde_json::from_str(done.output().unwrap()).unwrap();
    assert!(
        report["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["step"] == "AwaitApproval"),
        "the wait is on the timeline: {report}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rejected_or_unanswered_failover_stops_with_production_dns_untouched() {
    let scenario = Scenario::protected("approval-refused").await;
    let before = scenario.a_record("app.shop.example.com").await;
    let settings = json!({ "pollIntervalSeconds": 2 });
    let rejected = start(
        &scenario.emulator,
        &scenario.machine(),
        "failover-rejected",
        json!({ "mode": "failover", "plan": gated_plan(&scenario.seed, 60), "settings": settings }),
    )
    .await;
    let (token, _) = approval_request(&scenario, "failover-rejected").await;
    scenario
        .dr
        .sfn
        .send_task_failure()
        .task_token(&token)
        .error("Backstop.Rejected")
        .cause("primary recovering on its own")
        .send()
        .await
        .expect("reject");
    let rejected = ended(&scenario.emulator, &rejected).await;
    assert_eq!(rejected.status().as_str(), "FAILED");
    assert_eq!(rejected.error(), Some("Backstop.Rejected"));

    // then the plan with a one-minute gate (the emulator's time scale): nobody answers. Its
    // own DB name: a failover's database keeps the name the plan gives it, and the rejected
    // failover's is still there
    let mut second = gated_plan(&scenario.seed, 1);
    second["resources"][2]["rds"]["dbInstanceIdentifier"] = json!("orders-b");
    let unanswered = start(
        &scenario.emulator,
        &scenario.machine(),
        "failover-unanswered",
        json!({ "mode": "failover", "plan": second, "settings": settings }),
    )
    .await;

    let unanswered = ended(&scenario.emulator, &unanswered).await;
    assert_eq!(unanswered.status().as_str(), "FAILED");
    assert_eq!(unanswered.error(), Some("Backstop.ApprovalTimedOut"));
    assert!(
        unanswered.cause().unwrap().contains("60 seconds"),
        "{:?}",
        unanswered.cause()
    );

    assert_eq!(
        scenario.a_record("app.shop.example.com").await,
        before,
        "production DNS untouched"
    );
    // the operator hears why, and what was left in place
    let topic = scenario.stack.output("NoticeTopicArn");
    let notices: Vec<Value> = scenario
        .topic_messages(&topic)
        .into_iter()
        .filter(|m| m["failedStep"] == "AwaitApproval")
        .collect();
    assert_eq!(notices.len(), 2, "{notices:?}");
    assert!(notices.iter().all(|n| n["leftInPlace"]
        .as_str()
        .unwrap()
        .contains("DNS was not switched")));
}

#[tokio::test(flavor = "multi_thread")]
async fn backup_events_keep_the_rpo_and_announce_failed_copies() {
    let scenario = Scenario::seeded("backup-events").await;
    scenario.emulator.deploy_template(
        "primary-region/forward-backup-events.yaml",
        PRIMARY_REGION,
        "backstop-forwarder",
        json!({ "DrRegion": DR_REGION }),
    );
    let mut plan = scenario.plan();
    plan["verification"] = json!({ "drillAfterCopy": true, "minIntervalHours": 24 });
    put_plan(&scenario.emulator, &plan).await;
    let function = scenario.stack.function("on-backup-event");
    let log = scenario
        .emulator
        .log_dir
        .join(format!("lambda-{function}.log"));
    let lines = |needle: &str| -> Vec<Value> {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .filter(|line| line.contains(needle))
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect()
    };

    // a completed copy of a protected volume: its RPO, as an EMF metric
    let arns = backstop_tests::workload_arns(&scenario.seed);
    backstop_tests::protect(&scenario.emulator, &scenario.seed, &[&arns[0], &arns[1]]).await;
    let metrics = wait_for(
        "the RPO metric of both volumes",
        Duration::from_secs(60),
        || async {
            let found = lines("\"RpoSeconds\"");
            (found.len() >= 2).then_some(found)
        },
    )
    .await;
    let data = metrics
        .iter()
        .find(|m| m["Resource"] == "app-data")
        .expect("app-data's RPO");
    assert_eq!(data["Plan"], "shop");
    assert_eq!(
        data["_aws"]["CloudWatchMetrics"][0]["Namespace"],
        "Backstop"
    );
    let rpo = data["RpoSeconds"].as_f64().unwrap();
    assert!((0.0..600.0).contains(&rpo), "just backed up: {rpo}");
    assert_eq!(data["RpoBreached"], 0.0);

    // ... which started one verification drill, not two
    let runs = wait_for("a verification drill", Duration::from_secs(30), || async {
        let runs = executions(&scenario, &scenario.machine()).await;
        (!runs.is_empty()).then_some(runs)
    })
    .await;
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert!(runs[0].0.starts_with("drill-after-copy-"), "{runs:?}");

    // a failed copy: an error line, a failure metric and a notice naming the resource and why
    scenario.inject(
        json!({ "failJobs": [{ "jobType": "copy", "resourceArn": arns[2],
        "message": "Copy job failed: the KMS key is not usable in us-west-2 (injected)" }] }),
    );
    let backup = &scenario.primary.backup;
    let point = back_up(backup, &scenario.seed, &arns[2]).await;
    backup
        .start_copy_job()
        .recovery_point_arn(point)
        .source_backup_vault_name("backstop-primary")
        .destination_backup_vault_arn(scenario.seed.dr.backup_vault.arn.as_str())
        .iam_role_arn(scenario.seed.backup_role_arn.as_str())
        .send()
        .await
        .unwrap();
    let notice = scenario.job_notice("copy").await;
    assert_eq!(notice["resource"], "orders-db");
    assert_eq!(notice["state"], "FAILED");
    assert!(
        notice["reason"].as_str().unwrap().contains("KMS key"),
        "{notice}"
    );
    assert_eq!(lines("\"CopyJobFailed\"").len(), 1);
    assert!(lines("\"level\":\"ERROR\"")
        .iter()
        .any(|l| l.to_string().contains("orders-db")));
    assert_eq!(
        executions(&scenario, &scenario.machine()).await.len(),
        1,
        "no drill after a failed copy"
    );
}

fn fixture(name: &str) -> Value {
    let path = backstop_tests::repo_root().join("tests/events").join(name);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// An alarm fixture as the stack's own account and region deliver it (the documented examples
/// come from us-east-1, and one from another account).
fn fixture_here(name: &str) -> Value {
    let text = fixture(name)
        .to_string()
        .replace("us-east-1", DR_REGION)
        .replace("444455556666", "123456789012");
    serde_json::from_str(&text).unwrap()
}

/// AWS's documented example events (tests/events, sources in its README), fed to the deployed
/// handlers as EventBridge or an alarm would deliver them.
#[tokio::test(flavor = "multi_thread")]
async fn the_documented_example_events_reach_the_deployed_handlers() {
    let emulator = Emulator::start("documented-events");
    let seed = emulator.seed();
    let stack = emulator.deploy_stack_with(json!({
        "FailoverAlarmNames": "ServerCpuTooHigh,ServiceAggregatedAlarm,lambda-demo-metric-alarm,CompositeDemo.Main"
    }));
    let scenario = Scenario::of(emulator, seed, stack).await;
    // the plan protects the resources the example events name
    let mut plan = scenario.plan();
    plan["resources"][0]["arn"] =
        json!("arn:aws:ec2:us-east-1:123456789012:volume/vol-0123456789abcdef0");
    plan["resources"][2]["arn"] = json!("arn:aws:rds:us-east-1:123456789012:db:orders");
    plan["resources"][3]["arn"] =
        json!("arn:aws:elasticfilesystem:us-east-1:123456789012:file-system/fs-0123456789abcdef0");
    put_plan(&scenario.emulator, &plan).await;

    let start_failover = scenario.stack.function("start-failover");
    let outcome = |event: &str| {
        let function = start_failover.clone();
        let emulator = &scenario.emulator;
        let event = fixture_here(event);
        async move { invoke(emulator, &function, &event).await.expect("handled") }
    };

    // only an authentic trigger starts a failover: the stack's own alarm, in ALARM now
    alarm(&scenario.emulator, "ServerCpuTooHigh", &[]);
    let not_in_alarm = outcome("cloudwatch-alarm-state-change-metric.json").await;
    assert_eq!(not_in_alarm["action"], "ignored", "{not_in_alarm}");
    let reason = not_in_alarm["reason"].as_str().unwrap();
    assert!(reason.contains("INSUFFICIENT_DATA now"), "{reason}");
    let mut other_account = fixture_here("cloudwatch-alarm-state-change-metric.json");
    other_account["account"] = json!("210987654321");
    let mut other_alarm = fixture_here("cloudwatch-alarm-action-metric.json");
    other_alarm["alarmArn"] = json!("arn:aws:cloudwatch:us-west-2:123456789012:alarm:disk-full");
    for (event, field) in [
        // as documented: from us-east-1, not the stack's region
        (
            fixture("cloudwatch-alarm-state-change-metric.json"),
            "region",
        ),
        // the same alarm name in another account
        (other_account, "account"),
        (fixture("cloudwatch-alarm-action-metric.json"), "accountId"),
        // an alarm-action payload whose ARN names another alarm
        (other_alarm, "alarmArn"),
    ] {
        let (error, message) = scenario.invoke("start-failover", &event).await.unwrap_err();
        assert_eq!(error, "Backstop.InvalidInput", "{field}: {message}");
        assert!(
            message.contains(&format!("`{field}`")),
            "{field}: {message}"
        );
    }
    assert!(executions(&scenario, &scenario.machine()).await.is_empty());
    // the alarm fires: its own event, through the stack's rule, starts a failover; once that
    // is stopped, the documented event of a later change starts the next
    set_state(&scenario.emulator, "ServerCpuTooHigh", "ALARM");
    finished(&scenario.emulator, &start_failover, 6).await;
    let fired = executions(&scenario, &scenario.machine()).await;
    assert_eq!(fired.len(), 1, "{fired:?}");
    scenario
        .dr
        .sfn
        .stop_execution()
        .execution_arn(
            scenario.machine().replace(":stateMachine:", ":execution:") + ":" + &fired[0].0,
        )
        .send()
        .await
        .unwrap();
    let started = outcome("cloudwatch-alarm-state-change-metric.json").await;
    assert_eq!(started["action"], "started", "{started}");
    assert_eq!(started["alarm"]["alarmName"], "ServerCpuTooHigh");
    // the same incident seen by the other alarms: one failover is running
    for event in [
        "cloudwatch-alarm-state-change-composite.json",
        "cloudwatch-alarm-action-metric.json",
    ] {
        let ignored = outcome(event).await;
        assert_eq!(ignored["action"], "ignored", "{ignored}");
        assert!(
            ignored["reason"]
                .as_str()
                .unwrap()
                .contains("already running"),
            "{ignored}"
        );
    }
    // ALARM -> ALARM (a composite alarm's new reason) is not a new incident
    let same = outcome("cloudwatch-alarm-action-composite.json").await;
    assert_eq!(same["action"], "ignored");
    assert!(
        same["reason"]
            .as_str()
            .unwrap()
            .contains("already in ALARM"),
        "{same}"
    );
    assert_eq!(executions(&scenario, &scenario.machine()).await.len(), 2);

    let on_backup_event = scenario.stack.function("on-backup-event");
    let handled = |event: &str| {
        let function = on_backup_event.clone();
        let emulator = &scenario.emulator;
        let event = fixture(event);
        async move { invoke(emulator, &function, &event).await.expect("handled") }
    };
    // a backup in the primary region says nothing about the DR copy
    let backup = handled("backup-job-completed.json").await;
    assert_eq!(
        (backup["action"].as_str(), backup["resource"].as_str()),
        (Some("ignored"), Some("app-data"))
    );
    // a completed copy into the DR vault whose recovery point the vault does not list (the
    // example's ids are not the emulator's): no RPO is made up
    let copied = handled("backup-copy-job-completed.json").await;
    assert_eq!(copied["action"], "ignored", "{copied}");
    assert!(
        copied["reason"]
            .as_str()
            .unwrap()
            .contains("no COMPLETED copy"),
        "{copied}"
    );
    // failed jobs are announced, naming the resource and AWS Backup's reason
    for (event, resource) in [
        ("backup-copy-job-failed.json", "orders-db"),
        ("backup-job-failed.json", "media"),
    ] {
        let alerted = handled(event).await;
        assert_eq!(alerted["action"], "alerted", "{alerted}");
        assert_eq!(alerted["resource"], resource);
    }
    // a copy into a vault of the same name in another account is not the plan's DR copy
    let mut elsewhere = fixture("backup-copy-job-completed.json");
    let vault = elsewhere["detail"]["destinationBackupVaultArn"]
        .as_str()
        .unwrap()
        .replace(":123456789012:", ":210987654321:");
    elsewhere["detail"]["destinationBackupVaultArn"] = json!(vault);
    let ignored = scenario
        .invoke("on-backup-event", &elsewhere)
        .await
        .expect("handled");
    assert_eq!(ignored["action"], "ignored", "{ignored}");
    assert!(
        ignored["reason"]
            .as_str()
            .unwrap()
            .contains("of account 123456789012"),
        "{ignored}"
    );
    // a failed job whose message nearly fills an event (256 KB): its notice would not fit an
    // SNS message (256 KB), and is still announced
    let mut long = fixture("backup-job-failed.json");
    long["detail"]["statusMessage"] = json!("Access denied. ".repeat(16_500));
    let alerted = scenario
        .invoke("on-backup-event", &long)
        .await
        .expect("announced, not lost");
    assert_eq!(alerted["action"], "alerted", "{alerted}");

    let topic = scenario.stack.output("NoticeTopicArn");
    let reasons: Vec<String> = scenario
        .topic_messages(&topic)
        .iter()
        .filter_map(|m| m["reason"].as_str().map(str::to_string))
        .collect();
    assert_eq!(reasons.len(), 3, "{reasons:?}");
    assert!(reasons.iter().any(|r| r.contains("KMS key")));
    assert!(reasons.iter().any(|r| r.contains("Access denied")));
    assert!(reasons.iter().all(|r| r.chars().count() <= 4_000));
}
