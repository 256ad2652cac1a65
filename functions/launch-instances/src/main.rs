//! `launch-instances`: launches the plan's instances from the golden AMI in the DR network,
//! idempotently, falling back through the plan's instance types and subnets on capacity errors.

use backstop::steps::{compute::launch, serve};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    serve("launch-instances", launch::run).await
}
