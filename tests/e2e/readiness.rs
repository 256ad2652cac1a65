//! Readiness: preflight catches what would break a failover before anything is created, and
//! a healthy set-up passes every check with a number of AWS calls that does not grow with the
//! number of protected resources.

use std::collections::BTreeSet;

use backstop_tests::{protect, workload_arns, Emulator, Scenario, DR_REGION, PRIMARY_REGION};
use serde_json::{json, Value};

fn run_payload(run_id: &str, mode: &str, plan: &Value, extra: Value) -> Value {
    let mut input = json!({ "mode": mode, "plan": plan, "settings": { "pollIntervalSeconds": 2 } });
    for (key, value) in extra.as_object().unwrap() {
        input[key] = value.clone();
    }
    json!({ "runId": run_id, "input": input })
}

/// The checks (name, status) of a preflight output's problem lines.
fn problems(output: &Value) -> Vec<(String, String, String)> {
    output["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["check"].as_str().unwrap().to_string(),
                l["status"].as_str().unwrap().to_string(),
                l["resource"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

async fn restore_jobs(scenario: &Scenario) -> usize {
    scenario.restore_jobs().await.len()
}

/// Handler AWS calls by service since the last reset, without the test's own Lambda invoke.
fn handler_calls(scenario: &Scenario) -> u64 {
    let calls = scenario.emulator.control("GET", "calls", &json!({}));
    calls
        .as_object()
        .unwrap()
        .iter()
        .filter(|(service, _)| service.as_str() != "lambda")
        .map(|(_, n)| n.as_u64().unwrap())
        .sum()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_healthy_setup_passes_every_check_and_its_calls_do_not_grow_with_the_resources() {
    let scenario = Scenario::protected("readiness-healthy").await;
    let plan = scenario.plan();

    let mut calls_at_4 = 0;
    for mode in ["failover", "drill"] {
        scenario.emulator.control("DELETE", "calls", &json!({}));
        let output = scenario
            .invoke(
                "preflight",
                &run_payload(&format!("{mode}-ok"), mode, &plan, json!({})),
            )
            .await
            .unwrap_or_else(|err| panic!("{mode}: {err:?}"));
        calls_at_4 = handler_calls(&scenario);
        assert_eq!(output["ready"], true, "{mode}: {output}");
        assert_eq!(output["counts"]["fail"], 0, "{mode}: {output}");
        assert_eq!(output["counts"]["warn"], 0, "{mode}: {output}");
        let stored = scenario.stored(&format!("{mode}-ok"), "preflight").await;
        let checks: BTreeSet<&str> = stored["lines"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["check"].as_str().unwrap())
            .collect();
        for expected in [
            "vault",
            "vault-protection",
            "dr-copy",
            "kms-key",
            "subnet",
            "security-group",
            "db-subnet-group",
            "availability-zone",
            "volume-az",
            "golden-ami",
            "instance-type",
            "dns-record",
            "account-limit",
        ] {
            assert!(
                checks.contains(expected),
                "{mode}: no {expected} check in {stored}"
            );
        }
        // the encrypted EFS copy's key (the DR vault's) was checked
        assert!(
            stored
                .to_string()
                .contains(scenario.seed.dr.backup_vault.key_arn.as_deref().unwrap()),
            "{stored}"
        );
    }

    // 96 more volumes, backed up and copied: the same checks cost the same calls at 100
    let ec2 = &scenario.primary.ec2;
    let zone = scenario.seed.primary.subnets[0].availability_zone.as_str();
    let mut more = Vec::new();
    for _ in 0..96 {
        let volume = ec2
            .create_volume()
            .availability_zone(zone)
            .size(8)
            .send()
            .await
            .unwrap();
        more.push(format!(
            "arn:aws:ec2:{PRIMARY_REGION}:{}:volume/{}",
            scenario.seed.account.as_str(),
            volume.volume_id().unwrap()
        ));
    }
    let more_refs: Vec<&str> = more.iter().map(String::as_str).collect();
    protect(&scenario.emulator, &scenario.seed, &more_refs).await;
    let mut large = plan.clone();
    let dr_zone = scenario.seed.dr.subnets[0].availability_zone.clone();
    for (i, arn) in more.iter().enumerate() {
        large["resources"].as_array_mut().unwrap().push(json!({
            "name": format!("extra-{i}"), "kind": "ebs", "arn": arn,
            "ebs": { "availabilityZone": dr_zone }
        }));
    }
    scenario.emulator.control("DELETE", "calls", &json!({}));
    let output = scenario
        .invoke(
            "preflight",
            &run_payload("drill-100", "drill", &large, json!({})),
        )
        .await
        .unwrap();
    assert_eq!(output["ready"], true, "{output}");
    let calls_at_100 = handler_calls(&scenario);
    println!("preflight AWS calls of a drill: {calls_at_4} for 4 resources, {calls_at_100} for 100 resources");
    // the same calls, give or take a page of the vault's listing
    assert!(
        calls_at_100 <= calls_at_4 + 2,
        "calls grew with the resources: {calls_at_4} for 4, {calls_at_100} for 100"
    );
    assert_eq!(restore_jobs(&scenario).await, 0, "a check restores nothing");
}

#[tokio::test(flavor = "multi_thread")]
async fn each_broken_setup_is_caught_with_the_resource_and_the_fix_before_anything_is_created() {
    let emulator = Emulator::start("readiness-broken");
    let seed = emulator.seed();
    let arns = workload_arns(&seed);
    let arns: Vec<&str> = arns.iter().map(String::as_str).collect();
    let copies = protect(&emulator, &seed, &arns).await;
    let stack = emulator.deploy_stack();
    let scenario = Scenario::of(emulator, seed, stack).await;
    let good = scenario.plan();
    let dr = &scenario.dr.ec2;

    // a DR subnet the plan names, deleted since
    let deleted_subnet = dr
        .create_subnet()
        .vpc_id(scenario.seed.dr.vpc_id.as_str())
        .cidr_block("10.1.9.0/24")
        .availability_zone(format!("{DR_REGION}a"))
        .send()
        .await
        .unwrap()
        .subnet
        .unwrap()
        .subnet_id
        .unwrap();
    dr.delete_subnet()
        .subnet_id(&deleted_subnet)
        .send()
        .await
        .unwrap();

    let missing_key = format!(
        "arn:aws:kms:{DR_REGION}:{}:key/00000000-0000-4000-8000-000000000000",
        scenario.seed.account.as_str()
    );
    // (what is broken, mode, plan edit, the check, the resource named, words of the fix)
    type Edit<'a> = Box<dyn Fn(&mut Value) + 'a>;
    let cases: Vec<(&str, &str, Edit, &str, String, &str)> = vec![
        (
            "AMI not copied",
            "failover",
            Box::new(|p: &mut Value| {
                p["instances"][0]["ami"] = json!({ "id": scenario.seed.primary.golden_ami_id })
            }),
            "golden-ami",
            "app".into(),
            "copy-image",
        ),
        (
            "a deleted DR subnet",
            "failover",
            Box::new(|p: &mut Value| p["instances"][0]["subnetIds"] = json!([deleted_subnet])),
            "subnet",
            deleted_subnet.clone(),
            "create it again",
        ),
        (
            "a missing DB subnet group",
            "failover",
            Box::new(|p: &mut Value| {
                p["resources"][2]["rds"]["dbSubnetGroupName"] = json!("dr-db-subnets-gone")
            }),
            "db-subnet-group",
            "dr-db-subnets-gone".into(),
            "create-db-subnet-group",
        ),
        (
            "a planned KMS key that does not exist in the DR region",
            "failover",
            Box::new(|p: &mut Value| p["resources"][0]["ebs"]["kmsKeyId"] = json!(missing_key)),
            "kms-key",
            "app-data".into(),
            "KMS key of",
        ),
        (
            "a resource without a DR copy",
            "drill",
            Box::new(|p: &mut Value| {
                p["resources"].as_array_mut().unwrap().push(json!({
                    "name": "uncopied", "kind": "ebs",
                    "arn": format!("arn:aws:ec2:{PRIMARY_REGION}:{}:volume/vol-0123456789abcdef0", scenario.seed.account.as_str()),
                    "ebs": { "availabilityZone": format!("{DR_REGION}a") }
                }))
            }),
            "dr-copy",
            "uncopied".into(),
            "copy rule",
        ),
        (
            "an unsafe drill record (outside its zone)",
            "drill",
            Box::new(|p: &mut Value| {
                p["dns"][0]["drillRecordName"] = json!("drill.app.elsewhere.example.org")
            }),
            "dns-record",
            "drill.app.elsewhere.example.org".into(),
            "inside the zone",
        ),
    ];
    for (i, (broken, mode, edit, check, resource, fix)) in cases.iter().enumerate() {
        let mut plan = good.clone();
        edit(&mut plan);
        let err = scenario
            .invoke(
                "preflight",
                &run_payload(&format!("broken-{i}"), mode, &plan, json!({})),
            )
            .await
            .expect_err(broken);
        assert_eq!(err.0, "Backstop.NotReady", "{broken}: {err:?}");
        let line = err
            .1
            .lines()
            .find(|l| l.starts_with(&format!("- FAIL {check} {resource}")))
            .unwrap_or_else(|| {
                panic!("{broken}: no fail line for {check} {resource} in {}", err.1)
            });
        assert!(line.contains(fix), "{broken}: the fix is not given: {line}");
    }

    // a copy older than the RPO objective (240 min): a warning in a drill, a failure in a
    // failover, unless the failover accepts it
    scenario.emulator.control(
        "POST",
        "recovery-points/backdate",
        &json!({ "recoveryPointArn": copies[0], "seconds": 10 * 3600 }),
    );
    let drill = scenario
        .invoke(
            "preflight",
            &run_payload("stale-drill", "drill", &good, json!({})),
        )
        .await
        .expect("a stale copy does not stop a drill");
    assert_eq!(
        problems(&drill),
        vec![("dr-copy".into(), "warn".into(), "app-data".into())]
    );
    let err = scenario
        .invoke(
            "preflight",
            &run_payload("stale-failover", "failover", &good, json!({})),
        )
        .await
        .expect_err("a stale copy stops a failover");
    assert_eq!(err.0, "Backstop.NotReady");
    assert!(
        err.1.contains("- FAIL dr-copy app-data") && err.1.contains("acceptWarnings"),
        "{}",
        err.1
    );
    let accepted = scenario
        .invoke(
            "preflight",
            &run_payload(
                "stale-accepted",
                "failover",
                &good,
                json!({ "acceptWarnings": true }),
            ),
        )
        .await
        .expect("an accepted stale copy does not stop a failover");
    assert_eq!(
        problems(&accepted),
        vec![("dr-copy".into(), "warn".into(), "app-data".into())]
    );

    // the DR vault's key, scheduled for deletion: the encrypted EFS copy cannot be restored
    let kms = aws_sdk_kms_key_id(scenario.seed.dr.backup_vault.key_arn.as_deref().unwrap());
    emulator_kms_schedule_deletion(&scenario.emulator, &kms).await;
    let err = scenario
        .invoke(
            "preflight",
            &run_payload("bad-key", "drill", &good, json!({})),
        )
        .await
        .expect_err("an unusable copy key stops a drill");
    assert!(
        err.1.contains("- FAIL kms-key media") && err.1.contains("PendingDeletion"),
        "{}",
        err.1
    );

    // through the state machine: the run fails at Preflight, says why, and starts nothing
    let mut no_ami = good.clone();
    no_ami["instances"][0]["ami"] = json!({ "id": scenario.seed.primary.golden_ami_id });
    let ended = scenario
        .run_to_end(
            "drill-not-ready",
            json!({ "mode": "drill", "plan": no_ami, "settings": { "pollIntervalSeconds": 2 } }),
        )
        .await;
    assert_eq!(ended.status().as_str(), "FAILED");
    assert_eq!(
        ended.error(),
        Some("Backstop.NotReady"),
        "{:?}",
        ended.cause()
    );
    let cause = ended.cause().unwrap_or_default();
    assert!(
        cause.contains("golden-ami app") && cause.contains("kms-key media"),
        "{cause}"
    );
    assert_eq!(
        restore_jobs(&scenario).await,
        0,
        "no restore job was started"
    );
    let instances = dr.describe_instances().send().await.unwrap();
    let launched: usize = instances
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .filter(|i| i.tags().iter().any(|t| t.key() == Some("backstop:run-id")))
        .count();
    assert_eq!(launched, 0, "no instance was launched");
}

/// Ransomware readiness: the seeded DR vault is locked and denies deleting recovery points, so
/// no one holding the account deletes a copy; without that protection preflight warns with the
/// commands that restore it, and a drill still goes on.
#[tokio::test(flavor = "multi_thread")]
async fn an_unprotected_dr_vault_is_a_warning_with_the_fixes_and_a_protected_one_keeps_its_copies()
{
    let emulator = Emulator::start("readiness-vault-protection");
    let seed = emulator.seed();
    let arns = workload_arns(&seed);
    let arns: Vec<&str> = arns.iter().map(String::as_str).collect();
    let copies = protect(&emulator, &seed, &arns).await;
    let stack = emulator.deploy_stack();
    let scenario = Scenario::of(emulator, seed, stack).await;
    let plan = scenario.plan();
    let vault = scenario.seed.dr.backup_vault.name.as_str();
    let backup = &scenario.dr.backup;

    // someone with the account's keys tries to delete a DR copy: the vault refuses
    let refused = backup
        .delete_recovery_point()
        .backup_vault_name(vault)
        .recovery_point_arn(&copies[0])
        .send()
        .await
        .expect_err("a protected vault keeps its recovery points");
    assert_eq!(
        refused.as_service_error().and_then(|e| e.meta().code()),
        Some("AccessDeniedException"),
        "{refused:?}"
    );

    // the protection removed: a warning naming both gaps, with the commands that close them
    backup
        .delete_backup_vault_access_policy()
        .backup_vault_name(vault)
        .send()
        .await
        .unwrap();
    backup
        .delete_backup_vault_lock_configuration()
        .backup_vault_name(vault)
        .send()
        .await
        .unwrap();
    let output = scenario
        .invoke(
            "preflight",
            &run_payload("unprotected", "drill", &plan, json!({})),
        )
        .await
        .expect("an unprotected vault does not stop a drill");
    assert_eq!(
        problems(&output),
        vec![("vault-protection".into(), "warn".into(), vault.to_string())]
    );
    let stored = scenario.stored("unprotected", "preflight").await;
    let line = stored["lines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["check"] == "vault-protection")
        .unwrap();
    let detail = line["detail"].as_str().unwrap();
    let fix = line["fix"].as_str().unwrap();
    assert!(
        detail.contains("not locked") && detail.contains("does not deny deleting"),
        "{line}"
    );
    assert!(
        fix.contains("put-backup-vault-lock-configuration")
            && fix.contains("put-backup-vault-access-policy")
            && fix.contains(vault),
        "{line}"
    );
    // and with nothing protecting it, the copy really can be deleted
    backup
        .delete_recovery_point()
        .backup_vault_name(vault)
        .recovery_point_arn(&copies[0])
        .send()
        .await
        .expect("an unprotected vault lets a recovery point go");
    assert_eq!(restore_jobs(&scenario).await, 0, "a check restores nothing");
}

fn aws_sdk_kms_key_id(arn: &str) -> String {
    arn.rsplit('/').next().unwrap().to_string()
}

async fn emulator_kms_schedule_deletion(emulator: &Emulator, key_id: &str) {
    let kms = aws_sdk_kms::Client::new(&emulator.sdk_config(DR_REGION).await);
    kms.schedule_key_deletion()
        .key_id(key_id)
        .pending_window_in_days(7)
        .send()
        .await
        .unwrap();
}

/// The EMF metrics `preflight` printed since `from` (its log, as CloudWatch Logs receives it).
fn metrics_logged(emulator: &Emulator, function: &str, from: usize) -> Vec<Value> {
    let log = emulator.log_dir.join(format!("lambda-{function}.log"));
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .skip(from)
        .filter(|line| line.contains("\"CloudWatchMetrics\""))
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect()
}

fn log_length(emulator: &Emulator, function: &str) -> usize {
    let log = emulator.log_dir.join(format!("lambda-{function}.log"));
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .count()
}

/// The account-wide value of `metric` (the one the template's alarms watch: no dimension).
fn account_wide(metrics: &[Value], metric: &str) -> f64 {
    metrics
        .iter()
        .find(|m| m.get(metric).is_some() && m.get("Plan").is_none())
        .unwrap_or_else(|| panic!("no account-wide {metric} in {metrics:?}"))[metric]
        .as_f64()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_scheduled_check_reports_readiness_and_each_copys_age_as_metrics() {
    let emulator = Emulator::start("readiness-scheduled");
    let seed = emulator.seed();
    let arns = workload_arns(&seed);
    let arns: Vec<&str> = arns.iter().map(String::as_str).collect();
    let copies = protect(&emulator, &seed, &arns).await;
    let stack = emulator.deploy_stack();
    let scenario = Scenario::of(emulator, seed, stack).await;
    let preflight = scenario.stack.function("preflight");
    let ssm = &scenario.dr.ssm;
    ssm.put_parameter()
        .name("/backstop/plan")
        .value(scenario.plan().to_string())
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .overwrite(true)
        .send()
        .await
        .unwrap();

    // what the template's schedule delivers: its rule's constant input
    let events = aws_sdk_eventbridge_input(&scenario.emulator, &preflight).await;
    assert_eq!(events.0, "rate(1 hour)");
    let scheduled: Value = serde_json::from_str(&events.1).unwrap();
    assert_eq!(scheduled, json!({ "planParameter": "/backstop/plan" }));

    let from = log_length(&scenario.emulator, &preflight);
    let output = scenario.invoke("preflight", &scheduled).await.unwrap();
    assert_eq!(output["ready"], true, "{output}");
    let metrics = metrics_logged(&scenario.emulator, &preflight, from);
    assert_eq!(account_wide(&metrics, "Ready"), 1.0);
    assert_eq!(account_wide(&metrics, "StaleOrMissingCopies"), 0.0);
    let ages: Vec<&Value> = metrics
        .iter()
        .filter(|m| m.get("RpoSeconds").is_some())
        .collect();
    assert_eq!(ages.len(), 4, "one RPO per protected resource: {ages:?}");

    // copies stop arriving: the oldest goes past the RPO objective; a failover would stop
    scenario.emulator.control(
        "POST",
        "recovery-points/backdate",
        &json!({ "recoveryPointArn": copies[3], "seconds": 6 * 3600 }),
    );
    let from = log_length(&scenario.emulator, &preflight);
    let output = scenario.invoke("preflight", &scheduled).await.unwrap();
    assert_eq!(output["ready"], false, "{output}");
    assert_eq!(
        problems(&output),
        vec![("dr-copy".into(), "fail".into(), "media".into())]
    );
    let metrics = metrics_logged(&scenario.emulator, &preflight, from);
    assert_eq!(account_wide(&metrics, "Ready"), 0.0);
    assert_eq!(account_wide(&metrics, "FailingChecks"), 1.0);
    assert_eq!(account_wide(&metrics, "StaleOrMissingCopies"), 1.0);
    let media = metrics
        .iter()
        .find(|m| m["Resource"] == "media")
        .expect("the media file system's RPO");
    assert!(
        media["RpoSeconds"].as_f64().unwrap() >= 6.0 * 3600.0,
        "{media}"
    );
    assert_eq!(media["RpoBreached"], 1.0);
}

/// The schedule expression and constant input of the rule that targets `function`.
async fn aws_sdk_eventbridge_input(emulator: &Emulator, function: &str) -> (String, String) {
    let listed = emulator.control("POST", "events/schedules", &json!({ "function": function }));
    (
        listed["scheduleExpression"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        listed["input"].as_str().unwrap_or_default().to_string(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failovers_preflight_does_not_wait_on_a_slow_route53_control_plane() {
    let scenario = Scenario::protected("readiness-route53-slow").await;
    // us-east-1's control plane hangs (a regional disaster there): far past the invocation
    scenario.inject(json!({ "latency": [{ "service": "route53", "ms": 30000 }] }));

    let output = scenario
        .invoke(
            "preflight",
            &run_payload("failover-slow-dns", "failover", &scenario.plan(), json!({})),
        )
        .await
        .expect("a failover's preflight warns and goes on");
    assert_eq!(output["ready"], true, "{output}");
    assert_eq!(
        problems(&output),
        vec![("dns-record".into(), "warn".into(), "dns".into())]
    );
    assert!(
        output["problems"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("did not answer"),
        "{output}"
    );
    // a drill must know its record is safe: the check fails as transient (the state machine
    // retries it), within the invocation
    let err = scenario
        .invoke(
            "preflight",
            &run_payload("drill-slow-dns", "drill", &scenario.plan(), json!({})),
        )
        .await
        .expect_err("a drill does not go on without checking its record");
    assert_eq!(err.0, "Backstop.Transient", "{err:?}");
}
