//! Test harness: starts the local AWS emulator (moto server extended by
//! `tests/emulator`), gives SDK configurations pointed at it, seeds a workload
//! and deploys our compiled handler binaries as its Lambda functions.
//!
//! Each [`Emulator`] is its own process on its own free loopback port, so tests
//! run in parallel without sharing state.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use serde_json::{json, Value};

mod scenario;
mod seed;
pub use scenario::{Clients, Scenario};
pub use seed::Seed;

pub const PRIMARY_REGION: &str = "us-east-1";
pub const DR_REGION: &str = "us-west-2";
/// Step Functions Wait and Retry delays run at this fraction of their real length.
pub const TIME_SCALE: &str = "0.02";

static INSTANCES: AtomicUsize = AtomicUsize::new(0);

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// The compiled handler binary of a function crate (built by `cargo build --workspace`).
pub fn handler_binary(name: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target"));
    let path = target.join("debug").join(name);
    assert!(
        path.is_file(),
        "handler binary {} is missing: run `cargo build --workspace` first (make test does)",
        path.display()
    );
    path
}

pub struct Emulator {
    child: Child,
    pub port: u16,
    pub endpoint: String,
    pub log_dir: PathBuf,
}

impl Emulator {
    /// Starts a fresh emulator and waits until it answers.
    pub fn start(test_name: &str) -> Emulator {
        Self::start_at(test_name, TIME_SCALE)
    }

    /// `start` with another time scale: e.g. where the SDK's own retry backoff, which runs in
    /// real time, must stay as small beside a function's (scaled) timeout as it is in AWS.
    pub fn start_at(test_name: &str, time_scale: &str) -> Emulator {
        let root = repo_root();
        let python = root.join(".venv/bin/python");
        assert!(
            python.is_file(),
            "{} is missing: run `make setup` to create the virtualenv with moto",
            python.display()
        );
        let n = INSTANCES.fetch_add(1, Ordering::SeqCst);
        let log_dir = root
            .join("target/emulator-logs")
            .join(format!("{test_name}-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&log_dir).expect("create emulator log dir");
        let mut child = Command::new(&python)
            .args([
                "-m",
                "backstop_emulator",
                "--port",
                "0",
                "--time-scale",
                time_scale,
            ])
            .arg("--log-dir")
            .arg(&log_dir)
            .current_dir(root.join("tests/emulator"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(
                std::fs::File::create(log_dir.join("stderr.log")).expect("stderr log"),
            ))
            .spawn()
            .expect("start the emulator");

        let stdout = child.stdout.take().expect("emulator stdout");
        let (ready_tx, ready_rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = ready_tx.send(line);
        });
        let line = ready_rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_default();
        let port: u16 = line
            .trim()
            .strip_prefix("BACKSTOP_EMULATOR_READY port=")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| {
                let _ = child.kill();
                panic!(
                    "the emulator did not start (got {line:?}); see {}",
                    log_dir.display()
                )
            });
        let emulator = Emulator {
            child,
            port,
            endpoint: format!("http://127.0.0.1:{port}"),
            log_dir,
        };
        // Jobs take two AWS minutes in these tests (what they check does not depend on AWS's
        // 5-20 minutes); instances, status checks, attachments, DB availability and DNS
        // propagation keep the emulator's AWS-like defaults.
        let quick = json!({ "EBS": 120, "RDS": 120, "EFS": 120, "EC2": 120 });
        emulator.control(
            "POST",
            "durations",
            &json!({ "backup": quick, "copy": quick, "restore": quick }),
        );
        emulator
    }

    /// SDK configuration for `region`, pointed at this emulator with dummy credentials.
    pub async fn sdk_config(&self, region: &str) -> SdkConfig {
        aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(region.to_string()))
            .endpoint_url(&self.endpoint)
            .credentials_provider(aws_sdk_backup::config::Credentials::new(
                "testing", "testing", None, None, "emulator",
            ))
            .load()
            .await
    }

    /// Calls a `/backstop/...` control endpoint; panics with the emulator's message on failure.
    pub fn control(&self, method: &str, route: &str, body: &Value) -> Value {
        let payload = body.to_string();
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).expect("connect to emulator");
        stream
            .set_read_timeout(Some(Duration::from_secs(120)))
            .expect("set timeout");
        write!(
            stream,
            "{method} /backstop/{route} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{payload}",
            payload.len()
        )
        .expect("send control request");
        let mut response = String::new();
        stream
            .read_to_string(&mut response)
            .expect("read control response");
        let (head, body) = response.split_once("\r\n\r\n").expect("an HTTP response");
        let status = head.split_whitespace().nth(1).unwrap_or("?");
        assert_eq!(status, "200", "control {method} {route} failed: {body}");
        serde_json::from_str(body).expect("control endpoints answer JSON")
    }

    /// Creates the primary-region workload and the DR network; returns their ids.
    pub fn seed(&self) -> Seed {
        let seeded = self.control(
            "POST",
            "seed",
            &json!({ "primaryRegion": PRIMARY_REGION, "drRegion": DR_REGION }),
        );
        serde_json::from_value(seeded).expect("the seed answers as tests/src/seed.rs reads it")
    }

    /// Adds faults (see tests/emulator/README.md); returns the fault report.
    pub fn inject(&self, faults: Value) -> Value {
        self.control("POST", "faults", &faults)
    }

    pub fn fault_report(&self) -> Value {
        self.control("GET", "faults", &json!({}))
    }

    /// Deploys the real `template.yaml` into the DR region as stack `backstop`, each function
    /// running its locally built handler binary with the template's own settings.
    pub fn deploy_stack(&self) -> Stack {
        self.deploy_stack_with(json!({}))
    }

    /// `deploy_stack` with template parameters (e.g. `{"FailoverAlarmNames": "a,b"}`). The
    /// seeded world has its DR vault already, so the stack uses it unless told otherwise.
    pub fn deploy_stack_with(&self, parameters: Value) -> Stack {
        let mut parameters = parameters;
        if parameters.get("CreateBackupVault").is_none() {
            parameters["CreateBackupVault"] = json!("false");
        }
        let deployed = self.deploy_template("template.yaml", DR_REGION, "backstop", parameters);
        Stack { deployed }
    }

    /// Deploys a template of the repository (path relative to its root) into `region`.
    pub fn deploy_template(
        &self,
        path: &str,
        region: &str,
        name: &str,
        parameters: Value,
    ) -> Value {
        let binary_dir = handler_binary("resolve-plan")
            .parent()
            .expect("the binaries' directory")
            .to_path_buf();
        self.control(
            "POST",
            "deploy",
            &json!({
                "template": repo_root().join(path),
                "region": region,
                "stackName": name,
                "parameters": parameters,
                "binaryDir": binary_dir,
            }),
        )
    }
}

/// What `template.yaml` created in the emulator: its resources and outputs.
pub struct Stack {
    pub deployed: Value,
}

impl Stack {
    /// The deployed name of the function whose handler is `binary` (e.g. `resolve-plan`).
    pub fn function(&self, binary: &str) -> String {
        self.deployed["resources"]
            .as_object()
            .and_then(|resources| {
                resources
                    .values()
                    .find(|r| r["Binary"] == binary)
                    .and_then(|r| r["ref"].as_str())
            })
            .unwrap_or_else(|| panic!("the template deploys no function for handler {binary}"))
            .to_string()
    }

    pub fn output(&self, name: &str) -> String {
        self.deployed["outputs"][name]
            .as_str()
            .unwrap_or_else(|| panic!("the stack has no output {name}"))
            .to_string()
    }

    /// The recovery state machine's ARN.
    pub fn state_machine(&self) -> String {
        self.output("RecoveryStateMachineArn")
    }

    /// A part of an execution's stored state (`run`, `restore`, `launch`, `attach`) as the
    /// steps wrote it to the run-state bucket; `Null` when not written.
    pub async fn stored(&self, emulator: &Emulator, execution: &str, part: &str) -> Value {
        let s3 = s3_client(emulator).await;
        let object = s3
            .get_object()
            .bucket(self.output("RunStateBucketName"))
            .key(format!("state/{execution}/{part}.json"))
            .send()
            .await;
        match object {
            Ok(object) => {
                let bytes = object
                    .body
                    .collect()
                    .await
                    .expect("object body")
                    .into_bytes();
                serde_json::from_slice(&bytes).expect("stored state is JSON")
            }
            Err(_) => Value::Null,
        }
    }

    /// Overwrites a part of an execution's stored state (a test standing in for a lost write
    /// or an edited state).
    pub async fn store(&self, emulator: &Emulator, execution: &str, part: &str, value: &Value) {
        let key = format!("state/{execution}/{part}.json");
        self.put_object(emulator, &key, &value.to_string()).await;
    }

    /// Puts an object in the stack's run-state bucket (e.g. a plan under `plans/`).
    pub async fn put_object(&self, emulator: &Emulator, key: &str, body: &str) {
        s3_client(emulator)
            .await
            .put_object()
            .bucket(self.output("RunStateBucketName"))
            .key(key)
            .body(body.as_bytes().to_vec().into())
            .send()
            .await
            .expect("put the object");
    }
}

async fn s3_client(emulator: &Emulator) -> aws_sdk_s3::Client {
    let config = emulator.sdk_config(DR_REGION).await;
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(true)
            .build(),
    )
}

impl Drop for Emulator {
    fn drop(&mut self) {
        // SIGTERM lets the emulator stop its Lambda processes; SIGKILL only if it hangs.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

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

/// A DR plan for the seeded workload: its two data volumes, database and file system,
/// the app instance from the golden AMI, and its DNS records.
/// The repository's example DR network template (`dr-region/network.yaml`).
pub fn network_template() -> String {
    std::fs::read_to_string(repo_root().join("dr-region/network.yaml"))
        .expect("dr-region/network.yaml")
}

/// Uploads the example network template next to the run state; its `s3://` address.
pub async fn upload_network_template(emulator: &Emulator, stack: &Stack) -> String {
    const KEY: &str = "templates/network.yaml";
    stack.put_object(emulator, KEY, &network_template()).await;
    format!("s3://{}/{KEY}", stack.output("RunStateBucketName"))
}

/// The seeded plan with a `network` block and its network settings taken from the stack's
/// outputs: the instance's subnet and security group, one volume's AZ, the database's subnet
/// group and security group. The other volume keeps a literal AZ and the file system needs no
/// network: those restores start before the stack is ready.
pub fn plan_on_network_stack(seed: &Seed, network: Value) -> Value {
    let mut plan = plan_for(seed);
    plan["network"] = network;
    plan["instances"][0]["subnetIds"] = json!([{ "stackOutput": "PrivateSubnetA" }]);
    plan["instances"][0]["securityGroupIds"] = json!([{ "stackOutput": "AppSecurityGroup" }]);
    plan["resources"][0]["ebs"]["availabilityZone"] = json!({ "stackOutput": "AvailabilityZoneA" });
    plan["resources"][2]["rds"]["dbSubnetGroupName"] =
        json!({ "stackOutput": "DbSubnetGroupName" });
    plan["resources"][2]["rds"]["vpcSecurityGroupIds"] =
        json!([{ "stackOutput": "DbSecurityGroup" }]);
    plan
}

pub fn plan_for(seed: &Seed) -> Value {
    let primary = &seed.primary;
    let dr = &seed.dr;
    let dr_az = &dr.subnets[0].availability_zone;
    json!({
        "name": "shop",
        "primaryRegion": PRIMARY_REGION,
        "drRegion": DR_REGION,
        "backupVault": dr.backup_vault.name,
        "objectives": { "rtoMinutes": 60, "rpoMinutes": 240 },
        "resources": [
            {
                "name": "app-data", "kind": "ebs", "arn": primary.volumes["app-data"].arn,
                "ebs": { "availabilityZone": dr_az, "volumeType": "gp3",
                         "attachTo": { "instance": "app", "device": "/dev/sdf" } }
            },
            {
                "name": "app-logs", "kind": "ebs", "arn": primary.volumes["app-logs"].arn,
                "ebs": { "availabilityZone": dr_az,
                         "attachTo": { "instance": "app", "device": "/dev/sdg" } }
            },
            {
                "name": "orders-db", "kind": "rds", "arn": primary.db.arn,
                "rds": { "dbInstanceIdentifier": "orders", "dbInstanceClass": "db.t3.medium",
                         "dbSubnetGroupName": dr.db_subnet_group,
                         "vpcSecurityGroupIds": [dr.db_security_group_id] }
            },
            {
                "name": "media", "kind": "efs", "arn": primary.file_system.arn,
                "efs": { "performanceMode": "generalPurpose" }
            }
        ],
        "instances": [
            {
                "name": "app",
                "ami": { "ssmParameter": dr.golden_ami_parameter },
                "instanceTypes": ["m6i.large", "m5.large"],
                "subnetIds": [dr.subnets[0].id, dr.subnets[1].id],
                "securityGroupIds": [dr.app_security_group_id]
            }
        ],
        "dns": [
            {
                "hostedZoneId": seed.dns.hosted_zone_id, "recordName": "app.shop.example.com",
                "recordType": "A", "ttl": 60, "drillRecordName": "drill.app.shop.example.com",
                "target": { "instance": "app" }
            }
        ]
    })
}

/// Backs up a resource in the primary vault and waits for the completed recovery point.
pub async fn back_up(backup: &aws_sdk_backup::Client, seed: &Seed, resource_arn: &str) -> String {
    let job = backup
        .start_backup_job()
        .backup_vault_name("backstop-primary")
        .resource_arn(resource_arn)
        .iam_role_arn(seed.backup_role_arn.as_str())
        .send()
        .await
        .expect("start backup job");
    backup_completed(backup, job.backup_job_id().unwrap()).await
}

async fn backup_completed(backup: &aws_sdk_backup::Client, job_id: &str) -> String {
    wait_for("backup job", Duration::from_secs(60), || async {
        let job = backup
            .describe_backup_job()
            .backup_job_id(job_id)
            .send()
            .await
            .expect("describe backup job");
        match job.state().map(|s| s.as_str()) {
            Some("COMPLETED") => Some(job.recovery_point_arn().unwrap().to_string()),
            Some("FAILED") => panic!("backup failed: {:?}", job.status_message()),
            _ => None,
        }
    })
    .await
}

/// Copies a recovery point to the DR vault and returns the DR copy's ARN.
pub async fn copy_to_dr(
    backup: &aws_sdk_backup::Client,
    seed: &Seed,
    recovery_point: &str,
) -> String {
    let job = backup
        .start_copy_job()
        .recovery_point_arn(recovery_point)
        .source_backup_vault_name("backstop-primary")
        .destination_backup_vault_arn(seed.dr.backup_vault.arn.as_str())
        .iam_role_arn(seed.backup_role_arn.as_str())
        .send()
        .await
        .expect("start copy job");
    copy_completed(backup, job.copy_job_id().unwrap()).await
}

async fn copy_completed(backup: &aws_sdk_backup::Client, job_id: &str) -> String {
    wait_for("copy job", Duration::from_secs(60), || async {
        let copy = backup
            .describe_copy_job()
            .copy_job_id(job_id)
            .send()
            .await
            .expect("describe copy job")
            .copy_job
            .unwrap();
        match copy.state() {
            Some(aws_sdk_backup::types::CopyJobState::Completed) => {
                Some(copy.destination_recovery_point_arn().unwrap().to_string())
            }
            Some(aws_sdk_backup::types::CopyJobState::Failed) => {
                panic!("copy failed: {:?}", copy.status_message())
            }
            _ => None,
        }
    })
    .await
}

/// Backs up every resource of `arns` in the primary region and copies it to the DR vault,
/// as AWS Backup's plan and copy rule would have done before the disaster; the jobs run side
/// by side, as AWS Backup runs them. Returns the DR copies' ARNs in the order of `arns`.
pub async fn protect(emulator: &Emulator, seed: &Seed, arns: &[&str]) -> Vec<String> {
    let backup = aws_sdk_backup::Client::new(&emulator.sdk_config(PRIMARY_REGION).await);
    let role = seed.backup_role_arn.as_str();
    let mut backup_jobs = Vec::new();
    for arn in arns {
        let job = backup
            .start_backup_job()
            .backup_vault_name("backstop-primary")
            .resource_arn(*arn)
            .iam_role_arn(role)
            .send()
            .await
            .expect("start backup job");
        backup_jobs.push(job.backup_job_id().unwrap().to_string());
    }
    let mut copy_jobs = Vec::new();
    for job_id in backup_jobs {
        let point = backup_completed(&backup, &job_id).await;
        let job = backup
            .start_copy_job()
            .recovery_point_arn(point)
            .source_backup_vault_name("backstop-primary")
            .destination_backup_vault_arn(seed.dr.backup_vault.arn.as_str())
            .iam_role_arn(role)
            .send()
            .await
            .expect("start copy job");
        copy_jobs.push(job.copy_job_id().unwrap().to_string());
    }
    let mut copies = Vec::new();
    for job_id in copy_jobs {
        copies.push(copy_completed(&backup, &job_id).await);
    }
    copies
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

/// A failover reads its plan only from the stack's plan parameter: an input written with the
/// plan inline (as tests write them) is started as an operator would start it, with the plan
/// put in the parameter first. Drills keep their inline plan.
pub async fn as_operator_starts_it(emulator: &Emulator, input: Value) -> Value {
    let mut input = input;
    let inline_failover = input["mode"] == "failover" && input["plan"].is_object();
    if inline_failover {
        let plan = input.as_object_mut().unwrap().remove("plan").unwrap();
        put_plan(emulator, &plan).await;
        input["planParameter"] = json!(PLAN_PARAMETER);
    }
    input
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

/// The source ARNs of the seeded workload's four protected resources, in plan order:
/// app-data, app-logs (EBS), orders (RDS), media (EFS).
pub fn workload_arns(seed: &Seed) -> Vec<String> {
    seed.workload_arns()
}

/// A fresh emulator with the workload seeded and all four resources backed up and
/// copied to the DR vault.
pub async fn protected_workload(test_name: &str) -> (Emulator, Seed) {
    let emulator = Emulator::start(test_name);
    let seed = emulator.seed();
    let arns = workload_arns(&seed);
    let arns: Vec<&str> = arns.iter().map(String::as_str).collect();
    protect(&emulator, &seed, &arns).await;
    (emulator, seed)
}

/// The DR-region instances tagged with `run_id`.
pub async fn instances_of_run(
    emulator: &Emulator,
    run_id: &str,
) -> Vec<aws_sdk_ec2::types::Instance> {
    let ec2 = aws_sdk_ec2::Client::new(&emulator.sdk_config(DR_REGION).await);
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
