//! Systems Manager Run Command on recovered instances: whether their agents have registered,
//! sending a command once (found again by its comment after a retry), and how each
//! invocation ended.

use std::collections::BTreeMap;

use aws_sdk_ssm::types::{CommandInvocationStatus, InstanceInformationStringFilter};
use serde::{Deserialize, Serialize};

use crate::error::{truncate_chars, BackstopError, SdkContext};

/// How much of a command's output the report keeps per instance.
pub const OUTPUT_CHARS: usize = 2_000;

/// The instances among `instance_ids` whose SSM agent is not online (not registered yet, or
/// lost): a command cannot be delivered to them.
pub async fn not_online(
    ssm: &aws_sdk_ssm::Client,
    instance_ids: &[String],
) -> Result<Vec<String>, BackstopError> {
    let described = ssm
        .describe_instance_information()
        .filters(
            InstanceInformationStringFilter::builder()
                .key("InstanceIds")
                .set_values(Some(instance_ids.to_vec()))
                .build()
                .map_err(|e| BackstopError::invalid_input("instanceIds", e.to_string()))?,
        )
        .send()
        .await
        .context("checking the instances' SSM agents")?;
    let online: Vec<&str> = described
        .instance_information_list()
        .iter()
        .filter(|node| node.ping_status().map(|s| s.as_str()) == Some("Online"))
        .filter_map(|node| node.instance_id())
        .collect();
    Ok(instance_ids
        .iter()
        .filter(|id| !online.contains(&id.as_str()))
        .cloned()
        .collect())
}

/// The command Backstop sent with `comment` to `instance_id`, if any: a retry after a send
/// whose answer was lost finds it instead of running the command twice.
pub async fn find_sent(
    ssm: &aws_sdk_ssm::Client,
    instance_id: &str,
    comment: &str,
) -> Result<Option<String>, BackstopError> {
    let listed = ssm
        .list_commands()
        .instance_id(instance_id)
        .send()
        .await
        .context(format!("listing the commands sent to {instance_id}"))?;
    Ok(listed
        .commands()
        .iter()
        .find(|c| c.comment() == Some(comment))
        .and_then(|c| c.command_id())
        .map(str::to_string))
}

/// Sends `document` with `parameters` to `instance_ids`; its command id.
pub async fn send(
    ssm: &aws_sdk_ssm::Client,
    document: &str,
    instance_ids: &[String],
    parameters: &BTreeMap<String, Vec<String>>,
    comment: &str,
    timeout_seconds: u32,
) -> Result<String, BackstopError> {
    let sent = ssm
        .send_command()
        .document_name(document)
        .set_instance_ids(Some(instance_ids.to_vec()))
        .set_parameters(Some(
            parameters
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ))
        .comment(truncate_chars(comment, 100))
        // delivery timeout: AWS's minimum is 30 s
        .timeout_seconds(timeout_seconds.max(30) as i32)
        .send()
        .await
        .context(format!("sending {document} to {}", instance_ids.join(", ")))?;
    sent.command()
        .and_then(|c| c.command_id())
        .map(str::to_string)
        .ok_or_else(|| BackstopError::Aws {
            action: format!("sending {document}"),
            code: "NoCommandId".into(),
            message: "SendCommand answered without a command id".into(),
        })
}

/// How a command ended on one instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InvocationOutcome {
    pub instance_id: String,
    /// Run Command's status: `Success`, `Failed`, `TimedOut`, `Cancelled`, ...
    pub status: String,
    pub response_code: i32,
    /// The end of standard output, then of standard error.
    pub output: String,
}

impl InvocationOutcome {
    pub fn succeeded(&self) -> bool {
        self.status == "Success"
    }
}

/// The command's invocation on `instance_id`: `None` while it is not finished (or not yet
/// visible, which the SSM API reference says to expect right after sending).
pub async fn finished(
    ssm: &aws_sdk_ssm::Client,
    command_id: &str,
    instance_id: &str,
) -> Result<Option<InvocationOutcome>, BackstopError> {
    let answer = match ssm
        .get_command_invocation()
        .command_id(command_id)
        .instance_id(instance_id)
        .send()
        .await
        .context(format!("reading command {command_id} on {instance_id}"))
    {
        Ok(answer) => answer,
        Err(BackstopError::NotFound { .. }) => return Ok(None),
        Err(other) => return Err(other),
    };
    let status = answer
        .status()
        .cloned()
        .unwrap_or(CommandInvocationStatus::Pending);
    if matches!(
        status,
        CommandInvocationStatus::Pending
            | CommandInvocationStatus::InProgress
            | CommandInvocationStatus::Delayed
            | CommandInvocationStatus::Cancelling
    ) {
        return Ok(None);
    }
    let stdout = answer.standard_output_content().unwrap_or_default();
    let stderr = answer.standard_error_content().unwrap_or_default();
    let mut output = tail(stdout, OUTPUT_CHARS);
    if !stderr.is_empty() {
        output = format!("{output}\n[stderr] {}", tail(stderr, OUTPUT_CHARS / 2));
    }
    let details = answer.status_details().unwrap_or_default();
    Ok(Some(InvocationOutcome {
        instance_id: instance_id.to_string(),
        status: if details.is_empty() || details == status.as_str() {
            status.as_str().to_string()
        } else {
            format!("{} ({details})", status.as_str())
        },
        response_code: answer.response_code(),
        output: output.trim().to_string(),
    }))
}

/// Stops a command that outlived Backstop's patience (best effort: it may have just ended).
pub async fn cancel(ssm: &aws_sdk_ssm::Client, command_id: &str) {
    if let Err(err) = ssm.cancel_command().command_id(command_id).send().await {
        tracing::warn!(command_id, error = %aws_sdk_ssm::error::DisplayErrorContext(err), "cancelling the command");
    }
}

/// The last `chars` characters of `text` (the end of a script's output says how it ended).
fn tail(text: &str, chars: usize) -> String {
    let count = text.chars().count();
    if count <= chars {
        return text.to_string();
    }
    let kept: String = text.chars().skip(count - chars).collect();
    format!("…{kept}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_end_of_a_long_output_is_kept() {
        let text = format!("{}done", "x".repeat(5_000));
        let kept = tail(&text, 10);
        assert_eq!(kept, "…xxxxxxdone");
        assert_eq!(tail("short", 10), "short");
    }
}
