//! Tracing for Lambda: JSON lines on stdout (CloudWatch Logs parses them), one span per run.

use tracing_subscriber::{fmt, EnvFilter};

/// Sets up logging once per process, as Lambda's logging configuration asks: JSON lines when
/// `AWS_LAMBDA_LOG_FORMAT` is `JSON` (the template's; CloudWatch Logs parses them and filters
/// by their `level`), plain text otherwise (Lambda's default). The level is
/// `AWS_LAMBDA_LOG_LEVEL` (the function's application log level), else `RUST_LOG`, else info.
pub fn init_tracing() {
    let setting = |name: &str| std::env::var(name).ok();
    let filter = log_filter(setting("AWS_LAMBDA_LOG_LEVEL"), setting("RUST_LOG"));
    let lines = fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(false)
        // Lambda stamps every line
        .without_time();
    // `try_init`: a second call (e.g. from tests) must not panic.
    let _ = if is_json(setting("AWS_LAMBDA_LOG_FORMAT").as_deref()) {
        lines
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .flatten_event(true)
            .try_init()
    } else {
        lines.try_init()
    };
}

fn is_json(format: Option<&str>) -> bool {
    format.is_some_and(|format| format.eq_ignore_ascii_case("json"))
}

/// Lambda's application log levels (TRACE, DEBUG, INFO, WARN, ERROR, FATAL) as a filter; a
/// level that is not one falls back to `RUST_LOG`, then to info.
fn log_filter(lambda_level: Option<String>, rust_log: Option<String>) -> EnvFilter {
    let lambda = lambda_level.and_then(|level| match level.to_ascii_uppercase().as_str() {
        "TRACE" | "DEBUG" | "INFO" | "WARN" | "ERROR" => Some(level.to_ascii_lowercase()),
        "FATAL" => Some("error".to_string()),
        _ => None,
    });
    lambda
        .or(rust_log)
        .and_then(|directives| EnvFilter::try_new(directives).ok())
        .unwrap_or_else(|| EnvFilter::new("info"))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_function_log_level_wins_over_rust_log() {
        let level = |lambda: Option<&str>, rust: Option<&str>| {
            log_filter(lambda.map(String::from), rust.map(String::from)).to_string()
        };
        assert_eq!(level(Some("DEBUG"), Some("warn")), "debug");
        assert_eq!(level(Some("FATAL"), None), "error");
        assert_eq!(level(Some("LOUD"), Some("warn")), "warn");
        assert_eq!(level(None, None), "info");
    }

    #[test]
    fn json_only_when_lambda_says_so() {
        assert!(is_json(Some("JSON")));
        assert!(is_json(Some("json")));
        assert!(!is_json(Some("Text")));
        assert!(!is_json(None));
    }
}
