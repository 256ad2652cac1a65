//! Many calls of one kind (a restore per resource, a deletion per resource), a few at a time,
//! while the invocation's deadline allows.

use std::future::Future;
use std::time::SystemTime;

use futures_util::stream::{FuturesUnordered, StreamExt};

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
/// `deadline` allows and no answer says `stop`. A call starts as soon as one in flight is
/// answered (a window, not batches: one slow answer does not hold back the nine after it).
/// Once the deadline passes or an answer says `stop`, no new call starts and the calls in
/// flight are answered: none is still in flight, its answer unrecorded, when this returns.
pub async fn in_batches<T, R, Fut>(
    items: impl IntoIterator<Item = T>,
    deadline: Option<SystemTime>,
    mut call: impl FnMut(T) -> Fut,
    stop: impl Fn(&R) -> bool,
) -> Batched<T, R>
where
    Fut: Future<Output = R>,
{
    let mut waiting = items.into_iter().peekable();
    let mut in_flight = FuturesUnordered::new();
    let mut answers: Vec<(usize, R)> = Vec::new();
    let (mut stopped, mut out_of_time) = (false, false);
    loop {
        while !stopped && !out_of_time && in_flight.len() < CALLS_IN_FLIGHT {
            if waiting.peek().is_none() {
                break;
            }
            if !time_left(deadline) {
                out_of_time = true;
                break;
            }
            let (index, item) = (answers.len() + in_flight.len(), waiting.next());
            let answer = call(item.expect("peeked"));
            in_flight.push(async move { (index, answer.await) });
        }
        let Some((index, answer)) = in_flight.next().await else {
            break;
        };
        stopped |= stop(&answer);
        answers.push((index, answer));
    }
    answers.sort_by_key(|(index, _)| *index);
    Batched {
        answers: answers.into_iter().map(|(_, answer)| answer).collect(),
        not_reached: waiting.collect(),
        out_of_time,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::time::Duration;

    #[tokio::test]
    async fn at_most_ten_calls_run_at_once_and_none_starts_after_the_answer_that_says_stop() {
        let in_flight = Cell::new(0usize);
        let most = Cell::new(0usize);
        let (stop_seen, made_after_stop) = (Cell::new(false), Cell::new(0usize));
        let outcome = in_batches(
            0..35,
            None,
            |i| {
                made_after_stop.set(made_after_stop.get() + usize::from(stop_seen.get()));
                let (in_flight, most) = (&in_flight, &most);
                async move {
                    in_flight.set(in_flight.get() + 1);
                    most.set(most.get().max(in_flight.get()));
                    tokio::task::yield_now().await;
                    in_flight.set(in_flight.get() - 1);
                    i
                }
            },
            |answer| {
                stop_seen.set(stop_seen.get() || *answer == 12);
                *answer == 12
            },
        )
        .await;
        assert_eq!(most.get(), CALLS_IN_FLIGHT);
        assert_eq!(in_flight.get(), 0, "every call made was answered");
        assert_eq!(
            made_after_stop.get(),
            0,
            "a call was made after 12 said stop"
        );
        // the calls in flight when 12 answered are answered too; what was made and what was
        // not are the items, in order
        let made = outcome.answers.len();
        assert!(made > 12 && made < 35, "{made} calls made");
        assert_eq!(outcome.answers, (0..made).collect::<Vec<_>>());
        assert_eq!(outcome.not_reached, (made..35).collect::<Vec<_>>());
        assert!(!outcome.out_of_time);
    }

    #[tokio::test]
    async fn a_slow_answer_does_not_hold_back_the_calls_after_it() {
        // call 0 answers only once call 15 has: in batches of ten, 15 would wait for 0
        let fifteen_answered = Cell::new(false);
        let outcome = tokio::time::timeout(
            Duration::from_secs(5),
            in_batches(
                0..20,
                None,
                |i| {
                    let fifteen_answered = &fifteen_answered;
                    async move {
                        while i == 0 && !fifteen_answered.get() {
                            tokio::task::yield_now().await;
                        }
                        fifteen_answered.set(fifteen_answered.get() || i == 15);
                        i
                    }
                },
                |_| false,
            ),
        )
        .await
        .expect("call 15 started while call 0 was in flight");
        assert_eq!(outcome.answers, (0..20).collect::<Vec<_>>());
        assert!(outcome.not_reached.is_empty());
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
