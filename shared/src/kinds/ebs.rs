//! EBS volumes: restored into the AZ of the instance they attach to.

use std::collections::HashMap;

use aws_sdk_ec2::types::{VolumeAttachmentState, VolumeState};

use super::common::{
    epoch, require_settings, tag_value, Found, Owned, OwnedKind, Removal, RestoreContext,
};
use super::ec2::run_filter;
use crate::aws::tags::{MODE, RESOURCE};
use crate::error::{classify_sdk_error, BackstopError, SdkContext};
use crate::plan::ProtectedResource;

/// AWS Backup's EBS metadata keys (camelCase in the API).
pub(crate) fn metadata(
    base: &HashMap<String, String>,
    resource: &ProtectedResource,
    ctx: &RestoreContext,
) -> Result<HashMap<String, String>, BackstopError> {
    let settings = require_settings(resource, resource.ebs.as_ref(), "ebs.availabilityZone")?;
    let mut metadata = base.clone();
    // The copy's metadata still names the source region's AZ: always override it.
    let zone = settings.availability_zone.clone().ok_or_else(|| {
        BackstopError::invalid_input(
            format!("plan.resources[{}].ebs.availabilityZone", resource.name),
            format!(
                "{} needs the DR availability zone to restore into",
                resource.name
            ),
        )
    })?;
    if !zone.starts_with(&ctx.dr_region) {
        return Err(BackstopError::invalid_input(
            format!("plan.resources[{}].ebs.availabilityZone", resource.name),
            format!("{zone} is not in the DR region {}", ctx.dr_region),
        ));
    }
    metadata.insert("availabilityZone".into(), zone);
    if let Some(volume_type) = &settings.volume_type {
        metadata.insert("volumeType".into(), volume_type.clone());
    }
    if let Some(key) = &settings.kms_key_id {
        metadata.insert("encrypted".into(), "true".into());
        metadata.insert("kmsKeyId".into(), key.clone());
    } else {
        // a source-region key cannot encrypt in the DR region
        metadata.remove("kmsKeyId");
    }
    Ok(metadata)
}

/// Volumes tagged with the run.
pub(crate) async fn tagged_volumes(
    ec2: &aws_sdk_ec2::Client,
    run_id: &str,
) -> Result<Vec<Found>, BackstopError> {
    let mut found = Vec::new();
    let mut pages = ec2
        .describe_volumes()
        .filters(run_filter(run_id))
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.context("listing the run's volumes")?;
        for volume in page.volumes() {
            let tags = || {
                volume
                    .tags()
                    .iter()
                    .map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default()))
            };
            found.push(Found {
                owned: Owned {
                    kind: OwnedKind::Volume,
                    id: volume.volume_id().unwrap_or_default().to_string(),
                    resource: tag_value(tags(), RESOURCE).map(str::to_string),
                },
                mode: tag_value(tags(), MODE).map(str::to_string),
                created: epoch(volume.create_time()),
                ..Found::default()
            });
        }
    }
    Ok(found)
}

/// The volume `id` as EC2 describes it (NotFound once it is gone).
async fn described_volume(
    ec2: &aws_sdk_ec2::Client,
    id: &str,
) -> Result<aws_sdk_ec2::types::Volume, BackstopError> {
    let described = ec2
        .describe_volumes()
        .volume_ids(id)
        .send()
        .await
        .context(format!("describing volume {id}"))?;
    described
        .volumes()
        .first()
        .cloned()
        .ok_or_else(|| BackstopError::not_found(format!("volume {id}"), "gone"))
}

/// The run tag of a volume (NotFound once it is gone).
pub(crate) async fn volume_run_tag(
    ec2: &aws_sdk_ec2::Client,
    id: &str,
) -> Result<Option<String>, BackstopError> {
    let volume = described_volume(ec2, id).await?;
    let tags = volume
        .tags()
        .iter()
        .map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default()));
    Ok(tag_value(tags, crate::aws::tags::RUN_ID).map(str::to_string))
}

/// Whether EC2 created the volume with fast snapshot restore (full performance at once).
pub(crate) async fn fast_restored(
    ec2: &aws_sdk_ec2::Client,
    id: &str,
) -> Result<bool, BackstopError> {
    Ok(described_volume(ec2, id)
        .await?
        .fast_restored()
        .unwrap_or(false))
}

/// Detaches the volume if attached, then deletes it once `available`.
pub(crate) async fn remove_volume(
    ec2: &aws_sdk_ec2::Client,
    id: &str,
) -> Result<Removal, BackstopError> {
    let described = match ec2.describe_volumes().volume_ids(id).send().await {
        Ok(described) => described,
        Err(err) => {
            return match classify_sdk_error(format!("describing volume {id}"), err) {
                BackstopError::NotFound { .. } => Ok(Removal::Gone),
                other => Err(other),
            }
        }
    };
    let Some(volume) = described.volumes().first() else {
        return Ok(Removal::Gone);
    };
    match volume.state() {
        None | Some(VolumeState::Deleted) | Some(VolumeState::Deleting) => Ok(Removal::Gone),
        Some(VolumeState::Available) => {
            match ec2.delete_volume().volume_id(id).send().await {
                Ok(_) => {}
                Err(err) => match classify_sdk_error(format!("deleting volume {id}"), err) {
                    BackstopError::NotFound { .. } => {}
                    other => return Err(other),
                },
            }
            tracing::info!(volume = id, "volume deleted");
            Ok(Removal::Gone)
        }
        Some(VolumeState::InUse) => {
            for attachment in volume.attachments() {
                if attachment.state() == Some(&VolumeAttachmentState::Detaching) {
                    continue;
                }
                let instance = attachment.instance_id().unwrap_or_default();
                match ec2
                    .detach_volume()
                    .volume_id(id)
                    .instance_id(instance)
                    .send()
                    .await
                {
                    Ok(_) => tracing::info!(volume = id, instance, "volume detaching"),
                    // detached (or the instance went) in the meantime
                    Err(err) => match classify_sdk_error(format!("detaching volume {id}"), err) {
                        BackstopError::NotFound { .. } => {}
                        BackstopError::Aws { code, .. } if code == "IncorrectState" => {}
                        other => return Err(other),
                    },
                }
            }
            Ok(Removal::Pending("detaching".into()))
        }
        Some(other) => Ok(Removal::Pending(other.as_str().to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::run::Mode;
    use crate::plan::{EbsRestore, ResourceKind};

    fn volume(ebs: EbsRestore) -> ProtectedResource {
        ProtectedResource {
            name: "app-data".into(),
            kind: ResourceKind::Ebs,
            ebs: Some(ebs),
            ..Default::default()
        }
    }

    fn source_metadata() -> HashMap<String, String> {
        HashMap::from([
            ("volumeId".to_string(), "vol-1".to_string()),
            ("volumeSize".to_string(), "50".to_string()),
            ("volumeType".to_string(), "gp2".to_string()),
            ("availabilityZone".to_string(), "us-east-1a".to_string()),
            ("encrypted".to_string(), "true".to_string()),
            (
                "kmsKeyId".to_string(),
                "arn:aws:kms:us-east-1:123456789012:key/abc".to_string(),
            ),
        ])
    }

    #[test]
    fn the_source_az_and_key_are_replaced_by_dr_ones() {
        let ctx = RestoreContext::for_test(Mode::Failover);
        let resource = volume(EbsRestore {
            availability_zone: Some("us-west-2b".into()),
            volume_type: Some("gp3".into()),
            ..Default::default()
        });
        let metadata = metadata(&source_metadata(), &resource, &ctx).unwrap();
        assert_eq!(metadata["availabilityZone"], "us-west-2b");
        assert_eq!(metadata["volumeType"], "gp3");
        assert_eq!(metadata["volumeSize"], "50");
        assert!(!metadata.contains_key("kmsKeyId"));
    }

    #[test]
    fn a_dr_kms_key_turns_encryption_on() {
        let ctx = RestoreContext::for_test(Mode::Drill);
        let key = "arn:aws:kms:us-west-2:123456789012:key/dr".to_string();
        let resource = volume(EbsRestore {
            availability_zone: Some("us-west-2a".into()),
            kms_key_id: Some(key.clone()),
            ..Default::default()
        });
        let metadata = metadata(&source_metadata(), &resource, &ctx).unwrap();
        assert_eq!(metadata["encrypted"], "true");
        assert_eq!(metadata["kmsKeyId"], key);
    }

    #[test]
    fn a_volume_without_a_dr_az_is_refused_by_name() {
        let ctx = RestoreContext::for_test(Mode::Drill);
        let err = metadata(&source_metadata(), &volume(EbsRestore::default()), &ctx).unwrap_err();
        assert_eq!(err.error_name(), "Backstop.InvalidInput");
        assert!(err.to_string().contains("app-data"), "{err}");
    }
}
