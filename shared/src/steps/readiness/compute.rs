//! What a run launches: golden AMIs, instance types offered in the subnets' AZs, and room under
//! the account's instance limit.

use super::{line, unchecked, CheckLine, Status};
use crate::aws::Clients;
use crate::error::{classify_sdk_error, BackstopError, SdkContext};
use crate::plan::{InstancePlan, Plan};
use aws_sdk_ec2::types::{Filter, LocationType};
use std::collections::{BTreeSet, HashMap};

/// The golden AMI of every instance exists in the DR region and is `available`.
pub(super) async fn check_golden_amis(
    clients: &Clients,
    plan: &Plan,
    instances: &[InstancePlan],
    lines: &mut Vec<CheckLine>,
) -> Result<(), BackstopError> {
    // instances sharing an AMI reference share one lookup
    let mut seen: HashMap<String, CheckLine> = HashMap::new();
    for instance in instances {
        let key = serde_json::to_string(&instance.ami).unwrap_or_default();
        if let Some(earlier) = seen.get(&key) {
            let mut same = earlier.clone();
            same.resource = instance.name.clone();
            lines.push(same);
            continue;
        }
        let found =
            crate::steps::compute::launch::golden_ami(&clients.ec2, &clients.ssm, instance, plan)
                .await
                .map(|image| AmiFound {
                    id: image.image_id().unwrap_or_default().to_string(),
                    state: image
                        .state()
                        .map(|s| s.as_str().to_string())
                        .unwrap_or_else(|| "unknown".into()),
                });
        let checked = judge_golden_ami(plan, instance, found)?;
        seen.insert(key, checked.clone());
        lines.push(checked);
    }
    Ok(())
}

/// The image an instance's AMI reference resolved to.
#[derive(Debug)]
struct AmiFound {
    id: String,
    state: String,
}

/// An instance's golden-AMI line: launchable only from an `available` image of the DR region.
fn judge_golden_ami(
    plan: &Plan,
    instance: &InstancePlan,
    found: Result<AmiFound, BackstopError>,
) -> Result<CheckLine, BackstopError> {
    let name = instance.name.as_str();
    match found {
        Ok(AmiFound { id, state }) if state == "available" => Ok(line(
            "golden-ami",
            Status::Pass,
            name,
            format!("{id} is available in {}", plan.dr_region),
        )),
        Ok(AmiFound { id, state }) => Ok(line(
            "golden-ami",
            Status::Fail,
            name,
            format!("{id} is {state}: an instance cannot be launched from it"),
        )
        .fix("wait for the copy to finish, or copy the golden AMI again")),
        Err(BackstopError::NotFound { message, .. }) => {
            let (detail, _) = message.split_once(": copy").unwrap_or((&message, ""));
            Ok(line(
                "golden-ami",
                Status::Fail,
                name,
                format!(
                    "{detail}: the golden AMI was not copied to {}",
                    plan.dr_region
                ),
            )
            .fix(crate::steps::compute::launch::ami_copy_hint(instance, plan)))
        }
        Err(other) => unchecked("golden-ami", name, other),
    }
}

/// At least one of each instance's types is offered in an AZ of its subnets. One paginated
/// call for every type and zone.
pub(super) async fn check_instance_types(
    ec2: &aws_sdk_ec2::Client,
    plan: &Plan,
    instances: &[InstancePlan],
    subnet_zones: &HashMap<String, String>,
    lines: &mut Vec<CheckLine>,
) -> Result<(), BackstopError> {
    let wanted = zones_wanted(instances, subnet_zones);
    if wanted.is_empty() {
        return Ok(());
    }
    let types: BTreeSet<String> = wanted
        .iter()
        .flat_map(|(i, _)| i.instance_types.iter().cloned())
        .collect();
    let zones: BTreeSet<String> = wanted.iter().flat_map(|(_, z)| z.iter().cloned()).collect();
    let mut offered: BTreeSet<(String, String)> = BTreeSet::new();
    let mut pages = ec2
        .describe_instance_type_offerings()
        .location_type(LocationType::AvailabilityZone)
        .filters(
            Filter::builder()
                .name("instance-type")
                .set_values(Some(types.into_iter().collect()))
                .build(),
        )
        .filters(
            Filter::builder()
                .name("location")
                .set_values(Some(zones.into_iter().collect()))
                .build(),
        )
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        match page {
            Ok(page) => {
                for offering in page.instance_type_offerings() {
                    if let (Some(t), Some(z)) = (offering.instance_type(), offering.location()) {
                        offered.insert((t.as_str().to_string(), z.to_string()));
                    }
                }
            }
            Err(err) => {
                let err = classify_sdk_error("describing instance type offerings", err);
                lines.push(unchecked("instance-type", "instance types", err)?);
                return Ok(());
            }
        }
    }
    lines.extend(judge_instance_types(plan, &wanted, &offered));
    Ok(())
}

/// Each instance with types to check and the AZs of its subnets (those whose AZ is known).
fn zones_wanted<'i>(
    instances: &'i [InstancePlan],
    subnet_zones: &HashMap<String, String>,
) -> Vec<(&'i InstancePlan, BTreeSet<String>)> {
    instances
        .iter()
        .map(|i| {
            let zones: BTreeSet<String> = i
                .subnet_ids
                .iter()
                .filter_map(|s| subnet_zones.get(s).cloned())
                .collect();
            (i, zones)
        })
        .filter(|(i, zones)| !zones.is_empty() && !i.instance_types.is_empty())
        .collect()
}

/// One line per instance: the (type, zone) pairs EC2 offers among those it may use.
fn judge_instance_types(
    plan: &Plan,
    wanted: &[(&InstancePlan, BTreeSet<String>)],
    offered: &BTreeSet<(String, String)>,
) -> Vec<CheckLine> {
    wanted
        .iter()
        .map(|(instance, zones)| {
            let usable: Vec<String> = instance
                .instance_types
                .iter()
                .flat_map(|t| zones.iter().map(move |z| (t.clone(), z.clone())))
                .filter(|pair| offered.contains(pair))
                .map(|(t, z)| format!("{t} in {z}"))
                .collect();
            let zone_list = zones.iter().cloned().collect::<Vec<_>>().join(", ");
            if usable.is_empty() {
                line(
                    "instance-type",
                    Status::Fail,
                    instance.name.as_str(),
                    format!(
                        "none of {} is offered in {zone_list}",
                        instance.instance_types.join(", ")
                    ),
                )
                .fix(format!("add a type offered there (aws ec2 describe-instance-type-offerings --location-type availability-zone --filters Name=location,Values={zone_list} --region {})", plan.dr_region))
            } else {
                line(
                    "instance-type",
                    Status::Pass,
                    instance.name.as_str(),
                    format!("offered: {}", usable.join(", ")),
                )
            }
        })
        .collect()
}

/// The instances the run launches fit under the account's On-Demand instance limit
/// (EC2's `max-instances` account attribute) beside those already running in the region.
pub(super) async fn check_instance_limit(
    ec2: &aws_sdk_ec2::Client,
    plan: &Plan,
    lines: &mut Vec<CheckLine>,
) -> Result<(), BackstopError> {
    let launching = plan.instances.len()
        + plan
            .resources
            .iter()
            .filter(|r| r.kind == crate::plan::ResourceKind::Ec2)
            .count();
    if launching == 0 {
        return Ok(());
    }
    let attributes = match ec2
        .describe_account_attributes()
        .attribute_names(aws_sdk_ec2::types::AccountAttributeName::from(
            "max-instances",
        ))
        .send()
        .await
    {
        Ok(found) => found,
        Err(err) => {
            let err = classify_sdk_error("reading the account's instance limit", err);
            if err.is_transient() {
                return Err(err);
            }
            // an account limit the API does not tell is not a reason to stop
            lines.push(line(
                "account-limit",
                Status::Warn,
                "instances",
                format!("the On-Demand instance limit could not be read: {err}"),
            ));
            return Ok(());
        }
    };
    let limit = attributes
        .account_attributes()
        .iter()
        .find(|a| a.attribute_name() == Some("max-instances"))
        .and_then(|a| a.attribute_values().first())
        .and_then(|v| v.attribute_value())
        .and_then(|v| v.parse::<usize>().ok());
    let Some(limit) = limit else { return Ok(()) };
    let mut running = 0;
    let mut pages = ec2
        .describe_instances()
        .filters(crate::steps::compute::launch::live_instances())
        .max_results(1000)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.context("counting running instances")?;
        running += page
            .reservations()
            .iter()
            .map(|r| r.instances().len())
            .sum::<usize>();
    }
    lines.push(judge_instance_limit(plan, running, launching, limit));
    Ok(())
}

/// Room under the On-Demand limit for what the run launches, beside what already runs.
fn judge_instance_limit(plan: &Plan, running: usize, launching: usize, limit: usize) -> CheckLine {
    let detail = format!(
        "{running} running + {launching} to launch, limit {limit} On-Demand instances in {}",
        plan.dr_region
    );
    if running + launching > limit {
        line("account-limit", Status::Fail, "instances", detail).fix(
            "request a higher On-Demand limit (Service Quotas: Running On-Demand instances) before the disaster",
        )
    } else {
        line("account-limit", Status::Pass, "instances", detail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::plan::example_plan as plan;

    #[test]
    fn only_an_available_image_passes_and_a_missing_one_says_how_to_copy_it() {
        let plan = plan();
        let app = &plan.instances[0];
        let image = |state: &str| {
            Ok(AmiFound {
                id: "ami-0dr".into(),
                state: state.into(),
            })
        };
        let ready = judge_golden_ami(&plan, app, image("available")).unwrap();
        assert_eq!(ready.status, Status::Pass);
        let pending = judge_golden_ami(&plan, app, image("pending")).unwrap();
        assert_eq!(pending.status, Status::Fail);
        assert!(pending.detail.contains("ami-0dr is pending"), "{pending:?}");
        let missing = judge_golden_ami(
            &plan,
            app,
            Err(BackstopError::NotFound {
                what: "golden AMI".into(),
                message: "no image named golden-app: copy it".into(),
            }),
        )
        .unwrap();
        assert_eq!(missing.status, Status::Fail);
        assert_eq!(
            missing.detail,
            "no image named golden-app: the golden AMI was not copied to us-west-2"
        );
        assert_eq!(
            missing.fix.as_deref(),
            Some(crate::steps::compute::launch::ami_copy_hint(app, &plan).as_str())
        );
        let throttled = judge_golden_ami(
            &plan,
            app,
            Err(BackstopError::Transient {
                action: "describing images".into(),
                message: "slow down".into(),
            }),
        );
        assert!(throttled.is_err());
    }

    #[test]
    fn an_instance_needs_one_of_its_types_offered_in_one_of_its_subnets_zones() {
        let plan = plan();
        let mut app = plan.instances[0].clone();
        app.subnet_ids = vec![
            "subnet-a".into(),
            "subnet-b".into(),
            "subnet-unknown".into(),
        ];
        app.instance_types = vec!["m6i.large".into(), "m5.large".into()];
        let mut no_types = app.clone();
        no_types.name = "typeless".into();
        no_types.instance_types.clear();
        let instances = [app, no_types];
        let subnet_zones = HashMap::from([
            ("subnet-a".to_string(), "us-west-2a".to_string()),
            ("subnet-b".to_string(), "us-west-2b".to_string()),
        ]);
        let wanted = zones_wanted(&instances, &subnet_zones);
        assert_eq!(wanted.len(), 1, "an instance without types is not checked");
        assert_eq!(
            wanted[0].1,
            BTreeSet::from(["us-west-2a".to_string(), "us-west-2b".to_string()])
        );

        let offered = BTreeSet::from([
            ("m5.large".to_string(), "us-west-2b".to_string()),
            ("m6i.large".to_string(), "us-west-2c".to_string()),
        ]);
        let lines = judge_instance_types(&plan, &wanted, &offered);
        assert_eq!(lines[0].status, Status::Pass);
        assert_eq!(lines[0].detail, "offered: m5.large in us-west-2b");

        let lines = judge_instance_types(&plan, &wanted, &BTreeSet::new());
        assert_eq!(lines[0].status, Status::Fail);
        assert_eq!(
            lines[0].detail,
            "none of m6i.large, m5.large is offered in us-west-2a, us-west-2b"
        );
        assert!(lines[0]
            .fix
            .as_deref()
            .unwrap()
            .contains("Values=us-west-2a, us-west-2b"));
    }

    #[test]
    fn the_launch_must_fit_beside_what_already_runs() {
        let plan = plan();
        assert_eq!(judge_instance_limit(&plan, 18, 2, 20).status, Status::Pass);
        let over = judge_instance_limit(&plan, 19, 2, 20);
        assert_eq!(over.status, Status::Fail);
        assert_eq!(
            over.detail,
            "19 running + 2 to launch, limit 20 On-Demand instances in us-west-2"
        );
        assert!(over.fix.unwrap().contains("Service Quotas"));
    }
}
