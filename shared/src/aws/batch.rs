//! Many calls of one kind (a restore per resource, a deletion per resource), a few at a time,
//! while the invocation's deadline allows.

use std::future::Future;
use std::time::SystemTime;

use futures_util::future::join_all;

use crate::aws::wait::time_left;

/// Calls to AWS a step makes at once. One after another, 100 restores wait out AWS's latency
/// 200 times over (metadata, then start) while slots stand empty (bench/RESULTS.md), and a
/// teardown of 3,000 volumes spends its whole invocation on round trips; a throttled call is
/// only work left for the next round or pass.
pub const CALLS_IN_FLIGHT: usize = 10;

/// What [`in_batches`] did.
#[derive(Debug)]
pub struct Batched<T, R> {
    /// The answers of the calls made, in the items' order.
    pub answers: Vec<R>,
    /// The items no call was made for: out of time, or stopped by an answer.
    pub not_reached: Vec<T>,
    /// Whether the deadline stopped the calls (not an answer).
    pub out_of_time: bool,
}

/// Calls `call` on each item, [`CALLS_IN_FLIGHT`] at a time, while the invocation's
/// `deadline` allows and no answer says `stop`. Every call of a batch is answered before the
/// next batch starts or this returns: none is still in flight, its answer unrecorded, when the
/// step ends.
pub async fn in_batches<T, R, Fut>(
    items: impl IntoIterator<Item = T>,
    deadline: Option<SystemTime>,
    mut call: impl FnMut(T) -> Fut,
    stop: impl Fn(&R) -> bool,
) -> Batched<T, R>
where
    Fut: Future<Output = R>,
{
    let mut waiting = items.into_iter();
    let mut answers = Vec::new();
    loop {
        let batch: Vec<T> = waiting.by_ref().take(CALLS_IN_FLIGHT).collect();
        if batch.is_empty() {
            break;
        }
        if !time_left(deadline) {
            let not_reached = batch.into_iter().chain(waiting).collect();
            return Batched {
                answers,
                not_reached,
                out_of_time: true,
            };
        }
        let batch_answers = join_all(batch.into_iter().map(&mut call)).await;
        let stopped = batch_answers.iter().any(&stop);
        answers.extend(batch_answers);
        if stopped {
            break;
        }
    }
    Batched {
        answers,
        not_reached: waiting.collect(),
        out_of_time: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::time::Duration;

    #[tokio::test]
    async fn calls_run_a_batch_at_a_time_and_stop_at_the_answer_that_says_so() {
        let in_flight = Cell::new(0usize);
        let most = Cell::new(0usize);
        let outcome = in_batches(
            0..35,
            None,
            |i| {
                let (in_flight, most) = (&in_flight, &most);
                async move {
                    in_flight.set(in_flight.get() + 1);
                    most.set(most.get().max(in_flight.get()));
                    tokio::task::yield_now().await;
                    in_flight.set(in_flight.get() - 1);
                    i
                }
            },
            |answer| *answer == 12,
        )
        .await;
        assert_eq!(most.get(), CALLS_IN_FLIGHT);
        // the batch holding 12 is answered in full; nothing after it is called
        assert_eq!(outcome.answers, (0..20).collect::<Vec<_>>());
        assert_eq!(outcome.not_reached, (20..35).collect::<Vec<_>>());
        assert!(!outcome.out_of_time);
    }

    #[tokio::test]
    async fn past_the_deadline_no_call_is_made_and_every_item_is_handed_back() {
        let past = SystemTime::now() - Duration::from_secs(1);
        let outcome = in_batches(0..3, Some(past), |i| async move { i }, |_| false).await;
        assert!(outcome.answers.is_empty());
        assert_eq!(outcome.not_reached, vec![0, 1, 2]);
        assert!(outcome.out_of_time);
    }
}
