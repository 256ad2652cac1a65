//! Steps 2 and 3 of recovery: launch the plan's instances from the golden AMI in the DR
//! network, then attach the restored EBS volumes to them.

use aws_sdk_ec2::types::{
    Filter, InstanceStateName, ResourceType, Tag, TagSpecification, VolumeAttachmentState,
    VolumeState,
};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

use crate::error::{classify_sdk_error, BackstopError};
use crate::plan::{AmiRef, InstancePlan, Plan};
use crate::restore::RestoreJob;
use crate::run::{Mode, RunId};
use crate::tags::{run_tags, token};
use crate::wait::{wait_until, WaitPolicy};

pub const INSTANCE_TAG: &str = "backstop:instance";
/// The type/subnet pairs tried before the launch that succeeded, so a later round that finds
/// the instance still reports its fallbacks.
pub const FALLBACKS_TAG: &str = "backstop:fallbacks";

/// An instance of the plan, running in the DR region.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LaunchedInstance {
    pub name: String,
    pub instance_id: String,
    pub image_id: String,
    pub instance_type: String,
    pub subnet_id: String,
    pub availability_zone: String,
    pub private_ip: String,
    /// Type/subnet pairs tried before this one, with why they failed (capacity).
    #[serde(default)]
    pub fallbacks: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LaunchOutcome {
    pub instances: Vec<LaunchedInstance>,
}

pub struct LaunchContext<'a> {
    pub run_id: &'a RunId,
    pub mode: Mode,
    pub plan: &'a Plan,
    pub wait: WaitPolicy,
}

/// Launches every instance of the plan, idempotently: an instance this run already
/// launched (found by its run and instance tags) is reused, and RunInstances carries a
/// ClientToken derived from the run id and instance name.
pub async fn launch_instances(
    ec2: &aws_sdk_ec2::Client,
    ssm: &aws_sdk_ssm::Client,
    ctx: &LaunchContext<'_>,
) -> Result<LaunchOutcome, BackstopError> {
    // launch every instance first, then wait for them together
    let mut launched_all = Vec::new();
    // a drill with an isolation block launches into the drill's network
    let drill = ctx.plan.drill.as_ref().filter(|_| ctx.mode == Mode::Drill);
    for planned in &ctx.plan.instances {
        let instance = planned.for_run(drill);
        let launched = match find_launched(ec2, ctx.run_id, &instance.name).await? {
            Some(existing) => existing,
            None => launch_one(ec2, ssm, ctx, &instance).await?,
        };
        launched_all.push(launched);
    }
    let mut instances = Vec::new();
    for launched in launched_all {
        let launched = wait_until_running(ec2, launched, ctx.wait).await?;
        tracing::info!(instance = %launched.name, id = %launched.instance_id, r#type = %launched.instance_type, "instance running");
        instances.push(launched);
    }
    Ok(LaunchOutcome { instances })
}

async fn resolve_ami(
    ec2: &aws_sdk_ec2::Client,
    ssm: &aws_sdk_ssm::Client,
    instance: &InstancePlan,
    plan: &Plan,
) -> Result<String, BackstopError> {
    let region = plan.dr_region.as_str();
    let ami: &AmiRef = &instance.ami;
    let primary = plan.primary_region.as_deref().unwrap_or("<primary region>");
    // an id the DR region does not know is most likely the primary region's own AMI
    let source = ami
        .id
        .clone()
        .unwrap_or_else(|| format!("<the golden AMI id in {primary}>"));
    let wanted = ami
        .name
        .as_deref()
        .map(|name| format!(" --name {name}"))
        .unwrap_or_default();
    let copy_hint = format!(
        "copy the golden AMI of {} to {region} ahead of time: aws ec2 copy-image --source-region {primary} --source-image-id {source} --region {region}{wanted}{}",
        instance.name,
        ami.ssm_parameter
            .as_deref()
            .map(|p| format!(", then store the new id in SSM parameter {p} in {region}"))
            .unwrap_or_default()
    );
    let mut request = ec2.describe_images();
    let described_as = if let Some(id) = &ami.id {
        request = request.image_ids(id);
        format!("id {id}")
    } else if let Some(name) = &ami.name {
        request = request
            .owners("self")
            .filters(Filter::builder().name("name").values(name).build());
        format!("name {name}")
    } else if let Some(parameter) = &ami.ssm_parameter {
        let value = ssm
            .get_parameter()
            .name(parameter)
            .send()
            .await
            .map_err(|err| {
                classify_sdk_error(
                    format!(
                        "reading the golden AMI id of {} from SSM {parameter}",
                        instance.name
                    ),
                    err,
                )
            })?
            .parameter
            .and_then(|p| p.value)
            .unwrap_or_default();
        request = request.image_ids(&value);
        format!("{value} (from SSM parameter {parameter})")
    } else {
        return Err(BackstopError::invalid_input(
            format!("instances[{}].ami", instance.name),
            "no AMI given",
        ));
    };
    let images = match request.send().await {
        Ok(images) => images,
        Err(err) => {
            let err =
                classify_sdk_error(format!("finding the golden AMI of {}", instance.name), err);
            return Err(match err {
                BackstopError::NotFound { .. } => BackstopError::not_found(
                    format!("golden AMI of {}", instance.name),
                    format!("no AMI with {described_as} in {region}: {copy_hint}"),
                ),
                other => other,
            });
        }
    };
    let mut images: Vec<_> = images
        .images()
        .iter()
        .filter(|i| i.image_id().is_some())
        .collect();
    images.sort_by(|a, b| b.creation_date().cmp(&a.creation_date()));
    images
        .first()
        .and_then(|image| image.image_id())
        .map(str::to_string)
        .ok_or_else(|| {
            BackstopError::not_found(
                format!("golden AMI of {}", instance.name),
                format!("no AMI with {described_as} in {region}: {copy_hint}"),
            )
        })
}

/// The AZ the instance must be in: the one its planned volumes are restored into.
fn required_zone(plan: &Plan, instance: &str) -> Result<Option<String>, BackstopError> {
    let zones: Vec<&String> = plan
        .resources
        .iter()
        .filter_map(|r| r.ebs.as_ref())
        .filter(|ebs| {
            ebs.attach_to
                .as_ref()
                .is_some_and(|a| a.instance == instance)
        })
        .filter_map(|ebs| ebs.availability_zone.as_ref())
        .collect();
    match zones.split_first() {
        None => Ok(None),
        Some((first, rest)) if rest.iter().all(|z| z == first) => Ok(Some((*first).clone())),
        Some(_) => Err(BackstopError::invalid_input(
            "plan.resources[].ebs.availabilityZone",
            format!("the volumes attached to {instance} are restored into different AZs; use one AZ for all of them"),
        )),
    }
}

async fn launch_one(
    ec2: &aws_sdk_ec2::Client,
    ssm: &aws_sdk_ssm::Client,
    ctx: &LaunchContext<'_>,
    instance: &InstancePlan,
) -> Result<LaunchedInstance, BackstopError> {
    let image_id = resolve_ami(ec2, ssm, instance, ctx.plan).await?;
    let zone = required_zone(ctx.plan, &instance.name)?;
    let subnets = ec2
        .describe_subnets()
        .set_subnet_ids(Some(instance.subnet_ids.clone()))
        .send()
        .await
        .map_err(|err| {
            classify_sdk_error(
                format!("describing the DR subnets of {}", instance.name),
                err,
            )
        })?;
    let subnet_zones: HashMap<String, String> = subnets
        .subnets()
        .iter()
        .filter_map(|s| {
            Some((
                s.subnet_id()?.to_string(),
                s.availability_zone()?.to_string(),
            ))
        })
        .collect();
    // The plan's order, kept to the subnets in the volumes' AZ (a volume attaches only in its AZ).
    let usable: Vec<&String> = instance
        .subnet_ids
        .iter()
        .filter(|s| {
            zone.as_ref()
                .is_none_or(|z| subnet_zones.get(*s) == Some(z))
        })
        .collect();
    if usable.is_empty() {
        let drill_subnets = ctx.mode == Mode::Drill
            && ctx
                .plan
                .drill
                .as_ref()
                .is_some_and(|d| !d.subnet_ids.is_empty());
        return Err(BackstopError::invalid_input(
            match drill_subnets {
                true => "plan.drill.subnetIds".to_string(),
                false => format!("plan.instances[{}].subnetIds", instance.name),
            },
            format!(
                "none of the subnets of {} is in {}, where its volumes are restored",
                instance.name,
                zone.unwrap_or_default()
            ),
        ));
    }
    let mut fallbacks: Vec<String> = Vec::new();
    for instance_type in &instance.instance_types {
        for subnet in &usable {
            let mut request = ec2
                .run_instances()
                .image_id(&image_id)
                .instance_type(instance_type.as_str().into())
                .subnet_id(subnet.as_str())
                .set_security_group_ids(Some(instance.security_group_ids.clone()))
                .min_count(1)
                .max_count(1)
                .client_token(client_token(
                    ctx.run_id,
                    &instance.name,
                    instance_type,
                    subnet,
                ))
                .tag_specifications(instance_tags(ctx, &instance.name, &fallbacks));
            if let Some(profile) = &instance.instance_profile {
                request = request.iam_instance_profile(
                    aws_sdk_ec2::types::IamInstanceProfileSpecification::builder()
                        .name(profile)
                        .build(),
                );
            }
            if let Some(user_data) = &instance.user_data {
                request = request.user_data(base64(user_data));
            }
            match request.send().await {
                Ok(output) => {
                    let launched =
                        output
                            .instances()
                            .first()
                            .ok_or_else(|| BackstopError::Aws {
                                action: format!("launching {}", instance.name),
                                code: "NoInstance".into(),
                                message: "RunInstances returned no instance".into(),
                            })?;
                    return Ok(LaunchedInstance {
                        name: instance.name.clone(),
                        instance_id: launched.instance_id().unwrap_or_default().to_string(),
                        image_id: image_id.clone(),
                        instance_type: instance_type.clone(),
                        subnet_id: subnet.to_string(),
                        availability_zone: subnet_zones.get(*subnet).cloned().unwrap_or_default(),
                        private_ip: launched
                            .private_ip_address()
                            .unwrap_or_default()
                            .to_string(),
                        fallbacks,
                    });
                }
                Err(err) => match classify_sdk_error(
                    format!("launching {} as {instance_type}", instance.name),
                    err,
                ) {
                    BackstopError::InsufficientCapacity { message, .. } => {
                        tracing::warn!(instance = %instance.name, %instance_type, %subnet, "no capacity, trying the next option");
                        fallbacks.push(format!("{instance_type} in {subnet}: {message}"));
                    }
                    other => return Err(other),
                },
            }
        }
    }
    Err(BackstopError::InsufficientCapacity {
        action: format!("launching {}", instance.name),
        message: format!(
            "every instance type and subnet of the plan lacked capacity: {}",
            fallbacks.join("; ")
        ),
    })
}

fn instance_tags(ctx: &LaunchContext<'_>, name: &str, fallbacks: &[String]) -> TagSpecification {
    let mut tags = run_tags(ctx.run_id, ctx.mode, &ctx.plan.name, name);
    if !fallbacks.is_empty() {
        // a tag value holds at most 256 characters
        let tried: Vec<&str> = fallbacks
            .iter()
            .map(|f| f.split(':').next().unwrap_or_default())
            .collect();
        tags.push((
            FALLBACKS_TAG.to_string(),
            crate::tags::truncate_chars(&tried.join("; "), 256).to_string(),
        ));
    }
    tags.push((INSTANCE_TAG.to_string(), name.to_string()));
    tags.push((
        "Name".to_string(),
        format!("{}-{name}-{}", ctx.plan.name, ctx.mode),
    ));
    let mut spec = TagSpecification::builder().resource_type(ResourceType::Instance);
    for (key, value) in tags {
        spec = spec.tags(Tag::builder().key(key).value(value).build());
    }
    spec.build()
}

/// At most 64 ASCII characters (EC2's limit), unique per run, instance and attempt (type and
/// subnet), however long the run id or the names.
fn client_token(run_id: &RunId, name: &str, instance_type: &str, subnet: &str) -> String {
    token(run_id, "launch", &[name, instance_type, subnet])
}

fn base64(text: &str) -> String {
    aws_smithy_types::base64::encode(text.as_bytes())
}

async fn find_launched(
    ec2: &aws_sdk_ec2::Client,
    run_id: &RunId,
    name: &str,
) -> Result<Option<LaunchedInstance>, BackstopError> {
    let described = ec2
        .describe_instances()
        .filters(
            Filter::builder()
                .name(format!("tag:{}", crate::tags::RUN_ID))
                .values(run_id.as_str())
                .build(),
        )
        .filters(
            Filter::builder()
                .name(format!("tag:{INSTANCE_TAG}"))
                .values(name)
                .build(),
        )
        .filters(
            Filter::builder()
                .name("instance-state-name")
                .values("pending")
                .values("running")
                .build(),
        )
        .send()
        .await
        .map_err(|err| {
            classify_sdk_error(format!("looking for {name} launched by this run"), err)
        })?;
    let found = described
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .next();
    Ok(found.map(|instance| LaunchedInstance {
        name: name.to_string(),
        instance_id: instance.instance_id().unwrap_or_default().to_string(),
        image_id: instance.image_id().unwrap_or_default().to_string(),
        instance_type: instance
            .instance_type()
            .map(|t| t.as_str().to_string())
            .unwrap_or_default(),
        subnet_id: instance.subnet_id().unwrap_or_default().to_string(),
        availability_zone: instance
            .placement()
            .and_then(|p| p.availability_zone())
            .unwrap_or_default()
            .to_string(),
        private_ip: instance
            .private_ip_address()
            .unwrap_or_default()
            .to_string(),
        fallbacks: instance
            .tags()
            .iter()
            .find(|tag| tag.key() == Some(FALLBACKS_TAG))
            .and_then(|tag| tag.value())
            .map(|tried| {
                tried
                    .split("; ")
                    .map(|pair| format!("{pair}: no capacity"))
                    .collect()
            })
            .unwrap_or_default(),
    }))
}

async fn wait_until_running(
    ec2: &aws_sdk_ec2::Client,
    launched: LaunchedInstance,
    wait: WaitPolicy,
) -> Result<LaunchedInstance, BackstopError> {
    let waiting_for = format!("{} ({}) to run", launched.name, launched.instance_id);
    wait_until(wait, &waiting_for, || async {
        let described = ec2
            .describe_instances()
            .instance_ids(&launched.instance_id)
            .send()
            .await
            .map_err(|err| {
                classify_sdk_error(format!("waiting for {} to run", launched.name), err)
            })?;
        let instance = described
            .reservations()
            .iter()
            .flat_map(|r| r.instances())
            .next();
        Ok(instance
            .filter(|i| i.state().and_then(|s| s.name()) == Some(&InstanceStateName::Running))
            .map(|i| LaunchedInstance {
                private_ip: i.private_ip_address().unwrap_or_default().to_string(),
                ..launched.clone()
            }))
    })
    .await
}

/// A restored volume attached to its planned instance and device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attachment {
    pub resource: String,
    pub volume_id: String,
    pub instance: String,
    pub instance_id: String,
    pub device: String,
    /// False when the volume was already attached there (a re-run).
    pub newly_attached: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttachOutcome {
    pub attachments: Vec<Attachment>,
}

/// Whose volumes a run may attach: those its own restore jobs created, in this account and
/// the DR region, tagged with its run id.
pub struct VolumeOwner<'a> {
    pub run_id: &'a RunId,
    /// The account the function runs in (from its ARN), when known.
    pub account: Option<&'a str>,
    pub region: &'a str,
}

/// The account id in an ARN (`arn:PARTITION:SERVICE:REGION:ACCOUNT:...`).
pub fn account_of(arn: &str) -> Option<String> {
    arn.split(':')
        .nth(4)
        .filter(|account| !account.is_empty())
        .map(str::to_string)
}

/// The volume id of a restored volume's ARN, if it is a volume of the owner's account and
/// region; anything else (another account, another region, a path, not a volume) is refused.
fn owned_volume_id(
    owner: &VolumeOwner<'_>,
    resource: &str,
    arn: &str,
) -> Result<String, BackstopError> {
    let parts: Vec<&str> = arn.split(':').collect();
    let volume_id = match parts.as_slice() {
        ["arn", _, "ec2", region, account, path]
            if *region == owner.region && owner.account.is_none_or(|own| own == *account) =>
        {
            path.strip_prefix("volume/")
        }
        _ => None,
    };
    volume_id
        .filter(|id| {
            id.strip_prefix("vol-")
                .is_some_and(|hex| !hex.is_empty() && hex.chars().all(|c| c.is_ascii_hexdigit()))
        })
        .map(str::to_string)
        .ok_or_else(|| {
            BackstopError::invalid_input(
                format!("jobs[{resource}].createdResourceArn"),
                format!(
                    "\"{}\" is not a volume of account {} in {}: only volumes this run restored are attached",
                    crate::tags::truncate_chars(arn, 200),
                    owner.account.unwrap_or("(this account)"),
                    owner.region
                ),
            )
        })
}

/// Attaches each restored volume with an `attachTo` to its instance at its device and
/// waits until it is in use. Already attached there is success; anywhere else is an error.
/// Only volumes this run restored are attached (account, region and run tag checked).
pub async fn attach_volumes(
    ec2: &aws_sdk_ec2::Client,
    plan: &Plan,
    owner: &VolumeOwner<'_>,
    jobs: &[RestoreJob],
    instances: &[LaunchedInstance],
    wait: WaitPolicy,
) -> Result<AttachOutcome, BackstopError> {
    let mut attachments = Vec::new();
    for resource in &plan.resources {
        let Some(attach) = resource.ebs.as_ref().and_then(|e| e.attach_to.as_ref()) else {
            continue;
        };
        let Some(job) = jobs
            .iter()
            .find(|j| j.resource == resource.name && j.status == "COMPLETED")
        else {
            if resource.optional {
                continue;
            }
            return Err(BackstopError::not_found(
                format!("restored volume of {}", resource.name),
                "no completed restore job for it; the restore step must complete first",
            ));
        };
        let volume_id = owned_volume_id(
            owner,
            &resource.name,
            job.created_resource_arn.as_deref().unwrap_or_default(),
        )?;
        let instance = instances
            .iter()
            .find(|i| i.name == attach.instance)
            .ok_or_else(|| {
                BackstopError::not_found(
                    format!("instance {}", attach.instance),
                    "it was not launched by this run",
                )
            })?;
        let newly_attached = attach_one(
            ec2,
            owner.run_id,
            &resource.name,
            &volume_id,
            instance,
            &attach.device,
            wait,
        )
        .await?;
        attachments.push(Attachment {
            resource: resource.name.clone(),
            volume_id,
            instance: instance.name.clone(),
            instance_id: instance.instance_id.clone(),
            device: attach.device.clone(),
            newly_attached,
        });
    }
    Ok(AttachOutcome { attachments })
}

async fn attach_one(
    ec2: &aws_sdk_ec2::Client,
    run_id: &RunId,
    resource: &str,
    volume_id: &str,
    instance: &LaunchedInstance,
    device: &str,
    wait: WaitPolicy,
) -> Result<bool, BackstopError> {
    let volume = describe_volume(ec2, resource, volume_id).await?;
    let tag = |key: &str| {
        volume
            .tags()
            .iter()
            .find(|t| t.key() == Some(key))
            .and_then(|t| t.value())
    };
    if tag(crate::tags::RUN_ID) != Some(run_id.as_str())
        || tag(crate::tags::RESOURCE) != Some(resource)
    {
        return Err(BackstopError::Conflict(format!(
            "volume {volume_id} was not restored by run {run_id} for {resource} (its {} tag is {:?}): refusing to attach it",
            crate::tags::RUN_ID,
            tag(crate::tags::RUN_ID).unwrap_or("missing")
        )));
    }
    if let Some(existing) = volume.attachments().first() {
        let same = existing.instance_id() == Some(instance.instance_id.as_str())
            && existing.device() == Some(device);
        if same {
            // attached by an earlier round of this run, maybe still attaching
            wait_attached(ec2, resource, volume_id, wait).await?;
            return Ok(false);
        }
        return Err(BackstopError::Conflict(format!(
            "volume {volume_id} of {resource} is attached to {} at {}, not to {} ({}) at {device}; detach it first",
            existing.instance_id().unwrap_or("?"),
            existing.device().unwrap_or("?"),
            instance.name,
            instance.instance_id
        )));
    }
    let zone = volume.availability_zone().unwrap_or_default();
    if zone != instance.availability_zone {
        return Err(BackstopError::Conflict(format!(
            "volume {volume_id} of {resource} was restored in {zone} but {} runs in {}: restore it into the instance's AZ (ebs.availabilityZone)",
            instance.name, instance.availability_zone
        )));
    }
    if volume.state() != Some(&VolumeState::Available) {
        return Err(BackstopError::Conflict(format!(
            "volume {volume_id} of {resource} is {:?}, not available",
            volume.state()
        )));
    }
    ec2.attach_volume()
        .volume_id(volume_id)
        .instance_id(&instance.instance_id)
        .device(device)
        .send()
        .await
        .map_err(|err| {
            classify_sdk_error(format!("attaching {resource} to {}", instance.name), err)
        })?;
    wait_attached(ec2, resource, volume_id, wait).await?;
    tracing::info!(%resource, volume = volume_id, instance = %instance.instance_id, device, "volume attached");
    Ok(true)
}

/// Waits for the volume's attachment to be `attached` (it is `attaching` first).
async fn wait_attached(
    ec2: &aws_sdk_ec2::Client,
    resource: &str,
    volume_id: &str,
    wait: WaitPolicy,
) -> Result<(), BackstopError> {
    wait_until(
        wait,
        &format!("{volume_id} of {resource} to be attached"),
        || async {
            let volume = describe_volume(ec2, resource, volume_id).await?;
            let attached = volume
                .attachments()
                .first()
                .and_then(|a| a.state())
                .is_some_and(|state| state == &VolumeAttachmentState::Attached);
            Ok(attached.then_some(()))
        },
    )
    .await
}

async fn describe_volume(
    ec2: &aws_sdk_ec2::Client,
    resource: &str,
    volume_id: &str,
) -> Result<aws_sdk_ec2::types::Volume, BackstopError> {
    let described = ec2
        .describe_volumes()
        .volume_ids(volume_id)
        .send()
        .await
        .map_err(|err| {
            classify_sdk_error(format!("describing the restored volume of {resource}"), err)
        })?;
    described.volumes().first().cloned().ok_or_else(|| {
        BackstopError::not_found(
            format!("volume {volume_id}"),
            format!("the restored volume of {resource} is gone"),
        )
    })
}

#[cfg(test)]
mod tests {
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

    use super::*;

    const PLAN: &str = include_str!("../../tests/plans/example.json");
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
        let mut plan = Plan::from_json(PLAN).unwrap();
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
        let run =
            mock!(Client::run_instances).then_http_response(|| ec2_error("RequestLimitExceeded"));
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
                    .key(crate::tags::RUN_ID)
                    .value(run_id)
                    .build(),
            )
            .tags(
                Tag::builder()
                    .key(crate::tags::RESOURCE)
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

    /// Attaches app-data's restored volume vol-1 to the app instance at /dev/sdf, for run test-1.
    async fn attach_app_data(ec2: &Client) -> Result<bool, BackstopError> {
        attach_one(
            ec2,
            &run(),
            "app-data",
            "vol-1",
            &app_instance(),
            "/dev/sdf",
            FAST,
        )
        .await
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
}
