//! The workload before the disaster: the seeded plan, and its resources backed up in the
//! primary region and copied to the DR vault as AWS Backup's plan would have done.

use std::time::Duration;

use serde_json::{json, Value};

use crate::{repo_root, wait_for, Emulator, Seed, Stack, DR_REGION, PRIMARY_REGION};

/// The repository's example DR network template (`dr-region/network.yaml`).
pub fn network_template() -> String {
    std::fs::read_to_string(repo_root().join("dr-region/network.yaml"))
        .expect("dr-region/network.yaml")
}

/// Uploads the example network template next to the run state; its `s3://` address.
pub async fn upload_network_template(emulator: &Emulator, stack: &Stack) -> String {
    const KEY: &str = "templates/network.yaml";
    stack.put_object(emulator, KEY, &network_template()).await;
    format!("s3://{}/{KEY}", stack.output("RunStateBucketName"))
}

/// The seeded plan with a `network` block and its network settings taken from the stack's
/// outputs: the instance's subnet and security group, one volume's AZ, the database's subnet
/// group and security group. The other volume keeps a literal AZ and the file system needs no
/// network: those restores start before the stack is ready.
pub fn plan_on_network_stack(seed: &Seed, network: Value) -> Value {
    let mut plan = plan_for(seed);
    plan["network"] = network;
    plan["instances"][0]["subnetIds"] = json!([{ "stackOutput": "PrivateSubnetA" }]);
    plan["instances"][0]["securityGroupIds"] = json!([{ "stackOutput": "AppSecurityGroup" }]);
    plan["resources"][0]["ebs"]["availabilityZone"] = json!({ "stackOutput": "AvailabilityZoneA" });
    plan["resources"][2]["rds"]["dbSubnetGroupName"] =
        json!({ "stackOutput": "DbSubnetGroupName" });
    plan["resources"][2]["rds"]["vpcSecurityGroupIds"] =
        json!([{ "stackOutput": "DbSecurityGroup" }]);
    plan
}

/// The plan's `home` block for the seeded workload: the primary region's vault, subnet,
/// security groups, DB subnet group and golden AMI; the failover retired as soon as DNS is
/// home (a failback reads it).
pub fn home_block(seed: &Seed) -> Value {
    let primary = &seed.primary;
    json!({
        "backupVault": primary.backup_vault.name,
        "availabilityZone": primary.network.subnets[0].availability_zone,
        "subnetIds": [primary.network.subnets[0].id],
        "securityGroupIds": [primary.network.app_security_group_id],
        "dbSubnetGroupName": primary.db_subnet_group,
        "rdsSecurityGroupIds": [primary.network.db_security_group_id],
        "amis": { "app": { "id": primary.golden_ami_id } },
        "retireAfterMinutes": 0
    })
}

/// A DR plan for the seeded workload: its two data volumes, database and file system,
/// the app instance from the golden AMI, and its DNS records.
pub fn plan_for(seed: &Seed) -> Value {
    let primary = &seed.primary;
    let dr = &seed.dr;
    let dr_az = &dr.subnets[0].availability_zone;
    json!({
        "name": "shop",
        "primaryRegion": PRIMARY_REGION,
        "drRegion": DR_REGION,
        "backupVault": dr.backup_vault.name,
        "objectives": { "rtoMinutes": 60, "rpoMinutes": 240 },
        "resources": [
            {
                "name": "app-data", "kind": "ebs", "arn": primary.volumes["app-data"].arn,
                "ebs": { "availabilityZone": dr_az, "volumeType": "gp3",
                         "attachTo": { "instance": "app", "device": "/dev/sdf" } }
            },
            {
                "name": "app-logs", "kind": "ebs", "arn": primary.volumes["app-logs"].arn,
                "ebs": { "availabilityZone": dr_az,
                         "attachTo": { "instance": "app", "device": "/dev/sdg" } }
            },
            {
                "name": "orders-db", "kind": "rds", "arn": primary.db.arn,
                "rds": { "dbInstanceIdentifier": "orders", "dbInstanceClass": "db.t3.medium",
                         "dbSubnetGroupName": dr.db_subnet_group,
                         "vpcSecurityGroupIds": [dr.db_security_group_id] }
            },
            {
                "name": "media", "kind": "efs", "arn": primary.file_system.arn,
                "efs": { "performanceMode": "generalPurpose" }
            }
        ],
        "instances": [
            {
                "name": "app",
                "ami": { "ssmParameter": dr.golden_ami_parameter },
                "instanceTypes": ["m6i.large", "m5.large"],
                "subnetIds": [dr.subnets[0].id, dr.subnets[1].id],
                "securityGroupIds": [dr.app_security_group_id]
            }
        ],
        "dns": [
            {
                "hostedZoneId": seed.dns.hosted_zone_id, "recordName": "app.shop.example.com",
                "recordType": "A", "ttl": 60, "drillRecordName": "drill.app.shop.example.com",
                "target": { "instance": "app" }
            }
        ]
    })
}

/// Backs up a resource in the primary vault and waits for the completed recovery point.
pub async fn back_up(backup: &aws_sdk_backup::Client, seed: &Seed, resource_arn: &str) -> String {
    let job = backup
        .start_backup_job()
        .backup_vault_name("backstop-primary")
        .resource_arn(resource_arn)
        .iam_role_arn(seed.backup_role_arn.as_str())
        .send()
        .await
        .expect("start backup job");
    backup_completed(backup, job.backup_job_id().unwrap()).await
}

async fn backup_completed(backup: &aws_sdk_backup::Client, job_id: &str) -> String {
    wait_for("backup job", Duration::from_secs(60), || async {
        let job = backup
            .describe_backup_job()
            .backup_job_id(job_id)
            .send()
            .await
            .expect("describe backup job");
        match job.state().map(|s| s.as_str()) {
            Some("COMPLETED") => Some(job.recovery_point_arn().unwrap().to_string()),
            Some("FAILED") => panic!("backup failed: {:?}", job.status_message()),
            _ => None,
        }
    })
    .await
}

/// Copies a recovery point to the DR vault and returns the DR copy's ARN.
pub async fn copy_to_dr(
    backup: &aws_sdk_backup::Client,
    seed: &Seed,
    recovery_point: &str,
) -> String {
    let job = backup
        .start_copy_job()
        .recovery_point_arn(recovery_point)
        .source_backup_vault_name("backstop-primary")
        .destination_backup_vault_arn(seed.dr.backup_vault.arn.as_str())
        .iam_role_arn(seed.backup_role_arn.as_str())
        .send()
        .await
        .expect("start copy job");
    copy_completed(backup, job.copy_job_id().unwrap()).await
}

async fn copy_completed(backup: &aws_sdk_backup::Client, job_id: &str) -> String {
    let copy = copy_ended(backup, job_id).await;
    match copy.state() {
        Some(aws_sdk_backup::types::CopyJobState::Completed) => {
            copy.destination_recovery_point_arn().unwrap().to_string()
        }
        _ => panic!("copy failed: {:?}", copy.status_message()),
    }
}

/// The copy job once it has ended (COMPLETED or FAILED).
async fn copy_ended(
    backup: &aws_sdk_backup::Client,
    job_id: &str,
) -> aws_sdk_backup::types::CopyJob {
    wait_for("copy job", Duration::from_secs(60), || async {
        let copy = backup
            .describe_copy_job()
            .copy_job_id(job_id)
            .send()
            .await
            .expect("describe copy job")
            .copy_job
            .unwrap();
        match copy.state() {
            Some(
                aws_sdk_backup::types::CopyJobState::Completed
                | aws_sdk_backup::types::CopyJobState::Failed,
            ) => Some(copy),
            _ => None,
        }
    })
    .await
}

/// Backs up every resource of `arns` in the primary region and copies it to the DR vault,
/// as AWS Backup's plan and copy rule would have done before the disaster; the jobs run side
/// by side, as AWS Backup runs them. Returns the DR copies' ARNs in the order of `arns`.
pub async fn protect(emulator: &Emulator, seed: &Seed, arns: &[&str]) -> Vec<String> {
    let backup = aws_sdk_backup::Client::new(&emulator.sdk_config(PRIMARY_REGION).await);
    let role = seed.backup_role_arn.as_str();
    let mut backup_jobs = Vec::new();
    for arn in arns {
        let job = backup
            .start_backup_job()
            .backup_vault_name("backstop-primary")
            .resource_arn(*arn)
            .iam_role_arn(role)
            .send()
            .await
            .expect("start backup job");
        backup_jobs.push(job.backup_job_id().unwrap().to_string());
    }
    let mut copy_jobs = Vec::new();
    for job_id in backup_jobs {
        let point = backup_completed(&backup, &job_id).await;
        let job = backup
            .start_copy_job()
            .recovery_point_arn(point)
            .source_backup_vault_name("backstop-primary")
            .destination_backup_vault_arn(seed.dr.backup_vault.arn.as_str())
            .iam_role_arn(role)
            .send()
            .await
            .expect("start copy job");
        copy_jobs.push(job.copy_job_id().unwrap().to_string());
    }
    let mut copies = Vec::new();
    for job_id in copy_jobs {
        copies.push(copy_completed(&backup, &job_id).await);
    }
    copies
}

/// The source ARNs of the seeded workload's four protected resources, in plan order:
/// app-data, app-logs (EBS), orders (RDS), media (EFS).
pub fn workload_arns(seed: &Seed) -> Vec<String> {
    seed.workload_arns()
}

/// A fresh emulator with the workload seeded and all four resources backed up and
/// copied to the DR vault.
pub async fn protected_workload(test_name: &str) -> (Emulator, Seed) {
    let emulator = Emulator::start(test_name);
    let seed = emulator.seed();
    let arns = workload_arns(&seed);
    let arns: Vec<&str> = arns.iter().map(String::as_str).collect();
    protect(&emulator, &seed, &arns).await;
    (emulator, seed)
}

/// A production account beside the recovery account Backstop runs in (the emulator's default
/// account): one data volume, backed up there and copied into the recovery account's DR vault
/// by that account's own credentials, as its backup plan's cross-account copy rule would.
pub struct ProductionAccount {
    pub account: String,
    pub volume_arn: String,
    /// The copy in the recovery account's DR vault.
    pub copy_arn: String,
    /// A KMS key of the production account in the DR region that the recovery account may not use.
    pub dr_key_arn: String,
    /// The account's own access key pair, as seeded.
    pub seeded: Value,
}

impl ProductionAccount {
    /// The production account adds `statement` to the key policy of `key_arn` (in the DR
    /// region), with its own credentials: what its key administrator does.
    pub async fn add_key_policy_statement(
        &self,
        emulator: &Emulator,
        key_arn: &str,
        statement: Value,
    ) {
        let kms =
            aws_sdk_kms::Client::new(&production_config(emulator, &self.seeded, DR_REGION).await);
        let current = kms
            .get_key_policy()
            .key_id(key_arn)
            .policy_name("default")
            .send()
            .await
            .expect("the production key's policy");
        let mut policy: Value = serde_json::from_str(current.policy().unwrap()).unwrap();
        policy["Statement"].as_array_mut().unwrap().push(statement);
        kms.put_key_policy()
            .key_id(key_arn)
            .policy_name("default")
            .policy(policy.to_string())
            .send()
            .await
            .expect("put the production key's policy");
    }
}

/// The SDK configuration of the seeded production account: its own credentials, in `region`.
pub async fn production_config(
    emulator: &Emulator,
    seeded: &Value,
    region: &str,
) -> aws_config::SdkConfig {
    let text = |key: &str| seeded[key].as_str().unwrap().to_string();
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(region.to_string()))
        .endpoint_url(&emulator.endpoint)
        .credentials_provider(aws_sdk_backup::config::Credentials::new(
            text("accessKeyId"),
            text("secretAccessKey"),
            None,
            None,
            "production-account",
        ))
        .load()
        .await
}

/// The production account seeded: its volume, vault, backup role, a key, and an access key
/// pair (`accessKeyId`, `secretAccessKey`) that acts in it.
pub fn seed_production_account(emulator: &Emulator, account: &str) -> Value {
    emulator.control(
        "POST",
        "seed/production-account",
        &json!({ "account": account, "primaryRegion": PRIMARY_REGION, "drRegion": DR_REGION }),
    )
}

/// The recovery account's DR vault takes copies from `account` (and still denies deleting any
/// recovery point).
pub async fn allow_copies_from(emulator: &Emulator, seed: &Seed, account: &str) {
    let dr = aws_sdk_backup::Client::new(&emulator.sdk_config(DR_REGION).await);
    let vault = seed.dr.backup_vault.name.as_str();
    let current = dr
        .get_backup_vault_access_policy()
        .backup_vault_name(vault)
        .send()
        .await
        .expect("the DR vault's access policy");
    let mut policy: Value = serde_json::from_str(current.policy().unwrap()).unwrap();
    policy["Statement"].as_array_mut().unwrap().push(json!({
        "Sid": "CopiesFromProduction",
        "Effect": "Allow",
        "Principal": { "AWS": format!("arn:aws:iam::{account}:root") },
        "Action": "backup:CopyIntoBackupVault",
        "Resource": "*"
    }));
    dr.put_backup_vault_access_policy()
        .backup_vault_name(vault)
        .policy(policy.to_string())
        .send()
        .await
        .expect("allow copies from the production account");
}

/// What the production account's backup plan does: back its volume up and copy it into the
/// recovery account's vault `destination_vault_arn`, with the production account's own
/// credentials. Returns the copy job: its state, status message and the copy's ARN.
pub async fn copy_from_production(
    emulator: &Emulator,
    seeded: &Value,
    destination_vault_arn: &str,
) -> aws_sdk_backup::types::CopyJob {
    let text = |key: &str| seeded[key].as_str().unwrap().to_string();
    let production = production_config(emulator, seeded, PRIMARY_REGION).await;
    let backup = aws_sdk_backup::Client::new(&production);
    let vault = seeded["backupVault"]["name"].as_str().unwrap();
    let role = text("backupRoleArn");
    let job = backup
        .start_backup_job()
        .backup_vault_name(vault)
        .resource_arn(text("volumeArn"))
        .iam_role_arn(&role)
        .send()
        .await
        .expect("back up in the production account");
    let point = backup_completed(&backup, job.backup_job_id().unwrap()).await;
    let copy = backup
        .start_copy_job()
        .recovery_point_arn(point)
        .source_backup_vault_name(vault)
        .destination_backup_vault_arn(destination_vault_arn)
        .iam_role_arn(&role)
        .send()
        .await
        .expect("copy into the recovery account");
    copy_ended(&backup, copy.copy_job_id().unwrap()).await
}

pub async fn production_account(
    emulator: &Emulator,
    seed: &Seed,
    account: &str,
) -> ProductionAccount {
    let seeded = seed_production_account(emulator, account);
    allow_copies_from(emulator, seed, account).await;
    let copy = copy_from_production(emulator, &seeded, &seed.dr.backup_vault.arn).await;
    let copy_arn = copy
        .destination_recovery_point_arn()
        .unwrap_or_else(|| panic!("copy failed: {:?}", copy.status_message()))
        .to_string();
    ProductionAccount {
        account: account.to_string(),
        volume_arn: seeded["volumeArn"].as_str().unwrap().to_string(),
        copy_arn,
        dr_key_arn: seeded["drKeyArn"].as_str().unwrap().to_string(),
        seeded,
    }
}
