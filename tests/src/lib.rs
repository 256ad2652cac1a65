//! Test harness: starts the local AWS emulator (moto server extended by
//! `tests/emulator`), gives SDK configurations pointed at it, seeds a workload
//! and deploys our compiled handler binaries as its Lambda functions.
//!
//! Each [`Emulator`] is its own process on its own free loopback port, so tests
//! run in parallel without sharing state. Most scenarios start from
//! [`Scenario::protected`]: the seeded workload backed up and copied to the DR vault, the
//! stack deployed, clients for both regions; the free functions here serve the tests that
//! prepare their world by hand.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

mod browser;
mod emulator;
mod scenario;
mod seed;
mod workload;
pub use browser::{open_page, PageSeen};
pub use emulator::{handler_binary, repo_root, Emulator, Stack};
pub use scenario::{Clients, Scenario};
pub use seed::Seed;
pub use workload::{
    allow_copies_from, back_up, copy_from_production, copy_to_dr, home_block, network_template,
    plan_for, plan_on_network_stack, production_account, production_config, protect,
    protected_workload, seed_production_account, upload_network_template, workload_arns,
    ProductionAccount,
};

pub const PRIMARY_REGION: &str = "us-east-1";
pub const DR_REGION: &str = "us-west-2";
/// Step Functions Wait and Retry delays run at this fraction of their real length.
pub const TIME_SCALE: &str = "0.02";

/// Polls `check` until it returns `Some`, or panics after `timeout` naming `what`.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The stack's plan parameter (the template's default PlanParameterName).
pub const PLAN_PARAMETER: &str = "/backstop/plan";

/// Stores `plan` in the stack's plan parameter, as an operator does (output PutPlanCommand).
pub async fn put_plan(emulator: &Emulator, plan: &Value) {
    aws_sdk_ssm::Client::new(&emulator.sdk_config(DR_REGION).await)
        .put_parameter()
        .name(PLAN_PARAMETER)
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .value(plan.to_string())
        .overwrite(true)
        .send()
        .await
        .expect("store the plan");
}

/// A failover (or failback) reads its plan only from the stack's plan parameter: an input
/// written with the plan inline (as tests write them) is started as an operator would start
/// it, with the plan put in the parameter first. Drills keep their inline plan.
pub async fn as_operator_starts_it(emulator: &Emulator, input: Value) -> Value {
    let mut input = input;
    let production = input["mode"] == "failover" || input["mode"] == "failback";
    let inline_failover = production && input["plan"].is_object();
    if inline_failover {
        let plan = input.as_object_mut().unwrap().remove("plan").unwrap();
        put_plan(emulator, &plan).await;
        input["planParameter"] = json!(PLAN_PARAMETER);
    }
    input
}

/// An execution's input: `mode` (`drill` or `failover`) of `plan`, polling every 2 s.
pub fn run_input(mode: &str, plan: &Value) -> Value {
    json!({ "mode": mode, "plan": plan, "settings": { "pollIntervalSeconds": 2 } })
}

/// Starts an execution named `run_id`; returns its ARN.
pub async fn start_run(emulator: &Emulator, machine: &str, run_id: &str, input: Value) -> String {
    let input = as_operator_starts_it(emulator, input).await;
    let sfn = aws_sdk_sfn::Client::new(&emulator.sdk_config(DR_REGION).await);
    sfn.start_execution()
        .state_machine_arn(machine)
        .name(run_id)
        .input(input.to_string())
        .send()
        .await
        .expect("start execution")
        .execution_arn
}

/// Waits until the execution is no longer RUNNING (at most `timeout`).
pub async fn run_ended(
    emulator: &Emulator,
    execution: &str,
    timeout: Duration,
) -> aws_sdk_sfn::operation::describe_execution::DescribeExecutionOutput {
    let sfn = aws_sdk_sfn::Client::new(&emulator.sdk_config(DR_REGION).await);
    wait_for("the execution to end", timeout, || async {
        let described = sfn
            .describe_execution()
            .execution_arn(execution)
            .send()
            .await
            .expect("describe execution");
        (described.status().as_str() != "RUNNING").then_some(described)
    })
    .await
}

/// Starts an execution named `run_id` and waits until it is no longer RUNNING.
pub async fn run_to_end(
    emulator: &Emulator,
    machine: &str,
    run_id: &str,
    input: Value,
) -> aws_sdk_sfn::operation::describe_execution::DescribeExecutionOutput {
    let execution = start_run(emulator, machine, run_id, input).await;
    run_ended(emulator, &execution, Duration::from_secs(120)).await
}

/// Every restore job in the DR region, as AWS Backup lists them (what the runs really started).
pub async fn restore_jobs_in_dr(
    emulator: &Emulator,
) -> Vec<aws_sdk_backup::types::RestoreJobsListMember> {
    let backup = aws_sdk_backup::Client::new(&emulator.sdk_config(DR_REGION).await);
    backup
        .list_restore_jobs()
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .expect("list restore jobs")
}

/// The JSON messages published to an SNS topic so far (what a subscriber received).
pub fn topic_messages(emulator: &Emulator, topic_arn: &str) -> Vec<Value> {
    emulator
        .control("POST", "sns/messages", &json!({ "topicArn": topic_arn }))
        .as_array()
        .expect("a list of messages")
        .iter()
        .map(|m| {
            serde_json::from_str(m["message"].as_str().unwrap_or("null")).unwrap_or(Value::Null)
        })
        .collect()
}

/// Invokes a deployed function; `Ok(output)` or `Err((errorType, errorMessage))`.
pub async fn invoke(
    emulator: &Emulator,
    function: &str,
    payload: &Value,
) -> Result<Value, (String, String)> {
    // a step's payload carries the execution input: a failover's as an operator starts it
    let mut payload = payload.clone();
    if payload["input"].is_object() {
        payload["input"] = as_operator_starts_it(emulator, payload["input"].take()).await;
    }
    let lambda = aws_sdk_lambda::Client::new(&emulator.sdk_config(DR_REGION).await);
    let output = lambda
        .invoke()
        .function_name(function)
        .payload(payload.to_string().into_bytes().into())
        .send()
        .await
        .expect("invoke");
    let body: Value =
        serde_json::from_slice(output.payload().map(|p| p.as_ref()).unwrap_or(b"null"))
            .expect("a JSON payload");
    match output.function_error() {
        None => Ok(body),
        Some(_) => Err((
            body["errorType"].as_str().unwrap_or_default().to_string(),
            body["errorMessage"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        )),
    }
}

/// The DR-region instances tagged with `run_id`.
pub async fn instances_of_run(
    emulator: &Emulator,
    run_id: &str,
) -> Vec<aws_sdk_ec2::types::Instance> {
    let ec2 = aws_sdk_ec2::Client::new(&emulator.sdk_config(DR_REGION).await);
    instances_tagged(&ec2, run_id).await
}

/// The instances `ec2`'s region has tagged with `run_id`.
pub async fn instances_tagged(
    ec2: &aws_sdk_ec2::Client,
    run_id: &str,
) -> Vec<aws_sdk_ec2::types::Instance> {
    let described = ec2
        .describe_instances()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("tag:backstop:run-id")
                .values(run_id)
                .build(),
        )
        .send()
        .await
        .expect("describe instances");
    described
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .cloned()
        .collect()
}

/// Asserts the execution succeeded, showing its error and cause otherwise.
pub fn assert_succeeded(
    execution: &aws_sdk_sfn::operation::describe_execution::DescribeExecutionOutput,
) {
    assert_eq!(
        execution.status().as_str(),
        "SUCCEEDED",
        "{:?} {:?}",
        execution.error(),
        execution.cause()
    );
}

/// The state the execution `run_id` of `machine` had when it entered `state_name` (from its
/// history): what a step received, for re-running it by hand.
pub async fn state_entering(
    emulator: &Emulator,
    machine: &str,
    run_id: &str,
    state_name: &str,
) -> Value {
    let sfn = aws_sdk_sfn::Client::new(&emulator.sdk_config(DR_REGION).await);
    let execution = machine.replace(":stateMachine:", ":execution:") + ":" + run_id;
    let history = sfn
        .get_execution_history()
        .execution_arn(&execution)
        .max_results(1000)
        .send()
        .await
        .expect("execution history");
    let entered = history
        .events()
        .iter()
        .filter_map(|e| e.state_entered_event_details())
        .find(|d| d.name() == state_name)
        .unwrap_or_else(|| panic!("{run_id} never entered {state_name}"));
    serde_json::from_str(entered.input().unwrap_or("null")).expect("state input is JSON")
}

/// The A record `name` in the seeded zone: (values, ttl).
pub async fn a_record(emulator: &Emulator, seed: &Seed, name: &str) -> Option<(Vec<String>, i64)> {
    let route53 = aws_sdk_route53::Client::new(&emulator.sdk_config(PRIMARY_REGION).await);
    let sets = route53
        .list_resource_record_sets()
        .hosted_zone_id(seed.dns.hosted_zone_id.as_str())
        .send()
        .await
        .unwrap();
    sets.resource_record_sets()
        .iter()
        .find(|set| set.name().trim_end_matches('.') == name && set.r#type().as_str() == "A")
        .map(|set| {
            (
                set.resource_records()
                    .iter()
                    .map(|r| r.value().to_string())
                    .collect(),
                set.ttl().unwrap_or_default(),
            )
        })
}
