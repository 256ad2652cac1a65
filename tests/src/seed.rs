//! The world the emulator seeds (`POST /backstop/seed`, tests/emulator/backstop_emulator/seed.py):
//! a primary-region workload and the DR region's network, typed so a test reads
//! `seed.dr.subnets[0].id` and a renamed field fails to compile rather than at run time.

use std::collections::BTreeMap;

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Seed {
    pub account: String,
    pub primary_region: String,
    pub dr_region: String,
    /// The role AWS Backup assumes for the seeded backup and copy jobs.
    pub backup_role_arn: String,
    pub primary: PrimarySeed,
    pub dr: DrSeed,
    pub dns: DnsSeed,
}

/// The production workload in the primary region.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PrimarySeed {
    #[serde(flatten)]
    pub network: NetworkSeed,
    pub golden_ami_id: String,
    pub app_instance_id: String,
    pub app_private_ip: String,
    /// The app's data volumes by name (`app-data`, `app-logs`).
    pub volumes: BTreeMap<String, VolumeSeed>,
    pub gateway_volume: GatewayVolumeSeed,
    pub db: DbSeed,
    pub file_system: FileSystemSeed,
    pub backup_vault: VaultSeed,
    /// Where a failback restores the database.
    pub db_subnet_group: String,
}

/// What the DR region has before any run: its network, the golden AMI's copy and the vault.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DrSeed {
    #[serde(flatten)]
    pub network: NetworkSeed,
    pub golden_ami_id: String,
    /// The SSM parameter that names the DR golden AMI.
    pub golden_ami_parameter: String,
    /// An instance profile whose role lets the SSM agent register.
    pub instance_profile: String,
    pub db_subnet_group: String,
    pub backup_vault: VaultSeed,
}

/// A VPC with two subnets in different AZs and the app's and database's security groups.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkSeed {
    pub vpc_id: String,
    pub subnets: Vec<SubnetSeed>,
    pub app_security_group_id: String,
    pub db_security_group_id: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubnetSeed {
    pub id: String,
    pub availability_zone: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VolumeSeed {
    pub volume_id: String,
    pub arn: String,
    pub size: i64,
    pub volume_type: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GatewayVolumeSeed {
    pub arn: String,
    pub size: i64,
    pub target_name: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DbSeed {
    pub identifier: String,
    pub arn: String,
    pub engine: String,
    pub allocated_storage: i64,
    pub address: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileSystemSeed {
    pub id: String,
    pub arn: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VaultSeed {
    pub name: String,
    pub arn: String,
    /// The KMS key its recovery points are encrypted with.
    #[serde(default)]
    pub key_arn: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DnsSeed {
    pub hosted_zone_id: String,
    pub zone_name: String,
}

impl Seed {
    /// The source ARNs of the four protected resources, in plan order: app-data, app-logs
    /// (EBS), orders (RDS), media (EFS).
    pub fn workload_arns(&self) -> Vec<String> {
        vec![
            self.primary.volumes["app-data"].arn.clone(),
            self.primary.volumes["app-logs"].arn.clone(),
            self.primary.db.arn.clone(),
            self.primary.file_system.arn.clone(),
        ]
    }
}

impl std::ops::Deref for PrimarySeed {
    type Target = NetworkSeed;
    fn deref(&self) -> &NetworkSeed {
        &self.network
    }
}

impl std::ops::Deref for DrSeed {
    type Target = NetworkSeed;
    fn deref(&self) -> &NetworkSeed {
        &self.network
    }
}
