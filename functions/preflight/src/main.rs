//! `preflight`: the first state of every run, and the scheduled readiness check. Checks the
//! plan against the DR region (vault, copies and their age, KMS keys, network, golden AMI,
//! instance types, DNS, account limits) and stops a run with `Backstop.NotReady` before
//! anything is created; on a schedule, reports the same as metrics.

use backstop::steps::{preflight, serve};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    serve("preflight", preflight::run).await
}
