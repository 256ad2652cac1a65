//! Tracing for Lambda: JSON lines on stdout (CloudWatch Logs parses them), one span per run.

use tracing_subscriber::{fmt, EnvFilter};

/// Sets up JSON logging once per process. The level comes from `RUST_LOG`, else
/// `AWS_LAMBDA_LOG_LEVEL`, else `info`.
pub fn init_tracing() {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| {
            EnvFilter::try_new(
                std::env::var("AWS_LAMBDA_LOG_LEVEL")
                    .unwrap_or_else(|_| "info".into())
                    .to_lowercase(),
            )
        })
        .unwrap_or_else(|_| EnvFilter::new("info"));
    // `try_init`: a second call (e.g. from tests) must not panic.
    let _ = fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(true)
        .with_span_list(false)
        .flatten_event(true)
        .with_target(false)
        .with_ansi(false)
        .without_time()
        .try_init();
}

/// The span every log line of a run's step is written in, so each line carries the run id.
pub fn run_span(step: &'static str, run_id: &str) -> tracing::Span {
    tracing::info_span!("run", step, run_id)
}

/// Runs a handler and logs its error, if any, with the exact message Step Functions gets as
/// `errorMessage` (and the `Backstop.*` name), as one line an operator can search for.
pub async fn logged<T>(
    step: &'static str,
    outcome: impl std::future::Future<Output = Result<T, crate::BackstopError>>,
) -> Result<T, crate::BackstopError> {
    let result = outcome.await;
    if let Err(err) = &result {
        tracing::error!(
            step,
            error_type = err.error_name(),
            "{}",
            err.operator_message()
        );
    }
    result
}

/// One CloudWatch Embedded Metric Format line in the `Backstop` namespace: `metrics` are
/// (name, unit, value), `dimensions` (name, value) pairs that form the one dimension set.
/// Printed on stdout, CloudWatch Logs turns it into metrics.
pub fn emf_line(dimensions: &[(&str, &str)], metrics: &[(&str, &str, f64)]) -> String {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default();
    let mut line = serde_json::Map::new();
    for (name, value) in dimensions {
        line.insert(name.to_string(), serde_json::json!(value));
    }
    for (name, _, value) in metrics {
        line.insert(name.to_string(), serde_json::json!(value));
    }
    line.insert(
        "_aws".into(),
        serde_json::json!({
            "Timestamp": millis,
            "CloudWatchMetrics": [{
                "Namespace": "Backstop",
                "Dimensions": [dimensions.iter().map(|(name, _)| *name).collect::<Vec<_>>()],
                "Metrics": metrics.iter().map(|(name, unit, _)| serde_json::json!({"Name": name, "Unit": unit})).collect::<Vec<_>>(),
            }],
        }),
    );
    serde_json::Value::Object(line).to_string()
}
