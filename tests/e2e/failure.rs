//! Every failed run is announced: one message on the stack's failure topic with the run id,
//! mode, failed step, error and what the run left behind; the run still ends FAILED with the
//! step's own error.

use backstop_tests::{run_input, Scenario};
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
