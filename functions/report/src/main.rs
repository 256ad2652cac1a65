//! `report`: the last step of every run, successful or failed. Builds the run's report from
//! its state and its execution history, prints it as CloudWatch Embedded Metric Format lines,
//! stores it (JSON and text) in the evidence bucket, and returns it as the execution output.

use backstop::aws::store::{s3_client, RunStore};
use backstop::steps::history::read_execution;
use backstop::steps::report::{build_report, gather_state, store_evidence, Report, ReportRequest};
use backstop::steps::resolve::parse_input;
use backstop::{aws, telemetry, BackstopError};
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde_json::Value;
use tracing::Instrument;

struct Clients {
    sfn: aws_sdk_sfn::Client,
    s3: aws_sdk_s3::Client,
    store: RunStore,
    evidence_bucket: Option<String>,
}

async fn handler(clients: &Clients, event: LambdaEvent<Value>) -> Result<Report, BackstopError> {
    let request: ReportRequest = parse_input(event.payload)?;
    let span = telemetry::run_span("report", &request.run_id);
    async {
        // the state of a failed run can lack any part: read what is there
        let state = gather_state(&clients.store, &request.state).await;
        let reading = std::time::Instant::now();
        let record = read_execution(&clients.sfn, &request.execution_arn).await?;
        tracing::info!(steps = record.steps.len(), ms = reading.elapsed().as_millis() as u64, "history read");
        let now = std::time::SystemTime::now();
        let mut report = build_report(&request, &state, record.steps, now.into());
        let millis = now
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or_default();
        // EMF: CloudWatch Logs turns each of these stdout lines into metrics
        for line in report.metric_lines(millis) {
            println!("{line}");
        }
        match &clients.evidence_bucket {
            Some(bucket) => report.evidence = Some(store_evidence(&clients.s3, bucket, &report).await?),
            None => tracing::warn!("EVIDENCE_BUCKET is not set: the report is not stored"),
        }
        tracing::info!(verdict = %report.verdict, rto = ?report.rto.measured_seconds, "report\n{}", report.text());
        // the execution carries a bounded copy: its size must not grow with the resources
        let mut answer = report.for_payload();
        if let Some(notice) = &state.notice {
            answer.notice = Some(answer.failure_notice(notice));
        }
        Ok(answer)
    }
    .instrument(span)
    .await
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init_tracing();
    let config = aws::load_config().await;
    let clients = Clients {
        sfn: aws_sdk_sfn::Client::new(&config),
        s3: s3_client(&config),
        store: RunStore::from_env(&config)?,
        evidence_bucket: std::env::var("EVIDENCE_BUCKET")
            .ok()
            .filter(|v| !v.is_empty()),
    };
    run(service_fn(|event| {
        telemetry::logged("report", handler(&clients, event))
    }))
    .await
}
