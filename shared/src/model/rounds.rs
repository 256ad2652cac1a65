//! How often a run's loops go round, sized so that its execution history always fits.
//!
//! Step Functions keeps at most 25,000 events in one execution's history and fails the
//! execution when it would grow past that: nothing after it runs, so a drill would not tear
//! down and nothing would be reported. A run's loops (restores, DNS, teardown, retire) each
//! wait between rounds, and a restore round can also be woken early by a restore job's end
//! (`steps::wake`). Their worst case is every loop going round until its bound (the run's
//! deadline; teardown's bound after it) and every wake used. The wait between rounds is the
//! poll interval, lengthened only when that worst case would not fit: a long bound with a
//! short interval.
//!
//! A failback first brings the DR side's data home (`steps::failback::capture`), in the same
//! execution, before the run is resolved and has a bound. Its rounds are counted: after
//! `CAPTURE_PATIENT_ROUNDS` it waits minutes between them, and after `CAPTURE_ROUNDS` it stops
//! with an error that says how to resume. The run that follows is sized with what the capture
//! used.

use serde::{Deserialize, Serialize};

use crate::model::run::{ResolvedRun, MAX_RUN_MINUTES};
use crate::model::time::parse_time;

/// Step Functions' quota on one Standard execution's history.
pub const HISTORY_EVENT_LIMIT: u64 = 25_000;

/// Events of everything that is not a round: each step once, its retries (a step retried its
/// eight times is about 30 events; waiting for DNS, up to 80), waves, approval, the report.
const RESERVED_EVENTS: u64 = 2_500;

/// A restore round: start and poll (a task is 5 events: entered, scheduled, started,
/// succeeded, exited), the choice (2) and the parked wait (6: a callback task also submits).
const EVENTS_PER_RESTORE_ROUND: u64 = 18;

/// A DNS, teardown or retire round: a task (5), a choice (2), a wait (2).
const EVENTS_PER_PASS: u64 = 9;

/// The most restore rounds of one run that are woken early. A woken round looks at every end so
/// far, so a run needs at most one per restore, and as many again for the account's other
/// restores (whose ends wake every parked run).
pub const MAX_WAKEABLE_ROUNDS: u32 = 500;

/// The most rounds a failback's capture goes (about 4,500 events), then it stops.
pub const CAPTURE_ROUNDS: u32 = 500;

/// Capture rounds at the poll interval (two hours at 30 s); later ones wait at least
/// `CAPTURE_LONG_WAIT_SECONDS`: a copy still running by then is a large one.
pub const CAPTURE_PATIENT_ROUNDS: u32 = 250;

/// The wait between a long capture's later rounds (its last 250 span about 21 hours).
const CAPTURE_LONG_WAIT_SECONDS: u32 = 300;

/// How long a failback's capture waits after its `round`th round (counted from 1).
pub fn capture_wait_seconds(poll_interval_seconds: u32, round: u32) -> u32 {
    if round < CAPTURE_PATIENT_ROUNDS {
        poll_interval_seconds
    } else {
        poll_interval_seconds.max(CAPTURE_LONG_WAIT_SECONDS)
    }
}

/// Deletions still pending this long after teardown (or retire) began are reported as left
/// behind: the last rounds a run has.
pub const TEARDOWN_BOUND_SECONDS: i64 = 2 * 60 * 60;

/// The pace of a run's loops, as the state machine reads it (`$.run.rounds`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Rounds {
    /// Seconds between two rounds of any loop: the poll interval, or longer when the run's
    /// bound would otherwise let its history outgrow Step Functions' limit.
    pub wait_seconds: u32,
    /// Restore rounds that may be woken early by a restore's end; later ones wait.
    pub wakeable: u32,
}

impl Rounds {
    /// The pace of a run of `restores` restores that polls every `poll_interval_seconds` and may
    /// go on for `run_seconds` (its start to its deadline) and teardown's bound after that,
    /// after `capture_rounds` rounds of a failback's capture.
    pub fn sized(
        poll_interval_seconds: u32,
        restores: usize,
        run_seconds: u64,
        capture_rounds: u32,
    ) -> Rounds {
        let wakeable = u32::try_from(restores)
            .unwrap_or(u32::MAX)
            .saturating_mul(2)
            .saturating_add(20)
            .min(MAX_WAKEABLE_ROUNDS);
        // events = reserved + restore rounds (wakes, the bound's interval rounds and one more
        // for each rounding) + passes (teardown's bound at the same pace, and two more);
        // what is left after the fixed terms is shared by the interval rounds
        let fixed = RESERVED_EVENTS
            + EVENTS_PER_PASS * u64::from(capture_rounds.min(CAPTURE_ROUNDS))
            + EVENTS_PER_RESTORE_ROUND * (u64::from(wakeable) + 2)
            + EVENTS_PER_PASS * 3;
        let left = HISTORY_EVENT_LIMIT - fixed;
        let interval_events = EVENTS_PER_RESTORE_ROUND * run_seconds
            + EVENTS_PER_PASS * TEARDOWN_BOUND_SECONDS as u64;
        let shortest = interval_events.div_ceil(left);
        Rounds {
            wait_seconds: u32::try_from(shortest)
                .unwrap_or(u32::MAX)
                .max(poll_interval_seconds),
            wakeable,
        }
    }

    /// The most events a run of this pace can write to its history (see the module).
    pub fn worst_case_events(&self, run_seconds: u64, capture_rounds: u32) -> u64 {
        let wait = u64::from(self.wait_seconds);
        let restore_rounds = u64::from(self.wakeable) + run_seconds.div_ceil(wait) + 1;
        let passes = u64::from(capture_rounds) + (TEARDOWN_BOUND_SECONDS as u64).div_ceil(wait) + 2;
        RESERVED_EVENTS + EVENTS_PER_RESTORE_ROUND * restore_rounds + EVENTS_PER_PASS * passes
    }

    /// A run resolved before rounds were sized: its definition waits the poll interval
    /// (`wait_seconds` is not read), and it parks at most 400 times, as that version did.
    pub fn resolved_before_sizing() -> Rounds {
        Rounds {
            wait_seconds: 30,
            wakeable: 400,
        }
    }

    /// Whether the run waits longer than it was asked to.
    pub fn lengthened(&self, poll_interval_seconds: u32) -> bool {
        self.wait_seconds > poll_interval_seconds
    }
}

impl ResolvedRun {
    /// From its start to its deadline, in seconds; the longest a run may be when either does
    /// not read as a time (`checked` refuses such a run).
    pub fn bound_seconds(&self) -> u64 {
        match (parse_time(&self.started_at), parse_time(&self.deadline)) {
            (Some(start), Some(end)) => u64::try_from(end.secs() - start.secs()).unwrap_or(0),
            _ => u64::from(MAX_RUN_MINUTES) * 60,
        }
    }

    /// The pace of this run's loops.
    pub fn rounds(&self) -> Rounds {
        Rounds::sized(
            self.settings.poll_interval_seconds,
            self.restores.len(),
            self.bound_seconds(),
            self.capture_rounds,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: u64 = 60;
    const HOUR: u64 = 60 * MINUTE;

    #[test]
    fn every_run_the_settings_allow_fits_the_history() {
        // every interval the settings accept (1 s to an hour), bounds from a minute to seven
        // days and a day of approval on top, plans from none to the largest
        for interval in [1, 2, 5, 10, 15, 30, 60, 300, 3600] {
            for bound in [
                MINUTE,
                30 * MINUTE,
                2 * HOUR,
                8 * HOUR,
                24 * HOUR,
                7 * 24 * HOUR + 24 * HOUR,
            ] {
                for restores in [0, 1, 10, 240, 1_000, 3_000] {
                    for captured in [0, 1, CAPTURE_ROUNDS] {
                        let rounds = Rounds::sized(interval, restores, bound, captured);
                        let events = rounds.worst_case_events(bound, captured);
                        assert!(
                            events <= HISTORY_EVENT_LIMIT,
                            "{interval} s, {bound} s, {restores} restores, {captured} capture rounds: {rounds:?} allows {events} events"
                        );
                        assert!(rounds.wait_seconds >= interval, "never shorter than asked");
                    }
                }
            }
        }
    }

    #[test]
    fn the_poll_interval_is_kept_where_it_fits() {
        // a plan of 10 with the default 30 s and a two-hour bound (RTO 60), or eight hours
        assert_eq!(
            Rounds::sized(30, 10, 2 * HOUR, 0),
            Rounds {
                wait_seconds: 30,
                wakeable: 40
            }
        );
        assert_eq!(Rounds::sized(30, 10, 8 * HOUR, 0).wait_seconds, 30);
        // the largest plans use every wake, and an RTO of 60 minutes still polls every 30 s
        assert_eq!(
            Rounds::sized(30, 3_000, 2 * HOUR, 0),
            Rounds {
                wait_seconds: 30,
                wakeable: 500
            }
        );
    }

    #[test]
    fn a_long_bound_with_a_short_interval_waits_longer() {
        // 2 s for eight hours is 14,400 rounds: far past the history
        let rounds = Rounds::sized(2, 10, 8 * HOUR, 0);
        assert!(rounds.lengthened(2), "{rounds:?}");
        assert!(
            rounds.wait_seconds <= 30,
            "no longer than it must be: {rounds:?}"
        );
        // seven days at 30 s: minutes between rounds, not seconds
        let week = Rounds::sized(30, 3_000, 7 * 24 * HOUR, 0);
        assert!(
            week.wait_seconds > 10 * MINUTE as u32 && week.wait_seconds < 20 * MINUTE as u32,
            "{week:?}"
        );
        // no longer than it must be: a twentieth shorter would not fit
        let shorter = Rounds {
            wait_seconds: week.wait_seconds * 19 / 20,
            ..week
        };
        assert!(shorter.worst_case_events(7 * 24 * HOUR, 0) > HISTORY_EVENT_LIMIT);
    }

    #[test]
    fn a_long_capture_waits_minutes_and_its_rounds_shorten_the_run_after_it() {
        assert_eq!(capture_wait_seconds(30, 1), 30);
        assert_eq!(capture_wait_seconds(30, CAPTURE_PATIENT_ROUNDS - 1), 30);
        assert_eq!(capture_wait_seconds(30, CAPTURE_PATIENT_ROUNDS), 300);
        assert_eq!(capture_wait_seconds(600, CAPTURE_PATIENT_ROUNDS), 600);
        // the whole capture spans most of a day at the default interval before it stops
        let spanned: u32 = (1..CAPTURE_ROUNDS)
            .map(|r| capture_wait_seconds(30, r))
            .sum();
        assert!(spanned > 20 * HOUR as u32, "{spanned} s");
        // a run after a long capture keeps less for its own rounds
        let fresh = Rounds::sized(30, 240, 8 * HOUR, 0);
        let after = Rounds::sized(30, 240, 8 * HOUR, CAPTURE_ROUNDS);
        assert!(
            after.wait_seconds > fresh.wait_seconds,
            "{fresh:?} {after:?}"
        );
    }

    #[test]
    fn a_run_reads_its_bound_from_its_start_and_deadline() {
        let plan = crate::plan::example_plan();
        let mut run = ResolvedRun::for_test("drill-1", crate::model::run::Mode::Drill, plan);
        assert_eq!(run.bound_seconds(), 2 * HOUR);
        run.deadline = "not a time".into();
        assert_eq!(run.bound_seconds(), u64::from(MAX_RUN_MINUTES) * 60);
    }
}
