//! `teardown`: one pass of deleting what a run created. The state machine runs it after
//! every drill (success or failure) until nothing is pending; an operator can invoke it with
//! `{"runId": "<execution name>"}` for any run (a failover also needs `"allowFailover": true`).

use backstop::steps::{serve, teardown};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    serve("teardown", teardown::run).await
}
