//! Steps 2-4 of recovery against the emulator: instances from the golden AMI, restored
//! volumes attached, DNS switched after a health gate; drills never touch production DNS.

use backstop_tests::{assert_succeeded, plan_for, protected_workload, run_input, Scenario};
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread")]
async fn a_failover_launches_from_the_golden_ami_attaches_the_volumes_and_switches_production_dns()
{
    let scenario = Scenario::protected("failover").await;
    let primary_ip = scenario.seed.primary.app_private_ip.as_str().to_string();
    assert_eq!(
        scenario.a_record("app.shop.example.com").await,
        Some((vec![primary_ip.clone()], 300))
    );

    let execution = scenario
        .run_to_end("failover-1", scenario.input("failover"))
        .await;
    assert_succeeded(&execution);
    let output: Value = serde_json::from_str(execution.output().unwrap()).unwrap();

    // the instance runs the DR copy of the golden AMI, in the AZ its volumes were restored in
    let instances = scenario.instances_of_run("failover-1").await;
    assert_eq!(instances.len(), 1);
    let instance = &instances[0];
    assert_eq!(
        instance.image_id(),
        Some(scenario.seed.dr.golden_ami_id.as_str())
    );
    let dr_az = scenario.seed.dr.subnets[0].availability_zone.as_str();
    assert_eq!(
        instance.placement().and_then(|p| p.availability_zone()),
        Some(dr_az)
    );

    // the restored volumes are attached at the planned devices
    let ec2 = &scenario.dr.ec2;
    let jobs = output["restored"].as_array().unwrap();
    for (resource, device) in [("app-data", "/dev/sdf"), ("app-logs", "/dev/sdg")] {
        let job = jobs.iter().find(|j| j["resource"] == resource).unwrap();
        let volume_id = job["createdResourceArn"]
            .as_str()
            .unwrap()
            .rsplit('/')
            .next()
            .unwrap()
            .to_string();
        let volumes = ec2
            .describe_volumes()
            .volume_ids(&volume_id)
            .send()
            .await
            .unwrap();
        let attachment = &volumes.volumes()[0].attachments()[0];
        assert_eq!(
            attachment.instance_id(),
            instance.instance_id(),
            "{resource}"
        );
        assert_eq!(attachment.device(), Some(device), "{resource}");
    }

    // production DNS points at the DR instance with the plan's TTL; the old value is kept for failback
    let dr_ip = instance.private_ip_address().unwrap().to_string();
    assert_eq!(
        scenario.a_record("app.shop.example.com").await,
        Some((vec![dr_ip.clone()], 60))
    );
    let record = &output["dns"][0];
    assert_eq!(record["recordName"], "app.shop.example.com");
    assert_eq!(record["previousValues"], json!([primary_ip]));
    assert_eq!(record["changed"], true);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_drill_sets_only_the_drill_record_and_leaves_production_unchanged() {
    let scenario = Scenario::protected("drill-dns").await;
    let before = scenario.a_record("app.shop.example.com").await;

    let execution = scenario
        .run_to_end("drill-dns-1", scenario.input("drill"))
        .await;
    assert_succeeded(&execution);

    assert_eq!(scenario.a_record("app.shop.example.com").await, before);
    // the drill record pointed at the drill's instance, and was deleted with it
    let report: Value = serde_json::from_str(execution.output().unwrap()).unwrap();
    assert_eq!(report["dns"][0]["recordName"], "drill.app.shop.example.com");
    assert_eq!(
        report["dns"][0]["value"],
        report["launched"][0]["privateIp"]
    );
    assert_eq!(scenario.a_record("drill.app.shop.example.com").await, None);
}

#[tokio::test(flavor = "multi_thread")]
async fn each_step_run_twice_creates_no_duplicate_instance_attachment_or_record_change() {
    let scenario = Scenario::protected("rerun-steps").await;
    let execution = scenario
        .run_to_end("failover-rerun-1", scenario.input("failover"))
        .await;
    assert_succeeded(&execution);
    let state = scenario
        .state_entering("failover-rerun-1", "Recovered")
        .await;

    // the same steps again, with the same run id, as a retry after a lost response would
    let launched_before = scenario.stored("failover-rerun-1", "launch").await;
    let launch = scenario
        .invoke("launch-instances", &json!({ "run": state["run"] }))
        .await
        .unwrap();
    assert_eq!(launch["instances"], 1);
    let launched = scenario.stored("failover-rerun-1", "launch").await;
    assert_eq!(launched[0]["instanceId"], launched_before[0]["instanceId"]);
    assert_eq!(scenario.instances_of_run("failover-rerun-1").await.len(), 1);

    let step_input = json!({ "run": state["run"] });
    let attach = scenario
        .invoke("attach-volumes", &step_input)
        .await
        .unwrap();
    assert_eq!(attach["attachments"], 2);
    let attachments = scenario.stored("failover-rerun-1", "attach").await;
    assert!(
        attachments
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["newlyAttached"] == false),
        "{attachments}"
    );

    let dns = scenario.invoke("switch-dns", &step_input).await.unwrap();
    assert_eq!(dns["records"][0]["changed"], false, "{dns}");
    assert_eq!(dns["records"][0]["recordName"], "app.shop.example.com");
}

#[tokio::test(flavor = "multi_thread")]
async fn without_capacity_for_the_first_type_the_fallback_type_is_launched_and_reported() {
    let (emulator, seed) = protected_workload("capacity-fallback").await;
    let dr_az = seed.dr.subnets[0].availability_zone.clone();
    emulator.inject(json!({ "insufficientCapacity": [{ "instanceType": "m6i.large", "availabilityZone": dr_az }] }));
    let stack = emulator.deploy_stack();
    let scenario = Scenario::of(emulator, seed, stack).await;

    let execution = scenario
        .run_to_end("drill-capacity", scenario.input("drill"))
        .await;
    assert_succeeded(&execution);
    let output: Value = serde_json::from_str(execution.output().unwrap()).unwrap();
    let launched = &output["launched"][0];
    assert_eq!(launched["instanceType"], "m5.large");
    let fallbacks = launched["fallbacks"].as_array().unwrap();
    assert_eq!(fallbacks.len(), 1, "{launched}");
    assert!(
        fallbacks[0]
            .as_str()
            .unwrap()
            .starts_with("m6i.large in subnet-"),
        "{launched}"
    );
    let instances = scenario.instances_of_run("drill-capacity").await;
    assert_eq!(instances[0].instance_type().unwrap().as_str(), "m5.large");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_golden_ami_missing_in_the_dr_region_says_to_copy_it() {
    let (emulator, seed) = protected_workload("missing-ami").await;
    let mut plan = plan_for(&seed);
    plan["instances"][0]["ami"] = json!({ "id": seed.primary.golden_ami_id });
    let stack = emulator.deploy_stack();
    let scenario = Scenario::of(emulator, seed, stack).await;

    let execution = scenario
        .run_to_end("drill-no-ami", run_input("drill", &plan))
        .await;
    assert_eq!(execution.status().as_str(), "FAILED");
    // preflight finds it before anything is created, with the fix
    assert_eq!(execution.error(), Some("Backstop.NotReady"));
    let cause = execution.cause().unwrap_or_default();
    assert!(cause.contains("- FAIL golden-ami app"), "{cause}");
    assert!(cause.contains("copy the golden AMI"), "{cause}");
    // the hint names the primary region and the AMI to copy from it
    let primary_ami = scenario.seed.primary.golden_ami_id.as_str();
    assert!(
        cause.contains(&format!(
            "--source-region us-east-1 --source-image-id {primary_ami}"
        )),
        "{cause}"
    );
}
