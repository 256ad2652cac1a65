//! `make demo`: a DR drill on this machine. Starts the local AWS emulator, seeds a
//! primary-region workload, lets AWS Backup copy it to the DR region, then runs the real
//! state machine with the real handlers, printing each step as it starts and ends, then the
//! run's report (timeline, RTO/RPO, verdict, teardown). The plan builds the DR network from
//! the repository's CloudFormation template (`dr-region/network.yaml`): a drill in a copy of
//! its own, deleted by its teardown. `make demo MODE=failover` runs a full failover instead
//! (the network stack created and kept, production DNS switched, nothing torn down);
//! `make demo MODE=failback` that failover, then the failback that brings it home.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use backstop_tests::{
    a_record, as_operator_starts_it, home_block, plan_on_network_stack, protected_workload,
    upload_network_template, Emulator, Stack, DR_REGION, PLAN_PARAMETER, TIME_SCALE,
};
use serde_json::{json, Value};

#[tokio::main]
async fn main() {
    let mode = std::env::args().nth(1).unwrap_or_else(|| "drill".into());
    assert!(
        matches!(mode.as_str(), "drill" | "failover" | "failback"),
        "usage: drill [drill|failover|failback]"
    );
    let begun = Instant::now();
    println!("starting the local AWS emulator, seeding the workload and backing it up to the DR vault ...");
    let (emulator, seed) = protected_workload("demo").await;
    println!("  logs: {}", emulator.log_dir.display());
    // a failback needs the way home: the primary region and its vault
    let stack = match mode.as_str() {
        "failback" => emulator.deploy_stack_with(json!({
            "PrimaryRegion": seed.primary_region,
            "PrimaryBackupVaultName": seed.primary.backup_vault.name,
        })),
        _ => emulator.deploy_stack(),
    };
    let machine = stack.state_machine();
    let production_before = a_record(&emulator, &seed, "app.shop.example.com").await;
    // the DR network comes from CloudFormation, as the plan's `network` block says
    let template = upload_network_template(&emulator, &stack).await;
    let mut plan = plan_on_network_stack(
        &seed,
        json!({ "stackName": "shop-dr-network", "template": template }),
    );
    plan["home"] = home_block(&seed);
    let first = if mode == "failback" {
        "failover"
    } else {
        mode.as_str()
    };
    // a drill takes its plan inline; a failover only from the stack's plan parameter
    let input = json!({ "mode": first, "plan": plan, "settings": { "pollIntervalSeconds": 2 } });
    let input = as_operator_starts_it(&emulator, input).await;
    let sfn = aws_sdk_sfn::Client::new(&emulator.sdk_config(DR_REGION).await);
    let watch = Watch {
        sfn: &sfn,
        machine: &machine,
        begun,
    };

    let run_id = format!("demo-{first}");
    println!(
        "[{:>5.1}s] running {first} `{run_id}` (us-east-1 -> us-west-2); AWS's durations run {:.0}x faster here",
        begun.elapsed().as_secs_f64(),
        1.0 / TIME_SCALE.parse::<f64>().unwrap_or(1.0)
    );
    let execution = watch.run(&run_id, &input).await;
    let report = print_report(&emulator, &stack, &run_id, &execution).await;
    let production_after = a_record(&emulator, &seed, "app.shop.example.com").await;
    if mode == "drill" {
        println!(
            "production app.shop.example.com {}: {}",
            if production_after == production_before {
                "unchanged"
            } else {
                "CHANGED"
            },
            record_text(&production_after)
        );
        let left = report["teardown"]["left"].as_array().map_or(0, Vec::len)
            + report["teardown"]["pending"].as_array().map_or(0, Vec::len);
        println!("{left} resources left");
    } else {
        println!(
            "production app.shop.example.com switched: {} -> {}",
            record_text(&production_before),
            record_text(&production_after)
        );
    }
    if execution.status().as_str() != "SUCCEEDED" {
        std::process::exit(1);
    }
    if mode != "failback" {
        return;
    }

    // the primary region is back: bring the workload home from backups of the DR side
    let input = json!({
        "mode": "failback", "planParameter": PLAN_PARAMETER, "failoverRunId": run_id,
        "settings": { "pollIntervalSeconds": 2 }
    });
    println!(
        "\n[{:>5.1}s] running failback `demo-failback` (us-west-2 -> us-east-1): back up the DR side, copy it home, recover there, switch DNS home, retire the failover",
        begun.elapsed().as_secs_f64()
    );
    let execution = watch.run("demo-failback", &input).await;
    print_report(&emulator, &stack, "demo-failback", &execution).await;
    let production_home = a_record(&emulator, &seed, "app.shop.example.com").await;
    println!(
        "production app.shop.example.com switched home: {} -> {}",
        record_text(&production_after),
        record_text(&production_home)
    );
    if execution.status().as_str() != "SUCCEEDED" {
        std::process::exit(1);
    }
}

/// Runs the state machine's executions and prints each step as it starts and ends.
struct Watch<'a> {
    sfn: &'a aws_sdk_sfn::Client,
    machine: &'a str,
    begun: Instant,
}

impl Watch<'_> {
    async fn run(
        &self,
        run_id: &str,
        input: &Value,
    ) -> aws_sdk_sfn::operation::describe_execution::DescribeExecutionOutput {
        let (sfn, machine, begun) = (self.sfn, self.machine, self.begun);
        let arn = sfn
            .start_execution()
            .state_machine_arn(machine)
            .name(run_id)
            .input(input.to_string())
            .send()
            .await
            .expect("start the run")
            .execution_arn;
        let mut seen = 0usize;
        let mut shown: BTreeSet<String> = BTreeSet::new();
        let mut checks: std::collections::BTreeMap<String, usize> = Default::default();
        let execution = loop {
            let history = sfn
                .get_execution_history()
                .execution_arn(&arn)
                .max_results(1000)
                .send()
                .await
                .expect("read the run's history");
            for event in history.events().iter().skip(seen) {
                let kind = event.r#type().as_str();
                let step = |name: &str| {
                    matches!(
                        kind,
                        "TaskStateEntered"
                            | "ParallelStateEntered"
                            | "TaskStateExited"
                            | "ParallelStateExited"
                    ) && !name.is_empty()
                };
                if let Some(entered) = event.state_entered_event_details() {
                    // a polling loop re-enters a step: say so once
                    if step(entered.name()) && shown.insert(entered.name().to_string()) {
                        println!(
                            "[{:>5.1}s]   {} started",
                            begun.elapsed().as_secs_f64(),
                            entered.name()
                        );
                    }
                }
                if let Some(exited) = event.state_exited_event_details() {
                    if step(exited.name()) {
                        let checks = checks.entry(exited.name().to_string()).or_default();
                        *checks += 1;
                        // a waiting step checks again and again: show the first few checks
                        if *checks <= 3 {
                            let again = match *checks {
                                1 => String::new(),
                                n => format!(" (check {n}: still waiting)"),
                            };
                            println!(
                                "[{:>5.1}s]   {} ended{again}",
                                begun.elapsed().as_secs_f64(),
                                exited.name()
                            );
                        }
                    }
                }
            }
            seen = history.events().len();
            let described = sfn
                .describe_execution()
                .execution_arn(&arn)
                .send()
                .await
                .expect("describe the run");
            if described.status().as_str() != "RUNNING" {
                break described;
            }
            assert!(
                begun.elapsed() < Duration::from_secs(420),
                "the run did not end"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        };
        println!(
            "[{:>5.1}s] {run_id} {}",
            begun.elapsed().as_secs_f64(),
            execution.status().as_str()
        );
        for (step, n) in checks.iter().filter(|(_, n)| **n > 3) {
            println!("          {step} checked {n} times in all");
        }
        println!();
        execution
    }
}

/// Prints what preflight found and the run's report; the report (the execution's output).
async fn print_report(
    emulator: &Emulator,
    stack: &Stack,
    run_id: &str,
    execution: &aws_sdk_sfn::operation::describe_execution::DescribeExecutionOutput,
) -> Value {
    // what preflight checked before anything was created (kept in the run store)
    let readiness = stack.stored(emulator, run_id, "preflight").await;
    match serde_json::from_value::<backstop::steps::readiness::Readiness>(readiness) {
        Ok(readiness) => println!("\n{}", readiness.table(60)),
        Err(err) => println!("\nno readiness report stored ({err})"),
    }
    // the report: the execution output of a run that ended, the evidence of one that failed
    let bucket = stack.output("EvidenceBucketName");
    let s3_config = aws_sdk_s3::config::Builder::from(&emulator.sdk_config(DR_REGION).await)
        .force_path_style(true)
        .build();
    let s3 = aws_sdk_s3::Client::from_conf(s3_config);
    let key = format!("runs/shop/{run_id}/report.txt");
    match s3.get_object().bucket(&bucket).key(&key).send().await {
        Ok(object) => {
            let text = object
                .body
                .collect()
                .await
                .map(|b| b.into_bytes())
                .unwrap_or_default();
            println!("{}", String::from_utf8_lossy(&text));
            println!("evidence: s3://{bucket}/runs/shop/{run_id}/report.{{json,txt,html}}");
            // the page, where a browser on this machine opens it
            let page_key = format!("runs/shop/{run_id}/report.html");
            if let Ok(page) = s3.get_object().bucket(&bucket).key(&page_key).send().await {
                let html = page.body.collect().await.map(|b| b.into_bytes());
                let local = backstop_tests::repo_root().join(format!("target/demo/{run_id}.html"));
                let written = std::fs::create_dir_all(local.parent().unwrap())
                    .and_then(|_| std::fs::write(&local, html.unwrap_or_default()));
                match written {
                    Ok(()) => println!("report page: {}", local.display()),
                    Err(err) => println!("report page not written to {}: {err}", local.display()),
                }
            }
        }
        Err(err) => println!(
            "no report stored ({err}); error {:?}: {:?}",
            execution.error(),
            execution.cause()
        ),
    }
    let report: Value =
        serde_json::from_str(execution.output().unwrap_or("{}")).unwrap_or_default();
    let speedup = 1.0 / TIME_SCALE.parse::<f64>().unwrap_or(1.0);
    if let Some(rto) = report["rto"]["measuredSeconds"].as_f64() {
        println!(
            "RTO {rto:.0} s here. The emulator runs AWS's durations (restores, launches, DNS) {speedup:.0}x faster, so on AWS this is about {} (the handlers' own time is not compressed).",
            backstop::steps::report::hydration::duration((rto * speedup).round() as i64)
        );
    }
    report
}

/// An A record as an SRE writes it: `10.0.0.4 (TTL 300)`, or `absent`.
fn record_text(record: &Option<(Vec<String>, i64)>) -> String {
    match record {
        Some((values, ttl)) => format!("{} (TTL {ttl})", values.join(", ")),
        None => "absent".into(),
    }
}
