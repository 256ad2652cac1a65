//! `make demo`: a DR drill on this machine. Starts the local AWS emulator, seeds a
//! primary-region workload, lets AWS Backup copy it to the DR region, then runs the real
//! state machine with the real handlers in drill mode and prints what it did.

use std::time::Instant;

use backstop_tests::{plan_for, protected_workload, run_to_end};
use serde_json::{json, Value};

#[tokio::main]
async fn main() {
    println!("starting the local AWS emulator, seeding the workload and backing it up to the DR vault ...");
    let (emulator, seed) = protected_workload("demo").await;
    println!("  logs: {}", emulator.log_dir.display());
    let stack = emulator.deploy_stack();
    let machine = stack.state_machine();
    let plan = plan_for(&seed);
    let input = json!({ "mode": "drill", "plan": plan, "settings": { "pollIntervalSeconds": 2 } });

    println!("running drill `demo-drill` (us-east-1 -> us-west-2) ...");
    let started = Instant::now();
    let execution = run_to_end(&emulator, &machine, "demo-drill", input).await;
    let elapsed = started.elapsed();
    println!(
        "drill {} in {:.1} s",
        execution.status().as_str(),
        elapsed.as_secs_f64()
    );
    if execution.status().as_str() != "SUCCEEDED" {
        println!(
            "  error: {:?}\n  cause: {:?}",
            execution.error(),
            execution.cause()
        );
        std::process::exit(1);
    }
    let output: Value =
        serde_json::from_str(execution.output().unwrap_or("{}")).unwrap_or_default();

    println!("restored (recovery point age = RPO):");
    for job in output["restore"]["jobs"].as_array().into_iter().flatten() {
        let rpo = output["run"]["restores"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|item| item["resource"] == job["resource"])
            .map(|item| item["rpoSeconds"].clone())
            .unwrap_or_default();
        println!(
            "  {:<10} {:<4} {:<10} RPO {:>4} s  {}",
            job["resource"].as_str().unwrap_or(""),
            job["kind"].as_str().unwrap_or(""),
            job["status"].as_str().unwrap_or(""),
            rpo,
            job["createdResourceArn"].as_str().unwrap_or("")
        );
    }
    for instance in output["launch"]["instances"]
        .as_array()
        .into_iter()
        .flatten()
    {
        println!(
            "launched {} {} ({}) from {} in {} at {}",
            instance["name"].as_str().unwrap_or(""),
            instance["instanceId"].as_str().unwrap_or(""),
            instance["instanceType"].as_str().unwrap_or(""),
            instance["imageId"].as_str().unwrap_or(""),
            instance["availabilityZone"].as_str().unwrap_or(""),
            instance["privateIp"].as_str().unwrap_or("")
        );
    }
    for attachment in output["attach"]["attachments"]
        .as_array()
        .into_iter()
        .flatten()
    {
        println!(
            "attached {} ({}) at {}",
            attachment["resource"].as_str().unwrap_or(""),
            attachment["volumeId"].as_str().unwrap_or(""),
            attachment["device"].as_str().unwrap_or("")
        );
    }
    for record in output["dns"]["records"].as_array().into_iter().flatten() {
        println!(
            "DNS {} {} -> {} (TTL {}); production records untouched",
            record["recordName"].as_str().unwrap_or(""),
            record["recordType"].as_str().unwrap_or(""),
            record["value"].as_str().unwrap_or(""),
            record["ttl"]
        );
    }
    println!("not yet part of a drill: the RTO/RPO report and teardown (the emulator's state goes with it)");
}
