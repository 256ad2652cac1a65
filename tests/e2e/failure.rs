//! Every failed run is announced: one message on the stack's failure topic with the run id,
//! mode, failed step, error and what the run left behind; the run still ends FAILED with the
//! step's own error.

use std::time::Duration;

use backstop_tests::{run_input, wait_for, Scenario};
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_run_notifies_the_operator_and_ends_with_its_own_error() {
    let scenario = Scenario::protected("failure-path").await;
    let topic = scenario.stack.output("NoticeTopicArn");
    let notices = || scenario.topic_messages(&topic);

    // a plan that fails validation: nothing was created, and the notice says so
    let mut bad = scenario.plan();
    bad["dns"][0]["drillRecordName"] = json!("*.shop.example.com");
    let refused = scenario
        .run_to_end("drill-refused", run_input("drill", &bad))
        .await;
    assert_eq!(refused.status().as_str(), "FAILED");
    assert_eq!(refused.error(), Some("Backstop.InvalidPlan"));
    let notice = notices().pop().expect("a notice for the refused run");
    assert_eq!(notice["runId"], "drill-refused");
    // the plan is validated by the first step, preflight
    assert_eq!(notice["failedStep"], "Preflight");
    assert_eq!(notice["error"], "Backstop.InvalidPlan");
    assert!(
        notice["cause"].as_str().unwrap().contains("wildcard"),
        "{notice}"
    );
    assert!(
        notice["created"].as_str().unwrap().starts_with("nothing"),
        "{notice}"
    );

    // a restore that fails mid-run: the notice names the step, the error and what was left
    scenario.inject(json!({ "failJobs": [{
        "jobType": "restore",
        "resourceArn": scenario.seed.primary.db.arn,
        "message": "Insufficient storage in the DB subnet group (injected)"
    }] }));
    let failed = scenario
        .run_to_end("drill-restore-fails", scenario.input("drill"))
        .await;
    assert_eq!(failed.status().as_str(), "FAILED");
    assert_eq!(failed.error(), Some("Backstop.RestoreFailed"));
    assert!(failed
        .cause()
        .unwrap_or_default()
        .contains("Insufficient storage"));
    let all = notices();
    assert_eq!(all.len(), 2, "one notice per failed run: {all:?}");
    let notice = &all[1];
    assert_eq!(notice["runId"], "drill-restore-fails");
    assert_eq!(notice["mode"], "drill");
    assert_eq!(notice["failedStep"], "RestoreAndLaunch");
    assert_eq!(notice["error"], "Backstop.RestoreFailed");
    assert!(
        notice["cause"].as_str().unwrap().contains("orders-db"),
        "{notice}"
    );
    // a drill cleans up after a failure too, and says so
    assert!(notice.get("leftInPlace").is_none(), "{notice}");
    assert!(
        notice["tornDown"]
            .as_str()
            .unwrap()
            .starts_with("drill torn down"),
        "{notice}"
    );
}

/// A drill that could not delete what it created has not passed, whatever else went well: the
/// run ends FAILED with `Backstop.TeardownFailed` and the operator is told what is left and how
/// to finish (before: it ended SUCCEEDED and nobody was told).
#[tokio::test(flavor = "multi_thread")]
async fn a_drill_whose_teardown_fails_or_leaves_resources_fails_and_tells_the_operator() {
    let scenario = Scenario::protected("teardown-fails").await;
    let topic = scenario.stack.output("NoticeTopicArn");
    let notice_of = |run_id: &str| {
        scenario
            .topic_messages(&topic)
            .into_iter()
            .find(|m| m["runId"] == run_id)
            .unwrap_or_else(|| panic!("a notice for {run_id}"))
    };

    // 1. every teardown invocation dies: its retries run out
    let teardown = scenario.stack.function("teardown");
    scenario.inject(
        json!({ "killHandler": [{ "function": teardown, "afterSeconds": 0.0, "count": 50 }] }),
    );
    let killed = scenario
        .run_to_end("drill-teardown-killed", scenario.input("drill"))
        .await;
    scenario.emulator.control("DELETE", "faults", &json!({}));
    assert_eq!(killed.status().as_str(), "FAILED", "{:?}", killed.output());
    assert_eq!(killed.error(), Some("Backstop.TeardownFailed"));
    let notice = notice_of("drill-teardown-killed");
    assert_eq!(notice["failedStep"], "Teardown", "{notice:#}");
    assert_eq!(notice["verdict"], "FAIL", "{notice:#}");
    let torn_down = notice["tornDown"].as_str().unwrap();
    assert!(
        torn_down.starts_with("teardown failed (Runtime.ExitError")
            && torn_down.contains("drill-teardown-killed"),
        "{notice:#}"
    );
    assert!(
        !crate::drill::leftovers(&scenario, "drill-teardown-killed", &[])
            .await
            .is_empty(),
        "the killed teardown deleted nothing, so the drill's resources are still there"
    );
    // the way out the notice gives works
    let finished = scenario
        .teardown_by_hand("drill-teardown-killed", false)
        .await;
    assert_eq!(finished["left"], 0, "{finished:#}");
    let left = crate::drill::leftovers(&scenario, "drill-teardown-killed", &[]).await;
    assert!(left.is_empty(), "left behind: {left:?}");

    // 2. someone turns deletion protection on for the drill's restored database mid-run (a
    // guardrail's auto-remediation, say): teardown must leave it, and say so
    scenario.inject(json!({
        "slowJobs": [{ "resourceArn": scenario.seed.primary.file_system.arn, "seconds": 3000 }]
    }));
    let execution = scenario
        .start("drill-teardown-left", scenario.input("drill"))
        .await;
    let rds = &scenario.dr.rds;
    let database = wait_for(
        "the drill's restored database",
        Duration::from_secs(300),
        || async {
            let dbs = rds.describe_db_instances().send().await.ok()?;
            dbs.db_instances()
                .iter()
                .find(|db| db.db_instance_status() == Some("available"))
                .and_then(|db| db.db_instance_identifier().map(str::to_string))
        },
    )
    .await;
    rds.modify_db_instance()
        .db_instance_identifier(&database)
        .deletion_protection(true)
        .apply_immediately(true)
        .send()
        .await
        .unwrap();
    let left_run = scenario.ended(&execution, Duration::from_secs(900)).await;
    assert_eq!(
        left_run.status().as_str(),
        "FAILED",
        "{:?}",
        left_run.output()
    );
    assert_eq!(left_run.error(), Some("Backstop.TeardownFailed"));
    assert!(
        left_run
            .cause()
            .unwrap_or_default()
            .contains("left 1 resource"),
        "{:?}",
        left_run.cause()
    );
    let notice = notice_of("drill-teardown-left");
    let kept = &notice["teardown"]["left"][0];
    assert_eq!(kept["id"], database.as_str(), "{notice:#}");
    assert!(
        kept["reason"]
            .as_str()
            .unwrap()
            .contains("deletion protection"),
        "{notice:#}"
    );
    // once the protection is off, teardown by hand finishes the job
    rds.modify_db_instance()
        .db_instance_identifier(&database)
        .deletion_protection(false)
        .apply_immediately(true)
        .send()
        .await
        .unwrap();
    let finished = scenario
        .teardown_by_hand("drill-teardown-left", false)
        .await;
    assert_eq!(finished["left"], 0, "{finished:#}");
    let left = crate::drill::leftovers(&scenario, "drill-teardown-left", &[]).await;
    assert!(left.is_empty(), "left behind: {left:?}");
}
