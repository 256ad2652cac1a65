//! EC2 instances (restored from an AWS Backup AMI, or launched from the golden AMI) and the
//! EC2 tagging that volumes share.

use std::collections::HashMap;

use aws_sdk_ec2::types::{Filter, InstanceStateName, Tag};

use super::common::{
    epoch, require_settings, tag_value, Found, Health, Owned, OwnedKind, Removal, RestoreContext,
};
use crate::aws::tags::{MODE, RESOURCE, RUN_ID};
use crate::error::{classify_sdk_error, BackstopError, SdkContext};
use crate::model::instances::LaunchedInstance;
use crate::model::run::RunId;
use crate::plan::ProtectedResource;

/// AWS Backup's EC2 metadata keys.
pub(crate) fn metadata(
    base: &HashMap<String, String>,
    resource: &ProtectedResource,
    _ctx: &RestoreContext,
) -> Result<HashMap<String, String>, BackstopError> {
    let settings = require_settings(resource, resource.ec2.as_ref(), "ec2.subnetId")?;
    let mut metadata = base.clone();
    // The source's subnet, AZ and security groups are in the primary region.
    metadata.remove("AvailabilityZone");
    metadata.remove("Placement");
    let subnet = settings.subnet_id.clone().ok_or_else(|| {
        BackstopError::invalid_input(
            format!("plan.resources[{}].ec2.subnetId", resource.name),
            format!("{} needs a DR subnet to restore into", resource.name),
        )
    })?;
    metadata.insert("SubnetId".into(), subnet);
    if let Some(instance_type) = &settings.instance_type {
        metadata.insert("InstanceType".into(), instance_type.clone());
    }
    metadata.insert(
        "SecurityGroupIds".into(),
        serde_json::to_string(&settings.security_group_ids).unwrap_or_default(),
    );
    Ok(metadata)
}

/// The run id an EC2 resource (instance, volume) is tagged with.
pub(crate) async fn run_tag(
    ec2: &aws_sdk_ec2::Client,
    id: &str,
) -> Result<Option<String>, BackstopError> {
    let mut tags = run_tags(ec2, &[id.to_string()], &format!("reading the tags of {id}")).await?;
    Ok(tags.remove(id).flatten())
}

/// Resource ids one DescribeTags call names (its `resource-id` filter's values).
const IDS_PER_TAG_LOOKUP: usize = 200;

/// The run id each of `ids` (EC2 resources) is tagged with (`None`: no run tag), in one
/// DescribeTags call per 200 ids. EC2 throttles each Describe action separately (a bucket of
/// 100 calls, refilled at 20 a second), so a round that saw 3,000 restores complete reads
/// their tags in 15 calls instead of waiting minutes for 3,000.
pub(crate) async fn run_tags(
    ec2: &aws_sdk_ec2::Client,
    ids: &[String],
    action: &str,
) -> Result<HashMap<String, Option<String>>, BackstopError> {
    let mut found: HashMap<String, Option<String>> =
        ids.iter().map(|id| (id.clone(), None)).collect();
    for chunk in ids.chunks(IDS_PER_TAG_LOOKUP) {
        let mut pages = ec2
            .describe_tags()
            .filters(
                Filter::builder()
                    .name("resource-id")
                    .set_values(Some(chunk.to_vec()))
                    .build(),
            )
            .filters(Filter::builder().name("key").values(RUN_ID).build())
            .max_results(1000)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.context(action.to_string())?;
            for tag in page.tags() {
                if let (Some(slot), Some(value)) = (
                    tag.resource_id().and_then(|id| found.get_mut(id)),
                    tag.value(),
                ) {
                    *slot = Some(value.to_string());
                }
            }
        }
    }
    Ok(found)
}

pub(crate) async fn tag(
    ec2: &aws_sdk_ec2::Client,
    id: &str,
    tags: &[(String, String)],
    action: String,
) -> Result<(), BackstopError> {
    create_tags(ec2, vec![id.to_string()], &ec2_tags(tags))
        .send()
        .await
        .context(action)?;
    Ok(())
}

fn ec2_tags(tags: &[(String, String)]) -> Vec<Tag> {
    tags.iter()
        .map(|(key, value)| Tag::builder().key(key).value(value).build())
        .collect()
}

fn create_tags(
    ec2: &aws_sdk_ec2::Client,
    ids: Vec<String>,
    tags: &[Tag],
) -> aws_sdk_ec2::operation::create_tags::builders::CreateTagsFluentBuilder {
    ec2.create_tags()
        .set_resources(Some(ids))
        .set_tags(Some(tags.to_vec()))
}

/// Resource ids one CreateTags call names when a run claims what it restored (EC2 takes up to
/// 1,000 and recommends smaller batches).
const IDS_PER_CLAIM: usize = 200;

/// Tags every one of `ids` (EC2 resources) with `tags`, in one CreateTags call per 200 ids.
/// CreateTags is a mutating action, throttled per API (a bucket refilled a few calls a second),
/// so the 3,000 volumes a round saw restored are claimed in 15 calls, not in minutes of one call
/// each. A call names only resources that carry no run tag: the role may tag nothing else, and
/// one refused resource refuses the whole call.
pub(crate) async fn tag_many(
    ec2: &aws_sdk_ec2::Client,
    ids: &[String],
    tags: &[(String, String)],
    action: &str,
) -> Result<(), BackstopError> {
    let tags = ec2_tags(tags);
    for chunk in ids.chunks(IDS_PER_CLAIM) {
        create_tags(ec2, chunk.to_vec(), &tags)
            .send()
            .await
            .context(format!("{action} ({} resources)", chunk.len()))?;
    }
    Ok(())
}

/// The EC2 filter for resources tagged with the run.
pub(crate) fn run_filter(run_id: &str) -> Filter {
    Filter::builder()
        .name(format!("tag:{RUN_ID}"))
        .values(run_id)
        .build()
}

/// Instances tagged with the run, not yet terminated, with their private IPs.
pub(crate) async fn tagged_instances(
    ec2: &aws_sdk_ec2::Client,
    run_id: &str,
) -> Result<Vec<Found>, BackstopError> {
    let mut found = Vec::new();
    let mut pages = ec2
        .describe_instances()
        .filters(run_filter(run_id))
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.context("listing the run's instances")?;
        for instance in page.reservations().iter().flat_map(|r| r.instances()) {
            let state = instance.state().and_then(|s| s.name());
            if state == Some(&InstanceStateName::Terminated) {
                continue;
            }
            let tags = || {
                instance
                    .tags()
                    .iter()
                    .map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default()))
            };
            let resource = tag_value(tags(), RESOURCE).map(str::to_string);
            // the token this run's launch derives for the instance's name, type and subnet
            let launched_by_run = match (&resource, RunId::try_from(run_id.to_string())) {
                (Some(name), Ok(run)) => {
                    let expected = crate::aws::tags::launch_token(
                        &run,
                        name,
                        instance
                            .instance_type()
                            .map(|t| t.as_str())
                            .unwrap_or_default(),
                        instance.subnet_id().unwrap_or_default(),
                    );
                    instance.client_token() == Some(expected.as_str())
                }
                _ => false,
            };
            found.push(Found {
                owned: Owned {
                    kind: OwnedKind::Instance,
                    id: instance.instance_id().unwrap_or_default().to_string(),
                    resource,
                },
                endpoint: instance.private_ip_address().map(str::to_string),
                mode: tag_value(tags(), MODE).map(str::to_string),
                created: epoch(instance.launch_time()),
                launched_by_run,
            });
        }
    }
    Ok(found)
}

/// The run tag of an instance (NotFound once it is gone).
pub(crate) async fn instance_run_tag(
    ec2: &aws_sdk_ec2::Client,
    id: &str,
) -> Result<Option<String>, BackstopError> {
    let described = ec2
        .describe_instances()
        .instance_ids(id)
        .send()
        .await
        .context(format!("describing instance {id}"))?;
    let instance = described
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .next();
    let Some(instance) = instance else {
        return Err(BackstopError::not_found(format!("instance {id}"), "gone"));
    };
    let tags = instance
        .tags()
        .iter()
        .map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default()));
    Ok(tag_value(tags, RUN_ID).map(str::to_string))
}

/// Terminates the instance; gone once `terminated`.
pub(crate) async fn remove_instance(
    ec2: &aws_sdk_ec2::Client,
    id: &str,
) -> Result<Removal, BackstopError> {
    let described = match ec2.describe_instances().instance_ids(id).send().await {
        Ok(described) => described,
        Err(err) => {
            return match classify_sdk_error(format!("describing instance {id}"), err) {
                BackstopError::NotFound { .. } => Ok(Removal::Gone),
                other => Err(other),
            }
        }
    };
    let state = described
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .find(|i| i.instance_id() == Some(id))
        .and_then(|i| i.state())
        .and_then(|s| s.name())
        .cloned();
    match state {
        None | Some(InstanceStateName::Terminated) => Ok(Removal::Gone),
        Some(InstanceStateName::ShuttingDown) => Ok(Removal::Pending("shutting down".into())),
        Some(_) => {
            ec2.terminate_instances()
                .instance_ids(id)
                .send()
                .await
                .context(format!("terminating instance {id}"))?;
            tracing::info!(instance = id, "instance terminating");
            Ok(Removal::Pending("terminating".into()))
        }
    }
}

/// Whether the run's instances are running with passing instance and system status checks;
/// one that is impaired or not running is an error whose message ends with `stops`, what the
/// gate holds back ("DNS left unchanged").
pub(crate) async fn health(
    ec2: &aws_sdk_ec2::Client,
    instances: &[LaunchedInstance],
    stops: &str,
) -> Result<Health, BackstopError> {
    let mut healthy = Vec::new();
    if !instances.is_empty() {
        let ids: Vec<String> = instances.iter().map(|i| i.instance_id.clone()).collect();
        let described = ec2
            .describe_instance_status()
            .set_instance_ids(Some(ids))
            .include_all_instances(true)
            .send()
            .await
            .context("checking the DR instances' status")?;
        for instance in instances {
            let status = described
                .instance_statuses()
                .iter()
                .find(|s| s.instance_id() == Some(instance.instance_id.as_str()));
            let running = status
                .and_then(|s| s.instance_state())
                .and_then(|s| s.name())
                == Some(&InstanceStateName::Running);
            let failing = |summary: Option<&aws_sdk_ec2::types::InstanceStatusSummary>| {
                summary
                    .and_then(|s| s.status())
                    .is_some_and(|s| s.as_str() == "impaired")
            };
            let passing = |summary: Option<&aws_sdk_ec2::types::InstanceStatusSummary>| {
                summary
                    .and_then(|s| s.status())
                    .is_some_and(|s| s.as_str() == "ok")
            };
            let checks_fail =
                status.is_some_and(|s| failing(s.instance_status()) || failing(s.system_status()));
            if !running || checks_fail {
                return Err(BackstopError::Conflict(format!(
                    "health gate: {} ({}) is not running with passing status checks; {stops}",
                    instance.name, instance.instance_id
                )));
            }
            let checks_pass =
                status.is_some_and(|s| passing(s.instance_status()) && passing(s.system_status()));
            if !checks_pass {
                return Ok(Health::NotYet(format!(
                    "{} ({}) status checks still initializing",
                    instance.name, instance.instance_id
                )));
            }
            healthy.push(format!(
                "instance {} running, status checks ok",
                instance.name
            ));
        }
    }
    Ok(Health::Healthy(healthy))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::run::Mode;
    use crate::plan::{Ec2Restore, ResourceKind};

    #[test]
    fn an_instance_is_restored_into_the_dr_subnet_with_dr_security_groups() {
        let ctx = RestoreContext::for_test(Mode::Failover);
        let base = HashMap::from([
            ("InstanceType".to_string(), "m5.large".to_string()),
            ("SubnetId".to_string(), "subnet-primary".to_string()),
            (
                "SecurityGroupIds".to_string(),
                r#"["sg-primary"]"#.to_string(),
            ),
            ("AvailabilityZone".to_string(), "us-east-1a".to_string()),
        ]);
        let resource = ProtectedResource {
            name: "legacy".into(),
            kind: ResourceKind::Ec2,
            ec2: Some(Ec2Restore {
                instance_type: None,
                subnet_id: Some("subnet-0aaaaaaaaaaaaaaaa".into()),
                security_group_ids: vec!["sg-0123456789abcdef0".into()],
            }),
            ..Default::default()
        };
        let metadata = metadata(&base, &resource, &ctx).unwrap();
        assert_eq!(metadata["SubnetId"], "subnet-0aaaaaaaaaaaaaaaa");
        assert_eq!(metadata["InstanceType"], "m5.large");
        assert_eq!(metadata["SecurityGroupIds"], r#"["sg-0123456789abcdef0"]"#);
        assert!(!metadata.contains_key("AvailabilityZone"));
    }

    #[tokio::test]
    async fn run_tags_are_read_200_resources_a_call_and_matched_by_resource_id() {
        use aws_sdk_ec2::operation::describe_tags::DescribeTagsOutput;
        use aws_sdk_ec2::types::TagDescription;
        use aws_smithy_mocks::{mock, mock_client, RuleMode};
        use aws_smithy_types::retry::RetryConfig;

        // EC2 answers for the ids a call names: here, every tenth volume carries a run tag
        let describe = mock!(aws_sdk_ec2::Client::describe_tags)
            .match_requests(|request| {
                request.filters().iter().any(|filter| {
                    filter.name() == Some("resource-id") && filter.values().len() <= 200
                })
            })
            .then_compute_output(|request| {
                let ids = request
                    .filters()
                    .iter()
                    .find(|filter| filter.name() == Some("resource-id"))
                    .map(|filter| filter.values().to_vec())
                    .unwrap_or_default();
                let tags = ids
                    .iter()
                    .filter(|id| id.ends_with('0'))
                    .map(|id| {
                        TagDescription::builder()
                            .resource_id(id)
                            .key(RUN_ID)
                            .value("drill-1")
                            .build()
                    })
                    .collect();
                DescribeTagsOutput::builder().set_tags(Some(tags)).build()
            });
        let ec2 = mock_client!(aws_sdk_ec2, RuleMode::MatchAny, [&describe], |c| c
            .retry_config(RetryConfig::disabled()));
        let ids: Vec<String> = (0..450).map(|i| format!("vol-{i:04}")).collect();
        let found = run_tags(&ec2, &ids, "reading run tags").await.unwrap();
        assert_eq!(describe.num_calls(), 3, "450 ids: 200 + 200 + 50");
        assert_eq!(found.len(), 450, "every id is answered");
        assert_eq!(found["vol-0010"].as_deref(), Some("drill-1"));
        assert_eq!(found["vol-0011"], None, "no run tag");
        assert_eq!(found.values().filter(|tag| tag.is_some()).count(), 45);
    }
}
