//! A run as Step Functions recorded it: the execution history is the durable account of what
//! each step did and when, even for a branch cancelled by a failure. Teardown reads it for the
//! restore jobs the run started; the report reads it for the timeline.

use std::collections::BTreeSet;

use aws_sdk_sfn::types::HistoryEventType;
use aws_smithy_types::DateTime;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{classify_sdk_error, BackstopError};
use crate::restore::format_time;

/// One state of the run: first entered, last left, and how many times it ran (a polling loop
/// enters the same state many times).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StepSpan {
    pub step: String,
    pub started_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<String>,
    pub seconds: i64,
    pub rounds: u32,
}

/// What the execution history says about a run.
#[derive(Debug, Clone, Default)]
pub struct ExecutionRecord {
    pub started_at: Option<DateTime>,
    /// `resolve-plan`'s output (the resolved run), when it succeeded.
    pub resolved_run: Option<Value>,
    /// Every restore job id any step of the run reported.
    pub restore_job_ids: BTreeSet<String>,
    pub steps: Vec<StepSpan>,
}

/// Reads the whole history of `execution_arn`, page by page; `with_data`: with each state's
/// input and output (what teardown needs), else only names and times (the timeline: far
/// smaller, as every event of a long run would otherwise carry the run's whole state).
pub async fn read_execution(
    sfn: &aws_sdk_sfn::Client,
    execution_arn: &str,
    with_data: bool,
) -> Result<ExecutionRecord, BackstopError> {
    let mut events = Vec::new();
    let mut pages = sfn
        .get_execution_history()
        .execution_arn(execution_arn)
        .include_execution_data(with_data)
        .max_results(1000)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|err| {
            classify_sdk_error(format!("reading the history of {execution_arn}"), err)
        })?;
        events.extend(page.events().iter().map(Event::from));
    }
    Ok(record_of(&events))
}

/// One history event, reduced to what Backstop reads.
#[derive(Debug, Clone)]
pub struct Event {
    pub kind: EventKind,
    pub time: DateTime,
    /// The state's name (entered/exited events).
    pub state: Option<String>,
    /// A task's or state's output (JSON text).
    pub output: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventKind {
    ExecutionStarted,
    StateEntered,
    StateExited,
    TaskSucceeded,
    Other,
}

impl From<&aws_sdk_sfn::types::HistoryEvent> for Event {
    fn from(event: &aws_sdk_sfn::types::HistoryEvent) -> Self {
        let name = event.r#type().as_str();
        let kind = match event.r#type() {
            HistoryEventType::ExecutionStarted => EventKind::ExecutionStarted,
            HistoryEventType::TaskSucceeded | HistoryEventType::LambdaFunctionSucceeded => {
                EventKind::TaskSucceeded
            }
            // the timeline shows the steps that do work, not the Pass/Choice/Wait plumbing
            _ if !(name.starts_with("Task") || name.starts_with("Parallel")) => EventKind::Other,
            _ if name.ends_with("StateEntered") => EventKind::StateEntered,
            _ if name.ends_with("StateExited") => EventKind::StateExited,
            _ => EventKind::Other,
        };
        let entered = event.state_entered_event_details();
        let exited = event.state_exited_event_details();
        let state = entered
            .map(|d| d.name().to_string())
            .or_else(|| exited.map(|d| d.name().to_string()));
        let output = exited
            .and_then(|d| d.output())
            .or_else(|| {
                event
                    .task_succeeded_event_details()
                    .and_then(|d| d.output())
            })
            .or_else(|| {
                event
                    .lambda_function_succeeded_event_details()
                    .and_then(|d| d.output())
            })
            .map(str::to_string);
        Event {
            kind,
            time: *event.timestamp(),
            state,
            output,
        }
    }
}

/// Folds the events into the run's record.
pub fn record_of(events: &[Event]) -> ExecutionRecord {
    let mut record = ExecutionRecord::default();
    let mut spans: Vec<(String, DateTime, Option<DateTime>, u32)> = Vec::new();
    for event in events {
        match event.kind {
            EventKind::ExecutionStarted => record.started_at = Some(event.time),
            EventKind::StateEntered => {
                let name = event.state.clone().unwrap_or_default();
                match spans.iter_mut().find(|(step, ..)| *step == name) {
                    Some(span) => span.3 += 1,
                    None => spans.push((name, event.time, None, 1)),
                }
            }
            EventKind::StateExited => {
                let name = event.state.as_deref().unwrap_or_default();
                if let Some(span) = spans.iter_mut().find(|(step, ..)| step == name) {
                    span.2 = Some(event.time);
                }
            }
            EventKind::TaskSucceeded | EventKind::Other => {}
        }
        if let Some(output) = event.output.as_deref() {
            let Ok(value) = serde_json::from_str::<Value>(output) else {
                continue;
            };
            collect_restore_job_ids(&value, &mut record.restore_job_ids);
            if event.kind == EventKind::TaskSucceeded && record.resolved_run.is_none() {
                let payload = value.get("Payload").unwrap_or(&value);
                if payload.get("runId").is_some() && payload.get("restores").is_some() {
                    record.resolved_run = Some(payload.clone());
                }
            }
        }
    }
    record.steps = spans
        .into_iter()
        .map(|(step, entered, exited, rounds)| StepSpan {
            step,
            started_at: format_time(entered),
            ended_at: exited.map(format_time),
            seconds: exited.map_or(0, |end| end.secs() - entered.secs()),
            rounds,
        })
        .collect();
    record
}

fn collect_restore_job_ids(value: &Value, ids: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(id)) = map.get("restoreJobId") {
                ids.insert(id.clone());
            }
            map.values().for_each(|v| collect_restore_job_ids(v, ids));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_restore_job_ids(v, ids)),
        _ => {}
    }
}

/// The execution ARN of run `run_id` of the state machine `state_machine_arn`.
pub fn execution_arn(state_machine_arn: &str, run_id: &str) -> Option<String> {
    let (prefix, name) = state_machine_arn.split_once(":stateMachine:")?;
    Some(format!("{prefix}:execution:{name}:{run_id}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(kind: EventKind, secs: i64, state: Option<&str>, output: Option<Value>) -> Event {
        Event {
            kind,
            time: DateTime::from_secs(secs),
            state: state.map(str::to_string),
            output: output.map(|v| v.to_string()),
        }
    }

    #[test]
    fn steps_span_from_first_entry_to_last_exit_and_count_rounds() {
        let events = vec![
            event(EventKind::ExecutionStarted, 100, None, None),
            event(EventKind::StateEntered, 100, Some("ResolvePlan"), None),
            event(
                EventKind::TaskSucceeded,
                104,
                None,
                Some(json!({"Payload": {"runId": "r1", "restores": []}})),
            ),
            event(EventKind::StateExited, 105, Some("ResolvePlan"), None),
            event(EventKind::StateEntered, 105, Some("SwitchDns"), None),
            event(EventKind::StateExited, 110, Some("SwitchDns"), None),
            event(EventKind::StateEntered, 140, Some("SwitchDns"), None),
            event(
                EventKind::StateExited,
                150,
                Some("SwitchDns"),
                Some(
                    json!({"restore": {"jobs": [{"restoreJobId": "j-1"}, {"restoreJobId": "j-2"}]}}),
                ),
            ),
        ];
        let record = record_of(&events);
        assert_eq!(record.started_at, Some(DateTime::from_secs(100)));
        assert_eq!(record.resolved_run.unwrap()["runId"], "r1");
        assert_eq!(
            record.restore_job_ids.into_iter().collect::<Vec<_>>(),
            ["j-1", "j-2"]
        );
        assert_eq!(record.steps.len(), 2);
        assert_eq!(record.steps[1].step, "SwitchDns");
        assert_eq!(record.steps[1].seconds, 45);
        assert_eq!(record.steps[1].rounds, 2);
    }

    #[test]
    fn a_run_id_names_its_execution() {
        assert_eq!(
            execution_arn(
                "arn:aws:states:us-west-2:123:stateMachine:backstop",
                "drill-1"
            )
            .unwrap(),
            "arn:aws:states:us-west-2:123:execution:backstop:drill-1"
        );
        assert!(execution_arn("not-an-arn", "x").is_none());
    }
}
