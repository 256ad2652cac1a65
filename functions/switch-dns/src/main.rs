//! `switch-dns`: health gate, then Route 53 records to the DR endpoints (drill: drill records only).

use backstop::steps::{serve, switch_dns};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    serve("switch-dns", switch_dns::run).await
}
