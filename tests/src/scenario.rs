//! A scenario: one emulator with its seeded world, Backstop's stack deployed into it, and SDK
//! clients for both regions built once. Tests read as what an operator does and checks:
//! `scenario.run_to_end("drill-1", input)`, `scenario.a_record("app.shop.example.com")`.

use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_sfn::operation::describe_execution::DescribeExecutionOutput;
use serde_json::Value;

use crate::{Emulator, Seed, Stack, DR_REGION, PRIMARY_REGION};

/// SDK clients of one region, pointed at the emulator.
#[derive(Clone)]
pub struct Clients {
    pub backup: aws_sdk_backup::Client,
    pub cloudformation: aws_sdk_cloudformation::Client,
    pub ec2: aws_sdk_ec2::Client,
    pub efs: aws_sdk_efs::Client,
    pub kms: aws_sdk_kms::Client,
    pub lambda: aws_sdk_lambda::Client,
    pub rds: aws_sdk_rds::Client,
    pub route53: aws_sdk_route53::Client,
    pub s3: aws_sdk_s3::Client,
    pub sfn: aws_sdk_sfn::Client,
    pub ssm: aws_sdk_ssm::Client,
}

impl Clients {
    pub fn new(config: &SdkConfig) -> Clients {
        Clients {
            backup: aws_sdk_backup::Client::new(config),
            cloudformation: aws_sdk_cloudformation::Client::new(config),
            ec2: aws_sdk_ec2::Client::new(config),
            efs: aws_sdk_efs::Client::new(config),
            kms: aws_sdk_kms::Client::new(config),
            lambda: aws_sdk_lambda::Client::new(config),
            rds: aws_sdk_rds::Client::new(config),
            route53: aws_sdk_route53::Client::new(config),
            s3: aws_sdk_s3::Client::from_conf(
                aws_sdk_s3::config::Builder::from(config)
                    .force_path_style(true)
                    .build(),
            ),
            sfn: aws_sdk_sfn::Client::new(config),
            ssm: aws_sdk_ssm::Client::new(config),
        }
    }
}

pub struct Scenario {
    pub emulator: Emulator,
    pub seed: Seed,
    pub stack: Stack,
    /// Where Backstop runs and recovers.
    pub dr: Clients,
    /// Where production ran (and Route 53's control plane answers).
    pub primary: Clients,
}

impl Scenario {
    /// The seeded workload with all four resources backed up and copied to the DR vault,
    /// and the stack deployed: where most scenarios start.
    pub async fn protected(test_name: &str) -> Scenario {
        let (emulator, seed) = crate::protected_workload(test_name).await;
        let stack = emulator.deploy_stack();
        Scenario::of(emulator, seed, stack).await
    }

    /// The seeded workload, nothing backed up yet, and the stack deployed.
    pub async fn seeded(test_name: &str) -> Scenario {
        let emulator = Emulator::start(test_name);
        let seed = emulator.seed();
        let stack = emulator.deploy_stack();
        Scenario::of(emulator, seed, stack).await
    }

    /// A scenario of a world prepared by hand (faults injected before the deploy, template
    /// parameters, other time scales).
    pub async fn of(emulator: Emulator, seed: Seed, stack: Stack) -> Scenario {
        let dr = Clients::new(&emulator.sdk_config(DR_REGION).await);
        let primary = Clients::new(&emulator.sdk_config(PRIMARY_REGION).await);
        Scenario {
            emulator,
            seed,
            stack,
            dr,
            primary,
        }
    }

    /// The DR plan of the seeded workload (see [`crate::plan_for`]).
    pub fn plan(&self) -> Value {
        crate::plan_for(&self.seed)
    }

    /// A run of the seeded plan in `mode` (`drill` or `failover`), polling every 2 s.
    pub fn input(&self, mode: &str) -> Value {
        crate::run_input(mode, &self.plan())
    }

    /// The recovery state machine's ARN.
    pub fn machine(&self) -> String {
        self.stack.state_machine()
    }

    /// Starts an execution named `run_id` as an operator would; its ARN.
    pub async fn start(&self, run_id: &str, input: Value) -> String {
        crate::start_run(&self.emulator, &self.machine(), run_id, input).await
    }

    /// Waits (at most `timeout`) until the execution is no longer RUNNING.
    pub async fn ended(&self, execution: &str, timeout: Duration) -> DescribeExecutionOutput {
        crate::run_ended(&self.emulator, execution, timeout).await
    }

    /// Starts an execution named `run_id` and waits until it is no longer RUNNING.
    pub async fn run_to_end(&self, run_id: &str, input: Value) -> DescribeExecutionOutput {
        crate::run_to_end(&self.emulator, &self.machine(), run_id, input).await
    }

    /// Teardown passes by hand, as the state machine loops them, until one says it is
    /// finished (`allow_failover`: the operator's consent for a failover's or failback's).
    pub async fn teardown_by_hand(&self, run_id: &str, allow_failover: bool) -> Value {
        let deadline = std::time::Instant::now() + Duration::from_secs(300);
        let mut previous = Value::Null;
        loop {
            let request = serde_json::json!({ "runId": run_id, "allowFailover": allow_failover, "previous": previous });
            let pass = self
                .invoke("teardown", &request)
                .await
                .expect("a teardown pass by hand");
            if pass["finished"] == true {
                return pass;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "teardown by hand did not finish: {pass:#}"
            );
            previous = pass;
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// Invokes the deployed function whose handler is `binary` (e.g. `teardown`).
    pub async fn invoke(&self, binary: &str, payload: &Value) -> Result<Value, (String, String)> {
        crate::invoke(&self.emulator, &self.stack.function(binary), payload).await
    }

    /// The A record `name` in the seeded zone: (values, ttl).
    pub async fn a_record(&self, name: &str) -> Option<(Vec<String>, i64)> {
        crate::a_record(&self.emulator, &self.seed, name).await
    }

    /// The DR-region instances tagged with `run_id`.
    pub async fn instances_of_run(&self, run_id: &str) -> Vec<aws_sdk_ec2::types::Instance> {
        crate::instances_of_run(&self.emulator, run_id).await
    }

    /// The primary-region instances tagged with `run_id` (a failback's, or its drill's).
    pub async fn instances_at_home(&self, run_id: &str) -> Vec<aws_sdk_ec2::types::Instance> {
        crate::instances_tagged(&self.primary.ec2, run_id).await
    }

    /// Every restore job AWS Backup lists in the DR region.
    pub async fn restore_jobs(&self) -> Vec<aws_sdk_backup::types::RestoreJobsListMember> {
        crate::restore_jobs_in_dr(&self.emulator).await
    }

    /// A part of an execution's stored state (`run`, `restore`, `launch`, ...); `Null` when
    /// not written.
    pub async fn stored(&self, execution: &str, part: &str) -> Value {
        self.stack.stored(&self.emulator, execution, part).await
    }

    /// Overwrites a part of an execution's stored state.
    pub async fn store(&self, execution: &str, part: &str, value: &Value) {
        self.stack
            .store(&self.emulator, execution, part, value)
            .await
    }

    /// The state the execution `run_id` had when it entered `state_name`.
    pub async fn state_entering(&self, run_id: &str, state_name: &str) -> Value {
        crate::state_entering(&self.emulator, &self.machine(), run_id, state_name).await
    }

    /// An object of the evidence bucket (a run's report, a plan's history), as text.
    pub async fn evidence(&self, key: &str) -> String {
        let object = self
            .dr
            .s3
            .get_object()
            .bucket(self.stack.output("EvidenceBucketName"))
            .key(key)
            .send()
            .await
            .unwrap_or_else(|err| panic!("reading evidence {key}: {err:?}"));
        let bytes = object.body.collect().await.unwrap().into_bytes();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    /// The JSON messages published to an SNS topic so far.
    pub fn topic_messages(&self, topic_arn: &str) -> Vec<Value> {
        crate::topic_messages(&self.emulator, topic_arn)
    }

    /// Adds faults to the emulator (tests/emulator/README.md); the fault report.
    pub fn inject(&self, faults: Value) -> Value {
        self.emulator.inject(faults)
    }

    /// The first notice of a failed `job` (`backup` or `copy`) on the stack's notice topic
    /// (waits for it).
    pub async fn job_notice(&self, job: &str) -> Value {
        let topic = self.stack.output("NoticeTopicArn");
        crate::wait_for(
            "the failed job's notice",
            Duration::from_secs(60),
            || async {
                self.topic_messages(&topic)
                    .into_iter()
                    .find(|m| m["job"] == job)
            },
        )
        .await
    }

    /// The approval request a gated failover `run_id` published (waits for it): its task token
    /// and the whole message.
    pub async fn approval_request(&self, run_id: &str) -> (String, Value) {
        let topic = self.stack.output("NoticeTopicArn");
        crate::wait_for("the approval request", Duration::from_secs(120), || async {
            self.topic_messages(&topic)
                .into_iter()
                .find(|m| m["kind"] == "approval-request" && m["runId"] == run_id)
                .map(|m| (m["taskToken"].as_str().unwrap().to_string(), m))
        })
        .await
    }
}
