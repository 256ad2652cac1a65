//! Waking a run's restore loop when a restore job ends, instead of at the end of its poll
//! interval (AWS Backup's `Restore Job State Change` events, the callback pattern).
//!
//! Each round, the loop's wait is a Step Functions task that parks its task token here
//! (`wake/<execution>.json` in the run-state bucket) and times out after the run's wait
//! between rounds. When a restore job of this account and region ends, the same function hands
//! every parked token back (`SendTaskSuccess`), so the loop polls at once. A wake is only ever
//! early: a lost event, a token that could not be parked, or a run whose restores happen
//! elsewhere (a failback's, in the primary region) waits the interval as before. A spurious wake (another
//! restore of the account) costs one poll. Each run parks a token for at most its
//! `rounds.wakeable` rounds, then waits the interval only: a run of thousands of restores
//! cannot grow its execution history past Step Functions' limit one wake at a time
//! (`model::rounds` sizes both the wakes and the interval).

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::aws::store::{Part, RunRef, RunStore};
use crate::aws::Clients;
use crate::error::{BackstopError, SdkContext};
use crate::model::time::format_time;
use crate::steps::Invocation;
use futures_util::future::try_join;

/// Where parked tokens are kept, one object per waiting run.
pub const PARKED_PREFIX: &str = "wake/runs/";

/// A restore that ended while no run was parked (a run between its poll and its next wait):
/// the next wait to park ends at once instead.
const MISSED_KEY: &str = "wake/missed.json";

const RESTORE_EVENT: &str = "Restore Job State Change";

/// A run's wait, parked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Parked {
    token: String,
    parked_at: String,
}

/// How many of a run's waits were parked (`Part::Wake`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Parks {
    parked: u32,
}

/// What the function did.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WakeOutcome {
    /// `parked`, `not-parked` (the wait runs its interval), `woke`, `missed` (no wait was
    /// parked: the next one ends at once) or `ignored`.
    pub action: String,
    pub reason: String,
    /// Waits handed back.
    pub woken: usize,
    /// Tokens of waits that had already ended (timed out, or the run stopped): removed.
    pub stale: usize,
}

fn outcome(action: &str, reason: String, woken: usize, stale: usize) -> WakeOutcome {
    WakeOutcome {
        action: action.into(),
        reason,
        woken,
        stale,
    }
}

fn parked_key(run: &RunRef) -> String {
    format!("{PARKED_PREFIX}{}.json", run.execution.as_str())
}

/// A restore job that ended, as the event says.
#[derive(Debug, Clone, PartialEq)]
pub struct RestoreEnded {
    pub job_id: String,
    pub status: String,
}

/// Reads a `Restore Job State Change` event; `None` for a state that is not an end (a job
/// still pending or running wakes no one). A wrong source or type is an error naming it.
pub fn parse_restore_event(event: &Value) -> Result<Option<RestoreEnded>, BackstopError> {
    let text = |field: &str| event.get(field).and_then(Value::as_str);
    if text("source") != Some("aws.backup") {
        return Err(BackstopError::invalid_input(
            "source",
            "is not \"aws.backup\": route only AWS Backup restore job events (or the state machine's park requests) to this function",
        ));
    }
    if text("detail-type") != Some(RESTORE_EVENT) {
        return Err(BackstopError::invalid_input(
            "detail-type",
            format!(
                "is {:?}; expected \"{RESTORE_EVENT}\"",
                event.get("detail-type")
            ),
        ));
    }
    let detail = event
        .get("detail")
        .filter(|d| d.is_object())
        .ok_or_else(|| BackstopError::invalid_input("detail", "is missing"))?;
    let field = |name: &str| {
        detail
            .get(name)
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
            .ok_or_else(|| {
                BackstopError::invalid_input(format!("detail.{name}"), "is missing or empty")
            })
    };
    let job_id = field("restoreJobId")?;
    let status = field("status")?;
    let ended = matches!(status.as_str(), "COMPLETED" | "FAILED" | "ABORTED");
    Ok(ended.then_some(RestoreEnded { job_id, status }))
}

/// A restore job's end that found no parked wait.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Missed {
    restore_job_id: String,
    at: String,
}

/// Parks the wait's task token, unless the run has used its wakeable rounds; or hands it
/// straight back when a restore ended while no wait was parked (the run polled just before
/// it, or while this wait was being parked: it looks again once the token is down), which
/// counts as a wakeable round too. Never fails the run: a token not parked only
/// means the wait runs its full interval.
pub async fn park(
    store: &RunStore,
    sfn: &aws_sdk_sfn::Client,
    run: &RunRef,
    token: &str,
) -> WakeOutcome {
    let parked = async {
        // read together: a park is on the way from a restore's end to the next round
        let (parks, missed) = try_join(
            store.get::<Parks>(&run.execution, Part::Wake),
            store.get_at::<Missed>(MISSED_KEY),
        )
        .await?;
        let parks = parks.unwrap_or_default();
        let wakeable = run.rounds.wakeable;
        if parks.parked >= wakeable {
            return Ok(outcome(
                "not-parked",
                format!("the run's {wakeable} wakeable rounds are used: it polls every interval"),
                0,
                0,
            ));
        }
        let count = Parks {
            parked: parks.parked + 1,
        };
        let counted = store.put(&run.execution, Part::Wake, &count);
        if let Some(missed) = missed {
            try_join(counted, delete(store, MISSED_KEY)).await?;
            let output = json!({ "wokenBy": { "restoreJobId": missed.restore_job_id, "missedAt": missed.at } });
            sfn.send_task_success()
                .task_token(token)
                .output(output.to_string())
                .send()
                .await
                .context("handing back the wait at once")?;
            return Ok(outcome(
                "woke",
                format!(
                    "restore job {} ended at {} while no wait was parked: polls at once",
                    missed.restore_job_id, missed.at
                ),
                1,
                0,
            ));
        }
        let now = format_time(aws_smithy_types::DateTime::from(
            std::time::SystemTime::now(),
        ));
        let key = parked_key(run);
        let parked = Parked {
            token: token.to_string(),
            parked_at: now,
        };
        try_join(counted, store.put_at(&key, &parked)).await?;
        // a restore that ended between the marker's first read and the token's put found no
        // wait parked and left a marker: without a second look, this wait would run its
        // whole interval
        if let Some(missed) = store.get_at::<Missed>(MISSED_KEY).await? {
            if let Some(woke) = hand_back_missed(store, sfn, &key, token, &missed).await? {
                return Ok(woke);
            }
        }
        Ok::<_, BackstopError>(outcome(
            "parked",
            format!(
                "round {} waits for a restore job to end, or the interval",
                parks.parked + 1
            ),
            0,
            0,
        ))
    };
    match parked.await {
        Ok(done) => done,
        Err(err) => {
            tracing::warn!(error = %err, "the wait could not be parked: it runs its full interval");
            outcome("not-parked", err.to_string(), 0, 0)
        }
    }
}

/// Hands back the wait just parked at `key` for the end `missed` records, unless a wake
/// took its token meanwhile (`None`: it is woken already, and the marker is left for the
/// next wait, which then ends at once and costs one round).
async fn hand_back_missed(
    store: &RunStore,
    sfn: &aws_sdk_sfn::Client,
    key: &str,
    token: &str,
    missed: &Missed,
) -> Result<Option<WakeOutcome>, BackstopError> {
    let still_parked = store
        .get_at::<Parked>(key)
        .await?
        .is_some_and(|parked| parked.token == token);
    if !still_parked {
        return Ok(None);
    }
    try_join(delete(store, key), delete(store, MISSED_KEY)).await?;
    let output =
        json!({ "wokenBy": { "restoreJobId": missed.restore_job_id, "missedAt": missed.at } });
    let sent = sfn
        .send_task_success()
        .task_token(token)
        .output(output.to_string())
        .send()
        .await;
    match sent {
        Ok(_) => {}
        // a wake handed it back between the look and the delete: woken all the same
        Err(err) if wait_ended(&err) => {}
        Err(err) => return Err(err).context("handing back the wait at once"),
    }
    Ok(Some(outcome(
        "woke",
        format!(
            "restore job {} ended at {} while this wait was being parked: polls at once",
            missed.restore_job_id, missed.at
        ),
        1,
        0,
    )))
}

/// Hands every parked wait back: each of this stack's runs polls its restores now.
pub async fn wake_parked(
    store: &RunStore,
    sfn: &aws_sdk_sfn::Client,
    ended: &RestoreEnded,
) -> Result<WakeOutcome, BackstopError> {
    let bucket = store.bucket().to_string();
    let mut keys = Vec::new();
    let mut pages = store
        .s3()
        .list_objects_v2()
        .bucket(&bucket)
        .prefix(PARKED_PREFIX)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.context(format!("listing s3://{bucket}/{PARKED_PREFIX}"))?;
        keys.extend(
            page.contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_string)),
        );
    }
    let (mut woken, mut stale) = (0, 0);
    let output = json!({ "wokenBy": { "restoreJobId": ended.job_id, "status": ended.status } });
    for key in keys {
        let Some(parked) = store.get_at::<Parked>(&key).await? else {
            continue; // woken by another event meanwhile
        };
        // removed before it is handed back: the woken run may park its next wait at this key
        // before a later delete would run
        delete(store, &key).await?;
        let sent = sfn
            .send_task_success()
            .task_token(&parked.token)
            .output(output.to_string())
            .send()
            .await;
        match sent {
            Ok(_) => woken += 1,
            // the wait ended already (timed out, or its run stopped): nothing to wake
            Err(err) if wait_ended(&err) => stale += 1,
            Err(err) => {
                return Err(crate::error::classify_sdk_error(
                    format!("handing back the wait parked at {key}"),
                    err,
                ))
            }
        }
    }
    if woken == 0 {
        // a run may be between its poll and its next wait: that wait ends at once
        let now = format_time(aws_smithy_types::DateTime::from(
            std::time::SystemTime::now(),
        ));
        let missed = Missed {
            restore_job_id: ended.job_id.clone(),
            at: now,
        };
        store.put_at(MISSED_KEY, &missed).await?;
        let reason = format!(
            "restore job {} ended while no wait was parked: the next wait ends at once",
            ended.job_id
        );
        return Ok(outcome("missed", reason, 0, stale));
    }
    let reason = format!("restore job {} ended {}", ended.job_id, ended.status);
    Ok(outcome("woke", reason, woken, stale))
}

/// Step Functions' answer for a token whose wait is over (handed back, timed out, or its run
/// stopped).
fn wait_ended(
    err: &aws_sdk_sfn::error::SdkError<
        aws_sdk_sfn::operation::send_task_success::SendTaskSuccessError,
    >,
) -> bool {
    err.as_service_error().is_some_and(|e| {
        e.is_task_timed_out() || e.is_invalid_token() || e.is_task_does_not_exist()
    })
}

async fn delete(store: &RunStore, key: &str) -> Result<(), BackstopError> {
    store
        .s3()
        .delete_object()
        .bucket(store.bucket())
        .key(key)
        .send()
        .await
        .context(format!("removing s3://{}/{key}", store.bucket()))?;
    Ok(())
}

/// `WakeRestoresFunction`: `{"park": {"run": …, "token": …}}` from the state machine's wait,
/// or AWS Backup's restore job events from EventBridge.
pub async fn run(
    clients: &Clients,
    input: Value,
    _: &Invocation,
) -> Result<WakeOutcome, BackstopError> {
    let store = clients.store()?;
    if let Some(request) = input.get("park") {
        let run: RunRef =
            serde_json::from_value(request.get("run").cloned().unwrap_or_default())
                .map_err(|err| BackstopError::invalid_input("park.run", err.to_string()))?;
        let token = request
            .get("token")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                BackstopError::invalid_input(
                    "park.token",
                    "is missing: pass the task token ($$.Task.Token)",
                )
            })?;
        return Ok(park(&store, &clients.sfn, &run, token).await);
    }
    match parse_restore_event(&input)? {
        Some(ended) => wake_parked(&store, &clients.sfn, &ended).await,
        None => Ok(outcome(
            "ignored",
            "a restore job that has not ended".into(),
            0,
            0,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(status: &str) -> Value {
        json!({
            "version": "0", "id": "e1", "source": "aws.backup",
            "detail-type": "Restore Job State Change", "account": "123456789012",
            "region": "us-west-2", "time": "2026-12-05T10:00:00Z", "resources": [],
            "detail": { "restoreJobId": "A1B2", "status": status, "percentDone": 100.0 }
        })
    }

    #[test]
    fn only_an_ended_restore_wakes() {
        let ended = parse_restore_event(&event("COMPLETED")).unwrap().unwrap();
        assert_eq!(
            (ended.job_id.as_str(), ended.status.as_str()),
            ("A1B2", "COMPLETED")
        );
        assert!(parse_restore_event(&event("FAILED")).unwrap().is_some());
        assert!(parse_restore_event(&event("RUNNING")).unwrap().is_none());
        assert!(parse_restore_event(&event("PENDING")).unwrap().is_none());
    }

    #[test]
    fn a_wrong_event_names_its_field() {
        let mut copy = event("COMPLETED");
        copy["detail-type"] = json!("Copy Job State Change");
        let err = parse_restore_event(&copy).unwrap_err().to_string();
        assert!(err.contains("detail-type"), "{err}");
        let mut other = event("COMPLETED");
        other["source"] = json!("aws.ec2");
        assert!(parse_restore_event(&other)
            .unwrap_err()
            .to_string()
            .contains("source"));
        let mut bare = event("COMPLETED");
        bare["detail"]
            .as_object_mut()
            .unwrap()
            .remove("restoreJobId");
        let err = parse_restore_event(&bare).unwrap_err().to_string();
        assert!(err.contains("detail.restoreJobId"), "{err}");
    }

    /// What S3 answers a park with: no parks counted yet, the missed marker absent at the first
    /// read and present at the second (a restore ended while the wait was being parked), and
    /// at the parked key the token `parked` (none: a wake took it).
    struct ParkScene {
        deletes: aws_smithy_mocks::Rule,
        handed_back: aws_smithy_mocks::Rule,
        store: RunStore,
        sfn: aws_sdk_sfn::Client,
    }

    fn park_scene(run: &RunRef, parked: Option<&str>) -> ParkScene {
        use aws_sdk_s3::operation::get_object::{GetObjectError, GetObjectOutput};
        use aws_sdk_s3::primitives::ByteStream;
        use aws_smithy_mocks::{mock, mock_client, RuleMode};
        let no_such_key =
            || GetObjectError::NoSuchKey(aws_sdk_s3::types::error::NoSuchKey::builder().build());
        let body = |value: Value| {
            let bytes = serde_json::to_vec(&value).unwrap();
            move || {
                GetObjectOutput::builder()
                    .body(ByteStream::from(bytes.clone()))
                    .build()
            }
        };
        let missed = mock!(aws_sdk_s3::Client::get_object)
            .match_requests(|r| r.key() == Some(MISSED_KEY))
            .sequence()
            .error(no_such_key)
            .output(body(
                json!({ "restoreJobId": "R9", "at": "2026-12-06T05:00:00Z" }),
            ))
            .build();
        let parked_key = parked_key(run);
        let parked_rule = match parked {
            Some(token) => mock!(aws_sdk_s3::Client::get_object)
                .match_requests(move |r| r.key() == Some(parked_key.as_str()))
                .then_output(body(
                    json!({ "token": token, "parkedAt": "2026-12-06T05:00:00Z" }),
                )),
            None => mock!(aws_sdk_s3::Client::get_object)
                .match_requests(move |r| r.key() == Some(parked_key.as_str()))
                .then_error(no_such_key),
        };
        let counts = mock!(aws_sdk_s3::Client::get_object)
            .match_requests(|r| r.key().is_some_and(|k| k.ends_with("/wake.json")))
            .then_error(no_such_key);
        let puts = mock!(aws_sdk_s3::Client::put_object)
            .then_output(|| aws_sdk_s3::operation::put_object::PutObjectOutput::builder().build());
        let deletes = mock!(aws_sdk_s3::Client::delete_object).then_output(|| {
            aws_sdk_s3::operation::delete_object::DeleteObjectOutput::builder().build()
        });
        let handed_back = mock!(aws_sdk_sfn::Client::send_task_success).then_output(|| {
            aws_sdk_sfn::operation::send_task_success::SendTaskSuccessOutput::builder().build()
        });
        ParkScene {
            store: RunStore::new(
                mock_client!(
                    aws_sdk_s3,
                    RuleMode::MatchAny,
                    [&missed, &parked_rule, &counts, &puts, &deletes]
                ),
                "state",
            ),
            sfn: mock_client!(aws_sdk_sfn, RuleMode::MatchAny, [&handed_back]),
            deletes,
            handed_back,
        }
    }

    fn a_run() -> RunRef {
        let run = crate::model::run::ResolvedRun::for_test(
            "drill-1",
            crate::model::run::Mode::Drill,
            crate::plan::example_plan(),
        );
        RunRef::of(
            &run,
            crate::model::run::RunId::try_from("drill-1".to_string()).unwrap(),
        )
    }

    /// A run whose wakeable rounds are used parks nothing: its wait runs the interval, and no
    /// end hands it back early.
    #[tokio::test]
    async fn a_run_whose_wakes_are_used_waits_its_interval() {
        let mut run = a_run();
        run.rounds.wakeable = 0;
        let scene = park_scene(&run, Some("token-1"));
        let done = park(&scene.store, &scene.sfn, &run, "token-1").await;
        assert_eq!(done.action, "not-parked", "{done:?}");
        assert!(done.reason.contains("0 wakeable rounds"), "{done:?}");
        assert_eq!(scene.handed_back.num_calls(), 0);
        assert_eq!(scene.deletes.num_calls(), 0);
    }

    /// A restore that ends between the park's first look for a missed end and its token's
    /// put finds no wait parked: the park looks again once its token is down, and hands its
    /// wait back at once instead of leaving it to run its whole interval.
    #[tokio::test]
    async fn a_restore_that_ends_while_the_wait_is_being_parked_hands_it_back_at_once() {
        let run = a_run();
        let scene = park_scene(&run, Some("token-1"));
        let done = park(&scene.store, &scene.sfn, &run, "token-1").await;
        assert_eq!(done.action, "woke", "{done:?}");
        assert!(done.reason.contains("R9"), "{done:?}");
        assert_eq!(scene.handed_back.num_calls(), 1);
        // its token and the marker are removed: no later wake hands the same wait back
        assert_eq!(scene.deletes.num_calls(), 2);
    }

    /// A wake that took the token first has woken the wait already: the park does not hand
    /// it back a second time, and leaves the marker for the run's next wait.
    #[tokio::test]
    async fn a_wait_already_woken_is_not_handed_back_twice() {
        let run = a_run();
        let scene = park_scene(&run, None);
        let done = park(&scene.store, &scene.sfn, &run, "token-1").await;
        assert_eq!(done.action, "parked", "{done:?}");
        assert_eq!(scene.handed_back.num_calls(), 0);
        assert_eq!(scene.deletes.num_calls(), 0);
    }
}
