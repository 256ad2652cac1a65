//! RDS DB instances: a drill restores under a run-specific identifier, single-AZ, private.

use std::collections::HashMap;

use aws_sdk_rds::types::{DbInstance, Tag};

use super::common::{
    epoch, require_settings, tag_value, Found, Health, Owned, OwnedKind, Removal, RestoreContext,
};
use crate::aws::tags::{run_suffix, MODE, RESOURCE, RUN_ID};
use crate::error::{classify_sdk_error, BackstopError, SdkContext};
use crate::model::jobs::RestoreJob;
use crate::model::run::Mode;
use crate::plan::ProtectedResource;

/// AWS Backup's RDS metadata keys (the RestoreDBInstanceFromDBSnapshot parameter names).
pub(crate) fn metadata(
    base: &HashMap<String, String>,
    resource: &ProtectedResource,
    ctx: &RestoreContext,
) -> Result<HashMap<String, String>, BackstopError> {
    let settings = require_settings(resource, resource.rds.as_ref(), "rds.dbSubnetGroupName")?;
    let mut metadata = base.clone();
    let identifier = db_identifier(base, resource, ctx);
    metadata.insert("DBInstanceIdentifier".into(), identifier);
    // The source's AZ is in the primary region; RDS picks one from the subnet group.
    metadata.remove("AvailabilityZone");
    // a drill with an isolation block restores into the drill's subnet group and groups
    let drill = ctx.drill.as_ref();
    let subnet_group = drill
        .and_then(|d| d.db_subnet_group_name.as_ref())
        .or(settings.db_subnet_group_name.as_ref());
    let security_groups = match drill {
        Some(d) if !d.rds_security_group_ids.is_empty() => &d.rds_security_group_ids,
        _ => &settings.vpc_security_group_ids,
    };
    match subnet_group {
        Some(group) => {
            metadata.insert("DBSubnetGroupName".into(), group.clone());
        }
        None => {
            return Err(BackstopError::invalid_input(
                format!("plan.resources[{}].rds.dbSubnetGroupName", resource.name),
                format!(
                "{} needs the DB subnet group of the DR VPC (the source's does not exist there)",
                resource.name
            ),
            ))
        }
    }
    if let Some(class) = &settings.db_instance_class {
        metadata.insert("DBInstanceClass".into(), class.clone());
    }
    if !security_groups.is_empty() {
        metadata.insert(
            "VpcSecurityGroupIds".into(),
            serde_json::to_string(security_groups).unwrap_or_default(),
        );
    } else {
        metadata.remove("VpcSecurityGroupIds");
    }
    metadata.insert("PubliclyAccessible".into(), "false".into());
    let multi_az = ctx.mode.is_production() && settings.multi_az;
    metadata.insert("MultiAZ".into(), multi_az.to_string());
    Ok(metadata)
}

/// Failover: the plan's identifier (or the source's). Drill and failback: with the run suffix,
/// so a drill never collides with a real DB or another drill, nor a failback with the
/// primary's database the failover left behind.
fn db_identifier(
    base: &HashMap<String, String>,
    resource: &ProtectedResource,
    ctx: &RestoreContext,
) -> String {
    let planned = resource
        .rds
        .as_ref()
        .and_then(|r| r.db_instance_identifier.clone())
        .or_else(|| base.get("DBInstanceIdentifier").cloned())
        .unwrap_or_else(|| resource.name.clone());
    match ctx.mode {
        Mode::Failover => planned,
        Mode::Drill => run_identifier(&planned, "drill", &run_suffix(&ctx.run_id)),
        // the primary's own database may still be there, under the planned identifier
        Mode::Failback => run_identifier(&planned, "failback", &run_suffix(&ctx.run_id)),
    }
}

/// `<planned>-<word>-<run suffix>` within RDS's rules: at most 63 letters, digits and single
/// hyphens, a letter first, no hyphen last. The planned part is cleaned and cut to 40.
fn run_identifier(planned: &str, word: &str, suffix: &str) -> String {
    let mut cleaned = String::new();
    for c in planned
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
    {
        if c == '-' && (cleaned.is_empty() || cleaned.ends_with('-')) {
            continue;
        }
        if cleaned.is_empty() && !c.is_ascii_alphabetic() {
            cleaned.push('d');
        }
        cleaned.push(c.to_ascii_lowercase());
        if cleaned.len() >= 40 {
            break;
        }
    }
    let cleaned = cleaned.trim_end_matches('-');
    match cleaned.is_empty() {
        true => format!("db-{word}-{suffix}"),
        false => format!("{cleaned}-{word}-{suffix}"),
    }
}

/// The DB instance `identifier`, if there is one.
async fn describe_db(
    rds: &aws_sdk_rds::Client,
    identifier: &str,
) -> Result<Option<DbInstance>, BackstopError> {
    let answer = rds
        .describe_db_instances()
        .db_instance_identifier(identifier);
    let described = answer
        .send()
        .await
        .context(format!("describing DB instance {identifier}"))?;
    Ok(described
        .db_instances
        .unwrap_or_default()
        .into_iter()
        .next())
}

/// The address clients connect to, once the instance exists.
pub(crate) async fn endpoint(
    rds: &aws_sdk_rds::Client,
    identifier: &str,
) -> Result<Option<String>, BackstopError> {
    let db = describe_db(rds, identifier).await?;
    let endpoint = db.as_ref().and_then(|db| db.endpoint());
    Ok(endpoint.and_then(|e| e.address()).map(str::to_string))
}

/// The run id a DB instance is tagged with.
pub(crate) async fn run_tag(
    rds: &aws_sdk_rds::Client,
    arn: &str,
) -> Result<Option<String>, BackstopError> {
    let listed = rds
        .list_tags_for_resource()
        .resource_name(arn)
        .send()
        .await
        .context(format!("reading the tags of {arn}"))?;
    Ok(listed
        .tag_list()
        .iter()
        .find(|tag| tag.key() == Some(RUN_ID))
        .and_then(|tag| tag.value())
        .map(str::to_string))
}

pub(crate) async fn tag(
    rds: &aws_sdk_rds::Client,
    arn: &str,
    tags: &[(String, String)],
    action: String,
) -> Result<(), BackstopError> {
    let tags = tags
        .iter()
        .map(|(key, value)| Tag::builder().key(key).value(value).build());
    let request = rds.add_tags_to_resource().resource_name(arn);
    let tagging = request.set_tags(Some(tags.collect())).send();
    tagging.await.context(action)?;
    Ok(())
}

/// DB instances tagged with the run, with their endpoint addresses.
pub(crate) async fn tagged(
    rds: &aws_sdk_rds::Client,
    run_id: &str,
) -> Result<Vec<Found>, BackstopError> {
    let mut found = Vec::new();
    let mut pages = rds.describe_db_instances().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.context("listing DB instances")?;
        for db in page.db_instances() {
            let tags = || {
                db.tag_list()
                    .iter()
                    .map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default()))
            };
            if tag_value(tags(), RUN_ID) != Some(run_id) {
                continue;
            }
            found.push(Found {
                owned: Owned {
                    kind: OwnedKind::DbInstance,
                    id: db.db_instance_identifier().unwrap_or_default().to_string(),
                    resource: tag_value(tags(), RESOURCE).map(str::to_string),
                },
                endpoint: db.endpoint().and_then(|e| e.address()).map(str::to_string),
                mode: tag_value(tags(), MODE).map(str::to_string),
                created: epoch(db.instance_create_time()),
                launched_by_run: false,
            });
        }
    }
    Ok(found)
}

/// The run tag of a DB instance, by identifier (NotFound once it is gone).
pub(crate) async fn db_run_tag(
    rds: &aws_sdk_rds::Client,
    identifier: &str,
) -> Result<Option<String>, BackstopError> {
    let Some(db) = describe_db(rds, identifier).await? else {
        return Err(BackstopError::not_found(
            format!("DB instance {identifier}"),
            "gone",
        ));
    };
    let tags = db
        .tag_list()
        .iter()
        .map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default()));
    Ok(tag_value(tags, RUN_ID).map(str::to_string))
}

/// Deletes the DB instance without a final snapshot (a drill's copy of data that is backed up
/// already). Deletion protection is never lifted: Backstop does not set it, so whoever did
/// decides.
/// The final snapshot of a failover's database deleted by teardown (at most 255 characters).
pub fn final_snapshot_id(identifier: &str) -> String {
    format!("backstop-final-{identifier}")
}

pub(crate) async fn remove(
    rds: &aws_sdk_rds::Client,
    identifier: &str,
    final_snapshot: bool,
) -> Result<Removal, BackstopError> {
    let described = match rds
        .describe_db_instances()
        .db_instance_identifier(identifier)
        .send()
        .await
    {
        Ok(described) => described,
        Err(err) => {
            return match classify_sdk_error(format!("describing DB instance {identifier}"), err) {
                BackstopError::NotFound { .. } => Ok(Removal::Gone),
                other => Err(other),
            }
        }
    };
    let Some(db) = described.db_instances().first() else {
        return Ok(Removal::Gone);
    };
    let status = db.db_instance_status().unwrap_or("unknown").to_string();
    if status == "deleting" {
        return Ok(Removal::Pending("deleting".into()));
    }
    if db.deletion_protection() == Some(true) {
        return Ok(Removal::Kept(format!(
            "deletion protection is on and Backstop did not set it: turn it off (aws rds modify-db-instance --db-instance-identifier {identifier} --no-deletion-protection --apply-immediately) and run teardown again"
        )));
    }
    let mut request = rds.delete_db_instance().db_instance_identifier(identifier);
    request = if final_snapshot {
        // a failover's database held production data: keep it (the identifier is already a
        // valid DB identifier, so the snapshot's is too)
        request
            .skip_final_snapshot(false)
            .final_db_snapshot_identifier(final_snapshot_id(identifier))
            .delete_automated_backups(false)
    } else {
        request
            .skip_final_snapshot(true)
            .delete_automated_backups(true)
    };
    let deleted = request.send().await;
    match deleted {
        Ok(_) => {
            tracing::info!(db = identifier, "DB instance deleting");
            Ok(Removal::Pending("deleting".into()))
        }
        Err(err) => match classify_sdk_error(format!("deleting DB instance {identifier}"), err) {
            BackstopError::NotFound { .. } => Ok(Removal::Gone),
            // e.g. still creating: RDS refuses the delete until the instance settles
            BackstopError::Aws { code, .. } if code == "InvalidDBInstanceState" => {
                Ok(Removal::Pending(status))
            }
            other => Err(other),
        },
    }
}

/// Whether the restored database of `job` is available: creating, backing-up and the like are
/// worth waiting for; any other status stops the switch.
pub(crate) async fn health(
    rds: &aws_sdk_rds::Client,
    job: &RestoreJob,
) -> Result<Health, BackstopError> {
    let identifier = job
        .created_resource_arn
        .as_deref()
        .map(super::common::id_of)
        .unwrap_or_default();
    let described = rds
        .describe_db_instances()
        .db_instance_identifier(identifier)
        .send()
        .await
        .context(format!("checking database {}", job.resource))?;
    let status = described
        .db_instances()
        .first()
        .and_then(|db| db.db_instance_status())
        .unwrap_or("unknown");
    match status {
        "available" => Ok(Health::Healthy(vec![format!(
            "database {} available",
            job.resource
        )])),
        // on its way to available after a restore
        "creating" | "backing-up" | "modifying" | "configuring-enhanced-monitoring"
        | "configuring-log-exports" | "rebooting" => Ok(Health::NotYet(format!(
            "database {} ({identifier}) is {status}",
            job.resource
        ))),
        _ => Err(BackstopError::Conflict(format!(
            "health gate: database {} ({identifier}) is {status}, not available; DNS left unchanged",
            job.resource
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{RdsRestore, ResourceKind};

    fn database() -> ProtectedResource {
        ProtectedResource {
            name: "orders-db".into(),
            kind: ResourceKind::Rds,
            rds: Some(RdsRestore {
                db_instance_identifier: Some("orders".into()),
                db_instance_class: Some("db.t3.large".into()),
                db_subnet_group_name: Some("dr-db-subnets".into()),
                vpc_security_group_ids: vec!["sg-0123456789abcdef0".into()],
                multi_az: true,
            }),
            ..Default::default()
        }
    }

    fn source_metadata() -> HashMap<String, String> {
        HashMap::from([
            ("DBInstanceIdentifier".to_string(), "orders".to_string()),
            ("DBInstanceClass".to_string(), "db.t3.medium".to_string()),
            ("Engine".to_string(), "postgres".to_string()),
            ("AvailabilityZone".to_string(), "us-east-1a".to_string()),
            ("DBSubnetGroupName".to_string(), "primary-db".to_string()),
            ("MultiAZ".to_string(), "true".to_string()),
            ("PubliclyAccessible".to_string(), "true".to_string()),
        ])
    }

    #[test]
    fn a_failover_restores_the_planned_instance_in_the_dr_network() {
        let ctx = RestoreContext::for_test(Mode::Failover);
        let metadata = metadata(&source_metadata(), &database(), &ctx).unwrap();
        assert_eq!(metadata["DBInstanceIdentifier"], "orders");
        assert_eq!(metadata["DBInstanceClass"], "db.t3.large");
        assert_eq!(metadata["DBSubnetGroupName"], "dr-db-subnets");
        assert_eq!(
            metadata["VpcSecurityGroupIds"],
            r#"["sg-0123456789abcdef0"]"#
        );
        assert_eq!(metadata["MultiAZ"], "true");
        assert_eq!(metadata["PubliclyAccessible"], "false");
        assert_eq!(metadata["Engine"], "postgres");
        assert!(!metadata.contains_key("AvailabilityZone"));
    }

    #[test]
    fn a_drill_restores_a_single_az_copy_under_a_run_specific_name() {
        let ctx = RestoreContext::for_test(Mode::Drill);
        let metadata = metadata(&source_metadata(), &database(), &ctx).unwrap();
        let suffix = run_suffix(&ctx.run_id);
        assert_eq!(
            metadata["DBInstanceIdentifier"],
            format!("orders-drill-{suffix}")
        );
        assert_eq!(metadata["MultiAZ"], "false");
    }

    #[test]
    fn a_drill_with_an_isolation_block_restores_into_the_drills_network_only_in_a_drill() {
        let drill = crate::plan::DrillIsolation {
            db_subnet_group_name: Some("drill-db-subnets".into()),
            rds_security_group_ids: vec!["sg-0dddddddddddddddd".into()],
            ..Default::default()
        };
        let mut ctx = RestoreContext::for_test(Mode::Drill);
        ctx.drill = Some(drill);
        let metadata = metadata(&source_metadata(), &database(), &ctx).unwrap();
        assert_eq!(metadata["DBSubnetGroupName"], "drill-db-subnets");
        assert_eq!(
            metadata["VpcSecurityGroupIds"],
            r#"["sg-0dddddddddddddddd"]"#
        );
    }

    #[test]
    fn drill_identifiers_follow_rds_rules_whatever_the_planned_name() {
        for planned in [
            "orders",
            "9lives",
            "a--b-",
            "---",
            &"x".repeat(63),
            "ünïcode-db",
        ] {
            let id = run_identifier(planned, "drill", "0123456789");
            assert!(id.len() <= 63, "{id}");
            assert!(id.starts_with(|c: char| c.is_ascii_alphabetic()), "{id}");
            assert!(!id.contains("--") && !id.ends_with('-'), "{id}");
            assert!(
                id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'),
                "{id}"
            );
            assert!(id.ends_with("-drill-0123456789"), "{id}");
        }
    }

    #[test]
    fn a_database_without_a_dr_subnet_group_is_refused_by_name() {
        let ctx = RestoreContext::for_test(Mode::Drill);
        let mut resource = database();
        resource.rds.as_mut().unwrap().db_subnet_group_name = None;
        let err = metadata(&source_metadata(), &resource, &ctx).unwrap_err();
        assert!(err.to_string().contains("orders-db"), "{err}");
        assert!(err.to_string().contains("dbSubnetGroupName"), "{err}");
    }
}
