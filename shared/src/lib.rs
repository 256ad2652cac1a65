//! Backstop's domain library, shared by every Lambda handler. Its layers, each importing only
//! the ones below it (`../shared/tools/module-cycles --top shared/src` checks there is no cycle):
//!
//! - [`steps`]: one module per state-machine step and entry point (preflight, resolve, restore,
//!   launch and attach, DNS switch, teardown, report, start-failover, on-backup-event, the
//!   restore loop's wake)
//! - [`kinds`]: one module per resource kind (EBS, RDS, EFS, EC2, Storage Gateway): restore
//!   metadata, tags, health, endpoint, removal
//! - [`aws`]: adapters to AWS: SDK configuration, the run store, tags, waiting, executions, the
//!   network stack, the failover alarm, drill records, reading a stored plan
//! - [`model`]: the run's data: run id and mode, jobs, instances, attachments, network state, time
//! - [`plan`]: the DR plan model and its validation
//! - [`error`]: the `Backstop.*` error taxonomy and SDK error classification
//! - [`telemetry`]: JSON tracing with the run id on every line

pub mod aws;
pub mod error;
pub mod kinds;
pub mod model;
pub mod plan;
pub mod steps;
pub mod telemetry;

pub use error::BackstopError;

/// The example events in `tests/events` (AWS's documented shapes), for unit tests.
#[cfg(test)]
mod test_events {
    pub fn fixture(name: &str) -> serde_json::Value {
        let path = format!("{}/../tests/events/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
    }
}
