//! `attach-volumes`: attaches each restored EBS volume to its planned instance and device.

use backstop::steps::{compute::attach, serve};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    serve("attach-volumes", attach::run).await
}
