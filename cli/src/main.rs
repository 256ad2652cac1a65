//! `backstop`: the command-line companion of the deployed stack.
//!
//! ```text
//! backstop plan init --vault <DR vault> [--vault-account <owner>] [--name <plan>] [--region <DR region>] [--output plan.json]
//! backstop plan check <plan.json> [--region <DR region>]
//! ```
//!
//! `init` lists the DR vault's recovery points (AWS credentials and region from the usual
//! environment) and writes a plan skeleton; `check` runs, offline, exactly the validation a run
//! runs on the plan (the same messages).

use std::process::ExitCode;

use backstop::plan::skeleton::{skeleton, CopiedResource};
use backstop::plan::{Plan, VaultRef};
use backstop::BackstopError;

const USAGE: &str = "usage:
  backstop plan init --vault <DR vault> [--vault-account <its owner, for another account's shared air-gapped vault>] [--name <plan name>] [--region <DR region>] [--output <file>]
  backstop plan check <plan file> [--region <DR region>]";

/// `--flag value` pairs and the positional arguments, in order.
struct Args {
    positional: Vec<String>,
    flags: Vec<(String, String)>,
}

impl Args {
    fn parse(raw: impl Iterator<Item = String>) -> Result<Args, String> {
        let mut args = Args {
            positional: Vec::new(),
            flags: Vec::new(),
        };
        let mut raw = raw.peekable();
        while let Some(arg) = raw.next() {
            if let Some(flag) = arg.strip_prefix("--") {
                let value = raw
                    .next()
                    .ok_or_else(|| format!("--{flag} needs a value"))?;
                args.flags.push((flag.to_string(), value));
            } else {
                args.positional.push(arg);
            }
        }
        Ok(args)
    }

    fn flag(&self, name: &str) -> Option<&str> {
        self.flags
            .iter()
            .find(|(flag, _)| flag == name)
            .map(|(_, value)| value.as_str())
    }

    fn only(&self, known: &[&str]) -> Result<(), String> {
        match self
            .flags
            .iter()
            .find(|(flag, _)| !known.contains(&flag.as_str()))
        {
            Some((flag, _)) => Err(format!("unknown option --{flag}")),
            None => Ok(()),
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match Args::parse(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(err) => return usage_error(&err),
    };
    let words: Vec<&str> = args.positional.iter().map(String::as_str).collect();
    match words.as_slice() {
        ["plan", "check", file] => check(file, &args),
        ["plan", "init"] => init(&args).await,
        _ => usage_error("unknown command"),
    }
}

fn usage_error(why: &str) -> ExitCode {
    eprintln!("{why}\n{USAGE}");
    ExitCode::from(2)
}

/// What a run's first step does with the plan: parse, validate, check its region.
fn check(file: &str, args: &Args) -> ExitCode {
    if let Err(err) = args.only(&["region"]) {
        return usage_error(&err);
    }
    let text = match std::fs::read_to_string(file) {
        Ok(text) => text,
        Err(err) => {
            eprintln!("cannot read {file}: {err}");
            return ExitCode::from(2);
        }
    };
    let checked = Plan::from_json(&text).and_then(|plan| {
        if let Some(region) = args.flag("region") {
            plan.require_region(region)?;
        }
        Ok(plan)
    });
    match checked {
        Ok(plan) => {
            println!(
                "plan {} is valid: {} resources, {} instances, {} DNS records (the DR region itself is checked by each run's preflight)",
                plan.name,
                plan.resources.len(),
                plan.instances.len(),
                plan.dns.len()
            );
            ExitCode::SUCCESS
        }
        Err(err) => {
            // the message a run fails with (its errorMessage)
            eprintln!("{}", err.operator_message());
            ExitCode::FAILURE
        }
    }
}

async fn init(args: &Args) -> ExitCode {
    if let Err(err) = args.only(&["vault", "vault-account", "name", "region", "output"]) {
        return usage_error(&err);
    }
    let Some(vault) = args.flag("vault") else {
        return usage_error("plan init needs --vault <the DR vault's name>");
    };
    let config = backstop::aws::load_config().await;
    let region = args
        .flag("region")
        .map(str::to_string)
        .or_else(|| config.region().map(|r| r.to_string()));
    let Some(region) = region else {
        return usage_error("no region: give --region <DR region> or set AWS_REGION");
    };
    let backup = aws_sdk_backup::Client::from_conf(
        aws_sdk_backup::config::Builder::from(&config)
            .region(aws_sdk_backup::config::Region::new(region.clone()))
            .build(),
    );
    let vault = VaultRef {
        name: vault,
        account_id: args.flag("vault-account"),
    };
    let (copied, vault_account) = match vault_contents(&backup, vault).await {
        Ok(found) => found,
        Err(err) => {
            eprintln!("{}", err.operator_message());
            return ExitCode::FAILURE;
        }
    };
    let name = args.flag("name").unwrap_or("my-workload");
    // a shared vault's account is its owner's, not this one's: no account is exempt
    let own_account = vault_account.filter(|_| vault.account_id.is_none());
    let (plan, skipped) = skeleton(name, &region, vault, own_account.as_deref(), &copied);
    let text = serde_json::to_string_pretty(&plan).unwrap_or_default() + "\n";
    match args.flag("output") {
        Some(path) => {
            if let Err(err) = std::fs::write(path, &text) {
                eprintln!("cannot write {path}: {err}");
                return ExitCode::FAILURE;
            }
        }
        None => print!("{text}"),
    }
    let resources = plan["resources"].as_array().map_or(0, Vec::len);
    eprintln!(
        "{resources} protected resources from vault {vault} in {region}; fill in every TODO, add the instances and DNS records, then: backstop plan check <file> --region {region}"
    );
    for (kind, count) in skipped.0 {
        eprintln!("skipped {count} recovery points of {kind}: Backstop does not restore that kind");
    }
    ExitCode::SUCCESS
}

/// Every source resource with a COMPLETED recovery point in the vault, and the account that
/// holds the vault (from its ARN in the listing).
async fn vault_contents(
    backup: &aws_sdk_backup::Client,
    vault: VaultRef<'_>,
) -> Result<(Vec<CopiedResource>, Option<String>), BackstopError> {
    let mut vault_account = None;
    let mut pages = backup
        .list_recovery_points_by_backup_vault()
        .backup_vault_name(vault.name)
        .set_backup_vault_account_id(vault.account_param())
        .into_paginator()
        .send();
    let mut found = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|err| {
            backstop::error::classify_sdk_error(
                format!("listing the recovery points of vault {vault}"),
                err,
            )
        })?;
        for point in page.recovery_points() {
            if let Some(account) = point.backup_vault_arn().and_then(|a| a.split(':').nth(4)) {
                vault_account = Some(account.to_string());
            }
            let completed = point.status().map(|s| s.as_str()) == Some("COMPLETED");
            if let (true, Some(arn), Some(kind)) =
                (completed, point.resource_arn(), point.resource_type())
            {
                found.push(CopiedResource {
                    resource_arn: arn.to_string(),
                    resource_type: kind.to_string(),
                });
            }
        }
    }
    Ok((found, vault_account))
}
