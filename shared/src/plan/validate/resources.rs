//! The protected resources: ARNs of their kind and region, recovery-point selection, and the
//! per-kind settings AWS Backup needs in the DR region.

use super::instances::{is_device_name, normalized_device};
use super::{check_ids, check_name, is_az_of, is_instance_type, Problems};
use crate::plan::stack_output::referenced;
use crate::plan::{EbsRestore, EfsRestore, Plan, ProtectedResource, RdsRestore, ResourceKind};
use std::collections::{HashMap, HashSet};

pub(super) const VOLUME_TYPES: [&str; 7] = ["gp3", "gp2", "io2", "io1", "st1", "sc1", "standard"];

pub(super) const EFS_PERFORMANCE_MODES: [&str; 2] = ["generalPurpose", "maxIO"];

pub(super) fn check_resources(plan: &Plan, instance_names: &HashSet<String>, p: &mut Problems) {
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

pub(super) fn check_selection(
    plan: &Plan,
    at: &str,
    resource: &ProtectedResource,
    p: &mut Problems,
) {
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

pub(super) fn check_arn(plan: &Plan, at: &str, kind: &ResourceKind, arn: &str, p: &mut Problems) {
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
    if !super::is_account_id(account) {
        p.add(
            &field,
            format!("account \"{account}\" in the ARN is not a 12-digit account id"),
            "copy the ARN from the AWS Backup console or CLI",
        );
    } else if !plan.source_accounts.is_empty() && !plan.source_accounts.iter().any(|a| a == account)
    {
        p.add(
            &field,
            format!("the resource is in account {account}, which sourceAccounts does not list"),
            format!("add \"{account}\" to sourceAccounts if its backup plan copies into {}, or correct the ARN", plan.backup_vault),
        );
    }
    if region == plan.dr_region && plan.restores_in_place {
        // a failback drill's plan: production's resources, restored beside them
    } else if region == plan.dr_region {
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
pub(super) fn check_required_dr_settings(at: &str, resource: &ProtectedResource, p: &mut Problems) {
    // (whether it is set, the field, why it is needed, the fix)
    let (set, field, why, fix) = match resource.kind {
        ResourceKind::Ebs | ResourceKind::StorageGateway => (
            resource
                .ebs
                .as_ref()
                .and_then(|e| e.availability_zone.as_ref())
                .is_some(),
            "ebs.availabilityZone",
            "a volume is restored into one AZ of the DR region",
            "set ebs.availabilityZone to a DR AZ (the AZ of the instance it attaches to)",
        ),
        ResourceKind::Rds => (
            resource
                .rds
                .as_ref()
                .and_then(|r| r.db_subnet_group_name.as_ref())
                .is_some(),
            "rds.dbSubnetGroupName",
            "the source's DB subnet group does not exist in the DR region",
            "set rds.dbSubnetGroupName to a DB subnet group of the DR VPC",
        ),
        ResourceKind::Ec2 => (
            resource
                .ec2
                .as_ref()
                .and_then(|e| e.subnet_id.as_ref())
                .is_some(),
            "ec2.subnetId",
            "the source's subnet does not exist in the DR region",
            "set ec2.subnetId to a subnet of the DR VPC",
        ),
        ResourceKind::Efs | ResourceKind::Unknown(_) => return,
    };
    if !set {
        p.add(format!("{at}.{field}"), format!("is missing: {why}"), fix);
    }
}

/// Per-kind settings must match the kind: an `rds` block on an EBS volume is a mistake.
pub(super) fn check_settings_block(at: &str, resource: &ProtectedResource, p: &mut Problems) {
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

pub(super) fn check_ebs(plan: &Plan, at: &str, ebs: &EbsRestore, p: &mut Problems) {
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

pub(super) fn check_kms_key(field: &str, key: &str, dr_region: &str, p: &mut Problems) {
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

pub(super) fn check_rds(at: &str, rds: &RdsRestore, p: &mut Problems) {
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

pub(super) fn check_efs(at: &str, efs: &EfsRestore, p: &mut Problems) {
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
