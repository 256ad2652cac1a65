//! The one shape of every Lambda function: at init, tracing, the SDK configuration and the
//! function's clients and settings, once; per invocation, the payload parsed into the step's
//! input, the step run in a span that carries the run id, and its error logged as the message
//! Step Functions gets. A `main` is `serve::<TheFunction>()`.

use std::future::Future;
use std::time::SystemTime;

use aws_config::SdkConfig;
use lambda_runtime::{service_fn, LambdaEvent};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use tracing::Instrument;

use crate::error::BackstopError;
use crate::steps::resolve::parse_input;
use crate::{aws, telemetry};

/// What a step knows of its invocation.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// When Lambda stops the invocation: a round leaves work for the next one before this.
    pub deadline: SystemTime,
    /// This function's ARN (its account is the stack's).
    pub function_arn: String,
}

/// One Lambda function of the stack (the template's `<Name>Function`). An input parsed its own
/// way (an event of several shapes) is taken as a `Value` and parsed in `run`.
pub trait Step: Sized {
    /// The function's name in logs and spans.
    const NAME: &'static str;
    type Input: DeserializeOwned;
    type Output: Serialize;

    /// The clients and settings the function needs, read once at init. A missing setting
    /// fails every invocation with the same clear error (the function still answers).
    fn from_config(config: &SdkConfig) -> Result<Self, BackstopError>;

    /// The input from the payload; a wrong shape names the field at fault.
    /// The run the input belongs to, written on every log line of the invocation (none for
    /// an event that starts no run or precedes it).
    fn run_id(input: &Self::Input) -> Option<&str>;

    fn run(
        &self,
        input: Self::Input,
        invocation: &Invocation,
    ) -> impl Future<Output = Result<Self::Output, BackstopError>>;
}

/// Runs the function `S` in the Lambda runtime until the process ends.
pub async fn serve<S: Step>() -> Result<(), lambda_runtime::Error> {
    telemetry::init_tracing();
    let config = aws::load_config().await;
    let step = S::from_config(&config);
    if let Err(err) = &step {
        tracing::error!(
            step = S::NAME,
            error_type = err.error_name(),
            "{}",
            err.operator_message()
        );
    }
    let step = &step;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let invocation = async move { invoke(step.as_ref().map_err(Clone::clone)?, event).await };
        telemetry::logged(S::NAME, invocation)
    }))
    .await
}

async fn invoke<S: Step>(step: &S, event: LambdaEvent<Value>) -> Result<S::Output, BackstopError> {
    let invocation = Invocation {
        deadline: event.context.deadline(),
        function_arn: event.context.invoked_function_arn.clone(),
    };
    let input: S::Input = parse_input(event.payload)?;
    let span = match S::run_id(&input) {
        Some(run_id) => telemetry::run_span(S::NAME, run_id),
        None => tracing::info_span!("event", step = S::NAME),
    };
    // boxed: the step's future is deep, and the runtime's adds to it
    Box::pin(step.run(input, &invocation))
        .instrument(span)
        .await
}

/// An optional setting from the environment: unset and empty are the same.
pub fn setting(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .filter(|value| !value.trim().is_empty())
}

/// The region the SDK configuration names (the function's own, in Lambda).
pub fn region_of(config: &SdkConfig) -> String {
    config.region().map(|r| r.to_string()).unwrap_or_default()
}
