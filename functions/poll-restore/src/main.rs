//! `poll-restore`: one look at all the run's restore jobs: which completed (with the
//! created resource and its endpoint), which still run, which failed and why.

use backstop::steps::{restore::poll, serve};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    serve("poll-restore", poll::run).await
}
