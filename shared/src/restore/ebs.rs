//! EBS volumes: restored into the AZ of the instance they attach to.

use std::collections::HashMap;

use super::{require_settings, RestoreContext};
use crate::error::BackstopError;
use crate::plan::ProtectedResource;

/// AWS Backup's EBS metadata keys (camelCase in the API).
pub(super) fn metadata(
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{EbsRestore, ResourceKind};
    use crate::run::Mode;

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
