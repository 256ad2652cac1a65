//! Teardown's ownership decision: the facts gathered about a run and the resources that may be
//! its own in, the deletions and refusals out. No AWS call, so every case is unit-tested.
//!
//! A resource is deleted only when all of these hold: the run's state exists; it carries the
//! run's `backstop:run-id` tag (or no Backstop tag at all: restored after its branch was
//! cancelled, tagged first) and the run's `backstop:mode`; AWS says the run created it (one
//! of the run's restore jobs, as AWS Backup lists them, or a launch with the run's
//! ClientToken); and it was created after the run started. A failover's resources are never
//! deleted without `allowFailover`, whatever the stored state says; with it, a database keeps
//! a final snapshot.

use serde::{Deserialize, Serialize};

use crate::kinds::{Owned, OwnedKind};
use crate::model::run::Mode;

/// A resource teardown did not delete, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Leftover {
    #[serde(flatten)]
    pub owned: Owned,
    pub reason: String,
}

/// How far AWS's clocks may be ahead of the run's start.
const CLOCK_SKEW_SECONDS: i64 = 300;

/// What the run's stored state says about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunFacts {
    /// The id its resources are tagged with (a resumed run's is the run it resumes).
    pub run_id: String,
    pub mode: Mode,
    /// Seconds since the epoch.
    pub started_at: i64,
}

/// What AWS says created a resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// One of the run's restore jobs, as AWS Backup lists it (its creation, in seconds).
    Restored { job_id: String, job_created: i64 },
    /// An instance launched with the ClientToken the run derives for it.
    Launched,
    /// Nothing AWS reports ties it to the run.
    Unproven,
}

/// A resource that may be the run's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub owned: Owned,
    /// Its `backstop:run-id` tag (`None`: no Backstop tag).
    pub run_tag: Option<String>,
    /// Its `backstop:mode` tag.
    pub mode_tag: Option<String>,
    /// When AWS says it was created (seconds), when it says.
    pub created: Option<i64>,
    pub origin: Origin,
}

/// What teardown does with a resource it may delete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Start (or check) its deletion; a failover's database first gets a final snapshot.
    Delete { final_snapshot: bool },
    /// Tag it with the run first (restored after its branch was cancelled), then delete it.
    TagThenDelete,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Decision {
    pub delete: Vec<(Owned, Action)>,
    pub refused: Vec<Leftover>,
}

/// Why teardown refuses the whole run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// A failover's resources, without `allowFailover` (what makes it one).
    Failover(String),
    /// No stored state: nothing can be proven the run's (how many resources carry its tag).
    NoState(usize),
}

/// Decides, for each candidate, delete or refuse; or refuses the whole run.
pub fn decide(
    run: Option<&RunFacts>,
    stored_failover: bool,
    allow_failover: bool,
    candidates: &[Candidate],
) -> Result<Decision, Refusal> {
    // resources of this run (by tag) that say they serve production; one of another run is
    // refused below as that run's
    let of_run = |c: &Candidate| run.is_none_or(|r| c.run_tag.as_deref() == Some(&r.run_id));
    let failover_tagged: Vec<&str> = candidates
        .iter()
        .filter(|c| of_run(c) && matches!(c.mode_tag.as_deref(), Some("failover" | "failback")))
        .map(|c| c.owned.id.as_str())
        .collect();
    let run_is_failover = stored_failover || run.is_some_and(|r| r.mode.is_production());
    if (run_is_failover || !failover_tagged.is_empty()) && !allow_failover {
        let why = if failover_tagged.is_empty() {
            "its stored state says it is a failover or failback".to_string()
        } else {
            format!(
                "{} of its resources are tagged backstop:mode=failover ({})",
                failover_tagged.len(),
                failover_tagged
                    .iter()
                    .take(5)
                    .copied()
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        return Err(Refusal::Failover(why));
    }
    let Some(run) = run else {
        return if candidates.is_empty() {
            Ok(Decision::default())
        } else {
            Err(Refusal::NoState(candidates.len()))
        };
    };
    let mut decision = Decision::default();
    for candidate in candidates {
        match judge(run, candidate) {
            Ok(action) => decision.delete.push((candidate.owned.clone(), action)),
            Err(reason) => decision.refused.push(Leftover {
                owned: candidate.owned.clone(),
                reason,
            }),
        }
    }
    Ok(decision)
}

fn judge(run: &RunFacts, candidate: &Candidate) -> Result<Action, String> {
    let mode = run.mode.to_string();
    if let Some(other) = candidate.run_tag.as_deref().filter(|t| *t != run.run_id) {
        return Err(format!(
            "tagged for run {other}, not {}: left alone",
            run.run_id
        ));
    }
    let after_start = |secs: i64| secs + CLOCK_SKEW_SECONDS >= run.started_at;
    match &candidate.origin {
        Origin::Unproven => {
            return Err(format!(
                "tagged for run {}, but no restore job of the run created it and the run did not launch it: left alone",
                run.run_id
            ))
        }
        Origin::Restored { job_id, job_created } if !after_start(*job_created) => {
            return Err(format!(
                "created by restore job {job_id}, which started before the run: left alone"
            ))
        }
        _ => {}
    }
    if candidate
        .created
        .is_some_and(|created| !after_start(created))
    {
        return Err("created before the run started: left alone".into());
    }
    match candidate.mode_tag.as_deref() {
        Some(tagged) if tagged != mode => Err(format!(
            "tagged backstop:mode={tagged}, but the run is a {mode}: left alone"
        )),
        // no Backstop tag yet, or only part of it: the proof above makes it the run's
        None => Ok(Action::TagThenDelete),
        Some(_) => Ok(Action::Delete {
            final_snapshot: run.mode.is_production()
                && candidate.owned.kind == OwnedKind::DbInstance,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const START: i64 = 1_800_000_000;

    fn drill() -> RunFacts {
        RunFacts {
            run_id: "drill-1".into(),
            mode: Mode::Drill,
            started_at: START,
        }
    }

    fn candidate(kind: OwnedKind, id: &str) -> Candidate {
        Candidate {
            owned: Owned {
                kind,
                id: id.into(),
                resource: None,
            },
            run_tag: Some("drill-1".into()),
            mode_tag: Some("drill".into()),
            created: Some(START + 60),
            origin: Origin::Restored {
                job_id: "job-1".into(),
                job_created: START + 30,
            },
        }
    }

    fn launched(id: &str) -> Candidate {
        Candidate {
            origin: Origin::Launched,
            ..candidate(OwnedKind::Instance, id)
        }
    }

    #[test]
    fn a_drill_deletes_what_it_restored_and_launched() {
        let decision = decide(
            Some(&drill()),
            false,
            false,
            &[candidate(OwnedKind::Volume, "vol-1"), launched("i-1")],
        )
        .unwrap();
        assert!(decision.refused.is_empty(), "{decision:?}");
        assert_eq!(decision.delete.len(), 2);
        assert!(decision.delete.iter().all(|(_, a)| *a
            == Action::Delete {
                final_snapshot: false
            }));
    }

    #[test]
    fn a_resource_tagged_for_the_run_but_not_created_by_it_is_left_alone() {
        // anyone who can write backstop:run-id=<a drill id> must not get a resource deleted
        let forged = Candidate {
            origin: Origin::Unproven,
            ..candidate(OwnedKind::DbInstance, "orders-prod")
        };
        let decision = decide(Some(&drill()), false, false, &[forged]).unwrap();
        assert!(decision.delete.is_empty());
        assert!(decision.refused[0].reason.contains("did not launch it"));
    }

    #[test]
    fn a_resource_created_before_the_run_is_left_alone() {
        let old = Candidate {
            created: Some(START - 86_400),
            ..candidate(OwnedKind::Volume, "vol-old")
        };
        let old_job = Candidate {
            origin: Origin::Restored {
                job_id: "job-0".into(),
                job_created: START - 86_400,
            },
            created: None,
            ..candidate(OwnedKind::FileSystem, "fs-old")
        };
        let decision = decide(Some(&drill()), false, false, &[old, old_job]).unwrap();
        assert!(decision.delete.is_empty(), "{decision:?}");
        assert_eq!(decision.refused.len(), 2);
    }

    #[test]
    fn another_runs_tag_or_mode_is_left_alone() {
        let other_run = Candidate {
            run_tag: Some("drill-2".into()),
            ..candidate(OwnedKind::Volume, "vol-2")
        };
        let other_mode = Candidate {
            mode_tag: Some("preview".into()),
            ..candidate(OwnedKind::Volume, "vol-3")
        };
        let decision = decide(Some(&drill()), false, false, &[other_run, other_mode]).unwrap();
        assert!(decision.delete.is_empty());
        assert!(decision.refused[0].reason.contains("drill-2"));
        assert!(decision.refused[1].reason.contains("preview"));
    }

    #[test]
    fn an_untagged_resource_restored_by_the_run_is_tagged_then_deleted() {
        let untagged = Candidate {
            run_tag: None,
            mode_tag: None,
            ..candidate(OwnedKind::Volume, "vol-late")
        };
        let decision = decide(Some(&drill()), false, false, &[untagged]).unwrap();
        assert_eq!(decision.delete[0].1, Action::TagThenDelete);
    }

    #[test]
    fn a_failover_is_refused_without_consent_whatever_the_state_says() {
        // the stored state says drill (or is missing), the resources say failover
        let production = Candidate {
            mode_tag: Some("failover".into()),
            ..launched("i-prod")
        };
        for run in [Some(drill()), None] {
            let refusal = decide(
                run.as_ref(),
                false,
                false,
                std::slice::from_ref(&production),
            )
            .unwrap_err();
            assert!(matches!(&refusal, Refusal::Failover(why) if why.contains("i-prod")));
        }
        // the stored state says failover, whatever the tags
        let refusal = decide(Some(&drill()), true, false, &[]).unwrap_err();
        assert!(matches!(refusal, Refusal::Failover(_)));
    }

    #[test]
    fn missing_state_is_a_refusal_not_a_drill() {
        let refusal = decide(None, false, false, &[launched("i-1")]).unwrap_err();
        assert_eq!(refusal, Refusal::NoState(1));
        // even with consent to delete a failover: nothing can be proven
        let refusal = decide(None, false, true, &[launched("i-1")]).unwrap_err();
        assert_eq!(refusal, Refusal::NoState(1));
        // nothing tagged: nothing to refuse (a run that failed before storing its state)
        assert_eq!(decide(None, false, false, &[]), Ok(Decision::default()));
    }

    #[test]
    fn with_consent_a_failovers_databases_keep_a_final_snapshot() {
        let run = RunFacts {
            run_id: "failover-1".into(),
            mode: Mode::Failover,
            started_at: START,
        };
        let tagged = |c: Candidate| Candidate {
            run_tag: Some("failover-1".into()),
            mode_tag: Some("failover".into()),
            ..c
        };
        let decision = decide(
            Some(&run),
            true,
            true,
            &[
                tagged(candidate(OwnedKind::DbInstance, "orders")),
                tagged(launched("i-1")),
            ],
        )
        .unwrap();
        assert_eq!(
            decision.delete,
            vec![
                (
                    candidate(OwnedKind::DbInstance, "orders").owned,
                    Action::Delete {
                        final_snapshot: true
                    }
                ),
                (
                    launched("i-1").owned,
                    Action::Delete {
                        final_snapshot: false
                    }
                ),
            ]
        );
        // a drill-tagged resource is not a failover's to delete
        let stray = Candidate {
            run_tag: Some("failover-1".into()),
            ..candidate(OwnedKind::Volume, "vol-drill")
        };
        let decision = decide(Some(&run), true, true, &[stray]).unwrap();
        assert!(decision.delete.is_empty());
        assert!(decision.refused[0].reason.contains("backstop:mode=drill"));
    }
}
