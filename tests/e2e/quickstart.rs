//! The README's quickstart, run as written: its shell commands, in order, with the AWS CLI
//! against the emulator, so the README cannot drift from the code.
//!
//! What a test cannot do as written is said and done the nearest honest way: `sam build && sam
//! deploy` deploys `template.yaml` into the emulator with `samconfig.toml`'s parameters (the
//! seeded world has its DR vault already, so with the README's `CreateBackupVault=false`);
//! `cargo install --path cli` is checked to install a `backstop` binary, and `backstop` runs the
//! same crate's debug build; the user's edit of
//! the plan skeleton fills each `TODO` with the seeded DR network's ids; `<placeholders>` are
//! filled from the stack's outputs and the commands' own answers, and one the test cannot fill
//! fails it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use backstop_tests::{handler_binary, plan_for, protected_workload, repo_root};
use serde_json::{json, Value};

/// The shell blocks of the README section whose title starts with `title`, each a list of
/// commands (continuations joined, blank lines and comments left out, except comments that
/// start with one of `kept`: they mark where the commands run).
pub(crate) fn readme_blocks(title: &str, kept: &[&str]) -> Vec<Vec<String>> {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).expect("README.md");
    let section = readme
        .split("\n## ")
        .find(|s| s.starts_with(title))
        .unwrap_or_else(|| panic!("the README has a section {title:?}"));
    let mut blocks = Vec::new();
    let mut current: Option<Vec<String>> = None;
    let mut pending = String::new();
    for line in section.lines() {
        match (&mut current, line.trim_start()) {
            (None, l) if l.starts_with("```sh") => current = Some(Vec::new()),
            (Some(_), "```") => blocks.push(current.take().unwrap()),
            (Some(commands), l) => {
                let marker = kept.iter().any(|k| l.starts_with(k));
                if pending.is_empty() && (l.is_empty() || (l.starts_with('#') && !marker)) {
                    continue;
                }
                match l.strip_suffix('\\') {
                    Some(head) => pending.push_str(head),
                    None => {
                        pending.push_str(l);
                        commands.push(std::mem::take(&mut pending));
                    }
                }
            }
            _ => {}
        }
    }
    blocks
}

/// samconfig.toml's `parameter_overrides` (`Key="value" ...`).
fn samconfig_parameters() -> BTreeMap<String, String> {
    let config = std::fs::read_to_string(repo_root().join("samconfig.toml")).expect("samconfig");
    let line = config
        .lines()
        .find_map(|l| l.trim().strip_prefix("parameter_overrides = "))
        .expect("samconfig.toml sets parameter_overrides");
    let unquoted: String = serde_json::from_str(line).expect("a TOML basic string");
    unquoted
        .split_whitespace()
        .map(|pair| {
            let (key, value) = pair.split_once('=').expect("Key=value");
            (key.to_string(), value.trim_matches('"').to_string())
        })
        .collect()
}

pub(crate) struct Shell {
    pub(crate) dir: PathBuf,
    pub(crate) endpoint: String,
    pub(crate) placeholders: BTreeMap<String, String>,
    /// The access key pair the commands run with (an account's credentials).
    pub(crate) credentials: (String, String),
}

impl Shell {
    /// The README's command is the one the stack's output `name` gives (placeholders filled).
    fn assert_is_output(&self, command: &str, name: &str) {
        let words = |text: &str| text.split_whitespace().collect::<Vec<_>>().join(" ");
        let mut filled = command.to_string();
        for (placeholder, value) in &self.placeholders {
            filled = filled.replace(&format!("<{placeholder}>"), value);
        }
        assert_eq!(
            words(&filled),
            words(&self.placeholders[name]),
            "the README's command is not the stack's {name} output"
        );
    }

    /// `text` with the placeholders the shell knows filled in.
    pub(crate) fn fill(&self, text: &str) -> String {
        let mut filled = text.to_string();
        for (name, value) in &self.placeholders {
            filled = filled.replace(&format!("<{name}>"), value);
        }
        filled
    }

    /// Runs one quickstart command in bash, placeholders filled; returns stdout.
    pub(crate) fn run(&self, command: &str) -> String {
        // `backstop` is the companion `cargo install --path cli` installed: the same crate's
        // debug build here
        let filled = self.fill(&match command.strip_prefix("backstop ") {
            Some(rest) => format!("{} {rest}", handler_binary("backstop").display()),
            None => command.to_string(),
        });
        if let Some(start) = filled.find('<') {
            let rest = &filled[start..];
            let end = rest.find('>').map(|e| e + 1).unwrap_or(rest.len());
            panic!(
                "the quickstart command {command:?} has a placeholder {} the stack's outputs do \
                 not name",
                &rest[..end]
            );
        }
        let venv = repo_root().join(".venv/bin");
        let path = format!(
            "{}:{}",
            venv.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let out = Command::new("bash")
            .args(["-euo", "pipefail", "-c", &filled])
            .current_dir(&self.dir)
            .env("PATH", path)
            .env("AWS_ENDPOINT_URL", &self.endpoint)
            .env("AWS_ACCESS_KEY_ID", &self.credentials.0)
            .env("AWS_SECRET_ACCESS_KEY", &self.credentials.1)
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_REGION")
            .env_remove("AWS_DEFAULT_REGION")
            .output()
            .expect("run bash");
        assert!(
            out.status.success(),
            "the quickstart command failed: {filled}\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

/// The user's edit of the skeleton: each TODO replaced with the seeded DR network's value
/// for that resource, and the instances and DNS records added.
pub(crate) fn fill_in(skeleton: &mut Value, seeded_plan: &Value) {
    let seeded: BTreeMap<&str, &Value> = seeded_plan["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["arn"].as_str().unwrap(), r))
        .collect();
    for resource in skeleton["resources"].as_array_mut().unwrap() {
        let arn = resource["arn"].as_str().unwrap().to_string();
        let kind = resource["kind"].as_str().unwrap().to_string();
        let planned = seeded
            .get(arn.as_str())
            .unwrap_or_else(|| panic!("{arn} is not a seeded resource"));
        resource["name"] = planned["name"].clone();
        if resource.get(&kind).is_some() || planned.get(&kind).is_some() {
            resource[&kind] = planned[&kind].clone();
        }
    }
    skeleton["instances"] = seeded_plan["instances"].clone();
    skeleton["dns"] = seeded_plan["dns"].clone();
    assert!(
        !skeleton.to_string().contains("TODO"),
        "every placeholder filled: {skeleton:#}"
    );
}

pub(crate) fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("the command wrote its file"))
        .expect("JSON")
}

#[tokio::test(flavor = "multi_thread")]
async fn the_readme_quickstart_deploys_plans_and_drills_as_written() {
    let (emulator, seed) = protected_workload("quickstart").await;
    let blocks = readme_blocks("Quickstart", &[]);
    let commands: Vec<&String> = blocks.iter().flatten().collect();
    assert!(
        commands.len() >= 9,
        "the quickstart's commands: {commands:#?}"
    );
    let dir = std::env::temp_dir().join(format!("backstop-quickstart-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut shell = Shell {
        dir: dir.clone(),
        endpoint: emulator.endpoint.clone(),
        placeholders: BTreeMap::new(),
        credentials: ("testing".into(), "testing".into()),
    };

    let mut deployed = false;
    let mut plan_checked = false;
    let mut execution = None;
    let mut report = None;
    let mut page_read = false;
    let mut installed = false;
    for command in commands {
        let words: Vec<&str> = command.split_whitespace().collect();
        match words.as_slice() {
            ["sam", "build", "&&", "sam", "deploy", ..] => {
                // step 1: samconfig.toml's parameters; the DR vault exists already (seeded)
                let mut parameters = samconfig_parameters();
                assert_eq!(parameters["BackupVaultName"], "backstop-dr");
                parameters.insert("CreateBackupVault".into(), "false".into());
                let stack = emulator.deploy_stack_with(json!(parameters));
                let outputs = stack.deployed["outputs"].as_object().unwrap().clone();
                for (name, value) in outputs {
                    shell
                        .placeholders
                        .insert(name, value.as_str().unwrap().to_string());
                }
                deployed = true;
            }
            ["aws", "cloudformation", "describe-stacks", ..] => {
                let shown: Value = serde_json::from_str(&shell.run(command)).unwrap();
                let keys: Vec<&str> = shown
                    .as_array()
                    .expect("the outputs")
                    .iter()
                    .map(|o| o["OutputKey"].as_str().unwrap())
                    .collect();
                // the README names these outputs as what the user uses next
                for named in [
                    "PutPlanCommand",
                    "StartDrillCommand",
                    "ReportLocation",
                    "NoticeTopicArn",
                    "PreflightFunctionName",
                    "TeardownFunctionName",
                ] {
                    assert!(keys.contains(&named), "{named} not in {keys:?}");
                }
            }
            ["cargo", "install", "--path", "cli"] => {
                // what it installs: the crate's binary named `backstop`
                let manifest = std::fs::read_to_string(repo_root().join("cli/Cargo.toml")).unwrap();
                assert!(
                    manifest.contains("[[bin]]\nname = \"backstop\""),
                    "cli/Cargo.toml installs no `backstop` binary"
                );
                installed = true;
            }
            ["backstop", "plan", "init", ..] => {
                assert!(
                    installed,
                    "the quickstart installs `backstop` before using it"
                );
                shell.run(command);
                let path = dir.join(output_file(&words));
                let mut skeleton = read_json(&path);
                assert_eq!(skeleton["name"], "shop");
                assert_eq!(
                    skeleton["backupVault"], shell.placeholders["BackupVaultName"],
                    "the skeleton names the stack's vault"
                );
                fill_in(&mut skeleton, &plan_for(&seed));
                std::fs::write(&path, serde_json::to_string_pretty(&skeleton).unwrap()).unwrap();
            }
            ["backstop", "plan", "check", ..] => {
                let printed = shell.run(command);
                assert!(printed.contains("plan shop is valid"), "{printed}");
                plan_checked = true;
            }
            ["aws", "ssm", "put-parameter", ..] => {
                shell.assert_is_output(command, "PutPlanCommand");
                shell.run(command);
            }
            ["echo", ..] => {
                shell.run(command);
            }
            ["aws", "lambda", "invoke", ..] => {
                shell.run(command);
                let readiness = read_json(&dir.join(words.last().unwrap()));
                assert_eq!(readiness["ready"], true, "{readiness:#}");
            }
            ["aws", "stepfunctions", "start-execution", ..] => {
                shell.assert_is_output(command, "StartDrillCommand");
                let started: Value = serde_json::from_str(&shell.run(command)).unwrap();
                let arn = started["executionArn"].as_str().unwrap().to_string();
                let run_id = arn.rsplit(':').next().unwrap().to_string();
                assert!(run_id.starts_with("drill-"), "{arn}");
                shell
                    .placeholders
                    .insert("executionArn".into(), arn.clone());
                shell.placeholders.insert("run id".into(), run_id);
                execution = Some(arn);
            }
            ["aws", "stepfunctions", "describe-execution", ..] => {
                // what an operator does: ask again until it has ended
                let started = Instant::now();
                let status = loop {
                    let status: String = serde_json::from_str(&shell.run(command)).unwrap();
                    if status != "RUNNING" || started.elapsed() > Duration::from_secs(180) {
                        break status;
                    }
                    tokio::time::sleep(Duration::from_millis(500)).await;
                };
                assert_eq!(status, "SUCCEEDED");
            }
            ["aws", "s3", "cp", .., "-"] => {
                let text = shell.run(command);
                report = Some(text);
            }
            ["aws", "s3", "cp", .., page] => {
                shell.run(command);
                let html = std::fs::read_to_string(dir.join(page)).expect("the report page");
                assert!(html.starts_with("<!DOCTYPE html>"), "{html}");
                assert!(html.contains("id=\"verdict\">PASS<"), "{html}");
                page_read = true;
            }
            _ => panic!("a quickstart command this test does not know how to check: {command}"),
        }
    }
    assert!(
        deployed && plan_checked,
        "the quickstart deploys and checks a plan"
    );
    assert!(execution.is_some(), "the quickstart starts a drill");
    let report = report.expect("the quickstart reads the report");
    assert!(page_read, "the quickstart fetches the report page");
    let run_id = &shell.placeholders["run id"];
    assert!(
        report.starts_with(&format!("Backstop drill {run_id} of plan shop: PASS")),
        "{report}"
    );
}

/// The file a `plan init` command writes (`--output <file>`).
pub(crate) fn output_file(words: &[&str]) -> String {
    let at = words
        .iter()
        .position(|w| *w == "--output")
        .expect("plan init names its --output");
    words[at + 1].to_string()
}
