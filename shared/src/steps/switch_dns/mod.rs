//! Step 4 of recovery: a health gate, then Route 53 records switched to the DR endpoints.
//! A drill writes only the plan's drill records, never a production one.

use aws_sdk_route53::types::{
    Change, ChangeAction, ChangeBatch, ChangeStatus, ResourceRecord, ResourceRecordSet, RrType,
};
use serde::{Deserialize, Serialize};

use crate::aws::drill_record::{self};
use crate::aws::failover_alarm;
use crate::aws::store::{RunRef, RunStore};
use crate::aws::wait::{wait_until, WaitPolicy};
use crate::aws::Clients;
use crate::error::{BackstopError, SdkContext};
use crate::kinds::{self, Health};
use crate::model::instances::LaunchedInstance;
use crate::model::jobs::JobStatus;
use crate::model::jobs::RestoreJob;
use crate::model::run::Mode;
use crate::plan::{DnsMethod, DnsRecordPlan, Plan};
use crate::steps::{Invocation, NamesRun};
use serde_json::Value;

pub mod records;

use records::{check_records_in_zones, record_to_write};

/// The TTL of a switched record the plan gives none: short, so clients follow a failover.
const DEFAULT_TTL: i64 = 60;

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
    /// How it was switched when not by UPSERT (a failover-alarm record: the alarm and the
    /// Elastic IP; Route 53 itself was not called).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via: Option<String>,
}

/// A Route 53 change this run submitted, not yet known to be INSYNC.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingChange {
    pub change_id: String,
    pub record_name: String,
    /// What the record held before this run changed it (kept for failback across rounds).
    #[serde(default)]
    pub previous_values: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_ttl: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SwitchOutcome {
    pub healthy: Vec<String>,
    pub records: Vec<SwitchedRecord>,
    /// Changes not yet INSYNC when the invocation had to return: the state machine waits and
    /// calls the step again with them, and the step then only checks them.
    pub changes: Vec<PendingChange>,
    pub in_sync: bool,
    /// When the health gate first passed (RFC 3339): a drill's RTO ends here.
    #[serde(default)]
    pub healthy_at: Option<String>,
    /// When every change was seen INSYNC (RFC 3339): a failover's RTO ends here.
    #[serde(default)]
    pub in_sync_at: Option<String>,
}

/// Checks the DR side is healthy (instances running with passing status checks, restored
/// databases available), then points each planned record at its DR endpoint and waits, while
/// the invocation's deadline allows, for the changes to be INSYNC. `pending` are the changes
/// an earlier round of the same run submitted; `healthy_at` when an earlier round's health
/// gate passed.
#[allow(clippy::too_many_arguments)]
pub async fn switch_dns(
    clients: &Clients,
    plan: &Plan,
    mode: Mode,
    instances: &[LaunchedInstance],
    jobs: &[RestoreJob],
    pending: &[PendingChange],
    healthy_at: Option<String>,
    wait: WaitPolicy,
) -> Result<SwitchOutcome, BackstopError> {
    // what protects production is checked again here, whatever the input says
    if mode == Mode::Drill {
        check_records_in_zones(&clients.route53, plan).await?;
    }
    // every record's target is known before the first one is written
    let chosen = choose_records(plan, mode, instances, jobs)?;
    let healthy = health_gate(clients, instances, jobs, wait).await?;
    let healthy_at = healthy_at.or_else(|| Some(now()));
    let mut records = Vec::new();
    let mut changes: Vec<PendingChange> = Vec::new();
    let mut alarms_to_wait: Vec<String> = Vec::new();
    for switch in chosen {
        let (record, name, value, owner) = match switch {
            RecordSwitch::ByAlarm { record, instance } => {
                let (switched, in_alarm) = switch_by_alarm(clients, record, instance).await?;
                if !in_alarm {
                    alarms_to_wait.extend(record.alarm_name.clone());
                }
                records.push(switched);
                continue;
            }
            RecordSwitch::Upsert {
                record,
                name,
                value,
                owner,
            } => (record, name, value, owner),
        };
        // a drill's record is written with its ownership mark, in one change batch
        let (mut switched, submitted) =
            upsert(&clients.route53, record, name, &value, owner).await?;
        let earlier = pending
            .iter()
            .find(|c| c.record_name.eq_ignore_ascii_case(name));
        if let Some(earlier) = earlier {
            // this run changed it in an earlier round: what it replaced then is what a
            // failback restores, not this run's own value
            switched.changed = true;
            switched.previous_values = earlier.previous_values.clone();
            switched.previous_ttl = earlier.previous_ttl;
        }
        match (submitted, earlier) {
            (Some(change_id), _) => changes.push(PendingChange {
                change_id,
                record_name: name.to_string(),
                previous_values: switched.previous_values.clone(),
                previous_ttl: switched.previous_ttl,
            }),
            (None, Some(earlier)) => changes.push(earlier.clone()),
            (None, None) => {}
        }
        records.push(switched);
    }
    let mut in_sync = match wait_in_sync(&clients.route53, &changes, wait).await {
        Ok(()) => true,
        Err(BackstopError::StillWaiting { .. }) => false,
        Err(other) => return Err(other),
    };
    if in_sync {
        in_sync = match wait_in_alarm(&clients.cloudwatch, &alarms_to_wait, wait).await {
            Ok(()) => true,
            Err(BackstopError::StillWaiting { .. }) => false,
            Err(other) => return Err(other),
        };
    }
    if in_sync {
        changes.clear();
    }
    Ok(SwitchOutcome {
        healthy,
        records,
        changes,
        in_sync,
        healthy_at,
        in_sync_at: in_sync.then(now),
    })
}

/// What the switch does with one planned record. Decided for every record before any is
/// written, so a record whose target is missing stops the switch with nothing changed.
#[derive(Debug, Clone, PartialEq)]
pub enum RecordSwitch<'p> {
    /// A failover-routing pair: the Elastic IP moves to `instance`, the alarm is set.
    ByAlarm {
        record: &'p DnsRecordPlan,
        instance: &'p LaunchedInstance,
    },
    /// UPSERT `name` to `value`; a drill's record carries the ownership mark of `owner`.
    Upsert {
        record: &'p DnsRecordPlan,
        name: &'p str,
        value: String,
        owner: Option<&'p str>,
    },
}

/// The switch of every record of `plan`: a failover writes the production names (or moves a
/// failover-routing pair), a drill only its own drill names, marked as its own.
pub fn choose_records<'p>(
    plan: &'p Plan,
    mode: Mode,
    instances: &'p [LaunchedInstance],
    jobs: &[RestoreJob],
) -> Result<Vec<RecordSwitch<'p>>, BackstopError> {
    plan.dns
        .iter()
        .map(|record| {
            if mode.is_production() && record.method == DnsMethod::FailoverAlarm {
                let instance = target_instance(record, instances)?;
                return Ok(RecordSwitch::ByAlarm { record, instance });
            }
            Ok(RecordSwitch::Upsert {
                record,
                name: record_to_write(record, mode)?,
                value: target_value(record, instances, jobs)?,
                owner: (mode == Mode::Drill).then_some(plan.name.as_str()),
            })
        })
        .collect()
}

fn now() -> String {
    crate::model::time::format_time(std::time::SystemTime::now().into())
}

async fn wait_in_sync(
    route53: &aws_sdk_route53::Client,
    changes: &[PendingChange],
    wait: WaitPolicy,
) -> Result<(), BackstopError> {
    for change in changes {
        let name = &change.record_name;
        wait_until(
            wait,
            &format!("{name} to be INSYNC (change {})", change.change_id),
            || async {
                let answer = route53
                    .get_change()
                    .id(&change.change_id)
                    .send()
                    .await
                    .context(format!("waiting for {name} to be in sync"))?;
                Ok(
                    (answer.change_info().map(|c| c.status()) == Some(&ChangeStatus::Insync))
                        .then_some(()),
                )
            },
        )
        .await?;
        tracing::info!(record = %name, change = %change.change_id, "record in sync");
    }
    Ok(())
}

/// A failover-alarm record: the Elastic IP moved to the target instance and the alarm's
/// datapoint put (DR-region EC2 and CloudWatch only). The second value: the alarm is in
/// ALARM already.
async fn switch_by_alarm(
    clients: &Clients,
    record: &DnsRecordPlan,
    instance: &LaunchedInstance,
) -> Result<(SwitchedRecord, bool), BackstopError> {
    let done = failover_alarm::switch(&clients.ec2, &clients.cloudwatch, record, instance).await?;
    let alarm = record.alarm_name.as_deref().unwrap_or_default();
    let allocation = record
        .elastic_ip_allocation_id
        .as_deref()
        .unwrap_or_default();
    Ok((
        SwitchedRecord {
            hosted_zone_id: record.hosted_zone_id.clone(),
            record_name: record.record_name.clone(),
            record_type: record.record_type.clone(),
            value: done.public_ip,
            ttl: record.ttl.unwrap_or(DEFAULT_TTL),
            previous_values: Vec::new(),
            previous_ttl: None,
            changed: done.address_moved || done.datapoint_put,
            via: Some(format!(
                "failover routing: alarm {alarm} set, Elastic IP {allocation} on {} (no Route 53 control-plane call)",
                instance.instance_id
            )),
        },
        done.in_alarm,
    ))
}

/// Waits (within the deadline) for each alarm to be in ALARM: Route 53's health check then
/// reports the PRIMARY unhealthy and answers with the SECONDARY.
async fn wait_in_alarm(
    cloudwatch: &aws_sdk_cloudwatch::Client,
    alarms: &[String],
    wait: WaitPolicy,
) -> Result<(), BackstopError> {
    for alarm in alarms {
        wait_until(wait, &format!("alarm {alarm} to be in ALARM"), || async {
            Ok(failover_alarm::in_alarm(cloudwatch, alarm)
                .await?
                .then_some(()))
        })
        .await?;
        tracing::info!(%alarm, "failover alarm in ALARM: Route 53 answers with the SECONDARY");
    }
    Ok(())
}

fn target_instance<'a>(
    record: &DnsRecordPlan,
    instances: &'a [LaunchedInstance],
) -> Result<&'a LaunchedInstance, BackstopError> {
    let name = record.target.instance.as_deref().unwrap_or_default();
    instances.iter().find(|i| i.name == name).ok_or_else(|| {
        BackstopError::not_found(
            format!("instance {name}"),
            format!(
                "{} points at it, but it was not launched",
                record.record_name
            ),
        )
    })
}

fn target_value(
    record: &DnsRecordPlan,
    instances: &[LaunchedInstance],
    jobs: &[RestoreJob],
) -> Result<String, BackstopError> {
    if record.target.instance.is_some() {
        return Ok(target_instance(record, instances)?.private_ip.clone());
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

/// Waits (within the invocation's deadline) until the DR side is healthy; an instance whose
/// status checks fail, or that is not running, stops the switch at once.
async fn health_gate(
    clients: &Clients,
    instances: &[LaunchedInstance],
    jobs: &[RestoreJob],
    wait: WaitPolicy,
) -> Result<Vec<String>, BackstopError> {
    wait_until(
        wait,
        "the DR instances and databases to be healthy",
        || async {
            match check_health(clients, instances, jobs).await? {
                Health::Healthy(healthy) => Ok(Some(healthy)),
                Health::NotYet(why) => {
                    tracing::info!(%why, "health gate: not healthy yet");
                    Ok(None)
                }
            }
        },
    )
    .await
}

/// One look at the DR side's health (instances and restored databases), without waiting.
pub(crate) async fn check_health(
    clients: &Clients,
    instances: &[LaunchedInstance],
    jobs: &[RestoreJob],
) -> Result<Health, BackstopError> {
    let mut healthy =
        match kinds::ec2::health(&clients.ec2, instances, "DNS left unchanged").await? {
            Health::Healthy(healthy) => healthy,
            not_yet => return Ok(not_yet),
        };
    for job in jobs
        .iter()
        .filter(|j| j.kind == crate::plan::ResourceKind::Rds && j.status == JobStatus::Completed)
    {
        match kinds::rds::health(&clients.rds, job).await? {
            Health::Healthy(more) => healthy.extend(more),
            not_yet => return Ok(not_yet),
        }
    }
    Ok(Health::Healthy(healthy))
}

/// Points the record at `value` unless it already does; returns the change id it submitted.
/// With `owner` (a drill's plan), the record's ownership mark is written in the same batch.
async fn upsert(
    route53: &aws_sdk_route53::Client,
    record: &DnsRecordPlan,
    name: &str,
    value: &str,
    owner: Option<&str>,
) -> Result<(SwitchedRecord, Option<String>), BackstopError> {
    let ttl = record.ttl.unwrap_or(DEFAULT_TTL);
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
        .context(format!("reading record {name}"))?;
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
        via: None,
    };
    if previous_values == [value.to_string()] && previous_ttl == Some(ttl) {
        return Ok((switched, None));
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
    let mut batch = ChangeBatch::builder()
        .comment("Backstop DR switch")
        .changes(change);
    if let Some(plan) = owner {
        batch = batch.changes(drill_record::upsert_mark(name, plan)?);
    }
    let batch = batch
        .build()
        .map_err(|e| BackstopError::invalid_input("dns", e.to_string()))?;
    let submitted = route53
        .change_resource_record_sets()
        .hosted_zone_id(&record.hosted_zone_id)
        .change_batch(batch)
        .send()
        .await
        .context(format!("switching {name}"))?;
    let change_id = submitted
        .change_info()
        .map(|c| c.id().to_string())
        .unwrap_or_default();
    tracing::info!(record = name, value, ttl, change = %change_id, "record switched");
    switched.changed = true;
    Ok((switched, Some(change_id)))
}

/// What `SwitchDns` gets: the run, and what its earlier rounds left to finish.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SwitchInput {
    pub run: RunRef,
    /// Changes an earlier round submitted that were not yet INSYNC.
    #[serde(default)]
    pub changes: Vec<PendingChange>,
    /// When an earlier round's health gate passed.
    #[serde(default)]
    pub healthy_at: Option<String>,
    /// The operator's answer, when the plan asks for one (`AwaitApproval`'s output).
    #[serde(default)]
    pub approval: Option<Value>,
}

impl NamesRun for SwitchInput {
    fn run_id(&self) -> Option<&str> {
        Some(self.run.run_id.as_str())
    }

    fn region(&self) -> Option<&str> {
        self.run.region.as_deref()
    }

    fn recovers_into(&self) -> Option<&crate::plan::RecoverInto> {
        self.run.recover_into.as_ref()
    }
}

/// `SwitchDns`: the health gate, then the records (a drill: its drill records only).
pub async fn switch_round(
    clients: &Clients,
    store: &RunStore,
    input: SwitchInput,
    wait: WaitPolicy,
) -> Result<SwitchOutcome, BackstopError> {
    let run = store.load_run_resolved(&input.run).await?;
    // never switch a gated failover's DNS without the operator's yes, whatever led here
    run.approval.let_through(input.approval.as_ref())?;
    let jobs = store.jobs(&input.run).await?;
    let instances = store.instances(&input.run).await?;
    let wait = wait.within_run(&run.deadline);
    switch_dns(
        clients,
        &run.plan,
        run.mode,
        &instances,
        &jobs,
        &input.changes,
        input.healthy_at,
        wait,
    )
    .await
}

/// `SwitchDnsFunction`: the health gate, then the records.
pub async fn run(
    clients: &Clients,
    input: SwitchInput,
    invocation: &Invocation,
) -> Result<SwitchOutcome, BackstopError> {
    let wait = WaitPolicy::until(invocation.deadline);
    switch_round(clients, &clients.store()?, input, wait).await
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
            ..Default::default()
        }
    }

    fn launched(name: &str, ip: &str) -> LaunchedInstance {
        LaunchedInstance {
            name: name.into(),
            instance_id: format!("i-{name}"),
            image_id: "ami-1".into(),
            instance_type: "t3.micro".into(),
            subnet_id: "subnet-1".into(),
            availability_zone: "us-west-2a".into(),
            private_ip: ip.into(),
            fallbacks: vec![],
        }
    }

    fn plan_with(dns: Vec<DnsRecordPlan>) -> Plan {
        Plan {
            name: "shop".into(),
            dns,
            ..Default::default()
        }
    }

    #[test]
    fn a_failover_writes_production_names_and_a_drill_only_its_own_marked_ones() {
        let by_alarm = DnsRecordPlan {
            record_name: "api.shop.example.com".into(),
            drill_record_name: "drill.api.shop.example.com".into(),
            method: DnsMethod::FailoverAlarm,
            ..record()
        };
        let plan = plan_with(vec![record(), by_alarm]);
        let instances = [launched("app", "10.0.0.4")];
        let failover = choose_records(&plan, Mode::Failover, &instances, &[]).unwrap();
        assert_eq!(
            failover[0],
            RecordSwitch::Upsert {
                record: &plan.dns[0],
                name: "app.shop.example.com",
                value: "10.0.0.4".into(),
                owner: None,
            }
        );
        assert!(
            matches!(failover[1], RecordSwitch::ByAlarm { instance, .. } if instance.name == "app")
        );
        // a drill never moves a failover-routing pair: it writes its drill names, marked
        let drill = choose_records(&plan, Mode::Drill, &instances, &[]).unwrap();
        let names: Vec<_> = drill
            .iter()
            .map(|switch| match switch {
                RecordSwitch::Upsert { name, owner, .. } => (*name, *owner),
                RecordSwitch::ByAlarm { .. } => panic!("a drill moved {switch:?}"),
            })
            .collect();
        assert_eq!(
            names,
            [
                ("drill.app.shop.example.com", Some("shop")),
                ("drill.api.shop.example.com", Some("shop"))
            ]
        );
    }

    #[test]
    fn a_record_whose_target_is_missing_stops_the_switch_before_any_record_is_written() {
        let orphan = DnsRecordPlan {
            record_name: "web.shop.example.com".into(),
            drill_record_name: "drill.web.shop.example.com".into(),
            target: DnsTarget {
                instance: Some("web".into()),
                resource: None,
            },
            ..record()
        };
        // the first record could be written; the second has no instance: neither is chosen
        let plan = plan_with(vec![record(), orphan]);
        let instances = [launched("app", "10.0.0.4")];
        let err = choose_records(&plan, Mode::Failover, &instances, &[]).unwrap_err();
        assert_eq!(err.error_name(), "Backstop.NotFound");
        assert!(err.to_string().contains("web.shop.example.com"), "{err}");
        // a drill record equal to the production one is refused, whatever else is fine
        let same = DnsRecordPlan {
            drill_record_name: "APP.shop.example.com.".into(),
            ..record()
        };
        let plan = plan_with(vec![same]);
        let err = choose_records(&plan, Mode::Drill, &instances, &[]).unwrap_err();
        assert!(err.to_string().contains("production record"), "{err}");
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
    async fn a_change_not_in_sync_within_the_invocation_is_handed_back_with_its_id() {
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
            deadline: None,
            run_deadline: None,
        };
        let (switched, change_id) = upsert(
            &route53,
            &record(),
            "drill.app.shop.example.com",
            "10.1.0.10",
            Some("shop"),
        )
        .await
        .unwrap();
        assert!(switched.changed);
        let pending_change = PendingChange {
            change_id: change_id.expect("a submitted change"),
            record_name: "drill.app.shop.example.com".into(),
            previous_values: vec![],
            previous_ttl: None,
        };
        let err = wait_in_sync(&route53, &[pending_change], wait)
            .await
            .unwrap_err();
        assert_eq!(err.error_name(), "Backstop.StillWaiting");
        assert!(
            err.to_string().contains("INSYNC (change /change/C1)"),
            "{err}"
        );
        assert_eq!(pending.num_calls(), 3);
    }
}
