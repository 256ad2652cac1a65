//! `start-restore`: starts the run's restore jobs not started yet, under the run's
//! concurrency cap. Re-running it with the same run id starts no second job.

use backstop::steps::{restore, serve};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    serve("start-restore", restore::run).await
}
