//! A run: one Step Functions execution of a failover or a drill.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::BackstopError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Mode {
    /// The real thing: restores, launches and switches production DNS.
    Failover,
    /// A rehearsal in isolation: never writes production DNS, cleans up after itself.
    Drill,
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Failover => "failover",
            Mode::Drill => "drill",
        })
    }
}

/// The run id is the Step Functions execution name; idempotency tokens and tags derive from it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RunId(String);

impl RunId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for RunId {
    type Error = BackstopError;

    /// Same rules as an execution name (1-80 characters, letters, digits, `-`, `_`), so any
    /// execution name is a valid run id and a run id is safe in tokens, tags and identifiers.
    fn try_from(value: String) -> Result<Self, Self::Error> {
        let valid = !value.is_empty()
            && value.len() <= 80
            && value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if valid {
            Ok(RunId(value))
        } else {
            Err(BackstopError::invalid_input(
                "runId",
                format!(
                    "\"{value}\" is not a valid run id; use the execution name: 1-80 letters, digits, '-' or '_'"
                ),
            ))
        }
    }
}

impl From<RunId> for String {
    fn from(id: RunId) -> Self {
        id.0
    }
}

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_id_is_an_execution_name() {
        assert!(RunId::try_from("drill-2026-11-25T03_00".to_string()).is_ok());
        for bad in ["", "has space", "semi;colon", &"x".repeat(81)] {
            let err = RunId::try_from(bad.to_string()).unwrap_err();
            assert_eq!(err.error_name(), "Backstop.InvalidInput");
            assert!(err.to_string().contains("runId"));
        }
    }

    #[test]
    fn modes_are_lowercase_in_json() {
        assert_eq!(serde_json::to_string(&Mode::Drill).unwrap(), "\"drill\"");
        let mode: Mode = serde_json::from_str("\"failover\"").unwrap();
        assert_eq!(mode, Mode::Failover);
    }
}
