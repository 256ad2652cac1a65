//! How a report reads: the text an SRE reads in the logs and the evidence bucket, the
//! CloudWatch Embedded Metric Format lines, and the notice of a failed run.

use super::model::{action_word, Objective, Report};
use crate::model::run::Mode;
use crate::model::time::parse_time;
use serde_json::{json, Value};

impl Report {
    /// The failure notice: the failure path's own notice (run, step, error, cause, what it
    /// left), with what teardown did in a drill, the verdict and where the evidence is.
    pub fn failure_notice(&self, notice: &Value) -> String {
        let mut notice = notice.clone();
        if let Some(object) = notice.as_object_mut() {
            if self.mode == Some(Mode::Drill) {
                object.remove("leftInPlace");
                object.insert(
                    "tornDown".into(),
                    json!(match (&self.teardown, &self.teardown_error) {
                        (_, Some(error)) => format!(
                            "teardown failed ({error}){}: finish it with the teardown function ({{\"runId\": \"{}\"}}), which deletes only what this run created",
                            self.teardown.as_ref().map(|t| format!(" after deleting {}", t.deleted.len())).unwrap_or_default(),
                            self.run_id
                        ),
                        (Some(t), None) => format!(
                            "drill torn down: {} deleted, {} left{}",
                            t.deleted.len(),
                            t.left.len() + t.pending.len(),
                            if t.left.is_empty() && t.pending.is_empty() { "" } else { " (see teardown.left)" }
                        ),
                        (None, None) => "teardown did not run: delete by the tag backstop:run-id (invoke the teardown function with this runId)".into(),
                    }),
                );
                if let Some(teardown) = &self.teardown {
                    object.insert("teardown".into(), json!({"deleted": teardown.deleted, "left": teardown.left, "pending": teardown.pending}));
                }
            }
            if !self.omitted.is_empty() {
                object.insert("omitted".into(), json!(self.omitted));
            }
            object.insert("verdict".into(), json!(self.verdict));
            object.insert("reasons".into(), json!(self.reasons));
            if let Some(evidence) = &self.evidence {
                object.insert(
                    "report".into(),
                    json!(format!("s3://{}/{}", evidence.bucket, evidence.text_key)),
                );
                object.insert(
                    "reportPage".into(),
                    json!(format!("s3://{}/{}", evidence.bucket, evidence.html_key)),
                );
            }
        }
        crate::error::shorten(&notice.to_string(), 250_000)
    }

    /// Where the evidence of this run goes: `runs/<plan>/<run id>/report.{json,txt,html}`, so an
    /// auditor lists a plan's runs by prefix.
    pub fn evidence_keys(&self) -> (String, String, String) {
        let plan = self.plan.as_deref().unwrap_or("unresolved");
        let prefix = format!("runs/{plan}/{}", self.run_id);
        (
            format!("{prefix}/report.json"),
            format!("{prefix}/report.txt"),
            format!("{prefix}/report.html"),
        )
    }

    /// CloudWatch Embedded Metric Format lines: the run's RTO, worst RPO and verdict, one line
    /// per step with its duration, and one per validation with its result.
    pub fn metric_lines(&self, now_millis: i64) -> Vec<String> {
        let plan = self.plan.clone().unwrap_or_else(|| "unresolved".into());
        let mode = self.mode.map(|m| m.to_string()).unwrap_or_default();
        let mut run_metrics = vec![json!({"Name": "RunPassed", "Unit": "Count"})];
        let mut line = json!({
            "Plan": plan,
            "Mode": mode,
            "RunId": self.run_id,
            "RunPassed": if self.verdict == "PASS" { 1 } else { 0 },
        });
        if let Some(rto) = self.rto.measured_seconds {
            run_metrics.push(json!({"Name": "RtoSeconds", "Unit": "Seconds"}));
            line["RtoSeconds"] = json!(rto);
        }
        if let Some(rpo) = self.rpo.measured_seconds {
            run_metrics.push(json!({"Name": "WorstRpoSeconds", "Unit": "Seconds"}));
            line["WorstRpoSeconds"] = json!(rpo);
        }
        if self.mode == Some(Mode::Drill) {
            run_metrics.push(json!({"Name": "DrillPassed", "Unit": "Count"}));
            line["DrillPassed"] = line["RunPassed"].clone();
        }
        line["_aws"] = json!({
            "Timestamp": now_millis,
            "CloudWatchMetrics": [{
                "Namespace": "Backstop",
                "Dimensions": [["Plan", "Mode"]],
                "Metrics": run_metrics,
            }],
        });
        let mut lines = vec![line.to_string()];
        // one line per step and per check, each with its own third dimension
        let per_item = |dimension: &str, value: &str, metric: &str, unit: &str, measured: Value| {
            let mut item = json!({
                "_aws": {
                    "Timestamp": now_millis,
                    "CloudWatchMetrics": [{
                        "Namespace": "Backstop",
                        "Dimensions": [["Plan", "Mode", dimension]],
                        "Metrics": [{"Name": metric, "Unit": unit}],
                    }],
                },
                "Plan": plan,
                "Mode": mode,
                "RunId": self.run_id,
            });
            item[dimension] = json!(value);
            item[metric] = measured;
            item.to_string()
        };
        for step in &self.timeline {
            lines.push(per_item(
                "Step",
                &step.step,
                "StepSeconds",
                "Seconds",
                json!(step.seconds),
            ));
        }
        for check in &self.validations {
            let passed = json!(if check.passed { 1 } else { 0 });
            lines.push(per_item(
                "Check",
                &check.name,
                "ValidationPassed",
                "Count",
                passed,
            ));
        }
        lines
    }

    /// The report as an operator reads it.
    pub fn text(&self) -> String {
        let mut out = String::new();
        let mode = self.mode.map(|m| m.to_string()).unwrap_or("run".into());
        let plan = self.plan.as_deref().unwrap_or("(plan not resolved)");
        out.push_str(&format!(
            "Backstop {mode} {} of plan {plan}: {} ({})\n",
            self.run_id, self.verdict, self.outcome
        ));
        out.push_str(&format!(
            "started {}, ended {}\n",
            self.started_at, self.ended_at
        ));
        if let Some(trigger) = &self.trigger {
            out.push_str(&format!("started by {trigger}\n"));
        }
        if let Some(id) = &self.identity {
            // a failback's plan is swapped: it recovers in the primary region, from the DR one
            let (recovers, from) = match self.failback {
                Some(_) => ("recovered at home in", "from"),
                None => ("DR region", "primary region"),
            };
            out.push_str(&format!(
                "account {}, {recovers} {}{}; Backstop {}\n",
                id.account,
                id.dr_region,
                id.primary_region
                    .as_deref()
                    .map(|p| format!(", {from} {p}"))
                    .unwrap_or_default(),
                id.version
            ));
            if let Some(digest) = &id.plan_digest {
                out.push_str(&format!("plan {digest}\n"));
            }
        }
        if let Some(network) = &self.network {
            let ready = network.ready_at.as_deref().unwrap_or("not ready");
            out.push_str(&format!(
                "network: stack {} {} (ready {ready})\n",
                network.stack_name,
                action_word(network.action)
            ));
        }
        out.push('\n');
        let start = parse_time(&self.started_at).map(|t| t.secs());
        let offset = |time: &str| match (start, parse_time(time)) {
            (Some(start), Some(t)) => format!("+{}s", t.secs() - start),
            _ => "-".into(),
        };
        out.push_str(&format!(
            "{:<24} {:>8} {:>8} {:>8} {:>6}\n",
            "step", "start", "end", "seconds", "times"
        ));
        for step in &self.timeline {
            out.push_str(&format!(
                "{:<24} {:>8} {:>8} {:>8} {:>6}\n",
                step.step,
                offset(&step.started_at),
                step.ended_at.as_deref().map(offset).unwrap_or("-".into()),
                step.seconds,
                step.rounds
            ));
        }
        let objective = |o: &Objective| {
            let measured = o
                .measured_seconds
                .map(|s| format!("{s} s"))
                .unwrap_or("not reached".into());
            let target = o
                .objective_seconds
                .map(|s| format!("objective {s} s"))
                .unwrap_or("no objective".into());
            let met = if o.met { "met" } else { "NOT met" };
            format!("{measured} ({target}): {met} [{}]", o.measure)
        };
        if let Some(readiness) = &self.readiness {
            let c = &readiness.counts;
            out.push_str(&format!(
                "\nReadiness: {} pass, {} warn, {} fail\n",
                c.pass, c.warn, c.fail
            ));
            for line in &readiness.problems {
                out.push_str(&format!(
                    "     {} {} {}: {}\n",
                    line.status.as_str(),
                    line.check,
                    line.resource,
                    line.detail
                ));
            }
        }
        out.push_str(&format!("\nRTO  {}\n", objective(&self.rto)));
        if let Some(full) = self.rto_to_full_speed_seconds {
            out.push_str(&format!(
                "     to full speed: {full} s (the last restored volume at full performance)\n"
            ));
        }
        out.push_str(&format!("RPO  {}\n", objective(&self.rpo)));
        if let Some(prediction) = self.history.as_ref().and_then(|h| h.prediction.as_ref()) {
            out.push_str(&format!(
                "     next RTO predicted: ~{} s ({}; from {} runs); trend {}\n",
                prediction.predicted_seconds,
                prediction.method,
                prediction.based_on,
                prediction.trend
            ));
        }
        for rpo in &self.rpo_by_resource {
            out.push_str(&format!(
                "     {:<16} {:>8} s  data of {}{}\n",
                rpo.resource,
                rpo.seconds,
                rpo.data_captured_at,
                if rpo.met { "" } else { "  NOT met" }
            ));
        }
        section(&mut out, "Restored", &self.restored, |item| {
            let created = item.created_resource_arn.as_deref().unwrap_or("-");
            let (name, kind, status) = (&item.resource, &item.kind, &item.status);
            format!("{name:<16} {kind:<4} {status:<10} {created}")
        });
        section(
            &mut out,
            "Volumes to full speed",
            &self.hydration,
            |volume| {
                let id = volume
                    .volume_arn
                    .as_deref()
                    .and_then(|a| a.rsplit('/').next());
                let (name, gib) = (&volume.resource, volume.size_gib);
                format!(
                    "{name:<16} {} {gib} GiB: {}",
                    id.unwrap_or("-"),
                    volume.note
                )
            },
        );
        section(&mut out, "Launched", &self.launched, |instance| {
            let fallbacks = match instance.fallbacks.is_empty() {
                true => String::new(),
                false => format!("; capacity fallbacks: {}", instance.fallbacks.join("; ")),
            };
            let where_ = format!("{} ({})", instance.availability_zone, instance.private_ip);
            let what = format!("{} {}", instance.instance_id, instance.instance_type);
            format!("{:<16} {what} in {where_}{fallbacks}", instance.name)
        });
        section(
            &mut out,
            "Post-launch actions",
            &self.post_launch,
            |action| {
                format!(
                    "{:<16} after wave {}: {:?} ({}): {}",
                    action.name, action.wave, action.status, action.target, action.message
                )
            },
        );
        section(&mut out, "Validations", &self.validations, |check| {
            let verdict = if check.passed { "passed" } else { "FAILED" };
            format!(
                "{:<16} {verdict} in {:.1} s: {}",
                check.name, check.seconds, check.message
            )
        });
        section(&mut out, "DNS", &self.dns, |record| {
            let was = match record.previous_values.is_empty() {
                true => "absent".to_string(),
                false => record.previous_values.join(", "),
            };
            let name = format!("{} {}", record.record_name, record.record_type);
            format!("{name} -> {} (was {was})", record.value)
        });
        for warning in &self.warnings {
            out.push_str(&format!("\nwarning: {warning}"));
        }
        if let Some(failure) = &self.failure {
            out.push_str(&format!(
                "\nFailed at {}: {}\n     {}\n",
                failure.step,
                failure.error,
                crate::error::shorten(&failure.cause, 2000)
            ));
        }
        if let Some(failback) = &self.failback {
            section(
                &mut out,
                &match &failback.failover_run_id {
                    Some(failover) => format!(
                        "Brought home from failover {failover} (backup in the DR vault, then its copy home):"
                    ),
                    None => "Drill of the way home: the DR vault's copies, copied home:".to_string(),
                },
                &failback.captured,
                |c| {
                    let status = |s: &Option<crate::model::jobs::JobStatus>| {
                        s.as_ref().map_or("not started", |s| s.as_str()).to_string()
                    };
                    format!(
                        "{}: backup {} (started {}), copy {} {}",
                        c.resource,
                        status(&c.backup_status),
                        c.backup_started_at.as_deref().unwrap_or("-"),
                        status(&c.copy_status),
                        c.home_recovery_point_arn.as_deref().unwrap_or_default()
                    )
                },
            );
            if let Some(retired) = &failback.retired {
                teardown_text(&mut out, "The failover retired", retired);
            }
        }
        if let Some(teardown) = &self.teardown {
            teardown_text(&mut out, "Teardown", teardown);
        }
        if let Some(error) = &self.teardown_error {
            out.push_str(&format!(
                "\nTeardown failed: {}\n     finish it with the teardown function {{\"runId\": \"{}\"}}\n",
                crate::error::shorten(error, 2000),
                self.run_id
            ));
        }
        out.push_str(&format!(
            "\nVerdict: {} ({})\n",
            self.verdict,
            self.reasons.join("; ")
        ));
        out
    }
}

/// A teardown in the text report: its counts, and what it left and why.
fn teardown_text(
    out: &mut String,
    title: &str,
    teardown: &crate::steps::teardown::TeardownOutcome,
) {
    out.push_str(&format!(
        "\n{title}: {} deleted, {} left{}\n",
        teardown.deleted.len(),
        teardown.left.len() + teardown.pending.len(),
        if teardown.finished {
            ""
        } else {
            " (still pending)"
        }
    ));
    for item in teardown.left.iter().chain(&teardown.pending) {
        out.push_str(&format!(
            "     left: {} {}: {}\n",
            item.owned.kind, item.owned.id, item.reason
        ));
    }
}

/// A titled section of the text report, one indented row per item; nothing when empty.
fn section<T>(out: &mut String, title: &str, items: &[T], row: impl Fn(&T) -> String) {
    if items.is_empty() {
        return;
    }
    out.push_str(&format!("\n{title}\n"));
    for item in items {
        out.push_str(&format!("     {}\n", row(item)));
    }
}
