//! The faults a disaster brings, through the real state machine: random throttling and server
//! errors on every service, a handler killed mid-work, a Lambda timing out mid-call. Each run
//! completes, and nothing is duplicated (one restore job per recovery point, one instance) or
//! left behind (a drill's teardown removes everything it created).

use backstop_tests::{assert_succeeded, protect, workload_arns, Emulator, Scenario};
use serde_json::{json, Value};

use crate::drill::{created_by_restores, leftovers, restore_jobs_per_resource};

/// One restore job per protected resource and one instance for `run_id`: the retries
/// converged on what the first attempt created.
async fn assert_nothing_duplicated(scenario: &Scenario, run_id: &str) {
    let per_point = restore_jobs_per_resource(scenario).await;
    assert_eq!(per_point.len(), 4, "{per_point:?}");
    assert!(per_point.values().all(|n| *n == 1), "{per_point:?}");
    // terminated ones included: a duplicate launched and terminated is still a duplicate
    let instances = scenario.instances_of_run(run_id).await;
    assert_eq!(instances.len(), 1, "instances launched for {run_id}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_drill_under_random_throttling_and_server_errors_on_every_service_completes_and_cleans_up(
) {
    // The SDK's own retry backoff (up to 1 s, then 2 s, in real time) stays well inside a 60 s
    // function timeout in AWS; at the tests' usual scale that timeout is 1.2 s, at 0.1 it is 6 s
    let emulator = Emulator::start_at("faults-random", "0.1");
    let quick = json!({ "EBS": 30, "RDS": 30, "EFS": 30, "EC2": 30 });
    emulator.control(
        "POST",
        "durations",
        &json!({ "backup": quick, "copy": quick, "restore": quick }),
    );
    let seed = emulator.seed();
    let arns = workload_arns(&seed);
    protect(
        &emulator,
        &seed,
        &arns.iter().map(String::as_str).collect::<Vec<_>>(),
    )
    .await;
    let stack = emulator.deploy_stack();
    let scenario = Scenario::of(emulator, seed, stack).await;
    // 30% of calls throttled and 5% answered with a 5xx, on each service a run calls
    let services = ["backup", "ec2", "rds", "elasticfilesystem", "route53"];
    let throttle: Vec<Value> = services
        .iter()
        .map(|s| json!({ "service": s, "operation": "*", "probability": 0.3 }))
        .collect();
    let errors: Vec<Value> = services
        .iter()
        .map(|s| json!({ "service": s, "operation": "*", "error": "InternalFailure", "probability": 0.05 }))
        .collect();
    scenario.inject(json!({ "throttle": throttle, "apiErrors": errors }));

    let execution = scenario
        .run_to_end("drill-random-faults", scenario.input("drill"))
        .await;
    assert_succeeded(&execution);
    let report: Value = serde_json::from_str(execution.output().unwrap()).unwrap();
    assert_eq!(report["verdict"], "PASS", "{report:#}");
    let faults = scenario.emulator.fault_report();
    let throttled: u64 = faults["throttledCalls"]
        .as_object()
        .map(|calls| calls.values().filter_map(Value::as_u64).sum())
        .unwrap_or_default();
    let failed: u64 = faults["injectedCalls"]
        .as_object()
        .map(|calls| calls.values().filter_map(Value::as_u64).sum())
        .unwrap_or_default();
    // (about 60 throttled and 4 server errors per run; a run with no server error is possible)
    assert!(throttled >= 10, "faults injected: {faults}");
    println!("faults injected: {throttled} throttled, {failed} server errors");

    scenario.emulator.control("DELETE", "faults", &json!({}));
    assert_nothing_duplicated(&scenario, "drill-random-faults").await;
    let left = leftovers(
        &scenario,
        "drill-random-faults",
        &created_by_restores(&scenario).await,
    )
    .await;
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_handler_killed_after_it_started_its_aws_work_converges_on_retry() {
    let scenario = Scenario::protected("faults-killed").await;
    // each process dies 20 ms into its first invocation, its first calls made or in flight
    // (one that answers sooner is not killed)
    let kill = |binary: &str| json!({ "function": scenario.stack.function(binary), "afterSeconds": 0.02, "count": 1 });
    scenario.inject(json!({ "killHandler": [
        kill("start-restore"), kill("launch-instances"), kill("attach-volumes"), kill("switch-dns")
    ] }));

    let execution = scenario
        .run_to_end("failover-killed", scenario.input("failover"))
        .await;
    assert_succeeded(&execution);
    let errors = scenario
        .emulator
        .control("GET", "lambda/errors", &json!({}));
    let killed = [
        "start-restore",
        "launch-instances",
        "attach-volumes",
        "switch-dns",
    ]
    .iter()
    .filter(|binary| {
        errors[scenario.stack.function(binary)]["Runtime.ExitError"].as_u64() == Some(1)
    })
    .count();
    // the two that create (restore jobs, instances) make several calls: always killed
    for binary in ["start-restore", "launch-instances"] {
        assert_eq!(
            errors[scenario.stack.function(binary)]["Runtime.ExitError"],
            1,
            "{binary} killed mid-invocation: {errors}"
        );
    }
    println!("handlers killed: {killed} of 4");
    assert_nothing_duplicated(&scenario, "failover-killed").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lambda_timing_out_in_the_middle_of_a_call_converges_on_retry() {
    let scenario = Scenario::protected("faults-timeout").await;
    // the first RunInstances and StartRestoreJob answer after the function's timeout; AWS
    // still does the work
    scenario.inject(json!({ "latency": [
        { "service": "ec2", "operation": "RunInstances", "ms": 8000, "count": 1 },
        { "service": "backup", "operation": "StartRestoreJob", "ms": 8000, "count": 1 }
    ] }));

    let execution = scenario
        .run_to_end("failover-timeout", scenario.input("failover"))
        .await;
    assert_succeeded(&execution);
    let errors = scenario
        .emulator
        .control("GET", "lambda/errors", &json!({}));
    assert!(
        errors.to_string().contains("Sandbox.Timedout"),
        "a function timed out: {errors}"
    );
    assert_nothing_duplicated(&scenario, "failover-timeout").await;
}
