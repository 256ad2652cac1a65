//! Backstop's error taxonomy.
//!
//! Every handler fails with one of these. The Step Functions error name
//! (`Backstop.*`) is what the state machine's Retry/Catch match, so the names
//! are a contract: add variants, never rename them.

use std::fmt;

use aws_runtime::retries::classifiers::{THROTTLING_ERRORS, TRANSIENT_ERRORS};
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use lambda_runtime::Diagnostic;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, thiserror::Error)]
pub enum BackstopError {
    /// The DR plan failed validation; carries every problem found, not just the first.
    #[error("the DR plan is invalid ({} problem{}):\n{}", .0.len(), if .0.len() == 1 { "" } else { "s" }, ProblemList(.0))]
    InvalidPlan(Vec<PlanProblem>),

    /// The event or state input does not have the shape this step expects.
    #[error("invalid input at `{field}`: {message}")]
    InvalidInput { field: String, message: String },

    /// Something the plan refers to does not exist (recovery point, vault, AMI, ...).
    #[error("{what} not found: {message}")]
    NotFound { what: String, message: String },

    #[error("restore of {resource} failed: {message}")]
    RestoreFailed { resource: String, message: String },

    /// A failback's backup of the DR side, or its copy to the primary region, did not complete.
    #[error("capture of {resource} for the failback failed: {message}")]
    CaptureFailed { resource: String, message: String },

    #[error("throttled by AWS while {action}: {message}")]
    Throttled { action: String, message: String },

    #[error("insufficient capacity while {action}: {message}")]
    InsufficientCapacity { action: String, message: String },

    #[error("timed out while {action}: {message}")]
    Timeout { action: String, message: String },

    /// What the step waits for is not ready yet and the invocation's time is nearly up: the
    /// state machine runs the (idempotent) step again after a pause. Not a failure.
    #[error("still waiting for {what}: {message}")]
    StillWaiting { what: String, message: String },

    /// A fault that retrying soon can fix: an AWS 5xx, a request or connection timeout, a reset
    /// connection, an unreachable endpoint. The state machine retries these with backoff.
    #[error("transient AWS fault while {action}: {message}")]
    Transient { action: String, message: String },

    #[error("access denied while {action}: {message} (check the function's IAM role)")]
    AccessDenied { action: String, message: String },

    /// A precondition of a recovery step does not hold (wrong AZ, volume attached elsewhere, ...).
    #[error("{0}")]
    Conflict(String),

    /// The DR region is not ready for this run (preflight): carries the readiness report's
    /// failing lines; nothing was created.
    #[error("{0}")]
    NotReady(String),

    /// The workload's own checks (the plan's validations) did not pass: DNS does not move.
    #[error("validation failed: {0}")]
    ValidationFailed(String),

    /// A post-launch action failed: the next wave does not launch, DNS does not move.
    #[error("post-launch action failed: {0}")]
    ActionFailed(String),

    /// The DR network stack could not be built (or is broken): nothing that needs it starts.
    #[error("the DR network stack {stack} failed: {message}")]
    NetworkFailed { stack: String, message: String },

    /// Any other AWS error: the code and message as AWS returned them.
    #[error("AWS error while {action}: {code}: {message}")]
    Aws {
        action: String,
        code: String,
        message: String,
    },
}

impl BackstopError {
    /// The stable name Step Functions sees as the error type.
    pub fn error_name(&self) -> &'static str {
        match self {
            Self::InvalidPlan(_) => "Backstop.InvalidPlan",
            Self::InvalidInput { .. } => "Backstop.InvalidInput",
            Self::NotFound { .. } => "Backstop.NotFound",
            Self::RestoreFailed { .. } => "Backstop.RestoreFailed",
            Self::CaptureFailed { .. } => "Backstop.CaptureFailed",
            Self::Throttled { .. } => "Backstop.Throttled",
            Self::InsufficientCapacity { .. } => "Backstop.InsufficientCapacity",
            Self::Timeout { .. } => "Backstop.Timeout",
            Self::Transient { .. } => "Backstop.Transient",
            Self::StillWaiting { .. } => "Backstop.StillWaiting",
            Self::AccessDenied { .. } => "Backstop.AccessDenied",
            Self::Conflict(_) => "Backstop.Conflict",
            Self::NotReady(_) => "Backstop.NotReady",
            Self::NetworkFailed { .. } => "Backstop.NetworkFailed",
            Self::ValidationFailed(_) => "Backstop.ValidationFailed",
            Self::ActionFailed(_) => "Backstop.ActionFailed",
            Self::Aws { .. } => "Backstop.AwsError",
        }
    }

    pub fn invalid_input(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::InvalidInput {
            field: field.into(),
            message: message.into(),
        }
    }

    pub fn not_found(what: impl Into<String>, message: impl Into<String>) -> Self {
        Self::NotFound {
            what: what.into(),
            message: message.into(),
        }
    }

    /// Whether retrying the same call later can succeed.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::Throttled { .. } | Self::Transient { .. } | Self::StillWaiting { .. }
        )
    }
}

/// An error message is at most this long (Step Functions allows 256 KB for a cause).
pub const MAX_ERROR_CHARS: usize = 16_000;
/// A plan's problems listed in one error, at most; the count of the rest follows.
const MAX_LISTED_PROBLEMS: usize = 100;

impl BackstopError {
    /// What the operator reads, cut to size: the same text goes to `errorMessage` and to the
    /// log line, so what the console shows can be found in the logs.
    pub fn operator_message(&self) -> String {
        shorten(&self.to_string(), MAX_ERROR_CHARS)
    }
}

impl From<BackstopError> for Diagnostic {
    fn from(err: BackstopError) -> Self {
        Diagnostic {
            error_type: err.error_name().to_string(),
            error_message: err.operator_message(),
        }
    }
}

struct ProblemList<'a>(&'a [PlanProblem]);

impl fmt::Display for ProblemList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, problem) in self.0.iter().take(MAX_LISTED_PROBLEMS).enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            let line = problem.to_string();
            write!(f, "  - {}", shorten(&line, 500))?;
        }
        if self.0.len() > MAX_LISTED_PROBLEMS {
            write!(
                f,
                "\n  … and {} more problems",
                self.0.len() - MAX_LISTED_PROBLEMS
            )?;
        }
        Ok(())
    }
}

const CAPACITY_CODES: &[&str] = &[
    "InsufficientInstanceCapacity",
    "InsufficientCapacity",
    "InsufficientDBInstanceCapacity",
    "InsufficientHostCapacity",
    "InsufficientReservedInstanceCapacity",
];

/// Service faults the SDKs retry besides throttling and timeouts (AWS returns these with a 5xx).
const SERVER_FAULT_CODES: &[&str] = &[
    "InternalFailure",
    "InternalError",
    "InternalServerError",
    "InternalServerErrorException",
    "InternalServiceError",
    "InternalServiceException",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "ServiceException",
    "Unavailable",
];

/// Error messages end up in Step Functions' error cause (at most 256 KB) and in logs: keep
/// them short whatever the size of the input that caused them.
pub const MAX_MESSAGE_CHARS: usize = 4_000;

/// Cuts `text` to at most `max` characters, on a character boundary, saying how much was cut.
pub fn shorten(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_string(),
        Some((cut, _)) => format!(
            "{}… ({} more characters)",
            &text[..cut],
            text[cut..].chars().count()
        ),
    }
}

/// An SDK call's result with what the call was doing attached: its error classified into a
/// [`BackstopError`] (`ec2.describe_volumes().send().await.context("describing volumes")?`).
pub trait SdkContext<T> {
    fn context(self, action: impl Into<String>) -> Result<T, BackstopError>;
}

impl<T, E, R> SdkContext<T> for Result<T, SdkError<E, R>>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: fmt::Debug + HttpStatus,
{
    fn context(self, action: impl Into<String>) -> Result<T, BackstopError> {
        self.map_err(|err| classify_sdk_error(action, err))
    }
}

/// Turns an SDK error into a Backstop error by its AWS error code.
///
/// `action` says what we were doing ("starting the restore of db"), so the
/// message an operator reads names the step and the resource.
pub fn classify_sdk_error<E, R>(action: impl Into<String>, err: SdkError<E, R>) -> BackstopError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: fmt::Debug + HttpStatus,
{
    let action = action.into();
    match &err {
        SdkError::TimeoutError(_) => BackstopError::Transient {
            action,
            message: "the AWS API did not answer in time".into(),
        },
        SdkError::DispatchFailure(failure) => {
            let why = if failure.is_timeout() {
                "the connection timed out"
            } else if failure.is_io() {
                "the connection failed or was reset"
            } else {
                "the endpoint could not be reached"
            };
            BackstopError::Transient {
                action,
                message: format!(
                    "{why}: {}",
                    shorten(&DisplayErrorContext(&err).to_string(), 500)
                ),
            }
        }
        SdkError::ResponseError(response) => {
            let status = response.raw().status_code();
            BackstopError::Transient {
                action,
                message: format!("AWS answered HTTP {status} with a body the SDK could not read"),
            }
        }
        SdkError::ServiceError(service) => {
            let inner = service.err();
            let code = inner.code().unwrap_or("Unknown").to_string();
            let message = inner
                .message()
                .map(str::to_string)
                .unwrap_or_else(|| format!("{inner}"));
            let status = service.raw().status_code();
            classify_response(action, code, message, status)
        }
        _ => BackstopError::Aws {
            action,
            code: "Unknown".into(),
            message: shorten(&DisplayErrorContext(&err).to_string(), 500),
        },
    }
}

/// The HTTP status of a raw response, so classification can use it beside the error code.
pub trait HttpStatus {
    fn status_code(&self) -> u16;
}

impl HttpStatus for aws_smithy_runtime_api::client::orchestrator::HttpResponse {
    fn status_code(&self) -> u16 {
        self.status().as_u16()
    }
}

/// Classification by error code and HTTP status, as the SDK's own retry classifiers do:
/// throttling codes, transient codes, and 500/502/503/504 are worth retrying.
pub fn classify_response(
    action: String,
    code: String,
    message: String,
    status: u16,
) -> BackstopError {
    let transient = TRANSIENT_ERRORS.contains(&code.as_str())
        || SERVER_FAULT_CODES.contains(&code.as_str())
        || matches!(status, 500 | 502 | 503 | 504);
    if THROTTLING_ERRORS.contains(&code.as_str()) {
        BackstopError::Throttled { action, message }
    } else if transient {
        BackstopError::Transient {
            action,
            message: format!("{code}: {message}"),
        }
    } else {
        classify_code(action, code, message)
    }
}

/// Classification by error code alone; separate so it can be unit-tested directly.
pub fn classify_code(action: String, code: String, message: String) -> BackstopError {
    if THROTTLING_ERRORS.contains(&code.as_str()) {
        BackstopError::Throttled { action, message }
    } else if CAPACITY_CODES.contains(&code.as_str()) {
        BackstopError::InsufficientCapacity { action, message }
    } else if code.contains("NotFound")
        || code == "NoSuchHostedZone"
        || code == "ParameterNotFound"
        // Step Functions: ExecutionDoesNotExist, StateMachineDoesNotExist
        || code.ends_with("DoesNotExist")
    {
        BackstopError::NotFound {
            what: action,
            message: format!("{code}: {message}"),
        }
    } else if code.starts_with("AccessDenied")
        || code == "UnauthorizedOperation"
        || code == "AuthFailure"
    {
        BackstopError::AccessDenied { action, message }
    } else {
        BackstopError::Aws {
            action,
            code,
            message,
        }
    }
}

/// One validation problem: where it is, what is wrong, how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanProblem {
    pub field: String,
    pub message: String,
    pub fix: String,
}

impl fmt::Display for PlanProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} (fix: {})", self.field, self.message, self.fix)
    }
}

/// The first `max` characters of `text` (never splitting a character).
pub fn truncate_chars(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((cut, _)) => &text[..cut],
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classify(code: &str) -> BackstopError {
        classify_code("testing".into(), code.into(), "msg".into())
    }

    #[test]
    fn error_codes_map_to_stable_step_functions_names() {
        assert_eq!(
            classify("ThrottlingException").error_name(),
            "Backstop.Throttled"
        );
        assert_eq!(
            classify("RequestLimitExceeded").error_name(),
            "Backstop.Throttled"
        );
        assert_eq!(
            classify("InsufficientInstanceCapacity").error_name(),
            "Backstop.InsufficientCapacity"
        );
        assert_eq!(
            classify("ResourceNotFoundException").error_name(),
            "Backstop.NotFound"
        );
        assert_eq!(
            classify("InvalidVolume.NotFound").error_name(),
            "Backstop.NotFound"
        );
        assert_eq!(
            classify("DBInstanceNotFound").error_name(),
            "Backstop.NotFound"
        );
        assert_eq!(
            classify("ExecutionDoesNotExist").error_name(),
            "Backstop.NotFound"
        );
        assert_eq!(
            classify("AccessDeniedException").error_name(),
            "Backstop.AccessDenied"
        );
        assert_eq!(
            classify("UnauthorizedOperation").error_name(),
            "Backstop.AccessDenied"
        );
        assert_eq!(
            classify("InvalidParameterValue").error_name(),
            "Backstop.AwsError"
        );
    }

    #[test]
    fn only_throttling_and_server_faults_are_retried() {
        assert!(classify("Throttling").is_transient());
        assert!(classify("EC2ThrottledException").is_transient());
        assert!(!classify("AccessDeniedException").is_transient());
        assert!(!classify("InvalidParameterValue").is_transient());
        let response = |code: &str, status| {
            classify_response("testing".into(), code.into(), "msg".into(), status)
        };
        assert_eq!(
            response("InternalFailure", 500).error_name(),
            "Backstop.Transient"
        );
        assert_eq!(
            response("ServiceUnavailable", 503).error_name(),
            "Backstop.Transient"
        );
        // an unknown code with a 5xx status is still the service's fault
        assert_eq!(response("Whatever", 502).error_name(), "Backstop.Transient");
        assert_eq!(
            response("RequestTimeout", 400).error_name(),
            "Backstop.Transient"
        );
        assert_eq!(
            response("InvalidParameterValue", 400).error_name(),
            "Backstop.AwsError"
        );
    }

    #[test]
    fn long_messages_are_cut_on_a_character_boundary() {
        let text = "é".repeat(10);
        let short = shorten(&text, 4);
        assert!(short.starts_with("éééé…"), "{short}");
        assert!(short.contains("6 more characters"), "{short}");
        assert_eq!(shorten("abc", 4), "abc");
    }

    #[test]
    fn the_lambda_error_type_is_the_backstop_name() {
        let diagnostic: Diagnostic = classify("ThrottlingException").into();
        assert_eq!(diagnostic.error_type, "Backstop.Throttled");
        assert!(diagnostic.error_message.contains("testing"));
    }

    #[test]
    fn truncation_never_splits_a_character() {
        assert_eq!(truncate_chars("ünïcödé", 3), "ünï");
        assert_eq!(truncate_chars("ab", 5), "ab");
    }
}
