//! The DR network a run uses: its stack's template and outputs, the subnets, security groups,
//! DB subnet groups and AZs the plan names, and the AZs of the volumes.

use super::{join, line, unchecked, CheckLine, Status};
use crate::aws::Clients;
use crate::error::{classify_sdk_error, BackstopError, SdkContext};
use crate::model::run::Mode;
use crate::plan::{InstancePlan, Plan};
use aws_sdk_ec2::types::Filter;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// The plan's network stack: its template can be read and declares every output and
/// parameter the plan uses; a failover's existing stack is usable. Returns the plan to check
/// further: references filled from the existing stack a failover reuses as it is, left out
/// where the values exist only once the run builds the stack.
pub(super) async fn check_network_stack(
    clients: &Clients,
    plan: &Plan,
    mode: Mode,
    lines: &mut Vec<CheckLine>,
) -> Result<Plan, BackstopError> {
    use crate::aws::cloudformation::{describe, TemplateAnatomy};
    use crate::plan::stack_output::Unknown;
    let Some(network) = &plan.network else {
        return Ok(plan.clone());
    };
    const CHECK: &str = "network-stack";
    let name = &network.stack_name;
    let existing = match describe(&clients.cloudformation, name).await {
        Ok(stack) => stack,
        Err(err) => {
            lines.push(unchecked(CHECK, name, err)?);
            return Ok(without_references(plan));
        }
    };
    let status = existing
        .as_ref()
        .and_then(|s| s.stack_status())
        .map(|s| s.as_str().to_string());
    // the template the run will deploy (or the existing stack's own)
    let body = match (&network.template, &existing) {
        (Some(uri), _) => {
            let (bucket, key) = crate::plan::parse_s3_uri(uri).unwrap_or_default();
            match crate::aws::store::read_object(&clients.s3, bucket, key).await {
                Ok(Some(bytes)) => Some(String::from_utf8_lossy(&bytes).into_owned()),
                Ok(None) => {
                    lines.push(
                        line(
                            CHECK,
                            Status::Fail,
                            name,
                            format!("the template {uri} does not exist"),
                        )
                        .fix("upload the network template there (a bucket in the DR region)"),
                    );
                    None
                }
                Err(err) => {
                    lines.push(unchecked(CHECK, uri, err)?);
                    None
                }
            }
        }
        (None, Some(_)) => {
            let template = clients
                .cloudformation
                .get_template()
                .stack_name(name)
                .send()
                .await;
            match template {
                Ok(out) => out.template_body,
                Err(err) => {
                    let err =
                        classify_sdk_error(format!("reading the template of stack {name}"), err);
                    lines.push(unchecked(CHECK, name, err)?);
                    None
                }
            }
        }
        (None, None) => {
            lines.push(
                line(
                    CHECK,
                    Status::Fail,
                    name,
                    format!("stack {name} does not exist and the plan gives no network.template to create it from"),
                )
                .fix("upload the network template to S3 in the DR region and set network.template to s3://bucket/key"),
            );
            None
        }
    };
    if let Some(body) = &body {
        let anatomy = TemplateAnatomy::parse(body);
        let referenced = plan.referenced_outputs();
        let missing: Vec<&String> = referenced
            .iter()
            .filter(|o| !anatomy.outputs.contains(*o))
            .collect();
        let unknown: Vec<&String> = network
            .parameters
            .keys()
            .filter(|p| !anatomy.parameters.contains(*p))
            .collect();
        for output in &missing {
            lines.push(
                line(
                    CHECK,
                    Status::Fail,
                    name,
                    format!("the template has no output {output}, which the plan references"),
                )
                .fix(format!(
                    "add {output} to the template's Outputs, or reference one it has: {}",
                    join(&anatomy.outputs)
                )),
            );
        }
        for parameter in &unknown {
            lines.push(
                line(
                    CHECK,
                    Status::Fail,
                    name,
                    format!("network.parameters.{parameter} is not a parameter of the template"),
                )
                .fix(format!("use one of: {}", join(&anatomy.parameters))),
            );
        }
        if missing.is_empty() && unknown.is_empty() {
            lines.push(line(
                CHECK,
                Status::Pass,
                name,
                format!(
                    "the template declares the {} output{} the plan references",
                    referenced.len(),
                    if referenced.len() == 1 { "" } else { "s" }
                ),
            ));
        }
    }
    let usable = status
        .as_deref()
        .is_some_and(crate::aws::cloudformation::is_usable);
    match (mode, status.as_deref()) {
        (Mode::Failover | Mode::Failback, Some(status)) if !usable && !status.ends_with("_IN_PROGRESS") => lines.push(
            line(CHECK, Status::Fail, name, format!("the existing stack is {status}: a failover would not use or delete it"))
                .fix(format!("look at its events (aws cloudformation describe-stack-events --stack-name {name}), then fix or delete it")),
        ),
        (Mode::Failover | Mode::Failback, Some(_)) => lines.push(line(
            CHECK,
            Status::Pass,
            name,
            format!(
                "exists; a failover {}",
                if network.template.is_some() { "updates it to the plan's template" } else { "reuses it" }
            ),
        )),
        (Mode::Failover | Mode::Failback, None) => lines.push(line(CHECK, Status::Pass, name, "does not exist yet; a failover creates it".into())),
        (Mode::Drill, _) => lines.push(line(
            CHECK,
            Status::Pass,
            name,
            "a drill creates its own copy of it, and its teardown deletes the copy".into(),
        )),
    }
    // a failover that reuses the stack as it is: its outputs are the values the run will use
    if let (true, true, None, Some(stack)) =
        (mode.is_production(), usable, &network.template, &existing)
    {
        let outputs = crate::aws::cloudformation::outputs_of(stack);
        return plan.with_stack_outputs(name, &outputs, Unknown::Drop);
    }
    Ok(without_references(plan))
}

/// The plan with its stack-output references left out (their values are not known yet).
pub(super) fn without_references(plan: &Plan) -> Plan {
    plan.with_stack_outputs(
        "",
        &BTreeMap::new(),
        crate::plan::stack_output::Unknown::Drop,
    )
    .unwrap_or_else(|_| plan.clone())
}

/// Ids the plan names in the DR region, with who names them (in plan order).
#[derive(Default)]
pub(super) struct Named(BTreeMap<String, Vec<String>>);

impl Named {
    fn add(&mut self, id: &str, who: String) {
        let users = self.0.entry(id.to_string()).or_default();
        if !users.contains(&who) {
            users.push(who);
        }
    }
    fn ids(&self) -> Vec<String> {
        self.0.keys().cloned().collect()
    }

    /// A pass line for each id `found` describes, a fail line with `fix` for the others; each
    /// says who in the plan names it.
    fn report(
        &self,
        check: &str,
        found: impl Fn(&str) -> Option<String>,
        missing: &str,
        fix: impl Fn(&str) -> String,
        lines: &mut Vec<CheckLine>,
    ) {
        for (id, users) in &self.0 {
            let users = users.join(", ");
            lines.push(match found(id) {
                Some(how) => line(
                    check,
                    Status::Pass,
                    id.as_str(),
                    format!("{how} (used by {users})"),
                ),
                None => line(
                    check,
                    Status::Fail,
                    id.as_str(),
                    format!("{missing} (named by {users})"),
                )
                .fix(fix(id)),
            });
        }
    }
}

/// What the run names in the DR region, by kind of thing, with who names it.
#[derive(Default)]
pub(super) struct NamedInDr {
    subnets: Named,
    groups: Named,
    db_groups: Named,
    zones: Named,
}

/// The subnets, security groups, DB subnet groups and AZs the run uses: the instances' (as
/// the run launches them), and each resource's restore settings (a drill's overrides in a
/// drill).
fn named_in_dr(plan: &Plan, instances: &[InstancePlan], mode: Mode) -> NamedInDr {
    let drill = plan.drill.as_ref().filter(|_| mode == Mode::Drill);
    let mut named = NamedInDr::default();
    let NamedInDr {
        subnets,
        groups,
        db_groups,
        zones,
    } = &mut named;
    for instance in instances {
        for id in &instance.subnet_ids {
            subnets.add(id, format!("instances[{}].subnetIds", instance.name));
        }
        for id in &instance.security_group_ids {
            groups.add(id, format!("instances[{}].securityGroupIds", instance.name));
        }
    }
    for resource in &plan.resources {
        let at = |field: &str| format!("resources[{}].{field}", resource.name);
        if let Some(rds) = &resource.rds {
            let group = drill
                .and_then(|d| d.db_subnet_group_name.as_ref())
                .or(rds.db_subnet_group_name.as_ref());
            if let Some(group) = group {
                db_groups.add(group, at("rds.dbSubnetGroupName"));
            }
            let sgs = match drill {
                Some(d) if !d.rds_security_group_ids.is_empty() => &d.rds_security_group_ids,
                _ => &rds.vpc_security_group_ids,
            };
            for id in sgs {
                groups.add(id, at("rds.vpcSecurityGroupIds"));
            }
        }
        if let Some(ec2) = &resource.ec2 {
            if let Some(id) = &ec2.subnet_id {
                subnets.add(id, at("ec2.subnetId"));
            }
            for id in &ec2.security_group_ids {
                groups.add(id, at("ec2.securityGroupIds"));
            }
        }
        if let Some(zone) = resource
            .ebs
            .as_ref()
            .and_then(|e| e.availability_zone.as_ref())
        {
            zones.add(zone, at("ebs.availabilityZone"));
        }
    }

    named
}

/// Subnets, security groups, DB subnet groups and AZs the run uses exist in the DR region.
/// Returns each existing subnet's AZ. One call per kind of thing, only for what is named.
pub(super) async fn check_network(
    clients: &Clients,
    plan: &Plan,
    instances: &[InstancePlan],
    mode: Mode,
    lines: &mut Vec<CheckLine>,
) -> Result<HashMap<String, String>, BackstopError> {
    let named = named_in_dr(plan, instances, mode);
    let found = NetworkFound {
        subnet_zones: if named.subnets.0.is_empty() {
            Ok(HashMap::new())
        } else {
            subnet_zones(&clients.ec2, &named.subnets.ids()).await
        },
        groups: if named.groups.0.is_empty() {
            Ok(BTreeSet::new())
        } else {
            security_groups(&clients.ec2, &named.groups.ids()).await
        },
        db_groups: if named.db_groups.0.is_empty() {
            Ok(BTreeSet::new())
        } else {
            db_subnet_groups(&clients.rds).await
        },
        zones: if named.zones.0.is_empty() {
            Ok(BTreeSet::new())
        } else {
            available_zones(&clients.ec2).await
        },
    };
    let subnet_zones = found.subnet_zones.clone().unwrap_or_default();
    lines.extend(judge_network(&plan.dr_region, &named, found)?);
    Ok(subnet_zones)
}

/// What the DR region answered about the network the run names.
struct NetworkFound {
    /// Each existing subnet's AZ.
    subnet_zones: Result<HashMap<String, String>, BackstopError>,
    groups: Result<BTreeSet<String>, BackstopError>,
    db_groups: Result<BTreeSet<String>, BackstopError>,
    /// The AZs in state `available`.
    zones: Result<BTreeSet<String>, BackstopError>,
}

async fn subnet_zones(
    ec2: &aws_sdk_ec2::Client,
    ids: &[String],
) -> Result<HashMap<String, String>, BackstopError> {
    let found = ec2
        .describe_subnets()
        .filters(id_filter("subnet-id", ids))
        .send()
        .await
        .context("describing the DR subnets")?;
    Ok(crate::steps::compute::launch::zones_of(found.subnets()))
}

async fn security_groups(
    ec2: &aws_sdk_ec2::Client,
    ids: &[String],
) -> Result<BTreeSet<String>, BackstopError> {
    let found = ec2
        .describe_security_groups()
        .filters(id_filter("group-id", ids))
        .send()
        .await
        .context("describing the DR security groups")?;
    Ok(found
        .security_groups()
        .iter()
        .filter_map(|g| g.group_id().map(str::to_string))
        .collect())
}

async fn db_subnet_groups(rds: &aws_sdk_rds::Client) -> Result<BTreeSet<String>, BackstopError> {
    let mut existing = BTreeSet::new();
    let mut pages = rds.describe_db_subnet_groups().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.context("listing the DR DB subnet groups")?;
        existing.extend(
            page.db_subnet_groups()
                .iter()
                .filter_map(|g| g.db_subnet_group_name().map(str::to_string)),
        );
    }
    Ok(existing)
}

async fn available_zones(ec2: &aws_sdk_ec2::Client) -> Result<BTreeSet<String>, BackstopError> {
    let found = ec2
        .describe_availability_zones()
        .send()
        .await
        .context("describing the DR availability zones")?;
    Ok(found
        .availability_zones()
        .iter()
        .filter(|z| z.state().map(|s| s.as_str()) == Some("available"))
        .filter_map(|z| z.zone_name().map(str::to_string))
        .collect())
}

/// A line per named id: pass where the region has it, fail (who names it, the fix) where not;
/// one fail line per kind AWS would not describe.
fn judge_network(
    region: &str,
    named: &NamedInDr,
    found: NetworkFound,
) -> Result<Vec<CheckLine>, BackstopError> {
    let mut lines = Vec::new();
    match found.subnet_zones {
        Ok(zones) => named.subnets.report(
            "subnet",
            |id| zones.get(id).map(|zone| format!("exists in {zone}")),
            &format!("does not exist in {region}"),
            |_| {
                "create it again (or the DR network stack), or name an existing DR subnet there"
                    .into()
            },
            &mut lines,
        ),
        Err(err) => lines.push(unchecked("subnet", "subnets", err)?),
    }
    match found.groups {
        Ok(existing) => named.groups.report(
            "security-group",
            |id| existing.contains(id).then(|| "exists".to_string()),
            &format!("does not exist in {region}"),
            |_| "create it in the DR VPC, or name an existing DR security group there".into(),
            &mut lines,
        ),
        Err(err) => lines.push(unchecked("security-group", "security groups", err)?),
    }
    match found.db_groups {
        Ok(existing) => named.db_groups.report(
            "db-subnet-group",
            |name| existing.contains(name).then(|| "exists".to_string()),
            &format!("does not exist in {region}: the database cannot be restored into the DR VPC"),
            |name| format!("create it: aws rds create-db-subnet-group --db-subnet-group-name {name} --db-subnet-group-description DR --subnet-ids <two DR subnets in different AZs> --region {region}"),
            &mut lines,
        ),
        Err(err) => lines.push(unchecked("db-subnet-group", "DB subnet groups", err)?),
    }
    match found.zones {
        Ok(available) => named.zones.report(
            "availability-zone",
            |zone| available.contains(zone).then(|| "available".to_string()),
            &format!("is not an available AZ of {region}"),
            |_| {
                format!(
                    "use an AZ of {region} (aws ec2 describe-availability-zones --region {region})"
                )
            },
            &mut lines,
        ),
        Err(err) => lines.push(unchecked("availability-zone", "AZs", err)?),
    }
    Ok(lines)
}

/// A volume restored into one AZ attaches only to an instance in that AZ: the instance must
/// have a subnet there.
pub(super) fn check_volume_zones(
    plan: &Plan,
    instances: &[InstancePlan],
    subnet_zones: &HashMap<String, String>,
    lines: &mut Vec<CheckLine>,
) {
    for resource in &plan.resources {
        let Some(ebs) = &resource.ebs else { continue };
        let (Some(zone), Some(attach)) = (&ebs.availability_zone, &ebs.attach_to) else {
            continue;
        };
        let Some(instance) = instances.iter().find(|i| i.name == attach.instance) else {
            continue; // validation names an unknown instance
        };
        let instance_zones: BTreeSet<&String> = instance
            .subnet_ids
            .iter()
            .filter_map(|s| subnet_zones.get(s))
            .collect();
        if instance_zones.is_empty() {
            continue; // its subnets are reported missing above
        }
        if instance_zones.contains(zone) {
            lines.push(line(
                "volume-az",
                Status::Pass,
                resource.name.as_str(),
                format!("restored into {zone}, where {} has a subnet", instance.name),
            ));
        } else {
            let theirs: Vec<&str> = instance_zones.iter().map(|z| z.as_str()).collect();
            lines.push(
                line(
                    "volume-az",
                    Status::Fail,
                    resource.name.as_str(),
                    format!(
                        "is restored into {zone}, but {} launches into subnets in {}: the volume could not be attached",
                        instance.name,
                        theirs.join(", ")
                    ),
                )
                .fix(format!(
                    "set ebs.availabilityZone to {}, or give {} a subnet in {zone}",
                    theirs[0], instance.name
                )),
            );
        }
    }
}

pub(super) fn id_filter(name: &str, values: &[String]) -> Filter {
    Filter::builder()
        .name(name)
        .set_values(Some(values.to_vec()))
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn users<'n>(named: &'n Named, id: &str) -> &'n [String] {
        named.0.get(id).map(Vec::as_slice).unwrap_or_default()
    }

    #[test]
    fn a_drill_is_checked_on_its_own_network_and_each_id_says_who_names_it() {
        let mut plan = crate::plan::example_plan();
        plan.drill = Some(crate::plan::DrillIsolation {
            subnet_ids: vec!["subnet-drill".into()],
            security_group_ids: vec!["sg-drill".into()],
            db_subnet_group_name: Some("drill-db-subnets".into()),
            rds_security_group_ids: vec!["sg-drill-db".into()],
            ..Default::default()
        });
        let run_instances = |mode: Mode| -> Vec<InstancePlan> {
            let drill = plan.drill.as_ref().filter(|_| mode == Mode::Drill);
            plan.instances.iter().map(|i| i.for_run(drill)).collect()
        };

        let failover = named_in_dr(&plan, &run_instances(Mode::Failover), Mode::Failover);
        assert_eq!(
            failover.subnets.ids(),
            vec!["subnet-0aaaaaaaaaaaaaaaa", "subnet-0bbbbbbbbbbbbbbbb"]
        );
        assert_eq!(failover.db_groups.ids(), vec!["dr-db-subnets"]);
        assert_eq!(
            users(&failover.groups, "sg-0123456789abcdef0"),
            ["resources[orders-db].rds.vpcSecurityGroupIds"]
        );
        assert_eq!(failover.zones.ids(), vec!["us-west-2a"]);
        assert_eq!(
            users(&failover.zones, "us-west-2a"),
            [
                "resources[app-data].ebs.availabilityZone",
                "resources[app-logs].ebs.availabilityZone"
            ]
        );

        let drill = named_in_dr(&plan, &run_instances(Mode::Drill), Mode::Drill);
        assert_eq!(drill.subnets.ids(), vec!["subnet-drill"]);
        assert_eq!(drill.db_groups.ids(), vec!["drill-db-subnets"]);
        assert_eq!(drill.groups.ids(), vec!["sg-drill", "sg-drill-db"]);
    }

    #[test]
    fn each_named_id_is_judged_against_what_the_region_answered() {
        let plan = crate::plan::example_plan();
        let instances: Vec<InstancePlan> = plan.instances.clone();
        let named = named_in_dr(&plan, &instances, Mode::Failover);
        let found = NetworkFound {
            subnet_zones: Ok(HashMap::from([(
                "subnet-0aaaaaaaaaaaaaaaa".to_string(),
                "us-west-2a".to_string(),
            )])),
            groups: Ok(BTreeSet::from([
                "sg-0123456789abcdef0".to_string(),
                "sg-0123456789abcdef1".to_string(),
            ])),
            db_groups: Err(BackstopError::AccessDenied {
                action: "listing the DR DB subnet groups".into(),
                message: "not authorized".into(),
            }),
            zones: Ok(BTreeSet::from(["us-west-2b".to_string()])),
        };
        let lines = judge_network("us-west-2", &named, found).unwrap();
        let of = |check: &str, resource: &str| {
            lines
                .iter()
                .find(|l| l.check == check && l.resource == resource)
                .unwrap_or_else(|| panic!("no {check} line for {resource}: {lines:#?}"))
        };
        assert_eq!(
            of("subnet", "subnet-0aaaaaaaaaaaaaaaa").status,
            Status::Pass
        );
        let gone = of("subnet", "subnet-0bbbbbbbbbbbbbbbb");
        assert_eq!(gone.status, Status::Fail);
        assert!(
            gone.detail.contains("named by instances[app].subnetIds"),
            "{gone:?}"
        );
        assert_eq!(
            of("security-group", "sg-0123456789abcdef1").status,
            Status::Pass
        );
        let unread = of("db-subnet-group", "DB subnet groups");
        assert_eq!(unread.status, Status::Fail);
        assert!(unread.detail.contains("could not be checked"), "{unread:?}");
        let zone = of("availability-zone", "us-west-2a");
        assert_eq!(zone.status, Status::Fail);
        assert!(zone
            .fix
            .as_deref()
            .unwrap()
            .contains("describe-availability-zones"));

        let throttled = NetworkFound {
            subnet_zones: Err(BackstopError::Transient {
                action: "describing the DR subnets".into(),
                message: "slow down".into(),
            }),
            groups: Ok(BTreeSet::new()),
            db_groups: Ok(BTreeSet::new()),
            zones: Ok(BTreeSet::new()),
        };
        assert!(judge_network("us-west-2", &named, throttled).is_err());
    }

    #[test]
    fn an_id_the_region_lacks_fails_naming_who_uses_it_and_the_fix() {
        let mut named = Named::default();
        named.add("subnet-a", "instances[app].subnetIds".into());
        named.add("subnet-gone", "instances[app].subnetIds".into());
        named.add("subnet-gone", "instances[web].subnetIds".into());
        named.add("subnet-gone", "instances[web].subnetIds".into());
        let mut lines = Vec::new();
        named.report(
            "subnet",
            |id| (id == "subnet-a").then(|| "exists in us-west-2a".to_string()),
            "does not exist in us-west-2",
            |id| format!("create {id} again"),
            &mut lines,
        );
        assert_eq!(lines[0].status, Status::Pass);
        assert_eq!(
            lines[0].detail,
            "exists in us-west-2a (used by instances[app].subnetIds)"
        );
        assert_eq!(lines[1].status, Status::Fail);
        assert_eq!(
            lines[1].detail,
            "does not exist in us-west-2 (named by instances[app].subnetIds, instances[web].subnetIds)"
        );
        assert_eq!(lines[1].fix.as_deref(), Some("create subnet-gone again"));
    }
}
