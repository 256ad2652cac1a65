//! Backstop's domain library, shared by every Lambda handler.
//!
//! - [`plan`]: the DR plan model and its validation
//! - [`run`]: run id and mode (failover or drill)
//! - [`error`]: the `Backstop.*` error taxonomy and SDK error classification
//! - [`aws`]: SDK configuration, built once per process
//! - [`telemetry`]: JSON tracing with the run id on every line

pub mod aws;
pub mod error;
pub mod plan;
pub mod resolve;
pub mod run;
pub mod telemetry;

pub use error::BackstopError;
