//! AWS Storage Gateway (Volume Gateway) volumes. AWS Backup keeps their recovery points as EBS
//! snapshots, and a copy in the DR region can be restored either to a gateway there or as an
//! Amazon EBS volume (AWS Backup developer guide, "Restore a Storage Gateway volume"). A DR
//! region has no gateway of the workload's, so Backstop restores the volume as an EBS volume
//! (volume type, size, AZ), which attaches like any restored volume.

use std::collections::HashMap;

use super::common::RestoreContext;
use crate::error::BackstopError;
use crate::plan::ProtectedResource;

/// Restore-to-gateway keys of the recovery point's metadata: a restore as an EBS volume must
/// not carry them (they name the primary region's gateway).
const GATEWAY_KEYS: [&str; 6] = [
    "gatewayArn",
    "gatewayType",
    "targetName",
    "kmsKey",
    "diskId",
    "volumeSizeInBytes",
];

const GIB: u64 = 1024 * 1024 * 1024;

/// EBS restore metadata for a gateway volume's copy: the `ebs` settings (AZ, type, key), and a
/// size of at least the gateway volume's (whole GiB, rounded up).
pub(crate) fn metadata(
    base: &HashMap<String, String>,
    resource: &ProtectedResource,
    ctx: &RestoreContext,
) -> Result<HashMap<String, String>, BackstopError> {
    let size_gib = volume_size_gib(base).ok_or_else(|| {
        BackstopError::invalid_input(
            format!("recovery point of {}", resource.name),
            "its restore metadata gives no volumeSize or volumeSizeInBytes: the EBS volume's size is unknown",
        )
    })?;
    let mut metadata = super::ebs::metadata(base, resource, ctx)?;
    for key in GATEWAY_KEYS {
        metadata.remove(key);
    }
    metadata.insert("volumeSize".into(), size_gib.to_string());
    metadata
        .entry("volumeType".into())
        .or_insert_with(|| "gp3".into());
    Ok(metadata)
}

/// The gateway volume's size in GiB, from `volumeSize` (GiB) or `volumeSizeInBytes`.
fn volume_size_gib(base: &HashMap<String, String>) -> Option<u64> {
    let from_bytes = base
        .get("volumeSizeInBytes")
        .and_then(|b| b.parse::<u64>().ok())
        .map(|bytes| bytes.div_ceil(GIB));
    let from_gib = base.get("volumeSize").and_then(|g| g.parse::<u64>().ok());
    from_gib.max(from_bytes).filter(|size| *size > 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{EbsRestore, ResourceKind};

    fn resource() -> ProtectedResource {
        ProtectedResource {
            name: "archive".into(),
            kind: ResourceKind::StorageGateway,
            ebs: Some(EbsRestore {
                availability_zone: Some("us-west-2a".into()),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn ctx() -> RestoreContext {
        RestoreContext::for_test(crate::model::run::Mode::Drill)
    }

    #[test]
    fn a_gateway_volume_restores_as_an_ebs_volume_at_least_its_size_without_the_gateway_keys() {
        let base: HashMap<String, String> = [
            (
                "gatewayArn",
                "arn:aws:storagegateway:us-east-1:111122223333:gateway/sgw-12A3456B",
            ),
            ("targetName", "archive"),
            ("volumeSizeInBytes", &(150 * GIB + 1).to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let metadata = metadata(&base, &resource(), &ctx()).unwrap();
        assert_eq!(metadata["availabilityZone"], "us-west-2a");
        assert_eq!(metadata["volumeSize"], "151");
        assert_eq!(metadata["volumeType"], "gp3");
        assert!(!metadata.contains_key("gatewayArn"), "{metadata:?}");
        assert!(!metadata.contains_key("targetName"), "{metadata:?}");
    }

    #[test]
    fn without_a_size_the_restore_is_refused_naming_the_resource() {
        let err = metadata(&HashMap::new(), &resource(), &ctx()).unwrap_err();
        assert!(err.to_string().contains("archive"), "{err}");
    }
}
