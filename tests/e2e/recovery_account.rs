//! Backstop in a recovery account: a production account's backup plan copies into the
//! recovery account's locked vault (allowed by the vault's policy, still denying deletion), and
//! drills and failovers run in the recovery account from those copies, the failover while the
//! primary region is dark. A plan naming a
//! resource of an account it does not list as a source is refused before anything is created.

use std::collections::BTreeMap;

use std::time::Duration;

use backstop_tests::{
    allow_copies_from, assert_succeeded, copy_from_production, plan_for, production_account,
    protect, protected_workload, put_plan, seed_production_account, wait_for, workload_arns,
    Emulator, Scenario, DR_REGION, PRIMARY_REGION,
};
use serde_json::{json, Value};

use crate::blackout::{failover_pair, resolve, ALARM, RECORD};
use crate::drill::leftovers;
use crate::quickstart::{fill_in, output_file, read_json, readme_blocks, Shell};

pub(crate) const PRODUCTION: &str = "210987654321";

/// The report's entry for `name` in its list `list` (`restored`, `rpoByResource`).
pub(crate) fn entry<'a>(report: &'a Value, list: &str, name: &str) -> &'a Value {
    report[list]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["resource"] == name)
        .unwrap_or_else(|| panic!("{name} not in {list}: {report:#}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn drills_and_failovers_restore_a_production_accounts_copies_in_the_recovery_account() {
    let emulator = Emulator::start("recovery-account");
    let seed = emulator.seed();
    let arns = workload_arns(&seed);
    let arns: Vec<&str> = arns.iter().map(String::as_str).collect();
    protect(&emulator, &seed, &arns).await;
    let production = production_account(&emulator, &seed, PRODUCTION).await;
    let stack = emulator.deploy_stack();
    let scenario = Scenario::of(emulator, seed, stack).await;
    let recovery = scenario.seed.account.clone();
    let dr_zone = scenario.seed.dr.subnets[0].availability_zone.clone();

    let mut plan = scenario.plan();
    plan["resources"].as_array_mut().unwrap().push(json!({
        "name": "ledger-data", "kind": "ebs", "arn": production.volume_arn,
        "ebs": { "availabilityZone": dr_zone }
    }));

    // without sourceAccounts, the production account's resource is refused by preflight, which
    // knows the account Backstop runs in (its vault's), before anything is created
    let run = |run_id: &str, plan: &Value| json!({ "runId": run_id, "input": { "mode": "drill", "plan": plan } });
    let err = scenario
        .invoke("preflight", &run("unlisted", &plan))
        .await
        .expect_err("a resource of an unlisted account is refused");
    assert_eq!(err.0, "Backstop.NotReady", "{err:?}");
    let line = err
        .1
        .lines()
        .find(|l| l.starts_with(&format!("- FAIL source-account {PRODUCTION}")))
        .unwrap_or_else(|| panic!("no source-account line in {}", err.1));
    assert!(
        line.contains("ledger-data") && line.contains("sourceAccounts"),
        "{line}"
    );
    // listing only the production account: the recovery account's own resources are refused
    // by the plan check, each by its field
    plan["sourceAccounts"] = json!([PRODUCTION]);
    let err = scenario
        .invoke("preflight", &run("only-production", &plan))
        .await
        .expect_err("resources of an unlisted account");
    assert_eq!(err.0, "Backstop.InvalidPlan", "{err:?}");
    assert!(
        err.1.contains("resources[0].arn")
            && err
                .1
                .contains(&format!("add \"{}\" to sourceAccounts", recovery.as_str())),
        "{}",
        err.1
    );
    assert!(
        scenario.restore_jobs().await.is_empty(),
        "nothing was started"
    );

    plan["sourceAccounts"] = json!([PRODUCTION, recovery.as_str()]);

    // a restore re-encrypting with a production key the recovery account may not use: refused,
    // the fix is the key policy statement for the production account to add
    let mut foreign_key = plan.clone();
    let ledger = foreign_key["resources"].as_array().unwrap().len() - 1;
    foreign_key["resources"][ledger]["ebs"]["kmsKeyId"] = json!(production.dr_key_arn);
    let err = scenario
        .invoke("preflight", &run("foreign-key", &foreign_key))
        .await
        .expect_err("a key the recovery account cannot use");
    assert_eq!(err.0, "Backstop.NotReady", "{err:?}");
    let line = err
        .1
        .lines()
        .find(|l| l.starts_with("- FAIL kms-key ledger-data"))
        .unwrap_or_else(|| panic!("no kms-key line for ledger-data in {}", err.1));
    assert!(
        line.contains(&format!("a key of account {PRODUCTION}"))
            && line.contains(&format!("arn:aws:iam::{}:root", recovery.as_str()))
            && line.contains("kms:Decrypt"),
        "{}",
        err.1
    );
    assert!(
        scenario.restore_jobs().await.is_empty(),
        "nothing was started"
    );
    // the production account applies the fix as written: the statement it names goes into the
    // key's policy; then preflight passes the key, and the drill restores under it
    let statement = line
        .split_once("the statement ")
        .and_then(|(_, rest)| rest.split_once(" (aws kms put-key-policy"))
        .map(|(statement, _)| statement)
        .unwrap_or_else(|| panic!("no statement in the fix: {line}"));
    let statement: Value = serde_json::from_str(statement).expect("the fix's statement is JSON");
    production
        .add_key_policy_statement(&scenario.emulator, &production.dr_key_arn, statement)
        .await;
    let passed = scenario
        .invoke("preflight", &run("shared-key", &foreign_key))
        .await
        .expect("the shared key passes");
    assert_eq!(passed["counts"]["fail"], 0, "{passed:#}");
    assert!(
        !passed["problems"].to_string().contains("kms-key"),
        "{passed:#}"
    );
    plan = foreign_key;
    let drill = scenario
        .run_to_end(
            "recovery-drill-1",
            json!({ "mode": "drill", "plan": plan, "settings": { "pollIntervalSeconds": 2 } }),
        )
        .await;
    assert_succeeded(&drill);
    let report: Value = serde_json::from_str(drill.output().unwrap()).unwrap();
    assert_eq!(report["verdict"], "PASS", "{report:#}");
    // the production account's copy restored into a volume of the recovery account
    let rpo = entry(&report, "rpoByResource", "ledger-data");
    assert_eq!(
        rpo["recoveryPointArn"],
        production.copy_arn.as_str(),
        "{rpo:#}"
    );
    let volume = entry(&report, "restored", "ledger-data")["createdResourceArn"]
        .as_str()
        .unwrap();
    assert!(
        volume.contains(&format!(":{}:volume/", recovery.as_str())),
        "{volume}"
    );
    let created: Vec<String> = report["restored"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["createdResourceArn"].as_str().map(str::to_string))
        .collect();
    let left = leftovers(&scenario, "recovery-drill-1", &created).await;
    assert!(left.is_empty(), "left behind: {left:?}");

    // the failover runs while the primary region (and Route 53's control plane) is dark: DNS
    // moves by the failover alarm, as in the single-account blackout
    let (allocation, public_ip) = failover_pair(&scenario).await;
    plan["dns"][0]["method"] = json!("failoverAlarm");
    plan["dns"][0]["alarmName"] = json!(ALARM);
    plan["dns"][0]["elasticIpAllocationId"] = json!(allocation);
    scenario.inject(json!({ "unreachableRegions": [PRIMARY_REGION] }));
    let failover = scenario
        .run_to_end(
            "recovery-failover-1",
            json!({ "mode": "failover", "plan": plan, "settings": { "pollIntervalSeconds": 2 } }),
        )
        .await;
    assert_succeeded(&failover);
    let report: Value = serde_json::from_str(failover.output().unwrap()).unwrap();
    assert_eq!(report["verdict"], "PASS", "{report:#}");
    let answer = resolve(&scenario.emulator, RECORD);
    assert_eq!(answer["record"], "SECONDARY", "{answer}");
    assert_eq!(answer["answer"], json!([public_ip]), "{answer}");
    let volume_id = entry(&report, "restored", "ledger-data")["createdResourceArn"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_string();
    let described = scenario
        .dr
        .ec2
        .describe_volumes()
        .volume_ids(&volume_id)
        .send()
        .await
        .unwrap();
    assert_eq!(
        described.volumes()[0].size(),
        Some(20),
        "the production volume's size"
    );
    assert_eq!(
        described.volumes()[0].kms_key_id(),
        Some(production.dr_key_arn.as_str()),
        "restored under the production key the production account shared"
    );

    // the copies stay: no one in the recovery account deletes one from the locked vault
    let refused = scenario
        .dr
        .backup
        .delete_recovery_point()
        .backup_vault_name(scenario.seed.dr.backup_vault.name.as_str())
        .recovery_point_arn(&production.copy_arn)
        .send()
        .await
        .expect_err("the locked vault keeps the production account's copy");
    assert_eq!(
        refused.as_service_error().and_then(|e| e.meta().code()),
        Some("AccessDeniedException")
    );
}

/// A drill of `plan` passes, restoring its `ledger-data` (a production volume) into a volume of
/// the account Backstop runs in, and leaves nothing behind; its report.
pub(crate) async fn drill_restores_ledger_here(
    scenario: &Scenario,
    run_id: &str,
    plan: &Value,
) -> Value {
    let drill = scenario
        .run_to_end(
            run_id,
            json!({ "mode": "drill", "plan": plan, "settings": { "pollIntervalSeconds": 2 } }),
        )
        .await;
    assert_succeeded(&drill);
    let report: Value = serde_json::from_str(drill.output().unwrap()).unwrap();
    assert_eq!(report["verdict"], "PASS", "{report:#}");
    let restored = entry(&report, "restored", "ledger-data")["createdResourceArn"]
        .as_str()
        .unwrap()
        .to_string();
    let here = format!(":{}:volume/", scenario.seed.account.as_str());
    assert!(restored.contains(&here), "{restored}");
    let left = leftovers(scenario, run_id, &[restored]).await;
    assert!(left.is_empty(), "left behind: {left:?}");
    report
}

/// A shell for the README's commands in two accounts (placeholders `<production-account>`,
/// `<recovery-account>`), starting in the recovery account.
pub(crate) fn two_account_shell(emulator: &Emulator, recovery: &str, name: &str) -> Shell {
    let dir = std::env::temp_dir().join(format!("backstop-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    Shell {
        dir,
        endpoint: emulator.endpoint.clone(),
        placeholders: BTreeMap::from([
            ("production-account".to_string(), PRODUCTION.to_string()),
            ("recovery-account".to_string(), recovery.to_string()),
        ]),
        credentials: ("testing".into(), "testing".into()),
    }
}

/// A README comment `# in the <account> account...` switches the shell's credentials to that
/// account's (true); any other comment is refused: each command says where it runs.
pub(crate) fn switch_account(shell: &mut Shell, command: &str, seeded: &Value) -> bool {
    let key = |name: &str| seeded[name].as_str().unwrap().to_string();
    if command.starts_with("# in the production account") {
        shell.credentials = (key("accessKeyId"), key("secretAccessKey"));
        true
    } else if command.starts_with("# in the recovery account") {
        shell.credentials = ("testing".into(), "testing".into());
        true
    } else {
        assert!(
            !command.starts_with('#'),
            "a comment that does not say which account: {command}"
        );
        false
    }
}

/// The README's "Recovery account" commands, run as written in the account each block says,
/// with the AWS CLI and `backstop` against the emulator; between the blocks the production
/// account's backup plan does what its schedule would (a backup, a copy into the recovery
/// vault), which succeeds only because the README's vault policy allows it.
#[tokio::test(flavor = "multi_thread")]
async fn the_readme_recovery_account_set_up_works_as_written() {
    let (emulator, seed) = protected_workload("recovery-account-readme").await;
    let seeded = seed_production_account(&emulator, PRODUCTION);
    let recovery = seed.account.as_str().to_string();
    let key = |name: &str| seeded[name].as_str().unwrap().to_string();
    let mut shell = two_account_shell(&emulator, &recovery, "recovery");
    let dir = shell.dir.clone();
    let blocks = readme_blocks("Recovery account", &["# in the "]);
    assert_eq!(blocks.len(), 2, "{blocks:#?}");

    let mut plan_checked = false;
    for (i, block) in blocks.iter().enumerate() {
        if i == 1 {
            // the schedule ran: a copy from production lands in the recovery vault
            let copy = copy_from_production(&emulator, &seeded, &seed.dr.backup_vault.arn).await;
            assert!(
                copy.destination_recovery_point_arn().is_some(),
                "the README's vault policy lets production copy in: {:?}",
                copy.status_message()
            );
        }
        for command in block {
            let words: Vec<&str> = command.split_whitespace().collect();
            if switch_account(&mut shell, command, &seeded) {
                continue;
            }
            match words.as_slice() {
                ["backstop", "plan", "init", ..] => {
                    shell.run(command);
                    let path = dir.join(output_file(&words));
                    let mut skeleton = read_json(&path);
                    // the skeleton lists both accounts the vault's copies come from
                    assert_eq!(
                        skeleton["sourceAccounts"],
                        json!([recovery.as_str(), PRODUCTION]),
                        "{skeleton:#}"
                    );
                    let mut seeded_plan = plan_for(&seed);
                    seeded_plan["resources"]
                        .as_array_mut()
                        .unwrap()
                        .push(json!({
                            "name": "ledger-data", "kind": "ebs", "arn": key("volumeArn"),
                            "ebs": { "availabilityZone": format!("{DR_REGION}a") }
                        }));
                    fill_in(&mut skeleton, &seeded_plan);
                    std::fs::write(&path, serde_json::to_string_pretty(&skeleton).unwrap())
                        .unwrap();
                }
                ["backstop", "plan", "check", ..] => {
                    let printed = shell.run(command);
                    assert!(printed.contains("plan shop is valid"), "{printed}");
                    plan_checked = true;
                }
                _ => {
                    shell.run(command);
                }
            }
        }
        if i == 0 {
            // what the first block set up, read back in each account
            let dr = aws_sdk_backup::Client::new(&emulator.sdk_config(DR_REGION).await);
            let vault = dr
                .describe_backup_vault()
                .backup_vault_name("backstop-dr")
                .send()
                .await
                .unwrap();
            assert_eq!(vault.locked(), Some(true));
            assert_eq!(vault.min_retention_days(), Some(7));
            let plans = shell.run(&format!(
                "AWS_ACCESS_KEY_ID={} AWS_SECRET_ACCESS_KEY={} aws backup list-backup-plans --region {PRIMARY_REGION}",
                key("accessKeyId"),
                key("secretAccessKey")
            ));
            assert!(plans.contains("\"BackupPlanName\": \"shop\""), "{plans}");
        }
    }
    assert!(plan_checked, "the README checks the plan");
}

/// A vault the stack creates in the recovery account: with `SourceAccountIds` its policy takes
/// the production account's copies and still denies deleting them; with `VaultLock` it is
/// locked. Without the production account listed, its copy fails as AWS fails it.
#[tokio::test(flavor = "multi_thread")]
async fn the_stacks_recovery_vault_takes_the_listed_accounts_copies_and_keeps_them() {
    let emulator = Emulator::start("recovery-account-vault");
    let seed = emulator.seed();
    let seeded = seed_production_account(&emulator, PRODUCTION);
    let _stack = emulator.deploy_stack_with(json!({
        "CreateBackupVault": "true",
        "BackupVaultName": "backstop-recovery",
        "VaultLock": "governance",
        "SourceAccountIds": PRODUCTION,
    }));
    let vault_arn = format!(
        "arn:aws:backup:{DR_REGION}:{}:backup-vault:backstop-recovery",
        seed.account.as_str()
    );
    let copy = copy_from_production(&emulator, &seeded, &vault_arn).await;
    let copy_arn = copy
        .destination_recovery_point_arn()
        .unwrap_or_else(|| panic!("the listed account's copy: {:?}", copy.status_message()))
        .to_string();
    let backup = aws_sdk_backup::Client::new(&emulator.sdk_config(DR_REGION).await);
    let vault = backup
        .describe_backup_vault()
        .backup_vault_name("backstop-recovery")
        .send()
        .await
        .unwrap();
    assert_eq!(vault.locked(), Some(true));
    let refused = backup
        .delete_recovery_point()
        .backup_vault_name("backstop-recovery")
        .recovery_point_arn(&copy_arn)
        .send()
        .await
        .expect_err("the stack's vault keeps the copy");
    assert_eq!(
        refused.as_service_error().and_then(|e| e.meta().code()),
        Some("AccessDeniedException")
    );

    // another account, not listed: its copy fails, naming the missing permission
    let other = seed_production_account(&emulator, "333344445555");
    let denied = copy_from_production(&emulator, &other, &vault_arn).await;
    assert_eq!(
        denied.state(),
        Some(&aws_sdk_backup::types::CopyJobState::Failed)
    );
    assert!(
        denied
            .status_message()
            .is_some_and(|m| m.contains("backup:CopyIntoBackupVault")),
        "{denied:?}"
    );
}

/// The production account's job events, forwarded from its primary region to the recovery
/// account's bus (which `SourceAccountIds` opens to it), reach on-backup-event there: a failed
/// copy into the recovery vault is announced at once, a completed one measures the RPO.
#[tokio::test(flavor = "multi_thread")]
async fn a_production_accounts_copy_events_reach_backstop_in_the_recovery_account() {
    let emulator = Emulator::start("recovery-account-events");
    let seed = emulator.seed();
    let seeded = seed_production_account(&emulator, PRODUCTION);
    let stack = emulator.deploy_stack_with(json!({ "SourceAccountIds": PRODUCTION }));
    emulator.deploy_template_in(
        Some(PRODUCTION),
        "primary-region/forward-backup-events.yaml",
        PRIMARY_REGION,
        "backstop-forwarder",
        json!({ "DrRegion": DR_REGION, "BackstopAccountId": seed.account.as_str() }),
    );
    let mut plan = plan_for(&seed);
    plan["resources"].as_array_mut().unwrap().push(json!({
        "name": "ledger-data", "kind": "ebs", "arn": seeded["volumeArn"],
        "ebs": { "availabilityZone": format!("{DR_REGION}a") }
    }));
    plan["sourceAccounts"] = json!([PRODUCTION, seed.account.as_str()]);
    put_plan(&emulator, &plan).await;
    let scenario = Scenario::of(emulator, seed, stack).await;

    // the seeded vault does not take the production account's copies yet: the copy fails in
    // the production account, and the recovery account hears of it
    let failed = copy_from_production(
        &scenario.emulator,
        &seeded,
        &scenario.seed.dr.backup_vault.arn,
    )
    .await;
    assert!(
        failed.destination_recovery_point_arn().is_none(),
        "{failed:?}"
    );
    let notice = scenario.job_notice("copy").await;
    assert_eq!(notice["resource"], "ledger-data", "{notice}");
    assert_eq!(notice["state"], "FAILED", "{notice}");
    assert!(
        notice["reason"]
            .as_str()
            .unwrap()
            .contains("CopyIntoBackupVault"),
        "{notice}"
    );

    // allowed, the next copy lands and its RPO is measured in the recovery account
    allow_copies_from(&scenario.emulator, &scenario.seed, PRODUCTION).await;
    let copied = copy_from_production(
        &scenario.emulator,
        &seeded,
        &scenario.seed.dr.backup_vault.arn,
    )
    .await;
    assert!(
        copied.destination_recovery_point_arn().is_some(),
        "{copied:?}"
    );
    let function = scenario.stack.function("on-backup-event");
    let log = scenario
        .emulator
        .log_dir
        .join(format!("lambda-{function}.log"));
    let metric = wait_for(
        "the ledger's RPO metric",
        Duration::from_secs(60),
        || async {
            std::fs::read_to_string(&log)
                .unwrap_or_default()
                .lines()
                .filter(|line| line.contains("\"RpoSeconds\""))
                .filter_map(|line| serde_json::from_str::<Value>(line).ok())
                .find(|m| m["Resource"] == "ledger-data")
        },
    )
    .await;
    let rpo = metric["RpoSeconds"].as_f64().unwrap();
    assert!((0.0..600.0).contains(&rpo), "just copied: {rpo}");
}

/// The README's "Air-gapped vault" commands, run as written in each account: the production
/// account's air-gapped vault, shared through AWS RAM, holds the copies; Backstop in the
/// recovery account plans from it and drills from it, leaving nothing. Unshared, preflight
/// stops the run before anything is created, with the command that shares it.
#[tokio::test(flavor = "multi_thread")]
async fn the_readme_air_gapped_vault_set_up_works_as_written() {
    let emulator = Emulator::start("air-gapped-readme");
    let seed = emulator.seed();
    let seeded = seed_production_account(&emulator, PRODUCTION);
    let recovery = seed.account.as_str().to_string();
    let mut shell = two_account_shell(&emulator, &recovery, "air-gapped");
    let dir = shell.dir.clone();
    let blocks = readme_blocks("Air-gapped vault", &["# in the "]);
    assert_eq!(blocks.len(), 2, "{blocks:#?}");
    let vault_arn = format!("arn:aws:backup:{DR_REGION}:{PRODUCTION}:backup-vault:air-gapped");

    let mut plan = Value::Null;
    for (i, block) in blocks.iter().enumerate() {
        if i == 1 {
            // the schedule ran: a backup, copied into the air-gapped vault
            let copy = copy_from_production(&emulator, &seeded, &vault_arn).await;
            let arn = copy
                .destination_recovery_point_arn()
                .unwrap_or_else(|| panic!("the copy: {:?}", copy.status_message()));
            assert!(
                arn.starts_with(&format!(
                    "arn:aws:backup:{DR_REGION}:{PRODUCTION}:recovery-point:"
                )),
                "kept in AWS Backup's storage: {arn}"
            );
        }
        for command in block {
            if switch_account(&mut shell, command, &seeded) {
                continue;
            }
            let words: Vec<&str> = command.split_whitespace().collect();
            let printed = shell.run(command);
            match words.as_slice() {
                ["aws", "backup", "describe-backup-vault", ..] => {
                    let vault: Value = serde_json::from_str(&printed).unwrap();
                    assert_eq!(
                        vault["VaultType"], "LOGICALLY_AIR_GAPPED_BACKUP_VAULT",
                        "{vault}"
                    );
                    assert_eq!(
                        (vault["Locked"].clone(), vault["MinRetentionDays"].clone()),
                        (json!(true), json!(7))
                    );
                }
                ["backstop", "plan", "init", ..] => {
                    let path = dir.join(output_file(&words));
                    let mut skeleton = read_json(&path);
                    assert_eq!(skeleton["backupVault"], "air-gapped", "{skeleton:#}");
                    assert_eq!(skeleton["backupVaultAccountId"], PRODUCTION, "{skeleton:#}");
                    assert_eq!(
                        skeleton["sourceAccounts"],
                        json!([PRODUCTION]),
                        "{skeleton:#}"
                    );
                    let mut seeded_plan = plan_for(&seed);
                    seeded_plan["resources"] = json!([{
                        "name": "ledger-data", "kind": "ebs", "arn": seeded["volumeArn"],
                        "ebs": { "availabilityZone": format!("{DR_REGION}a") }
                    }]);
                    fill_in(&mut skeleton, &seeded_plan);
                    std::fs::write(&path, serde_json::to_string_pretty(&skeleton).unwrap())
                        .unwrap();
                    plan = skeleton;
                }
                ["backstop", "plan", "check", ..] => {
                    assert!(printed.contains("plan shop is valid"), "{printed}");
                }
                _ => {}
            }
        }
    }
    assert!(plan.is_object(), "the README writes a plan");

    // Backstop in the recovery account, deployed as the README says
    let stack = emulator.deploy_stack_with(json!({
        "BackupVaultName": "air-gapped",
        "BackupVaultAccountId": PRODUCTION,
        "CreateBackupVault": "false",
    }));
    let scenario = Scenario::of(emulator, seed, stack).await;
    // read as the recovery account sees it: the air-gapped vault is protected by its own lock
    let ready = scenario
        .invoke(
            "preflight",
            &json!({ "runId": "shared", "input": { "mode": "drill", "plan": plan } }),
        )
        .await
        .expect("the shared vault's copies pass");
    assert_eq!(ready["counts"]["fail"], 0, "{ready:#}");
    assert!(
        !ready["problems"].to_string().contains("vault-protection"),
        "{ready:#}"
    );
    let report = drill_restores_ledger_here(&scenario, "air-gapped-drill-1", &plan).await;
    let rpo = entry(&report, "rpoByResource", "ledger-data");
    assert!(
        rpo["recoveryPointArn"]
            .as_str()
            .is_some_and(|arn| arn.contains(&format!(":{PRODUCTION}:recovery-point:"))),
        "{rpo:#}"
    );

    // the production account stops sharing: preflight refuses, naming the command that shares
    shell.credentials = (
        seeded["accessKeyId"].as_str().unwrap().to_string(),
        seeded["secretAccessKey"].as_str().unwrap().to_string(),
    );
    let shares: Value = serde_json::from_str(&shell.run(&format!(
        "aws ram get-resource-shares --region {DR_REGION} --resource-owner SELF"
    )))
    .unwrap();
    for share in shares["resourceShares"].as_array().unwrap() {
        shell.run(&format!(
            "aws ram delete-resource-share --region {DR_REGION} --resource-share-arn {}",
            share["resourceShareArn"].as_str().unwrap()
        ));
    }
    let before = scenario.restore_jobs().await.len();
    let err = scenario
        .invoke(
            "preflight",
            &json!({ "runId": "unshared", "input": { "mode": "drill", "plan": plan } }),
        )
        .await
        .expect_err("a vault no longer shared");
    assert_eq!(err.0, "Backstop.NotReady", "{err:?}");
    let line = err
        .1
        .lines()
        .find(|l| l.starts_with("- FAIL vault air-gapped"))
        .unwrap_or_else(|| panic!("no vault line in {}", err.1));
    assert!(
        line.contains("not shared with this account")
            && line.contains(&format!("--resource-arns {vault_arn}")),
        "{line}"
    );
    assert_eq!(
        scenario.restore_jobs().await.len(),
        before,
        "nothing was started"
    );
}
