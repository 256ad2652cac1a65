//! A Storage Gateway (Volume Gateway) volume protected by AWS Backup: its DR copy is restored
//! as an EBS volume in the DR region (no gateway there) and attached to the launched instance
//! at its planned device, like any restored volume.

use backstop_tests::{assert_succeeded, protect, protected_workload, Scenario};
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread")]
async fn a_gateway_volume_is_restored_as_an_ebs_volume_and_attached_at_its_planned_device() {
    let (emulator, seed) = protected_workload("storage-gateway").await;
    let gateway_volume = seed.primary.gateway_volume.clone();
    protect(&emulator, &seed, &[&gateway_volume.arn]).await;
    let stack = emulator.deploy_stack();
    let scenario = Scenario::of(emulator, seed, stack).await;
    let mut plan = scenario.plan();
    let zone = plan["resources"][0]["ebs"]["availabilityZone"].clone();
    plan["resources"].as_array_mut().unwrap().push(json!({
        "name": "archive", "kind": "storage-gateway", "arn": gateway_volume.arn,
        "ebs": { "availabilityZone": zone, "volumeType": "st1",
                 "attachTo": { "instance": "app", "device": "/dev/sdh" } }
    }));
    let input =
        json!({ "mode": "failover", "plan": plan, "settings": { "pollIntervalSeconds": 2 } });

    let execution = scenario.run_to_end("sgw-failover-1", input).await;
    assert_succeeded(&execution);
    let report: Value = serde_json::from_str(execution.output().unwrap()).unwrap();

    // restored as an EBS volume of the gateway volume's size, with the plan's type and AZ
    let job = report["restored"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["resource"] == "archive")
        .unwrap_or_else(|| panic!("no restore of the gateway volume: {report:#}"));
    assert_eq!(job["kind"], "storage-gateway", "{job:#}");
    let listed = scenario.restore_jobs().await;
    let listed = listed
        .iter()
        .find(|j| Some(j.restore_job_id().unwrap_or_default()) == job["restoreJobId"].as_str())
        .expect("the restore job");
    assert_eq!(listed.resource_type(), Some("EBS"));
    let volume_id = job["createdResourceArn"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_string();
    let ec2 = &scenario.dr.ec2;
    let volumes = ec2
        .describe_volumes()
        .volume_ids(&volume_id)
        .send()
        .await
        .unwrap();
    let volume = &volumes.volumes()[0];
    assert_eq!(volume.size(), Some(gateway_volume.size as i32));
    assert_eq!(volume.volume_type().map(|t| t.as_str()), Some("st1"));
    assert_eq!(volume.availability_zone(), zone.as_str());
    // attached to the launched instance at its planned device
    let instances = scenario.instances_of_run("sgw-failover-1").await;
    let attachment = &volume.attachments()[0];
    assert_eq!(attachment.instance_id(), instances[0].instance_id());
    assert_eq!(attachment.device(), Some("/dev/sdh"));
}
