//! `validate`: once the DR side is healthy, runs the plan's validations before DNS moves.

use backstop::steps::{serve, validate};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    serve("validate", validate::run).await
}
