//! The data a run restores: the DR vault, a fresh copy of every protected resource, and the
//! KMS keys the restores need.

use super::{age, line, unchecked, CheckLine, ReadinessRequest, Status};
use crate::error::{classify_sdk_error, BackstopError};
use crate::model::run::Mode;
use crate::model::time::format_time;
use crate::plan::Plan;
use crate::steps::restore::{dr_copies, DrCopy};
use std::collections::{BTreeMap, HashMap};

/// The DR vault exists; every protected resource has a COMPLETED copy in it, no older than
/// the RPO objective.
pub(super) async fn check_vault_and_copies(
    backup: &aws_sdk_backup::Client,
    plan: &Plan,
    request: &ReadinessRequest,
    lines: &mut Vec<CheckLine>,
) -> Result<HashMap<String, DrCopy>, BackstopError> {
    let vault = &plan.backup_vault;
    let region = &plan.dr_region;
    match backup
        .describe_backup_vault()
        .backup_vault_name(vault)
        .send()
        .await
    {
        Ok(_) => lines.push(line(
            "vault",
            Status::Pass,
            vault.as_str(),
            format!("backup vault {vault} exists in {region}"),
        )),
        Err(err) => {
            let err = classify_sdk_error(format!("describing backup vault {vault}"), err);
            let failed = match err {
                BackstopError::NotFound { .. } => line(
                    "vault",
                    Status::Fail,
                    vault.as_str(),
                    format!("backup vault {vault} does not exist in {region}: no resource can be restored"),
                )
                .fix(format!(
                    "create it (aws backup create-backup-vault --backup-vault-name {vault} --region {region}) and a copy rule into it in the primary region's backup plan, or correct backupVault"
                )),
                other => unchecked("vault", vault, other)?,
            };
            lines.push(failed);
            return Ok(HashMap::new());
        }
    }
    let copies = dr_copies(backup, vault, region, request.point_in_time).await?;
    let objective = plan.objectives.rpo_minutes.map(|m| m.saturating_mul(60));
    for resource in &plan.resources {
        let Some(arn) = &resource.arn else { continue };
        let copy_line = |status, detail| line("dr-copy", status, resource.name.as_str(), detail);
        let Some(copy) = copies.get(arn) else {
            let status = Status::warn_if(resource.optional);
            lines.push(
                copy_line(
                    status,
                    format!(
                        "{arn} has no COMPLETED copy in vault {vault} ({region}){}",
                        if resource.optional {
                            "; optional, a run skips it"
                        } else {
                            ""
                        }
                    ),
                )
                .fix(format!(
                    "add a copy rule to {vault} in {region} to the backup plan that protects it, or copy its latest recovery point now (aws backup start-copy-job); or mark it optional"
                )),
            );
            continue;
        };
        let age_seconds = request
            .point_in_time
            .secs()
            .saturating_sub(copy.data_time.secs())
            .max(0);
        let found = format!(
            "copy {} holds data from {} ({} old)",
            crate::kinds::id_of(&copy.arn),
            format_time(copy.data_time),
            age(age_seconds)
        );
        match objective {
            Some(limit) if age_seconds > limit => {
                // a drill learns from a stale copy; a failover would lose more data than the
                // objective allows, so it needs an operator to accept that
                let accepted = request.accept_warnings || request.resumed;
                let status = Status::warn_if(request.mode == Mode::Drill || accepted);
                lines.push(
                    copy_line(
                        status,
                        format!(
                            "{found}: older than the RPO objective of {}{}",
                            age(limit),
                            if status == Status::Warn && request.mode == Mode::Failover {
                                " (accepted)"
                            } else {
                                ""
                            }
                        ),
                    )
                    .fix(
                        "check the backup plan's schedule and its copy rule to the DR vault; to fail over with this copy anyway, start the run with \"acceptWarnings\": true",
                    ),
                );
            }
            _ => lines.push(copy_line(Status::Pass, found)),
        }
    }
    Ok(copies)
}

/// The region a KMS key ARN names (`arn:aws:kms:<region>:...`); none for ids and aliases.
pub(super) fn key_region(key: &str) -> Option<&str> {
    let parts: Vec<&str> = key.splitn(6, ':').collect();
    (parts.len() == 6 && parts[0] == "arn" && parts[2] == "kms").then(|| parts[3])
}

/// Every KMS key a restore needs (the copies' keys, the plan's `kmsKeyId`s) is an enabled key
/// of the DR region.
pub(super) async fn check_keys(
    kms: &aws_sdk_kms::Client,
    plan: &Plan,
    copies: &HashMap<String, DrCopy>,
    lines: &mut Vec<CheckLine>,
) -> Result<(), BackstopError> {
    // key -> (who needs it, whether it encrypts a copy rather than being a plan setting)
    let mut keys: BTreeMap<String, (Vec<String>, bool)> = BTreeMap::new();
    for resource in &plan.resources {
        let copy_key = resource
            .arn
            .as_ref()
            .and_then(|arn| copies.get(arn))
            .and_then(|copy| copy.encryption_key_arn.clone());
        if let Some(key) = copy_key {
            let entry = keys.entry(key).or_default();
            entry.0.push(resource.name.clone());
            entry.1 = true;
        }
        let planned = [
            resource.ebs.as_ref().and_then(|e| e.kms_key_id.clone()),
            resource.efs.as_ref().and_then(|e| e.kms_key_id.clone()),
        ];
        for key in planned.into_iter().flatten() {
            keys.entry(key).or_default().0.push(resource.name.clone());
        }
    }
    let region = &plan.dr_region;
    for (key, (users, encrypts_copy)) in keys {
        let who = users.join(", ");
        let fix = if encrypts_copy {
            format!("the DR vault's copies need an enabled key in {region}: cancel its deletion or enable it (aws kms cancel-key-deletion / enable-key), or copy the backups again into a vault whose key is usable")
        } else {
            format!("use a KMS key of {region} (a key created there, or a multi-Region replica) in kmsKeyId")
        };
        let what = if encrypts_copy {
            "the key of their DR copies"
        } else {
            "their planned kmsKeyId"
        };
        if let Some(other) = key_region(&key).filter(|r| r != region) {
            lines.push(
                line(
                    "kms-key",
                    Status::Fail,
                    who,
                    format!("{what}, {key}, is a key of {other}: not usable in {region}"),
                )
                .fix(fix),
            );
            continue;
        }
        let described = kms.describe_key().key_id(&key).send().await;
        let found = match described {
            Ok(found) => found,
            Err(err) => {
                let err = classify_sdk_error(format!("describing KMS key {key}"), err);
                lines.push(match err {
                    BackstopError::NotFound { .. } => line(
                        "kms-key",
                        Status::Fail,
                        who,
                        format!("{what}, {key}, does not exist in {region}"),
                    )
                    .fix(fix),
                    other => unchecked("kms-key", &who, other)?,
                });
                continue;
            }
        };
        let state = found
            .key_metadata()
            .and_then(|m| m.key_state())
            .map(|s| s.as_str().to_string())
            .unwrap_or_else(|| "unknown".into());
        if state == "Enabled" {
            lines.push(line(
                "kms-key",
                Status::Pass,
                who,
                format!("{what}, {key}, is enabled in {region}"),
            ));
        } else {
            lines.push(
                line(
                    "kms-key",
                    Status::Fail,
                    who,
                    format!("{what}, {key}, is {state}: a restore cannot decrypt with it"),
                )
                .fix(fix),
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_arn_names_its_region_and_an_alias_or_id_does_not() {
        assert_eq!(
            key_region("arn:aws:kms:us-east-1:123456789012:key/abc"),
            Some("us-east-1")
        );
        assert_eq!(key_region("alias/backup"), None);
        assert_eq!(key_region("1234abcd-12ab-34cd-56ef-1234567890ab"), None);
    }
}
