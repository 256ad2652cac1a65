//! The one tagging convention: everything a run creates carries its run id, mode and plan,
//! so a drill's teardown can find (and delete) exactly what it made.

use crate::model::run::{Mode, RunId};

pub const RUN_ID: &str = "backstop:run-id";
pub const MODE: &str = "backstop:mode";
pub const PLAN: &str = "backstop:plan";
pub const RESOURCE: &str = "backstop:resource";

/// The tags for something created by `run` for the plan entry `resource`.
pub fn run_tags(run_id: &RunId, mode: Mode, plan: &str, resource: &str) -> Vec<(String, String)> {
    let mut tags = claim_tags(run_id, mode, plan);
    tags.push((RESOURCE.to_string(), resource.to_string()));
    tags
}

/// The tags that claim a resource for `run`, without its plan entry: the same for every
/// resource of the run, so EC2 resources restored together are claimed in one call (the run's
/// state maps each to its plan entry).
pub fn claim_tags(run_id: &RunId, mode: Mode, plan: &str) -> Vec<(String, String)> {
    vec![
        (RUN_ID.to_string(), run_id.to_string()),
        (MODE.to_string(), mode.to_string()),
        (PLAN.to_string(), plan.to_string()),
    ]
}

/// A stable digest of `parts` (128 bits as 32 lowercase hex characters): the same key always
/// gives the same token, different keys practically never collide, and the result fits any
/// AWS token or identifier rule (ASCII letters and digits). Tokens and generated names derive
/// from the full key through this, never by cutting the key (which collides, and can split a
/// multibyte character).
pub fn digest(parts: &[&str]) -> String {
    // FNV-1a, twice with different offsets: stable across Rust versions, unlike DefaultHasher.
    fn fnv(parts: &[&str], offset: u64) -> u64 {
        let mut hash = offset;
        for part in parts {
            for byte in part.as_bytes().iter().chain(std::iter::once(&0xff)) {
                hash ^= u64::from(*byte);
                hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
            }
        }
        hash
    }
    format!(
        "{:016x}{:016x}",
        fnv(parts, 0xcbf2_9ce4_8422_2325),
        fnv(parts, 0x6c62_272e_07bb_0142)
    )
}

/// An idempotency token for one action of a run: `bs-` and the digest of the full key
/// (35 ASCII characters, inside EC2's 64 and AWS Backup's limits).
pub fn token(run_id: &RunId, step: &str, parts: &[&str]) -> String {
    let mut key = vec![run_id.as_str(), step];
    key.extend_from_slice(parts);
    format!("bs-{}", digest(&key))
}

/// A short suffix unique to the run, for identifiers with tight rules (RDS: letters, digits,
/// single hyphens): 10 hex characters of the run id's digest.
pub fn run_suffix(run_id: &RunId) -> String {
    digest(&[run_id.as_str()])[..10].to_string()
}

/// The ClientToken of one launch attempt: at most 64 ASCII characters (EC2's limit), unique
/// per run, instance and attempt (type and subnet), however long the run id or the names.
pub fn launch_token(run_id: &RunId, name: &str, instance_type: &str, subnet: &str) -> String {
    token(run_id, "launch", &[name, instance_type, subnet])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(id: &str) -> RunId {
        RunId::try_from(id.to_string()).unwrap()
    }

    #[test]
    fn runs_that_share_a_tail_get_different_suffixes() {
        // the old suffix kept the last 12 characters: these two collided
        let a = run_suffix(&run("drill-2026-11-25T03-00-00_abc"));
        let b = run_suffix(&run("failover-2026-11-25T03-00-00_abc"));
        assert_ne!(a, b);
        assert_eq!(a.len(), 10);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn tokens_are_stable_short_and_distinct_per_attempt() {
        let long = run(&"x".repeat(80));
        let first = token(&long, "launch", &["app", "m6i.large", "subnet-0aaaaaaaa"]);
        let second = token(&long, "launch", &["app", "m5.large", "subnet-0aaaaaaaa"]);
        assert_ne!(first, second);
        assert_eq!(
            first,
            token(&long, "launch", &["app", "m6i.large", "subnet-0aaaaaaaa"])
        );
        assert!(first.len() <= 64 && first.is_ascii(), "{first}");
        // parts are delimited: ("ab", "c") is not ("a", "bc")
        assert_ne!(digest(&["ab", "c"]), digest(&["a", "bc"]));
    }
}
