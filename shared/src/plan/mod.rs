//! The DR plan: what to recover, where, and how.
//!
//! The plan is written by the operator (inline in the execution input or in
//! an SSM parameter) and read by every step. It is parsed leniently (missing
//! fields default to empty) so that [`Plan::validate`] can report *every*
//! problem at once with its field path, instead of stopping at the first.

pub mod home;
pub mod references;
pub mod skeleton;
mod source;
pub mod stack_output;
mod validate;

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{BackstopError, PlanProblem};

pub use source::{json_of, parse_s3_uri, PlanSource};
pub use validate::{is_wildcard, normalize_dns_name, MAX_RESOURCES};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct Plan {
    /// Short name of the workload; goes into tags and identifiers.
    pub name: String,
    /// Where the protected resources live. Optional: only used to check ARNs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub primary_region: Option<String>,
    /// Where Backstop restores and fails over to.
    pub dr_region: String,
    /// The backup vault in the DR region that holds the copied recovery points.
    pub backup_vault: String,
    /// The production accounts whose backup plans copy into `backupVault` when Backstop runs in
    /// a separate recovery account. Empty: every resource is in the account Backstop runs in;
    /// set: every resource's ARN names one of these (list the recovery account too if it holds
    /// protected resources of its own).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub source_accounts: Vec<String>,
    /// The account that owns `backupVault` when it is another account's logically air-gapped
    /// vault, shared with this one through AWS RAM. Absent: the vault is this account's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backup_vault_account_id: Option<String>,
    /// A failover recovers in this account (the production account, for a workload that must
    /// keep its account) through a role Backstop assumes there; drills stay in the account
    /// Backstop runs in. Absent: every run recovers in Backstop's own account.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recover_into: Option<RecoverInto>,
    pub objectives: Objectives,
    pub resources: Vec<ProtectedResource>,
    pub instances: Vec<InstancePlan>,
    pub dns: Vec<DnsRecordPlan>,
    /// Where a drill runs instead, isolated from production (optional).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drill: Option<DrillIsolation>,
    /// How a failover proceeds: switch DNS at once, or after an operator approves.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failover: Option<FailoverSettings>,
    /// Verification drills started by completed copies into the DR vault.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verification: Option<VerificationSettings>,
    /// The DR network as a CloudFormation stack; settings may reference its outputs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network: Option<NetworkPlan>,
    /// The workload's own checks, run once the DR side is healthy and before DNS moves (and
    /// before an operator is asked to approve the switch).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub validations: Vec<ValidationPlan>,
    /// What the operator would do once instances run (point the app at the restored
    /// database, rotate a secret, warm a cache): run in order after their wave is healthy,
    /// before the next wave launches.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub post_launch: Vec<ActionPlan>,
    /// Where a failback brings the workload home: the primary region's vault, network and
    /// images (only a failback reads it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub home: Option<home::HomePlan>,
    /// Set by Backstop only, on a failback drill's plan: its resources are restored in their
    /// own region (production's, from the DR copies brought home). A plan given to Backstop
    /// cannot set it.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub restores_in_place: bool,
}

/// A backup vault as AWS Backup's API names it: by name, and by its owner when it is another
/// account's (a logically air-gapped vault shared through AWS RAM: `BackupVaultAccountId`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VaultRef<'a> {
    pub name: &'a str,
    pub account_id: Option<&'a str>,
}

impl<'a> VaultRef<'a> {
    /// A vault of the account Backstop runs in.
    pub fn own(name: &'a str) -> Self {
        VaultRef {
            name,
            account_id: None,
        }
    }

    /// The owner's account id, as the API's `BackupVaultAccountId` takes it.
    pub fn account_param(&self) -> Option<String> {
        self.account_id.map(str::to_string)
    }
}

impl std::fmt::Display for VaultRef<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.account_id {
            Some(account) => write!(f, "{} (account {account}'s, shared)", self.name),
            None => f.write_str(self.name),
        }
    }
}

/// Where a failover recovers when not in the account Backstop runs in: the roles the template
/// `templates/recover-into-account.yaml` creates in that account.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct RecoverInto {
    /// The role Backstop's steps assume there (it trusts Backstop's account).
    pub role_arn: String,
    /// The role AWS Backup restores with there (the assumed role may pass it).
    pub restore_role_arn: String,
    /// The role CloudFormation builds the DR network with there, when the plan's network
    /// stack has a template.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network_stack_role_arn: Option<String>,
}

impl RecoverInto {
    /// The account of `roleArn`.
    pub fn account_id(&self) -> &str {
        self.role_arn.split(':').nth(4).unwrap_or_default()
    }
}

impl Plan {
    /// The plan as a run in `account` reads it: a vault that account owns is its own there,
    /// not a shared one.
    pub fn seen_from(mut self, account: &str) -> Plan {
        if self.backup_vault_account_id.as_deref() == Some(account) {
            self.backup_vault_account_id = None;
        }
        self
    }

    /// The DR vault the plan's copies are in.
    pub fn dr_vault(&self) -> VaultRef<'_> {
        VaultRef {
            name: &self.backup_vault,
            account_id: self.backup_vault_account_id.as_deref(),
        }
    }
}

/// A check of the recovered workload: a Lambda function in the DR region, invoked with what
/// the run recovered, answering `{"passed": true|false, "message": "..."}`; or a Systems
/// Manager command on recovered instances, passing when it exits 0 on every one of them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct ValidationPlan {
    pub name: String,
    /// The function's name or ARN (in the DR region); or `ssm`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub lambda_function: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ssm: Option<SsmCommandPlan>,
    /// How long the check may take (default 60 s): longer is a failed check.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<u32>,
}

/// A Systems Manager Run Command on recovered instances (each needs an instance profile that
/// lets the SSM agent register, e.g. with `AmazonSSMManagedInstanceCore`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SsmCommandPlan {
    /// A Command document in the DR region (default `AWS-RunShellScript`).
    #[serde(default = "SsmCommandPlan::default_document")]
    pub document: String,
    /// Names of `instances` entries it runs on.
    #[serde(default)]
    pub instances: Vec<String>,
    /// The document's parameters; values may reference what the run recovered, e.g.
    /// `${restored.orders-db.endpoint}` (see [`references`]).
    #[serde(default)]
    pub parameters: BTreeMap<String, Vec<String>>,
}

impl Default for SsmCommandPlan {
    fn default() -> Self {
        Self {
            document: Self::default_document(),
            instances: Vec::new(),
            parameters: BTreeMap::new(),
        }
    }
}

fn target_of(function: &str, ssm: Option<&SsmCommandPlan>) -> String {
    match ssm {
        Some(ssm) => format!("{} on {}", ssm.document, ssm.instances.join(", ")),
        None => function.to_string(),
    }
}

impl SsmCommandPlan {
    pub const RUN_SHELL_SCRIPT: &'static str = "AWS-RunShellScript";

    fn default_document() -> String {
        Self::RUN_SHELL_SCRIPT.to_string()
    }
}

/// A post-launch action: a Systems Manager command on recovered instances or a Lambda
/// function (given the run's resources and its `parameters`), run once its wave is healthy.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct ActionPlan {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ssm: Option<SsmCommandPlan>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub lambda_function: String,
    /// For a Lambda action: given to the function as `parameters` (references resolved).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub parameters: BTreeMap<String, String>,
    /// The wave after which it runs: by default the last wave of its instances (a command),
    /// or the plan's last wave (a function).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after_wave: Option<u32>,
    /// How long it may take (default 300 s): longer is a failed action.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<u32>,
}

impl ActionPlan {
    pub const DEFAULT_TIMEOUT_SECONDS: u32 = 300;
    /// A command is followed across invocations; a function is invoked within one (the
    /// validate function's Timeout bounds it).
    pub const MAX_COMMAND_TIMEOUT_SECONDS: u32 = 3600;
    pub const MAX_FUNCTION_TIMEOUT_SECONDS: u32 = 600;

    pub fn timeout_seconds(&self) -> u32 {
        self.timeout_seconds
            .unwrap_or(Self::DEFAULT_TIMEOUT_SECONDS)
    }

    /// Where it runs, for the report: the function, or the document and its instances.
    pub fn target(&self) -> String {
        target_of(&self.lambda_function, self.ssm.as_ref())
    }
}

impl ValidationPlan {
    pub const DEFAULT_TIMEOUT_SECONDS: u32 = 60;
    /// What the validate function's own Timeout leaves for the checks (they run concurrently).
    pub const MAX_TIMEOUT_SECONDS: u32 = 600;

    pub fn timeout_seconds(&self) -> u32 {
        self.timeout_seconds
            .unwrap_or(Self::DEFAULT_TIMEOUT_SECONDS)
    }

    /// Where it runs, for the report: the function, or the document and its instances.
    pub fn target(&self) -> String {
        target_of(&self.lambda_function, self.ssm.as_ref())
    }
}

/// The DR network from CloudFormation. A failover reuses the stack `stackName` (updating it
/// when a template is given) or creates it; a drill always creates its own copy, named for
/// the run, and its teardown deletes it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct NetworkPlan {
    pub stack_name: String,
    /// `s3://bucket/key` of the template, in the DR region. Without it, a failover needs the
    /// stack to exist and a drill copies the existing stack's template and parameters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    pub parameters: BTreeMap<String, String>,
}

/// Who decides the DNS switch of a failover.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Approval {
    /// The run switches DNS as soon as the DR side is healthy.
    #[default]
    Automatic,
    /// The run restores and launches, then waits for an operator to approve the switch;
    /// no answer within the timeout is a rejection.
    Operator,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct FailoverSettings {
    pub approval: Approval,
    /// How long the run waits for an answer (default 60 minutes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approval_timeout_minutes: Option<u32>,
}

impl FailoverSettings {
    pub const DEFAULT_APPROVAL_TIMEOUT_MINUTES: u32 = 60;
    pub const MAX_APPROVAL_TIMEOUT_MINUTES: u32 = 24 * 60;
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct VerificationSettings {
    /// Start a drill when a copy of a protected resource completes in the DR vault.
    pub drill_after_copy: bool,
    /// At most one such drill per this many hours (default 24).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_interval_hours: Option<u32>,
}

impl VerificationSettings {
    pub const DEFAULT_MIN_INTERVAL_HOURS: u32 = 24;
    pub const MAX_MIN_INTERVAL_HOURS: u32 = 90 * 24;
}

/// A drill's own network and settings: instances launch into these subnets with these
/// security groups, profile and user data, and databases restore into this subnet group with
/// these security groups. None of them may be one production uses.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DrillIsolation {
    #[serde(default, with = "stack_output::many")]
    pub subnet_ids: Vec<String>,
    #[serde(default, with = "stack_output::many")]
    pub security_group_ids: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_profile: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_data: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "stack_output::one"
    )]
    pub db_subnet_group_name: Option<String>,
    #[serde(default, with = "stack_output::many")]
    pub rds_security_group_ids: Vec<String>,
}

impl InstancePlan {
    /// The instance as a run launches it: in a drill with an isolation block, into the drill's
    /// subnets, with its security groups, profile and user data (each where the block sets it).
    pub fn for_run(&self, drill: Option<&DrillIsolation>) -> InstancePlan {
        let Some(drill) = drill else {
            return self.clone();
        };
        let mut instance = self.clone();
        if !drill.subnet_ids.is_empty() {
            instance.subnet_ids = drill.subnet_ids.clone();
        }
        if !drill.security_group_ids.is_empty() {
            instance.security_group_ids = drill.security_group_ids.clone();
        }
        if drill.instance_profile.is_some() {
            instance.instance_profile = drill.instance_profile.clone();
        }
        if drill.user_data.is_some() {
            instance.user_data = drill.user_data.clone();
        }
        instance
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct Objectives {
    /// Recovery time objective: a run must finish within this many minutes.
    pub rto_minutes: Option<i64>,
    /// Recovery point objective: the recovery point used may be at most this old.
    pub rpo_minutes: Option<i64>,
}

/// What kind of AWS resource a protected resource is; decides the restore path.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum ResourceKind {
    Ebs,
    Rds,
    Efs,
    Ec2,
    /// An AWS Storage Gateway (Volume Gateway) volume: its DR copy is an EBS snapshot, restored
    /// as an EBS volume (no gateway needed in the DR region), with the `ebs` settings block.
    StorageGateway,
    /// Kept (not rejected by serde) so validation can report it with the others.
    Unknown(String),
}

impl ResourceKind {
    pub const KNOWN: [&'static str; 5] = ["ebs", "rds", "efs", "ec2", "storage-gateway"];

    pub fn as_str(&self) -> &str {
        match self {
            Self::Ebs => "ebs",
            Self::Rds => "rds",
            Self::Efs => "efs",
            Self::Ec2 => "ec2",
            Self::StorageGateway => "storage-gateway",
            Self::Unknown(other) => other,
        }
    }

    /// The AWS Backup resource type name (`ResourceType` in its APIs).
    pub fn backup_resource_type(&self) -> Option<&'static str> {
        match self {
            Self::Ebs => Some("EBS"),
            Self::Rds => Some("RDS"),
            Self::Efs => Some("EFS"),
            Self::Ec2 => Some("EC2"),
            Self::StorageGateway => Some("Storage Gateway"),
            Self::Unknown(_) => None,
        }
    }

    /// The `ResourceType` of the restore: a Storage Gateway volume is restored as an EBS volume.
    pub fn restore_resource_type(&self) -> Option<&'static str> {
        match self {
            Self::StorageGateway => Some("EBS"),
            other => other.backup_resource_type(),
        }
    }

    /// Restored as an EBS volume (from an EBS snapshot): an EBS volume, or a Storage Gateway
    /// volume. Fast snapshot restore and lazy loading apply to both.
    pub fn restores_as_volume(&self) -> bool {
        matches!(self, Self::Ebs | Self::StorageGateway)
    }

    /// The kind of a resource type as AWS Backup names it (`EBS`, `Storage Gateway`, …).
    pub fn from_backup_resource_type(resource_type: &str) -> ResourceKind {
        match resource_type {
            "Storage Gateway" => Self::StorageGateway,
            other => Self::from(other.to_ascii_lowercase()),
        }
    }

    /// The plan's settings block for the kind: a Storage Gateway volume restores as an EBS
    /// volume, so its settings are the `ebs` block.
    pub fn settings_block(&self) -> &str {
        match self {
            Self::StorageGateway => "ebs",
            other => other.as_str(),
        }
    }
}

impl From<String> for ResourceKind {
    fn from(value: String) -> Self {
        match value.as_str() {
            "ebs" => Self::Ebs,
            "rds" => Self::Rds,
            "efs" => Self::Efs,
            "ec2" => Self::Ec2,
            "storage-gateway" => Self::StorageGateway,
            _ => Self::Unknown(value),
        }
    }
}

impl From<ResourceKind> for String {
    fn from(kind: ResourceKind) -> Self {
        kind.as_str().to_string()
    }
}

impl Default for ResourceKind {
    fn default() -> Self {
        Self::Unknown(String::new())
    }
}

impl fmt::Display for ResourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A resource AWS Backup protects in the primary region, selected by ARN or by tags.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct ProtectedResource {
    pub name: String,
    pub kind: ResourceKind,
    /// The source resource's ARN in the primary region.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    /// Select by the tags copied onto the recovery points instead of by ARN.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<BTreeMap<String, String>>,
    /// A missing recovery point is a warning in the report, not a failure.
    pub optional: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ebs: Option<EbsRestore>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rds: Option<RdsRestore>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub efs: Option<EfsRestore>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ec2: Option<Ec2Restore>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EbsRestore {
    /// AZ in the DR region; must be the AZ of the instance the volume attaches to.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "stack_output::one"
    )]
    pub availability_zone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_type: Option<String>,
    /// KMS key in the DR region; set, it also turns encryption on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_key_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attach_to: Option<VolumeAttachment>,
    /// Restore from the DR copy with EBS fast snapshot restore in `availability_zone`, so the
    /// volume has its full performance at once instead of loading each block from S3 on its
    /// first read. The run enables it on the copy unless it is on already, waits for
    /// `enabled` before the restore, and disables what it enabled once the volume exists
    /// (it is billed per hour).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub fast_snapshot_restore: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct VolumeAttachment {
    /// Name of an entry in `instances`.
    pub instance: String,
    /// Device name on that instance, e.g. `/dev/sdf`.
    pub device: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RdsRestore {
    /// Identifier of the restored DB instance (a drill appends its run id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub db_instance_identifier: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub db_instance_class: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "stack_output::one"
    )]
    pub db_subnet_group_name: Option<String>,
    #[serde(default, with = "stack_output::many")]
    pub vpc_security_group_ids: Vec<String>,
    /// Multi-AZ in a failover; drills always restore single-AZ.
    #[serde(default)]
    pub multi_az: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct EfsRestore {
    /// Defaults to true: a restored file system is encrypted unless the plan says otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encrypted: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kms_key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub performance_mode: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Ec2Restore {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_type: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "stack_output::one"
    )]
    pub subnet_id: Option<String>,
    #[serde(default, with = "stack_output::many")]
    pub security_group_ids: Vec<String>,
}

/// An instance launched from the golden AMI in the DR region.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct InstancePlan {
    pub name: String,
    pub ami: AmiRef,
    /// Tried in order when a type has no capacity.
    pub instance_types: Vec<String>,
    /// Tried in order (the first whose AZ has capacity wins).
    #[serde(with = "stack_output::many")]
    pub subnet_ids: Vec<String>,
    #[serde(with = "stack_output::many")]
    pub security_group_ids: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance_profile: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_data: Option<String>,
    /// The recovery wave it starts in (1 when not given): every instance of a wave is
    /// launched, has its volumes attached and passes its status checks before the next wave
    /// launches (database, then app, then web). Restores all start at once regardless.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wave: Option<u32>,
}

impl InstancePlan {
    /// Its wave: 1 unless the plan says otherwise.
    pub fn wave(&self) -> u32 {
        self.wave.unwrap_or(1)
    }
}

/// The golden AMI, given exactly one way.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct AmiRef {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ssm_parameter: Option<String>,
}

/// A Route 53 record switched to the DR endpoint in a failover.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct DnsRecordPlan {
    pub hosted_zone_id: String,
    /// The production record; only a failover writes it.
    pub record_name: String,
    pub record_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttl: Option<i64>,
    /// The record a drill writes instead; never the production one.
    pub drill_record_name: String,
    pub target: DnsTarget,
    /// How a failover moves the record; a drill always writes its drill record (UPSERT).
    pub method: DnsMethod,
    /// `failoverAlarm`: the DR-region CloudWatch alarm the PRIMARY record's health check follows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alarm_name: Option<String>,
    /// `failoverAlarm`: the DR-region Elastic IP the SECONDARY record holds; the failover
    /// associates it with the target instance.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub elastic_ip_allocation_id: Option<String>,
}

/// How a failover moves a record to the DR region.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum DnsMethod {
    /// ChangeResourceRecordSets (UPSERT): simple, but Route 53's control plane is in us-east-1.
    #[default]
    Upsert,
    /// A failover-routing pair set up ahead of time: the failover associates the SECONDARY's
    /// Elastic IP and puts the metric that sets the PRIMARY's health-check alarm, calling only
    /// DR-region APIs (EC2, CloudWatch); Route 53's data plane then answers with the SECONDARY.
    FailoverAlarm,
}

/// Where the record points in the DR region: an instance's private IP or a restored RDS endpoint.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct DnsTarget {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
}

impl Plan {
    /// The plan's waves in launch order, each once (`[1]` for a plan without waves or instances).
    pub fn waves(&self) -> Vec<u32> {
        let mut waves: Vec<u32> = self.instances.iter().map(InstancePlan::wave).collect();
        waves.sort_unstable();
        waves.dedup();
        if waves.is_empty() {
            waves.push(1);
        }
        waves
    }

    /// The wave a launch or attach round works on: the one its input names (the plan's first
    /// when none), refused when the plan has no such wave (a step's input can be wrong too).
    pub fn round_wave(&self, input: Option<u32>) -> Result<u32, BackstopError> {
        let waves = self.waves();
        let wave = input.unwrap_or(waves[0]);
        if !waves.contains(&wave) {
            return Err(BackstopError::invalid_input(
                "wave",
                format!("the plan has no wave {wave} (its waves: {waves:?})"),
            ));
        }
        Ok(wave)
    }

    /// The wave after `wave`, if the plan has one.
    pub fn wave_after(&self, wave: u32) -> Option<u32> {
        self.waves().into_iter().find(|w| *w > wave)
    }

    /// The wave after which a post-launch action runs: its own `afterWave`, else the last
    /// wave of the instances its command runs on, else (a function) the plan's last wave.
    pub fn action_wave(&self, action: &ActionPlan) -> u32 {
        if let Some(wave) = action.after_wave {
            return wave;
        }
        match &action.ssm {
            Some(ssm) if !ssm.instances.is_empty() => ssm
                .instances
                .iter()
                .map(|name| self.wave_of(name))
                .max()
                .unwrap_or(1),
            _ => *self.waves().last().unwrap_or(&1),
        }
    }

    /// The wave of the instance named `name` (1 for a name the plan does not have).
    pub fn wave_of(&self, name: &str) -> u32 {
        self.instances
            .iter()
            .find(|i| i.name == name)
            .map_or(1, InstancePlan::wave)
    }

    /// Parses and validates a plan given as JSON text.
    pub fn from_json(text: &str) -> Result<Plan, BackstopError> {
        let mut deserializer = serde_json::Deserializer::from_str(text);
        let plan: Plan =
            serde_path_to_error::deserialize(&mut deserializer).map_err(shape_problem)?;
        plan.validate()?;
        Ok(plan)
    }

    /// Parses and validates a plan given as a JSON value (e.g. inline in the execution input).
    pub fn from_value(value: serde_json::Value) -> Result<Plan, BackstopError> {
        let plan: Plan = serde_path_to_error::deserialize(value).map_err(shape_problem)?;
        if plan.restores_in_place {
            return Err(BackstopError::InvalidPlan(vec![PlanProblem {
                field: "restoresInPlace".into(),
                message: "is set by Backstop on a failback drill's own plan, not in a plan".into(),
                fix: "remove it: restores go to drRegion, and a failback drill is started with {\"mode\": \"drill\", \"failback\": true}".into(),
            }]));
        }
        plan.validate()?;
        Ok(plan)
    }

    /// Checks the whole plan and returns every problem found, each with its field path.
    pub fn validate(&self) -> Result<(), BackstopError> {
        let problems = validate::problems(self);
        if problems.is_empty() {
            Ok(())
        } else {
            Err(BackstopError::InvalidPlan(problems))
        }
    }

    /// A plan meant for another region is refused: a run reads and writes only its own region.
    pub fn require_region(&self, region: &str) -> Result<(), BackstopError> {
        if self.dr_region != region {
            return Err(BackstopError::InvalidPlan(vec![PlanProblem {
                field: "drRegion".into(),
                message: format!("is {}, but this Backstop runs in {region}", self.dr_region),
                fix: "deploy Backstop in the DR region, or correct drRegion".into(),
            }]));
        }
        Ok(())
    }

    pub fn resource(&self, name: &str) -> Option<&ProtectedResource> {
        self.resources.iter().find(|r| r.name == name)
    }

    pub fn instance(&self, name: &str) -> Option<&InstancePlan> {
        self.instances.iter().find(|i| i.name == name)
    }
}

/// The repository's example plan (`tests/plans/example.json`) as JSON, for unit tests.
#[cfg(test)]
pub(crate) fn example_plan_json() -> serde_json::Value {
    serde_json::from_str(include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/plans/example.json"
    )))
    .expect("the example plan is JSON")
}

/// The repository's example plan, parsed and validated, for unit tests.
#[cfg(test)]
pub(crate) fn example_plan() -> Plan {
    Plan::from_value(example_plan_json()).expect("the example plan is valid")
}

/// A JSON shape error (wrong type, unknown field) as a plan problem with its path.
fn shape_problem(err: serde_path_to_error::Error<serde_json::Error>) -> BackstopError {
    let path = err.path().to_string();
    let field = if path == "." {
        "plan".to_string()
    } else {
        path
    };
    let inner = err.into_inner();
    let fix = if inner.to_string().starts_with("unknown field") {
        "remove the field or correct its spelling; the expected fields are listed in the message"
    } else {
        "give the field the type docs/reference.md's plan reference shows"
    };
    BackstopError::InvalidPlan(vec![PlanProblem {
        field,
        message: strip_position(&inner.to_string()),
        fix: fix.to_string(),
    }])
}

/// serde_json appends "at line L column C", which is noise for a plan given as a JSON value.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(pos) => message[..pos].to_string(),
        None => message.to_string(),
    }
}
