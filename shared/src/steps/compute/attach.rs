//! Step 3 of recovery: attach the restored EBS volumes to the launched instances.

use aws_sdk_ec2::types::{VolumeAttachmentState, VolumeState};
use serde::{Deserialize, Serialize};

use crate::aws::store::{Part, RunRef, RunStore};
use crate::aws::wait::{wait_until, WaitPolicy};
use crate::aws::Clients;
use crate::error::{BackstopError, SdkContext};
use crate::kinds::Health;
use crate::model::instances::Attachment;
use crate::model::instances::LaunchedInstance;
use crate::model::jobs::JobStatus;
use crate::model::jobs::RestoreJob;
use crate::model::run::RunId;
use crate::plan::Plan;
use crate::steps::{Invocation, StepInput};

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
pub(super) fn owned_volume_id(
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
                    crate::error::truncate_chars(arn, 200),
                    owner.account.unwrap_or("(this account)"),
                    owner.region
                ),
            )
        })
}

/// Attaches each restored volume with an `attachTo` to its instance at its device and
/// waits until they are in use: every attachment is started first, then all are waited for
/// together (the wait is the slowest one, not their sum). Already attached there is success;
/// anywhere else is an error. Only volumes this run restored are attached (account, region
/// and run tag checked).
pub async fn attach_volumes(
    ec2: &aws_sdk_ec2::Client,
    plan: &Plan,
    owner: &VolumeOwner<'_>,
    jobs: &[RestoreJob],
    instances: &[LaunchedInstance],
    wave: u32,
    wait: WaitPolicy,
) -> Result<AttachOutcome, BackstopError> {
    let planned = planned_attachments(plan, owner, jobs, instances, wave)?;
    let mut attachments = Vec::with_capacity(planned.len());
    for (mut attachment, instance) in planned {
        attachment.newly_attached = start_attach(
            ec2,
            owner.run_id,
            &attachment.resource,
            &attachment.volume_id,
            instance,
            &attachment.device,
        )
        .await?;
        attachments.push(attachment);
    }
    wait_attached(ec2, &attachments, wait).await?;
    for attachment in attachments.iter().filter(|a| a.newly_attached) {
        tracing::info!(resource = %attachment.resource, volume = %attachment.volume_id, instance = %attachment.instance_id, device = %attachment.device, "volume attached");
    }
    Ok(AttachOutcome { attachments })
}

/// The attachments the plan asks for on the instances of `wave` and the waves before it, each
/// a volume this run restored: the refusals (no completed restore, a volume that is not the
/// run's, an instance it did not launch) come before any attachment starts.
fn planned_attachments<'i>(
    plan: &Plan,
    owner: &VolumeOwner<'_>,
    jobs: &[RestoreJob],
    instances: &'i [LaunchedInstance],
    wave: u32,
) -> Result<Vec<(Attachment, &'i LaunchedInstance)>, BackstopError> {
    let mut planned = Vec::new();
    for resource in &plan.resources {
        let Some(attach) = resource.ebs.as_ref().and_then(|e| e.attach_to.as_ref()) else {
            continue;
        };
        if plan.wave_of(&attach.instance) > wave {
            continue;
        }
        let Some(job) = jobs
            .iter()
            .find(|j| j.resource == resource.name && j.status == JobStatus::Completed)
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
        let attachment = Attachment {
            resource: resource.name.clone(),
            volume_id,
            instance: instance.name.clone(),
            instance_id: instance.instance_id.clone(),
            device: attach.device.clone(),
            newly_attached: false,
        };
        planned.push((attachment, instance));
    }
    Ok(planned)
}

/// Starts attaching the run's `volume_id` to `instance` at `device`, without waiting; false
/// when an earlier round attached it there already (maybe still attaching).
pub(super) async fn start_attach(
    ec2: &aws_sdk_ec2::Client,
    run_id: &RunId,
    resource: &str,
    volume_id: &str,
    instance: &LaunchedInstance,
    device: &str,
) -> Result<bool, BackstopError> {
    let volume = describe_volume(ec2, resource, volume_id).await?;
    let tag = |key: &str| {
        volume
            .tags()
            .iter()
            .find(|t| t.key() == Some(key))
            .and_then(|t| t.value())
    };
    // the run's state names the volume its restore job created for `resource`; a volume
    // claimed in bulk carries no plan entry, one tagged singly must carry this one
    if tag(crate::aws::tags::RUN_ID) != Some(run_id.as_str())
        || tag(crate::aws::tags::RESOURCE).is_some_and(|tagged| tagged != resource)
    {
        return Err(BackstopError::Conflict(format!(
            "volume {volume_id} was not restored by run {run_id} for {resource} (its {} tag is {:?}, its {} tag {:?}): refusing to attach it",
            crate::aws::tags::RUN_ID,
            tag(crate::aws::tags::RUN_ID).unwrap_or("missing"),
            crate::aws::tags::RESOURCE,
            tag(crate::aws::tags::RESOURCE).unwrap_or("missing")
        )));
    }
    if let Some(existing) = volume.attachments().first() {
        let same = existing.instance_id() == Some(instance.instance_id.as_str())
            && existing.device() == Some(device);
        if same {
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
        .context(format!("attaching {resource} to {}", instance.name))?;
    Ok(true)
}

/// Volumes described per call while waiting (DescribeVolumes by id, kept well inside a
/// request's size).
const VOLUMES_PER_CALL: usize = 200;

/// Waits until every attachment is `attached` (each is `attaching` first): one DescribeVolumes
/// per 200 volumes per check, whatever their number.
pub(super) async fn wait_attached(
    ec2: &aws_sdk_ec2::Client,
    attachments: &[Attachment],
    wait: WaitPolicy,
) -> Result<(), BackstopError> {
    if attachments.is_empty() {
        return Ok(());
    }
    let ids: Vec<String> = attachments.iter().map(|a| a.volume_id.clone()).collect();
    let what = match attachments {
        [one] => format!("{} of {} to be attached", one.volume_id, one.resource),
        many => format!("{} volumes to be attached", many.len()),
    };
    wait_until(wait, &what, || async {
        let mut attached = 0;
        for chunk in ids.chunks(VOLUMES_PER_CALL) {
            let described = ec2
                .describe_volumes()
                .set_volume_ids(Some(chunk.to_vec()))
                .send()
                .await
                .context("describing the restored volumes being attached")?;
            attached += described
                .volumes()
                .iter()
                .filter(|volume| {
                    volume
                        .attachments()
                        .first()
                        .and_then(|a| a.state())
                        .is_some_and(|state| state == &VolumeAttachmentState::Attached)
                })
                .count();
        }
        Ok((attached == ids.len()).then_some(()))
    })
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
        .context(format!("describing the restored volume of {resource}"))?;
    described.volumes().first().cloned().ok_or_else(|| {
        BackstopError::not_found(
            format!("volume {volume_id}"),
            format!("the restored volume of {resource} is gone"),
        )
    })
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttachCounts {
    pub attachments: usize,
    /// The wave to launch next, once this one is attached and healthy (null after the last:
    /// the state machine's choice reads it either way).
    pub next_wave: Option<u32>,
}

/// `AttachVolumes`: each restored volume to its instance, for the instances of `wave` (the
/// plan's first when `None`) and the waves before it; then, when another wave follows, the
/// gate before it: this wave's instances running with passing status checks (still
/// initializing is `Backstop.StillWaiting`, impaired stops the run). `invoked_arn`: this
/// function's ARN, whose account (or the run's `recoverInto` account) is the only one whose
/// volumes are attached.
pub async fn attach_round(
    ec2: &aws_sdk_ec2::Client,
    store: &RunStore,
    run_ref: &RunRef,
    invoked_arn: &str,
    wave: Option<u32>,
    wait: WaitPolicy,
) -> Result<AttachCounts, BackstopError> {
    let run = store.load_run_resolved(run_ref).await?;
    let jobs = store.jobs(run_ref).await?;
    let instances = store.instances(run_ref).await?;
    // the account the run restores in: this function's, or a failover's recoverInto account
    let account = match run.recovers_into() {
        Some(into) => Some(into.account_id().to_string()),
        None => account_of(invoked_arn),
    };
    let owner = VolumeOwner {
        run_id: &run.run_id,
        account: account.as_deref(),
        region: &run.plan.dr_region,
    };
    let wave = run.plan.round_wave(wave)?;
    let wait = wait.within_run(&run.deadline);
    let outcome = attach_volumes(ec2, &run.plan, &owner, &jobs, &instances, wave, wait).await?;
    store
        .put(&run_ref.execution, Part::Attach, &outcome.attachments)
        .await?;
    let in_wave: Vec<LaunchedInstance> = instances
        .into_iter()
        .filter(|i| run.plan.wave_of(&i.name) == wave)
        .collect();
    let names = in_wave.iter().map(|i| i.name.clone()).collect::<Vec<_>>();
    store
        .record_wave(run_ref, wave, names.clone(), |span, now| {
            span.attached_at.get_or_insert(now);
        })
        .await?;
    let next_wave = run.plan.wave_after(wave);
    if let Some(next) = next_wave {
        let stops = format!("wave {next} not launched");
        match crate::kinds::ec2::health(ec2, &in_wave, &stops).await? {
            Health::Healthy(_) => {
                tracing::info!(wave, next, instances = ?names, "wave healthy: the next wave launches");
                store
                    .record_wave(run_ref, wave, names, |span, now| {
                        span.healthy_at.get_or_insert(now);
                    })
                    .await?;
            }
            Health::NotYet(why) => {
                return Err(BackstopError::StillWaiting {
                    what: format!("wave {wave}"),
                    message: format!("{why}; wave {next} launches once wave {wave} is healthy"),
                })
            }
        }
    }
    Ok(AttachCounts {
        attachments: outcome.attachments.len(),
        next_wave,
    })
}

/// `AttachVolumesFunction`: each restored EBS volume to its planned instance and device.
pub async fn run(
    clients: &Clients,
    input: StepInput,
    invocation: &Invocation,
) -> Result<AttachCounts, BackstopError> {
    let wait = WaitPolicy::until(invocation.deadline);
    let store = clients.store()?;
    attach_round(
        &clients.ec2,
        &store,
        &input.run,
        &invocation.function_arn,
        input.wave,
        wait,
    )
    .await
}
