//! The report as a page an auditor or an SRE opens: one self-contained HTML file stored beside
//! the JSON. It has no script and fetches nothing (its Content-Security-Policy is
//! `default-src 'none'`), so it opens offline, from an archive, years later.

use super::hydration::duration;
use super::model::{action_word, Objective, Report};
use super::past_runs::RunHistory;
use crate::model::time::parse_time;

/// Text made safe for HTML content and attribute values.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:0;color:#1d2733;background:#f4f6f8}
main{max-width:1100px;margin:0 auto;padding:24px}
header{display:flex;align-items:center;gap:16px;flex-wrap:wrap}
h1{font-size:22px;margin:0}h2{font-size:16px;margin:28px 0 8px;border-bottom:1px solid #d5dbe1;padding-bottom:4px}
.verdict{font-weight:700;padding:4px 12px;border-radius:4px;color:#fff}
.verdict.pass{background:#1e7d32}.verdict.fail{background:#b3261e}
.muted{color:#5f6b76}
table{border-collapse:collapse;width:100%;background:#fff}
th,td{text-align:left;padding:5px 8px;border-bottom:1px solid #e3e7eb;vertical-align:top;overflow-wrap:anywhere}
th{font-weight:600;background:#eef1f4;white-space:nowrap}
table.identity th{width:190px;background:#fff}
.objective{display:grid;grid-template-columns:150px 1fr 260px;align-items:center;gap:10px;margin:6px 0}
.track{position:relative;height:18px;background:#e3e7eb;border-radius:3px}
.fill{position:absolute;top:0;bottom:0;left:0;border-radius:3px;background:#2f6db5}
.fill.over{background:#b3261e}.fill.speed{background:#7a5cb5}
.target{position:absolute;top:-4px;bottom:-4px;width:2px;background:#1d2733}
.gantt .row{display:grid;grid-template-columns:190px 1fr 90px;align-items:center;gap:10px;margin:3px 0}
.gantt .bar{position:absolute;top:2px;bottom:2px;min-width:2px;background:#2f6db5;border-radius:2px}
.gantt .bar.failed{background:#b3261e}
.status-FAIL,.status-WARN{font-weight:600}.status-FAIL{color:#b3261e}.status-WARN{color:#9a6700}
footer{margin-top:32px;font-size:12px}
";

/// An `<h2>` and a table, one row per item; nothing when there are no items.
fn table<T>(
    out: &mut String,
    id: &str,
    title: &str,
    head: &[&str],
    items: &[T],
    row: impl Fn(&T) -> Vec<String>,
) {
    if items.is_empty() {
        return;
    }
    out.push_str(&format!(
        "<section id=\"{id}\"><h2>{}</h2><table><tr>",
        esc(title)
    ));
    for cell in head {
        out.push_str(&format!("<th>{}</th>", esc(cell)));
    }
    out.push_str("</tr>");
    for item in items {
        out.push_str("<tr>");
        for cell in row(item) {
            out.push_str(&format!("<td>{}</td>", esc(&cell)));
        }
        out.push_str("</tr>");
    }
    out.push_str("</table></section>\n");
}

/// One objective as a bar: the measured time against the objective's mark.
fn objective_bar(out: &mut String, id: &str, label: &str, objective: &Objective, class: &str) {
    let measured = objective.measured_seconds;
    let target = objective.objective_seconds;
    let scale = measured.unwrap_or(0).max(target.unwrap_or(0)).max(1) as f64 * 1.1;
    let width = measured.map_or(0.0, |m| m as f64 / scale * 100.0);
    let over = if objective.met { "" } else { " over" };
    let said = match (measured, target) {
        (Some(m), Some(t)) => format!(
            "{} of {} objective: {}",
            duration(m),
            duration(t),
            if objective.met { "met" } else { "NOT met" }
        ),
        (Some(m), None) => format!("{} (no objective)", duration(m)),
        (None, _) => "not reached".into(),
    };
    out.push_str(&format!(
        "<div class=\"objective\" id=\"{id}\" data-measured-seconds=\"{}\" data-objective-seconds=\"{}\"><b>{}</b><div class=\"track\" title=\"{}\"><div class=\"fill{class}{over}\" style=\"width:{width:.2}%\"></div>",
        measured.map(|m| m.to_string()).unwrap_or_default(),
        target.map(|t| t.to_string()).unwrap_or_default(),
        esc(label),
        esc(&objective.measure),
    ));
    if let Some(t) = target {
        out.push_str(&format!(
            "<div class=\"target\" style=\"left:{:.2}%\"></div>",
            t as f64 / scale * 100.0
        ));
    }
    out.push_str(&format!("</div><span>{}</span></div>\n", esc(&said)));
}

impl Report {
    /// The plan's last runs as bars (RTO, the objective as a line, this run darker) and a
    /// table, and the next run's predicted RTO.
    fn history_section(&self, out: &mut String, history: &RunHistory) {
        out.push_str(&format!(
            "<section id=\"history\"><h2>Last {} {} runs of this plan</h2>\n",
            history.runs.len(),
            self.mode.map(|m| m.to_string()).unwrap_or_default()
        ));
        if let Some(prediction) = &history.prediction {
            out.push_str(&format!(
                "<p id=\"prediction\" data-predicted-seconds=\"{}\">Next run's RTO, predicted: <b>~{}</b>{} ({}; from {} runs). Trend: {}.</p>",
                prediction.predicted_seconds,
                duration(prediction.predicted_seconds),
                prediction
                    .objective_seconds
                    .map(|o| format!(" against an objective of {}", duration(o)))
                    .unwrap_or_default(),
                esc(&prediction.method),
                prediction.based_on,
                esc(&prediction.trend)
            ));
            if let Some(warning) = &prediction.warning {
                out.push_str(&format!(
                    "<p class=\"status-FAIL\" id=\"prediction-warning\">{}</p>",
                    esc(warning)
                ));
            }
        }
        // scaled to the runs: an objective far above them is said, not drawn
        let objective = self.rto.objective_seconds.unwrap_or(0);
        let longest = history.runs.iter().filter_map(|r| r.rto_seconds).max();
        let top = longest.unwrap_or(1).max(1) as f64 * 1.25;
        let (width, height) = (20 * history.runs.len().max(1) + 10, 120.0);
        out.push_str(&format!(
            "<svg class=\"history\" viewBox=\"0 0 {width} 130\" width=\"100%\" height=\"130\" preserveAspectRatio=\"none\" role=\"img\" aria-label=\"RTO of each run\">"
        ));
        for (i, run) in history.runs.iter().enumerate() {
            let rto = run.rto_seconds.unwrap_or(0);
            let h = rto as f64 / top * height;
            let fill = match (run.run_id == self.run_id, run.verdict.as_str()) {
                (true, _) => "#1d2733",
                (false, "PASS") => "#2f6db5",
                _ => "#b3261e",
            };
            out.push_str(&format!(
                "<rect class=\"run\" data-run=\"{}\" data-rto-seconds=\"{rto}\" x=\"{}\" y=\"{:.1}\" width=\"14\" height=\"{h:.1}\" fill=\"{fill}\"><title>{}: {} s, {}</title></rect>",
                esc(&run.run_id),
                10 + 20 * i,
                height - h + 5.0,
                esc(&run.run_id),
                rto,
                esc(&run.verdict)
            ));
        }
        let objective_drawn = objective > 0 && (objective as f64) <= top;
        if objective_drawn {
            let y = height - objective as f64 / top * height + 5.0;
            out.push_str(&format!(
                "<line x1=\"0\" x2=\"{width}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#b3261e\" stroke-width=\"1.5\" vector-effect=\"non-scaling-stroke\"><title>RTO objective</title></line>"
            ));
        }
        out.push_str("</svg>");
        out.push_str(&format!(
            "<p class=\"muted\">RTO of each run, oldest left, this run darkest; the longest {}{}.</p>",
            longest.map(duration).unwrap_or("-".into()),
            match (objective > 0, objective_drawn) {
                (true, true) => ", the red line the objective".to_string(),
                (true, false) => format!(", the objective ({}) far above", duration(objective)),
                _ => String::new(),
            }
        ));
        out.push_str("<table><tr><th>Run</th><th>Ended</th><th>Verdict</th><th>RTO</th><th>Worst RPO</th><th>Restored</th></tr>");
        for run in history.runs.iter().rev() {
            out.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.1} GiB, {} resources</td></tr>",
                esc(&run.run_id),
                esc(&run.ended_at),
                esc(&run.verdict),
                run.rto_seconds.map(duration).unwrap_or("not reached".into()),
                run.worst_rpo_seconds.map(duration).unwrap_or("-".into()),
                run.restored_bytes as f64 / f64::from(1u32 << 30),
                run.resources
            ));
        }
        out.push_str("</table></section>\n");
    }

    /// The report as one self-contained HTML page (no script, nothing fetched).
    pub fn html(&self) -> String {
        let mode = self.mode.map(|m| m.to_string()).unwrap_or("run".into());
        let plan = self.plan.as_deref().unwrap_or("(plan not resolved)");
        let verdict_class = if self.verdict == "PASS" {
            "pass"
        } else {
            "fail"
        };
        let mut out = String::new();
        out.push_str(&format!(
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>Backstop {} {}: {}</title><style>{STYLE}</style></head><body><main>\n",
            esc(&mode),
            esc(&self.run_id),
            esc(&self.verdict)
        ));
        out.push_str(&format!(
            "<header><h1>Backstop {} <code>{}</code> of plan {}</h1><span class=\"verdict {verdict_class}\" id=\"verdict\">{}</span><span class=\"muted\">{}</span></header>\n",
            esc(&mode),
            esc(&self.run_id),
            esc(plan),
            esc(&self.verdict),
            esc(&self.outcome)
        ));
        out.push_str(&format!(
            "<p id=\"reasons\">{}</p>\n",
            esc(&self.reasons.join("; "))
        ));

        // who, where, what: the run's identity
        let mut identity: Vec<(&str, String)> = Vec::new();
        if let Some(id) = &self.identity {
            identity.push(("Account", id.account.clone()));
            // a failback's plan is swapped: it recovers in the primary region, from the DR one
            let (recovers, from) = match self.failback {
                Some(_) => ("Recovered in (home)", "From (DR region)"),
                None => ("DR region", "Primary region"),
            };
            identity.push((recovers, id.dr_region.clone()));
            if let Some(primary) = &id.primary_region {
                identity.push((from, primary.clone()));
            }
            if let Some(digest) = &id.plan_digest {
                identity.push(("Plan digest", digest.clone()));
            }
            identity.push(("Started by", id.started_by.clone()));
            identity.push(("Backstop version", id.version.clone()));
        }
        identity.push(("Started", self.started_at.clone()));
        identity.push(("Ended", self.ended_at.clone()));
        identity.push(("Execution", self.execution_arn.clone()));
        if let Some(evidence) = &self.evidence {
            identity.push((
                "Evidence",
                format!("s3://{}/{}", evidence.bucket, evidence.json_key),
            ));
        }
        if let Some(network) = &self.network {
            identity.push((
                "Network",
                format!(
                    "stack {} {} (ready {})",
                    network.stack_name,
                    action_word(network.action),
                    network.ready_at.as_deref().unwrap_or("never")
                ),
            ));
        }
        out.push_str("<section id=\"identity\"><h2>Run</h2><table class=\"identity\">");
        for (key, value) in &identity {
            out.push_str(&format!(
                "<tr><th>{}</th><td>{}</td></tr>",
                esc(key),
                esc(value)
            ));
        }
        out.push_str("</table></section>\n");

        out.push_str("<section id=\"objectives\"><h2>Objectives</h2>\n");
        objective_bar(&mut out, "rto", "RTO", &self.rto, "");
        if let Some(full) = self.rto_to_full_speed_seconds {
            let to_full_speed = Objective {
                measured_seconds: Some(full),
                objective_seconds: self.rto.objective_seconds,
                met: self.rto.objective_seconds.is_none_or(|t| full <= t),
                measure: "RTO to the last restored volume at full performance".into(),
            };
            objective_bar(
                &mut out,
                "rto-full-speed",
                "RTO to full speed",
                &to_full_speed,
                " speed",
            );
        }
        objective_bar(&mut out, "rpo", "RPO (worst)", &self.rpo, "");
        out.push_str("</section>\n");
        if let Some(history) = &self.history {
            self.history_section(&mut out, history);
        }

        // the timeline: one bar per step, on the run's own clock
        let start = parse_time(&self.started_at).map(|t| t.secs());
        let end = parse_time(&self.ended_at).map(|t| t.secs());
        let offset = |time: &str| match (start, parse_time(time)) {
            (Some(start), Some(t)) => Some(t.secs() - start),
            _ => None,
        };
        let span = match (start, end) {
            (Some(s), Some(e)) if e > s => (e - s) as f64,
            _ => 1.0,
        };
        out.push_str(&format!(
            "<section id=\"timeline\" class=\"gantt\"><h2>Timeline</h2><p class=\"muted\">{} from start to report</p>\n",
            duration(span as i64)
        ));
        let failed_step = self.failure.as_ref().map(|f| f.step.as_str());
        for step in &self.timeline {
            let from = offset(&step.started_at).unwrap_or(0).max(0);
            let left = from as f64 / span * 100.0;
            let width = (step.seconds.max(0) as f64 / span * 100.0).min(100.0 - left);
            let failed = if failed_step == Some(step.step.as_str()) {
                " failed"
            } else {
                ""
            };
            out.push_str(&format!(
                "<div class=\"row\"><span>{}</span><div class=\"track\"><div class=\"bar{failed}\" data-step=\"{}\" data-seconds=\"{}\" title=\"{} from +{from} s, {} s\" style=\"left:{left:.2}%;width:{width:.2}%\"></div></div><span>+{from} s, {} s</span></div>\n",
                esc(&step.step),
                esc(&step.step),
                step.seconds,
                esc(&step.step),
                step.seconds,
                step.seconds
            ));
        }
        out.push_str("</section>\n");

        if let Some(readiness) = &self.readiness {
            let c = &readiness.counts;
            out.push_str(&format!(
                "<section id=\"readiness\"><h2>Readiness</h2><p>{} pass, {} warn, {} fail</p>",
                c.pass, c.warn, c.fail
            ));
            if !readiness.problems.is_empty() {
                out.push_str(
                    "<table><tr><th>Status</th><th>Check</th><th>Resource</th><th>Detail</th></tr>",
                );
                for line in &readiness.problems {
                    let status = line.status.as_str();
                    out.push_str(&format!(
                        "<tr><td class=\"status-{status}\">{status}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                        esc(&line.check),
                        esc(&line.resource),
                        esc(&line.detail)
                    ));
                }
                out.push_str("</table>");
            }
            out.push_str("</section>\n");
        }

        table(
            &mut out,
            "recovery-points",
            "Recovery points",
            &["Resource", "Recovery point", "Data of", "RPO"],
            &self.rpo_by_resource,
            |rpo| {
                vec![
                    rpo.resource.clone(),
                    rpo.recovery_point_arn.clone(),
                    rpo.data_captured_at.clone(),
                    format!(
                        "{}, {}",
                        duration(rpo.seconds),
                        if rpo.met { "met" } else { "NOT met" }
                    ),
                ]
            },
        );
        table(
            &mut out,
            "restored",
            "Restored",
            &["Resource", "Kind", "Status", "Created"],
            &self.restored,
            |item| {
                vec![
                    item.resource.clone(),
                    item.kind.clone(),
                    item.status.to_string(),
                    item.created_resource_arn.clone().unwrap_or_default(),
                ]
            },
        );
        table(
            &mut out,
            "hydration",
            "Volumes to full speed",
            &["Resource", "Volume", "GiB", "To full speed", "How"],
            &self.hydration,
            |volume| {
                vec![
                    volume.resource.clone(),
                    volume.volume_arn.clone().unwrap_or_default(),
                    volume.size_gib.to_string(),
                    duration(volume.seconds_to_full_speed),
                    volume.note.clone(),
                ]
            },
        );
        table(
            &mut out,
            "launched",
            "Launched",
            &[
                "Name",
                "Instance",
                "Type",
                "Image",
                "Where",
                "Capacity fallbacks",
            ],
            &self.launched,
            |instance| {
                vec![
                    instance.name.clone(),
                    instance.instance_id.clone(),
                    instance.instance_type.clone(),
                    instance.image_id.clone(),
                    format!("{} ({})", instance.availability_zone, instance.private_ip),
                    instance.fallbacks.join("; "),
                ]
            },
        );
        table(
            &mut out,
            "post-launch",
            "Post-launch actions",
            &[
                "Action",
                "After wave",
                "Runs",
                "Result",
                "Message",
                "Output",
            ],
            &self.post_launch,
            |action| {
                vec![
                    action.name.clone(),
                    action.wave.to_string(),
                    action.target.clone(),
                    format!("{:?}", action.status),
                    action.message.clone(),
                    action
                        .outputs
                        .iter()
                        .map(|o| format!("{}: {}", o.instance_id, o.output))
                        .collect::<Vec<_>>()
                        .join("\n"),
                ]
            },
        );
        table(
            &mut out,
            "validations",
            "Validations",
            &["Check", "Runs", "Result", "Seconds", "Message"],
            &self.validations,
            |check| {
                vec![
                    check.name.clone(),
                    check.target.clone(),
                    if check.passed { "passed" } else { "FAILED" }.to_string(),
                    format!("{:.1}", check.seconds),
                    check.message.clone(),
                ]
            },
        );
        table(
            &mut out,
            "dns",
            "DNS",
            &["Record", "Type", "Now", "Was", "TTL"],
            &self.dns,
            |record| {
                let was = match record.previous_values.is_empty() {
                    true => "absent".to_string(),
                    false => record.previous_values.join(", "),
                };
                vec![
                    record.record_name.clone(),
                    record.record_type.clone(),
                    record.value.clone(),
                    was,
                    record.ttl.to_string(),
                ]
            },
        );
        if let Some(failure) = &self.failure {
            out.push_str(&format!(
                "<section id=\"failure\"><h2>Failed at {}</h2><p><b>{}</b></p><pre>{}</pre></section>\n",
                esc(&failure.step),
                esc(&failure.error),
                esc(&crate::error::shorten(&failure.cause, 4000))
            ));
        }
        if let Some(failback) = &self.failback {
            out.push_str(&format!(
                "<section id=\"failback\"><h2>{}</h2><table><tr><th>Resource</th><th>Backup in the DR region</th><th>Copy at home</th></tr>",
                esc(&match &failback.failover_run_id {
                    Some(failover) => format!("Failback of failover {failover}"),
                    None => "Drill of the way home".to_string(),
                })
            ));
            for capture in &failback.captured {
                let status = |s: &Option<crate::model::jobs::JobStatus>| {
                    s.as_ref().map_or("not started", |s| s.as_str()).to_string()
                };
                out.push_str(&format!(
                    "<tr><td>{}</td><td>{} {}</td><td>{} {}</td></tr>",
                    esc(&capture.resource),
                    esc(&status(&capture.backup_status)),
                    esc(capture.recovery_point_arn.as_deref().unwrap_or_default()),
                    esc(&status(&capture.copy_status)),
                    esc(capture
                        .home_recovery_point_arn
                        .as_deref()
                        .unwrap_or_default())
                ));
            }
            out.push_str("</table></section>\n");
            if let Some(retired) = &failback.retired {
                teardown_section(&mut out, "retired", "The failover retired", retired);
            }
        }
        if let Some(teardown) = &self.teardown {
            teardown_section(&mut out, "teardown", "Teardown", teardown);
        }
        if let Some(error) = &self.teardown_error {
            out.push_str(&format!(
                "<section id=\"teardown-error\"><h2>Teardown failed</h2><pre>{}</pre><p>Finish it with the teardown function <code>{{\"runId\": \"{}\"}}</code>: it deletes only what this run created.</p></section>\n",
                esc(&crate::error::shorten(error, 4000)),
                esc(&self.run_id)
            ));
        }
        if !self.warnings.is_empty() {
            out.push_str("<section id=\"warnings\"><h2>Warnings</h2><ul>");
            for warning in &self.warnings {
                out.push_str(&format!("<li>{}</li>", esc(warning)));
            }
            out.push_str("</ul></section>\n");
        }
        out.push_str(&format!(
            "<footer class=\"muted\">Backstop report of {}; the JSON beside this page has every figure.</footer>\n</main></body></html>\n",
            esc(&self.run_id)
        ));
        out
    }
}

/// A teardown's table: what it deleted, and what it left and why.
fn teardown_section(
    out: &mut String,
    id: &str,
    title: &str,
    teardown: &crate::steps::teardown::TeardownOutcome,
) {
    out.push_str(&format!(
        "<section id=\"{id}\"><h2>{title}</h2><p>{} deleted, {} left{}</p>",
        teardown.deleted.len(),
        teardown.left.len() + teardown.pending.len(),
        if teardown.finished {
            ""
        } else {
            " (still pending)"
        }
    ));
    out.push_str("<table><tr><th>Kind</th><th>Id</th><th>Outcome</th></tr>");
    for item in &teardown.deleted {
        out.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>deleted</td></tr>",
            esc(&item.kind.to_string()),
            esc(&item.id)
        ));
    }
    for item in teardown.left.iter().chain(&teardown.pending) {
        out.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td class=\"status-FAIL\">left: {}</td></tr>",
            esc(&item.owned.kind.to_string()),
            esc(&item.owned.id),
            esc(&item.reason)
        ));
    }
    out.push_str("</table></section>\n");
}
