//! `post-launch`: after a wave is attached and healthy, runs the plan's post-launch actions
//! due by then (Systems Manager commands, Lambda functions).

use backstop::steps::{post_launch, serve};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    serve("post-launch", post_launch::run).await
}
