//! Step 4 of recovery: a health gate, then Route 53 records switched to the DR endpoints.
//! A drill writes only the plan's drill records, never a production one.

use aws_sdk_ec2::types::InstanceStateName;
use aws_sdk_route53::types::{
    Change, ChangeAction, ChangeBatch, ChangeStatus, ResourceRecord, ResourceRecordSet, RrType,
};
use serde::{Deserialize, Serialize};

use crate::compute::LaunchedInstance;
use crate::error::{classify_sdk_error, BackstopError};
use crate::plan::{DnsRecordPlan, Plan};
use crate::restore::RestoreJob;
use crate::run::Mode;
use crate::wait::{wait_until, WaitPolicy};

/// One record as switched (or found already switched).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SwitchedRecord {
    pub hosted_zone_id: String,
    pub record_name: String,
    pub record_type: String,
    pub value: String,
    pub ttl: i64,
    /// The values before the switch, for failback.
    pub previous_values: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_ttl: Option<i64>,
    /// False when the record already pointed there (a re-run).
    pub changed: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SwitchOutcome {
    pub healthy: Vec<String>,
    pub records: Vec<SwitchedRecord>,
}

pub struct DnsClients {
    pub route53: aws_sdk_route53::Client,
    pub ec2: aws_sdk_ec2::Client,
    pub rds: aws_sdk_rds::Client,
    /// How long to wait for a change to be INSYNC.
    pub wait: WaitPolicy,
}

/// Checks the DR side is healthy (instances running with passing status checks, restored
/// databases available), then points each planned record at its DR endpoint.
pub async fn switch_dns(
    clients: &DnsClients,
    plan: &Plan,
    mode: Mode,
    instances: &[LaunchedInstance],
    jobs: &[RestoreJob],
) -> Result<SwitchOutcome, BackstopError> {
    let healthy = health_gate(clients, instances, jobs).await?;
    let mut records = Vec::new();
    for record in &plan.dns {
        let name = record_to_write(record, mode)?;
        let value = target_value(record, instances, jobs)?;
        records.push(upsert(&clients.route53, record, name, &value, clients.wait).await?);
    }
    Ok(SwitchOutcome { healthy, records })
}

/// The record this run may write: in a drill, only the drill record, whatever else is asked.
fn record_to_write(record: &DnsRecordPlan, mode: Mode) -> Result<&str, BackstopError> {
    match mode {
        Mode::Failover => Ok(&record.record_name),
        Mode::Drill => {
            let same = record
                .drill_record_name
                .trim_end_matches('.')
                .eq_ignore_ascii_case(record.record_name.trim_end_matches('.'));
            if record.drill_record_name.is_empty() || same {
                return Err(BackstopError::invalid_input(
                    "plan.dns[].drillRecordName",
                    format!(
                        "a drill refuses to write {}: it is the production record",
                        record.record_name
                    ),
                ));
            }
            Ok(&record.drill_record_name)
        }
    }
}

fn target_value(
    record: &DnsRecordPlan,
    instances: &[LaunchedInstance],
    jobs: &[RestoreJob],
) -> Result<String, BackstopError> {
    if let Some(name) = &record.target.instance {
        let instance = instances.iter().find(|i| &i.name == name).ok_or_else(|| {
            BackstopError::not_found(
                format!("instance {name}"),
                format!(
                    "{} points at it, but it was not launched",
                    record.record_name
                ),
            )
        })?;
        return Ok(instance.private_ip.clone());
    }
    if let Some(resource) = &record.target.resource {
        let job = jobs
            .iter()
            .find(|j| &j.resource == resource && j.endpoint.is_some())
            .ok_or_else(|| {
                BackstopError::not_found(
                    format!("endpoint of {resource}"),
                    format!(
                        "{} points at it, but it was not restored",
                        record.record_name
                    ),
                )
            })?;
        return Ok(job.endpoint.clone().unwrap_or_default());
    }
    Err(BackstopError::invalid_input(
        "plan.dns[].target",
        format!("{} has no target", record.record_name),
    ))
}

async fn health_gate(
    clients: &DnsClients,
    instances: &[LaunchedInstance],
    jobs: &[RestoreJob],
) -> Result<Vec<String>, BackstopError> {
    let mut healthy = Vec::new();
    if !instances.is_empty() {
        let ids: Vec<String> = instances.iter().map(|i| i.instance_id.clone()).collect();
        let described = clients
            .ec2
            .describe_instance_status()
            .set_instance_ids(Some(ids))
            .include_all_instances(true)
            .send()
            .await
            .map_err(|err| classify_sdk_error("checking the DR instances' status", err))?;
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
            let checks_fail =
                status.is_some_and(|s| failing(s.instance_status()) || failing(s.system_status()));
            if !running || checks_fail {
                return Err(BackstopError::Conflict(format!(
                    "health gate: {} ({}) is not running with passing status checks; DNS left unchanged",
                    instance.name, instance.instance_id
                )));
            }
            healthy.push(format!("instance {} running", instance.name));
        }
    }
    for job in jobs
        .iter()
        .filter(|j| j.kind == crate::plan::ResourceKind::Rds && j.status == "COMPLETED")
    {
        let identifier = job
            .created_resource_arn
            .as_deref()
            .and_then(|a| a.rsplit(':').next())
            .unwrap_or_default();
        let described = clients
            .rds
            .describe_db_instances()
            .db_instance_identifier(identifier)
            .send()
            .await
            .map_err(|err| {
                classify_sdk_error(format!("checking database {}", job.resource), err)
            })?;
        let status = described
            .db_instances()
            .first()
            .and_then(|db| db.db_instance_status())
            .unwrap_or("unknown");
        if status != "available" {
            return Err(BackstopError::Conflict(format!(
                "health gate: database {} ({identifier}) is {status}, not available; DNS left unchanged",
                job.resource
            )));
        }
        healthy.push(format!("database {} available", job.resource));
    }
    Ok(healthy)
}

async fn upsert(
    route53: &aws_sdk_route53::Client,
    record: &DnsRecordPlan,
    name: &str,
    value: &str,
    wait: WaitPolicy,
) -> Result<SwitchedRecord, BackstopError> {
    let ttl = record.ttl.unwrap_or(60);
    let record_type = RrType::from(record.record_type.as_str());
    let fqdn = format!("{}.", name.trim_end_matches('.'));
    let existing = route53
        .list_resource_record_sets()
        .hosted_zone_id(&record.hosted_zone_id)
        .start_record_name(&fqdn)
        .start_record_type(record_type.clone())
        .max_items(1)
        .send()
        .await
        .map_err(|err| classify_sdk_error(format!("reading record {name}"), err))?;
    let current = existing.resource_record_sets().iter().find(|set| {
        set.name()
            .trim_end_matches('.')
            .eq_ignore_ascii_case(name.trim_end_matches('.'))
            && set.r#type() == &record_type
    });
    let previous_values: Vec<String> = current
        .map(|set| {
            set.resource_records()
                .iter()
                .map(|r| r.value().to_string())
                .collect()
        })
        .unwrap_or_default();
    let previous_ttl = current.and_then(|set| set.ttl());
    let mut switched = SwitchedRecord {
        hosted_zone_id: record.hosted_zone_id.clone(),
        record_name: name.to_string(),
        record_type: record.record_type.clone(),
        value: value.to_string(),
        ttl,
        previous_values: previous_values.clone(),
        previous_ttl,
        changed: false,
    };
    if previous_values == [value.to_string()] && previous_ttl == Some(ttl) {
        return Ok(switched);
    }
    let set = ResourceRecordSet::builder()
        .name(&fqdn)
        .r#type(record_type)
        .ttl(ttl)
        .resource_records(
            ResourceRecord::builder()
                .value(value)
                .build()
                .map_err(|e| BackstopError::invalid_input("dns", e.to_string()))?,
        )
        .build()
        .map_err(|e| BackstopError::invalid_input("dns", e.to_string()))?;
    let change = Change::builder()
        .action(ChangeAction::Upsert)
        .resource_record_set(set)
        .build()
        .map_err(|e| BackstopError::invalid_input("dns", e.to_string()))?;
    let batch = ChangeBatch::builder()
        .comment("Backstop DR switch")
        .changes(change)
        .build()
        .map_err(|e| BackstopError::invalid_input("dns", e.to_string()))?;
    let submitted = route53
        .change_resource_record_sets()
        .hosted_zone_id(&record.hosted_zone_id)
        .change_batch(batch)
        .send()
        .await
        .map_err(|err| classify_sdk_error(format!("switching {name}"), err))?;
    let change_id = submitted
        .change_info()
        .map(|c| c.id().to_string())
        .unwrap_or_default();
    wait_until(
        wait,
        &format!("{name} to be INSYNC (change {change_id})"),
        || async {
            let change = route53
                .get_change()
                .id(&change_id)
                .send()
                .await
                .map_err(|err| {
                    classify_sdk_error(format!("waiting for {name} to be in sync"), err)
                })?;
            Ok(
                (change.change_info().map(|c| c.status()) == Some(&ChangeStatus::Insync))
                    .then_some(()),
            )
        },
    )
    .await?;
    tracing::info!(record = name, value, ttl, "record switched and in sync");
    switched.changed = true;
    Ok(switched)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use aws_sdk_route53::config::retry::RetryConfig;
    use aws_sdk_route53::operation::change_resource_record_sets::ChangeResourceRecordSetsOutput;
    use aws_sdk_route53::operation::get_change::GetChangeOutput;
    use aws_sdk_route53::operation::list_resource_record_sets::ListResourceRecordSetsOutput;
    use aws_sdk_route53::types::ChangeInfo;
    use aws_sdk_route53::Client;
    use aws_smithy_mocks::{mock, mock_client, RuleMode};
    use aws_smithy_types::DateTime;

    use super::*;
    use crate::plan::DnsTarget;

    fn record() -> DnsRecordPlan {
        DnsRecordPlan {
            hosted_zone_id: "Z1".into(),
            record_name: "app.shop.example.com".into(),
            record_type: "A".into(),
            ttl: Some(60),
            drill_record_name: "drill.app.shop.example.com".into(),
            target: DnsTarget {
                instance: Some("app".into()),
                resource: None,
            },
        }
    }

    #[test]
    fn a_drill_writes_the_drill_record_and_a_failover_the_production_one() {
        assert_eq!(
            record_to_write(&record(), Mode::Drill).unwrap(),
            "drill.app.shop.example.com"
        );
        assert_eq!(
            record_to_write(&record(), Mode::Failover).unwrap(),
            "app.shop.example.com"
        );
    }

    #[test]
    fn a_drill_refuses_a_drill_record_that_is_the_production_record() {
        let mut record = record();
        record.drill_record_name = "APP.shop.example.com.".into();
        let err = record_to_write(&record, Mode::Drill).unwrap_err();
        assert!(err.to_string().contains("production record"), "{err}");
    }

    #[tokio::test]
    async fn a_change_that_never_gets_in_sync_times_out() {
        let change_info = || {
            ChangeInfo::builder()
                .id("/change/C1")
                .status(ChangeStatus::Pending)
                .submitted_at(DateTime::from_secs(0))
                .build()
                .unwrap()
        };
        let list = mock!(Client::list_resource_record_sets).then_output(|| {
            ListResourceRecordSetsOutput::builder()
                .set_resource_record_sets(Some(vec![]))
                .is_truncated(false)
                .max_items(1)
                .build()
                .unwrap()
        });
        let change = mock!(Client::change_resource_record_sets).then_output(move || {
            ChangeResourceRecordSetsOutput::builder()
                .change_info(change_info())
                .build()
        });
        let pending = mock!(Client::get_change).then_output(move || {
            GetChangeOutput::builder()
                .change_info(change_info())
                .build()
        });
        let route53 = mock_client!(
            aws_sdk_route53,
            RuleMode::MatchAny,
            [&list, &change, &pending],
            |conf| conf.retry_config(RetryConfig::disabled())
        );
        let wait = WaitPolicy {
            interval: Duration::from_millis(1),
            max_attempts: 3,
        };
        let err = upsert(
            &route53,
            &record(),
            "drill.app.shop.example.com",
            "10.1.0.10",
            wait,
        )
        .await
        .unwrap_err();
        assert_eq!(err.error_name(), "Backstop.Timeout");
        assert!(err.to_string().contains("INSYNC"), "{err}");
        assert_eq!(pending.num_calls(), 3);
    }
}
