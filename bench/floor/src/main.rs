//! `floor`: a Lambda function that only echoes its event, with the handlers' runtime and
//! release profile: the least a cold start can cost, measured beside each handler.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async move {
        Ok::<Value, Error>(event.payload)
    }))
    .await
}
