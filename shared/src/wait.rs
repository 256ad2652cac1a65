//! The one way Backstop waits for AWS to reach a state: poll at an interval, give up with
//! `Backstop.Timeout` (which the state machine retries) after a bounded number of looks.

use std::future::Future;
use std::time::Duration;

use crate::error::BackstopError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitPolicy {
    pub interval: Duration,
    pub max_attempts: u32,
}

impl WaitPolicy {
    /// In a Lambda invocation: every 2 s for up to 2 minutes, well inside the function timeout.
    pub const AWS: WaitPolicy = WaitPolicy {
        interval: Duration::from_secs(2),
        max_attempts: 60,
    };
}

impl Default for WaitPolicy {
    fn default() -> Self {
        Self::AWS
    }
}

/// Calls `check` until it returns `Some`; an error from `check` ends the wait at once.
pub async fn wait_until<T, F, Fut>(
    policy: WaitPolicy,
    waiting_for: &str,
    mut check: F,
) -> Result<T, BackstopError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>, BackstopError>>,
{
    for attempt in 0..policy.max_attempts {
        if let Some(value) = check().await? {
            return Ok(value);
        }
        if attempt + 1 < policy.max_attempts {
            tokio::time::sleep(policy.interval).await;
        }
    }
    Err(BackstopError::Timeout {
        action: format!("waiting for {waiting_for}"),
        message: format!(
            "not reached after {} checks {:?} apart; the state machine retries the step",
            policy.max_attempts, policy.interval
        ),
    })
}
