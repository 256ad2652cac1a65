//! The DR network from CloudFormation as a step of the run: a drill builds its own copy of the
//! network from the plan's template, restores and launches into it, and its teardown deletes
//! the copy after what ran inside it; a failover reuses the existing DR network stack, or
//! creates it, and never deletes it. The example template is the repository's own
//! (`dr-region/network.yaml`), deployed by the emulator's CloudFormation.

use aws_sdk_cloudformation::types::Parameter;
use backstop_tests::{
    assert_succeeded, network_template, plan_on_network_stack, protected_workload, run_input,
    run_to_end, upload_network_template, Emulator, Scenario, DR_REGION,
};
use serde_json::{json, Value};

use crate::drill::{created_by_restores, leftovers};

const PRODUCTION_NETWORK: &str = "shop-dr-network";

async fn cloudformation(emulator: &Emulator) -> aws_sdk_cloudformation::Client {
    aws_sdk_cloudformation::Client::new(&emulator.sdk_config(DR_REGION).await)
}

/// The DR network a failover would use, deployed ahead of time (as an operator would).
async fn deploy_production_network(emulator: &Emulator, name: &str) -> Value {
    let cf = cloudformation(emulator).await;
    cf.create_stack()
        .stack_name(name)
        .template_body(network_template())
        .set_parameters(Some(
            [
                ("VpcCidr", "10.30.0.0/16"),
                ("SubnetACidr", "10.30.1.0/24"),
                ("SubnetBCidr", "10.30.2.0/24"),
            ]
            .into_iter()
            .map(|(key, value)| {
                Parameter::builder()
                    .parameter_key(key)
                    .parameter_value(value)
                    .build()
            })
            .collect(),
        ))
        .send()
        .await
        .expect("create the DR network stack");
    backstop_tests::wait_for(
        "the DR network stack",
        std::time::Duration::from_secs(60),
        || async {
            let stack = describe(emulator, name).await?;
            (stack["status"] == "CREATE_COMPLETE").then_some(stack)
        },
    )
    .await
}

/// A stack's status and outputs (by name or id), `None` if it does not exist.
async fn describe(emulator: &Emulator, name_or_id: &str) -> Option<Value> {
    let cf = cloudformation(emulator).await;
    let stacks = cf
        .describe_stacks()
        .stack_name(name_or_id)
        .send()
        .await
        .ok()?;
    let stack = stacks.stacks().first()?.clone();
    let outputs: serde_json::Map<String, Value> = stack
        .outputs()
        .iter()
        .map(|o| {
            (
                o.output_key().unwrap_or_default().to_string(),
                json!(o.output_value()),
            )
        })
        .collect();
    Some(json!({
        "id": stack.stack_id(),
        "status": stack.stack_status().map(|s| s.as_str()),
        "outputs": outputs,
    }))
}

fn report_of(
    execution: &aws_sdk_sfn::operation::describe_execution::DescribeExecutionOutput,
) -> Value {
    serde_json::from_str(execution.output().unwrap_or("null")).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_drill_builds_its_own_network_runs_inside_it_and_leaves_neither_behind() {
    let scenario = Scenario::protected("network-drill").await;
    let production = deploy_production_network(&scenario.emulator, PRODUCTION_NETWORK).await;
    let template = upload_network_template(&scenario.emulator, &scenario.stack).await;
    let production_record = scenario.a_record("app.shop.example.com").await;

    // an output the template does not declare stops the drill before anything is created
    let mut broken = plan_on_network_stack(
        &scenario.seed,
        json!({ "stackName": PRODUCTION_NETWORK, "template": template }),
    );
    broken["instances"][0]["subnetIds"] = json!([{ "stackOutput": "PublicSubnetA" }]);
    let refused = scenario
        .run_to_end("network-broken", run_input("drill", &broken))
        .await;
    assert_eq!(refused.status().as_str(), "FAILED");
    assert_eq!(refused.error(), Some("Backstop.NotReady"));
    let cause = refused.cause().unwrap_or_default();
    assert!(cause.contains("PublicSubnetA"), "{cause}");
    assert!(scenario.restore_jobs().await.is_empty());
    let stacks = scenario
        .dr
        .cloudformation
        .list_stacks()
        .send()
        .await
        .unwrap();
    assert_eq!(
        stacks.stack_summaries().len(),
        2,
        "only the Backstop stack and the DR network: {:?}",
        stacks.stack_summaries()
    );

    let plan = plan_on_network_stack(
        &scenario.seed,
        json!({ "stackName": PRODUCTION_NETWORK, "template": template }),
    );
    let execution = scenario
        .run_to_end("network-drill-1", run_input("drill", &plan))
        .await;
    assert_succeeded(&execution);
    let report = report_of(&execution);

    // the drill's own stack, named for the run, its outputs used by the restores and launch
    let network = scenario.stored("network-drill-1", "network").await;
    let drill_stack = network["stackName"].as_str().unwrap();
    assert!(
        drill_stack.starts_with("shop-dr-network-drill-"),
        "{network:#}"
    );
    assert_eq!(report["network"]["action"], "created", "{report:#}");
    let outputs = &network["outputs"];
    assert_ne!(outputs["VpcId"], production["outputs"]["VpcId"]);
    assert_eq!(report["launched"][0]["subnetId"], outputs["PrivateSubnetA"]);
    let timeline: Vec<&str> = report["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["step"].as_str())
        .collect();
    assert!(timeline.contains(&"NetworkStack (created)"), "{timeline:?}");
    // what needs nothing from the stack started before it was ready; the rest after
    let ready_at = aws_smithy_types::DateTime::from_str(
        network["readyAt"].as_str().unwrap(),
        aws_smithy_types::date_time::Format::DateTime,
    )
    .unwrap();
    let jobs = scenario.restore_jobs().await;
    let started = |kind: &str| -> Vec<bool> {
        jobs.iter()
            .filter(|j| j.resource_type() == Some(kind))
            .map(|j| j.creation_date().unwrap().secs() < ready_at.secs())
            .collect()
    };
    assert_eq!(started("EFS"), [true], "the file system waits for nothing");
    assert_eq!(
        started("RDS"),
        [false],
        "the database needs the stack's subnet group"
    );
    let mut volumes = started("EBS");
    volumes.sort();
    assert_eq!(
        volumes,
        [false, true],
        "one volume's AZ comes from the stack"
    );

    // torn down: the stack after what ran inside it, nothing of the run left
    let teardown = &report["teardown"];
    assert_eq!(teardown["finished"], true, "{teardown:#}");
    assert!(
        teardown["deleted"].to_string().contains(drill_stack),
        "{teardown:#}"
    );
    let gone = describe(&scenario.emulator, network["stackId"].as_str().unwrap())
        .await
        .expect("a deleted stack is described by its id");
    assert_eq!(gone["status"], "DELETE_COMPLETE");
    let ec2 = &scenario.dr.ec2;
    let vpc = outputs["VpcId"].as_str().unwrap();
    assert!(
        ec2.describe_vpcs().vpc_ids(vpc).send().await.is_err(),
        "the drill's VPC {vpc} is gone"
    );
    let created: Vec<String> = report["restored"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|j| j["createdResourceArn"].as_str().map(str::to_string))
        .collect();
    let left = leftovers(&scenario, "network-drill-1", &created).await;
    assert!(left.is_empty(), "left behind: {left:?}");
    // production's network and DNS untouched
    let after = describe(&scenario.emulator, PRODUCTION_NETWORK)
        .await
        .unwrap();
    assert_eq!(after, production);
    assert_eq!(
        scenario.a_record("app.shop.example.com").await,
        production_record
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failover_reuses_the_existing_dr_network_as_it_is() {
    let scenario = Scenario::protected("network-reuse").await;
    let production = deploy_production_network(&scenario.emulator, PRODUCTION_NETWORK).await;
    let plan = plan_on_network_stack(&scenario.seed, json!({ "stackName": PRODUCTION_NETWORK }));

    let execution = scenario
        .run_to_end("network-failover-reuse", run_input("failover", &plan))
        .await;
    assert_succeeded(&execution);
    let report = report_of(&execution);
    assert_eq!(report["network"]["action"], "reused", "{report:#}");
    assert_eq!(report["network"]["stackName"], PRODUCTION_NETWORK);
    assert_eq!(
        report["launched"][0]["subnetId"],
        production["outputs"]["PrivateSubnetA"]
    );
    let rds = &scenario.dr.rds;
    let db = rds
        .describe_db_instances()
        .db_instance_identifier("orders")
        .send()
        .await
        .unwrap();
    let group = db.db_instances()[0]
        .db_subnet_group()
        .and_then(|g| g.db_subnet_group_name());
    assert_eq!(group, production["outputs"]["DbSubnetGroupName"].as_str());
    assert_eq!(
        describe(&scenario.emulator, PRODUCTION_NETWORK)
            .await
            .unwrap(),
        production
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failover_without_a_dr_network_creates_it_shows_it_in_the_timeline_and_keeps_it() {
    let scenario = Scenario::protected("network-create").await;
    let template = upload_network_template(&scenario.emulator, &scenario.stack).await;
    let plan = plan_on_network_stack(
        &scenario.seed,
        json!({ "stackName": PRODUCTION_NETWORK, "template": template,
                "parameters": { "VpcCidr": "10.40.0.0/16", "SubnetACidr": "10.40.1.0/24",
                                "SubnetBCidr": "10.40.2.0/24" } }),
    );

    let execution = scenario
        .run_to_end("network-failover-create", run_input("failover", &plan))
        .await;
    assert_succeeded(&execution);
    let report = report_of(&execution);
    assert_eq!(report["network"]["action"], "created", "{report:#}");
    let step = report["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["step"] == "NetworkStack (created)")
        .unwrap_or_else(|| panic!("no network step: {:#}", report["timeline"]));
    assert!(step["endedAt"].is_string(), "{step:#}");
    // a failover never deletes its network: the stack stays, serving what was launched in it
    let network = describe(&scenario.emulator, PRODUCTION_NETWORK)
        .await
        .unwrap();
    assert_eq!(network["status"], "CREATE_COMPLETE");
    assert_eq!(
        report["launched"][0]["subnetId"],
        network["outputs"]["PrivateSubnetA"]
    );
    let ec2 = &scenario.dr.ec2;
    let vpcs = ec2
        .describe_vpcs()
        .vpc_ids(network["outputs"]["VpcId"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(vpcs.vpcs()[0].cidr_block(), Some("10.40.0.0/16"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_drill_whose_network_fails_to_build_stops_names_the_cause_and_deletes_what_it_started() {
    let scenario = Scenario::protected("network-fails").await;
    let template = upload_network_template(&scenario.emulator, &scenario.stack).await;
    // a subnet outside its VPC: CloudFormation accepts the stack, the subnet fails, it rolls back
    let plan = plan_on_network_stack(
        &scenario.seed,
        json!({ "stackName": PRODUCTION_NETWORK, "template": template,
                "parameters": { "SubnetACidr": "10.99.1.0/24" } }),
    );
    let execution = scenario
        .run_to_end("network-fails-1", run_input("drill", &plan))
        .await;
    assert_eq!(execution.status().as_str(), "FAILED");
    assert_eq!(execution.error(), Some("Backstop.NetworkFailed"));
    let cause = execution.cause().unwrap_or_default();
    assert!(
        cause.contains("ROLLBACK_COMPLETE") && cause.contains("10.99.1.0/24"),
        "{cause}"
    );
    // nothing needing the network started; what did start (the file system, one volume) and
    // the rolled-back stack are deleted
    let kinds: Vec<String> = scenario
        .restore_jobs()
        .await
        .iter()
        .filter_map(|j| j.resource_type().map(str::to_string))
        .collect();
    assert!(!kinds.iter().any(|k| k == "RDS"), "{kinds:?}");
    let teardown = scenario.stored("network-fails-1", "teardown").await;
    assert_eq!(teardown["finished"], true, "{teardown:#}");
    assert!(
        teardown["left"].as_array().unwrap().is_empty(),
        "{teardown:#}"
    );
    let network = scenario.stored("network-fails-1", "network").await;
    let gone = describe(&scenario.emulator, network["stackId"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(gone["status"], "DELETE_COMPLETE");
    let created = created_by_restores(&scenario).await;
    let left = leftovers(&scenario, "network-fails-1", &created).await;
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failover_with_a_template_updates_the_existing_network_keeping_what_the_plan_does_not_set(
) {
    let (emulator, seed) = protected_workload("network-update").await;
    let stack = emulator.deploy_stack();
    let production = deploy_production_network(&emulator, PRODUCTION_NETWORK).await;
    let template = upload_network_template(&emulator, &stack).await;
    // the plan sets one parameter; the stack's CIDRs were set when it was deployed
    let plan = plan_on_network_stack(
        &seed,
        json!({ "stackName": PRODUCTION_NETWORK, "template": template,
                "parameters": { "AppPort": "8443" } }),
    );

    let execution = run_to_end(
        &emulator,
        &stack.state_machine(),
        "network-failover-update",
        run_input("failover", &plan),
    )
    .await;
    assert_succeeded(&execution);
    let report = report_of(&execution);
    assert_eq!(report["network"]["action"], "updated", "{report:#}");
    let after = describe(&emulator, PRODUCTION_NETWORK).await.unwrap();
    assert_eq!(after["outputs"]["VpcId"], production["outputs"]["VpcId"]);
    let cf = cloudformation(&emulator).await;
    let described = cf
        .describe_stacks()
        .stack_name(PRODUCTION_NETWORK)
        .send()
        .await
        .unwrap();
    let parameters: std::collections::BTreeMap<String, String> = described.stacks()[0]
        .parameters()
        .iter()
        .map(|p| {
            (
                p.parameter_key().unwrap_or_default().to_string(),
                p.parameter_value().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert_eq!(parameters.get("AppPort").map(String::as_str), Some("8443"));
    assert_eq!(
        parameters.get("VpcCidr").map(String::as_str),
        Some("10.30.0.0/16"),
        "{parameters:?}"
    );
    assert_eq!(
        report["launched"][0]["subnetId"],
        after["outputs"]["PrivateSubnetA"]
    );
}
