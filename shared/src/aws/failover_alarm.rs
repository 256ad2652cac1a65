//! DNS without us-east-1: a record planned as `failoverAlarm` is a Route 53 failover-routing
//! pair set up ahead of time. The PRIMARY record's health check follows a CloudWatch alarm in
//! the DR region; the SECONDARY record holds a DR-region Elastic IP. A failover associates that
//! Elastic IP with the launched instance and puts the datapoint that sets the alarm (EC2 and
//! CloudWatch in the DR region only); Route 53's data plane then answers with the SECONDARY.

use aws_sdk_cloudwatch::types::{
    ComparisonOperator, Dimension, MetricAlarm, MetricDatum, StateValue,
};

use crate::error::{BackstopError, SdkContext};
use crate::model::instances::LaunchedInstance;
use crate::plan::DnsRecordPlan;

/// The alarm as the switch needs it: the metric to put and a value that breaches it.
#[derive(Debug, Clone, PartialEq)]
pub struct AlarmBreach {
    pub alarm_name: String,
    pub namespace: String,
    pub metric_name: String,
    pub dimensions: Vec<(String, String)>,
    pub breaching_value: f64,
    pub in_alarm: bool,
}

/// Reads the named alarms (one call per 100 names). Missing names are absent from the map.
pub async fn describe_alarms(
    cloudwatch: &aws_sdk_cloudwatch::Client,
    names: &[String],
) -> Result<std::collections::HashMap<String, MetricAlarm>, BackstopError> {
    let mut found = std::collections::HashMap::new();
    for chunk in names.chunks(100) {
        let answer = cloudwatch
            .describe_alarms()
            .set_alarm_names(Some(chunk.to_vec()))
            .alarm_types(aws_sdk_cloudwatch::types::AlarmType::MetricAlarm)
            .send()
            .await
            .context("reading the failover alarms")?;
        for alarm in answer.metric_alarms() {
            if let Some(name) = alarm.alarm_name() {
                found.insert(name.to_string(), alarm.clone());
            }
        }
    }
    Ok(found)
}

/// The only namespace `switch-dns` may put metric data in (the template's condition on
/// `cloudwatch:PutMetricData`).
pub const METRIC_NAMESPACE: &str = "Backstop";

/// Why an alarm cannot carry a failover, with the fix; `Ok` the metric and breaching value.
/// The alarm must watch one metric against a static threshold and keep its state while no
/// data arrives (`TreatMissingData: ignore`): otherwise it would return to OK a few minutes
/// after the failover and Route 53 would send clients back to the failed region.
pub fn trigger(alarm: &MetricAlarm) -> Result<AlarmBreach, (String, String)> {
    let name = alarm.alarm_name().unwrap_or_default().to_string();
    let (Some(namespace), Some(metric_name)) = (alarm.namespace(), alarm.metric_name()) else {
        return Err((
            format!("alarm {name} does not watch a single metric (metric math or anomaly detection)"),
            "create it on one metric, e.g. namespace Backstop, metric FailoverActive, Maximum over 60 s, >= 1".into(),
        ));
    };
    if namespace != METRIC_NAMESPACE {
        return Err((
            format!(
                "alarm {name} watches a metric in namespace {namespace}: Backstop may put data only in namespace {METRIC_NAMESPACE} (its role is limited to it)"
            ),
            format!("watch a metric of namespace {METRIC_NAMESPACE}, e.g. FailoverActive, Maximum over 60 s, >= 1"),
        ));
    }
    let threshold = alarm.threshold().unwrap_or(0.0);
    let breaching_value = match alarm.comparison_operator() {
        Some(ComparisonOperator::GreaterThanOrEqualToThreshold)
        | Some(ComparisonOperator::LessThanOrEqualToThreshold) => threshold,
        Some(ComparisonOperator::GreaterThanThreshold) => threshold + 1.0,
        Some(ComparisonOperator::LessThanThreshold) => threshold - 1.0,
        other => {
            return Err((
                format!(
                    "alarm {name} compares with {}, which a datapoint cannot be chosen to breach",
                    other.map(|o| o.as_str()).unwrap_or("no operator")
                ),
                "use a static threshold: GreaterThanOrEqualToThreshold 1".into(),
            ))
        }
    };
    if alarm.treat_missing_data() != Some("ignore") {
        return Err((
            format!(
                "alarm {name} treats missing data as {}: minutes after the failover's datapoint it would leave ALARM and Route 53 would send clients back to the failed region",
                alarm.treat_missing_data().unwrap_or("missing")
            ),
            "set TreatMissingData to ignore (the alarm keeps its state until the next datapoint)".into(),
        ));
    }
    Ok(AlarmBreach {
        alarm_name: name,
        namespace: namespace.to_string(),
        metric_name: metric_name.to_string(),
        dimensions: alarm
            .dimensions()
            .iter()
            .map(|d| {
                (
                    d.name().unwrap_or_default().to_string(),
                    d.value().unwrap_or_default().to_string(),
                )
            })
            .collect(),
        breaching_value,
        in_alarm: alarm.state_value() == Some(&StateValue::Alarm),
    })
}

/// What a failover did for one failoverAlarm record.
#[derive(Debug, Clone, PartialEq)]
pub struct AlarmSwitch {
    pub public_ip: String,
    pub address_moved: bool,
    pub datapoint_put: bool,
    pub in_alarm: bool,
}

/// Moves the record's Elastic IP to `instance` (already there: nothing to do) and, unless the
/// alarm is already in ALARM, puts the datapoint that breaches it. Safe to repeat.
pub async fn switch(
    ec2: &aws_sdk_ec2::Client,
    cloudwatch: &aws_sdk_cloudwatch::Client,
    record: &DnsRecordPlan,
    instance: &LaunchedInstance,
) -> Result<AlarmSwitch, BackstopError> {
    let allocation = record.elastic_ip_allocation_id.clone().unwrap_or_default();
    let alarm_name = record.alarm_name.clone().unwrap_or_default();
    let addresses = ec2
        .describe_addresses()
        .allocation_ids(&allocation)
        .send()
        .await
        .context(format!("reading Elastic IP {allocation}"))?;
    let address = addresses.addresses().first().ok_or_else(|| {
        BackstopError::not_found(
            format!("Elastic IP {allocation}"),
            format!(
                "{} holds it, but it does not exist in the DR region",
                record.record_name
            ),
        )
    })?;
    let public_ip = address.public_ip().unwrap_or_default().to_string();
    let address_moved = address.instance_id() != Some(instance.instance_id.as_str());
    if address_moved {
        ec2.associate_address()
            .allocation_id(&allocation)
            .instance_id(&instance.instance_id)
            .allow_reassociation(true)
            .send()
            .await
            .context(format!(
                "associating Elastic IP {allocation} with {}",
                instance.instance_id
            ))?;
        tracing::info!(%allocation, instance = %instance.instance_id, %public_ip, "Elastic IP associated");
    }
    let alarms = describe_alarms(cloudwatch, std::slice::from_ref(&alarm_name)).await?;
    let alarm = alarms.get(&alarm_name).ok_or_else(|| {
        BackstopError::not_found(
            format!("alarm {alarm_name}"),
            format!(
                "{}'s health check follows it, but it does not exist in the DR region",
                record.record_name
            ),
        )
    })?;
    let trigger = trigger(alarm).map_err(|(why, fix)| {
        BackstopError::invalid_input("plan.dns[].alarmName", format!("{why} (fix: {fix})"))
    })?;
    if !trigger.in_alarm {
        put_breaching_datapoint(cloudwatch, &trigger).await?;
    }
    Ok(AlarmSwitch {
        public_ip,
        address_moved,
        datapoint_put: !trigger.in_alarm,
        in_alarm: trigger.in_alarm,
    })
}

async fn put_breaching_datapoint(
    cloudwatch: &aws_sdk_cloudwatch::Client,
    trigger: &AlarmBreach,
) -> Result<(), BackstopError> {
    let datum = MetricDatum::builder()
        .metric_name(&trigger.metric_name)
        .set_dimensions(Some(
            trigger
                .dimensions
                .iter()
                .map(|(name, value)| Dimension::builder().name(name).value(value).build())
                .collect(),
        ))
        .value(trigger.breaching_value)
        .timestamp(aws_sdk_cloudwatch::primitives::DateTime::from(
            std::time::SystemTime::now(),
        ))
        .build();
    cloudwatch
        .put_metric_data()
        .namespace(&trigger.namespace)
        .metric_data(datum)
        .send()
        .await
        .context(format!(
            "putting {}/{} for alarm {}",
            trigger.namespace, trigger.metric_name, trigger.alarm_name
        ))?;
    tracing::info!(alarm = %trigger.alarm_name, value = trigger.breaching_value, "failover datapoint put");
    Ok(())
}

/// Whether the alarm is in ALARM now (Route 53's health check then reports the PRIMARY
/// unhealthy and answers with the SECONDARY).
pub async fn in_alarm(
    cloudwatch: &aws_sdk_cloudwatch::Client,
    alarm_name: &str,
) -> Result<bool, BackstopError> {
    let alarms = describe_alarms(cloudwatch, &[alarm_name.to_string()]).await?;
    Ok(alarms
        .get(alarm_name)
        .is_some_and(|alarm| alarm.state_value() == Some(&StateValue::Alarm)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alarm(operator: ComparisonOperator, missing: &str) -> MetricAlarm {
        MetricAlarm::builder()
            .alarm_name("app-failover")
            .namespace("Backstop")
            .metric_name("FailoverActive")
            .dimensions(
                Dimension::builder()
                    .name("Record")
                    .value("app.example.com")
                    .build(),
            )
            .comparison_operator(operator)
            .threshold(1.0)
            .treat_missing_data(missing)
            .state_value(StateValue::Ok)
            .build()
    }

    #[test]
    fn the_datapoint_breaches_the_alarms_own_threshold() {
        let at_least = trigger(&alarm(
            ComparisonOperator::GreaterThanOrEqualToThreshold,
            "ignore",
        ))
        .unwrap();
        assert_eq!(at_least.breaching_value, 1.0);
        assert_eq!(
            at_least.dimensions,
            vec![("Record".into(), "app.example.com".into())]
        );
        let above = trigger(&alarm(ComparisonOperator::GreaterThanThreshold, "ignore")).unwrap();
        assert_eq!(above.breaching_value, 2.0);
        let below = trigger(&alarm(ComparisonOperator::LessThanThreshold, "ignore")).unwrap();
        assert_eq!(below.breaching_value, 0.0);
    }

    #[test]
    fn an_alarm_that_would_fall_back_to_ok_or_cannot_be_breached_is_refused_with_the_fix() {
        let (why, fix) = trigger(&alarm(
            ComparisonOperator::GreaterThanOrEqualToThreshold,
            "notBreaching",
        ))
        .unwrap_err();
        assert!(why.contains("notBreaching"), "{why}");
        assert!(fix.contains("TreatMissingData to ignore"), "{fix}");
        let (why, _) = trigger(&alarm(
            ComparisonOperator::LessThanLowerOrGreaterThanUpperThreshold,
            "ignore",
        ))
        .unwrap_err();
        assert!(
            why.contains("LessThanLowerOrGreaterThanUpperThreshold"),
            "{why}"
        );
        let math = MetricAlarm::builder()
            .alarm_name("math")
            .treat_missing_data("ignore")
            .build();
        assert!(trigger(&math).unwrap_err().0.contains("single metric"));
        // Backstop's role may put data only in its own namespace
        let elsewhere = MetricAlarm::builder()
            .namespace("Shop/Health")
            .metric_name("Down")
            .comparison_operator(ComparisonOperator::GreaterThanOrEqualToThreshold)
            .treat_missing_data("ignore")
            .build();
        let (why, fix) = trigger(&elsewhere).unwrap_err();
        assert!(why.contains("Shop/Health"), "{why}");
        assert!(fix.contains("namespace Backstop"), "{fix}");
    }
}
