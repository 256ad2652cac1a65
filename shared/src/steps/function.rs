//! The one shape of every Lambda function: at init, tracing, the SDK configuration and the
//! clients and settings, once; per invocation, the payload parsed into the step's input, the
//! step run in a span that carries the run id, and its error logged as the message Step
//! Functions gets. A `main` is `serve("<name>", <step>::run)`, each step's `run` being
//! `async fn run(&Clients, Input, &Invocation) -> Result<Output, BackstopError>`.

use std::time::SystemTime;

use lambda_runtime::{service_fn, LambdaEvent};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use tracing::Instrument;

use crate::aws::Clients;
use crate::error::BackstopError;
use crate::plan::RecoverInto;
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

/// A step's input names the run it belongs to, written on every log line of the invocation
/// (none for an event that starts no run, or comes before it).
pub trait NamesRun {
    fn run_id(&self) -> Option<&str>;

    /// The region the run recovers in, when it is not the function's own (a failback's).
    fn region(&self) -> Option<&str> {
        None
    }

    /// The account the run recovers in, when it is not the function's own (a failover's
    /// `recoverInto`).
    fn recovers_into(&self) -> Option<&RecoverInto> {
        None
    }
}

/// An event taken as it comes (several shapes, parsed by the step): a run's id if it has one.
impl NamesRun for Value {
    fn run_id(&self) -> Option<&str> {
        self.get("runId").and_then(Value::as_str)
    }
}

/// Runs the function `name` (its step `step`) in the Lambda runtime until the process ends.
pub async fn serve<I, O>(
    name: &'static str,
    step: impl AsyncFn(&Clients, I, &Invocation) -> Result<O, BackstopError>,
) -> Result<(), lambda_runtime::Error>
where
    I: DeserializeOwned + NamesRun,
    O: Serialize,
{
    telemetry::init_tracing();
    let config = aws::load_config().await;
    let clients = Clients::from_config(&config);
    let (clients, step) = (&clients, &step);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        telemetry::logged(name, invoke(name, clients, step, event))
    }))
    .await
}

async fn invoke<I, O>(
    name: &'static str,
    clients: &Clients,
    step: &impl AsyncFn(&Clients, I, &Invocation) -> Result<O, BackstopError>,
    event: LambdaEvent<Value>,
) -> Result<O, BackstopError>
where
    I: DeserializeOwned + NamesRun,
{
    let invocation = Invocation {
        deadline: event.context.deadline(),
        function_arn: event.context.invoked_function_arn.clone(),
    };
    let input: I = parse_input(event.payload)?;
    let span = match input.run_id() {
        Some(run_id) => telemetry::run_span(name, run_id),
        None => tracing::info_span!("event", step = name),
    };
    let elsewhere = clients
        .for_run(
            input.region(),
            input.recovers_into(),
            input.run_id().unwrap_or_default(),
        )
        .await?;
    let clients = elsewhere.as_ref().unwrap_or(clients);
    // boxed: the step's future is deep, and the runtime's adds to it
    Box::pin(step(clients, input, &invocation))
        .instrument(span)
        .await
}
