//! Readiness: what would break a run, found before it creates anything (the `preflight`
//! step) and on a schedule (so DR that silently rots raises an alarm).
//!
//! One line per check: pass / warn / fail, the resource, what was found and the fix. A run
//! stops with `Backstop.NotReady` on any fail line. The calls made do not grow with the
//! number of protected resources: the vault is listed once, subnets, security groups, DB
//! subnet groups, AZs and instance type offerings are each described in one call, and each
//! distinct KMS key, golden AMI and DNS record is looked at once.
//!
//! Each check collects what AWS answers (one call per kind of thing), then judges it in a
//! pure function (`judge_*`, unit-tested beside it) that turns the facts into lines.

use std::collections::{BTreeMap, BTreeSet};

use aws_smithy_types::DateTime;
use serde::{Deserialize, Serialize};

use crate::aws::Clients;
use crate::error::BackstopError;
use crate::model::run::Mode;
use crate::model::time::format_time;
use crate::plan::{InstancePlan, Plan, RecoverInto};

mod compute;
mod data;
mod dns;
mod hydration;
mod network;
mod recovered;
mod routes;

use compute::{check_golden_amis, check_instance_limit, check_instance_types};
use data::{check_keys, check_vault_and_copies};
use dns::{check_dns, check_failover_alarms, ROUTE53_CHECK_LIMIT};
use network::{check_network, check_network_stack, check_volume_zones};
use recovered::check_recovery_code;

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

    /// A problem that `tolerated` turns from a failure into a warning.
    pub fn warn_if(tolerated: bool) -> Status {
        if tolerated {
            Status::Warn
        } else {
            Status::Fail
        }
    }
}

/// One line of the readiness report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckLine {
    /// What was checked: `vault`, `dr-copy`, `kms-key`, `subnet`, `security-group`,
    /// `db-subnet-group`, `availability-zone`, `volume-az`, `golden-ami`, `instance-type`,
    /// `dns-record`, `failover-alarm`, `elastic-ip`, `internet-route`, `account-limit`,
    /// `fast-snapshot-restore`, `vault-protection`, `validation`, `post-launch`.
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
            "{} is not ready for this {} of plan {} ({} failing check{}); nothing was created. Fix these and start the run again{}:\n",
            match self.mode {
                Mode::Failback => format!("the primary region {}", self.region),
                _ => "the DR region".to_string(),
            },
            self.mode,
            self.plan,
            counts.fail,
            if counts.fail == 1 { "" } else { "s" },
            if self.mode.is_production() {
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
    /// The run makes its own copies in the vault before it restores (a failback, or its
    /// drill): none is expected there yet.
    pub copies_made_by_run: bool,
    /// The account the run restores in (the function's own, from its ARN), when known: a
    /// shared vault's ARN names its owner instead.
    pub account: Option<String>,
}

/// Checks `plan` against the DR region. AWS errors that retrying can fix (throttling, 5xx)
/// end the check with that error (the state machine retries); others become fail lines.
pub async fn check_readiness(
    clients: &Clients,
    plan: &Plan,
    request: &ReadinessRequest,
) -> Result<Readiness, BackstopError> {
    let mut lines = Vec::new();
    // settings that come from the network stack are checked where their values are known
    let plan = &check_network_stack(clients, plan, request.mode, &mut lines).await?;
    let drill = plan.drill.as_ref().filter(|_| request.mode == Mode::Drill);
    let instances: Vec<InstancePlan> = plan.instances.iter().map(|i| i.for_run(drill)).collect();

    let (copies, recovery_account) =
        check_vault_and_copies(&clients.backup, plan, request, &mut lines).await?;
    check_keys(
        &clients.kms,
        plan,
        &copies,
        recovery_account.as_deref(),
        &mut lines,
    )
    .await?;
    hydration::check_fast_restores(&clients.ec2, plan, &copies, &mut lines).await?;
    let subnet_zones = check_network(clients, plan, &instances, request.mode, &mut lines).await?;
    check_volume_zones(plan, &instances, &subnet_zones, &mut lines);
    check_golden_amis(clients, plan, &instances, &mut lines).await?;
    check_instance_types(&clients.ec2, plan, &instances, &subnet_zones, &mut lines).await?;
    let route53_limit = request
        .invocation_deadline
        .and_then(|deadline| deadline.duration_since(std::time::SystemTime::now()).ok())
        .map_or(ROUTE53_CHECK_LIMIT, |left| {
            ROUTE53_CHECK_LIMIT.min(left / 4)
        });
    check_dns(
        &clients.route53,
        plan,
        request.mode,
        route53_limit,
        &mut lines,
    )
    .await?;
    check_failover_alarms(clients, plan, &mut lines).await?;
    check_instance_limit(&clients.ec2, plan, &mut lines).await?;
    check_recovery_code(clients, plan, &mut lines).await?;

    let copy_ages = plan
        .resources
        .iter()
        .filter_map(|r| {
            let copy = copies.get(r.arn.as_ref()?)?;
            let age = request.point_in_time.secs() - copy.data_time.secs();
            Some((r.name.clone(), age.max(0)))
        })
        .collect();
    Ok(Readiness::of(plan, request, lines, copy_ages))
}

impl Readiness {
    /// The report of `lines`, checked now.
    pub fn of(
        plan: &Plan,
        request: &ReadinessRequest,
        lines: Vec<CheckLine>,
        copy_ages: BTreeMap<String, i64>,
    ) -> Readiness {
        Readiness {
            plan: plan.name.clone(),
            mode: request.mode,
            region: plan.dr_region.clone(),
            checked_at: format_time(DateTime::from(std::time::SystemTime::now())),
            accept_warnings: request.accept_warnings,
            lines,
            copy_ages,
        }
    }
}

/// A failover with `recoverInto` is checked in that account, as the role it assumes there:
/// its clients and a pass line, or the fail line naming the fix when the role cannot be
/// assumed (then nothing else can be checked there). A fault retrying can fix ends the check.
pub async fn check_recover_into(
    clients: &Clients,
    into: &RecoverInto,
    run_id: &str,
) -> Result<(Option<Clients>, CheckLine), BackstopError> {
    let account = into.account_id();
    match clients.for_run(None, Some(into), run_id).await {
        Ok(there) => Ok((
            there,
            line(
                "recover-into",
                Status::Pass,
                account,
                format!(
                    "a failover recovers in account {account} as role {}; AWS Backup restores there with {}",
                    into.role_arn, into.restore_role_arn
                ),
            ),
        )),
        Err(err) if err.is_transient() => Err(err),
        Err(err) => {
            let why = match err {
                BackstopError::AccessDenied { message, .. } => message,
                other => other.to_string(),
            };
            Ok((
                None,
                line(
                    "recover-into",
                    Status::Fail,
                    account,
                    format!(
                        "a failover recovers in account {account}, but Backstop cannot assume role {} there: {why}; nothing else was checked there",
                        into.role_arn
                    ),
                )
                .fix(format!(
                    "in account {account}, deploy production-account/recover-into-account.yaml with BackstopAccountId=<this account>, and put its RecoveryRoleArn output in recoverInto.roleArn and in this stack's RecoverIntoRoleArn; or remove recoverInto to recover in this account"
                )),
            ))
        }
    }
}

/// A failback's other side: every resource it brings home is still in the DR region (`dr` are
/// the stack's own clients). One the failover no longer has (deleted by hand, or retired by an
/// earlier failback) fails the check: there is nothing of it to back up.
pub async fn check_failover_side(
    dr: &Clients,
    home: &Plan,
) -> Result<Vec<CheckLine>, BackstopError> {
    const CHECK: &str = "failover-resource";
    let mut lines = Vec::new();
    for resource in &home.resources {
        let Some(arn) = &resource.arn else { continue };
        let Some(owned) = crate::kinds::Owned::restored(&resource.kind, arn, None) else {
            continue;
        };
        let seen = match crate::kinds::run_tag_of_owned(dr, &owned).await {
            Ok(seen) => seen,
            Err(err) => {
                lines.push(unchecked(CHECK, &resource.name, err)?);
                continue;
            }
        };
        lines.push(match seen {
            crate::kinds::Tagged::Gone => line(
                CHECK,
                Status::Fail,
                &resource.name,
                format!("{} is gone from the DR region: there is no data of it to bring home", owned.id),
            )
            .fix("if an earlier failback already retired this failover, nothing is left to do; otherwise mark the resource optional in the plan, or restore it by hand"),
            _ => line(
                CHECK,
                Status::Pass,
                &resource.name,
                format!("{} serves production in the DR region; the failback backs it up", owned.id),
            ),
        });
    }
    Ok(lines)
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
}
