//! Backstop's error taxonomy.
//!
//! Every handler fails with one of these. The Step Functions error name
//! (`Backstop.*`) is what the state machine's Retry/Catch match, so the names
//! are a contract: add variants, never rename them.

use std::fmt;

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use lambda_runtime::Diagnostic;

use crate::plan::PlanProblem;

#[derive(Debug, thiserror::Error)]
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

    #[error("throttled by AWS while {action}: {message}")]
    Throttled { action: String, message: String },

    #[error("insufficient capacity while {action}: {message}")]
    InsufficientCapacity { action: String, message: String },

    #[error("timed out while {action}: {message}")]
    Timeout { action: String, message: String },

    #[error("access denied while {action}: {message} (check the function's IAM role)")]
    AccessDenied { action: String, message: String },

    /// A precondition of a recovery step does not hold (wrong AZ, volume attached elsewhere, ...).
    #[error("{0}")]
    Conflict(String),

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
            Self::Throttled { .. } => "Backstop.Throttled",
            Self::InsufficientCapacity { .. } => "Backstop.InsufficientCapacity",
            Self::Timeout { .. } => "Backstop.Timeout",
            Self::AccessDenied { .. } => "Backstop.AccessDenied",
            Self::Conflict(_) => "Backstop.Conflict",
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
        matches!(self, Self::Throttled { .. } | Self::Timeout { .. })
    }
}

impl From<BackstopError> for Diagnostic {
    fn from(err: BackstopError) -> Self {
        Diagnostic {
            error_type: err.error_name().to_string(),
            error_message: err.to_string(),
        }
    }
}

struct ProblemList<'a>(&'a [PlanProblem]);

impl fmt::Display for ProblemList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, problem) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "  - {problem}")?;
        }
        Ok(())
    }
}

const THROTTLING_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "RequestThrottled",
    "RequestThrottledException",
    "SlowDown",
    "PriorRequestNotComplete",
    "LimitExceededException",
];

const CAPACITY_CODES: &[&str] = &[
    "InsufficientInstanceCapacity",
    "InsufficientCapacity",
    "InsufficientDBInstanceCapacity",
    "InsufficientHostCapacity",
    "InsufficientReservedInstanceCapacity",
];

/// Turns an SDK error into a Backstop error by its AWS error code.
///
/// `action` says what we were doing ("starting the restore of db"), so the
/// message an operator reads names the step and the resource.
pub fn classify_sdk_error<E, R>(action: impl Into<String>, err: SdkError<E, R>) -> BackstopError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: fmt::Debug,
{
    let action = action.into();
    match &err {
        SdkError::TimeoutError(_) => BackstopError::Timeout {
            action,
            message: "the AWS API did not answer in time".into(),
        },
        SdkError::DispatchFailure(failure) => {
            let message = if failure.is_timeout() {
                return BackstopError::Timeout {
                    action,
                    message: "connection to the AWS API timed out".into(),
                };
            } else {
                format!("could not reach the AWS API endpoint ({failure:?})")
            };
            BackstopError::Aws {
                action,
                code: "EndpointUnreachable".into(),
                message,
            }
        }
        SdkError::ServiceError(service) => {
            let inner = service.err();
            let code = inner.code().unwrap_or("Unknown").to_string();
            let message = inner
                .message()
                .map(str::to_string)
                .unwrap_or_else(|| format!("{inner}"));
            classify_code(action, code, message)
        }
        other => BackstopError::Aws {
            action,
            code: "Unknown".into(),
            message: format!(
                "{}",
                aws_smithy_types::error::display::DisplayErrorContext(other)
            ),
        },
    }
}

/// Classification by error code alone; separate so it can be unit-tested directly.
pub fn classify_code(action: String, code: String, message: String) -> BackstopError {
    if THROTTLING_CODES.contains(&code.as_str()) {
        BackstopError::Throttled { action, message }
    } else if CAPACITY_CODES.contains(&code.as_str()) {
        BackstopError::InsufficientCapacity { action, message }
    } else if code.contains("NotFound") || code == "NoSuchHostedZone" || code == "ParameterNotFound"
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
    fn only_throttling_and_timeouts_are_transient() {
        assert!(classify("Throttling").is_transient());
        assert!(!classify("AccessDeniedException").is_transient());
        assert!(!classify("InvalidParameterValue").is_transient());
    }

    #[test]
    fn the_lambda_error_type_is_the_backstop_name() {
        let diagnostic: Diagnostic = classify("ThrottlingException").into();
        assert_eq!(diagnostic.error_type, "Backstop.Throttled");
        assert!(diagnostic.error_message.contains("testing"));
    }
}
