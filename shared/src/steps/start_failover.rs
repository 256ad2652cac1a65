//! CloudWatch alarms that start a failover, in the two shapes AWS delivers them: the
//! `CloudWatch Alarm State Change` EventBridge event and the payload of an alarm's Lambda
//! action (metric and composite alarms alike). Exactly one failover runs per incident: the
//! execution name derives from the alarm and the time it changed state (duplicate deliveries
//! of one change start nothing new), and no failover starts while one for the same plan runs
//! (flapping alarms, several alarms for one outage). Step Functions lists executions eventually
//! consistently, so the failover this function last started is also recorded in the run-state
//! bucket and asked after by its ARN: a second alarm a moment after the first sees it even
//! before `ListExecutions` does.

use aws_lambda_events::event::cloudwatch_alarms::{CloudWatchAlarm, CloudWatchAlarmData};
use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use aws_smithy_types::date_time::Format;
use aws_smithy_types::DateTime;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::aws::store::RunStore;
use crate::aws::tags::digest;
use crate::aws::{Clients, Settings};
use crate::error::{classify_sdk_error, BackstopError, SdkContext};
use crate::steps::resolve::parse_input;
use crate::steps::Invocation;

const DETAIL_TYPE: &str = "CloudWatch Alarm State Change";

/// One change of an alarm's state, whichever way it was delivered.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AlarmTransition {
    pub alarm_name: String,
    pub alarm_arn: String,
    /// `ALARM`, `OK` or `INSUFFICIENT_DATA`.
    pub state: String,
    pub previous_state: Option<String>,
    /// When the alarm entered `state` (RFC 3339, milliseconds, UTC).
    pub changed_at: String,
    pub composite: bool,
    /// `eventbridge` or `alarm-action`.
    pub delivered_by: &'static str,
    /// The account and region the event says it comes from (`account`/`accountId`, `region`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
}

type AlarmData = CloudWatchAlarmData<Value, Value>;

/// Reads either shape; a wrong source, a missing detail or a field of the wrong type is an
/// error naming the field.
pub fn parse_alarm_event(event: Value) -> Result<AlarmTransition, BackstopError> {
    let Some(object) = event.as_object() else {
        return Err(BackstopError::invalid_input(
            "event",
            "is not a JSON object: expected a CloudWatch Alarm State Change event or an alarm's Lambda action payload",
        ));
    };
    let source = object.get("source").and_then(Value::as_str);
    if source != Some("aws.cloudwatch") {
        return Err(BackstopError::invalid_input(
            "source",
            format!(
                "is {}, not \"aws.cloudwatch\": only CloudWatch alarms start a failover (route only alarm events to this function)",
                source.map(|s| format!("{s:?}")).unwrap_or_else(|| "missing".into())
            ),
        ));
    }
    if object.contains_key("detail-type") {
        let envelope: EventBridgeEvent<Option<AlarmData>> = parse_input(event)?;
        if envelope.detail_type != DETAIL_TYPE {
            return Err(BackstopError::invalid_input(
                "detail-type",
                format!(
                    "is {:?}; only \"{DETAIL_TYPE}\" events start a failover",
                    envelope.detail_type
                ),
            ));
        }
        let data = envelope.detail.ok_or_else(|| {
            BackstopError::invalid_input("detail", "is missing: the event carries no alarm data")
        })?;
        let arn = envelope
            .resources
            .unwrap_or_default()
            .into_iter()
            .find(|arn| arn.contains(":alarm:"))
            .ok_or_else(|| {
                BackstopError::invalid_input(
                    "resources",
                    "names no alarm ARN (arn:aws:cloudwatch:…:alarm:…)",
                )
            })?;
        let mut transition = transition(data, arn, "detail", "eventbridge")?;
        transition.account = envelope.account;
        transition.region = envelope.region;
        Ok(transition)
    } else if object.contains_key("alarmData") {
        let payload: CloudWatchAlarm<Value, Value> = parse_input(event)?;
        let arn = payload
            .alarm_arn
            .filter(|arn| arn.contains(":alarm:"))
            .ok_or_else(|| {
                BackstopError::invalid_input("alarmArn", "is missing or not an alarm ARN")
            })?;
        let mut transition = transition(payload.alarm_data, arn, "alarmData", "alarm-action")?;
        transition.account = payload.account_id;
        transition.region = payload.region;
        Ok(transition)
    } else {
        Err(BackstopError::invalid_input(
            "detail-type",
            "is missing, and so is alarmData: expected a CloudWatch Alarm State Change event or an alarm's Lambda action payload",
        ))
    }
}

fn transition(
    data: AlarmData,
    alarm_arn: String,
    prefix: &str,
    delivered_by: &'static str,
) -> Result<AlarmTransition, BackstopError> {
    let state = data.state.ok_or_else(|| {
        BackstopError::invalid_input(
            format!("{prefix}.state"),
            "is missing: the alarm's new state is needed",
        )
    })?;
    if data.alarm_name.trim().is_empty() {
        return Err(BackstopError::invalid_input(
            format!("{prefix}.alarmName"),
            "is empty",
        ));
    }
    let composite = data.configuration.get("alarmRule").is_some();
    Ok(AlarmTransition {
        alarm_name: data.alarm_name,
        alarm_arn,
        state: state_name(&state.value),
        previous_state: data.previous_state.map(|p| state_name(&p.value)),
        changed_at: state.timestamp.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        composite,
        delivered_by,
        account: None,
        region: None,
    })
}

fn state_name(value: &impl Serialize) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// Where failovers start: the state machine, the plan they recover and the alarms that may
/// start them (by name, in the stack's own account and region). From the function's
/// environment.
#[derive(Debug, Clone)]
pub struct FailoverTrigger {
    pub state_machine_arn: String,
    pub plan_parameter: String,
    pub alarm_names: Vec<String>,
    /// `arn:<partition>:cloudwatch:<region>:<account>:alarm:`: the stack's own alarms.
    pub alarm_arn_prefix: String,
}

impl FailoverTrigger {
    /// The stack's settings for this function: each one missing is an error naming it.
    pub fn from_settings(settings: &Settings) -> Result<Self, BackstopError> {
        let required = Settings::required;
        Ok(FailoverTrigger {
            state_machine_arn: required(&settings.state_machine_arn, "STATE_MACHINE_ARN")?.into(),
            plan_parameter: required(&settings.plan_parameter, "PLAN_PARAMETER")?.into(),
            // none configured (the template's default) is a stack no alarm fails over
            alarm_names: (settings.failover_alarms.as_deref().unwrap_or_default())
                .split(',')
                .map(str::trim)
                .filter(|name| !name.is_empty())
                .map(str::to_string)
                .collect(),
            alarm_arn_prefix: required(
                &settings.failover_alarm_arn_prefix,
                "FAILOVER_ALARM_ARN_PREFIX",
            )?
            .into(),
        })
    }

    /// The ARN of the configured alarm `name`.
    pub fn alarm_arn(&self, name: &str) -> String {
        format!("{}{name}", self.alarm_arn_prefix)
    }

    /// The stack's account and region, from the alarm ARN prefix.
    fn account_and_region(&self) -> (&str, &str) {
        let mut parts = self.alarm_arn_prefix.split(':');
        let region = parts.nth(3).unwrap_or_default();
        let account = parts.next().unwrap_or_default();
        (account, region)
    }
}

/// Why an event is not an authentic move of a configured alarm, naming the field: only the
/// stack's own alarms (by ARN: same account and region, the configured name) start a failover.
/// A same-named alarm of another account or region, or an action payload whose ARN names
/// another alarm, is refused.
pub fn check_authentic(
    trigger: &FailoverTrigger,
    transition: &AlarmTransition,
) -> Result<(), BackstopError> {
    if !trigger.alarm_names.contains(&transition.alarm_name) {
        return Err(BackstopError::invalid_input(
            "alarmName",
            format!(
                "alarm {:?} is not one that starts a failover of {} (configured: {}); add it to the stack's FailoverAlarmNames, or remove this function from the alarm's actions",
                transition.alarm_name,
                trigger.plan_parameter,
                if trigger.alarm_names.is_empty() { "none".to_string() } else { trigger.alarm_names.join(", ") }
            ),
        ));
    }
    let (account, region) = trigger.account_and_region();
    let (account_field, arn_field) = match transition.delivered_by {
        "eventbridge" => ("account", "resources"),
        _ => ("accountId", "alarmArn"),
    };
    if transition.account.as_deref() != Some(account) {
        return Err(BackstopError::invalid_input(
            account_field,
            format!(
                "is {:?}: only alarms of this stack's account ({account}) start its failover; route only this account's alarm events to this function",
                transition.account.as_deref().unwrap_or("missing")
            ),
        ));
    }
    if transition.region.as_deref() != Some(region) {
        return Err(BackstopError::invalid_input(
            "region",
            format!(
                "is {:?}: only alarms of this stack's region ({region}) start its failover; create the alarm in {region}",
                transition.region.as_deref().unwrap_or("missing")
            ),
        ));
    }
    let expected = trigger.alarm_arn(&transition.alarm_name);
    if transition.alarm_arn != expected {
        return Err(BackstopError::invalid_input(
            arn_field,
            format!(
                "names {}, not the configured alarm {expected}: the event does not come from the alarm it names",
                transition.alarm_arn
            ),
        ));
    }
    Ok(())
}

/// The alarm's state now, as CloudWatch says (`None`: no such alarm).
async fn current_state(
    cloudwatch: &aws_sdk_cloudwatch::Client,
    name: &str,
) -> Result<Option<String>, BackstopError> {
    use aws_sdk_cloudwatch::types::AlarmType;
    let described = cloudwatch
        .describe_alarms()
        .alarm_names(name)
        .alarm_types(AlarmType::MetricAlarm)
        .alarm_types(AlarmType::CompositeAlarm)
        .send()
        .await
        .context(format!("reading alarm {name}"))?;
    let metric = described
        .metric_alarms()
        .iter()
        .find(|a| a.alarm_name() == Some(name))
        .and_then(|a| a.state_value().map(|s| s.as_str().to_string()));
    let composite = described
        .composite_alarms()
        .iter()
        .find(|a| a.alarm_name() == Some(name))
        .and_then(|a| a.state_value().map(|s| s.as_str().to_string()));
    Ok(metric.or(composite))
}

/// What `start-failover` did with one alarm event.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TriggerOutcome {
    /// `started` or `ignored`.
    pub action: &'static str,
    pub execution_name: Option<String>,
    pub execution_arn: Option<String>,
    pub reason: String,
    pub alarm: AlarmTransition,
}

/// The execution name of the failover for one alarm transition: the same change delivered
/// twice (or by both the rule and the alarm action) gives the same name.
pub fn execution_name(transition: &AlarmTransition) -> String {
    let slug: String = transition
        .alarm_name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .take(32)
        .collect();
    let when: String = transition
        .changed_at
        .chars()
        .filter(|c| c.is_ascii_digit())
        .collect();
    format!(
        "failover-{slug}-{}-{}",
        &when[..when.len().min(17)],
        &digest(&[&transition.alarm_arn, &transition.changed_at])[..8]
    )
}

/// The execution input of that failover: deterministic, so Step Functions treats a repeated
/// start with the same name as the same request.
pub fn execution_input(trigger: &FailoverTrigger, transition: &AlarmTransition) -> Value {
    json!({
        "mode": "failover",
        "planParameter": trigger.plan_parameter,
        "trigger": {
            "alarmName": transition.alarm_name,
            "alarmArn": transition.alarm_arn,
            "changedAt": transition.changed_at,
        },
    })
}

/// The failover `start-failover` last started for a plan (`failovers/<plan digest>.json` in
/// the run-state bucket).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LastFailover {
    pub plan_parameter: String,
    pub execution_name: String,
    pub execution_arn: String,
    /// RFC 3339.
    pub started_at: String,
}

/// Where the last failover of a plan is recorded.
pub fn last_failover_key(plan_parameter: &str) -> String {
    format!("failovers/{}.json", digest(&[plan_parameter]))
}

/// How long an execution just started may be unknown to DescribeExecution (eventual
/// consistency); after that, an unknown execution is not running.
const NOT_YET_VISIBLE_SECONDS: i64 = 300;

/// Whether the recorded failover still runs (or was started too recently to be described).
async fn still_running(
    sfn: &aws_sdk_sfn::Client,
    last: &LastFailover,
) -> Result<bool, BackstopError> {
    let status = match sfn
        .describe_execution()
        .execution_arn(&last.execution_arn)
        .send()
        .await
    {
        Ok(described) => Some(described.status().clone()),
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_execution_does_not_exist()) =>
        {
            None
        }
        Err(err) => {
            return Err(classify_sdk_error(
                format!("reading failover {}", last.execution_name),
                err,
            ))
        }
    };
    let now = DateTime::from(std::time::SystemTime::now()).secs();
    Ok(counts_as_running(status.as_ref(), &last.started_at, now))
}

/// A recorded failover runs while Step Functions says RUNNING; one it does not know (yet)
/// runs only if it was started within the time an execution may take to become visible.
fn counts_as_running(
    status: Option<&aws_sdk_sfn::types::ExecutionStatus>,
    started_at: &str,
    now: i64,
) -> bool {
    match status {
        Some(status) => *status == aws_sdk_sfn::types::ExecutionStatus::Running,
        None => DateTime::from_str(started_at, Format::DateTime)
            .is_ok_and(|started| now - started.secs() < NOT_YET_VISIBLE_SECONDS),
    }
}

/// The name of the failover this function last started for the plan, if it still runs.
async fn recorded_failover(
    sfn: &aws_sdk_sfn::Client,
    store: &RunStore,
    trigger: &FailoverTrigger,
) -> Result<Option<String>, BackstopError> {
    let key = last_failover_key(&trigger.plan_parameter);
    // the record only adds to the listing: one that cannot be read, or that names another
    // plan or state machine, must not block a failover at 3 a.m.
    let last: Option<LastFailover> = match store.get_at(&key).await {
        Ok(last) => last,
        Err(err @ BackstopError::InvalidInput { .. }) => {
            tracing::warn!(%err, %key, "the failover record is unreadable: ignored");
            None
        }
        Err(err) => return Err(err),
    };
    let executions_of_machine =
        trigger
            .state_machine_arn
            .replacen(":stateMachine:", ":execution:", 1)
            + ":";
    let ours = |l: &LastFailover| {
        l.plan_parameter == trigger.plan_parameter
            && l.execution_arn.starts_with(&executions_of_machine)
    };
    match last.filter(ours) {
        Some(last) if still_running(sfn, &last).await? => Ok(Some(last.execution_name)),
        _ => Ok(None),
    }
}

/// Starts at most one failover for the transition: only a move into ALARM of a configured
/// alarm of the stack's account and region that CloudWatch says is in ALARM now, and only if
/// no failover of the same plan is running.
pub async fn start_failover(
    sfn: &aws_sdk_sfn::Client,
    cloudwatch: &aws_sdk_cloudwatch::Client,
    store: &RunStore,
    trigger: &FailoverTrigger,
    transition: AlarmTransition,
) -> Result<TriggerOutcome, BackstopError> {
    let ignored = |reason: String, name: Option<String>, alarm: AlarmTransition| {
        tracing::info!(alarm = %alarm.alarm_name, state = %alarm.state, "ignored: {reason}");
        Ok(TriggerOutcome {
            action: "ignored",
            execution_name: name,
            execution_arn: None,
            reason,
            alarm,
        })
    };
    if transition.state != "ALARM" {
        let reason = format!(
            "alarm {} moved to {}; only a move into ALARM starts a failover",
            transition.alarm_name, transition.state
        );
        return ignored(reason, None, transition);
    }
    if transition.previous_state.as_deref() == Some("ALARM") {
        let reason = format!(
            "alarm {} was already in ALARM (its reason changed): not a new incident",
            transition.alarm_name
        );
        return ignored(reason, None, transition);
    }
    check_authentic(trigger, &transition)?;
    let name = execution_name(&transition);
    // listed as running, or recorded as started a moment ago (perhaps not listed yet)
    let running = match running_failover(sfn, trigger).await? {
        Some(listed) => Some(listed),
        None => recorded_failover(sfn, store, trigger).await?,
    };
    if let Some(running) = running {
        let reason = if running == name {
            format!(
                "failover {running} for this alarm change is already running (a repeated delivery)"
            )
        } else {
            format!(
                "failover {running} of plan {} is already running; one failover per incident",
                trigger.plan_parameter
            )
        };
        return ignored(reason, Some(running), transition);
    }
    // the event's word is not enough: CloudWatch itself must say the alarm is in ALARM now
    match current_state(cloudwatch, &transition.alarm_name)
        .await?
        .as_deref()
    {
        Some("ALARM") => {}
        state => {
            let reason = format!(
                "alarm {} is {} now (DescribeAlarms), not ALARM: the event is stale or not CloudWatch's; nothing started",
                transition.alarm_name,
                state.unwrap_or("not found")
            );
            return ignored(reason, None, transition);
        }
    }
    let marker = last_failover_key(&trigger.plan_parameter);
    let input = execution_input(trigger, &transition);
    let requested_at = DateTime::from(std::time::SystemTime::now())
        .fmt(Format::DateTime)
        .unwrap_or_default();
    match crate::aws::executions::start(sfn, &trigger.state_machine_arn, &name, &input).await? {
        Some(arn) => {
            tracing::info!(execution = %name, alarm = %transition.alarm_name, "failover started");
            let started = LastFailover {
                plan_parameter: trigger.plan_parameter.clone(),
                execution_name: name.clone(),
                execution_arn: arn.clone(),
                started_at: requested_at,
            };
            // the run has started: a failed write only weakens the guard for the next alarm
            if let Err(err) = store.put_at(&marker, &started).await {
                tracing::warn!(%err, key = %marker, "the started failover could not be recorded");
            }
            Ok(TriggerOutcome {
                action: "started",
                execution_arn: Some(arn),
                execution_name: Some(name),
                reason: format!(
                    "alarm {} moved into ALARM at {}",
                    transition.alarm_name, transition.changed_at
                ),
                alarm: transition,
            })
        }
        None => {
            let reason = format!(
                "failover {name} for this alarm change already ran (a late repeated delivery)"
            );
            ignored(reason, Some(name), transition)
        }
    }
}

/// The name of a running failover of the trigger's plan, if any.
async fn running_failover(
    sfn: &aws_sdk_sfn::Client,
    trigger: &FailoverTrigger,
) -> Result<Option<String>, BackstopError> {
    let running = crate::aws::executions::running(sfn, &trigger.state_machine_arn).await?;
    Ok(running
        .into_iter()
        .find(|execution| {
            crate::aws::executions::failover_plan(&execution.input)
                == Some(format!("ssm:{}", trigger.plan_parameter))
        })
        .map(|execution| execution.name))
}

/// `StartFailoverFunction`: a configured alarm's move into ALARM starts a failover.
pub async fn run(
    clients: &Clients,
    event: Value,
    _: &Invocation,
) -> Result<TriggerOutcome, BackstopError> {
    let transition = parse_alarm_event(event)?;
    let trigger = FailoverTrigger::from_settings(&clients.settings)?;
    let (sfn, cloudwatch) = (&clients.sfn, &clients.cloudwatch);
    start_failover(sfn, cloudwatch, &clients.store()?, &trigger, transition).await
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_events::fixture;

    #[test]
    fn reads_the_eventbridge_event_of_a_metric_alarm() {
        let t = parse_alarm_event(fixture("cloudwatch-alarm-state-change-metric.json")).unwrap();
        assert_eq!(t.alarm_name, "ServerCpuTooHigh");
        assert_eq!(
            t.alarm_arn,
            "arn:aws:cloudwatch:us-east-1:123456789012:alarm:ServerCpuTooHigh"
        );
        assert_eq!(
            (t.state.as_str(), t.previous_state.as_deref()),
            ("ALARM", Some("OK"))
        );
        assert_eq!(t.changed_at, "2019-10-02T17:04:40.989Z");
        assert!(!t.composite);
        assert_eq!(t.delivered_by, "eventbridge");
    }

    #[test]
    fn reads_the_eventbridge_event_of_a_composite_alarm() {
        let t = parse_alarm_event(fixture("cloudwatch-alarm-state-change-composite.json")).unwrap();
        assert_eq!(t.alarm_name, "ServiceAggregatedAlarm");
        assert!(t.composite);
        assert_eq!(t.state, "ALARM");
    }

    #[test]
    fn reads_the_lambda_action_payloads() {
        let metric = parse_alarm_event(fixture("cloudwatch-alarm-action-metric.json")).unwrap();
        assert_eq!(metric.alarm_name, "lambda-demo-metric-alarm");
        assert_eq!(
            metric.alarm_arn,
            "arn:aws:cloudwatch:us-east-1:444455556666:alarm:lambda-demo-metric-alarm"
        );
        assert_eq!(metric.previous_state.as_deref(), Some("INSUFFICIENT_DATA"));
        assert_eq!(metric.changed_at, "2023-08-04T12:36:15.490Z");
        assert_eq!(metric.delivered_by, "alarm-action");
        let composite =
            parse_alarm_event(fixture("cloudwatch-alarm-action-composite.json")).unwrap();
        assert!(composite.composite);
        // ALARM -> ALARM (a new reason): not a new incident
        assert_eq!(composite.previous_state.as_deref(), Some("ALARM"));
    }

    #[test]
    fn the_same_change_always_gets_the_same_execution_name() {
        let eventbridge =
            parse_alarm_event(fixture("cloudwatch-alarm-state-change-metric.json")).unwrap();
        let name = execution_name(&eventbridge);
        assert_eq!(name, execution_name(&eventbridge.clone()));
        assert!(
            name.starts_with("failover-ServerCpuTooHigh-20191002170440989-"),
            "{name}"
        );
        assert!(name.len() <= 80);
        crate::model::run::RunId::try_from(name.clone()).expect("a valid run id");
        let later = AlarmTransition {
            changed_at: "2019-10-02T17:09:40.985Z".into(),
            ..eventbridge
        };
        assert_ne!(execution_name(&later), name);
        // any alarm name gives a valid execution name
        let odd = AlarmTransition {
            alarm_name: "prod / api: 5xx > 1% {ü}".repeat(5),
            ..later
        };
        crate::model::run::RunId::try_from(execution_name(&odd)).expect("a valid run id");
    }

    #[test]
    fn malformed_events_name_the_field() {
        let cases = [
            (json!([]), "event"),
            (
                json!({"source": "aws.backup", "detail-type": "CloudWatch Alarm State Change"}),
                "source",
            ),
            (
                json!({"source": "aws.cloudwatch", "detail-type": "CloudWatch Alarm Configuration Change", "detail": {"alarmName": "x", "configuration": {}}}),
                "detail-type",
            ),
            (
                json!({"source": "aws.cloudwatch", "detail-type": "CloudWatch Alarm State Change", "resources": ["arn:aws:cloudwatch:us-east-1:1:alarm:x"]}),
                "detail",
            ),
            (
                json!({"source": "aws.cloudwatch", "detail-type": "CloudWatch Alarm State Change", "resources": ["arn:aws:cloudwatch:us-east-1:1:alarm:x"], "detail": {"alarmName": 7, "configuration": {}}}),
                "detail.alarmName",
            ),
            (
                json!({"source": "aws.cloudwatch", "detail-type": "CloudWatch Alarm State Change", "resources": [], "detail": {"alarmName": "x", "configuration": {}, "state": {"value": "ALARM", "reason": "r", "timestamp": "2019-10-02T17:04:40.985+0000"}}}),
                "resources",
            ),
            (
                json!({"source": "aws.cloudwatch", "detail-type": "CloudWatch Alarm State Change", "resources": ["arn:aws:cloudwatch:us-east-1:1:alarm:x"], "detail": {"alarmName": "x", "configuration": {}, "state": {"value": "ALARM", "reason": "r", "timestamp": "yesterday"}}}),
                "detail.state.timestamp",
            ),
            (
                json!({"source": "aws.cloudwatch", "alarmArn": "arn:aws:cloudwatch:us-east-1:1:alarm:x", "time": "2019-10-02T17:04:40.985+0000", "alarmData": {"alarmName": "x", "configuration": {}}}),
                "alarmData.state",
            ),
            (json!({"source": "aws.cloudwatch"}), "detail-type"),
        ];
        for (event, field) in cases {
            let err = parse_alarm_event(event.clone()).unwrap_err();
            assert_eq!(err.error_name(), "Backstop.InvalidInput", "{event}");
            assert!(
                err.to_string().contains(&format!("`{field}`")),
                "{event}: {err}"
            );
        }
    }

    fn trigger() -> FailoverTrigger {
        FailoverTrigger {
            state_machine_arn:
                "arn:aws:states:us-west-2:123456789012:stateMachine:backstop-recovery".into(),
            plan_parameter: "/backstop/plan".into(),
            alarm_names: vec!["ServerCpuTooHigh".into(), "lambda-demo-metric-alarm".into()],
            alarm_arn_prefix: "arn:aws:cloudwatch:us-west-2:123456789012:alarm:".into(),
        }
    }

    /// The fixture, as the stack's own account and region would deliver it.
    fn ours(name: &str) -> AlarmTransition {
        let text = crate::test_events::fixture(name)
            .to_string()
            .replace("us-east-1", "us-west-2")
            .replace("444455556666", "123456789012");
        parse_alarm_event(serde_json::from_str(&text).unwrap()).unwrap()
    }

    #[test]
    fn only_the_stacks_own_configured_alarms_are_authentic() {
        let trigger = trigger();
        for fixture in [
            "cloudwatch-alarm-state-change-metric.json",
            "cloudwatch-alarm-action-metric.json",
        ] {
            check_authentic(&trigger, &ours(fixture)).unwrap();
        }
        let field_of = |t: &AlarmTransition| {
            let err = check_authentic(&trigger, t).unwrap_err();
            assert_eq!(err.error_name(), "Backstop.InvalidInput");
            err.to_string()
        };
        // the documented examples come from us-east-1 (and another account)
        let other_region =
            parse_alarm_event(fixture("cloudwatch-alarm-state-change-metric.json")).unwrap();
        assert!(field_of(&other_region).contains("`region`"));
        let other_account =
            parse_alarm_event(fixture("cloudwatch-alarm-action-metric.json")).unwrap();
        assert!(field_of(&other_account).contains("`accountId`"));
        // same account and region, but the event's ARN names another alarm
        let forged = AlarmTransition {
            alarm_arn: "arn:aws:cloudwatch:us-west-2:123456789012:alarm:disk-full".into(),
            ..ours("cloudwatch-alarm-action-metric.json")
        };
        assert!(field_of(&forged).contains("`alarmArn`"));
        let forged = AlarmTransition {
            alarm_arn: "arn:aws:cloudwatch:us-west-2:123456789012:alarm:disk-full".into(),
            ..ours("cloudwatch-alarm-state-change-metric.json")
        };
        assert!(field_of(&forged).contains("`resources`"));
        // an event that does not say where it comes from
        let unsourced = AlarmTransition {
            account: None,
            ..ours("cloudwatch-alarm-state-change-metric.json")
        };
        assert!(field_of(&unsourced).contains("`account`"));
    }

    #[test]
    fn a_recorded_failover_runs_while_running_or_just_started_and_unknown() {
        use aws_sdk_sfn::types::ExecutionStatus;
        let started = "2026-12-02T03:00:00Z";
        let at = DateTime::from_str(started, Format::DateTime)
            .unwrap()
            .secs();
        assert!(counts_as_running(
            Some(&ExecutionStatus::Running),
            started,
            at + 3600
        ));
        assert!(!counts_as_running(
            Some(&ExecutionStatus::Succeeded),
            started,
            at + 1
        ));
        assert!(!counts_as_running(
            Some(&ExecutionStatus::Aborted),
            started,
            at + 1
        ));
        // not visible yet a moment after its start; unknown long after: not running
        assert!(counts_as_running(None, started, at + 2));
        assert!(!counts_as_running(
            None,
            started,
            at + NOT_YET_VISIBLE_SECONDS
        ));
        assert!(!counts_as_running(None, "not a time", at));
        assert_eq!(
            last_failover_key("/backstop/shop/plan"),
            last_failover_key("/backstop/shop/plan")
        );
        assert_ne!(
            last_failover_key("/backstop/shop/plan"),
            last_failover_key("/backstop/other/plan")
        );
    }
}
