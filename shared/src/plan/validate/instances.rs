//! The instances a run launches: names, golden AMIs, types, subnets, user data, and the AZ
//! the volumes attached to each are restored into.

use super::{check_ids, check_instance_name, is_aws_id, is_instance_type, Problems};
use crate::plan::stack_output::referenced;
use crate::plan::{AmiRef, InstancePlan, Plan};
use std::collections::{HashMap, HashSet};

pub(super) fn check_instances(plan: &Plan, p: &mut Problems) -> HashSet<String> {
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
        if let Some(wave) = instance.wave.filter(|w| !(1..=MAX_WAVE).contains(w)) {
            p.add(
                format!("{at}.wave"),
                format!("wave {wave} is not between 1 and {MAX_WAVE}"),
                "number the waves from 1 in launch order (e.g. 1 database, 2 app, 3 web)",
            );
        }
    }
    names
}

/// Waves are numbered, not counted: gaps are allowed (1, 2, 5), up to this many.
pub(super) const MAX_WAVE: u32 = 20;

/// EC2 takes at most 16 KB of user data, before its base64 encoding: more fails the launch,
/// after the restores started.
pub(super) const MAX_USER_DATA_BYTES: usize = 16 * 1024;

pub(super) fn check_user_data(field: &str, user_data: Option<&str>, p: &mut Problems) {
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

pub(super) fn check_ami(at: &str, ami: &AmiRef, p: &mut Problems) {
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

pub(super) fn check_instance(at: &str, instance: &InstancePlan, p: &mut Problems) {
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

/// The volumes attached to one instance must be restored into one AZ: the instance's.
pub(super) fn check_instance_zones(plan: &Plan, p: &mut Problems) {
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

/// Data volumes go on /dev/sd[f-p] or /dev/xvd[f-p] (AWS's recommended range); the root device is the AMI's.
pub(super) fn is_device_name(device: &str) -> bool {
    let letter = device
        .strip_prefix("/dev/sd")
        .or_else(|| device.strip_prefix("/dev/xvd"));
    matches!(letter, Some(l) if l.len() == 1 && ('f'..='p').contains(&l.chars().next().unwrap_or('a')))
}

/// /dev/sdf and /dev/xvdf are the same device to the instance.
pub(super) fn normalized_device(device: &str) -> String {
    device.replacen("/dev/xvd", "/dev/sd", 1)
}
