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
