//! Recovered, not just restored: the plan's validations (the workload's own checks, Lambda
//! functions the operator deploys in the DR region) run once the DR side is healthy and
//! before DNS moves. The function here is the repository's example
//! (`examples/validate-recovered`), created through the Lambda API as a user would.

use std::time::Duration;

use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{Environment, Runtime};
use backstop_tests::{assert_succeeded, handler_binary, run_input, Scenario};
use serde_json::{json, Value};

/// A `provided.al2023` zip whose bootstrap runs the example function built in this workspace.
fn example_zip() -> Vec<u8> {
    let binary = handler_binary("validate-recovered");
    let dir = std::env::temp_dir().join(format!("validate-recovered-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bootstrap = dir.join("bootstrap");
    std::fs::write(
        &bootstrap,
        format!("#!/bin/sh\nexec \"{}\" \"$@\"\n", binary.display()),
    )
    .unwrap();
    let zip = dir.join("function.zip");
    let zipped = std::process::Command::new("python3")
        .args(["-c", "import os, sys, zipfile\nwith zipfile.ZipFile(sys.argv[1], 'w') as z:\n    i = zipfile.ZipInfo('bootstrap'); i.external_attr = 0o755 << 16\n    z.writestr(i, open(sys.argv[2]).read())"])
        .arg(&zip)
        .arg(&bootstrap)
        .status()
        .unwrap();
    assert!(zipped.success());
    std::fs::read(zip).unwrap()
}

/// Creates the example validation function `name` with `environment`; its ARN.
pub(crate) async fn validation_function(
    scenario: &Scenario,
    name: &str,
    environment: &[(&str, &str)],
) -> String {
    let lambda = &scenario.dr.lambda;
    // any role of the stack will do: the function calls no AWS API
    let role = lambda
        .get_function()
        .function_name(scenario.stack.function("validate"))
        .send()
        .await
        .unwrap()
        .configuration()
        .and_then(|c| c.role())
        .unwrap()
        .to_string();
    let mut variables = Environment::builder();
    for (key, value) in environment {
        variables = variables.variables(*key, *value);
    }
    lambda
        .create_function()
        .function_name(name)
        .runtime(Runtime::Providedal2023)
        .handler("bootstrap")
        .role(role)
        .timeout(30)
        .code(
            aws_sdk_lambda::types::FunctionCode::builder()
                .zip_file(Blob::new(example_zip()))
                .build(),
        )
        .environment(variables.build())
        .send()
        .await
        .unwrap()
        .function_arn()
        .unwrap()
        .to_string()
}

/// A check that fails: it expects an instance `cache` the plan does not have.
async fn failing_check(scenario: &Scenario) -> String {
    validation_function(
        scenario,
        "shop-cache-up",
        &[("EXPECT_INSTANCES", "app,cache")],
    )
    .await
}

fn report_of(output: &str) -> Value {
    serde_json::from_str(output).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn validations_gate_the_switch_a_failing_one_stops_a_failover_before_dns() {
    let scenario = Scenario::protected("validation").await;
    let passes = validation_function(
        &scenario,
        "shop-app-up",
        &[
            ("EXPECT_INSTANCES", "app"),
            ("EXPECT_RESTORED", "orders-db,app-data"),
        ],
    )
    .await;
    let fails = failing_check(&scenario).await;

    // a drill whose check passes: the check saw what the run recovered, and the report says so
    let mut plan = scenario.plan();
    plan["validations"] = json!([{ "name": "app-up", "lambdaFunction": passes }]);
    let drill = scenario
        .run_to_end("validated-drill", run_input("drill", &plan))
        .await;
    assert_succeeded(&drill);
    let report = report_of(drill.output().unwrap());
    let check = &report["validations"][0];
    assert_eq!(check["passed"], true, "{:#}", report["validations"]);
    assert!(
        check["message"]
            .as_str()
            .unwrap()
            .contains("run validated-drill"),
        "{check:#}"
    );
    assert_eq!(report["teardown"]["left"], json!([]));

    // a failover whose second check fails: stopped before DNS, production untouched, the DR
    // side kept for the operator, the notice names the check
    let before = scenario.a_record("app.shop.example.com").await;
    plan["validations"] = json!([
        { "name": "app-up", "lambdaFunction": passes },
        { "name": "cache-up", "lambdaFunction": fails, "timeoutSeconds": 20 }
    ]);
    let failover = scenario
        .run_to_end("unvalidated-failover", run_input("failover", &plan))
        .await;
    assert_eq!(failover.status().as_str(), "FAILED", "{failover:?}");
    assert_eq!(failover.error(), Some("Backstop.ValidationFailed"));
    assert_eq!(
        scenario.a_record("app.shop.example.com").await,
        before,
        "production DNS moved"
    );
    let instances = scenario.instances_of_run("unvalidated-failover").await;
    let state = instances[0]
        .state()
        .and_then(|s| s.name())
        .map(|s| s.as_str());
    assert_eq!(state, Some("running"), "a failover keeps what it launched");
    let notices = scenario.topic_messages(&scenario.stack.output("NoticeTopicArn"));
    let notice = notices
        .iter()
        .find(|n| n["runId"] == "unvalidated-failover")
        .unwrap_or_else(|| panic!("no notice: {notices:#?}"));
    assert_eq!(notice["failedStep"], "Validate", "{notice:#}");
    assert!(
        notice["cause"].as_str().unwrap().contains("cache-up")
            && notice["cause"]
                .as_str()
                .unwrap()
                .contains("instance cache was not launched"),
        "{notice:#}"
    );
    let report: Value = serde_json::from_str(
        &scenario
            .evidence("runs/shop/unvalidated-failover/report.json")
            .await,
    )
    .unwrap();
    let results: Vec<(&str, bool)> = report["validations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["name"].as_str().unwrap(), c["passed"].as_bool().unwrap()))
        .collect();
    assert_eq!(results, [("app-up", true), ("cache-up", false)]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hanging_check_is_bounded_by_its_timeout_and_a_missing_one_is_found_before_anything_starts(
) {
    let scenario = Scenario::protected("validation-bounds").await;
    let passes =
        validation_function(&scenario, "shop-app-up", &[("EXPECT_INSTANCES", "app")]).await;

    // a check whose answer does not come (the Invoke call hangs): the drill fails at its
    // timeout, not at the step's, and still tears down to nothing
    let mut plan = scenario.plan();
    plan["validations"] =
        json!([{ "name": "slow", "lambdaFunction": passes, "timeoutSeconds": 2 }]);
    scenario.inject(json!({ "latency": [{ "service": "lambda", "operation": "Invoke", "function": "shop-app-up", "ms": 8000, "count": 1 }] }));
    let execution = scenario
        .start("hanging-check", run_input("drill", &plan))
        .await;
    let ended = scenario.ended(&execution, Duration::from_secs(300)).await;
    assert_eq!(ended.status().as_str(), "FAILED", "{ended:?}");
    let report: Value = serde_json::from_str(
        &scenario
            .evidence("runs/shop/hanging-check/report.json")
            .await,
    )
    .unwrap();
    let check = &report["validations"][0];
    assert_eq!(check["passed"], false, "{check:#}");
    assert!(
        check["message"]
            .as_str()
            .unwrap()
            .contains("no answer within its 2 s timeout"),
        "{check:#}"
    );
    assert!(check["seconds"].as_f64().unwrap() < 5.0, "{check:#}");
    assert_eq!(
        report["teardown"]["left"],
        json!([]),
        "{:#}",
        report["teardown"]
    );

    // a function that does not exist: preflight refuses the run, nothing is created
    plan["validations"] = json!([{ "name": "gone", "lambdaFunction": "shop-no-such-check" }]);
    let refused = scenario
        .run_to_end("missing-check", run_input("drill", &plan))
        .await;
    assert_eq!(refused.status().as_str(), "FAILED", "{refused:?}");
    assert_eq!(refused.error(), Some("Backstop.NotReady"), "{refused:?}");
    assert!(
        refused
            .cause()
            .unwrap_or_default()
            .contains("shop-no-such-check does not exist"),
        "{:?}",
        refused.cause()
    );
    assert!(scenario.instances_of_run("missing-check").await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_gated_failover_whose_checks_fail_asks_the_operator_who_may_switch_anyway() {
    let scenario = Scenario::protected("validation-approval").await;
    let fails = failing_check(&scenario).await;
    let mut plan = scenario.plan();
    plan["failover"] = json!({ "approval": "operator", "approvalTimeoutMinutes": 60 });
    plan["validations"] = json!([{ "name": "cache-up", "lambdaFunction": fails }]);
    let before = scenario.a_record("app.shop.example.com").await;
    let execution = scenario
        .start("failover-despite-checks", run_input("failover", &plan))
        .await;

    // the request says which check failed and why; DNS has not moved
    let (token, request) = scenario.approval_request("failover-despite-checks").await;
    assert_eq!(
        request["validation"]["Error"], "Backstop.ValidationFailed",
        "{request:#}"
    );
    assert!(
        request["validation"]["Cause"]
            .as_str()
            .unwrap()
            .contains("instance cache was not launched"),
        "{request:#}"
    );
    assert_eq!(scenario.a_record("app.shop.example.com").await, before);

    // the operator switches anyway: DNS moves, the report says the checks failed
    scenario
        .dr
        .sfn
        .send_task_success()
        .task_token(&token)
        .output(json!({ "approved": true, "by": "sre-on-call" }).to_string())
        .send()
        .await
        .unwrap();
    let ended = scenario.ended(&execution, Duration::from_secs(180)).await;
    assert_succeeded(&ended);
    assert_ne!(
        scenario.a_record("app.shop.example.com").await,
        before,
        "DNS did not switch"
    );
    let report = report_of(ended.output().unwrap());
    assert_eq!(
        report["validations"][0]["passed"], false,
        "{:#}",
        report["validations"]
    );
    let warnings = report["warnings"].to_string();
    assert!(
        warnings
            .contains("validations failed (cache-up): the operator approved the DNS switch anyway"),
        "{warnings}"
    );
}
