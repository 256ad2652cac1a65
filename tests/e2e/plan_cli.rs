//! `backstop plan init` writes a plan skeleton from the DR vault; `backstop plan check` reports,
//! offline, exactly what a run reports on the same plan.

use std::path::Path;
use std::process::{Command, Output};

use backstop_tests::{handler_binary, invoke, plan_for, protected_workload, repo_root, DR_REGION};
use serde_json::{json, Value};

fn backstop(emulator_endpoint: Option<&str>, args: &[&str]) -> Output {
    let mut command = Command::new(handler_binary("backstop"));
    command.args(args);
    if let Some(endpoint) = emulator_endpoint {
        command
            .env("AWS_ENDPOINT_URL", endpoint)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", DR_REGION);
    }
    command.output().expect("run the backstop command")
}

fn write(dir: &Path, name: &str, plan: &Value) -> String {
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_string_pretty(plan).unwrap()).unwrap();
    path.display().to_string()
}

fn example() -> Value {
    let text = std::fs::read_to_string(repo_root().join("tests/plans/example.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn check_prints_the_problems_a_run_reports_on_the_same_plan() {
    let emulator = backstop_tests::Emulator::start("plan-check");
    let stack = emulator.deploy_stack();
    let resolve = stack.function("resolve-plan");
    let dir = tempfile_dir("plan-check");

    let good = example();
    let out = backstop(
        None,
        &[
            "plan",
            "check",
            &write(&dir, "good.json", &good),
            "--region",
            DR_REGION,
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("plan shop is valid"));

    // the bad plans of the plan-validation tests (shared/tests/plan_validation.rs)
    let edits: Vec<(&str, Value)> = vec![
        ("/drRegion", json!("oregon")),
        ("/primaryRegion", json!("us-west-2")),
        ("/backupVault", json!("")),
        ("/resources/3/kind", json!("s3")),
        ("/resources/1/name", json!("app-data")),
        ("/resources/1/ebs/attachTo/device", json!("/dev/xvdf")),
        ("/resources/0/ebs/attachTo/instance", json!("web")),
        ("/resources/0/ebs/attachTo/device", json!("/dev/xvda")),
        ("/dns/0/drillRecordName", json!("APP.shop.example.com.")),
        ("/objectives/rtoMinutes", json!(0)),
        ("/resources/0/ebs/availabilityZone", json!("us-east-1a")),
        ("/resources/0/ebs/volumeType", json!("gp9")),
        ("/instances/0/securityGroupIds/0", json!("default")),
        ("/dns/0/ttl", json!(-1)),
        ("/dns/0/recordType", json!("CNAME")),
        ("/resources/0/ebs/volumType", json!("gp3")),
        ("/objectives/rpoMinutes", json!("four hours")),
    ];
    for (i, (pointer, value)) in edits.iter().enumerate() {
        let mut plan = good.clone();
        let (parent, key) = pointer.rsplit_once('/').unwrap();
        match plan.pointer_mut(parent).unwrap() {
            Value::Object(map) => {
                map.insert(key.to_string(), value.clone());
            }
            Value::Array(list) => list[key.parse::<usize>().unwrap()] = value.clone(),
            other => panic!("{other}"),
        }
        let out = backstop(
            None,
            &[
                "plan",
                "check",
                &write(&dir, &format!("bad-{i}.json"), &plan),
                "--region",
                DR_REGION,
            ],
        );
        assert_eq!(out.status.code(), Some(1), "{pointer}");
        let printed = String::from_utf8_lossy(&out.stderr).trim_end().to_string();
        let run = invoke(
            &emulator,
            &resolve,
            &json!({ "runId": format!("drill-{i}"), "input": { "mode": "drill", "plan": plan } }),
        )
        .await
        .expect_err(pointer);
        assert_eq!(
            printed, run.1,
            "{pointer}: the command and the run disagree"
        );
        assert!(printed.contains("invalid"), "{pointer}: {printed}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn init_lists_the_vaults_resources_and_check_names_every_placeholder_left() {
    let (emulator, seed) = protected_workload("plan-init").await;
    let dir = tempfile_dir("plan-init");
    let skeleton_path = dir.join("plan.json").display().to_string();
    let out = backstop(
        Some(&emulator.endpoint),
        &[
            "plan",
            "init",
            "--vault",
            "backstop-dr",
            "--name",
            "shop",
            "--output",
            &skeleton_path,
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let skeleton: Value =
        serde_json::from_str(&std::fs::read_to_string(&skeleton_path).unwrap()).unwrap();
    assert_eq!(skeleton["drRegion"], DR_REGION);
    assert_eq!(skeleton["backupVault"], "backstop-dr");
    let listed: Vec<(String, String)> = skeleton["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["arn"].as_str().unwrap().to_string(),
                r["kind"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let planned = plan_for(&seed);
    for resource in planned["resources"].as_array().unwrap() {
        let wanted = (
            resource["arn"].as_str().unwrap().to_string(),
            resource["kind"].as_str().unwrap().to_string(),
        );
        assert!(listed.contains(&wanted), "{wanted:?} not in {listed:?}");
    }
    assert_eq!(listed.len(), 4, "{listed:?}");

    // the placeholders are what check reports, each with its field
    let out = backstop(
        None,
        &["plan", "check", &skeleton_path, "--region", DR_REGION],
    );
    assert_eq!(out.status.code(), Some(1));
    let printed = String::from_utf8_lossy(&out.stderr);
    for (i, resource) in skeleton["resources"].as_array().unwrap().iter().enumerate() {
        match resource["kind"].as_str().unwrap() {
            "ebs" => assert!(
                printed.contains(&format!("resources[{i}].ebs.availabilityZone")),
                "{printed}"
            ),
            "rds" => assert!(
                printed.contains(&format!("resources[{i}].rds.vpcSecurityGroupIds")),
                "{printed}"
            ),
            _ => {}
        }
    }
}

fn tempfile_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("backstop-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
