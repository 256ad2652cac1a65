//! `report`: the last step of every run, successful or failed. Builds the run's report from
//! its state and its execution history, prints it as CloudWatch Embedded Metric Format lines,
//! stores it (JSON and text) in the evidence bucket, and returns it as the execution output.

use backstop::steps::{report, serve};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    serve("report", report::run).await
}
