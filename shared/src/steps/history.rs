//! A run as Step Functions recorded it: the execution history is the durable account of when
//! each step ran, even for a branch cancelled by a failure. The report reads it for the
//! timeline (names and times only: what the steps did is in the run store).

use aws_sdk_sfn::types::HistoryEventType;
use aws_smithy_types::DateTime;
use serde::{Deserialize, Serialize};

use crate::error::{BackstopError, SdkContext};
use crate::model::time::format_time;

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
    pub steps: Vec<StepSpan>,
}

/// Reads the whole history of `execution_arn`, page by page, without the states' data (names
/// and times are all the timeline needs).
pub async fn read_execution(
    sfn: &aws_sdk_sfn::Client,
    execution_arn: &str,
) -> Result<ExecutionRecord, BackstopError> {
    let mut events = Vec::new();
    let mut pages = sfn
        .get_execution_history()
        .execution_arn(execution_arn)
        .include_execution_data(false)
        .max_results(1000)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.context(format!("reading the history of {execution_arn}"))?;
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
        Event {
            kind,
            time: *event.timestamp(),
            state,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: EventKind, secs: i64, state: Option<&str>) -> Event {
        Event {
            kind,
            time: DateTime::from_secs(secs),
            state: state.map(str::to_string),
        }
    }

    #[test]
    fn steps_span_from_first_entry_to_last_exit_and_count_rounds() {
        let events = vec![
            event(EventKind::ExecutionStarted, 100, None),
            event(EventKind::StateEntered, 100, Some("ResolvePlan")),
            event(EventKind::TaskSucceeded, 104, None),
            event(EventKind::StateExited, 105, Some("ResolvePlan")),
            event(EventKind::StateEntered, 105, Some("SwitchDns")),
            event(EventKind::StateExited, 110, Some("SwitchDns")),
            event(EventKind::StateEntered, 140, Some("SwitchDns")),
            event(EventKind::StateExited, 150, Some("SwitchDns")),
        ];
        let record = record_of(&events);
        assert_eq!(record.started_at, Some(DateTime::from_secs(100)));
        assert_eq!(record.steps.len(), 2);
        assert_eq!(record.steps[1].step, "SwitchDns");
        assert_eq!(record.steps[1].seconds, 45);
        assert_eq!(record.steps[1].rounds, 2);
    }
}
