//! `wake-restores`: the restore loop's wait parks its task token here each round; AWS
//! Backup's `Restore Job State Change` events (a job ended) hand the parked tokens back, so
//! the run polls its restores at once instead of at the end of the interval.

use backstop::steps::{serve, wake};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    serve("wake-restores", wake::run).await
}
