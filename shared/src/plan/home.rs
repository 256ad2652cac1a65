//! The way home: where a failback brings the workload back (the `home` block), and the plan a
//! failback runs, which is the failover's plan with the regions swapped.
//!
//! A failback is a recovery like the others, from copies in a vault: the DR side's final
//! backups, copied into the primary region's vault. So the plan it runs names the failover's
//! restored resources as the protected ones, the primary region as the one to recover in, and
//! the home block's vault, network and images; the restore, launch, attach and DNS code is the
//! same per kind, with the regions swapped.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{AmiRef, DnsMethod, EbsRestore, EfsRestore, Plan, ResourceKind};
use crate::error::{BackstopError, PlanProblem};

/// The primary region's side of a failback: what the DR values of the plan become there.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct HomePlan {
    /// The vault in the primary region the DR side's final backups are copied into.
    pub backup_vault: String,
    /// Where restored volumes are created (an Availability Zone of `subnetIds`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub availability_zone: Option<String>,
    pub subnet_ids: Vec<String>,
    pub security_group_ids: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub db_subnet_group_name: Option<String>,
    pub rds_security_group_ids: Vec<String>,
    /// Each instance's golden AMI in the primary region, by instance name. Not needed for an
    /// instance whose AMI the plan names by `name` or `ssmParameter`: those are looked up in
    /// the primary region.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub amis: BTreeMap<String, AmiRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance_profile: Option<String>,
    /// How long production runs at home, healthy, before the failover's DR side is deleted
    /// (default 60; its databases keep a final snapshot).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retire_after_minutes: Option<u32>,
    /// Where a failback drill runs at home instead, isolated from production there (optional,
    /// as `drill` is in the DR region).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drill: Option<super::DrillIsolation>,
}

impl HomePlan {
    pub const DEFAULT_RETIRE_AFTER_MINUTES: u32 = 60;
    pub const MAX_RETIRE_AFTER_MINUTES: u32 = 7 * 24 * 60;

    pub fn retire_after_seconds(&self) -> u64 {
        u64::from(
            self.retire_after_minutes
                .unwrap_or(Self::DEFAULT_RETIRE_AFTER_MINUTES),
        ) * 60
    }
}

const FIX: &str = "see \"Failing back\" in README.md for the home block";

/// The problems of a plan's home block (none when it has none: only a failback needs it).
pub(super) fn home_problems(plan: &Plan) -> Vec<PlanProblem> {
    let Some(home) = &plan.home else {
        return Vec::new();
    };
    let mut problems = Vec::new();
    let mut add = |field: &str, message: String, fix: String| {
        problems.push(PlanProblem {
            field: format!("home.{field}"),
            message,
            fix,
        })
    };
    if home.backup_vault.trim().is_empty() {
        add(
            "backupVault",
            "is missing: a failback copies the DR side's backups into this vault".into(),
            "name the backup vault of the primary region".into(),
        );
    }
    if plan.primary_region.is_none() {
        add(
            "",
            "needs primaryRegion: it is where a failback recovers".into(),
            "set primaryRegion".into(),
        );
    }
    let has_volumes = plan.resources.iter().any(|r| r.kind.restores_as_volume());
    if has_volumes && home.availability_zone.is_none() {
        add(
            "availabilityZone",
            "is missing: the plan restores EBS volumes, which a failback creates in one zone of the primary region".into(),
            "give the Availability Zone of the home subnets the instances launch in".into(),
        );
    }
    let has_databases = plan.resources.iter().any(|r| r.kind == ResourceKind::Rds);
    if has_databases && home.db_subnet_group_name.is_none() {
        add(
            "dbSubnetGroupName",
            "is missing: the plan restores databases, which a failback restores into the primary region's VPC".into(),
            "name the primary region's DB subnet group".into(),
        );
    }
    if !plan.instances.is_empty() {
        if home.subnet_ids.is_empty() {
            add(
                "subnetIds",
                "is empty: a failback launches the plan's instances into the primary region's subnets".into(),
                "list the primary region's subnets for the instances".into(),
            );
        }
        if home.security_group_ids.is_empty() {
            add(
                "securityGroupIds",
                "is empty: a failback launches the plan's instances with the primary region's security groups".into(),
                "list the primary region's security groups for the instances".into(),
            );
        }
    }
    for instance in &plan.instances {
        if instance.ami.id.is_some() && !home.amis.contains_key(&instance.name) {
            add(
                &format!("amis.{}", instance.name),
                format!(
                    "is missing: instance {} names its AMI by id, which is the DR region's",
                    instance.name
                ),
                "give the golden AMI of the primary region ({\"id\": ...}, {\"name\": ...} or {\"ssmParameter\": ...})".into(),
            );
        }
    }
    if home
        .retire_after_minutes
        .is_some_and(|m| m > HomePlan::MAX_RETIRE_AFTER_MINUTES)
    {
        add(
            "retireAfterMinutes",
            format!(
                "is more than {} (7 days)",
                HomePlan::MAX_RETIRE_AFTER_MINUTES
            ),
            "retire the DR side within a week, or tear it down later with the teardown function"
                .into(),
        );
    }
    for name in home.amis.keys() {
        if !plan.instances.iter().any(|i| &i.name == name) {
            add(
                &format!("amis.{name}"),
                format!("names no instance of the plan: {name}"),
                "use the name of an entry of instances".into(),
            );
        }
    }
    problems
}

/// Where a plan swapped home gets its resources' data from.
#[derive(Debug, Clone, Copy)]
pub enum HomeSource<'a> {
    /// A failback: backups of what the failover restored (the ARN of each resource it
    /// restored, by the plan's name for it).
    Failover(&'a BTreeMap<String, String>),
    /// A failback drill: the DR vault's copies of production, copied home; the resources stay
    /// production's, restored next to it in the home block's drill isolation.
    DrCopies,
}

impl Plan {
    /// The plan a failback runs: the failover's restored resources (`restored`: each one's
    /// ARN by the plan's name for it) as the protected ones, recovered in the primary region
    /// from the home vault, into the home network; the records the same, written with the
    /// home endpoints. Every problem is listed, before anything is created.
    pub fn for_failback(&self, restored: &BTreeMap<String, String>) -> Result<Plan, BackstopError> {
        self.swapped_home(HomeSource::Failover(restored))
    }

    /// The plan swapped to the primary region (see [`HomeSource`]).
    pub fn swapped_home(&self, source: HomeSource<'_>) -> Result<Plan, BackstopError> {
        let mut problems = Vec::new();
        let mut problem = |field: String, message: String, fix: &str| {
            problems.push(PlanProblem {
                field,
                message,
                fix: fix.to_string(),
            })
        };
        let (Some(home), Some(primary)) = (&self.home, &self.primary_region) else {
            return Err(BackstopError::InvalidPlan(vec![PlanProblem {
                field: "home".into(),
                message: "is missing: a failback needs the primary region's vault, network and images, and primaryRegion".into(),
                fix: FIX.into(),
            }]));
        };
        let mut plan = self.clone();
        plan.resources.clear();
        for (index, resource) in self.resources.iter().enumerate() {
            let field = format!("resources[{index}]");
            if resource.kind == ResourceKind::Ec2 {
                problem(
                    field,
                    format!("{} is an EC2 instance restored from its backup: failing one back is not built yet", resource.name),
                    "fail it back by hand (back it up in the DR region and copy the recovery point to the home vault), or launch it from a golden AMI with instances",
                );
                continue;
            }
            let arn = match source {
                HomeSource::Failover(restored) => restored.get(&resource.name).map(String::as_str),
                HomeSource::DrCopies => resource.arn.as_deref(),
            };
            let Some(arn) = arn else {
                if !resource.optional {
                    problem(
                        field,
                        format!("{} was not restored by the failover: there is no DR-side data to bring home", resource.name),
                        "resume the failover until it restores it, or mark the resource optional",
                    );
                }
                continue;
            };
            let mut home_resource = resource.clone();
            home_resource.arn = Some(arn.to_string());
            home_resource.tags = None;
            if resource.kind.restores_as_volume() {
                // a gateway volume restored as an EBS volume in DR comes home as one
                home_resource.kind = ResourceKind::Ebs;
                let dr = resource.ebs.clone().unwrap_or_default();
                home_resource.ebs = Some(EbsRestore {
                    availability_zone: home.availability_zone.clone(),
                    volume_type: dr.volume_type,
                    // keys are regional: the copy in the home vault is under the vault's key
                    kms_key_id: None,
                    attach_to: dr.attach_to,
                    fast_snapshot_restore: false,
                });
            }
            if let Some(rds) = &mut home_resource.rds {
                rds.db_subnet_group_name = home.db_subnet_group_name.clone();
                rds.vpc_security_group_ids = home.rds_security_group_ids.clone();
            }
            if let Some(efs) = &resource.efs {
                home_resource.efs = Some(EfsRestore {
                    kms_key_id: None,
                    ..efs.clone()
                });
            }
            plan.resources.push(home_resource);
        }
        for (index, record) in self.dns.iter().enumerate() {
            if record.method == DnsMethod::FailoverAlarm {
                problem(
                    format!("dns[{index}].method"),
                    format!("{} switches by its failover alarm: failing such a record back is not built yet", record.record_name),
                    "return the alarm to OK by hand once the primary is healthy (Route 53 then answers the PRIMARY record)",
                );
            }
        }
        for instance in &mut plan.instances {
            if let Some(ami) = home.amis.get(&instance.name) {
                instance.ami = ami.clone();
            }
            instance.subnet_ids = home.subnet_ids.clone();
            instance.security_group_ids = home.security_group_ids.clone();
            if home.instance_profile.is_some() {
                instance.instance_profile = home.instance_profile.clone();
            }
        }
        if !problems.is_empty() {
            return Err(BackstopError::InvalidPlan(problems));
        }
        plan.primary_region = Some(self.dr_region.clone());
        plan.dr_region = primary.clone();
        plan.backup_vault = home.backup_vault.clone();
        plan.backup_vault_account_id = None;
        match source {
            // what the failover restored is this account's, whichever accounts it came from
            HomeSource::Failover(_) => {
                plan.source_accounts.clear();
                plan.drill = None;
            }
            // production's own resources, restored beside them at home, in isolation
            HomeSource::DrCopies => {
                plan.restores_in_place = true;
                plan.drill = home.drill.clone();
            }
        }
        // the DR network stays where it is (it is the failover's); the home one is given
        plan.network = None;
        plan.verification = None;
        plan.home = None;
        plan.validate()?;
        Ok(plan)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn plan_with_home() -> Plan {
        let mut plan = crate::plan::example_plan_json();
        plan["home"] = json!({
            "backupVault": "backstop-primary",
            "availabilityZone": "us-east-1a",
            "subnetIds": ["subnet-0e00000000000e001"],
            "securityGroupIds": ["sg-0e000000000000e01"],
            "dbSubnetGroupName": "home-db-subnets",
            "rdsSecurityGroupIds": ["sg-0e000000000000e02"]
        });
        Plan::from_value(plan).unwrap()
    }

    fn failover_restores() -> BTreeMap<String, String> {
        [
            (
                "app-data",
                "arn:aws:ec2:us-west-2:123456789012:volume/vol-0dr00000000000001",
            ),
            ("orders-db", "arn:aws:rds:us-west-2:123456789012:db:orders"),
            (
                "media",
                "arn:aws:elasticfilesystem:us-west-2:123456789012:file-system/fs-0dr0000000000001",
            ),
        ]
        .into_iter()
        .map(|(name, arn)| (name.to_string(), arn.to_string()))
        .collect()
    }

    #[test]
    fn a_failback_recovers_the_failovers_resources_in_the_primary_region() {
        let home = plan_with_home().for_failback(&failover_restores()).unwrap();
        assert_eq!(home.dr_region, "us-east-1");
        assert_eq!(home.primary_region.as_deref(), Some("us-west-2"));
        assert_eq!(home.backup_vault, "backstop-primary");
        // app-logs is optional and was not restored: nothing of it to bring home
        let names: Vec<&str> = home.resources.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["app-data", "orders-db", "media"]);
        let volume = home.resource("app-data").unwrap();
        assert_eq!(
            volume.arn.as_deref(),
            Some("arn:aws:ec2:us-west-2:123456789012:volume/vol-0dr00000000000001")
        );
        let ebs = volume.ebs.as_ref().unwrap();
        assert_eq!(ebs.availability_zone.as_deref(), Some("us-east-1a"));
        assert_eq!(ebs.attach_to.as_ref().unwrap().device, "/dev/sdf");
        let rds = home.resource("orders-db").unwrap().rds.as_ref().unwrap();
        assert_eq!(rds.db_subnet_group_name.as_deref(), Some("home-db-subnets"));
        assert_eq!(rds.vpc_security_group_ids, ["sg-0e000000000000e02"]);
        let app = home.instance("app").unwrap();
        assert_eq!(app.subnet_ids, ["subnet-0e00000000000e001"]);
        assert_eq!(app.security_group_ids, ["sg-0e000000000000e01"]);
        // the golden AMI's parameter is read in the primary region; the records are the same
        assert_eq!(
            app.ami.ssm_parameter.as_deref(),
            Some("/backstop/shop/golden-ami")
        );
        assert_eq!(home.dns, plan_with_home().dns);
        assert!(home.home.is_none() && home.network.is_none() && home.drill.is_none());
    }

    #[test]
    fn a_failback_without_its_home_or_data_lists_every_problem() {
        let mut plan = crate::plan::example_plan_json();
        plan["home"] = json!({"backupVault": ""});
        plan["instances"][0]["ami"] = json!({"id": "ami-0dr0000000000001"});
        let err = Plan::from_value(plan).unwrap_err();
        let text = err.to_string();
        for field in [
            "home.backupVault",
            "home.availabilityZone",
            "home.subnetIds",
            "home.securityGroupIds",
            "home.amis.app",
        ] {
            assert!(text.contains(field), "{field}: {text}");
        }

        // the database was never restored: nothing to bring home, and it is not optional
        let mut restores = failover_restores();
        restores.remove("orders-db");
        let err = plan_with_home().for_failback(&restores).unwrap_err();
        assert_eq!(err.error_name(), "Backstop.InvalidPlan");
        assert!(
            err.to_string().contains("orders-db was not restored"),
            "{err}"
        );

        let mut no_home = plan_with_home();
        no_home.home = None;
        let err = no_home.for_failback(&failover_restores()).unwrap_err();
        assert!(err.to_string().contains("home"), "{err}");
    }

    #[test]
    fn a_drill_of_the_way_home_restores_productions_resources_beside_them_in_isolation() {
        let mut plan = plan_with_home();
        plan.home.as_mut().unwrap().drill = Some(crate::plan::DrillIsolation {
            subnet_ids: vec!["subnet-0e00000000000d001".into()],
            security_group_ids: vec!["sg-0e000000000000d01".into()],
            instance_profile: None,
            user_data: None,
            db_subnet_group_name: Some("home-drill-db".into()),
            rds_security_group_ids: vec![],
        });
        let drill = plan.swapped_home(HomeSource::DrCopies).unwrap();
        assert_eq!(drill.dr_region, "us-east-1");
        assert!(drill.restores_in_place);
        // every resource, production's own ARN (the DR copies are of them)
        assert_eq!(drill.resources.len(), plan.resources.len());
        assert_eq!(drill.resources[0].arn, plan.resources[0].arn);
        let isolation = drill.drill.as_ref().unwrap();
        assert_eq!(isolation.subnet_ids, ["subnet-0e00000000000d001"]);

        // only Backstop sets it: a plan that claims it is refused
        let mut claimed = crate::plan::example_plan_json();
        claimed["restoresInPlace"] = json!(true);
        let err = Plan::from_value(claimed).unwrap_err();
        assert!(err.to_string().contains("restoresInPlace"), "{err}");
    }
}
