//! What the DNS switch needs: hosted zones and records (drill records on safe names), and each
//! failoverAlarm record's alarm and Elastic IP.

use super::routes::check_internet_routes;
use super::{line, unchecked, CheckLine, Status};
use crate::aws::Clients;
use crate::error::PlanProblem;
use crate::error::{classify_sdk_error, BackstopError};
use crate::model::run::Mode;
use crate::plan::{DnsRecordPlan, Plan};
use aws_sdk_cloudwatch::types::MetricAlarm;
use aws_sdk_ec2::types::Address;

/// How long the hosted-zone check may take: Route 53's control plane is in us-east-1, and a
/// failover out of a failed us-east-1 must not wait on it (it warns and goes on; a drill's
/// preflight fails as transient and the state machine retries it).
pub(super) const ROUTE53_CHECK_LIMIT: std::time::Duration = std::time::Duration::from_secs(8);

/// Hosted zones and records: the zone exists and holds the record; in a drill the drill
/// record is a safe name. In a failover a Route 53 error is a warning, not a failure: the
/// control plane is in us-east-1 and the failover must not depend on it to start.
pub(super) async fn check_dns(
    route53: &aws_sdk_route53::Client,
    plan: &Plan,
    mode: Mode,
    limit: std::time::Duration,
    lines: &mut Vec<CheckLine>,
) -> Result<(), BackstopError> {
    if plan.dns.is_empty() {
        return Ok(());
    }
    let checked = tokio::time::timeout(
        limit,
        crate::steps::switch_dns::records::record_problems(route53, plan, mode == Mode::Drill),
    )
    .await
    .unwrap_or_else(|_| {
        Err(BackstopError::Transient {
            action: "reading the hosted zones".into(),
            message: format!(
                "Route 53 did not answer within {:.1} s",
                limit.as_secs_f64()
            ),
        })
    });
    let problems = match checked {
        Ok(problems) => problems,
        Err(err) if mode.is_production() => {
            lines.push(
                line(
                    "dns-record",
                    Status::Warn,
                    "dns",
                    format!("could not be checked: {err}"),
                )
                .fix(if plan.dns.iter().all(|r| r.method == crate::plan::DnsMethod::FailoverAlarm) {
                    "none needed to fail over: every record switches by its failover alarm, without Route 53's control plane"
                } else {
                    "check the hosted zones by hand; the switch will be retried (a failoverAlarm record would not need Route 53: docs/reference.md, DNS without us-east-1)"
                }),
            );
            return Ok(());
        }
        Err(err) => {
            lines.push(unchecked("dns-record", "dns", err)?);
            return Ok(());
        }
    };
    lines.extend(judge_records(plan, mode, &problems));
    Ok(())
}

/// One line per record: pass when the check found nothing wrong with it, else its problems.
fn judge_records(plan: &Plan, mode: Mode, problems: &[PlanProblem]) -> Vec<CheckLine> {
    let mut lines = Vec::new();
    for (i, record) in plan.dns.iter().enumerate() {
        let prefix = format!("dns[{i}].");
        let own: Vec<_> = problems
            .iter()
            .filter(|p| p.field.starts_with(&prefix))
            .collect();
        let name = if mode == Mode::Drill {
            &record.drill_record_name
        } else {
            &record.record_name
        };
        if own.is_empty() {
            lines.push(line(
                "dns-record",
                Status::Pass,
                name.as_str(),
                format!(
                    "in hosted zone {}{}",
                    record.hosted_zone_id,
                    if mode == Mode::Drill {
                        " (a plain drill name, not production's)"
                    } else {
                        ""
                    }
                ),
            ));
        }
        for problem in own {
            lines.push(
                line(
                    "dns-record",
                    Status::Fail,
                    name.as_str(),
                    format!("{}: {}", problem.field, problem.message),
                )
                .fix(problem.fix.clone()),
            );
        }
    }
    lines
}

/// Each failoverAlarm record's alarm and Elastic IP, in the DR region (one call for all
/// alarms, one for all addresses): the alarm exists, watches one metric against a static
/// threshold and keeps ALARM without new data; the Elastic IP exists (attached elsewhere is
/// a warning: the failover moves it).
pub(super) async fn check_failover_alarms(
    clients: &Clients,
    plan: &Plan,
    lines: &mut Vec<CheckLine>,
) -> Result<(), BackstopError> {
    let records: Vec<_> = plan
        .dns
        .iter()
        .filter(|r| r.method == crate::plan::DnsMethod::FailoverAlarm)
        .collect();
    if records.is_empty() {
        return Ok(());
    }
    let names: Vec<String> = records
        .iter()
        .filter_map(|r| r.alarm_name.clone())
        .collect();
    let alarms =
        match crate::aws::failover_alarm::describe_alarms(&clients.cloudwatch, &names).await {
            Ok(alarms) => alarms,
            Err(err) => {
                lines.push(unchecked("failover-alarm", &names.join(", "), err)?);
                return Ok(());
            }
        };
    for record in &records {
        let name = record.alarm_name.clone().unwrap_or_default();
        lines.push(judge_alarm(plan, record, alarms.get(&name)));
    }
    let allocations: Vec<String> = records
        .iter()
        .filter_map(|r| r.elastic_ip_allocation_id.clone())
        .collect();
    let addresses = match describe_addresses(&clients.ec2, &allocations).await {
        Ok(Some(found)) => found,
        // one unknown id fails the whole call: read them one by one to name it
        Ok(None) => {
            let mut found = Vec::new();
            for id in &allocations {
                match describe_addresses(&clients.ec2, std::slice::from_ref(id)).await {
                    Ok(one) => found.extend(one.unwrap_or_default()),
                    Err(err) => {
                        lines.push(unchecked("elastic-ip", id, err)?);
                        return Ok(());
                    }
                }
            }
            found
        }
        Err(err) => {
            lines.push(unchecked("elastic-ip", &allocations.join(", "), err)?);
            return Ok(());
        }
    };
    for record in &records {
        let id = record
            .elastic_ip_allocation_id
            .as_deref()
            .unwrap_or_default();
        let address = addresses.iter().find(|a| a.allocation_id() == Some(id));
        lines.push(judge_address(plan, record, address));
    }
    check_internet_routes(&clients.ec2, plan, &records, lines).await
}

/// A failoverAlarm record's alarm: it exists and can be driven into ALARM by a datapoint.
fn judge_alarm(plan: &Plan, record: &DnsRecordPlan, alarm: Option<&MetricAlarm>) -> CheckLine {
    let name = record.alarm_name.clone().unwrap_or_default();
    let found = alarm.ok_or_else(|| {
        (
            format!("alarm {name} does not exist in {}", plan.dr_region),
            "create it in the DR region before a failover needs it (docs/reference.md: DNS without us-east-1)"
                .to_string(),
        )
    });
    match found.and_then(crate::aws::failover_alarm::trigger) {
        Ok(trigger) => line(
            "failover-alarm",
            Status::Pass,
            record.record_name.as_str(),
            format!(
                "alarm {name} on {}/{}, state {}; the failover puts {}",
                trigger.namespace,
                trigger.metric_name,
                if trigger.in_alarm {
                    "ALARM (the DR side already answers)"
                } else {
                    "not ALARM"
                },
                trigger.breaching_value
            ),
        ),
        Err((why, fix)) => line(
            "failover-alarm",
            Status::Fail,
            record.record_name.as_str(),
            why,
        )
        .fix(fix),
    }
}

/// A failoverAlarm record's Elastic IP: it exists; attached elsewhere is a warning (the
/// failover moves it).
fn judge_address(plan: &Plan, record: &DnsRecordPlan, address: Option<&Address>) -> CheckLine {
    let id = record
        .elastic_ip_allocation_id
        .as_deref()
        .unwrap_or_default();
    match address {
        None => line(
            "elastic-ip",
            Status::Fail,
            id,
            format!("{} holds it, but it does not exist in {}", record.record_name, plan.dr_region),
        )
        .fix("allocate an Elastic IP in the DR region, point the SECONDARY record at it, and put its allocation id in the plan"),
        // an unattached address may come back with an empty instance id
        Some(address) => match address.instance_id().filter(|id| !id.is_empty()) {
            Some(other) => line(
                "elastic-ip",
                Status::Warn,
                id,
                format!(
                    "{} is attached to {other}: a failover moves it to the launched instance",
                    address.public_ip().unwrap_or_default()
                ),
            ),
            None => line(
                "elastic-ip",
                Status::Pass,
                id,
                format!(
                    "{} for {}, free until a failover attaches it",
                    address.public_ip().unwrap_or_default(),
                    record.record_name
                ),
            ),
        },
    }
}

/// The Elastic IPs with these allocation ids; `None` when EC2 says one of them does not exist
/// (other errors, e.g. access denied or throttling, are errors: not "missing").
pub(super) async fn describe_addresses(
    ec2: &aws_sdk_ec2::Client,
    allocations: &[String],
) -> Result<Option<Vec<aws_sdk_ec2::types::Address>>, BackstopError> {
    match ec2
        .describe_addresses()
        .set_allocation_ids(Some(allocations.to_vec()))
        .send()
        .await
    {
        Ok(found) => Ok(Some(found.addresses().to_vec())),
        Err(err) => match classify_sdk_error("reading the Elastic IPs", err) {
            BackstopError::NotFound { .. } => Ok(None),
            BackstopError::Aws { code, .. } if code.starts_with("InvalidAllocationID") => Ok(None),
            other => Err(other),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::DnsMethod;
    use aws_sdk_cloudwatch::types::ComparisonOperator;

    use crate::plan::example_plan as plan;

    fn alarm_record() -> DnsRecordPlan {
        DnsRecordPlan {
            hosted_zone_id: "Z1".into(),
            record_name: "api.shop.example.com".into(),
            method: DnsMethod::FailoverAlarm,
            alarm_name: Some("shop-primary-down".into()),
            elastic_ip_allocation_id: Some("eipalloc-1".into()),
            ..Default::default()
        }
    }

    #[test]
    fn a_record_passes_under_the_name_the_mode_writes_or_fails_with_each_of_its_problems() {
        let plan = plan();
        let drill = judge_records(&plan, Mode::Drill, &[]);
        assert_eq!(drill.len(), plan.dns.len());
        assert_eq!(drill[0].status, Status::Pass);
        assert_eq!(drill[0].resource, plan.dns[0].drill_record_name);
        assert!(drill[0].detail.contains("not production's"));

        let problems = [
            PlanProblem {
                field: "dns[0].drillRecordName".into(),
                message: "names a record production uses".into(),
                fix: "choose a name of its own".into(),
            },
            PlanProblem {
                field: "dns[7].recordName".into(),
                message: "another record's problem".into(),
                fix: "-".into(),
            },
        ];
        let failover = judge_records(&plan, Mode::Failover, &problems);
        assert_eq!(failover[0].resource, plan.dns[0].record_name);
        assert_eq!(failover[0].status, Status::Fail);
        assert_eq!(
            failover[0].detail,
            "dns[0].drillRecordName: names a record production uses"
        );
        assert_eq!(failover[0].fix.as_deref(), Some("choose a name of its own"));
        assert!(failover.iter().all(|l| !l.detail.contains("another")));
    }

    #[test]
    fn a_failover_alarm_must_exist_in_the_dr_region_and_be_one_a_datapoint_can_breach() {
        let plan = plan();
        let record = alarm_record();
        let missing = judge_alarm(&plan, &record, None);
        assert_eq!(missing.status, Status::Fail);
        assert_eq!(
            missing.detail,
            "alarm shop-primary-down does not exist in us-west-2"
        );
        let alarm = |missing_data: &str| {
            MetricAlarm::builder()
                .alarm_name("shop-primary-down")
                .namespace(crate::aws::failover_alarm::METRIC_NAMESPACE)
                .metric_name("FailoverActive")
                .threshold(1.0)
                .comparison_operator(ComparisonOperator::GreaterThanOrEqualToThreshold)
                .treat_missing_data(missing_data)
                .build()
        };
        let good = judge_alarm(&plan, &record, Some(&alarm("ignore")));
        assert_eq!(good.status, Status::Pass, "{good:?}");
        assert!(good.detail.contains("the failover puts 1"), "{good:?}");
        let forgetful = alarm("notBreaching");
        assert_eq!(
            judge_alarm(&plan, &record, Some(&forgetful)).status,
            Status::Fail
        );
    }

    #[test]
    fn an_elastic_ip_must_exist_and_one_attached_elsewhere_is_only_a_warning() {
        let plan = plan();
        let record = alarm_record();
        let missing = judge_address(&plan, &record, None);
        assert_eq!(
            (missing.status, missing.resource.as_str()),
            (Status::Fail, "eipalloc-1")
        );
        let address = |instance: &str| {
            Address::builder()
                .allocation_id("eipalloc-1")
                .public_ip("203.0.113.7")
                .instance_id(instance)
                .build()
        };
        let free = address("");
        let line = judge_address(&plan, &record, Some(&free));
        assert_eq!(
            line.status,
            Status::Pass,
            "an empty instance id is unattached"
        );
        let attached = address("i-0old");
        let line = judge_address(&plan, &record, Some(&attached));
        assert_eq!(line.status, Status::Warn);
        assert!(line.detail.contains("203.0.113.7 is attached to i-0old"));
    }
}
