//! `start-failover`: a CloudWatch alarm moving into ALARM starts exactly one failover of the
//! plan. Takes the `CloudWatch Alarm State Change` EventBridge event and the payload of an
//! alarm's Lambda action alike; duplicates, other transitions and a second incident while a
//! failover runs are logged and ignored.

use backstop::steps::{serve, start_failover};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    serve("start-failover", start_failover::run).await
}
