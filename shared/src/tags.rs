//! The one tagging convention: everything a run creates carries its run id, mode and plan,
//! so a drill's teardown can find (and delete) exactly what it made.

use crate::run::{Mode, RunId};

pub const RUN_ID: &str = "backstop:run-id";
pub const MODE: &str = "backstop:mode";
pub const PLAN: &str = "backstop:plan";
pub const RESOURCE: &str = "backstop:resource";

/// The tags for something created by `run` for the plan entry `resource`.
pub fn run_tags(run_id: &RunId, mode: Mode, plan: &str, resource: &str) -> Vec<(String, String)> {
    vec![
        (RUN_ID.to_string(), run_id.to_string()),
        (MODE.to_string(), mode.to_string()),
        (PLAN.to_string(), plan.to_string()),
        (RESOURCE.to_string(), resource.to_string()),
    ]
}

/// A short lowercase suffix of the run id, for identifiers with tight length and character
/// rules (RDS: letters, digits, single hyphens).
pub fn run_suffix(run_id: &RunId) -> String {
    let cleaned: String = run_id
        .as_str()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    let start = cleaned.len().saturating_sub(12);
    cleaned[start..].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_run_suffix_is_short_and_safe_for_identifiers() {
        let id = RunId::try_from("Drill_2026-11-25T03-00-00_abc".to_string()).unwrap();
        assert_eq!(run_suffix(&id), "25t030000abc");
        let short = RunId::try_from("r-1".to_string()).unwrap();
        assert_eq!(run_suffix(&short), "r1");
    }
}
