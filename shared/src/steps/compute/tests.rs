//! Launch and attach, against mocked EC2.
use std::time::Duration;

use aws_sdk_ec2::config::retry::RetryConfig;
use aws_sdk_ec2::operation::describe_images::DescribeImagesOutput;
use aws_sdk_ec2::operation::describe_instances::DescribeInstancesOutput;
use aws_sdk_ec2::operation::describe_subnets::DescribeSubnetsOutput;
use aws_sdk_ec2::operation::describe_volumes::DescribeVolumesOutput;
use aws_sdk_ec2::operation::run_instances::RunInstancesOutput;
use aws_sdk_ec2::types::{
    Image, Instance, InstanceState, Reservation, Subnet, Volume, VolumeAttachment,
};
use aws_sdk_ec2::Client;
use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
use aws_smithy_runtime_api::http::{Response, StatusCode};
use aws_smithy_types::body::SdkBody;

use super::attach::{owned_volume_id, start_attach, wait_attached};
use super::*;
use crate::model::instances::{Attachment, LaunchedInstance};
use aws_sdk_ec2::types::{InstanceStateName, Tag, VolumeAttachmentState, VolumeState};

use crate::aws::wait::WaitPolicy;
use crate::error::BackstopError;
use crate::model::run::{Mode, RunId};
use crate::plan::{AmiRef, Plan};

const FAST: WaitPolicy = WaitPolicy {
    interval: Duration::from_millis(1),
    max_attempts: 3,
    deadline: None,
    run_deadline: None,
};

fn ec2_error(code: &str) -> Response<SdkBody> {
    Response::new(
        StatusCode::try_from(400).unwrap(),
        SdkBody::from(format!(
            "<Response><Errors><Error><Code>{code}</Code><Message>{code} (mocked)</Message></Error></Errors><RequestID>r</RequestID></Response>"
        )),
    )
}

fn ec2(rules: &[&Rule]) -> Client {
    mock_client!(
        aws_sdk_ec2,
        RuleMode::MatchAny,
        rules.iter().copied(),
        |conf| conf.retry_config(RetryConfig::disabled())
    )
}

fn instance(id: &str, instance_type: &str) -> Instance {
    Instance::builder()
        .instance_id(id)
        .instance_type(instance_type.into())
        .private_ip_address("10.1.0.10")
        .state(
            InstanceState::builder()
                .name(InstanceStateName::Running)
                .build(),
        )
        .build()
}

/// The EC2 answers a launch needs, with RunInstances answered by `run`.
fn launch_rules(run: Rule) -> Vec<Rule> {
    vec![
        mock!(Client::describe_instances)
            .match_requests(|req| !req.filters().is_empty())
            .then_output(|| DescribeInstancesOutput::builder().build()),
        mock!(Client::describe_instances)
            .match_requests(|req| req.filters().is_empty())
            .then_output(|| {
                DescribeInstancesOutput::builder()
                    .reservations(
                        Reservation::builder()
                            .instances(instance("i-1", "m5.large"))
                            .build(),
                    )
                    .build()
            }),
        mock!(Client::describe_images).then_output(|| {
            DescribeImagesOutput::builder()
                .images(Image::builder().image_id("ami-0123456789abcdef0").build())
                .build()
        }),
        mock!(Client::describe_subnets).then_output(|| {
            DescribeSubnetsOutput::builder()
                .subnets(
                    Subnet::builder()
                        .subnet_id("subnet-0aaaaaaaaaaaaaaaa")
                        .availability_zone("us-west-2a")
                        .build(),
                )
                .subnets(
                    Subnet::builder()
                        .subnet_id("subnet-0bbbbbbbbbbbbbbbb")
                        .availability_zone("us-west-2b")
                        .build(),
                )
                .build()
        }),
        run,
    ]
}

fn plan_with_ami_id() -> Plan {
    let mut plan = crate::plan::example_plan();
    plan.instances[0].ami = AmiRef {
        id: Some("ami-0123456789abcdef0".into()),
        ..Default::default()
    };
    plan
}

async fn launch(rules: &[Rule]) -> Result<LaunchOutcome, BackstopError> {
    let rules: Vec<&Rule> = rules.iter().collect();
    let ec2 = ec2(&rules);
    // the plan names the AMI by id: SSM is never called
    let ssm = aws_sdk_ssm::Client::from_conf(
        aws_sdk_ssm::Config::builder()
            .behavior_version(aws_sdk_ssm::config::BehaviorVersion::latest())
            .region(aws_sdk_ssm::config::Region::new("us-west-2"))
            .build(),
    );
    let plan = plan_with_ami_id();
    let run_id = RunId::try_from("run-1".to_string()).unwrap();
    let ctx = LaunchContext {
        run_id: &run_id,
        mode: Mode::Drill,
        plan: &plan,
        wait: FAST,
        wave: 1,
    };
    launch_instances(&ec2, &ssm, &ctx).await
}

#[tokio::test]
async fn without_capacity_the_next_type_is_launched_in_the_volumes_az() {
    let run = mock!(Client::run_instances)
        .sequence()
        .http_response(|| ec2_error("InsufficientInstanceCapacity"))
        .output(|| {
            RunInstancesOutput::builder()
                .instances(instance("i-1", "m5.large"))
                .build()
        })
        .build();
    let outcome = launch(&launch_rules(run)).await.unwrap();
    let launched = &outcome.instances[0];
    assert_eq!(launched.instance_type, "m5.large");
    // the volumes are restored in us-west-2a, so only its subnet is tried
    assert_eq!(launched.subnet_id, "subnet-0aaaaaaaaaaaaaaaa");
    assert_eq!(launched.fallbacks.len(), 1);
    assert!(
        launched.fallbacks[0].starts_with("m6i.large in subnet-0aaaaaaaaaaaaaaaa"),
        "{launched:?}"
    );
}

#[tokio::test]
async fn no_capacity_anywhere_is_an_insufficient_capacity_error() {
    let run = mock!(Client::run_instances)
        .sequence()
        .http_response(|| ec2_error("InsufficientInstanceCapacity"))
        .repeatedly()
        .build();
    let err = launch(&launch_rules(run)).await.unwrap_err();
    assert_eq!(err.error_name(), "Backstop.InsufficientCapacity");
    assert!(
        err.to_string().contains("m6i.large") && err.to_string().contains("m5.large"),
        "{err}"
    );
}

#[tokio::test]
async fn a_throttled_launch_is_a_throttled_error_for_the_state_machine_to_retry() {
    let run = mock!(Client::run_instances).then_http_response(|| ec2_error("RequestLimitExceeded"));
    let err = launch(&launch_rules(run)).await.unwrap_err();
    assert_eq!(err.error_name(), "Backstop.Throttled");
}

fn run() -> RunId {
    RunId::try_from("test-1".to_string()).unwrap()
}

/// A volume of app-data tagged as restored by `run_id`, as poll-restore tags it.
fn restored_by(run_id: &str) -> aws_sdk_ec2::types::builders::VolumeBuilder {
    Volume::builder()
        .tags(
            Tag::builder()
                .key(crate::aws::tags::RUN_ID)
                .value(run_id)
                .build(),
        )
        .tags(
            Tag::builder()
                .key(crate::aws::tags::RESOURCE)
                .value("app-data")
                .build(),
        )
}

/// A volume restored by this test's run (test-1).
fn owned() -> aws_sdk_ec2::types::builders::VolumeBuilder {
    restored_by("test-1")
}

#[tokio::test]
async fn a_volume_another_run_restored_is_never_attached() {
    let volume = restored_by("failover-7")
        .volume_id("vol-1")
        .availability_zone("us-west-2a")
        .state(VolumeState::Available)
        .build();
    let (ec2, _, attach) = restored(volume);
    let err = attach_app_data(&ec2).await.unwrap_err();
    assert_eq!(err.error_name(), "Backstop.Conflict");
    assert!(err.to_string().contains("failover-7"), "{err}");
    assert_eq!(attach.num_calls(), 0);
}

#[tokio::test]
async fn a_volume_claimed_in_bulk_is_attached_and_one_tagged_for_another_resource_is_not() {
    // claimed with the run's other restores: the run tag and no plan entry
    let claimed = Volume::builder()
        .tags(
            Tag::builder()
                .key(crate::aws::tags::RUN_ID)
                .value("test-1")
                .build(),
        )
        .volume_id("vol-1")
        .availability_zone("us-west-2a")
        .state(VolumeState::Available)
        .build();
    let (ec2, _, attach) = restored(claimed);
    assert!(start_attach(
        &ec2,
        &run(),
        "app-data",
        "vol-1",
        &app_instance(),
        "/dev/sdf"
    )
    .await
    .unwrap());
    assert_eq!(attach.num_calls(), 1);

    let (ec2, _, attach) = restored(
        owned()
            .volume_id("vol-1")
            .availability_zone("us-west-2a")
            .state(VolumeState::Available)
            .build(),
    );
    let err = start_attach(&ec2, &run(), "logs", "vol-1", &app_instance(), "/dev/sdg")
        .await
        .unwrap_err();
    assert_eq!(err.error_name(), "Backstop.Conflict");
    assert!(err.to_string().contains("for logs"), "{err}");
    assert_eq!(attach.num_calls(), 0);
}

#[tokio::test]
async fn restored_resources_are_claimed_two_hundred_to_a_call_with_the_runs_tags() {
    let calls = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = calls.clone();
    let create = mock!(Client::create_tags)
        .match_requests(move |request| {
            let keys: Vec<&str> = request.tags().iter().filter_map(|t| t.key()).collect();
            seen.lock()
                .unwrap()
                .push((request.resources().len(), keys.join(",")));
            true
        })
        .then_output(|| aws_sdk_ec2::operation::create_tags::CreateTagsOutput::builder().build());
    let client = ec2(&[&create]);
    let ids: Vec<String> = (0..450).map(|i| format!("vol-{i:04}")).collect();
    let tags = crate::aws::tags::claim_tags(&run(), crate::model::run::Mode::Drill, "shop");
    crate::kinds::ec2::tag_many(&client, &ids, &tags, "claiming")
        .await
        .unwrap();
    let keys = "backstop:run-id,backstop:mode,backstop:plan".to_string();
    assert_eq!(
        *calls.lock().unwrap(),
        vec![(200, keys.clone()), (200, keys.clone()), (50, keys)]
    );
}

#[test]
fn only_volume_arns_of_this_account_and_region_are_accepted() {
    let run = run();
    let owner = VolumeOwner {
        run_id: &run,
        account: Some("123456789012"),
        region: "us-west-2",
    };
    let ok = owned_volume_id(
        &owner,
        "app-data",
        "arn:aws:ec2:us-west-2:123456789012:volume/vol-0abc",
    );
    assert_eq!(ok.unwrap(), "vol-0abc");
    for bad in [
        "arn:aws:ec2:us-west-2:999999999999:volume/vol-0abc",
        "arn:aws:ec2:us-east-1:123456789012:volume/vol-0abc",
        "arn:aws:ec2:us-west-2:123456789012:volume/../vol-0abc",
        "arn:aws:ec2:us-west-2:123456789012:instance/i-0abc",
        "vol-0abc",
        "",
    ] {
        let err = owned_volume_id(&owner, "app-data", bad).unwrap_err();
        assert_eq!(err.error_name(), "Backstop.InvalidInput", "{bad}");
    }
}

/// Attaches app-data's restored volume vol-1 to the app instance at /dev/sdf, for run test-1,
/// and waits for it as a round does.
async fn attach_app_data(ec2: &Client) -> Result<bool, BackstopError> {
    let instance = app_instance();
    let newly = start_attach(ec2, &run(), "app-data", "vol-1", &instance, "/dev/sdf").await?;
    let attachment = Attachment {
        resource: "app-data".into(),
        volume_id: "vol-1".into(),
        instance: instance.name.clone(),
        instance_id: instance.instance_id.clone(),
        device: "/dev/sdf".into(),
        newly_attached: newly,
    };
    wait_attached(ec2, &[attachment], FAST).await?;
    Ok(newly)
}

fn restored(volume: Volume) -> (Client, Rule, Rule) {
    let describe = mock!(Client::describe_volumes).then_output(move || {
        DescribeVolumesOutput::builder()
            .volumes(volume.clone())
            .build()
    });
    let attach = mock!(Client::attach_volume).then_output(|| {
        aws_sdk_ec2::operation::attach_volume::AttachVolumeOutput::builder().build()
    });
    let client = ec2(&[&describe, &attach]);
    (client, describe, attach)
}

fn app_instance() -> LaunchedInstance {
    LaunchedInstance {
        name: "app".into(),
        instance_id: "i-1".into(),
        image_id: "ami-1".into(),
        instance_type: "m5.large".into(),
        subnet_id: "subnet-1".into(),
        availability_zone: "us-west-2a".into(),
        private_ip: "10.1.0.10".into(),
        fallbacks: vec![],
    }
}

fn attached_to(instance: &str, device: &str) -> Volume {
    owned()
        .volume_id("vol-1")
        .availability_zone("us-west-2a")
        .state(VolumeState::InUse)
        .attachments(
            VolumeAttachment::builder()
                .instance_id(instance)
                .device(device)
                .state(VolumeAttachmentState::Attached)
                .build(),
        )
        .build()
}

#[tokio::test]
async fn a_volume_already_attached_at_its_device_is_success_without_a_call() {
    let (ec2, _, attach) = restored(attached_to("i-1", "/dev/sdf"));
    let newly = attach_app_data(&ec2).await.unwrap();
    assert!(!newly);
    assert_eq!(attach.num_calls(), 0);
}

#[tokio::test]
async fn a_volume_attached_elsewhere_is_a_conflict() {
    let (ec2, _, attach) = restored(attached_to("i-other", "/dev/sdf"));
    let err = attach_app_data(&ec2).await.unwrap_err();
    assert_eq!(err.error_name(), "Backstop.Conflict");
    assert!(err.to_string().contains("i-other"), "{err}");
    assert_eq!(attach.num_calls(), 0);
}

#[tokio::test]
async fn a_volume_restored_in_another_az_is_refused_with_the_fix() {
    let volume = owned()
        .volume_id("vol-1")
        .availability_zone("us-west-2b")
        .state(VolumeState::Available)
        .build();
    let (ec2, _, attach) = restored(volume);
    let err = attach_app_data(&ec2).await.unwrap_err();
    assert!(err.to_string().contains("restored in us-west-2b"), "{err}");
    assert!(err.to_string().contains("ebs.availabilityZone"), "{err}");
    assert_eq!(attach.num_calls(), 0);
}

#[tokio::test]
async fn an_attachment_still_attaching_is_handed_back_to_the_state_machine() {
    let volume = owned()
        .volume_id("vol-1")
        .availability_zone("us-west-2a")
        .state(VolumeState::Available)
        .build();
    let (ec2, _, attach) = restored(volume);
    let err = attach_app_data(&ec2).await.unwrap_err();
    assert_eq!(err.error_name(), "Backstop.StillWaiting");
    assert_eq!(attach.num_calls(), 1);
}
