//! AWS Backup's job events (`Backup Job State Change`, `Copy Job State Change`): a completed
//! copy into the DR vault gives the resource's RPO (the age of its freshest DR copy, from when
//! its data was captured) and may start a verification drill; a failed, aborted or expired job
//! is logged, counted and announced.

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::aws::plan_source::plan_from_ssm;
use crate::aws::tags::digest;
use crate::aws::{Clients, Settings};
use crate::error::{BackstopError, SdkContext};
use crate::model::jobs::JobStatus;
use crate::model::time::format_time;
use crate::plan::{Plan, VerificationSettings};
use crate::steps::resolve::parse_input;
use crate::steps::restore::freshest_copy;
use crate::steps::Invocation;
use crate::telemetry::emf_line;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum JobKind {
    Backup,
    Copy,
}

/// One job state change, as the fields Backstop needs.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JobChange {
    pub kind: JobKind,
    pub job_id: String,
    pub state: JobStatus,
    pub resource_arn: String,
    pub resource_type: Option<String>,
    /// The vault the job wrote to (a copy's destination vault).
    pub vault_arn: Option<String>,
    /// The recovery point the job made (a failed copy has none).
    pub recovery_point_arn: Option<String>,
    pub size_bytes: Option<u64>,
    pub status_message: Option<String>,
}

impl JobChange {
    pub fn failed(&self) -> bool {
        self.state.did_not_complete()
    }
}

/// The `detail` of both event types. Lenient where AWS is inconsistent (`state` or `status`,
/// a size as a string or a number, a missing destination as `{}`); unknown fields are fine.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct JobDetail {
    backup_job_id: Option<String>,
    copy_job_id: Option<String>,
    state: Option<String>,
    status: Option<String>,
    resource_arn: Option<String>,
    resource_type: Option<String>,
    backup_vault_arn: Option<String>,
    recovery_point_arn: Option<String>,
    destination_backup_vault_arn: Option<String>,
    destination_recovery_point_arn: Option<Value>,
    backup_size_in_bytes: Option<Value>,
    status_message: Option<String>,
}

const BACKUP: &str = "Backup Job State Change";
const COPY: &str = "Copy Job State Change";

/// Reads a backup or copy job event; a wrong source or type, or a missing field Backstop
/// needs, is an error naming it.
pub fn parse_backup_event(event: Value) -> Result<JobChange, BackstopError> {
    if !event.is_object() {
        return Err(BackstopError::invalid_input(
            "event",
            "is not a JSON object: expected an EventBridge event from aws.backup",
        ));
    }
    let envelope: EventBridgeEvent<Option<JobDetail>> = parse_input(event)?;
    if envelope.source != "aws.backup" {
        return Err(BackstopError::invalid_input(
            "source",
            format!(
                "is {:?}, not \"aws.backup\": route only AWS Backup job events to this function",
                envelope.source
            ),
        ));
    }
    let kind = match envelope.detail_type.as_str() {
        BACKUP => JobKind::Backup,
        COPY => JobKind::Copy,
        other => {
            return Err(BackstopError::invalid_input(
                "detail-type",
                format!("is {other:?}; expected \"{BACKUP}\" or \"{COPY}\""),
            ))
        }
    };
    let detail = envelope
        .detail
        .ok_or_else(|| BackstopError::invalid_input("detail", "is missing"))?;
    let need = |value: Option<String>, field: &str| {
        value.filter(|v| !v.is_empty()).ok_or_else(|| {
            BackstopError::invalid_input(format!("detail.{field}"), "is missing or empty")
        })
    };
    let (job_id, vault_arn, recovery_point_arn) = match kind {
        JobKind::Backup => (
            need(detail.backup_job_id, "backupJobId")?,
            detail.backup_vault_arn,
            detail.recovery_point_arn,
        ),
        JobKind::Copy => (
            need(detail.copy_job_id, "copyJobId")?,
            Some(need(
                detail.destination_backup_vault_arn,
                "destinationBackupVaultArn",
            )?),
            // AWS sends `{}` here when the copy made no recovery point
            detail
                .destination_recovery_point_arn
                .and_then(|v| v.as_str().map(str::to_string))
                .filter(|arn| !arn.is_empty()),
        ),
    };
    let state = need(detail.state.or(detail.status), "state")?;
    let size_bytes = match detail.backup_size_in_bytes {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(text)) => Some(text.trim().parse::<u64>().map_err(|_| {
            BackstopError::invalid_input(
                "detail.backupSizeInBytes",
                format!("{text:?} is not a number of bytes"),
            )
        })?),
        Some(other) => {
            return Err(BackstopError::invalid_input(
                "detail.backupSizeInBytes",
                format!("is {other}, not a number of bytes"),
            ))
        }
    };
    let resource_arn = need(detail.resource_arn, "resourceArn")?;
    if !looks_like_arn(&resource_arn) {
        return Err(BackstopError::invalid_input(
            "detail.resourceArn",
            format!(
                "{:?} is not an ARN (arn:<partition>:<service>:<region>:<account>:<resource>)",
                crate::error::shorten(&resource_arn, 80)
            ),
        ));
    }
    Ok(JobChange {
        kind,
        job_id,
        state: JobStatus::from(state.as_str()),
        resource_arn,
        resource_type: detail.resource_type,
        vault_arn,
        recovery_point_arn,
        size_bytes,
        status_message: detail.status_message,
    })
}

/// Six colon-separated parts, the first `arn`, of printable ASCII (what AWS puts in an event).
fn looks_like_arn(text: &str) -> bool {
    let parts: Vec<&str> = text.splitn(6, ':').collect();
    parts.len() == 6
        && parts[0] == "arn"
        && !parts[1].is_empty()
        && !parts[2].is_empty()
        && !parts[5].is_empty()
        && text.chars().all(|c| c.is_ascii_graphic())
}

/// What the function did with one event.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventOutcome {
    /// `measured`, `alerted` or `ignored`.
    pub action: &'static str,
    pub resource: Option<String>,
    pub reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rpo_seconds: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drill: Option<String>,
    pub job: JobChange,
}

pub async fn handle_job_change(
    clients: &Clients,
    change: JobChange,
) -> Result<EventOutcome, BackstopError> {
    let stack = &clients.settings;
    let plan_parameter = Settings::required(&stack.plan_parameter, "PLAN_PARAMETER")?;
    let plan = plan_from_ssm(&clients.ssm, plan_parameter).await?;
    if plan.dr_region != stack.region {
        return Err(BackstopError::InvalidPlan(vec![crate::error::PlanProblem {
            field: "drRegion".into(),
            message: format!(
                "is {}, but this Backstop runs in {}: its copies would be looked for in the wrong region",
                plan.dr_region, stack.region
            ),
            fix: "deploy Backstop in the DR region, or correct drRegion".into(),
        }]));
    }
    let outcome =
        |action, resource: Option<String>, reason: String, change: JobChange| EventOutcome {
            action,
            resource,
            reason,
            rpo_seconds: None,
            drill: None,
            job: change,
        };
    let Some(resource) = plan
        .resources
        .iter()
        .find(|r| r.arn.as_deref() == Some(change.resource_arn.as_str()))
    else {
        let reason = format!(
            "{} is not a resource of plan {}",
            change.resource_arn, plan.name
        );
        tracing::info!("ignored: {reason}");
        return Ok(outcome("ignored", None, reason, change));
    };
    let name = resource.name.clone();
    if change.failed() {
        alert(&clients.sns, stack, &plan, &name, &change).await?;
        let reason = format!(
            "{} job {} {}: {}",
            kind_name(change.kind),
            change.job_id,
            change.state,
            change
                .status_message
                .as_deref()
                .unwrap_or("no reason given")
        );
        return Ok(outcome("alerted", Some(name), reason, change));
    }
    let into_dr_vault = change.kind == JobKind::Copy
        && change.state == JobStatus::Completed
        && change.vault_arn.as_deref().is_some_and(|arn| {
            is_vault(
                arn,
                &plan.dr_region,
                // a shared air-gapped vault is its owner's
                plan.backup_vault_account_id
                    .as_deref()
                    .or(stack.stack_account.as_deref()),
                &plan.backup_vault,
            )
        });
    if !into_dr_vault {
        let reason = format!(
            "a {} job {} of {name}: only a completed copy into vault {} of account {} in {} changes the RPO",
            kind_name(change.kind),
            change.state,
            plan.backup_vault,
            stack.stack_account.as_deref().unwrap_or("(this stack's)"),
            plan.dr_region
        );
        tracing::debug!("ignored: {reason}");
        return Ok(outcome("ignored", Some(name), reason, change));
    }
    // the freshest copy, not this one: copies can complete out of order
    let freshest = freshest_copy(
        &clients.backup,
        plan.dr_vault(),
        &plan.dr_region,
        &change.resource_arn,
    )
    .await?;
    let Some((point, captured)) = freshest else {
        let reason = format!(
            "no COMPLETED copy of {name} is listed in {} yet",
            plan.backup_vault
        );
        tracing::warn!("{reason}");
        return Ok(outcome("ignored", Some(name), reason, change));
    };
    let now = aws_smithy_types::DateTime::from(std::time::SystemTime::now());
    let rpo_seconds = now.secs().saturating_sub(captured.secs()).max(0);
    let objective = plan.objectives.rpo_minutes.map(|m| m.saturating_mul(60));
    println!(
        "{}",
        emf_line(
            &[("Plan", &plan.name), ("Resource", &name)],
            &[
                ("RpoSeconds", "Seconds", rpo_seconds as f64),
                (
                    "RpoBreached",
                    "Count",
                    if objective.is_some_and(|o| rpo_seconds > o) {
                        1.0
                    } else {
                        0.0
                    }
                ),
            ],
        )
    );
    tracing::info!(resource = %name, rpo_seconds, recovery_point = %point, captured = %format_time(captured), "freshest DR copy");
    let drill = match &plan.verification {
        Some(settings) if settings.drill_after_copy => {
            start_verification_drill(&clients.sfn, stack, &plan, settings, &change).await?
        }
        _ => None,
    };
    Ok(EventOutcome {
        action: "measured",
        resource: Some(name.clone()),
        reason: format!(
            "freshest DR copy of {name} holds data from {}",
            format_time(captured)
        ),
        rpo_seconds: Some(rpo_seconds),
        drill,
        job: change,
    })
}

fn kind_name(kind: JobKind) -> &'static str {
    match kind {
        JobKind::Backup => "backup",
        JobKind::Copy => "copy",
    }
}

/// `arn:<partition>:backup:<region>:<account>:backup-vault:<name>`, of `account` when known.
fn is_vault(arn: &str, region: &str, account: Option<&str>, name: &str) -> bool {
    let parts: Vec<&str> = arn.splitn(7, ':').collect();
    parts.len() == 7
        && parts[2] == "backup"
        && parts[3] == region
        && account.is_none_or(|account| parts[4] == account)
        && parts[5] == "backup-vault"
        && parts[6] == name
}

/// The longest job message a notice carries (an SNS message is at most 256 KB).
const MAX_REASON_CHARS: usize = 4_000;

/// A failed job: an error line naming the resource and reason, a failure metric and a notice.
async fn alert(
    sns: &aws_sdk_sns::Client,
    stack: &Settings,
    plan: &Plan,
    resource: &str,
    change: &JobChange,
) -> Result<(), BackstopError> {
    let kind = kind_name(change.kind);
    // AWS Backup's message can be long; an SNS message holds at most 256 KB
    let reason = crate::error::truncate_chars(
        change
            .status_message
            .as_deref()
            .unwrap_or("AWS Backup gave no reason"),
        MAX_REASON_CHARS,
    );
    tracing::error!(resource, job = %change.job_id, state = %change.state, "{kind} job of {resource} {}: {reason}", change.state);
    let metric = match change.kind {
        JobKind::Backup => "BackupJobFailed",
        JobKind::Copy => "CopyJobFailed",
    };
    println!(
        "{}",
        emf_line(
            &[("Plan", &plan.name), ("Resource", resource)],
            &[(metric, "Count", 1.0)]
        )
    );
    let Some(topic) = &stack.notice_topic_arn else {
        tracing::warn!("NOTICE_TOPIC_ARN is not set: no notification sent");
        return Ok(());
    };
    let message = json!({
        "plan": plan.name,
        "resource": resource,
        "resourceArn": change.resource_arn,
        "job": kind,
        "jobId": change.job_id,
        "state": change.state,
        "reason": reason,
        "impact": format!(
            "the DR copy of {resource} in {} ({}) is not refreshed: its RPO grows until a {kind} succeeds",
            plan.backup_vault, plan.dr_region
        ),
    });
    let subject = crate::error::truncate_chars(
        &format!(
            "Backstop: {kind} job {} for {resource} ({})",
            change.state, plan.name
        ),
        100,
    )
    .to_string();
    sns.publish()
        .topic_arn(topic)
        .subject(subject)
        .message(message.to_string())
        .send()
        .await
        .context("announcing a failed job")?;
    Ok(())
}

/// Starts a drill of the plan unless one started by a copy ran within the interval. The name
/// carries the plan and the interval's window, so two events at once start one drill.
async fn start_verification_drill(
    sfn: &aws_sdk_sfn::Client,
    stack: &Settings,
    plan: &Plan,
    settings: &VerificationSettings,
    change: &JobChange,
) -> Result<Option<String>, BackstopError> {
    let Some(machine) = &stack.state_machine_arn else {
        tracing::warn!("STATE_MACHINE_ARN is not set: no verification drill");
        return Ok(None);
    };
    let interval = i64::from(
        settings
            .min_interval_hours
            .unwrap_or(VerificationSettings::DEFAULT_MIN_INTERVAL_HOURS),
    ) * 3600;
    let prefix = format!("drill-after-copy-{}-", &digest(&[&plan.name])[..8]);
    let now = aws_smithy_types::DateTime::from(std::time::SystemTime::now()).secs();
    let mut pages = sfn
        .list_executions()
        .state_machine_arn(machine)
        .into_paginator()
        .send();
    'pages: while let Some(page) = pages.next().await {
        let page = page.context("listing recent runs")?;
        for execution in page.executions() {
            let recent = now - execution.start_date().secs() < interval;
            if execution.name().starts_with(&prefix) && recent {
                tracing::info!(drill = %execution.name(), "a verification drill ran within the interval: none started");
                return Ok(None);
            }
            if !recent {
                // newest first: nothing older matters
                break 'pages;
            }
        }
    }
    let name = format!("{prefix}{}", now / interval);
    let input = json!({
        "mode": "drill",
        "planParameter": stack.plan_parameter,
        "trigger": { "copyJobId": change.job_id, "resourceArn": change.resource_arn },
    });
    let started = crate::aws::executions::start(sfn, machine, &name, &input).await?;
    if started.is_some() {
        tracing::info!(drill = %name, "verification drill started");
    }
    Ok(started.map(|_| name))
}

/// `OnBackupEventFunction`: AWS Backup's job state changes: RPO metrics, verification drills
/// and notices of failed jobs.
pub async fn run(
    clients: &Clients,
    event: Value,
    _: &Invocation,
) -> Result<EventOutcome, BackstopError> {
    let change = parse_backup_event(event)?;
    handle_job_change(clients, change).await
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_events::fixture;

    #[test]
    fn reads_a_completed_copy() {
        let change = parse_backup_event(fixture("backup-copy-job-completed.json")).unwrap();
        assert_eq!(change.kind, JobKind::Copy);
        assert_eq!(change.state, JobStatus::Completed);
        assert_eq!(
            change.resource_arn,
            "arn:aws:ec2:us-east-1:123456789012:volume/vol-0123456789abcdef0"
        );
        let vault = change.vault_arn.as_deref().unwrap();
        assert!(is_vault(vault, "us-west-2", None, "backstop-dr"));
        assert!(is_vault(
            vault,
            "us-west-2",
            Some("123456789012"),
            "backstop-dr"
        ));
        // a same-named vault of another account, or region, is not the DR vault
        assert!(!is_vault(
            vault,
            "us-west-2",
            Some("210987654321"),
            "backstop-dr"
        ));
        assert!(!is_vault(
            vault,
            "eu-west-1",
            Some("123456789012"),
            "backstop-dr"
        ));
        assert!(change.recovery_point_arn.unwrap().contains(":snapshot/"));
        assert_eq!(change.size_bytes, Some(8_589_934_592));
    }

    #[test]
    fn reads_a_failed_copy_whose_destination_is_an_empty_object() {
        let change = parse_backup_event(fixture("backup-copy-job-failed.json")).unwrap();
        assert!(change.failed());
        assert_eq!(change.recovery_point_arn, None);
        assert!(change.status_message.unwrap().contains("KMS"));
    }

    #[test]
    fn reads_backup_jobs_with_state_or_status_and_a_numeric_size() {
        let failed = parse_backup_event(fixture("backup-job-failed.json")).unwrap();
        assert_eq!(
            (failed.kind, failed.state.as_str()),
            (JobKind::Backup, "FAILED")
        );
        assert_eq!(failed.size_bytes, Some(0));
        let mut event = fixture("backup-job-completed.json");
        let detail = event["detail"].as_object_mut().unwrap();
        let state = detail.remove("state").unwrap();
        detail.insert("status".into(), state);
        detail.insert("backupSizeInBytes".into(), json!(1024));
        let completed = parse_backup_event(event).unwrap();
        assert_eq!(completed.state, JobStatus::Completed);
        assert_eq!(completed.size_bytes, Some(1024));
    }

    #[test]
    fn malformed_events_name_the_field() {
        let good = fixture("backup-copy-job-completed.json");
        let with = |path: &[&str], value: Option<Value>| {
            let mut event = good.clone();
            let mut at = &mut event;
            for key in &path[..path.len() - 1] {
                at = &mut at[*key];
            }
            let last = path[path.len() - 1];
            match value {
                Some(v) => at[last] = v,
                None => {
                    at.as_object_mut().unwrap().remove(last);
                }
            }
            event
        };
        let cases = [
            (json!("text"), "event"),
            (with(&["source"], Some(json!("aws.ec2"))), "source"),
            (
                with(&["detail-type"], Some(json!("Restore Job State Change"))),
                "detail-type",
            ),
            (with(&["detail"], None), "detail"),
            (with(&["detail", "resourceArn"], None), "detail.resourceArn"),
            (
                with(&["detail", "resourceArn"], Some(json!(42))),
                "detail.resourceArn",
            ),
            (
                with(&["detail", "resourceArn"], Some(json!("'; DROP TABLE --"))),
                "detail.resourceArn",
            ),
            (
                with(
                    &["detail", "resourceArn"],
                    Some(json!("arn:aws:ec2:us-east-1:1:vol\nume/x")),
                ),
                "detail.resourceArn",
            ),
            (with(&["detail", "state"], None), "detail.state"),
            (with(&["detail", "copyJobId"], None), "detail.copyJobId"),
            (
                with(&["detail", "destinationBackupVaultArn"], None),
                "detail.destinationBackupVaultArn",
            ),
            (
                with(&["detail", "backupSizeInBytes"], Some(json!("lots"))),
                "detail.backupSizeInBytes",
            ),
        ];
        for (event, field) in cases {
            let err = parse_backup_event(event.clone()).unwrap_err();
            assert_eq!(err.error_name(), "Backstop.InvalidInput", "{event}");
            assert!(
                err.to_string().contains(&format!("`{field}`")),
                "{field}: {err}"
            );
        }
    }
}
