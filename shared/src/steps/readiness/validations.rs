//! The plan's validations can run: each function exists in the DR region, is active, and the
//! stack lets the validate step invoke it.

use super::{line, unchecked, CheckLine, Status};
use crate::aws::Clients;
use crate::error::{classify_sdk_error, BackstopError};
use crate::plan::Plan;

pub(super) async fn check_validation_functions(
    clients: &Clients,
    plan: &Plan,
    lines: &mut Vec<CheckLine>,
) -> Result<(), BackstopError> {
    for check in &plan.validations {
        let function = check.lambda_function.as_str();
        let found = clients
            .lambda
            .get_function()
            .function_name(function)
            .send()
            .await;
        let checked = match found {
            Ok(found) => {
                let state = found
                    .configuration()
                    .and_then(|c| c.state())
                    .map_or("Active", |s| s.as_str());
                if state == "Active" {
                    line("validation", Status::Pass, &check.name, format!("{function} is active in {}", plan.dr_region))
                } else {
                    line("validation", Status::Fail, &check.name, format!("{function} is {state}: it cannot be invoked now"))
                        .fix("wait for the function to become Active, or fix its last update (aws lambda get-function)")
                }
            }
            Err(err) => match classify_sdk_error(format!("looking up validation function {function}"), err) {
                BackstopError::NotFound { .. } => line(
                    "validation",
                    Status::Fail,
                    &check.name,
                    format!("{function} does not exist in {}", plan.dr_region),
                )
                .fix(format!(
                    "deploy the validation function in {} (docs/reference.md, \"Validations\") and add its ARN to the stack's ValidationFunctionArns",
                    plan.dr_region
                )),
                BackstopError::AccessDenied { .. } => line(
                    "validation",
                    Status::Fail,
                    &check.name,
                    format!("{function} is not one the stack lets Backstop invoke"),
                )
                .fix("add the function's ARN to the stack's ValidationFunctionArns parameter and update the stack"),
                other => unchecked("validation", &check.name, other)?,
            },
        };
        lines.push(checked);
    }
    Ok(())
}
