//! Step 2 of recovery: launch the plan's instances from the golden AMI in the DR network
//! (a drill with an isolation block: in the drill's network).

use aws_sdk_ec2::types::{Filter, InstanceStateName, ResourceType, Tag, TagSpecification};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

use crate::aws::store::{Part, RunRef, RunStore};
use crate::aws::tags::{launch_token, run_tags};
use crate::aws::wait::{wait_until, WaitPolicy};
use crate::aws::Clients;
use crate::error::{classify_sdk_error, BackstopError, SdkContext};
use crate::model::instances::LaunchedInstance;
use crate::model::run::{Mode, RunId};
use crate::plan::{AmiRef, InstancePlan, Plan};
use crate::steps::{with_network, Invocation, StepInput};

pub const INSTANCE_TAG: &str = "backstop:instance";
/// The type/subnet pairs tried before the launch that succeeded, so a later round that finds
/// the instance still reports its fallbacks.
pub const FALLBACKS_TAG: &str = "backstop:fallbacks";

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
    /// Launch the instances of this wave and the waves before it (those are found, launched
    /// by earlier rounds).
    pub wave: u32,
}

/// Launches every instance of the plan up to `ctx.wave`, idempotently: an instance this run
/// already launched (found by its run and instance tags) is reused, and RunInstances carries
/// a ClientToken derived from the run id and instance name.
pub async fn launch_instances(
    ec2: &aws_sdk_ec2::Client,
    ssm: &aws_sdk_ssm::Client,
    ctx: &LaunchContext<'_>,
) -> Result<LaunchOutcome, BackstopError> {
    // launch every instance first, then wait for them together
    let mut launched_all = Vec::new();
    // a drill with an isolation block launches into the drill's network
    let drill = ctx.plan.drill.as_ref().filter(|_| ctx.mode == Mode::Drill);
    for planned in ctx.plan.instances.iter().filter(|i| i.wave() <= ctx.wave) {
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
    let image = golden_ami(ec2, ssm, instance, plan).await?;
    Ok(image.image_id().unwrap_or_default().to_string())
}

/// How to get the golden AMI of `instance` into the DR region.
pub(crate) fn ami_copy_hint(instance: &InstancePlan, plan: &Plan) -> String {
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
    format!(
        "copy the golden AMI of {} to {region} ahead of time: aws ec2 copy-image --source-region {primary} --source-image-id {source} --region {region}{wanted}{}",
        instance.name,
        ami.ssm_parameter
            .as_deref()
            .map(|p| format!(", then store the new id in SSM parameter {p} in {region}"))
            .unwrap_or_default()
    )
}

/// The golden AMI of `instance` in the DR region (the newest, when found by name); not found
/// is `Backstop.NotFound` with how to copy it there.
pub(crate) async fn golden_ami(
    ec2: &aws_sdk_ec2::Client,
    ssm: &aws_sdk_ssm::Client,
    instance: &InstancePlan,
    plan: &Plan,
) -> Result<aws_sdk_ec2::types::Image, BackstopError> {
    let region = plan.dr_region.as_str();
    let ami: &AmiRef = &instance.ami;
    let copy_hint = ami_copy_hint(instance, plan);
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
            .context(format!(
                "reading the golden AMI id of {} from SSM {parameter}",
                instance.name
            ))?
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
    let not_found = || {
        BackstopError::not_found(
            format!("golden AMI of {}", instance.name),
            format!("no AMI with {described_as} in {region}: {copy_hint}"),
        )
    };
    let images = match request.send().await {
        Ok(images) => images,
        Err(err) => {
            let err =
                classify_sdk_error(format!("finding the golden AMI of {}", instance.name), err);
            return Err(match err {
                BackstopError::NotFound { .. } => not_found(),
                other => other,
            });
        }
    };
    let mut images: Vec<_> = images
        .images()
        .iter()
        .filter(|i| i.image_id().is_some())
        .cloned()
        .collect();
    images.sort_by(|a, b| b.creation_date().cmp(&a.creation_date()));
    images.into_iter().next().ok_or_else(not_found)
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

/// Each subnet's AZ, by subnet id.
pub(crate) fn zones_of(subnets: &[aws_sdk_ec2::types::Subnet]) -> HashMap<String, String> {
    subnets
        .iter()
        .filter_map(|s| {
            Some((
                s.subnet_id()?.to_string(),
                s.availability_zone()?.to_string(),
            ))
        })
        .collect()
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
        .context(format!("describing the DR subnets of {}", instance.name))?;
    let subnet_zones = zones_of(subnets.subnets());
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
                .client_token(launch_token(
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
            crate::error::truncate_chars(&tried.join("; "), 256).to_string(),
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

/// Instances that are starting or running (not stopping, stopped or terminated).
pub(crate) fn live_instances() -> Filter {
    let states = Filter::builder().name("instance-state-name");
    states.values("pending").values("running").build()
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
                .name(format!("tag:{}", crate::aws::tags::RUN_ID))
                .values(run_id.as_str())
                .build(),
        )
        .filters(
            Filter::builder()
                .name(format!("tag:{INSTANCE_TAG}"))
                .values(name)
                .build(),
        )
        .filters(live_instances())
        .send()
        .await
        .context(format!("looking for {name} launched by this run"))?;
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
            .context(format!("waiting for {} to run", launched.name))?;
        let instance = described
            .reservations()
            .iter()
            .flat_map(|r| r.instances())
            .next();
        // stopping, stopped, shutting down, terminated: it will not run by itself, and waiting
        // would only hold the run until its retries run out
        let state = instance.and_then(|i| i.state()).and_then(|s| s.name());
        if let Some(state) = state.filter(|s| {
            !matches!(s, InstanceStateName::Pending | InstanceStateName::Running)
        }) {
            let reason = instance
                .and_then(|i| i.state_reason())
                .and_then(|r| r.message())
                .unwrap_or("no reason given");
            return Err(BackstopError::Conflict(format!(
                "{} ({}) is {} instead of running ({reason}): it will not run by itself; look at its console output, then resume the run",
                launched.name,
                launched.instance_id,
                state.as_str()
            )));
        }
        Ok(instance
            .filter(|_| state == Some(&InstanceStateName::Running))
            .map(|i| LaunchedInstance {
                private_ip: i.private_ip_address().unwrap_or_default().to_string(),
                ..launched.clone()
            }))
    })
    .await
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LaunchCounts {
    pub instances: usize,
    /// The wave launched (the state machine hands it to the attach step).
    pub wave: u32,
}

/// `LaunchInstances`: the instances of `wave` (the plan's first when `None`), from the golden
/// AMI, and those of the waves before it as earlier rounds launched them.
pub async fn launch_round(
    ec2: &aws_sdk_ec2::Client,
    ssm: &aws_sdk_ssm::Client,
    cloudformation: &aws_sdk_cloudformation::Client,
    store: &RunStore,
    run_ref: &RunRef,
    wave: Option<u32>,
    wait: WaitPolicy,
) -> Result<LaunchCounts, BackstopError> {
    let run = store.load_run(run_ref).await?;
    let wave = run.plan.round_wave(wave)?;
    let (run, network_ready) = with_network(cloudformation, store, run_ref, run).await?;
    if !network_ready {
        // the state machine runs the launch again after a pause (Backstop.StillWaiting)
        return Err(BackstopError::StillWaiting {
            what: "the DR network stack".into(),
            message: "its subnets and security groups are not created yet".into(),
        });
    }
    let wave_instances = run
        .plan
        .instances
        .iter()
        .filter(|i| i.wave() == wave)
        .map(|i| i.name.clone())
        .collect();
    store
        .record_wave(run_ref, wave, wave_instances, |_, _| {})
        .await?;
    let ctx = LaunchContext {
        run_id: &run.run_id,
        mode: run.mode,
        plan: &run.plan,
        wait: wait.within_run(&run.deadline),
        wave,
    };
    let outcome = launch_instances(ec2, ssm, &ctx).await?;
    store
        .put(&run_ref.execution, Part::Launch, &outcome.instances)
        .await?;
    Ok(LaunchCounts {
        instances: outcome.instances.len(),
        wave,
    })
}

/// `LaunchInstancesFunction`: the instances of the input's wave, from the golden AMI.
pub async fn run(
    clients: &Clients,
    input: StepInput,
    invocation: &Invocation,
) -> Result<LaunchCounts, BackstopError> {
    let (ec2, ssm, cf) = (&clients.ec2, &clients.ssm, &clients.cloudformation);
    let wait = WaitPolicy::until(invocation.deadline);
    launch_round(
        ec2,
        ssm,
        cf,
        &clients.store()?,
        &input.run,
        input.wave,
        wait,
    )
    .await
}
