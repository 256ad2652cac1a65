//! The run's state in the DR region: one S3 object per part, so the Step Functions payload
//! carries ids and counts only, whatever the number of resources.
//!
//! Each part has one writer at a time: `run` (resolve-plan), `restore` (start-restore and
//! poll-restore, one after the other), `launch` (launch-instances, in the parallel branch),
//! `attach` (attach-volumes), `teardown` (teardown, one pass at a time). A retried step reads what its last attempt wrote, so it resumes
//! instead of starting over. Objects live under `state/<execution name>/`: a resumed run is a
//! new execution and starts from a clean state, as it did when the state travelled in the payload.

use aws_config::SdkConfig;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::{classify_sdk_error, BackstopError, SdkContext};
use crate::model::instances::{Attachment, LaunchedInstance, WaveSpan};
use crate::model::jobs::RestoreJob;
use crate::model::network::NetworkState;
use crate::model::rounds::Rounds;
use crate::model::run::{ApprovalGate, FailbackOf, ResolvedRun, RunSettings};
use crate::model::run::{Mode, RunId};
use crate::plan::RecoverInto;

/// The environment variable naming the bucket (the stack's `RunStateBucket`).
pub const BUCKET_VARIABLE: &str = "RUN_STATE_BUCKET";

/// One part of a run's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The resolved run: plan, recovery points, settings (`ResolvedRun`).
    Run,
    /// The run's restore jobs as last seen (`Vec<RestoreJob>`).
    Restore,
    /// The instances launched (`Vec<LaunchedInstance>`).
    Launch,
    /// The volumes attached (`Vec<Attachment>`).
    Attach,
    /// The last teardown pass (`TeardownOutcome`).
    Teardown,
    /// The readiness report preflight made before the run (`Readiness`).
    Preflight,
    /// The run's DR network stack, and its outputs once ready (`NetworkState`).
    Network,
    /// Fast snapshot restore on the copies the run restores (`Vec<FastRestore>`).
    FastRestore,
    /// The recovery waves as the run went through them (`Vec<WaveSpan>`).
    Waves,
    /// The plan's validations as they ran (`ValidationOutcome`).
    Validation,
    /// The post-launch actions as they ran (`PostLaunchOutcome`).
    PostLaunch,
    /// A failback's backups of the DR side and their copies home (`Vec<Capture>`).
    Capture,
    /// How many of the restore loop's waits were parked for an early wake (`steps::wake`).
    Wake,
}

impl Part {
    fn file(self) -> &'static str {
        match self {
            Part::Run => "run.json",
            Part::Restore => "restore.json",
            Part::Launch => "launch.json",
            Part::Attach => "attach.json",
            Part::Teardown => "teardown.json",
            Part::Preflight => "preflight.json",
            Part::Network => "network.json",
            Part::FastRestore => "fast-restore.json",
            Part::Waves => "waves.json",
            Part::Validation => "validation.json",
            Part::PostLaunch => "post-launch.json",
            Part::Capture => "capture.json",
            Part::Wake => "wake.json",
        }
    }
}

/// What the payload carries of the run: enough for the state machine's choices and waits, and
/// the key of the rest. Its size does not depend on the plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RunRef {
    pub run_id: RunId,
    /// The execution whose state this is: the key of the stored parts.
    pub execution: RunId,
    pub mode: Mode,
    pub plan_name: String,
    pub settings: RunSettings,
    pub approval: ApprovalGate,
    pub counts: RunCounts,
    /// How long the run's loops wait between rounds, and how many restore rounds a restore's
    /// end may cut short (sized to the run's bound: see `model::rounds`). A run resolved by
    /// an earlier version (in flight across an upgrade) has none: its own definition waits the
    /// poll interval, and it parks as many times as that version did.
    #[serde(default = "Rounds::resolved_before_sizing")]
    pub rounds: Rounds,
    /// Where the run recovers, when not in the stack's own region (a failback recovers in the
    /// primary region): the steps' workload clients are that region's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// A failover that recovers in another account (the plan's `recoverInto`): the steps'
    /// workload clients act as its role there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recover_into: Option<RecoverInto>,
    /// A failback: the failover it retires, and after how long (the state machine's wait).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failback: Option<FailbackOf>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunCounts {
    pub restores: usize,
    pub instances: usize,
    pub warnings: usize,
}

impl RunRef {
    pub fn of(run: &ResolvedRun, execution: RunId) -> RunRef {
        RunRef {
            run_id: run.run_id.clone(),
            execution,
            mode: run.mode,
            plan_name: run.plan.name.clone(),
            settings: run.settings.clone(),
            approval: run.approval.clone(),
            counts: RunCounts {
                restores: run.restores.len(),
                instances: run.plan.instances.len(),
                warnings: run.warnings.len(),
            },
            rounds: run.rounds(),
            region: run.failback.as_ref().map(|_| run.plan.dr_region.clone()),
            recover_into: run.recovers_into().cloned(),
            failback: run.failback.clone(),
        }
    }
}

/// The key of a part of an execution's state.
pub fn key(execution: &RunId, part: Part) -> String {
    format!("state/{}/{}", execution.as_str(), part.file())
}

/// An S3 client for a bucket: path-style when a custom endpoint is configured (a VPC
/// endpoint, the local emulator), which has no per-bucket host names.
pub fn s3_client(config: &SdkConfig) -> aws_sdk_s3::Client {
    let s3_config = aws_sdk_s3::config::Builder::from(config)
        .force_path_style(config.endpoint_url().is_some())
        .build();
    aws_sdk_s3::Client::from_conf(s3_config)
}

#[derive(Clone)]
pub struct RunStore {
    s3: aws_sdk_s3::Client,
    bucket: String,
}

impl RunStore {
    pub fn new(s3: aws_sdk_s3::Client, bucket: impl Into<String>) -> RunStore {
        RunStore {
            s3,
            bucket: bucket.into(),
        }
    }

    /// The store's S3 client (a plan object is read with it).
    pub fn s3(&self) -> &aws_sdk_s3::Client {
        &self.s3
    }

    /// The run-state bucket's name.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    pub async fn put<T: Serialize>(
        &self,
        execution: &RunId,
        part: Part,
        value: &T,
    ) -> Result<(), BackstopError> {
        self.put_at(&key(execution, part), value).await
    }

    /// Writes `value` as JSON at `key` of the bucket.
    pub async fn put_at<T: Serialize>(&self, key: &str, value: &T) -> Result<(), BackstopError> {
        let body = serde_json::to_vec(value).map_err(|err| {
            BackstopError::invalid_input(key, format!("cannot be written: {err}"))
        })?;
        self.s3
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type("application/json")
            .body(body.into())
            .send()
            .await
            .context(format!("writing s3://{}/{key}", self.bucket))?;
        Ok(())
    }

    /// The part, or `None` when it was never written.
    pub async fn get<T: DeserializeOwned>(
        &self,
        execution: &RunId,
        part: Part,
    ) -> Result<Option<T>, BackstopError> {
        self.get_at(&key(execution, part)).await
    }

    /// The JSON at `key` of the bucket, or `None` when there is none.
    pub async fn get_at<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, BackstopError> {
        let Some(bytes) = read_object(&self.s3, &self.bucket, key).await? else {
            return Ok(None);
        };
        let value = serde_json::from_slice(&bytes).map_err(|err| {
            BackstopError::invalid_input(
                format!("s3://{}/{key}", self.bucket),
                format!(
                    "is not the run state this version of Backstop writes ({err}); start a new run"
                ),
            )
        })?;
        Ok(Some(value))
    }

    /// The resolved run behind `run`, checked against the payload (a state edited to point
    /// at another run, or to skip the approval gate, is refused) and re-validated.
    pub async fn load_run(&self, run: &RunRef) -> Result<ResolvedRun, BackstopError> {
        let stored: ResolvedRun = self.get(&run.execution, Part::Run).await?.ok_or_else(|| {
            BackstopError::not_found(
                format!("the state of run {}", run.run_id),
                format!(
                    "s3://{}/{} is gone (deleted, or expired by the bucket's lifecycle rule); start a new run",
                    self.bucket,
                    key(&run.execution, Part::Run)
                ),
            )
        })?;
        let derived = RunRef::of(&stored, run.execution.clone());
        let same = stored.run_id == run.run_id
            && stored.mode == run.mode
            && stored.plan.name == run.plan_name
            && stored.approval == run.approval
            && derived.region == run.region
            && derived.recover_into == run.recover_into
            && stored.failback == run.failback;
        if !same {
            return Err(BackstopError::invalid_input(
                "run",
                "does not match the run's stored state (run id, mode, plan, approval gate, region or account): the state was edited; start the run again",
            ));
        }
        stored.checked()
    }

    pub async fn network(&self, run: &RunRef) -> Result<Option<NetworkState>, BackstopError> {
        self.get(&run.execution, Part::Network).await
    }

    /// The run with the plan's stack-output references filled in, once the network stack is
    /// ready (steps after the launch, which waits for it).
    pub async fn load_run_resolved(&self, run: &RunRef) -> Result<ResolvedRun, BackstopError> {
        let mut stored = self.load_run(run).await?;
        if stored.plan.network.is_some() {
            if let Some(resolved) = self
                .network(run)
                .await?
                .and_then(|n| n.resolve(&stored.plan))
            {
                stored.plan = resolved?;
            }
        }
        Ok(stored)
    }

    pub async fn jobs(&self, run: &RunRef) -> Result<Vec<RestoreJob>, BackstopError> {
        Ok(self
            .get(&run.execution, Part::Restore)
            .await?
            .unwrap_or_default())
    }

    pub async fn instances(&self, run: &RunRef) -> Result<Vec<LaunchedInstance>, BackstopError> {
        Ok(self
            .get(&run.execution, Part::Launch)
            .await?
            .unwrap_or_default())
    }

    pub async fn waves(&self, run: &RunRef) -> Result<Vec<WaveSpan>, BackstopError> {
        Ok(self
            .get(&run.execution, Part::Waves)
            .await?
            .unwrap_or_default())
    }

    /// Records a moment of `wave` (`change` fills in what happened; a moment already recorded
    /// is kept: a retried round does not move it).
    pub async fn record_wave(
        &self,
        run: &RunRef,
        wave: u32,
        instances: Vec<String>,
        change: impl FnOnce(&mut WaveSpan, String),
    ) -> Result<(), BackstopError> {
        let now = crate::model::time::format_time(aws_smithy_types::DateTime::from(
            std::time::SystemTime::now(),
        ));
        let mut waves = self.waves(run).await?;
        let before = waves.clone();
        let index = match waves.iter().position(|w| w.wave == wave) {
            Some(index) => index,
            None => {
                waves.push(WaveSpan {
                    wave,
                    instances,
                    started_at: now.clone(),
                    attached_at: None,
                    healthy_at: None,
                });
                waves.len() - 1
            }
        };
        change(&mut waves[index], now);
        if waves != before {
            self.put(&run.execution, Part::Waves, &waves).await?;
        }
        Ok(())
    }

    pub async fn attachments(&self, run: &RunRef) -> Result<Vec<Attachment>, BackstopError> {
        Ok(self
            .get(&run.execution, Part::Attach)
            .await?
            .unwrap_or_default())
    }
}

/// An object's bytes, or `None` when there is no such key.
pub async fn read_object(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
) -> Result<Option<Vec<u8>>, BackstopError> {
    Ok(read_object_with_etag(s3, bucket, key)
        .await?
        .map(|(bytes, _)| bytes))
}

/// An object's bytes and ETag, or `None` when there is no such key.
pub async fn read_object_with_etag(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
) -> Result<Option<(Vec<u8>, Option<String>)>, BackstopError> {
    let answer = s3.get_object().bucket(bucket).key(key).send().await;
    let object = match answer {
        Ok(object) => object,
        Err(err) if err.as_service_error().is_some_and(|e| e.is_no_such_key()) => return Ok(None),
        Err(err) => {
            return Err(classify_sdk_error(
                format!("reading s3://{bucket}/{key}"),
                err,
            ))
        }
    };
    let etag = object.e_tag.clone();
    let bytes = object
        .body
        .collect()
        .await
        .map_err(|err| BackstopError::Transient {
            action: format!("reading s3://{bucket}/{key}"),
            message: err.to_string(),
        })?;
    Ok(Some((bytes.into_bytes().to_vec(), etag)))
}

/// Writes `body` at `key` only if the object is still the one read (its `etag`), or still
/// absent (`None`): S3's conditional writes. `Ok(false)` when another writer came first (412,
/// or 409 for a concurrent conditional write): read again and retry.
pub async fn put_object_unless_changed(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    body: Vec<u8>,
    content_type: &str,
    etag: Option<&str>,
) -> Result<bool, BackstopError> {
    let request = s3
        .put_object()
        .bucket(bucket)
        .key(key)
        .content_type(content_type)
        .body(body.into());
    let request = match etag {
        Some(etag) => request.if_match(etag),
        None => request.if_none_match("*"),
    };
    match request.send().await {
        Ok(_) => Ok(true),
        Err(err)
            if err
                .raw_response()
                .is_some_and(|r| matches!(r.status().as_u16(), 409 | 412)) =>
        {
            Ok(false)
        }
        Err(err) => Err(classify_sdk_error(
            format!("writing s3://{bucket}/{key}"),
            err,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_execution_has_its_own_keys() {
        let execution = RunId::try_from("drill-1".to_string()).unwrap();
        assert_eq!(key(&execution, Part::Run), "state/drill-1/run.json");
        assert_eq!(key(&execution, Part::Restore), "state/drill-1/restore.json");
    }

    #[test]
    fn a_run_in_flight_across_an_upgrade_still_reads() {
        let plan = crate::plan::example_plan();
        let run = ResolvedRun::for_test("drill-1", crate::model::run::Mode::Drill, plan);
        let execution = crate::model::run::RunId::try_from("drill-1".to_string()).unwrap();
        let mut earlier = serde_json::to_value(RunRef::of(&run, execution)).unwrap();
        earlier.as_object_mut().unwrap().remove("rounds");
        let read: RunRef = serde_json::from_value(earlier).unwrap();
        assert_eq!(
            read.rounds,
            crate::model::rounds::Rounds::resolved_before_sizing()
        );
    }

    /// A failover into the production account, stored as resolve wrote it.
    fn failover_into_production() -> ResolvedRun {
        let mut plan = crate::plan::example_plan_json();
        let own = plan["resources"][0]["arn"]
            .as_str()
            .unwrap()
            .split(':')
            .nth(4)
            .unwrap()
            .to_string();
        plan["recoverInto"] = serde_json::json!({
            "roleArn": "arn:aws:iam::210987654321:role/backstop-recovery",
            "restoreRoleArn": "arn:aws:iam::210987654321:role/backstop-restore",
        });
        plan["backupVaultAccountId"] = serde_json::json!("210987654321");
        plan["sourceAccounts"] = serde_json::json!([own, "210987654321"]);
        let plan = crate::plan::Plan::from_value(plan).unwrap();
        ResolvedRun::for_test("failover-1", Mode::Failover, plan)
    }

    /// A store whose S3 answers every read with `run`.
    fn store_holding(run: &ResolvedRun) -> RunStore {
        use aws_sdk_s3::operation::get_object::GetObjectOutput;
        use aws_sdk_s3::primitives::ByteStream;
        use aws_smithy_mocks::{mock, mock_client, RuleMode};
        let body = serde_json::to_vec(run).unwrap();
        let get = mock!(aws_sdk_s3::Client::get_object).then_output(move || {
            GetObjectOutput::builder()
                .body(ByteStream::from(body.clone()))
                .build()
        });
        RunStore::new(
            mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&get]),
            "state",
        )
    }

    /// A step acts in the account its input names before it loads the run: the stored run
    /// must refuse an input that names another account, or one a drill must never act in.
    #[tokio::test]
    async fn a_step_input_edited_to_act_in_another_account_is_refused() {
        let stored = failover_into_production();
        let store = store_holding(&stored);
        let execution = RunId::try_from("exec-1".to_string()).unwrap();
        let honest = RunRef::of(&stored, execution.clone());
        assert_eq!(
            honest.recover_into.as_ref().map(RecoverInto::account_id),
            Some("210987654321")
        );
        assert!(store.load_run(&honest).await.is_ok());

        let mut elsewhere = honest.clone();
        elsewhere.recover_into.as_mut().unwrap().role_arn =
            "arn:aws:iam::999988887777:role/anything".into();
        let mut at_home = honest.clone();
        at_home.recover_into = None;
        for edited in [elsewhere, at_home] {
            let err = store.load_run(&edited).await.unwrap_err();
            assert_eq!(err.error_name(), "Backstop.InvalidInput", "{err}");
            assert!(err.to_string().contains("region or account"), "{err}");
        }

        // a drill of the same plan recovers in Backstop's own account, whatever it is told
        let mut drill = stored.clone();
        drill.mode = Mode::Drill;
        drill.approval = ApprovalGate::for_run(&drill.plan, Mode::Drill);
        let store = store_holding(&drill);
        let mut told = RunRef::of(&drill, execution);
        assert_eq!(told.recover_into, None);
        told.recover_into = stored.recovers_into().cloned();
        assert!(store.load_run(&told).await.is_err());
    }
}
