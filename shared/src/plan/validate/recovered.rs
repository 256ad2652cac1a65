//! Recovered, not just restored: the plan's validations (checks before DNS moves) and
//! post-launch actions. Each is a Lambda function or a Systems Manager command, named
//! uniquely, with a timeout the run can wait for and parameters whose references name what
//! the run recovers, in a wave that exists by then.

use std::collections::{BTreeMap, HashSet};

use super::Problems;
use crate::plan::references::{references_in, Reference};
use crate::plan::{ActionPlan, Plan, ResourceKind, SsmCommandPlan, ValidationPlan};

/// Checks run at once, and their messages travel in the run's state: a bound on both.
pub(super) const MAX_VALIDATIONS: usize = 20;
/// Post-launch actions run one after another: a bound on how long a run spends on them.
pub(super) const MAX_ACTIONS: usize = 20;
/// SendCommand takes at most 50 instance ids.
const MAX_COMMAND_INSTANCES: usize = 50;

/// What an entry runs: exactly one of a function and a command.
fn check_runs_one(
    at: &str,
    function: &str,
    ssm: Option<&SsmCommandPlan>,
    plan: &Plan,
    wave: u32,
    p: &mut Problems,
) {
    match (function.is_empty(), ssm) {
        (true, None) | (false, Some(_)) => p.add(
            at,
            "names neither or both of lambdaFunction and ssm",
            "give exactly one: \"lambdaFunction\": \"name or ARN\", or \"ssm\": {\"instances\": [...], \"parameters\": {\"commands\": [...]}}",
        ),
        (false, None) => check_function(&format!("{at}.lambdaFunction"), function, plan, p),
        (true, Some(ssm)) => check_command(&format!("{at}.ssm"), ssm, plan, wave, p),
    }
}

fn check_function(at: &str, function: &str, plan: &Plan, p: &mut Problems) {
    let valid_name = !function.is_empty()
        && function.len() <= 140
        && function
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | ':'));
    if !valid_name {
        p.add(
            at,
            format!("\"{function}\" is not a Lambda function name or ARN"),
            "name the function, e.g. \"shop-validate-orders\" or its ARN",
        );
    } else if function.starts_with("arn:") && function.split(':').nth(3) != Some(&plan.dr_region) {
        p.add(
            at,
            format!("{function} is not in the DR region {}", plan.dr_region),
            "deploy the function in the DR region: it works on what the run recovered there, and must answer when the primary region does not",
        );
    }
}

fn check_command(at: &str, ssm: &SsmCommandPlan, plan: &Plan, wave: u32, p: &mut Problems) {
    let document_ok = (3..=128).contains(&ssm.document.len())
        && ssm
            .document
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if !document_ok {
        p.add(
            format!("{at}.document"),
            format!(
                "\"{}\" is not a Systems Manager document name",
                ssm.document
            ),
            "name a Command document in the DR region, e.g. \"AWS-RunShellScript\" (the default)",
        );
    }
    if ssm.instances.is_empty() || ssm.instances.len() > MAX_COMMAND_INSTANCES {
        p.add(
            format!("{at}.instances"),
            format!("names {} instances", ssm.instances.len()),
            format!("name 1 to {MAX_COMMAND_INSTANCES} entries of instances the command runs on"),
        );
    }
    for (j, name) in ssm.instances.iter().enumerate() {
        let field = format!("{at}.instances[{j}]");
        match plan.instances.iter().find(|i| &i.name == name) {
            None => p.add(
                field,
                format!("\"{name}\" is not an entry of instances"),
                "name an instance the plan launches",
            ),
            Some(instance) if instance.wave() > wave => p.add(
                field,
                format!(
                    "{name} starts in wave {}, after this runs (wave {wave})",
                    instance.wave()
                ),
                "run it after the instance's wave (afterWave), or move the instance to an earlier wave",
            ),
            Some(instance) if instance.instance_profile.is_none() => p.add(
                field,
                format!("{name} has no instanceProfile: without one its SSM agent never registers, and the command could never be delivered"),
                "give the instance a profile whose role has AmazonSSMManagedInstanceCore (and an AMI with the SSM agent)",
            ),
            Some(_) => {}
        }
    }
    for (key, values) in &ssm.parameters {
        for (j, value) in values.iter().enumerate() {
            check_references(&format!("{at}.parameters.{key}[{j}]"), value, plan, wave, p);
        }
    }
}

/// Each `${...}` names something the run has once the entry runs (in `wave`).
fn check_references(at: &str, text: &str, plan: &Plan, wave: u32, p: &mut Problems) {
    let references = match references_in(text) {
        Ok(references) => references,
        Err(problem) => {
            p.add(
                at,
                problem,
                "write a reference as ${restored.<resource>.endpoint}, ${instances.<name>.privateIp}, ...; $${ for a literal ${",
            );
            return;
        }
    };
    for reference in references {
        match &reference {
            Reference::RestoredEndpoint(name) | Reference::RestoredArn(name) => {
                match plan.resources.iter().find(|r| &r.name == name) {
                    None => p.add(
                        at,
                        format!("{reference}: \"{name}\" is not an entry of resources"),
                        "name a resource the plan restores",
                    ),
                    Some(resource)
                        if matches!(reference, Reference::RestoredEndpoint(_))
                            && resource.kind != ResourceKind::Rds =>
                    {
                        p.add(
                            at,
                            format!("{reference}: a restored {} has no endpoint", resource.kind),
                            "use .endpoint for a database, .arn for the others",
                        )
                    }
                    Some(_) => {}
                }
            }
            Reference::InstancePrivateIp(name) | Reference::InstanceId(name) => {
                match plan.instances.iter().find(|i| &i.name == name) {
                    None => p.add(
                        at,
                        format!("{reference}: \"{name}\" is not an entry of instances"),
                        "name an instance the plan launches",
                    ),
                    Some(instance) if instance.wave() > wave => p.add(
                        at,
                        format!(
                            "{reference}: {name} starts in wave {}, after this runs (wave {wave})",
                            instance.wave()
                        ),
                        "reference instances of this wave or earlier ones",
                    ),
                    Some(_) => {}
                }
            }
            Reference::RunId | Reference::RunMode => {}
        }
    }
}

fn check_names<'a>(list: &str, names: impl Iterator<Item = &'a str>, what: &str, p: &mut Problems) {
    let mut seen = HashSet::new();
    for (i, name) in names.enumerate() {
        if name.trim().is_empty() || !seen.insert(name) {
            p.add(
                format!("{list}[{i}].name"),
                format!("\"{name}\" is empty or used twice"),
                format!("give every {what} a unique name (it names it in the report)"),
            );
        }
    }
}

fn check_timeout(at: String, seconds: u32, max: u32, default: u32, p: &mut Problems) {
    if !(1..=max).contains(&seconds) {
        p.add(
            at,
            format!("{seconds} is not between 1 and {max}"),
            format!("give it at most {max} s (the default is {default} s)"),
        );
    }
}

/// The plan's validations: run after the last wave, each within its timeout.
pub(super) fn check_validations(plan: &Plan, p: &mut Problems) {
    if plan.validations.len() > MAX_VALIDATIONS {
        p.add(
            "validations",
            format!(
                "has {} checks; at most {MAX_VALIDATIONS}",
                plan.validations.len()
            ),
            "combine checks into fewer functions (each may check several things)",
        );
    }
    check_names(
        "validations",
        plan.validations.iter().map(|v| v.name.as_str()),
        "validation",
        p,
    );
    let last_wave = *plan.waves().last().unwrap_or(&1);
    for (i, check) in plan.validations.iter().enumerate() {
        let at = format!("validations[{i}]");
        check_runs_one(
            &at,
            &check.lambda_function,
            check.ssm.as_ref(),
            plan,
            last_wave,
            p,
        );
        check_timeout(
            format!("{at}.timeoutSeconds"),
            check.timeout_seconds(),
            ValidationPlan::MAX_TIMEOUT_SECONDS,
            ValidationPlan::DEFAULT_TIMEOUT_SECONDS,
            p,
        );
    }
}

/// The plan's post-launch actions: each after a wave the plan has, on instances launched by
/// then, within a timeout the run can follow.
pub(super) fn check_post_launch(plan: &Plan, p: &mut Problems) {
    if plan.post_launch.len() > MAX_ACTIONS {
        p.add(
            "postLaunch",
            format!(
                "has {} actions; at most {MAX_ACTIONS}",
                plan.post_launch.len()
            ),
            "combine steps into fewer actions (a command may run a whole script)",
        );
    }
    check_names(
        "postLaunch",
        plan.post_launch.iter().map(|a| a.name.as_str()),
        "action",
        p,
    );
    let waves = plan.waves();
    for (i, action) in plan.post_launch.iter().enumerate() {
        let at = format!("postLaunch[{i}]");
        let wave = plan.action_wave(action);
        if !waves.contains(&wave) {
            p.add(
                format!("{at}.afterWave"),
                format!("the plan has no wave {wave} (its waves: {waves:?})"),
                "run it after one of the plan's waves",
            );
        }
        check_runs_one(
            &at,
            &action.lambda_function,
            action.ssm.as_ref(),
            plan,
            wave,
            p,
        );
        let max = if action.ssm.is_some() {
            ActionPlan::MAX_COMMAND_TIMEOUT_SECONDS
        } else {
            ActionPlan::MAX_FUNCTION_TIMEOUT_SECONDS
        };
        check_timeout(
            format!("{at}.timeoutSeconds"),
            action.timeout_seconds(),
            max,
            ActionPlan::DEFAULT_TIMEOUT_SECONDS,
            p,
        );
        if action.ssm.is_some() && !action.parameters.is_empty() {
            p.add(
                format!("{at}.parameters"),
                "parameters are for a function; a command's go in ssm.parameters",
                "move them into ssm.parameters (each a list of strings)",
            );
        }
        let parameters: &BTreeMap<String, String> = &action.parameters;
        for (key, value) in parameters {
            check_references(&format!("{at}.parameters.{key}"), value, plan, wave, p);
        }
    }
}
