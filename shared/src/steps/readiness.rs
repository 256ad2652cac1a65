//! Readiness: what would break a run, found before it creates anything (the `preflight`
//! step) and on a schedule (so DR that silently rots raises an alarm).
//!
//! One line per check: pass / warn / fail, the resource, what was found and the fix. A run
//! stops with `Backstop.NotReady` on any fail line. The calls made do not grow with the
//! number of protected resources: the vault is listed once, subnets, security groups, DB
//! subnet groups, AZs and instance type offerings are each described in one call, and each
//! distinct KMS key, golden AMI and DNS record is looked at once.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use aws_sdk_ec2::types::{Filter, LocationType};
use aws_smithy_types::DateTime;
use serde::{Deserialize, Serialize};

use crate::error::{classify_sdk_error, BackstopError};
use crate::model::run::Mode;
use crate::model::time::format_time;
use crate::plan::{InstancePlan, Plan};
use crate::steps::restore::{dr_copies, DrCopy};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Warn,
    Fail,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Warn => "warn",
            Status::Fail => "FAIL",
        }
    }
}

/// One line of the readiness report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckLine {
    /// What was checked: `vault`, `dr-copy`, `kms-key`, `subnet`, `security-group`,
    /// `db-subnet-group`, `availability-zone`, `volume-az`, `golden-ami`, `instance-type`,
    /// `dns-record`, `failover-alarm`, `elastic-ip`, `internet-route`, `account-limit`.
    pub check: String,
    pub status: Status,
    /// The plan's name for what the line is about (a resource, an instance, a record, an id).
    pub resource: String,
    pub detail: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

fn line(check: &str, status: Status, resource: impl Into<String>, detail: String) -> CheckLine {
    CheckLine {
        check: check.into(),
        status,
        resource: resource.into(),
        detail,
        fix: None,
    }
}

impl CheckLine {
    fn fix(mut self, fix: impl Into<String>) -> Self {
        self.fix = Some(fix.into());
        self
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Counts {
    pub pass: usize,
    pub warn: usize,
    pub fail: usize,
}

/// The readiness report of one plan, for one mode.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Readiness {
    pub plan: String,
    pub mode: Mode,
    pub region: String,
    pub checked_at: String,
    /// The run accepted warnings: a failover goes ahead with copies older than the RPO.
    pub accept_warnings: bool,
    pub lines: Vec<CheckLine>,
    /// Age in seconds of each protected resource's freshest DR copy (the data lost if the run
    /// recovered to it now); resources without a copy are absent.
    #[serde(default)]
    pub copy_ages: BTreeMap<String, i64>,
}

/// Lines listed in an error message or a step's output, at most; the stored report has all.
pub const MAX_LISTED_LINES: usize = 20;

impl Readiness {
    pub fn counts(&self) -> Counts {
        let mut counts = Counts::default();
        for line in &self.lines {
            match line.status {
                Status::Pass => counts.pass += 1,
                Status::Warn => counts.warn += 1,
                Status::Fail => counts.fail += 1,
            }
        }
        counts
    }

    pub fn ready(&self) -> bool {
        self.lines.iter().all(|line| line.status != Status::Fail)
    }

    /// The lines that need attention, fails first, at most `max`.
    pub fn problems(&self, max: usize) -> Vec<CheckLine> {
        let mut problems: Vec<&CheckLine> = self
            .lines
            .iter()
            .filter(|l| l.status != Status::Pass)
            .collect();
        problems.sort_by_key(|l| std::cmp::Reverse(l.status));
        problems.into_iter().take(max).cloned().collect()
    }

    /// A short text table: every line when there are few, else the problems only.
    pub fn table(&self, max_lines: usize) -> String {
        let counts = self.counts();
        let shown: Vec<CheckLine> = if self.lines.len() <= max_lines {
            self.lines.clone()
        } else {
            self.problems(max_lines)
        };
        let width = |f: fn(&CheckLine) -> usize, title: usize| {
            shown.iter().map(f).max().unwrap_or(0).max(title)
        };
        let check_w = width(|l| l.check.chars().count(), 5);
        let resource_w = width(|l| l.resource.chars().count().min(40), 8);
        let mut out = format!(
            "readiness of plan {} for a {} in {}: {} pass, {} warn, {} fail\n{:<6} {:<check_w$} {:<resource_w$} detail / fix\n",
            self.plan, self.mode, self.region, counts.pass, counts.warn, counts.fail,
            "status", "check", "resource"
        );
        for l in &shown {
            let resource: String = l.resource.chars().take(40).collect();
            out.push_str(&format!(
                "{:<6} {:<check_w$} {:<resource_w$} {}",
                l.status.as_str(),
                l.check,
                resource,
                l.detail
            ));
            if let Some(fix) = &l.fix {
                out.push_str(&format!(" -> fix: {fix}"));
            }
            out.push('\n');
        }
        let hidden = self.lines.len() - shown.len();
        if hidden > 0 {
            out.push_str(&format!(
                "({hidden} more lines, all pass or beyond the first {max_lines} problems: see the stored report)\n"
            ));
        }
        out
    }

    /// `Backstop.NotReady` with the problems, when a fail line stops the run.
    pub fn refuse_if_not_ready(&self) -> Result<(), BackstopError> {
        if self.ready() {
            return Ok(());
        }
        let counts = self.counts();
        let mut message = format!(
            "the DR region is not ready for this {} of plan {} ({} failing check{}); nothing was created. Fix these and start the run again{}:\n",
            self.mode,
            self.plan,
            counts.fail,
            if counts.fail == 1 { "" } else { "s" },
            if self.mode == Mode::Failover {
                " (copies older than the RPO objective are accepted with \"acceptWarnings\": true)"
            } else {
                ""
            }
        );
        for l in self.problems(MAX_LISTED_LINES) {
            message.push_str(&format!(
                "- {} {} {}: {}{}\n",
                l.status.as_str(),
                l.check,
                l.resource,
                l.detail,
                l.fix.map(|f| format!(" (fix: {f})")).unwrap_or_default()
            ));
        }
        let more = counts.fail + counts.warn;
        if more > MAX_LISTED_LINES {
            message.push_str(&format!("... and {} more\n", more - MAX_LISTED_LINES));
        }
        Err(BackstopError::NotReady(message))
    }
}

/// What a readiness check reads in the DR region.
pub struct ReadinessClients<'a> {
    pub backup: &'a aws_sdk_backup::Client,
    pub ec2: &'a aws_sdk_ec2::Client,
    pub rds: &'a aws_sdk_rds::Client,
    pub route53: &'a aws_sdk_route53::Client,
    pub ssm: &'a aws_sdk_ssm::Client,
    pub kms: &'a aws_sdk_kms::Client,
    pub cloudwatch: &'a aws_sdk_cloudwatch::Client,
    pub cloudformation: &'a aws_sdk_cloudformation::Client,
    /// Reads the network template (`network.template`).
    pub s3: &'a aws_sdk_s3::Client,
}

/// What the check is for.
#[derive(Debug, Clone)]
pub struct ReadinessRequest {
    pub mode: Mode,
    /// The run goes ahead with warnings an operator accepted (stale copies in a failover).
    pub accept_warnings: bool,
    /// Copies are judged at this time (the run's point in time; now on a schedule).
    pub point_in_time: DateTime,
    /// The run resumes an earlier one, which already judged its copies' age.
    pub resumed: bool,
    /// The invocation's deadline: a slow Route 53 check gives up well before it.
    pub invocation_deadline: Option<std::time::SystemTime>,
}

/// Checks `plan` against the DR region. AWS errors that retrying can fix (throttling, 5xx)
/// end the check with that error (the state machine retries); others become fail lines.
pub async fn check_readiness(
    clients: &ReadinessClients<'_>,
    plan: &Plan,
    request: &ReadinessRequest,
) -> Result<Readiness, BackstopError> {
    let mut lines = Vec::new();
    // settings that come from the network stack are checked where their values are known
    let plan = &check_network_stack(clients, plan, request.mode, &mut lines).await?;
    let drill = plan.drill.as_ref().filter(|_| request.mode == Mode::Drill);
    let instances: Vec<InstancePlan> = plan.instances.iter().map(|i| i.for_run(drill)).collect();

    let copies = check_vault_and_copies(clients.backup, plan, request, &mut lines).await?;
    check_keys(clients.kms, plan, &copies, &mut lines).await?;
    let subnet_zones = check_network(clients, plan, &instances, request.mode, &mut lines).await?;
    check_volume_zones(plan, &instances, &subnet_zones, &mut lines);
    check_golden_amis(clients, plan, &instances, &mut lines).await?;
    check_instance_types(clients.ec2, plan, &instances, &subnet_zones, &mut lines).await?;
    let route53_limit = request
        .invocation_deadline
        .and_then(|deadline| deadline.duration_since(std::time::SystemTime::now()).ok())
        .map_or(ROUTE53_CHECK_LIMIT, |left| {
            ROUTE53_CHECK_LIMIT.min(left / 4)
        });
    check_dns(
        clients.route53,
        plan,
        request.mode,
        route53_limit,
        &mut lines,
    )
    .await?;
    check_failover_alarms(clients, plan, &mut lines).await?;
    check_instance_limit(clients.ec2, plan, &mut lines).await?;

    let copy_ages = plan
        .resources
        .iter()
        .filter_map(|r| {
            let copy = copies.get(r.arn.as_ref()?)?;
            let age = request.point_in_time.secs() - copy.data_time.secs();
            Some((r.name.clone(), age.max(0)))
        })
        .collect();
    Ok(Readiness {
        plan: plan.name.clone(),
        mode: request.mode,
        region: plan.dr_region.clone(),
        checked_at: format_time(DateTime::from(std::time::SystemTime::now())),
        accept_warnings: request.accept_warnings,
        lines,
        copy_ages,
    })
}

/// The plan's network stack: its template can be read and declares every output and
/// parameter the plan uses; a failover's existing stack is usable. Returns the plan to check
/// further: references filled from the existing stack a failover reuses as it is, left out
/// where the values exist only once the run builds the stack.
async fn check_network_stack(
    clients: &ReadinessClients<'_>,
    plan: &Plan,
    mode: Mode,
    lines: &mut Vec<CheckLine>,
) -> Result<Plan, BackstopError> {
    use crate::aws::cloudformation::{describe, TemplateAnatomy};
    use crate::plan::stack_output::Unknown;
    let Some(network) = &plan.network else {
        return Ok(plan.clone());
    };
    const CHECK: &str = "network-stack";
    let name = &network.stack_name;
    let existing = match describe(clients.cloudformation, name).await {
        Ok(stack) => stack,
        Err(err) => {
            lines.push(unchecked(CHECK, name, err)?);
            return Ok(without_references(plan));
        }
    };
    let status = existing
        .as_ref()
        .and_then(|s| s.stack_status())
        .map(|s| s.as_str().to_string());
    // the template the run will deploy (or the existing stack's own)
    let body = match (&network.template, &existing) {
        (Some(uri), _) => {
            let (bucket, key) = crate::plan::parse_s3_uri(uri).unwrap_or_default();
            match crate::aws::store::read_object(clients.s3, bucket, key).await {
                Ok(Some(bytes)) => Some(String::from_utf8_lossy(&bytes).into_owned()),
                Ok(None) => {
                    lines.push(
                        line(
                            CHECK,
                            Status::Fail,
                            name,
                            format!("the template {uri} does not exist"),
                        )
                        .fix("upload the network template there (a bucket in the DR region)"),
                    );
                    None
                }
                Err(err) => {
                    lines.push(unchecked(CHECK, uri, err)?);
                    None
                }
            }
        }
        (None, Some(_)) => {
            let template = clients
                .cloudformation
                .get_template()
                .stack_name(name)
                .send()
                .await;
            match template {
                Ok(out) => out.template_body,
                Err(err) => {
                    let err =
                        classify_sdk_error(format!("reading the template of stack {name}"), err);
                    lines.push(unchecked(CHECK, name, err)?);
                    None
                }
            }
        }
        (None, None) => {
            lines.push(
                line(
                    CHECK,
                    Status::Fail,
                    name,
                    format!("stack {name} does not exist and the plan gives no network.template to create it from"),
                )
                .fix("upload the network template to S3 in the DR region and set network.template to s3://bucket/key"),
            );
            None
        }
    };
    if let Some(body) = &body {
        let anatomy = TemplateAnatomy::parse(body);
        let referenced = plan.referenced_outputs();
        let missing: Vec<&String> = referenced
            .iter()
            .filter(|o| !anatomy.outputs.contains(*o))
            .collect();
        let unknown: Vec<&String> = network
            .parameters
            .keys()
            .filter(|p| !anatomy.parameters.contains(*p))
            .collect();
        for output in &missing {
            lines.push(
                line(
                    CHECK,
                    Status::Fail,
                    name,
                    format!("the template has no output {output}, which the plan references"),
                )
                .fix(format!(
                    "add {output} to the template's Outputs, or reference one it has: {}",
                    join(&anatomy.outputs)
                )),
            );
        }
        for parameter in &unknown {
            lines.push(
                line(
                    CHECK,
                    Status::Fail,
                    name,
                    format!("network.parameters.{parameter} is not a parameter of the template"),
                )
                .fix(format!("use one of: {}", join(&anatomy.parameters))),
            );
        }
        if missing.is_empty() && unknown.is_empty() {
            lines.push(line(
                CHECK,
                Status::Pass,
                name,
                format!(
                    "the template declares the {} output{} the plan references",
                    referenced.len(),
                    if referenced.len() == 1 { "" } else { "s" }
                ),
            ));
        }
    }
    let usable = status
        .as_deref()
        .is_some_and(crate::aws::cloudformation::is_usable);
    match (mode, status.as_deref()) {
        (Mode::Failover, Some(status)) if !usable && !status.ends_with("_IN_PROGRESS") => lines.push(
            line(CHECK, Status::Fail, name, format!("the existing stack is {status}: a failover would not use or delete it"))
                .fix(format!("look at its events (aws cloudformation describe-stack-events --stack-name {name}), then fix or delete it")),
        ),
        (Mode::Failover, Some(_)) => lines.push(line(
            CHECK,
            Status::Pass,
            name,
            format!(
                "exists; a failover {}",
                if network.template.is_some() { "updates it to the plan's template" } else { "reuses it" }
            ),
        )),
        (Mode::Failover, None) => lines.push(line(CHECK, Status::Pass, name, "does not exist yet; a failover creates it".into())),
        (Mode::Drill, _) => lines.push(line(
            CHECK,
            Status::Pass,
            name,
            "a drill creates its own copy of it, and its teardown deletes the copy".into(),
        )),
    }
    // a failover that reuses the stack as it is: its outputs are the values the run will use
    if let (Mode::Failover, true, None, Some(stack)) = (mode, usable, &network.template, &existing)
    {
        let outputs = crate::aws::cloudformation::outputs_of(stack);
        return plan.with_stack_outputs(name, &outputs, Unknown::Drop);
    }
    Ok(without_references(plan))
}

/// The plan with its stack-output references left out (their values are not known yet).
fn without_references(plan: &Plan) -> Plan {
    plan.with_stack_outputs(
        "",
        &BTreeMap::new(),
        crate::plan::stack_output::Unknown::Drop,
    )
    .unwrap_or_else(|_| plan.clone())
}

fn join(names: &BTreeSet<String>) -> String {
    if names.is_empty() {
        return "(none)".into();
    }
    names.iter().cloned().collect::<Vec<_>>().join(", ")
}

/// An AWS error on a check: retryable ones end the check (retried), the rest are a fail line.
fn unchecked(check: &str, resource: &str, err: BackstopError) -> Result<CheckLine, BackstopError> {
    if err.is_transient() {
        return Err(err);
    }
    Ok(line(
        check,
        Status::Fail,
        resource,
        format!("could not be checked: {err}"),
    )
    .fix("let the functions' role read it (see the template's policies), or correct the plan"))
}

fn age(seconds: i64) -> String {
    match seconds {
        s if s < 3600 => format!("{} min", s / 60),
        s if s < 48 * 3600 => format!("{:.1} h", s as f64 / 3600.0),
        s => format!("{:.1} days", s as f64 / 86400.0),
    }
}

/// The DR vault exists; every protected resource has a COMPLETED copy in it, no older than
/// the RPO objective.
async fn check_vault_and_copies(
    backup: &aws_sdk_backup::Client,
    plan: &Plan,
    request: &ReadinessRequest,
    lines: &mut Vec<CheckLine>,
) -> Result<HashMap<String, DrCopy>, BackstopError> {
    let vault = &plan.backup_vault;
    let region = &plan.dr_region;
    match backup
        .describe_backup_vault()
        .backup_vault_name(vault)
        .send()
        .await
    {
        Ok(_) => lines.push(line(
            "vault",
            Status::Pass,
            vault.as_str(),
            format!("backup vault {vault} exists in {region}"),
        )),
        Err(err) => {
            let err = classify_sdk_error(format!("describing backup vault {vault}"), err);
            let failed = match err {
                BackstopError::NotFound { .. } => line(
                    "vault",
                    Status::Fail,
                    vault.as_str(),
                    format!("backup vault {vault} does not exist in {region}: no resource can be restored"),
                )
                .fix(format!(
                    "create it (aws backup create-backup-vault --backup-vault-name {vault} --region {region}) and a copy rule into it in the primary region's backup plan, or correct backupVault"
                )),
                other => unchecked("vault", vault, other)?,
            };
            lines.push(failed);
            return Ok(HashMap::new());
        }
    }
    let copies = dr_copies(backup, vault, region, request.point_in_time).await?;
    let objective = plan.objectives.rpo_minutes.map(|m| m.saturating_mul(60));
    for resource in &plan.resources {
        let Some(arn) = &resource.arn else { continue };
        let Some(copy) = copies.get(arn) else {
            let status = if resource.optional {
                Status::Warn
            } else {
                Status::Fail
            };
            lines.push(
                line(
                    "dr-copy",
                    status,
                    resource.name.as_str(),
                    format!(
                        "{arn} has no COMPLETED copy in vault {vault} ({region}){}",
                        if resource.optional {
                            "; optional, a run skips it"
                        } else {
                            ""
                        }
                    ),
                )
                .fix(format!(
                    "add a copy rule to {vault} in {region} to the backup plan that protects it, or copy its latest recovery point now (aws backup start-copy-job); or mark it optional"
                )),
            );
            continue;
        };
        let age_seconds = request
            .point_in_time
            .secs()
            .saturating_sub(copy.data_time.secs())
            .max(0);
        let found = format!(
            "copy {} holds data from {} ({} old)",
            crate::kinds::id_of(&copy.arn),
            format_time(copy.data_time),
            age(age_seconds)
        );
        match objective {
            Some(limit) if age_seconds > limit => {
                // a drill learns from a stale copy; a failover would lose more data than the
                // objective allows, so it needs an operator to accept that
                let status =
                    if request.mode == Mode::Drill || request.accept_warnings || request.resumed {
                        Status::Warn
                    } else {
                        Status::Fail
                    };
                lines.push(
                    line(
                        "dr-copy",
                        status,
                        resource.name.as_str(),
                        format!(
                            "{found}: older than the RPO objective of {}{}",
                            age(limit),
                            if status == Status::Warn && request.mode == Mode::Failover {
                                " (accepted)"
                            } else {
                                ""
                            }
                        ),
                    )
                    .fix(
                        "check the backup plan's schedule and its copy rule to the DR vault; to fail over with this copy anyway, start the run with \"acceptWarnings\": true",
                    ),
                );
            }
            _ => lines.push(line("dr-copy", Status::Pass, resource.name.as_str(), found)),
        }
    }
    Ok(copies)
}

/// The region a KMS key ARN names (`arn:aws:kms:<region>:...`); none for ids and aliases.
fn key_region(key: &str) -> Option<&str> {
    let parts: Vec<&str> = key.splitn(6, ':').collect();
    (parts.len() == 6 && parts[0] == "arn" && parts[2] == "kms").then(|| parts[3])
}

/// Every KMS key a restore needs (the copies' keys, the plan's `kmsKeyId`s) is an enabled key
/// of the DR region.
async fn check_keys(
    kms: &aws_sdk_kms::Client,
    plan: &Plan,
    copies: &HashMap<String, DrCopy>,
    lines: &mut Vec<CheckLine>,
) -> Result<(), BackstopError> {
    // key -> (who needs it, whether it encrypts a copy rather than being a plan setting)
    let mut keys: BTreeMap<String, (Vec<String>, bool)> = BTreeMap::new();
    for resource in &plan.resources {
        let copy_key = resource
            .arn
            .as_ref()
            .and_then(|arn| copies.get(arn))
            .and_then(|copy| copy.encryption_key_arn.clone());
        if let Some(key) = copy_key {
            let entry = keys.entry(key).or_default();
            entry.0.push(resource.name.clone());
            entry.1 = true;
        }
        let planned = [
            resource.ebs.as_ref().and_then(|e| e.kms_key_id.clone()),
            resource.efs.as_ref().and_then(|e| e.kms_key_id.clone()),
        ];
        for key in planned.into_iter().flatten() {
            keys.entry(key).or_default().0.push(resource.name.clone());
        }
    }
    let region = &plan.dr_region;
    for (key, (users, encrypts_copy)) in keys {
        let who = users.join(", ");
        let fix = if encrypts_copy {
            format!("the DR vault's copies need an enabled key in {region}: cancel its deletion or enable it (aws kms cancel-key-deletion / enable-key), or copy the backups again into a vault whose key is usable")
        } else {
            format!("use a KMS key of {region} (a key created there, or a multi-Region replica) in kmsKeyId")
        };
        let what = if encrypts_copy {
            "the key of their DR copies"
        } else {
            "their planned kmsKeyId"
        };
        if let Some(other) = key_region(&key).filter(|r| r != region) {
            lines.push(
                line(
                    "kms-key",
                    Status::Fail,
                    who,
                    format!("{what}, {key}, is a key of {other}: not usable in {region}"),
                )
                .fix(fix),
            );
            continue;
        }
        let described = kms.describe_key().key_id(&key).send().await;
        let found = match described {
            Ok(found) => found,
            Err(err) => {
                let err = classify_sdk_error(format!("describing KMS key {key}"), err);
                lines.push(match err {
                    BackstopError::NotFound { .. } => line(
                        "kms-key",
                        Status::Fail,
                        who,
                        format!("{what}, {key}, does not exist in {region}"),
                    )
                    .fix(fix),
                    other => unchecked("kms-key", &who, other)?,
                });
                continue;
            }
        };
        let state = found
            .key_metadata()
            .and_then(|m| m.key_state())
            .map(|s| s.as_str().to_string())
            .unwrap_or_else(|| "unknown".into());
        if state == "Enabled" {
            lines.push(line(
                "kms-key",
                Status::Pass,
                who,
                format!("{what}, {key}, is enabled in {region}"),
            ));
        } else {
            lines.push(
                line(
                    "kms-key",
                    Status::Fail,
                    who,
                    format!("{what}, {key}, is {state}: a restore cannot decrypt with it"),
                )
                .fix(fix),
            );
        }
    }
    Ok(())
}

/// Ids the plan names in the DR region, with who names them (in plan order).
#[derive(Default)]
struct Named(BTreeMap<String, Vec<String>>);

impl Named {
    fn add(&mut self, id: &str, who: String) {
        let users = self.0.entry(id.to_string()).or_default();
        if !users.contains(&who) {
            users.push(who);
        }
    }
    fn ids(&self) -> Vec<String> {
        self.0.keys().cloned().collect()
    }

    /// A pass line for each id `found` describes, a fail line with `fix` for the others; each
    /// says who in the plan names it.
    fn report(
        &self,
        check: &str,
        found: impl Fn(&str) -> Option<String>,
        missing: &str,
        fix: impl Fn(&str) -> String,
        lines: &mut Vec<CheckLine>,
    ) {
        for (id, users) in &self.0 {
            let users = users.join(", ");
            lines.push(match found(id) {
                Some(how) => line(
                    check,
                    Status::Pass,
                    id.as_str(),
                    format!("{how} (used by {users})"),
                ),
                None => line(
                    check,
                    Status::Fail,
                    id.as_str(),
                    format!("{missing} (named by {users})"),
                )
                .fix(fix(id)),
            });
        }
    }
}

/// Subnets, security groups, DB subnet groups and AZs the run uses exist in the DR region.
/// Returns each existing subnet's AZ.
async fn check_network(
    clients: &ReadinessClients<'_>,
    plan: &Plan,
    instances: &[InstancePlan],
    mode: Mode,
    lines: &mut Vec<CheckLine>,
) -> Result<HashMap<String, String>, BackstopError> {
    let region = &plan.dr_region;
    let drill = plan.drill.as_ref().filter(|_| mode == Mode::Drill);
    let (mut subnets, mut groups, mut db_groups, mut zones) = (
        Named::default(),
        Named::default(),
        Named::default(),
        Named::default(),
    );
    for instance in instances {
        for id in &instance.subnet_ids {
            subnets.add(id, format!("instances[{}].subnetIds", instance.name));
        }
        for id in &instance.security_group_ids {
            groups.add(id, format!("instances[{}].securityGroupIds", instance.name));
        }
    }
    for resource in &plan.resources {
        let at = |field: &str| format!("resources[{}].{field}", resource.name);
        if let Some(rds) = &resource.rds {
            let group = drill
                .and_then(|d| d.db_subnet_group_name.as_ref())
                .or(rds.db_subnet_group_name.as_ref());
            if let Some(group) = group {
                db_groups.add(group, at("rds.dbSubnetGroupName"));
            }
            let sgs = match drill {
                Some(d) if !d.rds_security_group_ids.is_empty() => &d.rds_security_group_ids,
                _ => &rds.vpc_security_group_ids,
            };
            for id in sgs {
                groups.add(id, at("rds.vpcSecurityGroupIds"));
            }
        }
        if let Some(ec2) = &resource.ec2 {
            if let Some(id) = &ec2.subnet_id {
                subnets.add(id, at("ec2.subnetId"));
            }
            for id in &ec2.security_group_ids {
                groups.add(id, at("ec2.securityGroupIds"));
            }
        }
        if let Some(zone) = resource
            .ebs
            .as_ref()
            .and_then(|e| e.availability_zone.as_ref())
        {
            zones.add(zone, at("ebs.availabilityZone"));
        }
    }

    let mut subnet_zones = HashMap::new();
    if !subnets.0.is_empty() {
        let found = clients
            .ec2
            .describe_subnets()
            .filters(
                Filter::builder()
                    .name("subnet-id")
                    .set_values(Some(subnets.ids()))
                    .build(),
            )
            .send()
            .await;
        match found {
            Ok(found) => {
                for subnet in found.subnets() {
                    if let (Some(id), Some(zone)) = (subnet.subnet_id(), subnet.availability_zone())
                    {
                        subnet_zones.insert(id.to_string(), zone.to_string());
                    }
                }
                subnets.report(
                    "subnet",
                    |id| subnet_zones.get(id).map(|zone| format!("exists in {zone}")),
                    &format!("does not exist in {region}"),
                    |_| "create it again (or the DR network stack), or name an existing DR subnet there".into(),
                    lines,
                );
            }
            Err(err) => lines.push(unchecked(
                "subnet",
                "subnets",
                classify_sdk_error("describing the DR subnets", err),
            )?),
        }
    }
    if !groups.0.is_empty() {
        let found = clients
            .ec2
            .describe_security_groups()
            .filters(
                Filter::builder()
                    .name("group-id")
                    .set_values(Some(groups.ids()))
                    .build(),
            )
            .send()
            .await;
        match found {
            Ok(found) => {
                let existing: BTreeSet<&str> = found
                    .security_groups()
                    .iter()
                    .filter_map(|g| g.group_id())
                    .collect();
                groups.report(
                    "security-group",
                    |id| existing.contains(id).then(|| "exists".to_string()),
                    &format!("does not exist in {region}"),
                    |_| {
                        "create it in the DR VPC, or name an existing DR security group there"
                            .into()
                    },
                    lines,
                );
            }
            Err(err) => lines.push(unchecked(
                "security-group",
                "security groups",
                classify_sdk_error("describing the DR security groups", err),
            )?),
        }
    }
    if !db_groups.0.is_empty() {
        let mut existing = BTreeSet::new();
        let mut pages = clients
            .rds
            .describe_db_subnet_groups()
            .into_paginator()
            .send();
        let mut failed = None;
        while let Some(page) = pages.next().await {
            match page {
                Ok(page) => existing.extend(
                    page.db_subnet_groups()
                        .iter()
                        .filter_map(|g| g.db_subnet_group_name().map(str::to_string)),
                ),
                Err(err) => {
                    failed = Some(classify_sdk_error("listing the DR DB subnet groups", err));
                    break;
                }
            }
        }
        match failed {
            Some(err) => lines.push(unchecked("db-subnet-group", "DB subnet groups", err)?),
            None => {
                db_groups.report(
                    "db-subnet-group",
                    |name| existing.contains(name).then(|| "exists".to_string()),
                    &format!("does not exist in {region}: the database cannot be restored into the DR VPC"),
                    |name| format!("create it: aws rds create-db-subnet-group --db-subnet-group-name {name} --db-subnet-group-description DR --subnet-ids <two DR subnets in different AZs> --region {region}"),
                    lines,
                );
            }
        }
    }
    if !zones.0.is_empty() {
        match clients.ec2.describe_availability_zones().send().await {
            Ok(found) => {
                let available: BTreeSet<&str> = found
                    .availability_zones()
                    .iter()
                    .filter(|z| z.state().map(|s| s.as_str()) == Some("available"))
                    .filter_map(|z| z.zone_name())
                    .collect();
                zones.report(
                    "availability-zone",
                    |zone| available.contains(zone).then(|| "available".to_string()),
                    &format!("is not an available AZ of {region}"),
                    |_| format!("use an AZ of {region} (aws ec2 describe-availability-zones --region {region})"),
                    lines,
                );
            }
            Err(err) => lines.push(unchecked(
                "availability-zone",
                "AZs",
                classify_sdk_error("describing the DR availability zones", err),
            )?),
        }
    }
    Ok(subnet_zones)
}

/// A volume restored into one AZ attaches only to an instance in that AZ: the instance must
/// have a subnet there.
fn check_volume_zones(
    plan: &Plan,
    instances: &[InstancePlan],
    subnet_zones: &HashMap<String, String>,
    lines: &mut Vec<CheckLine>,
) {
    for resource in &plan.resources {
        let Some(ebs) = &resource.ebs else { continue };
        let (Some(zone), Some(attach)) = (&ebs.availability_zone, &ebs.attach_to) else {
            continue;
        };
        let Some(instance) = instances.iter().find(|i| i.name == attach.instance) else {
            continue; // validation names an unknown instance
        };
        let instance_zones: BTreeSet<&String> = instance
            .subnet_ids
            .iter()
            .filter_map(|s| subnet_zones.get(s))
            .collect();
        if instance_zones.is_empty() {
            continue; // its subnets are reported missing above
        }
        if instance_zones.contains(zone) {
            lines.push(line(
                "volume-az",
                Status::Pass,
                resource.name.as_str(),
                format!("restored into {zone}, where {} has a subnet", instance.name),
            ));
        } else {
            let theirs: Vec<&str> = instance_zones.iter().map(|z| z.as_str()).collect();
            lines.push(
                line(
                    "volume-az",
                    Status::Fail,
                    resource.name.as_str(),
                    format!(
                        "is restored into {zone}, but {} launches into subnets in {}: the volume could not be attached",
                        instance.name,
                        theirs.join(", ")
                    ),
                )
                .fix(format!(
                    "set ebs.availabilityZone to {}, or give {} a subnet in {zone}",
                    theirs[0], instance.name
                )),
            );
        }
    }
}

/// The golden AMI of every instance exists in the DR region and is `available`.
async fn check_golden_amis(
    clients: &ReadinessClients<'_>,
    plan: &Plan,
    instances: &[InstancePlan],
    lines: &mut Vec<CheckLine>,
) -> Result<(), BackstopError> {
    // instances sharing an AMI reference share one lookup
    let mut seen: HashMap<String, CheckLine> = HashMap::new();
    for instance in instances {
        let key = serde_json::to_string(&instance.ami).unwrap_or_default();
        if let Some(earlier) = seen.get(&key) {
            let mut same = earlier.clone();
            same.resource = instance.name.clone();
            lines.push(same);
            continue;
        }
        let checked = match crate::steps::compute::launch::golden_ami(
            clients.ec2,
            clients.ssm,
            instance,
            plan,
        )
        .await
        {
            Ok(image) => {
                let id = image.image_id().unwrap_or_default();
                let state = image
                    .state()
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_else(|| "unknown".into());
                if state == "available" {
                    line(
                        "golden-ami",
                        Status::Pass,
                        instance.name.as_str(),
                        format!("{id} is available in {}", plan.dr_region),
                    )
                } else {
                    line(
                        "golden-ami",
                        Status::Fail,
                        instance.name.as_str(),
                        format!("{id} is {state}: an instance cannot be launched from it"),
                    )
                    .fix("wait for the copy to finish, or copy the golden AMI again")
                }
            }
            Err(BackstopError::NotFound { message, .. }) => {
                let (detail, _) = message.split_once(": copy").unwrap_or((&message, ""));
                line(
                    "golden-ami",
                    Status::Fail,
                    instance.name.as_str(),
                    format!(
                        "{detail}: the golden AMI was not copied to {}",
                        plan.dr_region
                    ),
                )
                .fix(crate::steps::compute::launch::ami_copy_hint(instance, plan))
            }
            Err(other) => unchecked("golden-ami", &instance.name, other)?,
        };
        seen.insert(key, checked.clone());
        lines.push(checked);
    }
    Ok(())
}

/// At least one of each instance's types is offered in an AZ of its subnets.
async fn check_instance_types(
    ec2: &aws_sdk_ec2::Client,
    plan: &Plan,
    instances: &[InstancePlan],
    subnet_zones: &HashMap<String, String>,
    lines: &mut Vec<CheckLine>,
) -> Result<(), BackstopError> {
    let wanted: Vec<(&InstancePlan, BTreeSet<String>)> = instances
        .iter()
        .map(|i| {
            let zones = i
                .subnet_ids
                .iter()
                .filter_map(|s| subnet_zones.get(s).cloned())
                .collect();
            (i, zones)
        })
        .filter(|(i, zones): &(&InstancePlan, BTreeSet<String>)| {
            !zones.is_empty() && !i.instance_types.is_empty()
        })
        .collect();
    if wanted.is_empty() {
        return Ok(());
    }
    let types: BTreeSet<String> = wanted
        .iter()
        .flat_map(|(i, _)| i.instance_types.iter().cloned())
        .collect();
    let zones: BTreeSet<String> = wanted.iter().flat_map(|(_, z)| z.iter().cloned()).collect();
    let mut offered: BTreeSet<(String, String)> = BTreeSet::new();
    let mut pages = ec2
        .describe_instance_type_offerings()
        .location_type(LocationType::AvailabilityZone)
        .filters(
            Filter::builder()
                .name("instance-type")
                .set_values(Some(types.into_iter().collect()))
                .build(),
        )
        .filters(
            Filter::builder()
                .name("location")
                .set_values(Some(zones.into_iter().collect()))
                .build(),
        )
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        match page {
            Ok(page) => {
                for offering in page.instance_type_offerings() {
                    if let (Some(t), Some(z)) = (offering.instance_type(), offering.location()) {
                        offered.insert((t.as_str().to_string(), z.to_string()));
                    }
                }
            }
            Err(err) => {
                let err = classify_sdk_error("describing instance type offerings", err);
                lines.push(unchecked("instance-type", "instance types", err)?);
                return Ok(());
            }
        }
    }
    for (instance, zones) in wanted {
        let usable: Vec<String> = instance
            .instance_types
            .iter()
            .flat_map(|t| zones.iter().map(move |z| (t.clone(), z.clone())))
            .filter(|pair| offered.contains(pair))
            .map(|(t, z)| format!("{t} in {z}"))
            .collect();
        let zone_list = zones.iter().cloned().collect::<Vec<_>>().join(", ");
        lines.push(if usable.is_empty() {
            line(
                "instance-type",
                Status::Fail,
                instance.name.as_str(),
                format!(
                    "none of {} is offered in {zone_list}",
                    instance.instance_types.join(", ")
                ),
            )
            .fix(format!("add a type offered there (aws ec2 describe-instance-type-offerings --location-type availability-zone --filters Name=location,Values={zone_list} --region {})", plan.dr_region))
        } else {
            line(
                "instance-type",
                Status::Pass,
                instance.name.as_str(),
                format!("offered: {}", usable.join(", ")),
            )
        });
    }
    Ok(())
}

/// How long the hosted-zone check may take: Route 53's control plane is in us-east-1, and a
/// failover out of a failed us-east-1 must not wait on it (it warns and goes on; a drill's
/// preflight fails as transient and the state machine retries it).
const ROUTE53_CHECK_LIMIT: std::time::Duration = std::time::Duration::from_secs(8);

/// Hosted zones and records: the zone exists and holds the record; in a drill the drill
/// record is a safe name. In a failover a Route 53 error is a warning, not a failure: the
/// control plane is in us-east-1 and the failover must not depend on it to start.
async fn check_dns(
    route53: &aws_sdk_route53::Client,
    plan: &Plan,
    mode: Mode,
    limit: std::time::Duration,
    lines: &mut Vec<CheckLine>,
) -> Result<(), BackstopError> {
    if plan.dns.is_empty() {
        return Ok(());
    }
    let checked = tokio::time::timeout(
        limit,
        crate::steps::switch_dns::record_problems(route53, plan, mode == Mode::Drill),
    )
    .await
    .unwrap_or_else(|_| {
        Err(BackstopError::Transient {
            action: "reading the hosted zones".into(),
            message: format!(
                "Route 53 did not answer within {:.1} s",
                limit.as_secs_f64()
            ),
        })
    });
    let problems = match checked {
        Ok(problems) => problems,
        Err(err) if mode == Mode::Failover => {
            lines.push(
                line(
                    "dns-record",
                    Status::Warn,
                    "dns",
                    format!("could not be checked: {err}"),
                )
                .fix(if plan.dns.iter().all(|r| r.method == crate::plan::DnsMethod::FailoverAlarm) {
                    "none needed to fail over: every record switches by its failover alarm, without Route 53's control plane"
                } else {
                    "check the hosted zones by hand; the switch will be retried (a failoverAlarm record would not need Route 53: README, DNS without us-east-1)"
                }),
            );
            return Ok(());
        }
        Err(err) => {
            lines.push(unchecked("dns-record", "dns", err)?);
            return Ok(());
        }
    };
    for (i, record) in plan.dns.iter().enumerate() {
        let prefix = format!("dns[{i}].");
        let own: Vec<_> = problems
            .iter()
            .filter(|p| p.field.starts_with(&prefix))
            .collect();
        let name = if mode == Mode::Drill {
            &record.drill_record_name
        } else {
            &record.record_name
        };
        if own.is_empty() {
            lines.push(line(
                "dns-record",
                Status::Pass,
                name.as_str(),
                format!(
                    "in hosted zone {}{}",
                    record.hosted_zone_id,
                    if mode == Mode::Drill {
                        " (a plain drill name, not production's)"
                    } else {
                        ""
                    }
                ),
            ));
        }
        for problem in own {
            lines.push(
                line(
                    "dns-record",
                    Status::Fail,
                    name.as_str(),
                    format!("{}: {}", problem.field, problem.message),
                )
                .fix(problem.fix.clone()),
            );
        }
    }
    Ok(())
}

/// Each failoverAlarm record's alarm and Elastic IP, in the DR region (one call for all
/// alarms, one for all addresses): the alarm exists, watches one metric against a static
/// threshold and keeps ALARM without new data; the Elastic IP exists (attached elsewhere is
/// a warning: the failover moves it).
async fn check_failover_alarms(
    clients: &ReadinessClients<'_>,
    plan: &Plan,
    lines: &mut Vec<CheckLine>,
) -> Result<(), BackstopError> {
    let records: Vec<_> = plan
        .dns
        .iter()
        .filter(|r| r.method == crate::plan::DnsMethod::FailoverAlarm)
        .collect();
    if records.is_empty() {
        return Ok(());
    }
    let names: Vec<String> = records
        .iter()
        .filter_map(|r| r.alarm_name.clone())
        .collect();
    let alarms = match crate::aws::failover_alarm::describe_alarms(clients.cloudwatch, &names).await
    {
        Ok(alarms) => alarms,
        Err(err) => {
            lines.push(unchecked("failover-alarm", &names.join(", "), err)?);
            return Ok(());
        }
    };
    for record in &records {
        let name = record.alarm_name.clone().unwrap_or_default();
        let found = alarms.get(&name).ok_or_else(|| {
            (
                format!("alarm {name} does not exist in {}", plan.dr_region),
                "create it in the DR region before a failover needs it (README: DNS without us-east-1)".to_string(),
            )
        });
        lines.push(match found.and_then(crate::aws::failover_alarm::trigger) {
            Ok(trigger) => line(
                "failover-alarm",
                Status::Pass,
                record.record_name.as_str(),
                format!(
                    "alarm {name} on {}/{}, state {}; the failover puts {}",
                    trigger.namespace,
                    trigger.metric_name,
                    if trigger.in_alarm {
                        "ALARM (the DR side already answers)"
                    } else {
                        "not ALARM"
                    },
                    trigger.breaching_value
                ),
            ),
            Err((why, fix)) => line(
                "failover-alarm",
                Status::Fail,
                record.record_name.as_str(),
                why,
            )
            .fix(fix),
        });
    }
    let allocations: Vec<String> = records
        .iter()
        .filter_map(|r| r.elastic_ip_allocation_id.clone())
        .collect();
    let addresses = match describe_addresses(clients.ec2, &allocations).await {
        Ok(Some(found)) => found,
        // one unknown id fails the whole call: read them one by one to name it
        Ok(None) => {
            let mut found = Vec::new();
            for id in &allocations {
                match describe_addresses(clients.ec2, std::slice::from_ref(id)).await {
                    Ok(one) => found.extend(one.unwrap_or_default()),
                    Err(err) => {
                        lines.push(unchecked("elastic-ip", id, err)?);
                        return Ok(());
                    }
                }
            }
            found
        }
        Err(err) => {
            lines.push(unchecked("elastic-ip", &allocations.join(", "), err)?);
            return Ok(());
        }
    };
    for record in &records {
        let id = record.elastic_ip_allocation_id.clone().unwrap_or_default();
        let address = addresses
            .iter()
            .find(|a| a.allocation_id() == Some(id.as_str()));
        lines.push(match address {
            None => line(
                "elastic-ip",
                Status::Fail,
                id.as_str(),
                format!("{} holds it, but it does not exist in {}", record.record_name, plan.dr_region),
            )
            .fix("allocate an Elastic IP in the DR region, point the SECONDARY record at it, and put its allocation id in the plan"),
            // an unattached address may come back with an empty instance id
            Some(address) => match address.instance_id().filter(|id| !id.is_empty()) {
                Some(other) => line(
                    "elastic-ip",
                    Status::Warn,
                    id.as_str(),
                    format!(
                        "{} is attached to {other}: a failover moves it to the launched instance",
                        address.public_ip().unwrap_or_default()
                    ),
                ),
                None => line(
                    "elastic-ip",
                    Status::Pass,
                    id.as_str(),
                    format!(
                        "{} for {}, free until a failover attaches it",
                        address.public_ip().unwrap_or_default(),
                        record.record_name
                    ),
                ),
            },
        });
    }
    check_internet_routes(clients.ec2, plan, &records, lines).await
}

const INTERNET_ROUTE: &str = "internet-route";

/// An Elastic IP answers through an internet gateway: EC2 refuses to associate one with an
/// instance whose VPC has none attached (`Gateway.NotAttached`), and a subnet whose route
/// table sends 0.0.0.0/0 elsewhere leaves the address unreachable (a warning: an inspection
/// appliance may route it). Three calls, whatever the number of records.
async fn check_internet_routes(
    ec2: &aws_sdk_ec2::Client,
    plan: &Plan,
    records: &[&crate::plan::DnsRecordPlan],
    lines: &mut Vec<CheckLine>,
) -> Result<(), BackstopError> {
    // the subnets a failover may launch each record's instance into
    let mut subnet_records: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for record in records {
        let target = record.target.instance.as_deref();
        for instance in plan
            .instances
            .iter()
            .filter(|i| Some(i.name.as_str()) == target)
        {
            for subnet in &instance.subnet_ids {
                subnet_records
                    .entry(subnet.clone())
                    .or_default()
                    .insert(record.record_name.clone());
            }
        }
    }
    if subnet_records.is_empty() {
        return Ok(());
    }
    let ids: Vec<String> = subnet_records.keys().cloned().collect();
    let subnets = match ec2
        .describe_subnets()
        .filters(id_filter("subnet-id", &ids))
        .send()
        .await
    {
        Ok(found) => found.subnets().to_vec(),
        Err(err) => {
            let err = classify_sdk_error("describing the failover instances' subnets", err);
            lines.push(unchecked(INTERNET_ROUTE, &ids.join(", "), err)?);
            return Ok(());
        }
    };
    let vpcs: BTreeSet<String> = subnets
        .iter()
        .filter_map(|s| s.vpc_id().map(str::to_string))
        .collect();
    if vpcs.is_empty() {
        // the subnet check names the missing subnets
        return Ok(());
    }
    let vpc_ids: Vec<String> = vpcs.into_iter().collect();
    let gateways = ec2
        .describe_internet_gateways()
        .filters(id_filter("attachment.vpc-id", &vpc_ids))
        .send()
        .await;
    let tables = ec2
        .describe_route_tables()
        .filters(id_filter("vpc-id", &vpc_ids))
        .send()
        .await;
    let (gateways, tables) = match (gateways, tables) {
        (Ok(g), Ok(t)) => (g.internet_gateways().to_vec(), t.route_tables().to_vec()),
        (Err(err), _) => {
            let err = classify_sdk_error("describing the DR internet gateways", err);
            lines.push(unchecked(INTERNET_ROUTE, &vpc_ids.join(", "), err)?);
            return Ok(());
        }
        (_, Err(err)) => {
            let err = classify_sdk_error("describing the DR route tables", err);
            lines.push(unchecked(INTERNET_ROUTE, &vpc_ids.join(", "), err)?);
            return Ok(());
        }
    };
    for subnet in &subnets {
        let (Some(id), Some(vpc)) = (subnet.subnet_id(), subnet.vpc_id()) else {
            continue;
        };
        let records = subnet_records.get(id).map(join).unwrap_or_default();
        lines.push(internet_route_line(id, vpc, &records, &gateways, &tables));
    }
    Ok(())
}

fn id_filter(name: &str, values: &[String]) -> Filter {
    Filter::builder()
        .name(name)
        .set_values(Some(values.to_vec()))
        .build()
}

/// The line for one subnet: its VPC's internet gateway, and the default route of the route
/// table it uses (its own association, else the VPC's main table).
fn internet_route_line(
    subnet: &str,
    vpc: &str,
    records: &str,
    gateways: &[aws_sdk_ec2::types::InternetGateway],
    tables: &[aws_sdk_ec2::types::RouteTable],
) -> CheckLine {
    let gateway = gateways.iter().find(|g| {
        g.attachments().iter().any(|a| {
            a.vpc_id() == Some(vpc)
                && a.state()
                    .is_some_and(|s| s.as_str() == "available" || s.as_str() == "attached")
        })
    });
    let Some(gateway) = gateway.and_then(|g| g.internet_gateway_id()) else {
        return line(
            INTERNET_ROUTE,
            Status::Fail,
            subnet,
            format!(
                "{vpc} has no internet gateway attached: EC2 refuses to associate the Elastic IP of {records} with an instance there (Gateway.NotAttached)"
            ),
        )
        .fix(format!(
            "aws ec2 create-internet-gateway, then aws ec2 attach-internet-gateway --vpc-id {vpc} --internet-gateway-id <igw-id>, and route 0.0.0.0/0 to it from {subnet}'s route table"
        ));
    };
    let in_vpc = || tables.iter().filter(|t| t.vpc_id() == Some(vpc));
    let own = in_vpc().find(|t| {
        t.associations()
            .iter()
            .any(|a| a.subnet_id() == Some(subnet))
    });
    let main = || in_vpc().find(|t| t.associations().iter().any(|a| a.main() == Some(true)));
    let Some(table) = own.or_else(main) else {
        return line(
            INTERNET_ROUTE,
            Status::Warn,
            subnet,
            format!("no route table of {vpc} applies to it: the Elastic IP of {records} may not be reachable"),
        )
        .fix(format!("associate a route table with 0.0.0.0/0 -> {gateway} with {subnet}"));
    };
    let table_id = table.route_table_id().unwrap_or_default();
    let default_route = table.routes().iter().find(|r| {
        r.destination_cidr_block() == Some("0.0.0.0/0")
            && r.state().is_none_or(|s| s.as_str() != "blackhole")
    });
    // whatever carries it: an internet gateway, a NAT gateway, an appliance, a peering
    let target = default_route.and_then(|r| {
        r.gateway_id()
            .or(r.nat_gateway_id())
            .or(r.transit_gateway_id())
            .or(r.network_interface_id())
            .or(r.instance_id())
            .or(r.vpc_peering_connection_id())
    });
    match target {
        Some(target) if target == gateway => line(
            INTERNET_ROUTE,
            Status::Pass,
            subnet,
            format!("{table_id} routes 0.0.0.0/0 to {gateway}: the Elastic IP of {records} is reachable"),
        ),
        other => line(
            INTERNET_ROUTE,
            Status::Warn,
            subnet,
            format!(
                "{table_id} routes 0.0.0.0/0 to {}, not to {gateway}: the Elastic IP of {records} would not answer from the internet",
                other.unwrap_or("nothing")
            ),
        )
        .fix(format!(
            "aws ec2 create-route --route-table-id {table_id} --destination-cidr-block 0.0.0.0/0 --gateway-id {gateway} (or launch the instance into a public subnet)"
        )),
    }
}

/// The Elastic IPs with these allocation ids; `None` when EC2 says one of them does not exist
/// (other errors, e.g. access denied or throttling, are errors: not "missing").
async fn describe_addresses(
    ec2: &aws_sdk_ec2::Client,
    allocations: &[String],
) -> Result<Option<Vec<aws_sdk_ec2::types::Address>>, BackstopError> {
    match ec2
        .describe_addresses()
        .set_allocation_ids(Some(allocations.to_vec()))
        .send()
        .await
    {
        Ok(found) => Ok(Some(found.addresses().to_vec())),
        Err(err) => match classify_sdk_error("reading the Elastic IPs", err) {
            BackstopError::NotFound { .. } => Ok(None),
            BackstopError::Aws { code, .. } if code.starts_with("InvalidAllocationID") => Ok(None),
            other => Err(other),
        },
    }
}

/// The instances the run launches fit under the account's On-Demand instance limit
/// (EC2's `max-instances` account attribute) beside those already running in the region.
async fn check_instance_limit(
    ec2: &aws_sdk_ec2::Client,
    plan: &Plan,
    lines: &mut Vec<CheckLine>,
) -> Result<(), BackstopError> {
    let launching = plan.instances.len()
        + plan
            .resources
            .iter()
            .filter(|r| r.kind == crate::plan::ResourceKind::Ec2)
            .count();
    if launching == 0 {
        return Ok(());
    }
    let attributes = match ec2
        .describe_account_attributes()
        .attribute_names(aws_sdk_ec2::types::AccountAttributeName::from(
            "max-instances",
        ))
        .send()
        .await
    {
        Ok(found) => found,
        Err(err) => {
            let err = classify_sdk_error("reading the account's instance limit", err);
            if err.is_transient() {
                return Err(err);
            }
            // an account limit the API does not tell is not a reason to stop
            lines.push(line(
                "account-limit",
                Status::Warn,
                "instances",
                format!("the On-Demand instance limit could not be read: {err}"),
            ));
            return Ok(());
        }
    };
    let limit = attributes
        .account_attributes()
        .iter()
        .find(|a| a.attribute_name() == Some("max-instances"))
        .and_then(|a| a.attribute_values().first())
        .and_then(|v| v.attribute_value())
        .and_then(|v| v.parse::<usize>().ok());
    let Some(limit) = limit else { return Ok(()) };
    let mut running = 0;
    let mut pages = ec2
        .describe_instances()
        .filters(
            Filter::builder()
                .name("instance-state-name")
                .values("pending")
                .values("running")
                .build(),
        )
        .max_results(1000)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|err| classify_sdk_error("counting running instances", err))?;
        running += page
            .reservations()
            .iter()
            .map(|r| r.instances().len())
            .sum::<usize>();
    }
    let detail = format!(
        "{running} running + {launching} to launch, limit {limit} On-Demand instances in {}",
        plan.dr_region
    );
    lines.push(if running + launching > limit {
        line("account-limit", Status::Fail, "instances", detail).fix(
            "request a higher On-Demand limit (Service Quotas: Running On-Demand instances) before the disaster",
        )
    } else {
        line("account-limit", Status::Pass, "instances", detail)
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(lines: Vec<CheckLine>) -> Readiness {
        Readiness {
            plan: "shop".into(),
            mode: Mode::Failover,
            region: "us-west-2".into(),
            checked_at: "2026-12-02T10:00:00Z".into(),
            accept_warnings: false,
            lines,
            copy_ages: BTreeMap::new(),
        }
    }

    #[test]
    fn a_fail_line_refuses_the_run_naming_the_resource_and_the_fix() {
        let ready = report(vec![
            line("vault", Status::Pass, "backstop-dr", "exists".into()),
            line("dr-copy", Status::Warn, "media", "optional, no copy".into()),
        ]);
        assert!(ready.refuse_if_not_ready().is_ok());
        let mut broken = ready.clone();
        broken.lines.push(
            line(
                "subnet",
                Status::Fail,
                "subnet-0abc",
                "does not exist".into(),
            )
            .fix("create it again"),
        );
        let err = broken.refuse_if_not_ready().unwrap_err();
        assert_eq!(err.error_name(), "Backstop.NotReady");
        let text = err.to_string();
        assert!(
            text.contains("subnet-0abc") && text.contains("create it again"),
            "{text}"
        );
        // fails come before warnings in what the operator reads
        assert!(
            text.find("subnet-0abc").unwrap() < text.find("media").unwrap(),
            "{text}"
        );
        assert!(
            !text.contains("backstop-dr"),
            "pass lines are not problems: {text}"
        );
    }

    #[test]
    fn the_table_shows_every_line_when_few_and_only_the_problems_when_many() {
        let mut lines: Vec<CheckLine> = (0..30)
            .map(|i| line("dr-copy", Status::Pass, format!("vol-{i}"), "fresh".into()))
            .collect();
        lines.push(line("golden-ami", Status::Fail, "app", "not copied".into()).fix("copy it"));
        let table = report(lines).table(10);
        assert!(table.contains("30 pass, 0 warn, 1 fail"), "{table}");
        assert!(
            table.contains("FAIL") && table.contains("copy it"),
            "{table}"
        );
        assert!(!table.contains("vol-3 "), "{table}");
        assert!(table.contains("30 more lines"), "{table}");
        let small = report(vec![line("vault", Status::Pass, "v", "exists".into())]).table(10);
        assert!(small.contains("pass   vault"), "{small}");
    }

    #[test]
    fn a_key_arn_names_its_region_and_an_alias_or_id_does_not() {
        assert_eq!(
            key_region("arn:aws:kms:us-east-1:123456789012:key/abc"),
            Some("us-east-1")
        );
        assert_eq!(key_region("alias/backup"), None);
        assert_eq!(key_region("1234abcd-12ab-34cd-56ef-1234567890ab"), None);
    }
}

#[cfg(test)]
mod internet_route_tests {
    use super::*;
    use aws_sdk_ec2::types::{
        AttachmentStatus, InternetGateway, InternetGatewayAttachment, Route, RouteState,
        RouteTable, RouteTableAssociation,
    };

    fn gateway(vpc: &str) -> InternetGateway {
        InternetGateway::builder()
            .internet_gateway_id("igw-1")
            .attachments(
                InternetGatewayAttachment::builder()
                    .vpc_id(vpc)
                    .state(AttachmentStatus::from("available"))
                    .build(),
            )
            .build()
    }

    fn table(id: &str, subnet: Option<&str>, main: bool, default_to: Option<&str>) -> RouteTable {
        let mut association = RouteTableAssociation::builder().main(main);
        if let Some(subnet) = subnet {
            association = association.subnet_id(subnet);
        }
        let mut table = RouteTable::builder()
            .route_table_id(id)
            .vpc_id("vpc-1")
            .associations(association.build())
            .routes(
                Route::builder()
                    .destination_cidr_block("10.1.0.0/16")
                    .gateway_id("local")
                    .build(),
            );
        if let Some(target) = default_to {
            let route = Route::builder()
                .destination_cidr_block("0.0.0.0/0")
                .state(RouteState::Active);
            let route = if target.starts_with("nat-") {
                route.nat_gateway_id(target)
            } else {
                route.gateway_id(target)
            };
            table = table.routes(route.build());
        }
        table.build()
    }

    #[test]
    fn a_vpc_without_an_internet_gateway_fails_as_ec2_would_refuse_the_association() {
        let l = internet_route_line("subnet-a", "vpc-1", "app.example.com", &[], &[]);
        assert_eq!(l.status, Status::Fail);
        assert!(l.detail.contains("Gateway.NotAttached"), "{}", l.detail);
        assert!(l
            .fix
            .unwrap()
            .contains("attach-internet-gateway --vpc-id vpc-1"));
        // a gateway attached to another VPC does not count
        let l = internet_route_line("subnet-a", "vpc-1", "r", &[gateway("vpc-2")], &[]);
        assert_eq!(l.status, Status::Fail);
    }

    #[test]
    fn the_subnets_own_route_table_wins_over_the_main_one_and_needs_a_default_route_to_the_gateway()
    {
        let gateways = [gateway("vpc-1")];
        let main_public = table("rtb-main", None, true, Some("igw-1"));
        let own_private = table("rtb-own", Some("subnet-a"), false, None);
        let l = internet_route_line(
            "subnet-a",
            "vpc-1",
            "r",
            &gateways,
            &[main_public.clone(), own_private],
        );
        assert_eq!(l.status, Status::Warn, "{l:?}");
        assert!(
            l.detail.contains("rtb-own routes 0.0.0.0/0 to nothing"),
            "{}",
            l.detail
        );
        assert!(l
            .fix
            .unwrap()
            .contains("create-route --route-table-id rtb-own"));
        // no table of its own: the main table's route applies
        let l = internet_route_line("subnet-b", "vpc-1", "r", &gateways, &[main_public]);
        assert_eq!(l.status, Status::Pass, "{l:?}");
        // a default route through a NAT gateway does not carry an Elastic IP's traffic
        let nat = table("rtb-nat", Some("subnet-a"), false, Some("nat-1"));
        let l = internet_route_line("subnet-a", "vpc-1", "r", &gateways, &[nat]);
        assert_eq!(l.status, Status::Warn);
        assert!(l.detail.contains("to nat-1"), "{}", l.detail);
    }
}
