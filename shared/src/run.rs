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

/// Where this Backstop is deployed: its region, and the plan parameter the stack was given
/// (the only plan a failover reads). Read once, at a function's start.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StackSite {
    pub region: String,
    pub plan_parameter: Option<String>,
}

impl StackSite {
    /// The region (from the SDK's configuration) and `PLAN_PARAMETER` (set by the template).
    pub fn from_env(region: String) -> Self {
        StackSite {
            region,
            plan_parameter: std::env::var("PLAN_PARAMETER")
                .ok()
                .filter(|name| !name.is_empty()),
        }
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

    /// The rules of a Step Functions execution name (1-80 characters; no whitespace, brackets,
    /// wildcards, control characters or the punctuation in `FORBIDDEN`; other Unicode is
    /// allowed), so any execution name is a valid run id. Tokens and identifiers never
    /// embed it raw: they derive from its digest.
    fn try_from(value: String) -> Result<Self, Self::Error> {
        const FORBIDDEN: &str = "<>{}[]?*\"#%\\^|~`$&,;:/";
        let length = value.chars().count();
        let bad = value
            .chars()
            .find(|c| c.is_whitespace() || c.is_control() || FORBIDDEN.contains(*c));
        if (1..=80).contains(&length) && bad.is_none() {
            return Ok(RunId(value));
        }
        let why = match bad {
            Some(c) => format!("it contains {c:?}"),
            None => format!("it has {length} characters"),
        };
        Err(BackstopError::invalid_input(
            "runId",
            format!(
                "\"{}\" is not a valid run id ({why}); use the execution name: 1-80 characters, no whitespace, brackets, wildcards or punctuation such as : / ; ,",
                crate::tags::truncate_chars(&value, 100)
            ),
        ))
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
        assert!(RunId::try_from("übung-é".repeat(8)).is_ok());
        for bad in ["", "has space", "semi;colon", "a:b", &"x".repeat(81)] {
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
