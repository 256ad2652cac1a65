//! A plan skeleton from what the DR vault holds: every resource with a copy, its kind and ARN,
//! and a `TODO` placeholder for each DR-region setting its kind needs. Placeholders fail
//! validation on purpose, so `backstop plan check` (and every run) lists what is left to fill.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};

use super::VaultRef;

/// A resource the DR vault holds a copy of: its source ARN and AWS Backup's `ResourceType`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct CopiedResource {
    pub resource_arn: String,
    pub resource_type: String,
}

/// What the skeleton could not use: resource types Backstop does not restore.
#[derive(Debug, Default, PartialEq)]
pub struct Skipped(pub BTreeMap<String, usize>);

/// The plan skeleton (JSON) and the copies it skipped. `vault_account` is the account holding
/// the vault (where Backstop runs): copies of another account's resources make the skeleton
/// list every source account in `sourceAccounts`.
pub fn skeleton(
    name: &str,
    dr_region: &str,
    vault: VaultRef<'_>,
    vault_account: Option<&str>,
    copied: &[CopiedResource],
) -> (Value, Skipped) {
    let mut skipped = Skipped::default();
    let mut names = BTreeSet::new();
    let mut resources = Vec::new();
    let mut primary_regions = BTreeSet::new();
    let mut accounts = BTreeSet::new();
    let unique: BTreeSet<&CopiedResource> = copied.iter().collect();
    for resource in unique {
        let kind = match resource.resource_type.as_str() {
            "EBS" => "ebs",
            "RDS" => "rds",
            "EFS" => "efs",
            "EC2" => "ec2",
            "Storage Gateway" => "storage-gateway",
            other => {
                *skipped.0.entry(other.to_string()).or_default() += 1;
                continue;
            }
        };
        if let Some(region) = resource.resource_arn.split(':').nth(3) {
            primary_regions.insert(region.to_string());
        }
        if let Some(account) = resource.resource_arn.split(':').nth(4) {
            accounts.insert(account.to_string());
        }
        let mut entry = json!({
            "name": unique_name(&resource.resource_arn, &mut names),
            "kind": kind,
            "arn": resource.resource_arn,
        });
        let todo = |what: &str| format!("TODO: {what}");
        match kind {
            // a gateway volume restores as an EBS volume: the same settings
            "ebs" | "storage-gateway" => {
                entry["ebs"] = json!({
                    "availabilityZone": todo(&format!("the AZ of {dr_region} to restore into (e.g. {dr_region}a), the one of the instance it attaches to")),
                })
            }
            "rds" => {
                entry["rds"] = json!({
                    "dbSubnetGroupName": todo(&format!("the DB subnet group of the DR VPC in {dr_region}")),
                    "vpcSecurityGroupIds": [todo("sg-... of the DR VPC")],
                })
            }
            "ec2" => {
                entry["ec2"] = json!({
                    "subnetId": todo(&format!("subnet-... of the DR VPC in {dr_region}")),
                    "securityGroupIds": [todo("sg-... of the DR VPC")],
                })
            }
            _ => {} // EFS needs no DR-region setting
        }
        resources.push(entry);
    }
    let mut plan = json!({
        "name": name,
        "drRegion": dr_region,
        "backupVault": vault.name,
        "objectives": { "rtoMinutes": 120, "rpoMinutes": 1440 },
        "resources": resources,
        "instances": [],
        "dns": [],
    });
    // the source ARNs tell the primary region, when they agree
    if primary_regions.len() == 1 {
        plan["primaryRegion"] = json!(primary_regions.into_iter().next());
    }
    let foreign = vault_account.is_some_and(|own| accounts.iter().any(|a| a != own));
    // another account's shared vault: every account whose copies it holds is a source
    if let Some(owner) = vault.account_id {
        plan["backupVaultAccountId"] = json!(owner);
    }
    if foreign || accounts.len() > 1 || vault.account_id.is_some() {
        plan["sourceAccounts"] = json!(accounts);
    }
    (plan, skipped)
}

/// A plan name for a resource: its id from the ARN (`vol-0abc`, `orders`, `fs-12ab`), made
/// unique with a numeric suffix.
fn unique_name(arn: &str, taken: &mut BTreeSet<String>) -> String {
    let id = arn
        .rsplit(['/', ':'])
        .next()
        .filter(|id| !id.is_empty())
        .unwrap_or("resource");
    let base: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '-'
            }
        })
        .take(60)
        .collect();
    let mut name = base.clone();
    let mut n = 2;
    while !taken.insert(name.clone()) {
        name = format!("{base}-{n}");
        n += 1;
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Plan;

    fn copied(arn: &str, kind: &str) -> CopiedResource {
        CopiedResource {
            resource_arn: arn.into(),
            resource_type: kind.into(),
        }
    }

    #[test]
    fn every_copied_resource_is_listed_with_a_placeholder_for_each_setting_its_kind_needs() {
        let (plan, skipped) = skeleton(
            "shop",
            "us-west-2",
            VaultRef::own("backstop-dr"),
            Some("123456789012"),
            &[
                copied("arn:aws:ec2:us-east-1:123456789012:volume/vol-0abc", "EBS"),
                copied("arn:aws:ec2:us-east-1:123456789012:volume/vol-0abc", "EBS"),
                copied("arn:aws:rds:us-east-1:123456789012:db:orders", "RDS"),
                copied(
                    "arn:aws:elasticfilesystem:us-east-1:123456789012:file-system/fs-12ab",
                    "EFS",
                ),
                copied(
                    "arn:aws:dynamodb:us-east-1:123456789012:table/carts",
                    "DynamoDB",
                ),
            ],
        );
        assert_eq!(skipped.0.get("DynamoDB"), Some(&1));
        let resources = plan["resources"].as_array().unwrap();
        assert_eq!(resources.len(), 3, "{plan}");
        assert_eq!(plan["primaryRegion"], "us-east-1");
        assert_eq!(plan.get("sourceAccounts"), None, "one account, the vault's");
        let names: Vec<&str> = resources
            .iter()
            .map(|r| r["name"].as_str().unwrap())
            .collect();
        // in ARN order, so a skeleton made twice is the same file
        assert_eq!(names, ["vol-0abc", "fs-12ab", "orders"]);
        // the placeholders fail validation, each naming its field: check lists what is left
        let err = Plan::from_value(plan).unwrap_err().to_string();
        for field in [
            "resources[0].ebs.availabilityZone",
            "resources[2].rds.vpcSecurityGroupIds",
        ] {
            assert!(err.contains(field), "{field} not reported: {err}");
        }
    }

    #[test]
    fn copies_from_another_account_list_the_source_accounts() {
        let production = copied("arn:aws:ec2:us-east-1:210987654321:volume/vol-0abc", "EBS");
        let own = copied("arn:aws:ec2:us-east-1:123456789012:volume/vol-0def", "EBS");
        let (plan, _) = skeleton(
            "shop",
            "us-west-2",
            VaultRef::own("dr"),
            Some("123456789012"),
            std::slice::from_ref(&production),
        );
        assert_eq!(plan["sourceAccounts"], json!(["210987654321"]));
        let (plan, _) = skeleton(
            "shop",
            "us-west-2",
            VaultRef::own("dr"),
            Some("123456789012"),
            &[production, own],
        );
        assert_eq!(
            plan["sourceAccounts"],
            json!(["123456789012", "210987654321"])
        );
    }

    #[test]
    fn a_shared_vault_names_its_owner_and_lists_every_source_account() {
        let production = copied("arn:aws:ec2:us-east-1:210987654321:volume/vol-0abc", "EBS");
        let shared = VaultRef {
            name: "air-gapped",
            account_id: Some("210987654321"),
        };
        let (plan, _) = skeleton("shop", "us-west-2", shared, None, &[production]);
        assert_eq!(plan["backupVault"], "air-gapped");
        assert_eq!(plan["backupVaultAccountId"], "210987654321");
        assert_eq!(plan["sourceAccounts"], json!(["210987654321"]));
    }

    #[test]
    fn names_are_unique_even_when_ids_repeat() {
        let mut taken = BTreeSet::new();
        assert_eq!(
            unique_name("arn:aws:rds:us-east-1:1:db:orders", &mut taken),
            "orders"
        );
        assert_eq!(
            unique_name("arn:aws:rds:eu-west-1:1:db:orders", &mut taken),
            "orders-2"
        );
    }
}
