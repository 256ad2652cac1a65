//! The plan's validations and post-launch actions can run: each function exists in the DR
//! region, is active, and the stack lets Backstop invoke it; each command's document exists
//! there, is a Command document, and takes the parameters the plan gives it.

use std::collections::BTreeMap;

use super::{line, unchecked, CheckLine, Status};
use crate::aws::Clients;
use crate::error::{classify_sdk_error, BackstopError};
use crate::plan::{Plan, SsmCommandPlan};

pub(super) async fn check_recovery_code(
    clients: &Clients,
    plan: &Plan,
    lines: &mut Vec<CheckLine>,
) -> Result<(), BackstopError> {
    let entries = plan
        .validations
        .iter()
        .map(|v| ("validation", &v.name, &v.lambda_function, v.ssm.as_ref()))
        .chain(
            plan.post_launch
                .iter()
                .map(|a| ("post-launch", &a.name, &a.lambda_function, a.ssm.as_ref())),
        );
    for (category, name, function, ssm) in entries {
        let checked = match ssm {
            Some(ssm) => check_document(clients, plan, category, name, ssm).await?,
            None => check_function(clients, plan, category, name, function).await?,
        };
        lines.push(checked);
    }
    Ok(())
}

async fn check_function(
    clients: &Clients,
    plan: &Plan,
    category: &str,
    name: &str,
    function: &str,
) -> Result<CheckLine, BackstopError> {
    let found = clients
        .lambda
        .get_function()
        .function_name(function)
        .send()
        .await;
    Ok(match found {
        Ok(found) => {
            let state = found
                .configuration()
                .and_then(|c| c.state())
                .map_or("Active", |s| s.as_str());
            if state == "Active" {
                line(category, Status::Pass, name, format!("{function} is active in {}", plan.dr_region))
            } else {
                line(category, Status::Fail, name, format!("{function} is {state}: it cannot be invoked now"))
                    .fix("wait for the function to become Active, or fix its last update (aws lambda get-function)")
            }
        }
        Err(err) => match classify_sdk_error(format!("looking up function {function}"), err) {
            BackstopError::NotFound { .. } => line(
                category,
                Status::Fail,
                name,
                format!("{function} does not exist in {}", plan.dr_region),
            )
            .fix(format!(
                "deploy the function in {} (docs/reference.md, \"Validations\") and add its ARN to the stack's ValidationFunctionArns",
                plan.dr_region
            )),
            BackstopError::AccessDenied { .. } => line(
                category,
                Status::Fail,
                name,
                format!("{function} is not one the stack lets Backstop invoke"),
            )
            .fix("add the function's ARN to the stack's ValidationFunctionArns parameter and update the stack"),
            other => unchecked(category, name, other)?,
        },
    })
}

/// What is wrong with `given` parameters for a document declaring `declared` (name → has a
/// default): names it does not declare, required ones left out.
fn parameter_problems(
    declared: &BTreeMap<String, bool>,
    given: &BTreeMap<String, Vec<String>>,
) -> Vec<String> {
    let mut problems: Vec<String> = given
        .keys()
        .filter(|k| !declared.contains_key(*k))
        .map(|k| format!("it has no parameter {k}"))
        .collect();
    problems.extend(
        declared
            .iter()
            .filter(|(k, has_default)| !**has_default && !given.contains_key(*k))
            .map(|(k, _)| format!("its required parameter {k} is not given")),
    );
    problems
}

async fn check_document(
    clients: &Clients,
    plan: &Plan,
    category: &str,
    name: &str,
    ssm: &SsmCommandPlan,
) -> Result<CheckLine, BackstopError> {
    let document = &ssm.document;
    let found = clients.ssm.describe_document().name(document).send().await;
    let described = match found {
        Ok(found) => found
            .document()
            .cloned()
            .unwrap_or_else(|| aws_sdk_ssm::types::DocumentDescription::builder().build()),
        Err(err) => {
            return Ok(
                match classify_sdk_error(format!("looking up document {document}"), err) {
                    BackstopError::AccessDenied { .. } => line(
                        category,
                        Status::Fail,
                        name,
                        format!("the stack may not read the document {document}"),
                    )
                    .fix("use AWS-RunShellScript or a document of this account"),
                    BackstopError::Aws { code, .. } if code == "InvalidDocument" => line(
                        category,
                        Status::Fail,
                        name,
                        format!("the document {document} does not exist in {}", plan.dr_region),
                    )
                    .fix(format!(
                        "create the Command document in {} (aws ssm create-document --document-type Command), or use AWS-RunShellScript",
                        plan.dr_region
                    )),
                    other => unchecked(category, name, other)?,
                },
            )
        }
    };
    let kind = described.document_type().map(|t| t.as_str().to_string());
    if kind.as_deref() != Some("Command") {
        return Ok(line(
            category,
            Status::Fail,
            name,
            format!(
                "{document} is a {} document, not a Command document Run Command can send",
                kind.unwrap_or_else(|| "typeless".into())
            ),
        )
        .fix("name a Command document (e.g. AWS-RunShellScript)"));
    }
    let declared: BTreeMap<String, bool> = described
        .parameters()
        .iter()
        .filter_map(|p| Some((p.name()?.to_string(), p.default_value().is_some())))
        .collect();
    let problems = parameter_problems(&declared, &ssm.parameters);
    Ok(if problems.is_empty() {
        line(
            category,
            Status::Pass,
            name,
            format!(
                "{document} takes its parameters; runs on {}",
                ssm.instances.join(", ")
            ),
        )
    } else {
        line(
            category,
            Status::Fail,
            name,
            format!("{document}: {}", problems.join("; ")),
        )
        .fix(format!(
            "give {document} the parameters it declares ({})",
            declared.keys().cloned().collect::<Vec<_>>().join(", ")
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_and_missing_parameters_are_named() {
        let declared = BTreeMap::from([
            ("commands".to_string(), false),
            ("executionTimeout".to_string(), true),
        ]);
        let given = BTreeMap::from([("command".to_string(), vec!["true".to_string()])]);
        assert_eq!(
            parameter_problems(&declared, &given),
            [
                "it has no parameter command",
                "its required parameter commands is not given"
            ]
        );
        let right = BTreeMap::from([("commands".to_string(), vec!["true".to_string()])]);
        assert!(parameter_problems(&declared, &right).is_empty());
    }
}
