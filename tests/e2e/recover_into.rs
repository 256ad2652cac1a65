//! A failover into the production account (the plan's `recoverInto`): Backstop in the recovery
//! account assumes the role `production-account/recover-into-account.yaml` creates there and
//! restores the production account's air-gapped copies in that account, with its restore
//! role; a role that does not trust Backstop is refused by preflight before anything is
//! created; a drill of the same plan stays in the recovery account and never assumes the role.
//! The README's "Failing over into the production account" commands run as written.

use backstop_tests::{
    assert_succeeded, copy_from_production, plan_for, production_config, repo_root,
    seed_production_account, Emulator, Scenario, DR_REGION,
};
use serde_json::{json, Value};

use crate::drill::restore_waits;
use crate::quickstart::readme_blocks;
use crate::recovery_account::{
    drill_restores_ledger_here, entry, switch_account, two_account_shell, PRODUCTION,
};

/// The production account's restore jobs in the DR region.
async fn production_restore_jobs(
    emulator: &Emulator,
    seeded: &Value,
) -> Vec<aws_sdk_backup::types::RestoreJobsListMember> {
    let backup = aws_sdk_backup::Client::new(&production_config(emulator, seeded, DR_REGION).await);
    backup
        .list_restore_jobs()
        .send()
        .await
        .expect("the production account's restore jobs")
        .restore_jobs()
        .to_vec()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failover_recovers_into_the_production_account_and_its_drill_stays_in_the_recovery_account(
) {
    let emulator = Emulator::start("recover-into");
    let seed = emulator.seed();
    let seeded = seed_production_account(&emulator, PRODUCTION);
    let recovery = seed.account.as_str().to_string();
    let key = |name: &str| seeded[name].as_str().unwrap().to_string();

    // the production account: an air-gapped vault shared with the recovery account, a copy in it
    let mut shell = two_account_shell(&emulator, &recovery, "recover-into");
    shell.credentials = (key("accessKeyId"), key("secretAccessKey"));
    shell.run(&format!(
        "aws backup create-logically-air-gapped-backup-vault --region {DR_REGION} --backup-vault-name air-gapped --min-retention-days 7 --max-retention-days 35"
    ));
    let vault_arn = format!("arn:aws:backup:{DR_REGION}:{PRODUCTION}:backup-vault:air-gapped");
    shell.run(&format!(
        "aws ram create-resource-share --region {DR_REGION} --name backstop-recovery --resource-arns {vault_arn} --principals {recovery}"
    ));
    let copy = copy_from_production(&emulator, &seeded, &vault_arn).await;
    let copy_arn = copy
        .destination_recovery_point_arn()
        .unwrap_or_else(|| panic!("the copy: {:?}", copy.status_message()))
        .to_string();
    // ... and the README's commands: the roles Backstop fails over with, trusting the recovery
    // account, deployed there, and their ARNs read from the stack's outputs
    let blocks = readme_blocks("Failing over into the production account", &["# in the "]);
    assert_eq!(blocks.len(), 1, "{blocks:#?}");
    for command in &blocks[0] {
        if switch_account(&mut shell, command, &seeded) {
            continue;
        }
        let filled = shell.fill(command);
        let words: Vec<&str> = filled.split_whitespace().collect();
        match words.as_slice() {
            ["aws", "cloudformation", "deploy", ..] => {
                let flag = |name: &str| {
                    let at = words.iter().position(|w| *w == name).unwrap();
                    words[at + 1]
                };
                let at = words
                    .iter()
                    .position(|w| *w == "--parameter-overrides")
                    .unwrap();
                let parameters: serde_json::Map<String, Value> = words[at + 1..]
                    .iter()
                    .take_while(|w| !w.starts_with("--"))
                    .map(|w| {
                        let (name, value) = w.split_once('=').unwrap();
                        (name.to_string(), json!(value))
                    })
                    .collect();
                assert_eq!(
                    shell.credentials.0,
                    key("accessKeyId"),
                    "deployed in the production account"
                );
                emulator.deploy_template_in(
                    Some(PRODUCTION),
                    flag("--template-file"),
                    flag("--region"),
                    flag("--stack-name"),
                    Value::Object(parameters),
                );
            }
            ["aws", "cloudformation", "describe-stacks", ..] => {
                let shown: Value = serde_json::from_str(&shell.run(command)).unwrap();
                for output in shown.as_array().expect("the outputs") {
                    shell.placeholders.insert(
                        output["OutputKey"].as_str().unwrap().to_string(),
                        output["OutputValue"].as_str().unwrap().to_string(),
                    );
                }
            }
            _ => panic!("a command the test does not know: {command}"),
        }
    }
    let role = shell.placeholders["RecoveryRoleArn"].clone();
    assert!(
        role.starts_with(&format!("arn:aws:iam::{PRODUCTION}:role/")),
        "{role}"
    );
    // the plan's recoverInto, as the README writes it
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    let snippet = readme
        .split("\n## Failing over into the production account")
        .nth(1)
        .and_then(|section| section.split_once("```json\n"))
        .and_then(|(_, rest)| rest.split_once("```"))
        .map(|(json, _)| shell.fill(json))
        .expect("the README's recoverInto");
    let written: Value = serde_json::from_str(&format!("{{{snippet}}}")).unwrap();
    let restore_role = written["recoverInto"]["restoreRoleArn"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(written["recoverInto"]["roleArn"], role.as_str());

    let stack = emulator.deploy_stack_with(json!({
        "BackupVaultName": "air-gapped",
        "BackupVaultAccountId": PRODUCTION,
        "CreateBackupVault": "false",
        "RecoverIntoRoleArn": role,
    }));
    let scenario = Scenario::of(emulator, seed, stack).await;
    let mut plan = plan_for(&scenario.seed);
    plan["backupVault"] = json!("air-gapped");
    plan["backupVaultAccountId"] = json!(PRODUCTION);
    plan["sourceAccounts"] = json!([PRODUCTION]);
    plan["resources"] = json!([{
        "name": "ledger-data", "kind": "ebs", "arn": key("volumeArn"),
        "ebs": { "availabilityZone": format!("{DR_REGION}a") }
    }]);
    plan["instances"] = json!([]);
    plan["dns"] = json!([]);
    // first a role the production account never made: nothing trusts Backstop as it
    let untrusted = format!("arn:aws:iam::{PRODUCTION}:role/backstop-nobody");
    plan["recoverInto"] = written["recoverInto"].clone();
    plan["recoverInto"]["roleArn"] = json!(untrusted);

    let err = scenario
        .invoke(
            "preflight",
            &json!({ "runId": "untrusted", "input": { "mode": "failover", "plan": plan } }),
        )
        .await
        .expect_err("a role Backstop cannot assume");
    assert_eq!(err.0, "Backstop.NotReady", "{err:?}");
    let line = err
        .1
        .lines()
        .find(|l| l.starts_with(&format!("- FAIL recover-into {PRODUCTION}")))
        .unwrap_or_else(|| panic!("no recover-into line in {}", err.1));
    assert!(
        line.contains(&format!("sts:AssumeRole on resource: {untrusted}"))
            && line.contains("production-account/recover-into-account.yaml")
            && line.contains("RecoverIntoRoleArn"),
        "{line}"
    );
    // checked there or not at all: no check of the recovery account passes for it
    assert_eq!(err.1.matches("\n- ").count(), 1, "{}", err.1);
    assert!(
        scenario.restore_jobs().await.is_empty(),
        "nothing was started"
    );
    assert!(
        production_restore_jobs(&scenario.emulator, &seeded)
            .await
            .is_empty(),
        "nothing was started in production"
    );

    // a drill of the same plan stays in the recovery account: it never assumes the role
    drill_restores_ledger_here(&scenario, "recover-into-drill-1", &plan).await;

    // the failover with the production account's role: restored there, with its restore role
    plan["recoverInto"]["roleArn"] = json!(role);
    let before = scenario.restore_jobs().await.len();
    scenario.emulator.control("DELETE", "calls", &json!({}));
    let invoked_before = scenario
        .emulator
        .control("GET", "lambda/invocations", &json!({}));
    // (its restore's end, forwarded from the production account, wakes the restore loop: a
    // poll interval far longer than the restore is never waited out)
    let failover = scenario
        .run_to_end(
            "recover-into-failover-1",
            json!({ "mode": "failover", "plan": plan, "settings": { "pollIntervalSeconds": 600 } }),
        )
        .await;
    assert_succeeded(&failover);
    let (woken, timed_out) = restore_waits(&scenario, failover.execution_arn()).await;
    assert!(
        woken >= 1 && timed_out == 0,
        "restore waits: {woken} woken, {timed_out} waited out"
    );
    // the role is assumed once per warm function for the run, not once per step
    let assumed = scenario.emulator.control("GET", "calls", &json!({}))["sts"]
        .as_u64()
        .unwrap_or(0);
    let invoked = scenario
        .emulator
        .control("GET", "lambda/invocations", &json!({}));
    let steps: u64 = invoked
        .as_object()
        .unwrap()
        .iter()
        .filter(|(name, _)| !name.contains("WakeRestores") && !name.contains("Report"))
        .map(|(name, n)| n.as_u64().unwrap() - invoked_before[name.as_str()].as_u64().unwrap_or(0))
        .sum();
    assert!(
        assumed >= 1 && assumed < steps,
        "{assumed} AssumeRole calls for {steps} step invocations: {invoked}"
    );
    let report: Value = serde_json::from_str(failover.output().unwrap()).unwrap();
    assert_eq!(report["verdict"], "PASS", "{report:#}");
    let rpo = entry(&report, "rpoByResource", "ledger-data");
    assert_eq!(rpo["recoveryPointArn"], copy_arn.as_str(), "{rpo:#}");
    let restored = entry(&report, "restored", "ledger-data")["createdResourceArn"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        restored.contains(&format!(":{PRODUCTION}:volume/")),
        "recovered in the production account: {restored}"
    );
    assert_eq!(
        scenario.restore_jobs().await.len(),
        before,
        "no restore in the recovery account"
    );
    let jobs = production_restore_jobs(&scenario.emulator, &seeded).await;
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    assert_eq!(jobs[0].iam_role_arn(), Some(restore_role.as_str()));
    assert_eq!(jobs[0].created_resource_arn(), Some(restored.as_str()));
    // the volume is the production account's, tagged with the run as any run's
    let ec2 =
        aws_sdk_ec2::Client::new(&production_config(&scenario.emulator, &seeded, DR_REGION).await);
    let volume_id = restored.rsplit('/').next().unwrap();
    let volume = ec2
        .describe_volumes()
        .volume_ids(volume_id)
        .send()
        .await
        .expect("the restored volume, seen from production");
    let tags: Vec<(&str, &str)> = volume.volumes()[0]
        .tags()
        .iter()
        .map(|t| (t.key().unwrap(), t.value().unwrap()))
        .collect();
    assert!(
        tags.contains(&("backstop:run-id", "recover-into-failover-1"))
            && tags.contains(&("backstop:mode", "failover")),
        "{tags:?}"
    );

    // torn down by hand with the operator's consent: the volume the failover restored in the
    // production account goes; one of the production account's own, in the same zone, stays
    let own = ec2
        .create_volume()
        .availability_zone(format!("{DR_REGION}a"))
        .size(8)
        .send()
        .await
        .expect("a volume of the production account's own");
    let own = own.volume_id().unwrap();
    let pass = scenario
        .teardown_by_hand("recover-into-failover-1", true)
        .await;
    assert_eq!(
        (pass["deleted"].clone(), pass["left"].clone()),
        (json!(1), json!(0)),
        "{pass:#}"
    );
    let gone = ec2.describe_volumes().volume_ids(volume_id).send().await;
    assert!(
        gone.as_ref().map_or(true, |v| v.volumes().is_empty()),
        "the restored volume is deleted in production: {gone:?}"
    );
    let kept = ec2
        .describe_volumes()
        .volume_ids(own)
        .send()
        .await
        .expect("the production account's own volume is kept");
    assert_eq!(kept.volumes().len(), 1);
}
