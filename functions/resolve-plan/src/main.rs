//! `resolve-plan`: loads and validates the DR plan of a run and picks a recovery point
//! (with its RPO) for every protected resource, stores the resolved run in the run-state
//! bucket, and returns the small reference the state machine carries.

use backstop::steps::{resolve, serve};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    serve("resolve-plan", resolve::run).await
}
