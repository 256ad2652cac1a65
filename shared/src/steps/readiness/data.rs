//! The data a run restores: the DR vault, a fresh copy of every protected resource, and the
//! KMS keys the restores need.

use super::{age, line, unchecked, CheckLine, ReadinessRequest, Status};
use crate::error::{classify_sdk_error, BackstopError, SdkContext};
use crate::model::run::Mode;
use crate::model::time::format_time;
use crate::plan::{Plan, VaultRef};
use crate::steps::restore::{dr_copies, DrCopy};
use aws_sdk_backup::types::VaultType;
use std::collections::{BTreeMap, HashMap};

/// The DR vault exists; every protected resource has a COMPLETED copy in it, no older than
/// the RPO objective. Collects (the vault, then its copies), then judges.
pub(super) async fn check_vault_and_copies(
    backup: &aws_sdk_backup::Client,
    plan: &Plan,
    request: &ReadinessRequest,
    lines: &mut Vec<CheckLine>,
) -> Result<(HashMap<String, DrCopy>, Option<String>), BackstopError> {
    let vault = plan.dr_vault();
    let described = backup
        .describe_backup_vault()
        .backup_vault_name(vault.name)
        .set_backup_vault_account_id(vault.account_param())
        .send()
        .await
        .context(format!("describing backup vault {vault}"));
    let lock = described.as_ref().ok().map(|d| VaultLock {
        locked: d.locked().unwrap_or(false),
        min_retention_days: d.min_retention_days(),
        lock_date: d.lock_date().map(|t| format_time(*t)),
        air_gapped: d.vault_type() == Some(&VaultType::LogicallyAirGappedBackupVault),
    });
    let own_account = restoring_account(
        request,
        &vault,
        described.as_ref().ok().and_then(|d| d.backup_vault_arn()),
    );
    let vault_line = judge_vault(plan, described.map(|_| ()))?;
    let exists = vault_line.status == Status::Pass;
    lines.push(vault_line);
    let Some(lock) = lock.filter(|_| exists) else {
        return Ok((HashMap::new(), own_account));
    };
    let policy = if lock.air_gapped {
        // its owner's, and never needed: no one deletes from an air-gapped vault early
        Ok(None)
    } else {
        match backup
            .get_backup_vault_access_policy()
            .backup_vault_name(vault.name)
            .send()
            .await
            .context(format!("reading the access policy of vault {vault}"))
        {
            Ok(answer) => Ok(answer.policy().map(str::to_string)),
            Err(BackstopError::NotFound { .. }) => Ok(None),
            Err(err) if err.is_transient() => return Err(err),
            Err(err) => Err(err.to_string()),
        }
    };
    if request.copies_made_by_run {
        // the home vault's copies are the run's own: its capture makes them before it restores
        lines.push(line(
            "dr-copy",
            Status::Pass,
            "all",
            format!(
                "the failback backs up the DR side and copies it into {vault} before it restores anything"
            ),
        ));
        return Ok((HashMap::new(), own_account));
    }
    lines.push(judge_protection(plan, &lock, policy));
    if vault.account_id.is_some() || own_account.is_some() {
        lines.extend(judge_source_accounts(plan, own_account.as_deref()));
    }
    let copies = dr_copies(backup, vault, &plan.dr_region, request.point_in_time).await?;
    lines.extend(judge_copies(plan, request, &copies));
    Ok((copies, own_account))
}

/// The account Backstop restores in: the function's, or else the vault's when it is its own
/// (a shared vault's ARN names its owner, who is not the one that restores).
fn restoring_account(
    request: &ReadinessRequest,
    vault: &VaultRef<'_>,
    vault_arn: Option<&str>,
) -> Option<String> {
    request.account.clone().or_else(|| {
        vault_arn
            .filter(|_| vault.account_id.is_none())
            .and_then(|arn| arn.split(':').nth(4))
            .map(str::to_string)
    })
}

/// The vault's line from what describing it answered.
fn judge_vault(
    plan: &Plan,
    described: Result<(), BackstopError>,
) -> Result<CheckLine, BackstopError> {
    let vault = &plan.backup_vault;
    let region = &plan.dr_region;
    match described {
        Ok(()) => Ok(line(
            "vault",
            Status::Pass,
            vault.as_str(),
            format!("backup vault {vault} exists in {region}"),
        )),
        Err(BackstopError::NotFound { .. } | BackstopError::AccessDenied { .. })
            if plan.backup_vault_account_id.is_some() =>
        {
            let owner = plan.backup_vault_account_id.as_deref().unwrap_or_default();
            Ok(line(
                "vault",
                Status::Fail,
                vault.as_str(),
                format!("backup vault {vault} of account {owner} in {region} is not shared with this account (or does not exist): no resource can be restored"),
            )
            .fix(format!(
                "in account {owner}, share the logically air-gapped vault through AWS RAM: aws ram create-resource-share --region {region} --name backstop-recovery --resource-arns arn:aws:backup:{region}:{owner}:backup-vault:{vault} --principals <this account's id> (outside an AWS Organization, accept the invitation here: aws ram accept-resource-share-invitation). Only a logically air-gapped vault can be shared; copy into one (aws backup create-logically-air-gapped-backup-vault) or correct backupVault and backupVaultAccountId"
            )))
        }
        Err(BackstopError::NotFound { .. }) => Ok(line(
            "vault",
            Status::Fail,
            vault.as_str(),
            format!("backup vault {vault} does not exist in {region}: no resource can be restored"),
        )
        .fix(format!(
            "create it (aws backup create-backup-vault --backup-vault-name {vault} --region {region}) and a copy rule into it in the primary region's backup plan, or correct backupVault"
        ))),
        Err(other) => unchecked("vault", vault, other),
    }
}

/// What Vault Lock says of the DR vault.
struct VaultLock {
    locked: bool,
    min_retention_days: Option<i64>,
    /// When a compliance-mode lock becomes immutable (before it, it can still be removed).
    lock_date: Option<String>,
    /// A logically air-gapped vault: locked in compliance mode from its creation.
    air_gapped: bool,
}

/// The statement that keeps anyone holding the account from deleting the DR copies.
const DENY_DELETION: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"DenyDeletingRecoveryPoints","Effect":"Deny","Principal":"*","Action":["backup:DeleteRecoveryPoint","backup:UpdateRecoveryPointLifecycle"],"Resource":"*"}]}"#;

/// Whether `pattern` (an IAM action, maybe with `*`) covers `action`, as IAM compares them.
fn action_covers(pattern: &str, action: &str) -> bool {
    let (pattern, action) = (pattern.to_ascii_lowercase(), action.to_ascii_lowercase());
    match pattern.strip_suffix('*') {
        Some(prefix) => action.starts_with(prefix),
        None => pattern == action,
    }
}

/// Whether the vault's access policy denies deleting recovery points to everyone, always.
pub(super) fn denies_deletion(policy: &str) -> bool {
    let Ok(policy) = serde_json::from_str::<serde_json::Value>(policy) else {
        return false;
    };
    let listed = |v: &serde_json::Value| -> Vec<serde_json::Value> {
        match v {
            serde_json::Value::Array(items) => items.clone(),
            serde_json::Value::Null => Vec::new(),
            other => vec![other.clone()],
        }
    };
    listed(&policy["Statement"]).iter().any(|statement| {
        let principal = &statement["Principal"];
        let everyone = principal == "*" || listed(&principal["AWS"]).iter().any(|p| p == "*");
        statement["Effect"] == "Deny"
            && statement.get("Condition").is_none()
            && everyone
            && listed(&statement["Action"]).iter().any(|a| {
                a.as_str()
                    .is_some_and(|a| action_covers(a, "backup:DeleteRecoveryPoint"))
            })
            && listed(&statement["Resource"])
                .iter()
                .any(|r| r == "*" || r.as_str().is_some_and(|r| r.contains(":backup-vault:")))
    })
}

/// Ransomware readiness: can someone who holds this account (an attacker, a script gone wrong)
/// delete the DR copies? A warning, not a refusal: the copies restore either way.
fn judge_protection(
    plan: &Plan,
    lock: &VaultLock,
    policy: Result<Option<String>, String>,
) -> CheckLine {
    let vault = &plan.backup_vault;
    let region = &plan.dr_region;
    if lock.air_gapped {
        let days = lock.min_retention_days.map_or(String::new(), |d| {
            format!(": each recovery point kept at least {d} days")
        });
        let whose = plan
            .backup_vault_account_id
            .as_deref()
            .map_or(String::new(), |owner| {
                format!(", in account {owner}, shared with this one")
            });
        return line(
            "vault-protection",
            Status::Pass,
            vault.as_str(),
            format!("{vault} is a logically air-gapped vault{whose}, locked in compliance mode{days}; no one can delete its recovery points earlier"),
        );
    }
    let mut gaps = Vec::new();
    let mut fixes = Vec::new();
    if !lock.locked {
        gaps.push("it is not locked by Vault Lock".to_string());
        fixes.push(format!(
            "lock it: aws backup put-backup-vault-lock-configuration --region {region} --backup-vault-name {vault} --min-retention-days 7 (governance mode; with --changeable-for-days it becomes compliance mode, which no one can undo after that many days)"
        ));
    }
    match &policy {
        Ok(Some(text)) if denies_deletion(text) => {}
        Ok(_) => {
            gaps.push("its access policy does not deny deleting recovery points".to_string());
            fixes.push(format!(
                "deny it to everyone: aws backup put-backup-vault-access-policy --region {region} --backup-vault-name {vault} --policy '{DENY_DELETION}'"
            ));
        }
        Err(why) => gaps.push(format!("its access policy could not be read ({why})")),
    }
    if gaps.is_empty() {
        let days = lock.min_retention_days.map_or(String::new(), |d| {
            format!(", each recovery point kept at least {d} days")
        });
        let date = lock
            .lock_date
            .as_ref()
            .map_or(String::new(), |d| format!(" (compliance mode from {d})"));
        return line(
            "vault-protection",
            Status::Pass,
            vault.as_str(),
            format!("{vault} is locked{date}{days}, and its access policy denies deleting recovery points to everyone"),
        );
    }
    line(
        "vault-protection",
        Status::Warn,
        vault.as_str(),
        format!(
            "whoever holds this account can delete the DR copies: {}",
            gaps.join("; ")
        ),
    )
    .fix(if fixes.is_empty() {
        "let preflight read the vault's access policy (backup:GetBackupVaultAccessPolicy)"
            .to_string()
    } else {
        fixes.join("; and ")
    })
}

/// A resource of another account restores only from that account's cross-account copies, and
/// only if the plan says copies come from there: an ARN of an unlisted account is a typo or a
/// plan meant for another deployment. One line per account other than the vault's.
fn judge_source_accounts(plan: &Plan, own_account: Option<&str>) -> Vec<CheckLine> {
    let mut by_account: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for resource in &plan.resources {
        let account = resource
            .arn
            .as_deref()
            .and_then(|arn| arn.split(':').nth(4));
        match account {
            Some(account) if Some(account) != own_account => {
                by_account.entry(account).or_default().push(&resource.name)
            }
            _ => {}
        }
    }
    by_account
        .into_iter()
        .map(|(account, names)| {
            let names = names.join(", ");
            if plan.source_accounts.iter().any(|a| a == account) {
                line(
                    "source-account",
                    Status::Pass,
                    account,
                    format!("{names}: copies from account {account} into vault {}, as sourceAccounts lists", plan.dr_vault()),
                )
            } else {
                line(
                    "source-account",
                    Status::Fail,
                    account,
                    match own_account {
                        Some(own) => format!("{names} in account {account}, but Backstop and vault {} are in account {own}", plan.backup_vault),
                        None => format!("{names} in account {account}, which sourceAccounts does not list (vault {})", plan.dr_vault()),
                    },
                )
                .fix(format!(
                    "if account {account}'s backup plan copies into this vault, list it in the plan's sourceAccounts (and this account too if it holds resources of its own); otherwise correct the ARN"
                ))
            }
        })
        .collect()
}

/// One line per protected resource: its freshest copy, judged against the RPO objective at
/// the request's point in time. A stale copy fails a failover unless an operator accepted it.
fn judge_copies(
    plan: &Plan,
    request: &ReadinessRequest,
    copies: &HashMap<String, DrCopy>,
) -> Vec<CheckLine> {
    let vault = &plan.backup_vault;
    let region = &plan.dr_region;
    let objective = plan.objectives.rpo_minutes.map(|m| m.saturating_mul(60));
    let mut lines = Vec::new();
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
                            if status == Status::Warn && request.mode.is_production() {
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
    lines
}

/// The region a KMS key ARN names (`arn:aws:kms:<region>:...`); none for ids and aliases.
pub(super) fn key_region(key: &str) -> Option<&str> {
    let parts: Vec<&str> = key.splitn(6, ':').collect();
    (parts.len() == 6 && parts[0] == "arn" && parts[2] == "kms").then(|| parts[3])
}

/// The account a KMS key ARN names; none for ids and aliases (which are this account's).
fn key_account(key: &str) -> Option<&str> {
    let parts: Vec<&str> = key.splitn(6, ':').collect();
    (parts.len() == 6 && parts[0] == "arn" && parts[2] == "kms").then(|| parts[4])
}

/// Who needs a KMS key, whether it encrypts their copies (rather than being a plan setting),
/// and the account Backstop runs in when the key is another account's.
#[derive(Debug, Default, PartialEq)]
struct KeyNeed {
    users: Vec<String>,
    encrypts_copy: bool,
    recovery_account: Option<String>,
}

/// What was found of a key: its state, or why it was not looked at or not found.
#[derive(Debug)]
enum KeyLook {
    /// An ARN of another region: not usable here, so not asked after.
    OtherRegion(String),
    State(String),
    Error(BackstopError),
}

/// Every KMS key a restore needs (the copies' keys, the plan's `kmsKeyId`s) is an enabled key
/// of the DR region. Each distinct key is described once.
pub(super) async fn check_keys(
    kms: &aws_sdk_kms::Client,
    plan: &Plan,
    copies: &HashMap<String, DrCopy>,
    recovery_account: Option<&str>,
    lines: &mut Vec<CheckLine>,
) -> Result<(), BackstopError> {
    let region = &plan.dr_region;
    for (key, mut need) in keys_needed(plan, copies) {
        need.recovery_account = recovery_account
            .filter(|own| key_account(&key).is_some_and(|owner| owner != *own))
            .map(str::to_string);
        let look = match key_region(&key).filter(|r| r != region) {
            Some(other) => KeyLook::OtherRegion(other.to_string()),
            None => match kms.describe_key().key_id(&key).send().await {
                Ok(found) => KeyLook::State(
                    found
                        .key_metadata()
                        .and_then(|m| m.key_state())
                        .map(|s| s.as_str().to_string())
                        .unwrap_or_else(|| "unknown".into()),
                ),
                Err(err) => {
                    KeyLook::Error(classify_sdk_error(format!("describing KMS key {key}"), err))
                }
            },
        };
        lines.push(judge_key(&key, &need, region, look)?);
    }
    Ok(())
}

/// The keys the plan's restores need: each copy's key and each planned `kmsKeyId`.
fn keys_needed(plan: &Plan, copies: &HashMap<String, DrCopy>) -> BTreeMap<String, KeyNeed> {
    let mut keys: BTreeMap<String, KeyNeed> = BTreeMap::new();
    for resource in &plan.resources {
        let copy_key = resource
            .arn
            .as_ref()
            .and_then(|arn| copies.get(arn))
            .and_then(|copy| copy.encryption_key_arn.clone());
        if let Some(key) = copy_key {
            let need = keys.entry(key).or_default();
            need.users.push(resource.name.clone());
            need.encrypts_copy = true;
        }
        let planned = [
            resource.ebs.as_ref().and_then(|e| e.kms_key_id.clone()),
            resource.efs.as_ref().and_then(|e| e.kms_key_id.clone()),
        ];
        for key in planned.into_iter().flatten() {
            keys.entry(key)
                .or_default()
                .users
                .push(resource.name.clone());
        }
    }
    keys
}

/// A key's line: usable only when it is an enabled key of the DR region.
fn judge_key(
    key: &str,
    need: &KeyNeed,
    region: &str,
    look: KeyLook,
) -> Result<CheckLine, BackstopError> {
    let who = need.users.join(", ");
    let (what, fix) = if need.encrypts_copy {
        ("the key of their DR copies", format!("the DR vault's copies need an enabled key in {region}: cancel its deletion or enable it (aws kms cancel-key-deletion / enable-key), or copy the backups again into a vault whose key is usable"))
    } else {
        ("their planned kmsKeyId", format!("use a KMS key of {region} (a key created there, or a multi-Region replica) in kmsKeyId"))
    };
    let failed =
        |detail: String| Ok(line("kms-key", Status::Fail, who.as_str(), detail).fix(fix.as_str()));
    match look {
        KeyLook::OtherRegion(other) => failed(format!(
            "{what}, {key}, is a key of {other}: not usable in {region}"
        )),
        KeyLook::State(state) if state == "Enabled" => Ok(line(
            "kms-key",
            Status::Pass,
            who.as_str(),
            format!("{what}, {key}, is enabled in {region}"),
        )),
        KeyLook::State(state) => failed(format!(
            "{what}, {key}, is {state}: a restore cannot decrypt with it"
        )),
        KeyLook::Error(
            err @ (BackstopError::NotFound { .. } | BackstopError::AccessDenied { .. }),
        ) if need.recovery_account.is_some() => {
            let own = need.recovery_account.as_deref().unwrap_or_default();
            let owner = key_account(key).unwrap_or_default();
            Ok(line(
                "kms-key",
                Status::Fail,
                who.as_str(),
                format!("{what}, {key}, is a key of account {owner} that this account ({own}) cannot use: {err}"),
            )
            .fix(format!(
                "in account {owner}, add to the key policy of {key} the statement {{\"Sid\":\"RecoveryAccountRestores\",\"Effect\":\"Allow\",\"Principal\":{{\"AWS\":\"arn:aws:iam::{own}:root\"}},\"Action\":[\"kms:Decrypt\",\"kms:DescribeKey\",\"kms:CreateGrant\",\"kms:ReEncrypt*\",\"kms:GenerateDataKey*\"],\"Resource\":\"*\"}} (aws kms put-key-policy --region {region} --key-id {key} --policy-name default --policy file://policy.json), then list the key in the stack's KmsKeyArns"
            )))
        }
        KeyLook::Error(BackstopError::NotFound { .. }) => {
            failed(format!("{what}, {key}, does not exist in {region}"))
        }
        KeyLook::Error(other) => unchecked("kms-key", &who, other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_smithy_types::DateTime;

    const HOUR: i64 = 3600;
    /// The example plan's RPO objective is 240 minutes.
    const NOW: i64 = 1_800_000_000;

    use crate::plan::example_plan as plan;

    fn request(mode: Mode, accept_warnings: bool) -> ReadinessRequest {
        ReadinessRequest {
            mode,
            accept_warnings,
            point_in_time: DateTime::from_secs(NOW),
            resumed: false,
            invocation_deadline: None,
            copies_made_by_run: false,
            account: None,
        }
    }

    /// A copy of every resource of the plan but `media`, `hours_old` hours old; app-data's
    /// encrypted with `key`.
    fn copies(plan: &Plan, hours_old: i64, key: &str) -> HashMap<String, DrCopy> {
        plan.resources
            .iter()
            .filter(|r| r.name != "media")
            .map(|r| {
                let arn = r.arn.clone().unwrap();
                let copy = DrCopy {
                    arn: format!(
                        "arn:aws:backup:us-west-2:123456789012:recovery-point:{}",
                        r.name
                    ),
                    data_time: DateTime::from_secs(NOW - hours_old * HOUR),
                    created: DateTime::from_secs(NOW - hours_old * HOUR + 600),
                    encryption_key_arn: (r.name == "app-data").then(|| key.to_string()),
                    size_bytes: None,
                };
                (arn, copy)
            })
            .collect()
    }

    fn status_of<'l>(lines: &'l [CheckLine], resource: &str) -> &'l CheckLine {
        lines
            .iter()
            .find(|l| l.resource == resource)
            .unwrap_or_else(|| panic!("no line for {resource}: {lines:?}"))
    }

    #[test]
    fn a_missing_copy_fails_unless_optional_and_fresh_copies_pass() {
        let plan = plan();
        let mut found = copies(&plan, 1, "k");
        found.remove(plan.resources[1].arn.as_ref().unwrap()); // app-logs is optional
        let lines = judge_copies(&plan, &request(Mode::Failover, false), &found);
        assert_eq!(lines.len(), 4);
        assert_eq!(status_of(&lines, "app-data").status, Status::Pass);
        assert!(status_of(&lines, "app-data").detail.contains("1.0 h old"));
        let logs = status_of(&lines, "app-logs");
        assert_eq!(logs.status, Status::Warn, "{logs:?}");
        assert!(logs.detail.contains("optional"));
        let media = status_of(&lines, "media");
        assert_eq!(media.status, Status::Fail);
        assert!(media.fix.as_deref().unwrap().contains("start-copy-job"));
    }

    #[test]
    fn a_copy_older_than_the_rpo_fails_a_failover_unless_accepted_and_warns_a_drill() {
        let plan = plan();
        let stale = copies(&plan, 5, "k");
        let failover = judge_copies(&plan, &request(Mode::Failover, false), &stale);
        let db = status_of(&failover, "orders-db");
        assert_eq!(db.status, Status::Fail);
        assert!(
            db.detail.contains("older than the RPO objective of 4.0 h"),
            "{db:?}"
        );
        assert!(db.fix.as_deref().unwrap().contains("acceptWarnings"));

        let accepted = judge_copies(&plan, &request(Mode::Failover, true), &stale);
        let db = status_of(&accepted, "orders-db");
        assert_eq!(db.status, Status::Warn);
        assert!(db.detail.ends_with("(accepted)"), "{db:?}");

        let drill = judge_copies(&plan, &request(Mode::Drill, false), &stale);
        let db = status_of(&drill, "orders-db");
        assert_eq!(db.status, Status::Warn);
        assert!(!db.detail.contains("accepted"));

        let mut resumed = request(Mode::Failover, false);
        resumed.resumed = true;
        let lines = judge_copies(&plan, &resumed, &stale);
        assert_eq!(status_of(&lines, "orders-db").status, Status::Warn);
    }

    #[test]
    fn a_missing_vault_fails_with_the_command_that_creates_it_and_throttling_is_retried() {
        let plan = plan();
        assert_eq!(judge_vault(&plan, Ok(())).unwrap().status, Status::Pass);
        let missing = judge_vault(
            &plan,
            Err(BackstopError::NotFound {
                what: "backstop-dr".into(),
                message: "no such vault".into(),
            }),
        )
        .unwrap();
        assert_eq!(missing.status, Status::Fail);
        assert!(missing
            .fix
            .unwrap()
            .contains("create-backup-vault --backup-vault-name backstop-dr --region us-west-2"));
        let throttled = judge_vault(
            &plan,
            Err(BackstopError::Transient {
                action: "describing".into(),
                message: "slow down".into(),
            }),
        );
        assert!(
            throttled.is_err(),
            "a transient error ends the check for a retry"
        );
    }

    #[test]
    fn keys_are_judged_once_each_and_only_an_enabled_key_of_the_dr_region_passes() {
        let mut plan = plan();
        let shared_key = "arn:aws:kms:us-west-2:123456789012:key/shared";
        plan.resources[3].efs.as_mut().unwrap().kms_key_id = Some(shared_key.into());
        let needed = keys_needed(&plan, &copies(&plan, 1, shared_key));
        assert_eq!(needed.len(), 1, "{needed:?}");
        let need = &needed[shared_key];
        assert_eq!(need.users, vec!["app-data", "media"]);
        assert!(need.encrypts_copy);

        let line = |look| judge_key(shared_key, need, "us-west-2", look).unwrap();
        assert_eq!(line(KeyLook::State("Enabled".into())).status, Status::Pass);
        let pending = line(KeyLook::State("PendingDeletion".into()));
        assert_eq!(pending.status, Status::Fail);
        assert!(pending.detail.contains("is PendingDeletion"));
        assert!(pending.fix.unwrap().contains("cancel-key-deletion"));
        let elsewhere = line(KeyLook::OtherRegion("us-east-1".into()));
        assert_eq!(elsewhere.status, Status::Fail);
        assert!(elsewhere.detail.contains("a key of us-east-1"));

        let planned = KeyNeed {
            users: vec!["media".into()],
            encrypts_copy: false,
            recovery_account: None,
        };
        let gone = judge_key(
            "alias/gone",
            &planned,
            "us-west-2",
            KeyLook::Error(BackstopError::NotFound {
                what: "alias/gone".into(),
                message: "not found".into(),
            }),
        )
        .unwrap();
        assert!(gone
            .detail
            .contains("their planned kmsKeyId, alias/gone, does not exist"));
        assert!(gone.fix.unwrap().contains("in kmsKeyId"));

        // another account's key this account cannot use: the fix is the key policy statement
        let production_key = "arn:aws:kms:us-west-2:210987654321:key/ledger";
        let foreign = KeyNeed {
            users: vec!["ledger-data".into()],
            encrypts_copy: false,
            recovery_account: Some("123456789012".into()),
        };
        let refused = judge_key(
            production_key,
            &foreign,
            "us-west-2",
            KeyLook::Error(BackstopError::AccessDenied {
                action: "describing KMS key".into(),
                message: "not authorized".into(),
            }),
        )
        .unwrap();
        assert_eq!(refused.status, Status::Fail);
        assert!(
            refused.detail.contains("a key of account 210987654321")
                && refused.detail.contains("(123456789012) cannot use"),
            "{refused:?}"
        );
        let fix = refused.fix.unwrap();
        assert!(
            fix.contains("in account 210987654321")
                && fix.contains("arn:aws:iam::123456789012:root")
                && fix.contains("kms:CreateGrant")
                && fix.contains("KmsKeyArns"),
            "{fix}"
        );
    }

    #[test]
    fn the_restoring_account_is_the_functions_even_when_the_vault_is_shared() {
        let own = VaultRef::own("backstop-dr");
        let shared = VaultRef {
            name: "air-gapped",
            account_id: Some("210987654321"),
        };
        let own_arn = "arn:aws:backup:us-west-2:123456789012:backup-vault:backstop-dr";
        let shared_arn = "arn:aws:backup:us-west-2:210987654321:backup-vault:air-gapped";
        let mut unknown = request(Mode::Drill, false);
        // without the function's account, only an own vault's ARN tells it
        assert_eq!(
            restoring_account(&unknown, &own, Some(own_arn)).as_deref(),
            Some("123456789012")
        );
        assert_eq!(restoring_account(&unknown, &shared, Some(shared_arn)), None);
        unknown.account = Some("123456789012".into());
        // the shared vault's owner is not the one that restores (nor needs a key policy)
        assert_eq!(
            restoring_account(&unknown, &shared, Some(shared_arn)).as_deref(),
            Some("123456789012")
        );
    }

    #[test]
    fn a_key_arn_names_its_region_and_an_alias_or_id_does_not() {
        assert_eq!(
            key_region("arn:aws:kms:us-east-1:123456789012:key/abc"),
            Some("us-east-1")
        );
        assert_eq!(key_region("alias/backup"), None);
        assert_eq!(key_region("1234abcd-12ab-34cd-56ef-1234567890ab"), None);
    }

    /// The account of the plan's first resource (the example plan's own).
    fn first_resource_account(plan: &Plan) -> String {
        let arn = plan.resources[0].arn.as_deref().unwrap();
        arn.split(':').nth(4).unwrap().to_string()
    }

    #[test]
    fn a_resource_of_another_account_needs_that_account_listed_as_a_source() {
        let mut plan = plan();
        let own = first_resource_account(&plan);
        assert!(
            judge_source_accounts(&plan, Some(&own)).is_empty(),
            "one account: no line"
        );
        let foreign = plan.resources[0]
            .arn
            .as_deref()
            .unwrap()
            .replace(&own, "210987654321");
        plan.resources[0].arn = Some(foreign);
        let name = plan.resources[0].name.clone();
        let lines = judge_source_accounts(&plan, Some(&own));
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].status, Status::Fail);
        assert_eq!(lines[0].resource, "210987654321");
        assert!(lines[0].detail.contains(&name), "{:?}", lines[0]);
        assert!(lines[0].fix.as_deref().unwrap().contains("sourceAccounts"));
        plan.source_accounts = vec!["210987654321".into(), own.clone()];
        let lines = judge_source_accounts(&plan, Some(&own));
        assert_eq!(lines[0].status, Status::Pass, "{:?}", lines[0]);
    }

    #[test]
    fn a_shared_air_gapped_vault_is_judged_as_its_owners() {
        let mut plan = plan();
        plan.backup_vault_account_id = Some("444455556666".into());
        let own = first_resource_account(&plan);
        // no account is exempt: even this account's resources must be listed
        let lines = judge_source_accounts(&plan, None);
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert_eq!(
            (lines[0].status, lines[0].resource.as_str()),
            (Status::Fail, own.as_str())
        );
        plan.source_accounts = vec![own.clone()];
        assert_eq!(judge_source_accounts(&plan, None)[0].status, Status::Pass);

        let locked = VaultLock {
            locked: true,
            min_retention_days: Some(7),
            lock_date: None,
            air_gapped: true,
        };
        // its owner's access policy is not read (nor readable): the lock alone protects it
        let protection = judge_protection(&plan, &locked, Ok(None));
        assert_eq!(protection.status, Status::Pass, "{protection:?}");
        assert!(
            protection.detail.contains("logically air-gapped")
                && protection.detail.contains("444455556666")
        );

        let denied = BackstopError::AccessDenied {
            action: "describing backup vault".into(),
            message: "not shared".into(),
        };
        let line = judge_vault(&plan, Err(denied)).unwrap();
        assert_eq!(line.status, Status::Fail);
        let fix = line.fix.unwrap();
        assert!(
            fix.contains("aws ram create-resource-share")
                && fix.contains(":444455556666:backup-vault:"),
            "{fix}"
        );
    }

    #[test]
    fn a_vault_is_protected_only_locked_and_with_an_unconditional_deny_of_deletion() {
        assert!(denies_deletion(DENY_DELETION));
        let template_policy = r#"{"Version":"2012-10-17","Statement":{"Effect":"Deny","Principal":{"AWS":"*"},"Action":"backup:Delete*","Resource":"arn:aws:backup:us-west-2:111122223333:backup-vault:dr"}}"#;
        assert!(denies_deletion(template_policy));
        for weak in [
            // an Allow, a Deny to one role, a conditional Deny, another action, not JSON
            r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"backup:DeleteRecoveryPoint","Resource":"*"}]}"#,
            r#"{"Statement":[{"Effect":"Deny","Principal":{"AWS":"arn:aws:iam::111122223333:role/ops"},"Action":"backup:DeleteRecoveryPoint","Resource":"*"}]}"#,
            r#"{"Statement":[{"Effect":"Deny","Principal":"*","Action":"backup:DeleteRecoveryPoint","Resource":"*","Condition":{"StringEquals":{"aws:PrincipalTag/team":"x"}}}]}"#,
            r#"{"Statement":[{"Effect":"Deny","Principal":"*","Action":"backup:StartRestoreJob","Resource":"*"}]}"#,
            "not json",
        ] {
            assert!(!denies_deletion(weak), "{weak}");
        }

        let plan = plan();
        let locked = VaultLock {
            locked: true,
            min_retention_days: Some(7),
            lock_date: None,
            air_gapped: false,
        };
        let pass = judge_protection(&plan, &locked, Ok(Some(DENY_DELETION.to_string())));
        assert_eq!(pass.status, Status::Pass, "{pass:?}");
        assert!(pass.detail.contains("at least 7 days"), "{pass:?}");
        // unlocked and without a policy: a warning with both fixes, never a refusal
        let open = VaultLock {
            locked: false,
            min_retention_days: None,
            lock_date: None,
            air_gapped: false,
        };
        let warn = judge_protection(&plan, &open, Ok(None));
        assert_eq!(warn.status, Status::Warn);
        let fix = warn.fix.clone().unwrap();
        assert!(
            fix.contains("put-backup-vault-lock-configuration")
                && fix.contains("put-backup-vault-access-policy")
                && fix.contains("DenyDeletingRecoveryPoints"),
            "{fix}"
        );
    }
}
