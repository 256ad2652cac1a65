//! EFS file systems: always restored as a new, encrypted-by-default file system.

use std::collections::HashMap;

use super::RestoreContext;
use crate::error::BackstopError;
use crate::plan::ProtectedResource;
use crate::tags::token;

/// AWS Backup's EFS metadata keys.
pub(super) fn metadata(
    base: &HashMap<String, String>,
    resource: &ProtectedResource,
    ctx: &RestoreContext,
) -> Result<HashMap<String, String>, BackstopError> {
    let settings = resource.efs.clone().unwrap_or_default();
    let mut metadata = base.clone();
    // Restoring in place would need the source file system, which lives in the primary region.
    metadata.insert("newFileSystem".into(), "true".into());
    let encrypted = settings.encrypted.unwrap_or(true);
    metadata.insert("Encrypted".into(), encrypted.to_string());
    match (&settings.kms_key_id, encrypted) {
        (Some(key), true) => {
            metadata.insert("KmsKeyId".into(), key.clone());
        }
        _ => {
            metadata.remove("KmsKeyId");
        }
    }
    if let Some(mode) = &settings.performance_mode {
        metadata.insert("PerformanceMode".into(), mode.clone());
    }
    // Unique per run and resource, so a retried restore cannot create a second file system.
    metadata.insert(
        "CreationToken".into(),
        token(&ctx.run_id, "efs", &[&resource.name]),
    );
    Ok(metadata)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{EfsRestore, ResourceKind};
    use crate::run::Mode;

    #[test]
    fn a_file_system_is_restored_new_and_encrypted_unless_the_plan_says_otherwise() {
        let ctx = RestoreContext::for_test(Mode::Drill);
        let base = HashMap::from([
            ("file-system-id".to_string(), "fs-1".to_string()),
            ("Encrypted".to_string(), "false".to_string()),
            ("newFileSystem".to_string(), "false".to_string()),
        ]);
        let mut resource = ProtectedResource {
            name: "media".into(),
            kind: ResourceKind::Efs,
            ..Default::default()
        };
        let metadata = metadata(&base, &resource, &ctx).unwrap();
        assert_eq!(metadata["newFileSystem"], "true");
        assert_eq!(metadata["Encrypted"], "true");
        assert_eq!(
            metadata["CreationToken"],
            crate::tags::token(&ctx.run_id, "efs", &["media"])
        );
        assert_eq!(metadata["file-system-id"], "fs-1");

        resource.efs = Some(EfsRestore {
            encrypted: Some(false),
            performance_mode: Some("maxIO".into()),
            ..Default::default()
        });
        let metadata = super::metadata(&base, &resource, &ctx).unwrap();
        assert_eq!(metadata["Encrypted"], "false");
        assert_eq!(metadata["PerformanceMode"], "maxIO");
    }
}
