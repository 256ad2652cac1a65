//! The one way Backstop waits for AWS to reach a state: poll at an interval inside the
//! invocation while its Lambda deadline allows, then hand the wait back to the state machine
//! with `Backstop.StillWaiting` (its Retry runs the idempotent step again after a pause).
//! A wait never outlasts the function's Timeout.

use std::future::Future;
use std::time::{Duration, SystemTime};

use crate::error::BackstopError;

/// Time kept free before the deadline for the last check and the response.
const DEADLINE_MARGIN: Duration = Duration::from_secs(3);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitPolicy {
    pub interval: Duration,
    /// Checks at most this many times in one invocation (a bound even without a deadline).
    pub max_attempts: u32,
    /// The invocation's deadline (Lambda's `Lambda-Runtime-Deadline-Ms`).
    pub deadline: Option<SystemTime>,
    /// The run's bound: past it, a wait that is not over ends the run with `Backstop.Timeout`
    /// instead of being handed back.
    pub run_deadline: Option<SystemTime>,
}

impl WaitPolicy {
    /// In a Lambda invocation: every 2 s, while the invocation's deadline allows.
    pub const AWS: WaitPolicy = WaitPolicy {
        interval: Duration::from_secs(2),
        max_attempts: 60,
        deadline: None,
        run_deadline: None,
    };

    /// The AWS policy, bounded by an invocation's deadline.
    pub fn until(deadline: SystemTime) -> WaitPolicy {
        WaitPolicy {
            deadline: Some(deadline),
            ..Self::AWS
        }
    }

    /// The same policy, also bounded by the run's deadline (RFC 3339, as the run carries it).
    pub fn within_run(self, run_deadline: &str) -> WaitPolicy {
        let parsed = aws_smithy_types::DateTime::from_str(
            run_deadline,
            aws_smithy_types::date_time::Format::DateTime,
        )
        .ok()
        .and_then(|time| SystemTime::try_from(time).ok());
        WaitPolicy {
            run_deadline: parsed,
            ..self
        }
    }

    /// Whether another pause and check still fit before the deadline.
    fn another_check_fits(&self, now: SystemTime) -> bool {
        match self.deadline {
            Some(deadline) => now + self.interval + DEADLINE_MARGIN <= deadline,
            None => true,
        }
    }
}

/// Until when a step may start another piece of work in an invocation ending at `deadline`:
/// the deadline less the margin for storing the result and answering (3 s, or a fifth of
/// the time left if the invocation is shorter).
pub fn work_deadline(deadline: SystemTime) -> SystemTime {
    let left = deadline
        .duration_since(SystemTime::now())
        .unwrap_or_default();
    deadline - DEADLINE_MARGIN.min(left / 5)
}

/// Whether another piece of work may start before `work_deadline` (none: no bound). Steps
/// that do one piece per resource stop when it may not, and leave the rest to their next round.
pub fn time_left(work_deadline: Option<SystemTime>) -> bool {
    work_deadline.is_none_or(|deadline| SystemTime::now() < deadline)
}

impl Default for WaitPolicy {
    fn default() -> Self {
        Self::AWS
    }
}

/// Calls `check` until it returns `Some`; an error from `check` ends the wait at once. When the
/// next check would not fit before the deadline, or after `max_attempts` checks, the wait is
/// handed back to the state machine as `Backstop.StillWaiting`.
pub async fn wait_until<T, F, Fut>(
    policy: WaitPolicy,
    waiting_for: &str,
    mut check: F,
) -> Result<T, BackstopError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>, BackstopError>>,
{
    let mut checks = 0;
    loop {
        if let Some(value) = check().await? {
            return Ok(value);
        }
        checks += 1;
        let now = SystemTime::now();
        if policy.run_deadline.is_some_and(|bound| now > bound) {
            return Err(BackstopError::Timeout {
                action: format!("waiting for {waiting_for}"),
                message: "the run passed its bound (settings.runTimeoutMinutes, default twice the RTO) before this was ready".into(),
            });
        }
        if checks >= policy.max_attempts || !policy.another_check_fits(now) {
            return Err(BackstopError::StillWaiting {
                what: waiting_for.to_string(),
                message: format!(
                    "not ready after {checks} check(s) {:?} apart in this invocation; the state machine runs the step again",
                    policy.interval
                ),
            });
        }
        tokio::time::sleep(policy.interval).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_wait_past_the_run_bound_ends_the_run_with_a_timeout() {
        let policy = WaitPolicy::until(SystemTime::now() + Duration::from_secs(60))
            .within_run("2020-01-01T00:00:00Z");
        let err = wait_until(policy, "app (i-1) to run", || async { Ok(None::<()>) })
            .await
            .unwrap_err();
        assert_eq!(err.error_name(), "Backstop.Timeout");
        assert!(err.to_string().contains("app (i-1) to run"), "{err}");
    }

    #[tokio::test]
    async fn a_wait_that_would_pass_the_deadline_is_handed_back_at_once() {
        let policy = WaitPolicy::until(SystemTime::now() + Duration::from_secs(1));
        let mut checks = 0;
        let err = wait_until(policy, "the instance to run", || {
            checks += 1;
            async { Ok(None::<()>) }
        })
        .await
        .unwrap_err();
        assert_eq!(err.error_name(), "Backstop.StillWaiting");
        assert_eq!(checks, 1);
        assert!(err.to_string().contains("the instance to run"), "{err}");
    }

    #[tokio::test]
    async fn a_wait_checks_again_while_the_deadline_allows() {
        let policy = WaitPolicy {
            interval: Duration::from_millis(10),
            max_attempts: 60,
            deadline: Some(SystemTime::now() + Duration::from_secs(30)),
            run_deadline: None,
        };
        let mut checks = 0;
        let value = wait_until(policy, "x", || {
            checks += 1;
            let ready = checks == 3;
            async move { Ok(ready.then_some(7)) }
        })
        .await
        .unwrap();
        assert_eq!((value, checks), (7, 3));
    }
}
