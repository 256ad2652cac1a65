//! A plan's run history: one JSON line per run in `runs/<plan>/history.jsonl` in the evidence
//! bucket, appended by each report (a conditional write, so two reports at once both land), and
//! what the past drills say about the next one: its RTO, predicted from their restored sizes
//! and durations, with a warning before a drill misses its objective.

use serde::{Deserialize, Serialize};

use super::model::Report;
use crate::aws::store::{put_object_unless_changed, read_object_with_etag};
use crate::error::BackstopError;

/// The rows the history file keeps (the bucket's versions keep every earlier file).
const MAX_ROWS: usize = 2000;
/// The rows a report shows and predicts from.
pub const SHOWN: usize = 20;
/// Past runs with a measured RTO needed before a prediction is made.
const MIN_FOR_PREDICTION: usize = 3;

/// One run, as the history keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryRow {
    pub run_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    pub verdict: String,
    pub started_at: String,
    pub ended_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rto_seconds: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rto_objective_seconds: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worst_rpo_seconds: Option<i64>,
    /// The recovery points' total size, where AWS Backup gave it.
    pub restored_bytes: i64,
    pub resources: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan_digest: Option<String>,
}

/// The next drill's RTO, as the past ones predict it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RtoPrediction {
    pub predicted_seconds: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub objective_seconds: Option<i64>,
    /// How many past runs it rests on.
    pub based_on: usize,
    /// How it was made, in words.
    pub method: String,
    /// The last runs' RTO against the ones before: `rising`, `steady` or `falling`, and by how much.
    pub trend: String,
    /// Said when the prediction is within 20% of the objective, or over it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

/// The history in a report: the plan's last runs (this one last) and the prediction.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunHistory {
    pub runs: Vec<HistoryRow>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prediction: Option<RtoPrediction>,
}

impl HistoryRow {
    pub fn of(report: &Report, restored_bytes: i64, resources: usize) -> HistoryRow {
        HistoryRow {
            run_id: report.run_id.clone(),
            mode: report.mode.map(|m| m.to_string()),
            verdict: report.verdict.clone(),
            started_at: report.started_at.clone(),
            ended_at: report.ended_at.clone(),
            rto_seconds: report.rto.measured_seconds,
            rto_objective_seconds: report.rto.objective_seconds,
            worst_rpo_seconds: report.rpo.measured_seconds,
            restored_bytes,
            resources,
            plan_digest: report.identity.as_ref().and_then(|i| i.plan_digest.clone()),
        }
    }
}

pub fn history_key(plan: &str) -> String {
    format!("runs/{plan}/history.jsonl")
}

fn parse(text: &str) -> Vec<HistoryRow> {
    // a line that does not parse (edited by hand) is skipped, not fatal to the report
    text.lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect()
}

/// Appends `row` to the plan's history (replacing the row of the same run: a retried report)
/// and returns the rows before it. Retries when another report wrote in between.
pub async fn append(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    plan: &str,
    row: &HistoryRow,
) -> Result<Vec<HistoryRow>, BackstopError> {
    let key = history_key(plan);
    for _ in 0..8 {
        let read = read_object_with_etag(s3, bucket, &key).await?;
        let (mut rows, etag) = match read {
            Some((bytes, etag)) => (parse(&String::from_utf8_lossy(&bytes)), etag),
            None => (Vec::new(), None),
        };
        rows.retain(|r| r.run_id != row.run_id);
        let past = rows.clone();
        rows.push(row.clone());
        let keep_from = rows.len().saturating_sub(MAX_ROWS);
        let mut body = String::new();
        for r in &rows[keep_from..] {
            body.push_str(&serde_json::to_string(r).unwrap_or_default());
            body.push('\n');
        }
        let content_type = "application/x-ndjson";
        let written = put_object_unless_changed(
            s3,
            bucket,
            &key,
            body.into_bytes(),
            content_type,
            etag.as_deref(),
        )
        .await?;
        if written {
            return Ok(past);
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    Err(BackstopError::Transient {
        action: format!("appending to s3://{bucket}/{key}"),
        message: "other reports kept writing the history first: try again".into(),
    })
}

/// Predicts this run's plan's next RTO from `past` (oldest first): a least-squares line over
/// restored size when the sizes differ enough to fit one, else the median of the last runs.
pub fn predict(
    past: &[HistoryRow],
    restored_bytes: i64,
    objective: Option<i64>,
) -> Option<RtoPrediction> {
    let measured: Vec<(f64, f64)> = past
        .iter()
        .filter_map(|r| r.rto_seconds.map(|s| (gib(r.restored_bytes), s as f64)))
        .collect();
    let last: Vec<(f64, f64)> = measured[measured.len().saturating_sub(SHOWN)..].to_vec();
    if last.len() < MIN_FOR_PREDICTION {
        return None;
    }
    let sizes = last.iter().map(|p| p.0);
    let (low, high) = sizes.fold((f64::MAX, f64::MIN), |(lo, hi), s| (lo.min(s), hi.max(s)));
    let size = gib(restored_bytes);
    let (predicted, method) = if high > 0.0 && high >= low * 1.2 + 1.0 {
        let n = last.len() as f64;
        let mean_x = last.iter().map(|p| p.0).sum::<f64>() / n;
        let mean_y = last.iter().map(|p| p.1).sum::<f64>() / n;
        let sxy: f64 = last.iter().map(|p| (p.0 - mean_x) * (p.1 - mean_y)).sum();
        let sxx: f64 = last.iter().map(|p| (p.0 - mean_x).powi(2)).sum();
        let slope = sxy / sxx;
        let at = mean_y + slope * (size - mean_x);
        (
            at,
            format!(
                "a line over the last {} runs' restored size and RTO ({:.1} s per GiB), at this plan's {:.0} GiB",
                last.len(),
                slope,
                size
            ),
        )
    } else {
        let mut recent: Vec<f64> = last.iter().rev().take(5).map(|p| p.1).collect();
        recent.sort_by(f64::total_cmp);
        (
            recent[recent.len() / 2],
            format!(
                "the median of the last {} runs (their restored sizes are too alike to fit a line)",
                recent.len()
            ),
        )
    };
    let predicted = predicted.max(0.0).round() as i64;
    let warning = objective.and_then(|objective| {
        if predicted > objective {
            Some(format!(
                "the next drill is predicted to miss its RTO objective: ~{predicted} s against {objective} s"
            ))
        } else if predicted * 10 > objective * 8 {
            Some(format!(
                "the next drill's predicted RTO (~{predicted} s) is within 20% of its objective ({objective} s)"
            ))
        } else {
            None
        }
    });
    Some(RtoPrediction {
        predicted_seconds: predicted,
        objective_seconds: objective,
        based_on: last.len(),
        method,
        trend: trend(&last.iter().map(|p| p.1).collect::<Vec<_>>()),
        warning,
    })
}

fn gib(bytes: i64) -> f64 {
    bytes as f64 / f64::from(1u32 << 30)
}

/// The mean of the last three RTOs against the three before them.
fn trend(rtos: &[f64]) -> String {
    if rtos.len() < 4 {
        return "not enough runs for a trend".into();
    }
    let recent = &rtos[rtos.len().saturating_sub(3)..];
    let before = &rtos[rtos.len().saturating_sub(6)..rtos.len() - 3];
    let mean = |xs: &[f64]| xs.iter().sum::<f64>() / xs.len() as f64;
    let (now, then) = (mean(recent), mean(before));
    if then <= 0.0 {
        return "steady".into();
    }
    let change = (now - then) / then * 100.0;
    match change {
        c if c > 10.0 => format!("rising: the last 3 runs {c:.0}% slower than the ones before"),
        c if c < -10.0 => format!(
            "falling: the last 3 runs {:.0}% faster than the ones before",
            -c
        ),
        _ => "steady (within 10%)".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(run: &str, rto: Option<i64>, gib: i64) -> HistoryRow {
        HistoryRow {
            run_id: run.into(),
            mode: Some("drill".into()),
            verdict: "PASS".into(),
            started_at: "2026-12-01T10:00:00Z".into(),
            ended_at: "2026-12-01T10:10:00Z".into(),
            rto_seconds: rto,
            rto_objective_seconds: Some(3600),
            worst_rpo_seconds: Some(60),
            restored_bytes: gib << 30,
            resources: 4,
            plan_digest: None,
        }
    }

    #[test]
    fn a_line_over_size_predicts_a_larger_restore_and_warns_before_the_objective() {
        // 600 s + 2 s per GiB
        let past: Vec<HistoryRow> = [100, 200, 300, 400]
            .iter()
            .map(|&g| row(&format!("d{g}"), Some(600 + 2 * g), g))
            .collect();
        let at_500 = predict(&past, 500 << 30, Some(3600)).unwrap();
        assert_eq!(at_500.predicted_seconds, 1600);
        assert!(at_500.method.contains("2.0 s per GiB"), "{at_500:?}");
        assert_eq!(at_500.warning, None);
        assert!(at_500.trend.starts_with("rising"), "{at_500:?}");
        // 1,500 GiB: 3,600 s, within 20% of a 3,600 s objective; 2,000 GiB: over it
        let near = predict(&past, 1500 << 30, Some(3600)).unwrap();
        assert!(near.warning.unwrap().contains("within 20%"));
        let over = predict(&past, 2000 << 30, Some(3600)).unwrap();
        assert!(over.warning.unwrap().contains("predicted to miss"));
    }

    #[test]
    fn alike_sizes_give_the_median_and_too_few_runs_no_prediction() {
        let past = vec![
            row("a", Some(100), 50),
            row("b", Some(400), 50),
            row("c", None, 50),
            row("d", Some(120), 50),
        ];
        let median = predict(&past, 50 << 30, Some(3600)).unwrap();
        assert_eq!(median.predicted_seconds, 120);
        assert_eq!(median.based_on, 3);
        assert!(median.method.starts_with("the median"), "{median:?}");
        assert_eq!(predict(&past[..2], 50 << 30, Some(3600)), None);
    }

    /// Two reports at once: this one read the history, another wrote before it; its write
    /// (If-Match the old ETag) is refused with 412, so it reads again and appends after the
    /// other's row instead of overwriting it.
    #[tokio::test]
    async fn a_report_that_lost_the_race_reads_again_and_keeps_the_other_run() {
        use aws_sdk_s3::operation::get_object::GetObjectOutput;
        use aws_sdk_s3::operation::put_object::PutObjectOutput;
        use aws_sdk_s3::primitives::ByteStream;
        use aws_smithy_mocks::{mock, mock_client, RuleMode};
        use aws_smithy_runtime_api::http::{Response, StatusCode};
        use aws_smithy_types::body::SdkBody;

        let line = |run: &str| serde_json::to_string(&row(run, Some(60), 10)).unwrap() + "\n";
        let (first, second) = (line("a"), line("a") + &line("b"));
        let get = mock!(aws_sdk_s3::Client::get_object)
            .sequence()
            .output(move || {
                GetObjectOutput::builder()
                    .body(ByteStream::from(first.clone().into_bytes()))
                    .e_tag("\"e1\"")
                    .build()
            })
            .output(move || {
                GetObjectOutput::builder()
                    .body(ByteStream::from(second.clone().into_bytes()))
                    .e_tag("\"e2\"")
                    .build()
            })
            .build();
        let stale = mock!(aws_sdk_s3::Client::put_object)
            .match_requests(|put| put.if_match() == Some("\"e1\""))
            .then_http_response(|| {
                Response::new(
                    StatusCode::try_from(412).unwrap(),
                    SdkBody::from("<Error><Code>PreconditionFailed</Code><Message>At least one of the pre-conditions you specified did not hold</Message></Error>"),
                )
            });
        let fresh = mock!(aws_sdk_s3::Client::put_object)
            .match_requests(|put| put.if_match() == Some("\"e2\""))
            .then_output(|| PutObjectOutput::builder().build());
        let s3 = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&get, &stale, &fresh]);

        let past = append(&s3, "evidence", "shop", &row("c", Some(70), 10))
            .await
            .unwrap();
        let ids: Vec<&str> = past.iter().map(|r| r.run_id.as_str()).collect();
        assert_eq!(ids, ["a", "b"]);
        assert_eq!(get.num_calls(), 2);
        assert_eq!((stale.num_calls(), fresh.num_calls()), (1, 1));
    }

    #[test]
    fn a_history_line_edited_by_hand_is_skipped_not_fatal() {
        let good = serde_json::to_string(&row("a", Some(1), 1)).unwrap();
        let rows = parse(&format!("{good}\nnot json\n{good}\n"));
        assert_eq!(rows.len(), 2);
    }
}
