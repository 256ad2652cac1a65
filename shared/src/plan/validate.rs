//! Plan validation: every rule adds a problem with a field path and a fix; none stops the others.

use std::collections::{HashMap, HashSet};

use super::stack_output::referenced;
use super::{
    AmiRef, DnsMethod, DnsRecordPlan, EbsRestore, EfsRestore, InstancePlan, Plan,
    ProtectedResource, RdsRestore, ResourceKind,
};
use crate::error::PlanProblem;

const VOLUME_TYPES: [&str; 7] = ["gp3", "gp2", "io2", "io1", "st1", "sc1", "standard"];
const EFS_PERFORMANCE_MODES: [&str; 2] = ["generalPurpose", "maxIO"];
const RECORD_TYPES: [&str; 3] = ["A", "AAAA", "CNAME"];
/// Route 53 accepts larger TTLs, but a DR record with a long TTL keeps clients on the dead region.
const MAX_TTL_SECONDS: i64 = 86_400;
/// Names end up in tags, idempotency tokens and DB identifiers, which limit length and characters.
const MAX_NAME_LEN: usize = 40;
/// What one run is measured to carry (bench/RESULTS.md: 1,000 resources with the payload of
/// 10): the run's state is stored in S3, not carried in the Step Functions payload.
pub const MAX_RESOURCES: usize = 2000;
pub const MAX_INSTANCES: usize = 50;
pub const MAX_RECORDS: usize = 50;
/// A week: a larger RTO is a typo, and it sizes the run's bound.
pub const MAX_RTO_MINUTES: i64 = 7 * 24 * 60;
/// A year: a larger RPO is a typo (and would overflow when turned into seconds).
pub const MAX_RPO_MINUTES: i64 = 365 * 24 * 60;

#[derive(Default)]
struct Problems(Vec<PlanProblem>);

impl Problems {
    fn add(
        &mut self,
        field: impl Into<String>,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) {
        self.0.push(PlanProblem {
            field: field.into(),
            message: message.into(),
            fix: fix.into(),
        });
    }
}

pub(super) fn problems(plan: &Plan) -> Vec<PlanProblem> {
    let mut p = Problems::default();
    check_top_level(plan, &mut p);
    let instance_names = check_instances(plan, &mut p);
    check_resources(plan, &instance_names, &mut p);
    check_dns(plan, &instance_names, &mut p);
    check_instance_zones(plan, &mut p);
    check_drill(plan, &mut p);
    check_triggers(plan, &mut p);
    check_network(plan, &mut p);
    p.0
}

/// CloudFormation stack names: a letter, then letters, digits and hyphens, 128 at most.
pub const MAX_STACK_NAME_LEN: usize = 128;
/// A drill's stack is `<stackName>-drill-<10 hex>`: this leaves room for the suffix.
const MAX_NETWORK_STACK_NAME_LEN: usize = MAX_STACK_NAME_LEN - 17;

/// The network block, and the stack-output references that need it.
fn check_network(plan: &Plan, p: &mut Problems) {
    let references =
        super::stack_output::references_in(&serde_json::to_value(plan).unwrap_or_default());
    for (field, name) in &references {
        // logical ids and output names are alphanumeric (CloudFormation template anatomy)
        if name.is_empty() || name.len() > 255 || !name.chars().all(|c| c.is_ascii_alphanumeric()) {
            p.add(
                field.trim_start_matches("plan."),
                format!("stackOutput {name:?} is not an output name"),
                "give the output's logical name from the template's Outputs (letters and digits)",
            );
        }
    }
    let Some(network) = &plan.network else {
        if let Some((field, name)) = references.first() {
            p.add(
                field.trim_start_matches("plan."),
                format!(
                    "references stack output {name:?}, but the plan has no network stack ({} reference{} in all)",
                    references.len(),
                    if references.len() == 1 { "" } else { "s" }
                ),
                "add network.stackName (and network.template) naming the DR network stack, or give the id itself",
            );
        }
        return;
    };
    let name = &network.stack_name;
    if name.is_empty() {
        p.add(
            "network.stackName",
            "is missing",
            "name the DR network stack, e.g. \"backstop-dr-network\"",
        );
    } else if !is_stack_name(name) || name.len() > MAX_NETWORK_STACK_NAME_LEN {
        p.add(
            "network.stackName",
            format!("\"{name}\" is not a usable stack name"),
            format!("start with a letter, then letters, digits and hyphens, at most {MAX_NETWORK_STACK_NAME_LEN} characters (a drill's copy appends -drill-<run>)"),
        );
    }
    if let Some(template) = &network.template {
        if super::parse_s3_uri(template).is_none() {
            p.add(
                "network.template",
                format!("\"{template}\" is not an s3://bucket/key address"),
                "upload the template to a bucket in the DR region and give s3://bucket/key",
            );
        }
    }
    for key in network.parameters.keys() {
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric()) {
            p.add(
                format!("network.parameters.{key}"),
                "is not a template parameter name",
                "use the parameter's logical name from the template (letters and digits)",
            );
        }
    }
}

fn is_stack_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

/// The approval gate's timeout and the verification drills' interval.
fn check_triggers(plan: &Plan, p: &mut Problems) {
    use super::{FailoverSettings, VerificationSettings};
    if let Some(minutes) = plan
        .failover
        .as_ref()
        .and_then(|f| f.approval_timeout_minutes)
    {
        let max = FailoverSettings::MAX_APPROVAL_TIMEOUT_MINUTES;
        if !(1..=max).contains(&minutes) {
            p.add(
                "plan.failover.approvalTimeoutMinutes",
                format!("is {minutes}; it must be between 1 and {max} (a day)"),
                "give the minutes an operator has to approve the DNS switch",
            );
        }
    }
    if let Some(hours) = plan
        .verification
        .as_ref()
        .and_then(|v| v.min_interval_hours)
    {
        let max = VerificationSettings::MAX_MIN_INTERVAL_HOURS;
        if !(1..=max).contains(&hours) {
            p.add(
                "plan.verification.minIntervalHours",
                format!("is {hours}; it must be between 1 and {max} (90 days)"),
                "give the hours between two verification drills",
            );
        }
    }
}

/// A drill's isolation block: well-formed ids, and none that production uses (a drill
/// launched into a production subnet or security group is not isolated).
fn check_drill(plan: &Plan, p: &mut Problems) {
    let Some(drill) = &plan.drill else {
        return;
    };
    check_ids("plan.drill.subnetIds", &drill.subnet_ids, "subnet-", p);
    check_user_data("plan.drill.userData", drill.user_data.as_deref(), p);
    check_ids(
        "plan.drill.securityGroupIds",
        &drill.security_group_ids,
        "sg-",
        p,
    );
    check_ids(
        "plan.drill.rdsSecurityGroupIds",
        &drill.rds_security_group_ids,
        "sg-",
        p,
    );
    let production_subnets: HashSet<&String> =
        plan.instances.iter().flat_map(|i| &i.subnet_ids).collect();
    let production_groups: HashSet<&String> = plan
        .instances
        .iter()
        .flat_map(|i| &i.security_group_ids)
        .chain(
            plan.resources
                .iter()
                .filter_map(|r| r.rds.as_ref())
                .flat_map(|r| &r.vpc_security_group_ids),
        )
        .chain(
            plan.resources
                .iter()
                .filter_map(|r| r.ec2.as_ref())
                .flat_map(|r| &r.security_group_ids),
        )
        .collect();
    let fix =
        "give the drill its own, isolated network: ids no production instance or database uses";
    for (j, id) in drill.subnet_ids.iter().enumerate() {
        if production_subnets.contains(id) {
            p.add(
                format!("plan.drill.subnetIds[{j}]"),
                format!("{id} is a production subnet (an instance's subnetIds)"),
                fix,
            );
        }
    }
    for (field, ids) in [
        ("securityGroupIds", &drill.security_group_ids),
        ("rdsSecurityGroupIds", &drill.rds_security_group_ids),
    ] {
        for (j, id) in ids.iter().enumerate() {
            if production_groups.contains(id) {
                p.add(
                    format!("plan.drill.{field}[{j}]"),
                    format!("{id} is a production security group"),
                    fix,
                );
            }
        }
    }
    if let Some(group) = &drill.db_subnet_group_name {
        let production = plan
            .resources
            .iter()
            .filter_map(|r| r.rds.as_ref())
            .any(|r| r.db_subnet_group_name.as_ref() == Some(group));
        if production || group.trim().is_empty() {
            p.add(
                "plan.drill.dbSubnetGroupName",
                format!("\"{group}\" is empty or the production DB subnet group"),
                fix,
            );
        }
    }
}

fn check_top_level(plan: &Plan, p: &mut Problems) {
    check_name("name", &plan.name, p);

    if plan.dr_region.is_empty() {
        p.add(
            "drRegion",
            "is missing",
            "set the region Backstop restores into, e.g. \"us-west-2\"",
        );
    } else if !is_region(&plan.dr_region) {
        p.add(
            "drRegion",
            format!("\"{}\" is not an AWS region name", plan.dr_region),
            "use a region code such as \"us-west-2\" or \"eu-central-1\"",
        );
    }
    if let Some(primary) = &plan.primary_region {
        if !is_region(primary) {
            p.add(
                "primaryRegion",
                format!("\"{primary}\" is not an AWS region name"),
                "use a region code such as \"us-east-1\", or remove the field",
            );
        } else if *primary == plan.dr_region {
            p.add(
                "primaryRegion",
                "is the same as drRegion",
                "a DR region must differ from the region it protects",
            );
        }
    }

    if plan.backup_vault.trim().is_empty() {
        p.add(
            "backupVault",
            "is missing",
            "name the backup vault in the DR region that receives the copies",
        );
    } else if !plan
        .backup_vault
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        || plan.backup_vault.len() > 50
    {
        p.add(
            "backupVault",
            format!("\"{}\" is not a valid vault name", plan.backup_vault),
            "use the vault's name (letters, digits, hyphens, underscores; 2-50 characters), not its ARN",
        );
    }

    match plan.objectives.rto_minutes {
        None => p.add(
            "objectives.rtoMinutes",
            "is missing",
            "set the recovery time objective in minutes, e.g. 60",
        ),
        Some(rto) if !(1..=MAX_RTO_MINUTES).contains(&rto) => p.add(
            "objectives.rtoMinutes",
            format!("must be between 1 and {MAX_RTO_MINUTES} (a week), got {rto}"),
            "set the recovery time objective in minutes, e.g. 60",
        ),
        Some(_) => {}
    }
    match plan.objectives.rpo_minutes {
        None => p.add(
            "objectives.rpoMinutes",
            "is missing",
            "set the recovery point objective in minutes, e.g. 240",
        ),
        Some(rpo) if !(1..=MAX_RPO_MINUTES).contains(&rpo) => p.add(
            "objectives.rpoMinutes",
            format!("must be between 1 and {MAX_RPO_MINUTES} (a year), got {rpo}"),
            "set the recovery point objective in minutes, e.g. 240",
        ),
        Some(_) => {}
    }

    for (field, count, max) in [
        ("resources", plan.resources.len(), MAX_RESOURCES),
        ("instances", plan.instances.len(), MAX_INSTANCES),
        ("dns", plan.dns.len(), MAX_RECORDS),
    ] {
        if count > max {
            p.add(
                field,
                format!("has {count} entries; one plan may hold at most {max}"),
                "split the workload into several plans (one run each)",
            );
        }
    }

    if plan.resources.is_empty() && plan.instances.is_empty() {
        p.add(
            "resources",
            "the plan recovers nothing: no resources and no instances",
            "list the protected resources to restore and/or the instances to launch",
        );
    }
}

fn check_name(field: &str, name: &str, p: &mut Problems) {
    if name.is_empty() {
        p.add(field, "is missing", "give a short name such as \"shop-db\"");
    } else if name.len() > MAX_NAME_LEN
        || !name.starts_with(|c: char| c.is_ascii_lowercase())
        || !name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        p.add(
            field,
            format!("\"{name}\" is not a valid name"),
            format!("use lowercase letters, digits and hyphens, starting with a letter, at most {MAX_NAME_LEN} characters"),
        );
    }
}

/// An instance name only labels things (tags, the Name tag, reports); tokens derive from its
/// digest, so any letters are fine, as in an EC2 tag value.
fn check_instance_name(field: &str, name: &str, p: &mut Problems) {
    let valid = name
        .chars()
        .all(|c| c.is_alphanumeric() || c == '-' || c == '_' || c == '.');
    if name.is_empty() {
        p.add(field, "is missing", "give a short name such as \"app\"");
    } else if name.chars().count() > 64 || !valid {
        p.add(
            field,
            format!(
                "\"{}\" is not a valid instance name",
                crate::error::truncate_chars(name, 80)
            ),
            "use letters, digits, '-', '_' or '.', at most 64 characters",
        );
    }
}

fn check_instances(plan: &Plan, p: &mut Problems) -> HashSet<String> {
    let mut names = HashSet::new();
    for (i, instance) in plan.instances.iter().enumerate() {
        let at = format!("instances[{i}]");
        check_instance_name(&format!("{at}.name"), &instance.name, p);
        if !instance.name.is_empty() && !names.insert(instance.name.clone()) {
            p.add(
                format!("{at}.name"),
                format!("instance name \"{}\" is used twice", instance.name),
                "give every instance a unique name",
            );
        }
        check_ami(&format!("{at}.ami"), &instance.ami, p);
        check_instance(&at, instance, p);
        check_user_data(&format!("{at}.userData"), instance.user_data.as_deref(), p);
    }
    names
}

/// EC2 takes at most 16 KB of user data, before its base64 encoding: more fails the launch,
/// after the restores started.
const MAX_USER_DATA_BYTES: usize = 16 * 1024;

fn check_user_data(field: &str, user_data: Option<&str>, p: &mut Problems) {
    if let Some(text) = user_data.filter(|t| t.len() > MAX_USER_DATA_BYTES) {
        p.add(
            field,
            format!(
                "is {} bytes; EC2 takes at most {MAX_USER_DATA_BYTES} (16 KB)",
                text.len()
            ),
            "keep the script short: fetch the rest from S3 or SSM at boot",
        );
    }
}

fn check_ami(at: &str, ami: &AmiRef, p: &mut Problems) {
    let given = [&ami.id, &ami.name, &ami.ssm_parameter]
        .iter()
        .filter(|v| v.is_some())
        .count();
    if given != 1 {
        p.add(
            at,
            format!("gives the golden AMI {given} ways"),
            "set exactly one of ami.id, ami.name or ami.ssmParameter",
        );
    }
    if let Some(id) = &ami.id {
        if !is_aws_id(id, "ami-") {
            p.add(
                format!("{at}.id"),
                format!("\"{id}\" is not an AMI id"),
                "use the id of the golden AMI copy in the DR region, e.g. \"ami-0abc1234def567890\"",
            );
        }
    }
    if let Some(parameter) = &ami.ssm_parameter {
        if parameter.is_empty() || parameter.contains(char::is_whitespace) {
            p.add(
                format!("{at}.ssmParameter"),
                format!("\"{parameter}\" is not an SSM parameter name"),
                "use the parameter's name, e.g. \"/backstop/golden-ami\"",
            );
        }
    }
}

fn check_instance(at: &str, instance: &InstancePlan, p: &mut Problems) {
    if instance.instance_types.is_empty() {
        p.add(
            format!("{at}.instanceTypes"),
            "is empty",
            "list at least one instance type, then fallbacks in order, e.g. [\"m6i.large\", \"m5.large\"]",
        );
    }
    let mut seen = HashSet::new();
    for (j, instance_type) in instance.instance_types.iter().enumerate() {
        if !is_instance_type(instance_type) {
            p.add(
                format!("{at}.instanceTypes[{j}]"),
                format!("\"{instance_type}\" is not an instance type"),
                "use a type such as \"m6i.large\"",
            );
        } else if !seen.insert(instance_type) {
            p.add(
                format!("{at}.instanceTypes[{j}]"),
                format!("\"{instance_type}\" is listed twice"),
                "list each fallback type once",
            );
        }
    }
    if instance.subnet_ids.is_empty() {
        p.add(
            format!("{at}.subnetIds"),
            "is empty",
            "list the DR subnets to launch into, in order of preference",
        );
    }
    check_ids(
        &format!("{at}.subnetIds"),
        &instance.subnet_ids,
        "subnet-",
        p,
    );
    check_ids(
        &format!("{at}.securityGroupIds"),
        &instance.security_group_ids,
        "sg-",
        p,
    );
}

fn check_ids(at: &str, ids: &[String], prefix: &str, p: &mut Problems) {
    for (j, id) in ids.iter().enumerate() {
        // a stack output is checked once the stack is ready (check_network checks the name)
        if referenced(id).is_none() && !is_aws_id(id, prefix) {
            p.add(
                format!("{at}[{j}]"),
                format!("\"{id}\" is not a {prefix}... id"),
                format!("use the id of a resource in the DR region, e.g. \"{prefix}0abc1234\""),
            );
        }
    }
}

fn check_resources(plan: &Plan, instance_names: &HashSet<String>, p: &mut Problems) {
    let mut names = HashSet::new();
    // (instance, device) -> index of the first resource attached there
    let mut devices: HashMap<(String, String), usize> = HashMap::new();

    for (i, resource) in plan.resources.iter().enumerate() {
        let at = format!("resources[{i}]");
        check_name(&format!("{at}.name"), &resource.name, p);
        if !resource.name.is_empty() && !names.insert(resource.name.clone()) {
            p.add(
                format!("{at}.name"),
                format!("resource name \"{}\" is used twice", resource.name),
                "give every protected resource a unique name",
            );
        }
        if let ResourceKind::Unknown(kind) = &resource.kind {
            let message = if kind.is_empty() {
                "is missing".to_string()
            } else {
                format!("unknown kind \"{kind}\"")
            };
            p.add(
                format!("{at}.kind"),
                message,
                format!("use one of {}", ResourceKind::KNOWN.join(", ")),
            );
        }
        check_selection(plan, &at, resource, p);
        check_settings_block(&at, resource, p);
        check_required_dr_settings(&at, resource, p);

        if let Some(ebs) = &resource.ebs {
            check_ebs(plan, &at, ebs, p);
            if let Some(attach) = &ebs.attach_to {
                let attach_at = format!("{at}.ebs.attachTo");
                if resource.tags.is_some() {
                    p.add(
                        &attach_at,
                        "a tag selection can match several volumes, so it cannot name one device",
                        "select the volume by arn to attach it",
                    );
                }
                if !instance_names.contains(&attach.instance) {
                    p.add(
                        format!("{attach_at}.instance"),
                        format!("\"{}\" is not an instance of this plan", attach.instance),
                        "use the name of an entry in instances",
                    );
                }
                if !is_device_name(&attach.device) {
                    p.add(
                        format!("{attach_at}.device"),
                        format!("\"{}\" is not a data volume device name", attach.device),
                        "use /dev/sdf to /dev/sdp (or /dev/xvdf ...); the root device is the AMI's",
                    );
                }
                let key = (attach.instance.clone(), normalized_device(&attach.device));
                if let Some(first) = devices.get(&key) {
                    p.add(
                        format!("{attach_at}.device"),
                        format!(
                            "device {} on instance \"{}\" is already used by resources[{first}]",
                            attach.device, attach.instance
                        ),
                        "give each volume of an instance its own device name",
                    );
                } else {
                    devices.insert(key, i);
                }
            }
        }
        if let Some(rds) = &resource.rds {
            check_rds(&at, rds, p);
        }
        if let Some(efs) = &resource.efs {
            check_efs(&at, efs, p);
        }
        if let Some(ec2) = &resource.ec2 {
            if let Some(instance_type) = &ec2.instance_type {
                if !is_instance_type(instance_type) {
                    p.add(
                        format!("{at}.ec2.instanceType"),
                        format!("\"{instance_type}\" is not an instance type"),
                        "use a type such as \"m6i.large\"",
                    );
                }
            }
            if let Some(subnet) = &ec2.subnet_id {
                check_ids(
                    &format!("{at}.ec2.subnetId"),
                    std::slice::from_ref(subnet),
                    "subnet-",
                    p,
                );
            }
            check_ids(
                &format!("{at}.ec2.securityGroupIds"),
                &ec2.security_group_ids,
                "sg-",
                p,
            );
        }
    }
}

fn check_selection(plan: &Plan, at: &str, resource: &ProtectedResource, p: &mut Problems) {
    match (&resource.arn, &resource.tags) {
        (None, None) => p.add(
            format!("{at}.arn"),
            "is missing (and no tags selection is given)",
            "set arn to the source resource's ARN, or tags to select recovery points by tag",
        ),
        (Some(_), Some(_)) => p.add(
            format!("{at}.tags"),
            "is given together with arn",
            "select the resource by arn or by tags, not both",
        ),
        (None, Some(tags)) if tags.is_empty() => p.add(
            format!("{at}.tags"),
            "is empty, so it would select every recovery point of this kind",
            "give at least one tag key and value",
        ),
        (None, Some(_)) => p.add(
            format!("{at}.tags"),
            "selecting recovery points by tags is not supported yet",
            "select the resource by arn",
        ),
        (Some(arn), None) => check_arn(plan, at, &resource.kind, arn, p),
    }
}

fn check_arn(plan: &Plan, at: &str, kind: &ResourceKind, arn: &str, p: &mut Problems) {
    let field = format!("{at}.arn");
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    if parts.len() != 6 || parts[0] != "arn" || parts[5].is_empty() {
        p.add(
            field,
            format!("\"{arn}\" is not an ARN"),
            "use the full ARN, e.g. arn:aws:ec2:us-east-1:123456789012:volume/vol-0abc1234",
        );
        return;
    }
    let (service, region, account, resource) = (parts[2], parts[3], parts[4], parts[5]);
    let expected = match kind {
        ResourceKind::Ebs => Some((
            "ec2",
            "volume/",
            "arn:aws:ec2:REGION:ACCOUNT:volume/vol-...",
        )),
        ResourceKind::Ec2 => Some((
            "ec2",
            "instance/",
            "arn:aws:ec2:REGION:ACCOUNT:instance/i-...",
        )),
        ResourceKind::Rds => Some(("rds", "db:", "arn:aws:rds:REGION:ACCOUNT:db:NAME")),
        ResourceKind::Efs => Some((
            "elasticfilesystem",
            "file-system/",
            "arn:aws:elasticfilesystem:REGION:ACCOUNT:file-system/fs-...",
        )),
        ResourceKind::StorageGateway => Some((
            "storagegateway",
            "gateway/",
            "arn:aws:storagegateway:REGION:ACCOUNT:gateway/sgw-.../volume/vol-...",
        )),
        ResourceKind::Unknown(_) => None,
    };
    if let Some((want_service, want_prefix, example)) = expected {
        if service != want_service || !resource.starts_with(want_prefix) {
            p.add(
                &field,
                format!("\"{arn}\" is not the ARN of a {kind} resource"),
                format!("use an ARN of the form {example}, or correct kind"),
            );
        }
    }
    if account.len() != 12 || !account.chars().all(|c| c.is_ascii_digit()) {
        p.add(
            &field,
            format!("account \"{account}\" in the ARN is not a 12-digit account id"),
            "copy the ARN from the AWS Backup console or CLI",
        );
    }
    if region == plan.dr_region {
        p.add(
            &field,
            format!("the resource is in the DR region {region} itself"),
            "protect resources of the primary region; drRegion is where their copies are restored",
        );
    } else if let Some(primary) = &plan.primary_region {
        if region != primary {
            p.add(
                &field,
                format!("the resource is in {region}, not in primaryRegion {primary}"),
                "correct the ARN or primaryRegion",
            );
        }
    }
}

/// What AWS Backup needs in the DR region that the copy cannot supply (its metadata names the
/// primary region's AZ, subnet and DB subnet group): missing, every restore would be refused.
fn check_required_dr_settings(at: &str, resource: &ProtectedResource, p: &mut Problems) {
    match resource.kind {
        ResourceKind::Ebs | ResourceKind::StorageGateway => {
            if resource
                .ebs
                .as_ref()
                .and_then(|e| e.availability_zone.as_ref())
                .is_none()
            {
                p.add(
                    format!("{at}.ebs.availabilityZone"),
                    "is missing: a volume is restored into one AZ of the DR region",
                    "set ebs.availabilityZone to a DR AZ (the AZ of the instance it attaches to)",
                );
            }
        }
        ResourceKind::Rds => {
            if resource
                .rds
                .as_ref()
                .and_then(|r| r.db_subnet_group_name.as_ref())
                .is_none()
            {
                p.add(
                    format!("{at}.rds.dbSubnetGroupName"),
                    "is missing: the source's DB subnet group does not exist in the DR region",
                    "set rds.dbSubnetGroupName to a DB subnet group of the DR VPC",
                );
            }
        }
        ResourceKind::Ec2 => {
            if resource
                .ec2
                .as_ref()
                .and_then(|e| e.subnet_id.as_ref())
                .is_none()
            {
                p.add(
                    format!("{at}.ec2.subnetId"),
                    "is missing: the source's subnet does not exist in the DR region",
                    "set ec2.subnetId to a subnet of the DR VPC",
                );
            }
        }
        ResourceKind::Efs | ResourceKind::Unknown(_) => {}
    }
}

/// The volumes attached to one instance must be restored into one AZ: the instance's.
fn check_instance_zones(plan: &Plan, p: &mut Problems) {
    let mut first_zone: HashMap<&str, (usize, &str)> = HashMap::new();
    for (i, resource) in plan.resources.iter().enumerate() {
        let Some(ebs) = &resource.ebs else { continue };
        let (Some(attach), Some(zone)) = (&ebs.attach_to, &ebs.availability_zone) else {
            continue;
        };
        // two outputs may name one AZ: the launch step checks the resolved zones
        if referenced(zone).is_some() {
            continue;
        }
        match first_zone.get(attach.instance.as_str()) {
            None => {
                first_zone.insert(&attach.instance, (i, zone));
            }
            Some((first, first_az)) if first_az != zone && referenced(first_az).is_none() => p.add(
                format!("resources[{i}].ebs.availabilityZone"),
                format!(
                    "is {zone}, but resources[{first}] attached to the same instance \"{}\" is restored into {first_az}",
                    attach.instance
                ),
                "restore every volume of an instance into the same AZ (the instance is launched there)",
            ),
            Some(_) => {}
        }
    }
}

/// Per-kind settings must match the kind: an `rds` block on an EBS volume is a mistake.
fn check_settings_block(at: &str, resource: &ProtectedResource, p: &mut Problems) {
    let blocks = [
        ("ebs", resource.ebs.is_some()),
        ("rds", resource.rds.is_some()),
        ("efs", resource.efs.is_some()),
        ("ec2", resource.ec2.is_some()),
    ];
    if matches!(resource.kind, ResourceKind::Unknown(_)) {
        return;
    }
    for (block, present) in blocks {
        let expected = resource.kind.settings_block();
        if present && block != expected {
            p.add(
                format!("{at}.{block}"),
                format!("{block} settings on a resource of kind {}", resource.kind),
                format!("move these settings under {expected} or correct kind"),
            );
        }
    }
}

fn check_ebs(plan: &Plan, at: &str, ebs: &EbsRestore, p: &mut Problems) {
    if let Some(az) = &ebs.availability_zone {
        if referenced(az).is_none() && !is_az_of(az, &plan.dr_region) {
            p.add(
                format!("{at}.ebs.availabilityZone"),
                format!(
                    "\"{az}\" is not an availability zone of drRegion {}",
                    plan.dr_region
                ),
                "use an AZ of the DR region, the one of the instance the volume attaches to",
            );
        }
    }
    if let Some(volume_type) = &ebs.volume_type {
        if !VOLUME_TYPES.contains(&volume_type.as_str()) {
            p.add(
                format!("{at}.ebs.volumeType"),
                format!("unknown volume type \"{volume_type}\""),
                format!("use one of {}", VOLUME_TYPES.join(", ")),
            );
        }
    }
    if let Some(key) = &ebs.kms_key_id {
        check_kms_key(&format!("{at}.ebs.kmsKeyId"), key, &plan.dr_region, p);
    }
}

fn check_kms_key(field: &str, key: &str, dr_region: &str, p: &mut Problems) {
    if key.trim().is_empty() {
        p.add(
            field,
            "is empty",
            "give a KMS key id, ARN or alias/NAME, or remove the field",
        );
    } else if key.starts_with("arn:") && key.split(':').nth(3) != Some(dr_region) {
        p.add(
            field,
            format!("the KMS key \"{key}\" is not in drRegion {dr_region}"),
            "KMS keys are regional: use a key of the DR region",
        );
    }
}

fn check_rds(at: &str, rds: &RdsRestore, p: &mut Problems) {
    if let Some(identifier) = &rds.db_instance_identifier {
        // A drill appends "-<run suffix>", so leave room under RDS's 63 characters.
        let valid = !identifier.is_empty()
            && identifier.len() <= 40
            && identifier.starts_with(|c: char| c.is_ascii_alphabetic())
            && identifier
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !identifier.ends_with('-')
            && !identifier.contains("--");
        if !valid {
            p.add(
                format!("{at}.rds.dbInstanceIdentifier"),
                format!("\"{identifier}\" is not a valid DB instance identifier"),
                "use letters, digits and single hyphens, starting with a letter, at most 40 characters",
            );
        }
    }
    if let Some(class) = &rds.db_instance_class {
        if !class.starts_with("db.") || !is_instance_type(&class[3..]) {
            p.add(
                format!("{at}.rds.dbInstanceClass"),
                format!("\"{class}\" is not a DB instance class"),
                "use a class such as \"db.t3.medium\"",
            );
        }
    }
    check_ids(
        &format!("{at}.rds.vpcSecurityGroupIds"),
        &rds.vpc_security_group_ids,
        "sg-",
        p,
    );
}

fn check_efs(at: &str, efs: &EfsRestore, p: &mut Problems) {
    if let Some(mode) = &efs.performance_mode {
        if !EFS_PERFORMANCE_MODES.contains(&mode.as_str()) {
            p.add(
                format!("{at}.efs.performanceMode"),
                format!("unknown performance mode \"{mode}\""),
                format!("use one of {}", EFS_PERFORMANCE_MODES.join(", ")),
            );
        }
    }
    if efs.encrypted == Some(false) && efs.kms_key_id.is_some() {
        p.add(
            format!("{at}.efs.kmsKeyId"),
            "is set while encrypted is false",
            "remove kmsKeyId or set encrypted to true",
        );
    }
}

fn check_dns(plan: &Plan, instance_names: &HashSet<String>, p: &mut Problems) {
    let mut record_names: HashMap<String, String> = HashMap::new();
    for (i, record) in plan.dns.iter().enumerate() {
        let at = format!("dns[{i}]");
        if record.hosted_zone_id.trim().is_empty() {
            p.add(
                format!("{at}.hostedZoneId"),
                "is missing",
                "set the id of the Route 53 hosted zone that holds the record, e.g. \"Z0123456789ABC\"",
            );
        }
        if record.record_name.trim().is_empty() {
            p.add(
                format!("{at}.recordName"),
                "is missing",
                "set the production record name, e.g. \"app.example.com\"",
            );
        }
        if record.drill_record_name.trim().is_empty() {
            p.add(
                format!("{at}.drillRecordName"),
                "is missing",
                "set a record only drills write, e.g. \"drill.app.example.com\"",
            );
        } else {
            match normalize_dns_name(&record.drill_record_name) {
                Err(why) => p.add(
                    format!("{at}.drillRecordName"),
                    format!("\"{}\" {why}", record.drill_record_name),
                    "use a plain DNS name such as \"drill.app.example.com\"",
                ),
                Ok(drill) if is_wildcard(&drill) => p.add(
                    format!("{at}.drillRecordName"),
                    format!("\"{}\" is a wildcard name", record.drill_record_name),
                    "a wildcard would answer for production names: use one plain name such as \"drill.app.example.com\"",
                ),
                Ok(drill) => {
                    let production = plan
                        .dns
                        .iter()
                        .any(|other| dns_name(&other.record_name) == drill);
                    if production {
                        p.add(
                            format!("{at}.drillRecordName"),
                            format!(
                                "\"{}\" is a production record of this plan (compared as Route 53 reads it: case, trailing dot and escapes)",
                                record.drill_record_name
                            ),
                            "a drill must never write production DNS: use a separate name such as \"drill.app.example.com\"",
                        );
                    }
                }
            }
        }
        if let Err(why) = normalize_dns_name(&record.record_name) {
            if !record.record_name.trim().is_empty() {
                p.add(
                    format!("{at}.recordName"),
                    format!("\"{}\" {why}", record.record_name),
                    "use the record's DNS name, e.g. \"app.example.com\"",
                );
            }
        }
        for (field, name) in [
            ("recordName", &record.record_name),
            ("drillRecordName", &record.drill_record_name),
        ] {
            if name.trim().is_empty() {
                continue;
            }
            let key = dns_name(name);
            let here = format!("{at}.{field}");
            if let Some(first) = record_names.get(&key) {
                p.add(
                    &here,
                    format!("record \"{name}\" is also {first}"),
                    "each record may be switched by one entry only",
                );
            } else {
                record_names.insert(key, here);
            }
        }
        if !RECORD_TYPES.contains(&record.record_type.as_str()) {
            p.add(
                format!("{at}.recordType"),
                if record.record_type.is_empty() {
                    "is missing".to_string()
                } else {
                    format!("unsupported record type \"{}\"", record.record_type)
                },
                format!("use one of {}", RECORD_TYPES.join(", ")),
            );
        }
        if let Some(ttl) = record.ttl {
            if !(1..=MAX_TTL_SECONDS).contains(&ttl) {
                p.add(
                    format!("{at}.ttl"),
                    format!("must be between 1 and {MAX_TTL_SECONDS} seconds, got {ttl}"),
                    "use a short TTL such as 60 so clients follow a failover quickly",
                );
            }
        }
        check_dns_target(plan, &at, record, instance_names, p);
        check_dns_method(&at, record, p);
    }
}

/// A failover-alarm record needs its alarm and Elastic IP, and can only point at an instance
/// (the SECONDARY record holds the Elastic IP's address, set ahead of time).
fn check_dns_method(at: &str, record: &DnsRecordPlan, p: &mut Problems) {
    match record.method {
        DnsMethod::Upsert => {
            for (field, set) in [
                ("alarmName", record.alarm_name.is_some()),
                (
                    "elasticIpAllocationId",
                    record.elastic_ip_allocation_id.is_some(),
                ),
            ] {
                if set {
                    p.add(
                        format!("{at}.{field}"),
                        "is only used with method \"failoverAlarm\"",
                        "set method to \"failoverAlarm\" (a failover-routing pair set up ahead of time), or remove the field",
                    );
                }
            }
        }
        DnsMethod::FailoverAlarm => {
            match record.alarm_name.as_deref().map(str::trim) {
                None | Some("") => p.add(
                    format!("{at}.alarmName"),
                    "is missing",
                    "name the DR-region CloudWatch alarm the PRIMARY record's health check follows (README: DNS without us-east-1)",
                ),
                Some(name) if name.len() > 255 || name.chars().any(|c| c.is_control() || !c.is_ascii()) => p.add(
                    format!("{at}.alarmName"),
                    "must be 1 to 255 printable ASCII characters",
                    "use the alarm's exact name, e.g. \"backstop-app-failover\"",
                ),
                Some(_) => {}
            }
            match record.elastic_ip_allocation_id.as_deref() {
                None | Some("") => p.add(
                    format!("{at}.elasticIpAllocationId"),
                    "is missing",
                    "allocate an Elastic IP in the DR region, point the SECONDARY record at it, and give its allocation id, e.g. \"eipalloc-0123456789abcdef0\"",
                ),
                Some(id) if !is_aws_id(id, "eipalloc-") => p.add(
                    format!("{at}.elasticIpAllocationId"),
                    format!("\"{id}\" is not an Elastic IP allocation id"),
                    "use the AllocationId of the DR-region Elastic IP, e.g. \"eipalloc-0123456789abcdef0\"",
                ),
                Some(_) => {}
            }
            if record.target.instance.is_none() || record.target.resource.is_some() {
                p.add(
                    format!("{at}.target.instance"),
                    "a failoverAlarm record must point at an instance",
                    "set target.instance: the failover moves the Elastic IP the SECONDARY record holds to that instance",
                );
            }
            if !record.record_type.is_empty() && record.record_type != "A" {
                p.add(
                    format!("{at}.recordType"),
                    format!(
                        "a failoverAlarm record is type A (an Elastic IP), got \"{}\"",
                        record.record_type
                    ),
                    "use type A",
                );
            }
        }
    }
}

fn check_dns_target(
    plan: &Plan,
    at: &str,
    record: &DnsRecordPlan,
    instance_names: &HashSet<String>,
    p: &mut Problems,
) {
    let field = format!("{at}.target");
    match (&record.target.instance, &record.target.resource) {
        (Some(instance), None) => {
            if !instance_names.contains(instance) {
                p.add(
                    format!("{field}.instance"),
                    format!("\"{instance}\" is not an instance of this plan"),
                    "use the name of an entry in instances",
                );
            }
            if record.record_type == "CNAME" {
                p.add(
                    format!("{at}.recordType"),
                    "a CNAME cannot point at an instance's IP address",
                    "use type A for an instance target",
                );
            }
        }
        (None, Some(resource)) => match plan.resource(resource) {
            None => p.add(
                format!("{field}.resource"),
                format!("\"{resource}\" is not a resource of this plan"),
                "use the name of an entry in resources",
            ),
            Some(r) if r.kind != ResourceKind::Rds => p.add(
                format!("{field}.resource"),
                format!(
                    "\"{resource}\" is a {} resource, which has no DNS endpoint",
                    r.kind
                ),
                "point the record at an rds resource or at an instance",
            ),
            Some(_) if record.record_type != "CNAME" && !record.record_type.is_empty() => p.add(
                format!("{at}.recordType"),
                "an RDS endpoint is a host name",
                "use type CNAME for an rds target",
            ),
            Some(r) if r.optional => p.add(
                format!("{field}.resource"),
                format!("\"{resource}\" is optional: a run may go on without it, and the record would point nowhere"),
                "make the resource required (remove optional), or point the record elsewhere",
            ),
            Some(_) => {}
        },
        _ => p.add(
            field,
            "must name exactly one of instance or resource",
            "set target.instance to an instance name, or target.resource to an rds resource name",
        ),
    }
}

fn is_region(region: &str) -> bool {
    let parts: Vec<&str> = region.split('-').collect();
    parts.len() >= 3
        && parts[0].len() == 2
        && parts[..parts.len() - 1]
            .iter()
            .all(|part| !part.is_empty() && part.chars().all(|c| c.is_ascii_lowercase()))
        && parts[parts.len() - 1].chars().all(|c| c.is_ascii_digit())
        && !parts[parts.len() - 1].is_empty()
}

fn is_az_of(az: &str, region: &str) -> bool {
    !region.is_empty()
        && az.len() > region.len()
        && az.starts_with(region)
        && az.ends_with(|c: char| c.is_ascii_lowercase())
}

fn is_aws_id(id: &str, prefix: &str) -> bool {
    id.strip_prefix(prefix)
        .is_some_and(|rest| rest.len() >= 8 && rest.chars().all(|c| c.is_ascii_hexdigit()))
}

fn is_instance_type(instance_type: &str) -> bool {
    match instance_type.split_once('.') {
        Some((family, size)) => {
            !family.is_empty()
                && !size.is_empty()
                && family
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-')
                && size.chars().all(|c| c.is_ascii_alphanumeric())
        }
        None => false,
    }
}

/// Data volumes go on /dev/sd[f-p] or /dev/xvd[f-p] (AWS's recommended range); the root device is the AMI's.
fn is_device_name(device: &str) -> bool {
    let letter = device
        .strip_prefix("/dev/sd")
        .or_else(|| device.strip_prefix("/dev/xvd"));
    matches!(letter, Some(l) if l.len() == 1 && ('f'..='p').contains(&l.chars().next().unwrap_or('a')))
}

/// /dev/sdf and /dev/xvdf are the same device to the instance.
fn normalized_device(device: &str) -> String {
    device.replacen("/dev/xvd", "/dev/sd", 1)
}

fn dns_name(name: &str) -> String {
    normalize_dns_name(name).unwrap_or_else(|_| name.trim().to_ascii_lowercase())
}

/// A DNS name as Route 53 reads it: escapes decoded (`\141` is `a`, `\.` a literal dot
/// inside a label), ASCII case folded, the trailing dot dropped. Labels are joined with `.`;
/// a literal dot inside a label stays escaped so it cannot pass for a label boundary.
pub fn normalize_dns_name(name: &str) -> Result<String, String> {
    let name = name.trim();
    let name = name.strip_suffix('.').unwrap_or(name);
    let mut labels: Vec<String> = vec![String::new()];
    let mut chars = name.chars().peekable();
    while let Some(c) = chars.next() {
        let decoded = match c {
            '\\' => {
                let digits: String = std::iter::from_fn(|| chars.next_if(char::is_ascii_digit))
                    .take(3)
                    .collect();
                if digits.is_empty() {
                    chars.next().ok_or("ends with a lone backslash")?
                } else if digits.len() == 3 {
                    let code = u32::from_str_radix(&digits, 8)
                        .map_err(|_| format!("\\{digits} is not a valid escape"))?;
                    char::from_u32(code)
                        .filter(|_| code <= 0o377)
                        .ok_or(format!("\\{digits} is not a valid escape"))?
                } else {
                    return Err(format!("\\{digits} is not a three-digit escape"));
                }
            }
            '.' => {
                labels.push(String::new());
                continue;
            }
            // Route 53 takes other characters (spaces, control characters, non-ASCII) only
            // as \ddd escapes; an internationalized name goes in its punycode form
            other if !other.is_ascii_graphic() => {
                return Err(format!(
                    "holds {other:?}, which a DNS name may carry only as an octal escape (\\ddd); use its ASCII (punycode) form"
                ))
            }
            other => other,
        };
        let label = labels.last_mut().expect("at least one label");
        match decoded {
            '.' => label.push_str("\\."),
            other => label.push(other.to_ascii_lowercase()),
        }
    }
    if labels.iter().any(String::is_empty) {
        return Err("has an empty label (two dots in a row, or a leading dot)".into());
    }
    if labels.iter().any(|label| label.len() > 63) {
        return Err("has a label longer than 63 characters".into());
    }
    let joined = labels.join(".");
    if joined.len() > 253 {
        return Err("is longer than 253 characters".into());
    }
    Ok(joined)
}

/// Whether a (normalized) name is a wildcard or holds one: Route 53 reads `*` as one only as
/// the leftmost label, but no drill name should carry one anywhere.
pub fn is_wildcard(normalized: &str) -> bool {
    normalized.split('.').any(|label| label.contains('*'))
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use crate::plan::Plan;

    fn example() -> Value {
        serde_json::from_str(include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/plans/example.json"
        )))
        .unwrap()
    }

    #[test]
    fn user_data_over_ec2s_16_kb_is_refused_before_anything_starts() {
        let mut plan = example();
        plan["instances"][0]["userData"] = json!("#!/bin/sh\n".repeat(2000));
        let err = Plan::from_value(plan).unwrap_err();
        assert_eq!(err.error_name(), "Backstop.InvalidPlan");
        assert!(err.to_string().contains("instances[0].userData"), "{err}");
        let mut plan = example();
        plan["instances"][0]["userData"] = json!("#!/bin/sh\necho ready\n");
        Plan::from_value(plan).unwrap();
    }
}
