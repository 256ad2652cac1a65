//! The DR network as a CloudFormation stack, as a step of the run.
//!
//! `resolve-plan` asks for the stack (a failover reuses, updates or creates the plan's stack; a
//! drill creates its own copy named for the run) and stores what it did; the restore and launch
//! rounds look at the stack once per round and, once it is ready, store its outputs so every
//! later step fills the plan's `{"stackOutput": …}` references from them. Nothing here waits:
//! the state machine's loops do. A drill's teardown deletes its copy; a failover never deletes
//! a stack.

use std::collections::BTreeMap;

use aws_sdk_cloudformation::types::{Capability, Parameter, Stack, StackStatus, Tag};
use aws_sdk_cloudformation::Client;
use aws_smithy_types::date_time::Format;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::aws::store::{Part, RunStore};
use crate::aws::tags;
use crate::error::{classify_sdk_error, BackstopError, SdkContext};
use crate::model::network::{NetworkState, StackAction};
use crate::model::run::{Mode, RunId};
use crate::plan::{parse_s3_uri, NetworkPlan, Plan};

/// A drill's own copy of the network: `<stackName>-drill-<run suffix>` (validation keeps the
/// name within CloudFormation's 128 characters).
pub fn drill_stack_name(network: &NetworkPlan, run_id: &RunId) -> String {
    format!("{}-drill-{}", network.stack_name, tags::run_suffix(run_id))
}

/// The stack the run uses: the plan's own in a failover, the run's copy in a drill.
pub fn stack_name_for(network: &NetworkPlan, mode: Mode, run_id: &RunId) -> String {
    match mode {
        Mode::Failover | Mode::Failback => network.stack_name.clone(),
        Mode::Drill => drill_stack_name(network, run_id),
    }
}

/// Where the stack stands, after one DescribeStacks.
#[derive(Debug, Clone, PartialEq)]
pub enum StackReadiness {
    Ready {
        outputs: BTreeMap<String, String>,
        status: String,
    },
    InProgress(String),
    Failed {
        status: String,
        reason: String,
    },
}

/// The stack by name or id, if it exists (a deleted stack, described by its id, is returned
/// with DELETE_COMPLETE).
pub async fn describe(cf: &Client, name_or_id: &str) -> Result<Option<Stack>, BackstopError> {
    match cf.describe_stacks().stack_name(name_or_id).send().await {
        Ok(out) => Ok(out.stacks.unwrap_or_default().into_iter().next()),
        // CloudFormation answers a missing stack with ValidationError "… does not exist"
        Err(err) if is_missing_stack(&err) => Ok(None),
        Err(err) => Err(classify_sdk_error(
            format!("describing CloudFormation stack {name_or_id}"),
            err,
        )),
    }
}

fn is_missing_stack<E: ProvideErrorMetadata>(err: &E) -> bool {
    err.code() == Some("ValidationError")
        && err.message().is_some_and(|m| m.contains("does not exist"))
}

fn tag_of<'s>(stack: &'s Stack, key: &str) -> Option<&'s str> {
    stack
        .tags()
        .iter()
        .find(|t| t.key() == Some(key))
        .and_then(|t| t.value())
}

fn status_of(stack: &Stack) -> String {
    stack
        .stack_status()
        .map(|s| s.as_str().to_string())
        .unwrap_or_default()
}

/// Everything a stack request needs besides the stack's name.
pub struct StackRequest<'a> {
    pub plan: &'a Plan,
    pub mode: Mode,
    pub run_id: &'a RunId,
    /// The role CloudFormation acts with (the template's `NetworkStackRole`), if deployed so.
    pub role_arn: Option<&'a str>,
    /// The DR region, for the template's S3 address.
    pub region: &'a str,
    /// Where the run records the stack before asking for it, so that whatever happens after
    /// the request, the stack is accounted for (a drill's teardown finds it there).
    pub store: &'a RunStore,
    pub execution: &'a RunId,
}

/// Creates, updates or reuses the run's network stack; safe to call again (an earlier call's
/// stack is found by its run tag).
pub async fn ensure_stack(
    cf: &Client,
    request: &StackRequest<'_>,
) -> Result<NetworkState, BackstopError> {
    let network = request.plan.network.as_ref().ok_or_else(|| {
        BackstopError::invalid_input("plan.network", "is missing: the run has no network stack")
    })?;
    let name = stack_name_for(network, request.mode, request.run_id);
    let now = aws_smithy_types::DateTime::from(std::time::SystemTime::now())
        .fmt(Format::DateTime)
        .unwrap_or_default();
    let state = |stack_id: String, action| NetworkState {
        stack_name: name.clone(),
        stack_id,
        action,
        requested_at: now.clone(),
        ready_at: None,
        outputs: None,
    };
    let existing = describe(cf, &name).await?;
    if let Some(stack) = &existing {
        let id = stack.stack_id().unwrap_or(&name).to_string();
        let ours = tag_of(stack, tags::RUN_ID) == Some(request.run_id.as_str());
        if ours {
            // an earlier attempt of this run created it
            return Ok(state(id, StackAction::Created));
        }
        if request.mode == Mode::Drill {
            return Err(BackstopError::Conflict(format!(
                "a stack named {name} exists but is not this drill's (its {} tag is {:?}); \
                 delete it or start the drill under another name",
                tags::RUN_ID,
                tag_of(stack, tags::RUN_ID)
            )));
        }
        let (id, action) = reuse_for_failover(cf, request, network, stack, id).await?;
        return Ok(state(id, action));
    }
    let template = template_source(cf, network, request.region).await?;
    // recorded by name first: the stack's id is known only once CloudFormation answers
    let planned = state(name.clone(), StackAction::Requested);
    request
        .store
        .put(request.execution, Part::Network, &planned)
        .await?;
    let mut create = cf
        .create_stack()
        .stack_name(&name)
        .set_parameters(Some(parameters(&template.parameters, &network.parameters)))
        .set_tags(Some(stack_tags(request)))
        .client_request_token(tags::token(request.run_id, "network", &[&name]))
        .capabilities(Capability::CapabilityIam)
        .set_role_arn(request.role_arn.map(str::to_string));
    create = match &template.body {
        TemplateBody::Url(url) => create.template_url(url),
        TemplateBody::Text(text) => create.template_body(text),
    };
    let created = create
        .send()
        .await
        .context(format!("creating the DR network stack {name}"))?;
    tracing::info!(stack = %name, "network stack requested");
    Ok(state(
        created.stack_id.unwrap_or_else(|| name.clone()),
        StackAction::Created,
    ))
}

/// A failover's existing stack: updated to the plan's template when it names one, else used as
/// it is. A stack left broken by an earlier attempt is the operator's to look at, never deleted.
async fn reuse_for_failover(
    cf: &Client,
    request: &StackRequest<'_>,
    network: &NetworkPlan,
    stack: &Stack,
    id: String,
) -> Result<(String, StackAction), BackstopError> {
    let status = status_of(stack);
    if status.ends_with("_IN_PROGRESS") {
        return Ok((id, StackAction::Reused));
    }
    if !is_usable(&status) {
        return Err(BackstopError::NetworkFailed {
            stack: network.stack_name.clone(),
            message: format!(
                "the existing stack is {status}; a failover does not delete a stack: fix or delete it \
                 (aws cloudformation describe-stack-events --stack-name {}) and run again",
                network.stack_name
            ),
        });
    }
    let Some(uri) = &network.template else {
        return Ok((id, StackAction::Reused));
    };
    let url = template_url(uri, request.region)?;
    // what the plan does not set keeps its value: a failover changes only what the plan says
    let mut parameters = parameters(&[], &network.parameters);
    parameters.extend(
        stack
            .parameters()
            .iter()
            .filter_map(|p| p.parameter_key())
            .filter(|key| !network.parameters.contains_key(*key))
            .map(|key| {
                Parameter::builder()
                    .parameter_key(key)
                    .use_previous_value(true)
                    .build()
            }),
    );
    let update = cf
        .update_stack()
        .stack_name(&id)
        .template_url(url)
        .set_parameters(Some(parameters))
        .capabilities(Capability::CapabilityIam)
        .client_request_token(tags::token(
            request.run_id,
            "network-update",
            &[&network.stack_name],
        ))
        .set_role_arn(request.role_arn.map(str::to_string))
        .send()
        .await;
    match update {
        Ok(_) => Ok((id, StackAction::Updated)),
        // the stack already matches the plan
        Err(err)
            if err.code() == Some("ValidationError")
                && err
                    .message()
                    .is_some_and(|m| m.contains("No updates are to be performed")) =>
        {
            Ok((id, StackAction::Reused))
        }
        Err(err) => Err(classify_sdk_error(
            format!("updating the DR network stack {}", network.stack_name),
            err,
        )),
    }
}

/// A stack in this state serves its resources (an update rolled back keeps the previous ones).
pub fn is_usable(status: &str) -> bool {
    matches!(
        status,
        "CREATE_COMPLETE" | "UPDATE_COMPLETE" | "UPDATE_ROLLBACK_COMPLETE" | "IMPORT_COMPLETE"
    )
}

enum TemplateBody {
    Url(String),
    Text(String),
}

struct Template {
    body: TemplateBody,
    /// Parameters to carry over (a drill copying the existing stack takes its values).
    parameters: Vec<(String, String)>,
}

/// The plan's template in S3; without one, the existing stack's own template and parameters.
async fn template_source(
    cf: &Client,
    network: &NetworkPlan,
    region: &str,
) -> Result<Template, BackstopError> {
    if let Some(uri) = &network.template {
        return Ok(Template {
            body: TemplateBody::Url(template_url(uri, region)?),
            parameters: Vec::new(),
        });
    }
    let missing = || {
        BackstopError::not_found(
            format!("DR network stack {}", network.stack_name),
            "the plan gives no network.template and the stack does not exist to copy; \
             upload the template to S3 and set network.template to s3://bucket/key",
        )
    };
    let Some(stack) = describe(cf, &network.stack_name).await? else {
        return Err(missing());
    };
    let body = cf
        .get_template()
        .stack_name(&network.stack_name)
        .template_stage(aws_sdk_cloudformation::types::TemplateStage::Original)
        .send()
        .await
        .context(format!(
            "reading the template of stack {}",
            network.stack_name
        ))?
        .template_body
        .ok_or_else(missing)?;
    let parameters = stack
        .parameters()
        .iter()
        .filter_map(|p| {
            Some((
                p.parameter_key()?.to_string(),
                p.parameter_value()?.to_string(),
            ))
        })
        .collect();
    Ok(Template {
        body: TemplateBody::Text(body),
        parameters,
    })
}

/// The HTTPS address CloudFormation reads `s3://bucket/key` from, in the DR region.
pub fn template_url(uri: &str, region: &str) -> Result<String, BackstopError> {
    let (bucket, key) = parse_s3_uri(uri).ok_or_else(|| {
        BackstopError::invalid_input(
            "plan.network.template",
            format!("{uri:?} is not s3://bucket/key"),
        )
    })?;
    Ok(format!("https://{bucket}.s3.{region}.amazonaws.com/{key}"))
}

/// `base` (carried over) overlaid with the plan's parameters.
fn parameters(base: &[(String, String)], plan: &BTreeMap<String, String>) -> Vec<Parameter> {
    let mut merged: BTreeMap<&str, &str> =
        base.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    merged.extend(plan.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    merged
        .into_iter()
        .map(|(key, value)| {
            Parameter::builder()
                .parameter_key(key)
                .parameter_value(value)
                .build()
        })
        .collect()
}

/// The run's tags: CloudFormation puts them on every resource of the stack that takes tags.
fn stack_tags(request: &StackRequest<'_>) -> Vec<Tag> {
    tags::run_tags(request.run_id, request.mode, &request.plan.name, "network")
        .into_iter()
        .map(|(key, value)| Tag::builder().key(key).value(value).build())
        .collect()
}

/// A stack's outputs by name.
pub fn outputs_of(stack: &Stack) -> BTreeMap<String, String> {
    stack
        .outputs()
        .iter()
        .filter_map(|o| Some((o.output_key()?.to_string(), o.output_value()?.to_string())))
        .collect()
}

/// One look at the stack; a failed one says which resource failed and why.
pub async fn readiness(cf: &Client, state: &NetworkState) -> Result<StackReadiness, BackstopError> {
    let Some(stack) = describe(cf, &state.stack_id).await? else {
        return Ok(StackReadiness::Failed {
            status: "DOES_NOT_EXIST".into(),
            reason: "the stack is gone (deleted outside the run)".into(),
        });
    };
    let status = status_of(&stack);
    if is_usable(&status) {
        let outputs = outputs_of(&stack);
        return Ok(StackReadiness::Ready { outputs, status });
    }
    if status.ends_with("_IN_PROGRESS")
        && !status.contains("ROLLBACK")
        && !status.starts_with("DELETE")
    {
        return Ok(StackReadiness::InProgress(status));
    }
    let reason = first_failure(cf, &state.stack_id).await.unwrap_or_else(|| {
        stack
            .stack_status_reason()
            .unwrap_or("no reason given")
            .to_string()
    });
    Ok(StackReadiness::Failed { status, reason })
}

/// The stack's latest events, newest first (one page: a network stack's creation fits in it);
/// `None` if they cannot be read (the callers only enrich a message or a time with them).
async fn stack_events(
    cf: &Client,
    stack_id: &str,
) -> Option<Vec<aws_sdk_cloudformation::types::StackEvent>> {
    let out = cf
        .describe_stack_events()
        .stack_name(stack_id)
        .send()
        .await
        .ok()?;
    Some(out.stack_events.unwrap_or_default())
}

/// The first resource that failed, from the stack's events (newest first, so the last found).
async fn first_failure(cf: &Client, stack_id: &str) -> Option<String> {
    stack_events(cf, stack_id)
        .await?
        .iter()
        .rfind(|e| {
            e.resource_status()
                .is_some_and(|s| s.as_str().ends_with("_FAILED"))
        })
        .map(|e| {
            format!(
                "{} ({}): {}",
                e.logical_resource_id().unwrap_or("?"),
                e.resource_type().unwrap_or("?"),
                e.resource_status_reason().unwrap_or("no reason given")
            )
        })
}

/// When the stack last became ready: its own newest CREATE/UPDATE_COMPLETE event.
pub async fn ready_time(cf: &Client, stack_id: &str) -> Option<String> {
    stack_events(cf, stack_id)
        .await?
        .iter()
        .find(|e| {
            e.resource_type() == Some("AWS::CloudFormation::Stack")
                && matches!(
                    e.resource_status().map(|s| s.as_str()),
                    Some("CREATE_COMPLETE" | "UPDATE_COMPLETE")
                )
        })
        .and_then(|e| e.timestamp())
        .and_then(|t| t.fmt(Format::DateTime).ok())
}

/// Looks at the stack unless its outputs are already known; returns the state with the
/// outputs once ready (the caller stores it), `None` while it is still being built.
pub async fn check(
    cf: &Client,
    state: &NetworkState,
) -> Result<Option<NetworkState>, BackstopError> {
    if state.outputs.is_some() {
        return Ok(Some(state.clone()));
    }
    match readiness(cf, state).await? {
        StackReadiness::Ready { outputs, .. } => {
            let ready_at = match state.action {
                StackAction::Reused => Some(state.requested_at.clone()),
                _ => ready_time(cf, &state.stack_id).await,
            };
            Ok(Some(NetworkState {
                ready_at,
                outputs: Some(outputs),
                ..state.clone()
            }))
        }
        StackReadiness::InProgress(status) => {
            tracing::info!(stack = %state.stack_name, %status, "network stack not ready yet");
            Ok(None)
        }
        StackReadiness::Failed { status, reason } => Err(BackstopError::NetworkFailed {
            stack: state.stack_name.clone(),
            message: format!("{status}: {reason}"),
        }),
    }
}

/// Where a drill's stack is in its deletion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StackRemoval {
    Gone,
    Pending(String),
    Kept(String),
}

/// One teardown pass over a drill's stack: deletes it if it carries the run's tag, then
/// reports where the deletion is. Only called once the run's own resources inside are gone.
pub async fn remove_drill_stack(
    cf: &Client,
    state: &NetworkState,
    run_id: &RunId,
) -> Result<StackRemoval, BackstopError> {
    let Some(stack) = describe(cf, &state.stack_id).await? else {
        return Ok(StackRemoval::Gone);
    };
    let status = stack.stack_status().cloned();
    if tag_of(&stack, tags::RUN_ID) != Some(run_id.as_str()) {
        return Ok(StackRemoval::Kept(format!(
            "stack {} does not carry this run's {} tag: not deleted",
            state.stack_name,
            tags::RUN_ID
        )));
    }
    match status {
        Some(StackStatus::DeleteComplete) => Ok(StackRemoval::Gone),
        Some(StackStatus::DeleteInProgress) => {
            Ok(StackRemoval::Pending("DELETE_IN_PROGRESS".into()))
        }
        other => {
            let was = other.map(|s| s.as_str().to_string()).unwrap_or_default();
            // a DELETE_FAILED stack is asked again (what blocked it may be gone by now)
            cf.delete_stack()
                .stack_name(&state.stack_id)
                .client_request_token(tags::token(run_id, "network-delete", &[&was]))
                .send()
                .await
                .context(format!(
                    "deleting the drill's network stack {}",
                    state.stack_name
                ))?;
            Ok(StackRemoval::Pending(format!(
                "delete requested (was {was})"
            )))
        }
    }
}

/// What a template declares that a plan relies on: its outputs and parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TemplateAnatomy {
    pub outputs: std::collections::BTreeSet<String>,
    pub parameters: std::collections::BTreeSet<String>,
}

impl TemplateAnatomy {
    /// Reads a JSON or YAML template's `Outputs` and `Parameters` keys. YAML is read by
    /// indentation only (CloudFormation's short-form tags such as `!Ref` need no parser for
    /// this): the keys one level under each top-level section.
    pub fn parse(body: &str) -> TemplateAnatomy {
        if let Ok(serde_json::Value::Object(template)) = serde_json::from_str(body) {
            let keys = |section: &str| {
                template
                    .get(section)
                    .and_then(|s| s.as_object())
                    .map(|s| s.keys().cloned().collect())
                    .unwrap_or_default()
            };
            return TemplateAnatomy {
                outputs: keys("Outputs"),
                parameters: keys("Parameters"),
            };
        }
        let mut anatomy = TemplateAnatomy::default();
        let mut section: Option<&str> = None;
        let mut child_indent: Option<usize> = None;
        for line in body.lines() {
            let content = line.trim_start();
            if content.is_empty() || content.starts_with('#') {
                continue;
            }
            let indent = line.len() - content.len();
            let key = content
                .split_once(':')
                .map(|(k, _)| k.trim().trim_matches(|c| c == '"' || c == '\''));
            if indent == 0 {
                section = key;
                child_indent = None;
                continue;
            }
            let target = match section {
                Some("Outputs") => &mut anatomy.outputs,
                Some("Parameters") => &mut anatomy.parameters,
                _ => continue,
            };
            let expected = *child_indent.get_or_insert(indent);
            if indent == expected {
                if let Some(key) = key.filter(|k| !k.is_empty()) {
                    target.insert(key.to_string());
                }
            }
        }
        anatomy
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_network_templates_outputs_and_parameters_are_read() {
        let body = include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../dr-region/network.yaml"
        ));
        let anatomy = TemplateAnatomy::parse(body);
        for output in [
            "VpcId",
            "PrivateSubnetA",
            "PrivateSubnetB",
            "DbSubnetGroupName",
        ] {
            assert!(anatomy.outputs.contains(output), "{output}: {anatomy:?}");
        }
        assert!(!anatomy.outputs.contains("Value"), "{anatomy:?}");
        assert!(!anatomy.parameters.is_empty());
    }

    #[test]
    fn a_json_template_is_read_as_json() {
        let body = r#"{"Parameters": {"Cidr": {"Type": "String"}}, "Resources": {}, "Outputs": {"SubnetA": {"Value": "x"}}}"#;
        let anatomy = TemplateAnatomy::parse(body);
        assert_eq!(anatomy.outputs.into_iter().collect::<Vec<_>>(), ["SubnetA"]);
        assert_eq!(anatomy.parameters.into_iter().collect::<Vec<_>>(), ["Cidr"]);
    }

    #[test]
    fn a_drill_copy_is_named_for_its_run_and_teardown_deletes_only_that() {
        let network = NetworkPlan {
            stack_name: "shop-dr-network".into(),
            ..Default::default()
        };
        let run = RunId::try_from("drill-1".to_string()).unwrap();
        let drill = stack_name_for(&network, Mode::Drill, &run);
        assert!(drill.starts_with("shop-dr-network-drill-"), "{drill}");
        assert_eq!(
            stack_name_for(&network, Mode::Failover, &run),
            "shop-dr-network"
        );
        let state = NetworkState {
            stack_name: drill,
            stack_id: "arn".into(),
            action: StackAction::Created,
            requested_at: String::new(),
            ready_at: None,
            outputs: None,
        };
        assert!(state.deleted_by_teardown(Mode::Drill));
        assert!(!state.deleted_by_teardown(Mode::Failover));
        // no answer recorded: the request may have created it
        let requested = NetworkState {
            action: StackAction::Requested,
            ..state.clone()
        };
        assert!(requested.deleted_by_teardown(Mode::Drill));
        let reused = NetworkState {
            action: StackAction::Reused,
            ..state
        };
        assert!(!reused.deleted_by_teardown(Mode::Drill));
    }
}
