//! `capture`: a failback's first step after preflight. Backs up each resource the failover
//! restored in the DR region and copies the recovery point to the primary region's vault; the
//! state machine calls it until every copy is complete.

use backstop::steps::{failback::capture, serve};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    serve("capture", capture::run).await
}
