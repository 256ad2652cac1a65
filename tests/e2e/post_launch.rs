//! Recovered, not just restored: post-launch actions (what the operator would do once the
//! instances run) and Systems Manager validations, through the deployed state machine. The
//! emulator runs Run Command's shell scripts for real, in a directory per instance, and only
//! on instances whose SSM agent registered (they need an instance profile).

use aws_sdk_ec2::primitives::{DateTime, DateTimeFormat};
use backstop_tests::{assert_succeeded, run_input, Scenario};
use serde_json::{json, Value};

use crate::validation::validation_function;
use crate::waves::{launched, three_wave_plan};

/// db (1) → app (2) → web (3), each with the seeded instance profile its agent registers with.
fn plan_with_agents(scenario: &Scenario) -> Value {
    let mut plan = three_wave_plan(scenario);
    for instance in plan["instances"].as_array_mut().unwrap() {
        instance["instanceProfile"] = json!(scenario.seed.dr.instance_profile);
    }
    plan
}

fn at(text: &Value) -> f64 {
    DateTime::from_str(text.as_str().unwrap(), DateTimeFormat::DateTime)
        .unwrap()
        .as_secs_f64()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_three_wave_failover_configures_the_app_with_the_restored_database_passes_its_checks_and_switches_dns(
) {
    let scenario = Scenario::protected("post-launch").await;
    let app_up = validation_function(
        &scenario,
        "shop-app-up",
        &[
            ("EXPECT_INSTANCES", "db,app,web"),
            ("EXPECT_RESTORED", "orders-db"),
        ],
    )
    .await;
    let mut plan = plan_with_agents(&scenario);
    // what an operator does after a restore: point the app at the restored database
    plan["postLaunch"] = json!([{
        "name": "point-app-at-db",
        "ssm": { "instances": ["app"], "parameters": { "commands": [
            "echo \"DB_HOST=${restored.orders-db.endpoint}\" > app.env",
            "echo configured; cat app.env"
        ] } }
    }]);
    plan["validations"] = json!([
        { "name": "app-up", "lambdaFunction": app_up },
        { "name": "app-configured", "ssm": { "instances": ["app"], "parameters": { "commands": [
            "grep -q '^DB_HOST=.' app.env",
            "echo \"app at ${instances.app.privateIp} has $(cat app.env)\""
        ] } } }
    ]);
    let before = scenario.a_record("app.shop.example.com").await;
    let execution = scenario
        .run_to_end("recovered-failover", run_input("failover", &plan))
        .await;
    assert_succeeded(&execution);
    let report: Value = serde_json::from_str(execution.output().unwrap()).unwrap();

    // the action ran on the app, after its wave, with the restored database's endpoint
    let endpoint = report["restored"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["resource"] == "orders-db")
        .and_then(|r| r["endpoint"].as_str())
        .expect("the database's endpoint")
        .to_string();
    let action = &report["postLaunch"][0];
    assert_eq!(action["status"], "succeeded", "{action:#}");
    assert_eq!(action["wave"], 2);
    let output = action["outputs"][0]["output"].as_str().unwrap();
    assert!(
        output.contains(&format!("DB_HOST={endpoint}")),
        "{output} (endpoint {endpoint})"
    );
    // ... once the app was launched, and before the web wave launched (EC2's own times)
    let times = launched(&scenario, "recovered-failover").await;
    let (app, web) = (times["app"].0, times["web"].0);
    // (EC2 gives launch times in whole seconds)
    assert!(at(&action["startedAt"]) >= app, "{action:#} app {app}");
    assert!(
        at(&action["endedAt"]).floor() <= web,
        "web launched at {web}, before the action ended: {action:#}"
    );

    // both checks passed: the function's, and the command that read what the action wrote
    let checks: Vec<(&str, bool)> = report["validations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["name"].as_str().unwrap(), c["passed"].as_bool().unwrap()))
        .collect();
    assert_eq!(
        checks,
        [("app-up", true), ("app-configured", true)],
        "{:#}",
        report["validations"]
    );
    let configured = report["validations"][1]["outputs"][0]["output"]
        .as_str()
        .unwrap();
    assert!(configured.contains(&endpoint), "{configured}");

    // then DNS moved to the app
    let app_ip = report["launched"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == "app")
        .and_then(|i| i["privateIp"].as_str())
        .unwrap()
        .to_string();
    let after = scenario.a_record("app.shop.example.com").await;
    assert_ne!(after, before);
    assert_eq!(after, Some((vec![app_ip], 60)));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_action_stops_the_waves_and_a_missing_document_is_refused_before_anything_starts()
{
    let scenario = Scenario::protected("post-launch-fails").await;
    let mut plan = plan_with_agents(&scenario);

    // a document that does not exist in the DR region: preflight refuses, nothing starts
    plan["postLaunch"] = json!([{
        "name": "configure",
        "ssm": { "document": "shop-configure-app", "instances": ["db"] }
    }]);
    let refused = scenario
        .run_to_end("missing-document", run_input("drill", &plan))
        .await;
    assert_eq!(refused.status().as_str(), "FAILED");
    assert_eq!(refused.error(), Some("Backstop.NotReady"), "{refused:?}");
    let cause = refused.cause().unwrap_or_default();
    assert!(
        cause.contains("shop-configure-app does not exist"),
        "{cause}"
    );
    assert!(
        scenario.restore_jobs().await.is_empty(),
        "a restore started"
    );
    assert!(scenario
        .instances_of_run("missing-document")
        .await
        .is_empty());

    // an action that fails on the first wave: the later waves never launch, DNS is not
    // touched, and the drill tears down to nothing
    plan["postLaunch"] = json!([{
        "name": "migrate",
        "ssm": { "instances": ["db"], "parameters": { "commands": ["echo migrating", "exit 3"] } }
    }]);
    let failed = scenario
        .run_to_end("failing-action", run_input("drill", &plan))
        .await;
    assert_eq!(failed.status().as_str(), "FAILED", "{failed:?}");
    assert_eq!(failed.error(), Some("Backstop.ActionFailed"));
    let report: Value = serde_json::from_str(
        &scenario
            .evidence("runs/shop/failing-action/report.json")
            .await,
    )
    .unwrap();
    let action = &report["postLaunch"][0];
    assert_eq!(action["status"], "failed", "{action:#}");
    assert!(
        action["message"].as_str().unwrap().contains("exit 3")
            && action["outputs"][0]["output"]
                .as_str()
                .unwrap()
                .contains("migrating"),
        "{action:#}"
    );
    let times = launched(&scenario, "failing-action").await;
    assert_eq!(
        times.keys().collect::<Vec<_>>(),
        ["db"],
        "later waves launched: {times:?}"
    );
    assert_eq!(times["db"].1, "terminated");
    assert_eq!(
        report["teardown"]["left"],
        json!([]),
        "{:#}",
        report["teardown"]
    );
    assert_eq!(scenario.a_record("drill.app.shop.example.com").await, None);
}
