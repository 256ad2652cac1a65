//! Backstop's domain library, shared by every Lambda handler.
//!
//! - [`plan`]: the DR plan model and its validation
//! - [`run`]: run id and mode (failover or drill)
//! - [`resolve`]: the run's input, plan and recovery points
//! - [`readiness`]: what would break a run, checked before it creates anything
//! - [`preflight`]: the readiness step of a run, and the scheduled readiness check
//! - [`restore`]: AWS Backup restore jobs, one module per resource kind
//! - [`network`]: the DR network stack (CloudFormation) the run creates or reuses
//! - [`compute`]: golden-AMI launch and volume attachment
//! - [`dns`]: health gate and Route 53 switch
//! - [`steps`]: the run's steps as the state machine calls them (store in, counts out)
//! - [`store`]: the run's state in S3 (the payload carries ids and counts)
//! - [`tags`]: the tags everything a run creates carries
//! - [`error`]: the `Backstop.*` error taxonomy and SDK error classification
//! - [`aws`]: SDK configuration, built once per process
//! - [`wait`]: the one polling helper
//! - [`telemetry`]: JSON tracing with the run id on every line

pub mod alarm;
pub mod aws;
pub mod backup_events;
pub mod compute;
pub mod dns;
pub mod drill_record;
pub mod error;
pub mod executions;
pub mod failover_alarm;
pub mod history;
pub mod kinds;
pub mod network;
pub mod plan;
pub mod preflight;
pub mod readiness;
pub mod report;
pub mod resolve;
pub mod restore;
pub mod run;
pub mod steps;
pub mod store;
pub mod tags;
pub mod teardown;
pub mod telemetry;
pub mod wait;

pub use error::BackstopError;

/// The example events in `tests/events` (AWS's documented shapes), for unit tests.
#[cfg(test)]
mod test_events {
    pub fn fixture(name: &str) -> serde_json::Value {
        let path = format!("{}/../tests/events/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
    }
}
