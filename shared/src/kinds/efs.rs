//! EFS file systems: always restored as a new, encrypted-by-default file system.

use std::collections::HashMap;

use aws_sdk_efs::types::Tag;

use super::common::{tag_value, Found, Owned, OwnedKind, Removal, RestoreContext};
use crate::aws::tags::{token, MODE, RESOURCE, RUN_ID};
use crate::error::{classify_sdk_error, BackstopError, SdkContext};
use crate::plan::ProtectedResource;

/// AWS Backup's EFS metadata keys.
pub(crate) fn metadata(
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

/// The run id a file system is tagged with.
pub(crate) async fn run_tag(
    efs: &aws_sdk_efs::Client,
    id: &str,
) -> Result<Option<String>, BackstopError> {
    let described = efs
        .describe_file_systems()
        .file_system_id(id)
        .send()
        .await
        .context(format!("reading the tags of {id}"))?;
    Ok(described
        .file_systems()
        .first()
        .and_then(|fs| fs.tags().iter().find(|tag| tag.key() == RUN_ID))
        .map(|tag| tag.value().to_string()))
}

pub(crate) async fn tag(
    efs: &aws_sdk_efs::Client,
    id: &str,
    tags: &[(String, String)],
    action: String,
) -> Result<(), BackstopError> {
    let tags: Result<Vec<Tag>, _> = tags
        .iter()
        .map(|(key, value)| Tag::builder().key(key).value(value).build())
        .collect();
    let tags = tags.map_err(|err| BackstopError::invalid_input("tags", err.to_string()))?;
    let tagging = efs
        .tag_resource()
        .resource_id(id)
        .set_tags(Some(tags))
        .send();
    tagging.await.context(action)?;
    Ok(())
}

/// File systems tagged with the run.
pub(crate) async fn tagged(
    efs: &aws_sdk_efs::Client,
    run_id: &str,
) -> Result<Vec<Found>, BackstopError> {
    let mut found = Vec::new();
    let mut pages = efs.describe_file_systems().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.context("listing file systems")?;
        for fs in page.file_systems() {
            let tags = || fs.tags().iter().map(|t| (t.key(), t.value()));
            if tag_value(tags(), RUN_ID) != Some(run_id) {
                continue;
            }
            found.push(Found {
                owned: Owned {
                    kind: OwnedKind::FileSystem,
                    id: fs.file_system_id().to_string(),
                    resource: tag_value(tags(), RESOURCE).map(str::to_string),
                },
                mode: tag_value(tags(), MODE).map(str::to_string),
                created: Some(fs.creation_time().secs()),
                ..Found::default()
            });
        }
    }
    Ok(found)
}

/// Deletes the mount targets first (EFS refuses to delete a file system that has any), then
/// the file system.
pub(crate) async fn remove(efs: &aws_sdk_efs::Client, id: &str) -> Result<Removal, BackstopError> {
    let gone = |err: BackstopError| match err {
        BackstopError::NotFound { .. } => Ok(Removal::Gone),
        other => Err(other),
    };
    let targets = match efs.describe_mount_targets().file_system_id(id).send().await {
        Ok(targets) => targets,
        Err(err) => {
            return gone(classify_sdk_error(
                format!("listing mount targets of {id}"),
                err,
            ))
        }
    };
    if !targets.mount_targets().is_empty() {
        for target in targets.mount_targets() {
            if target.life_cycle_state().as_str() == "deleting" {
                continue;
            }
            let target_id = target.mount_target_id();
            if let Err(err) = efs
                .delete_mount_target()
                .mount_target_id(target_id)
                .send()
                .await
            {
                match classify_sdk_error(format!("deleting mount target {target_id} of {id}"), err)
                {
                    BackstopError::NotFound { .. } => {}
                    other => return Err(other),
                }
            }
        }
        return Ok(Removal::Pending("deleting mount targets".into()));
    }
    match efs.delete_file_system().file_system_id(id).send().await {
        Ok(_) => {
            tracing::info!(file_system = id, "file system deleted");
            Ok(Removal::Gone)
        }
        Err(err) => match classify_sdk_error(format!("deleting file system {id}"), err) {
            // mount targets still going away
            BackstopError::Aws { code, .. } if code == "FileSystemInUse" => {
                Ok(Removal::Pending("mount targets still deleting".into()))
            }
            other => gone(other),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::run::Mode;
    use crate::plan::{EfsRestore, ResourceKind};

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
        let written = metadata(&base, &resource, &ctx).unwrap();
        assert_eq!(written["newFileSystem"], "true");
        assert_eq!(written["Encrypted"], "true");
        assert_eq!(
            written["CreationToken"],
            crate::aws::tags::token(&ctx.run_id, "efs", &["media"])
        );
        assert_eq!(written["file-system-id"], "fs-1");

        resource.efs = Some(EfsRestore {
            encrypted: Some(false),
            performance_mode: Some("maxIO".into()),
            ..Default::default()
        });
        let changed = metadata(&base, &resource, &ctx).unwrap();
        assert_eq!(changed["Encrypted"], "false");
        assert_eq!(changed["PerformanceMode"], "maxIO");
    }
}
