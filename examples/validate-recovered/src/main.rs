//! An example validation function for a Backstop plan (docs/reference.md, "Validations").
//!
//! Backstop invokes it once the DR side is healthy and before DNS moves, with what the run
//! recovered (the input below); it answers `{"passed": true|false, "message": "..."}`. A
//! failed check stops a failover before DNS and fails a drill. This one checks, configured by
//! its environment:
//! - `EXPECT_INSTANCES`: these instances (plan names, comma-separated) were launched, each with
//!   a private IP;
//! - `EXPECT_RESTORED`: these resources (plan names) were restored;
//! - `TCP_PORT`: each instance accepts a TCP connection on this port (the function must run in
//!   the DR VPC: a VPC-attached function reaches the instances' private IPs).
//!
//! Write your own the same way: read what you need from the input, check the workload as its
//! users would (an HTTP request, a query), answer within the plan's `timeoutSeconds`.

use std::time::Duration;

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde::{Deserialize, Serialize};

/// What Backstop sends (fields this example does not read are left out).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Recovered {
    check: String,
    run_id: String,
    #[serde(default)]
    instances: Vec<Instance>,
    #[serde(default)]
    restored: Vec<Restored>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Instance {
    name: String,
    #[serde(default)]
    private_ip: String,
}

#[derive(Debug, Deserialize)]
struct Restored {
    resource: String,
}

/// What Backstop reads back.
#[derive(Debug, Serialize)]
struct Verdict {
    passed: bool,
    message: String,
}

fn listed(variable: &str) -> Vec<String> {
    std::env::var(variable)
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// The problems found, none when the workload looks recovered.
async fn problems(recovered: &Recovered) -> Vec<String> {
    let mut problems = Vec::new();
    for name in listed("EXPECT_INSTANCES") {
        match recovered.instances.iter().find(|i| i.name == name) {
            None => problems.push(format!("instance {name} was not launched")),
            Some(instance) if instance.private_ip.is_empty() => {
                problems.push(format!("instance {name} has no private IP"))
            }
            Some(_) => {}
        }
    }
    for name in listed("EXPECT_RESTORED") {
        if !recovered.restored.iter().any(|r| r.resource == name) {
            problems.push(format!("{name} was not restored"));
        }
    }
    if let Some(port) = std::env::var("TCP_PORT")
        .ok()
        .and_then(|p| p.parse::<u16>().ok())
    {
        for instance in &recovered.instances {
            let address = format!("{}:{port}", instance.private_ip);
            let target = address.parse::<std::net::SocketAddr>();
            let connected = match target {
                Ok(target) => tokio::task::spawn_blocking(move || {
                    std::net::TcpStream::connect_timeout(&target, Duration::from_secs(3)).is_ok()
                })
                .await
                .unwrap_or(false),
                Err(_) => false,
            };
            if !connected {
                problems.push(format!(
                    "{} does not accept connections on {address}",
                    instance.name
                ));
            }
        }
    }
    problems
}

async fn handle(event: LambdaEvent<Recovered>) -> Result<Verdict, Error> {
    let recovered = event.payload;
    let problems = problems(&recovered).await;
    let message = if problems.is_empty() {
        format!(
            "{}: {} instance(s) and {} restored resource(s) as expected (run {})",
            recovered.check,
            recovered.instances.len(),
            recovered.restored.len(),
            recovered.run_id
        )
    } else {
        format!("{}: {}", recovered.check, problems.join("; "))
    };
    Ok(Verdict {
        passed: problems.is_empty(),
        message,
    })
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(handle)).await
}
