//! Plan validation: every rule adds a problem with a field path and a fix; none stops the others.

use std::collections::HashSet;

use crate::error::PlanProblem;
use crate::plan::stack_output::referenced;
use crate::plan::{Plan, RecoverInto};
use dns::check_dns;
use instances::{check_instance_zones, check_instances, check_user_data};
use recovered::{check_post_launch, check_validations};
use resources::check_resources;

mod dns;
pub use dns::{is_wildcard, normalize_dns_name};
mod instances;
mod recovered;
mod resources;

/// Names end up in tags, idempotency tokens and DB identifiers, which limit length and characters.
const MAX_NAME_LEN: usize = 40;
/// What one run is measured to carry (bench/RESULTS.md: 1,000 resources with the payload of
/// 10; at 3,000 the restores complete but a drill's teardown outlasts its invocations): the
/// run's state is stored in S3, not carried in the Step Functions payload.
pub const MAX_RESOURCES: usize = 3000;
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
    check_validations(plan, &mut p);
    check_post_launch(plan, &mut p);
    p.0.extend(crate::plan::home::home_problems(plan));
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
    let timeout = plan
        .failover
        .as_ref()
        .and_then(|f| f.approval_timeout_minutes);
    let interval = plan
        .verification
        .as_ref()
        .and_then(|v| v.min_interval_hours);
    // (the value, its field, its bound and what the bound is, what to give)
    let bounded = [
        (
            timeout,
            "plan.failover.approvalTimeoutMinutes",
            FailoverSettings::MAX_APPROVAL_TIMEOUT_MINUTES,
            "a day",
            "give the minutes an operator has to approve the DNS switch",
        ),
        (
            interval,
            "plan.verification.minIntervalHours",
            VerificationSettings::MAX_MIN_INTERVAL_HOURS,
            "90 days",
            "give the hours between two verification drills",
        ),
    ];
    for (value, field, max, bound, fix) in bounded {
        match value {
            Some(value) if !(1..=max).contains(&value) => p.add(
                field,
                format!("is {value}; it must be between 1 and {max} ({bound})"),
                fix,
            ),
            _ => {}
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

    for (i, account) in plan.source_accounts.iter().enumerate() {
        if !is_account_id(account) {
            p.add(
                format!("sourceAccounts[{i}]"),
                format!("\"{account}\" is not a 12-digit account id"),
                "list the production accounts by id, e.g. \"111122223333\"",
            );
        } else if plan.source_accounts[..i].contains(account) {
            p.add(
                format!("sourceAccounts[{i}]"),
                format!("account {account} is listed twice"),
                "list each account once",
            );
        }
    }

    if let Some(owner) = &plan.backup_vault_account_id {
        if !is_account_id(owner) {
            p.add(
                "backupVaultAccountId",
                format!("\"{owner}\" is not a 12-digit account id"),
                "name the account that owns the shared air-gapped vault, e.g. \"111122223333\", or remove the field when the vault is this account's",
            );
        }
        if plan.source_accounts.is_empty() {
            p.add(
                "sourceAccounts",
                "is empty, but backupVault is another account's shared vault",
                "list the accounts whose resources the vault holds copies of (the production accounts)",
            );
        }
        if plan.home.is_some() {
            p.add(
                "home",
                "cannot be used with backupVaultAccountId",
                "a failback backs the DR side up into backupVault, and a shared air-gapped vault is another account's: fail back from a plan whose backupVault is this account's, or remove home",
            );
        }
    }

    if let Some(into) = &plan.recover_into {
        check_recover_into(plan, into, p);
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

/// `recoverInto`: roles of one other account, whose copies that account can restore itself.
fn check_recover_into(plan: &Plan, into: &RecoverInto, p: &mut Problems) {
    let account = into.account_id();
    let roles = [
        ("recoverInto.roleArn", Some(&into.role_arn)),
        ("recoverInto.restoreRoleArn", Some(&into.restore_role_arn)),
        (
            "recoverInto.networkStackRoleArn",
            into.network_stack_role_arn.as_ref(),
        ),
    ];
    for (field, arn) in roles {
        let Some(arn) = arn else { continue };
        let parts: Vec<&str> = arn.split(':').collect();
        let is_role = parts.len() == 6
            && parts[0] == "arn"
            && parts[2] == "iam"
            && parts[3].is_empty()
            && is_account_id(parts[4])
            && parts[5].len() > "role/".len()
            && parts[5].starts_with("role/");
        if !is_role {
            p.add(
                field,
                format!("\"{arn}\" is not an IAM role's ARN"),
                "use the role's ARN from the outputs of the recover-into-account stack, e.g. \"arn:aws:iam::111122223333:role/backstop-recovery\"",
            );
        } else if parts[4] != account {
            p.add(
                field,
                format!(
                    "is a role of account {}, not of {account} (roleArn's)",
                    parts[4]
                ),
                "every recoverInto role is a role of the account the failover recovers in",
            );
        }
    }
    if !is_account_id(account) {
        return;
    }
    let builds_network = plan
        .network
        .as_ref()
        .is_some_and(|network| network.template.is_some());
    if builds_network && into.network_stack_role_arn.is_none() {
        p.add(
            "recoverInto.networkStackRoleArn",
            format!("is missing, but a failover builds the plan's network stack (network.template) in account {account}"),
            "use the NetworkStackRoleArn output of the recover-into-account stack (CloudFormation builds the network with it), or remove network.template to use the stack that exists there",
        );
    }
    if !plan.source_accounts.iter().any(|a| a == account) {
        p.add(
            "recoverInto.roleArn",
            format!("recovers into account {account}, which sourceAccounts does not list"),
            format!("a failover recovers a workload into its own account: add \"{account}\" to sourceAccounts, or correct roleArn"),
        );
    }
    if plan.backup_vault_account_id.is_none() {
        // AWS Backup restores a recovery point only in the account whose vault holds it, or
        // from a logically air-gapped vault shared with the restoring account
        p.add(
            "recoverInto",
            format!(
                "account {account} cannot restore the copies in vault {}, a vault of the account Backstop runs in",
                plan.backup_vault
            ),
            format!("keep the copies in a logically air-gapped vault that account {account} owns or is shared (backupVault its name, backupVaultAccountId its owner), or remove recoverInto to recover in this account (copying back into account {account} is not built)"),
        );
    }
}

pub(super) fn is_account_id(text: &str) -> bool {
    text.len() == 12 && text.chars().all(|c| c.is_ascii_digit())
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

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use crate::plan::Plan;

    fn example() -> Value {
        crate::plan::example_plan_json()
    }

    #[test]
    fn resources_of_accounts_the_plan_does_not_list_as_sources_are_refused() {
        let mut plan = example();
        let arn = plan["resources"][0]["arn"].as_str().unwrap().to_string();
        let own = arn.split(':').nth(4).unwrap().to_string();
        // no sourceAccounts: any account goes here (preflight compares it with the vault's)
        Plan::from_value(plan.clone()).unwrap();
        plan["sourceAccounts"] = json!(["210987654321"]);
        let err = Plan::from_value(plan.clone()).unwrap_err().to_string();
        assert!(
            err.contains("resources[0].arn")
                && err.contains(&format!(
                    "account {own}, which sourceAccounts does not list"
                ))
                && err.contains(&format!("add \"{own}\" to sourceAccounts")),
            "{err}"
        );
        plan["sourceAccounts"] = json!(["210987654321", own]);
        Plan::from_value(plan.clone()).unwrap();
        plan["sourceAccounts"] = json!(["2109", "210987654321", "210987654321"]);
        let err = Plan::from_value(plan).unwrap_err().to_string();
        assert!(
            err.contains("sourceAccounts[0]")
                && err.contains("sourceAccounts[2]: account 210987654321 is listed twice"),
            "{err}"
        );
    }

    /// The account of the example plan's first resource (the account Backstop runs in).
    fn first_resource_account(plan: &Value) -> String {
        let arn = plan["resources"][0]["arn"].as_str().unwrap();
        arn.split(':').nth(4).unwrap().to_string()
    }

    #[test]
    fn a_failover_recovers_into_another_account_only_from_a_vault_it_can_restore() {
        let mut plan = serde_json::to_value(example()).unwrap();
        let own = first_resource_account(&plan);
        plan["recoverInto"] = json!({
            "roleArn": "arn:aws:iam::210987654321:role/backstop-recovery",
            "restoreRoleArn": "arn:aws:iam::444455556666:role/backstop-restore",
            "networkStackRoleArn": "arn:aws:iam::210987654321:user/someone",
        });
        let err = Plan::from_value(plan.clone()).unwrap_err().to_string();
        assert!(
            err.contains("recoverInto.restoreRoleArn: is a role of account 444455556666, not of 210987654321")
                && err.contains("recoverInto.networkStackRoleArn: \"arn:aws:iam::210987654321:user/someone\" is not an IAM role's ARN")
                && err.contains("recoverInto.roleArn: recovers into account 210987654321, which sourceAccounts does not list")
                && err.contains("recoverInto: account 210987654321 cannot restore the copies in vault")
                && err.contains("copying back into account 210987654321 is not built"),
            "{err}"
        );
        // a network stack built there needs that account's network stack role
        let mut network = plan.clone();
        network["backupVaultAccountId"] = json!("210987654321");
        network["sourceAccounts"] = json!([own.clone(), "210987654321"]);
        network["recoverInto"] = json!({
            "roleArn": "arn:aws:iam::210987654321:role/backstop-recovery",
            "restoreRoleArn": "arn:aws:iam::210987654321:role/backstop-restore",
        });
        network["network"] =
            json!({ "stackName": "dr-net", "template": "s3://dr-templates/network.yaml" });
        let err = Plan::from_value(network.clone()).unwrap_err().to_string();
        assert!(
            err.contains("recoverInto.networkStackRoleArn: is missing, but a failover builds the plan's network stack"),
            "{err}"
        );
        network["recoverInto"]["networkStackRoleArn"] =
            json!("arn:aws:iam::210987654321:role/backstop-network");
        Plan::from_value(network).unwrap();

        // the production account's own air-gapped vault: it restores there as its own
        plan["recoverInto"] = json!({
            "roleArn": "arn:aws:iam::210987654321:role/backstop-recovery",
            "restoreRoleArn": "arn:aws:iam::210987654321:role/backstop-restore",
        });
        plan["backupVaultAccountId"] = json!("210987654321");
        plan["sourceAccounts"] = json!([own, "210987654321"]);
        let parsed = Plan::from_value(plan).unwrap();
        let into = parsed.recover_into.clone().unwrap();
        assert_eq!(into.account_id(), "210987654321");
        let there = parsed.clone().seen_from(into.account_id());
        assert_eq!(there.dr_vault().account_id, None);
        assert_eq!(
            parsed.seen_from(&own).dr_vault().account_id,
            Some("210987654321")
        );
    }

    #[test]
    fn a_shared_vault_names_its_owner_and_the_accounts_it_holds_copies_of() {
        let mut plan = serde_json::to_value(example()).unwrap();
        let own = first_resource_account(&plan);
        plan["backupVaultAccountId"] = json!("9999");
        plan["home"] = json!({});
        let err = Plan::from_value(plan.clone()).unwrap_err().to_string();
        assert!(
            err.contains("backupVaultAccountId: \"9999\" is not a 12-digit account id")
                && err.contains(
                    "sourceAccounts: is empty, but backupVault is another account's shared vault"
                )
                && err.contains("home: cannot be used with backupVaultAccountId"),
            "{err}"
        );
        plan["backupVaultAccountId"] = json!("444455556666");
        plan["sourceAccounts"] = json!([own]);
        plan.as_object_mut().unwrap().remove("home");
        let parsed = Plan::from_value(plan).unwrap();
        assert_eq!(
            parsed.dr_vault().account_param().as_deref(),
            Some("444455556666")
        );
        assert_eq!(parsed.dr_vault().name, parsed.backup_vault);
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

    #[test]
    fn waves_run_in_number_order_and_wave_zero_is_refused() {
        let mut plan = example();
        let app = plan["instances"][0].clone();
        let named = |name: &str, wave: Option<u32>| {
            let mut instance = app.clone();
            instance["name"] = json!(name);
            if let Some(wave) = wave {
                instance["wave"] = json!(wave);
            }
            instance
        };
        plan["instances"] = json!([
            named("web", Some(5)),
            named("db", None),
            named("app", Some(2))
        ]);
        let parsed = Plan::from_value(plan.clone()).unwrap();
        assert_eq!(parsed.waves(), vec![1, 2, 5]);
        assert_eq!(parsed.wave_of("db"), 1);
        assert_eq!(parsed.wave_after(1), Some(2));
        assert_eq!(parsed.wave_after(2), Some(5));
        assert_eq!(parsed.wave_after(5), None);
        // a round's input names a wave of the plan, or none (the first); any other is refused
        assert_eq!(parsed.round_wave(None).unwrap(), 1);
        assert_eq!(parsed.round_wave(Some(5)).unwrap(), 5);
        let wrong = parsed.round_wave(Some(3)).unwrap_err().to_string();
        assert!(
            wrong.contains("no wave 3") && wrong.contains("[1, 2, 5]"),
            "{wrong}"
        );
        // a plan without waves is one wave, as before
        assert_eq!(Plan::from_value(example()).unwrap().waves(), vec![1]);

        plan["instances"][0]["wave"] = json!(0);
        plan["instances"][2]["wave"] = json!(21);
        let err = Plan::from_value(plan).unwrap_err().to_string();
        assert!(
            err.contains("instances[0].wave") && err.contains("instances[2].wave"),
            "{err}"
        );
        assert!(err.contains("number the waves from 1"), "{err}");
    }

    /// The example plan with `db` (wave 1, with a profile) and `app` (wave 2, without).
    fn two_waves() -> Value {
        let mut plan = example();
        let app = plan["instances"][0].clone();
        let mut db = app.clone();
        db["name"] = json!("db");
        db["instanceProfile"] = json!("app-ssm");
        let mut app2 = app.clone();
        app2["wave"] = json!(2);
        app2.as_object_mut().unwrap().remove("instanceProfile");
        plan["instances"] = json!([db, app2]);
        plan
    }

    #[test]
    fn post_launch_actions_run_after_their_instances_wave_and_reference_what_the_run_has() {
        let mut plan = two_waves();
        plan["postLaunch"] = json!([
            {"name": "point-db", "ssm": {"instances": ["db"], "parameters": {"commands": ["echo ${restored.orders-db.endpoint} > /etc/app/db"]}}},
            {"name": "warm", "lambdaFunction": "shop-warm-cache", "parameters": {"ip": "${instances.app.privateIp}"}}
        ]);
        let parsed = Plan::from_value(plan.clone()).unwrap();
        // a command runs after its instances' wave; a function after the last wave
        assert_eq!(parsed.action_wave(&parsed.post_launch[0]), 1);
        assert_eq!(parsed.action_wave(&parsed.post_launch[1]), 2);
        assert_eq!(
            parsed.post_launch[0].ssm.as_ref().unwrap().document,
            "AWS-RunShellScript"
        );

        plan["postLaunch"] = json!([
            // both kinds at once, and a name used twice
            {"name": "x", "lambdaFunction": "f", "ssm": {"instances": ["db"]}},
            {"name": "x"},
            // an instance of a later wave, an instance without a profile, an unknown one
            {"name": "early", "afterWave": 1, "ssm": {"instances": ["app"], "parameters": {"commands": ["true"]}}},
            {"name": "ghost", "ssm": {"instances": ["cache"]}},
            // references: a resource without an endpoint, an unknown form, one not closed
            {"name": "refs", "ssm": {"instances": ["db"], "parameters": {"commands": ["${restored.app-data.endpoint}", "${stack.Out}", "${run.id"]}}},
            {"name": "slow", "lambdaFunction": "f", "timeoutSeconds": 601},
            {"name": "nowave", "lambdaFunction": "f", "afterWave": 3}
        ]);
        let err = Plan::from_value(plan).unwrap_err().to_string();
        for expected in [
            "postLaunch[0]: names neither or both",
            "postLaunch[1]: names neither or both",
            "postLaunch[1].name",
            "postLaunch[2].ssm.instances[0]: app starts in wave 2, after this runs (wave 1)",
            "postLaunch[3].ssm.instances[0]: \"cache\" is not an entry of instances",
            "a restored ebs has no endpoint",
            "${stack.Out} is not one of",
            "without closing it",
            "postLaunch[5].timeoutSeconds: 601 is not between 1 and 600",
            "postLaunch[6].afterWave: the plan has no wave 3",
        ] {
            assert!(err.contains(expected), "missing {expected:?} in {err}");
        }
    }

    #[test]
    fn a_command_needs_instances_whose_ssm_agent_can_register() {
        let mut plan = two_waves();
        plan["validations"] = json!([
            {"name": "api", "ssm": {"instances": ["app"], "parameters": {"commands": ["curl -fsS http://localhost/health"]}}}
        ]);
        let err = Plan::from_value(plan).unwrap_err().to_string();
        assert!(
            err.contains("validations[0].ssm.instances[0]")
                && err.contains("app has no instanceProfile"),
            "{err}"
        );
    }
}
