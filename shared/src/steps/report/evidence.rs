//! The evidence of a run: its report stored as JSON, text and an HTML page in the evidence
//! bucket.

use super::model::{Evidence, Report};
use crate::error::BackstopError;

/// Stores the report's JSON, text and page in the evidence bucket; returns where.
pub async fn store_evidence(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    report: &Report,
) -> Result<Evidence, BackstopError> {
    let (json_key, text_key, html_key) = report.evidence_keys();
    let evidence = Evidence {
        bucket: bucket.to_string(),
        json_key,
        text_key,
        html_key,
    };
    let mut stored = report.clone();
    stored.evidence = Some(evidence.clone());
    let body = serde_json::to_vec_pretty(&stored)
        .map_err(|err| BackstopError::invalid_input("report", err.to_string()))?;
    for (key, body, content_type) in [
        (&evidence.json_key, body, "application/json"),
        (
            &evidence.text_key,
            stored.text().into_bytes(),
            "text/plain; charset=utf-8",
        ),
        (
            &evidence.html_key,
            stored.html().into_bytes(),
            "text/html; charset=utf-8",
        ),
    ] {
        s3.put_object()
            .bucket(bucket)
            .key(key)
            .content_type(content_type)
            .body(body.into())
            .send()
            .await
            .map_err(|err| {
                crate::error::classify_sdk_error(
                    format!("storing the run's evidence at s3://{bucket}/{key}"),
                    err,
                )
            })?;
    }
    Ok(evidence)
}
