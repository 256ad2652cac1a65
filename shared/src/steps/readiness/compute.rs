//! What a run launches: golden AMIs, instance types offered in the subnets' AZs, and room under
//! the account's instance limit.

use super::{line, unchecked, CheckLine, Status};
use crate::aws::Clients;
use crate::error::{classify_sdk_error, BackstopError};
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
        let checked = match crate::steps::compute::launch::golden_ami(
            &clients.ec2,
            &clients.ssm,
            instance,
            plan,
        )
        .await
        {
            Ok(image) => {
                let id = image.image_id().unwrap_or_default();
                let state = image
                    .state()
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_else(|| "unknown".into());
                if state == "available" {
                    line(
                        "golden-ami",
                        Status::Pass,
                        instance.name.as_str(),
                        format!("{id} is available in {}", plan.dr_region),
                    )
                } else {
                    line(
                        "golden-ami",
                        Status::Fail,
                        instance.name.as_str(),
                        format!("{id} is {state}: an instance cannot be launched from it"),
                    )
                    .fix("wait for the copy to finish, or copy the golden AMI again")
                }
            }
            Err(BackstopError::NotFound { message, .. }) => {
                let (detail, _) = message.split_once(": copy").unwrap_or((&message, ""));
                line(
                    "golden-ami",
                    Status::Fail,
                    instance.name.as_str(),
                    format!(
                        "{detail}: the golden AMI was not copied to {}",
                        plan.dr_region
                    ),
                )
                .fix(crate::steps::compute::launch::ami_copy_hint(instance, plan))
            }
            Err(other) => unchecked("golden-ami", &instance.name, other)?,
        };
        seen.insert(key, checked.clone());
        lines.push(checked);
    }
    Ok(())
}

/// At least one of each instance's types is offered in an AZ of its subnets.
pub(super) async fn check_instance_types(
    ec2: &aws_sdk_ec2::Client,
    plan: &Plan,
    instances: &[InstancePlan],
    subnet_zones: &HashMap<String, String>,
    lines: &mut Vec<CheckLine>,
) -> Result<(), BackstopError> {
    let wanted: Vec<(&InstancePlan, BTreeSet<String>)> = instances
        .iter()
        .map(|i| {
            let zones = i
                .subnet_ids
                .iter()
                .filter_map(|s| subnet_zones.get(s).cloned())
                .collect();
            (i, zones)
        })
        .filter(|(i, zones): &(&InstancePlan, BTreeSet<String>)| {
            !zones.is_empty() && !i.instance_types.is_empty()
        })
        .collect();
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
    for (instance, zones) in wanted {
        let usable: Vec<String> = instance
            .instance_types
            .iter()
            .flat_map(|t| zones.iter().map(move |z| (t.clone(), z.clone())))
            .filter(|pair| offered.contains(pair))
            .map(|(t, z)| format!("{t} in {z}"))
            .collect();
        let zone_list = zones.iter().cloned().collect::<Vec<_>>().join(", ");
        lines.push(if usable.is_empty() {
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
        });
    }
    Ok(())
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
        let page = page.map_err(|err| classify_sdk_error("counting running instances", err))?;
        running += page
            .reservations()
            .iter()
            .map(|r| r.instances().len())
            .sum::<usize>();
    }
    let detail = format!(
        "{running} running + {launching} to launch, limit {limit} On-Demand instances in {}",
        plan.dr_region
    );
    lines.push(if running + launching > limit {
        line("account-limit", Status::Fail, "instances", detail).fix(
            "request a higher On-Demand limit (Service Quotas: Running On-Demand instances) before the disaster",
        )
    } else {
        line("account-limit", Status::Pass, "instances", detail)
    });
    Ok(())
}
