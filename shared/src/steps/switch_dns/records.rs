//! The planned records against their hosted zones as Route 53 has them (checked before a run
//! creates anything and again before a switch), and the removal of a drill's own record.

use aws_sdk_route53::types::{ChangeBatch, RrType};

use crate::aws::drill_record::{self, Ownership};
use crate::error::{classify_sdk_error, BackstopError, PlanProblem};
use crate::kinds::Removal;
use crate::model::run::Mode;
use crate::plan::{is_wildcard, normalize_dns_name, DnsRecordPlan, Plan};

/// Checks every record against its hosted zone as Route 53 has it: the zone exists, the
/// production record is inside it, and the drill record is a name strictly inside it (not the
/// apex, not a wildcard, not a production record). Run before anything is created, and again
/// before a switch.
pub async fn check_records_in_zones(
    route53: &aws_sdk_route53::Client,
    plan: &Plan,
) -> Result<(), BackstopError> {
    let problems = record_problems(route53, plan, true).await?;
    if problems.is_empty() {
        Ok(())
    } else {
        Err(BackstopError::InvalidPlan(problems))
    }
}

/// The problems of every record against its hosted zone (the zone exists, the production
/// record is inside it and, with `drill`, the drill record is a plain name strictly inside it).
pub async fn record_problems(
    route53: &aws_sdk_route53::Client,
    plan: &Plan,
    drill: bool,
) -> Result<Vec<PlanProblem>, BackstopError> {
    let mut zones: std::collections::HashMap<String, Result<String, String>> =
        std::collections::HashMap::new();
    let mut problems = Vec::new();
    for (i, record) in plan.dns.iter().enumerate() {
        let zone_id = record
            .hosted_zone_id
            .trim_start_matches("/hostedzone/")
            .to_string();
        if !zones.contains_key(&zone_id) {
            let zone = match route53.get_hosted_zone().id(&zone_id).send().await {
                Ok(found) => found
                    .hosted_zone()
                    .map(|zone| normalize_dns_name(zone.name()).unwrap_or_default())
                    .ok_or_else(|| "Route 53 returned no zone".to_string()),
                Err(err) => match classify_sdk_error(format!("reading hosted zone {zone_id}"), err)
                {
                    BackstopError::NotFound { .. } => Err(format!(
                        "hosted zone {zone_id} does not exist in this account"
                    )),
                    other => return Err(other),
                },
            };
            zones.insert(zone_id.clone(), zone);
        }
        let zone = match &zones[&zone_id] {
            Ok(zone) => zone,
            Err(why) => {
                problems.push(PlanProblem {
                    field: format!("dns[{i}].hostedZoneId"),
                    message: why.clone(),
                    fix: "use the id of the public or private hosted zone that holds the record"
                        .into(),
                });
                continue;
            }
        };
        let inside = |name: &str| name.ends_with(&format!(".{zone}"));
        let record_name = normalize_dns_name(&record.record_name).unwrap_or_default();
        if record_name != *zone && !inside(&record_name) {
            problems.push(PlanProblem {
                field: format!("dns[{i}].recordName"),
                message: format!("{} is not in hosted zone {zone}", record.record_name),
                fix: "use a record of the zone, or correct hostedZoneId".into(),
            });
        }
        if record_name == *zone && record.record_type.eq_ignore_ascii_case("CNAME") {
            // RFC 1034: a CNAME can share its name with no other record, and the apex has SOA
            // and NS; Route 53 would refuse the switch after everything was restored
            problems.push(PlanProblem {
                field: format!("dns[{i}].recordType"),
                message: format!(
                    "a CNAME at the zone apex {zone}: Route 53 refuses it (the apex holds the zone's SOA and NS records)"
                ),
                fix: "point the apex with an A record (the instance's IP), or switch a name inside the zone such as www".into(),
            });
        }
        let drill_name = normalize_dns_name(&record.drill_record_name).unwrap_or_default();
        if drill && (!inside(&drill_name) || is_wildcard(&drill_name)) {
            problems.push(PlanProblem {
                field: format!("dns[{i}].drillRecordName"),
                message: format!(
                    "{} is not a plain name strictly inside hosted zone {zone} (it is the apex, a wildcard, or outside the zone)",
                    record.drill_record_name
                ),
                fix: format!("use a dedicated name inside the zone, e.g. drill.{zone}"),
            });
        } else if drill {
            // a drill writes, then deletes, its record: never a name Backstop did not create
            let observed = drill_record::observe(route53, &zone_id, &drill_name).await?;
            if let Ownership::Foreign(why) = drill_record::judge(&plan.name, &observed.seen) {
                problems.push(PlanProblem {
                    field: format!("dns[{i}].drillRecordName"),
                    message: format!(
                        "{} is not a drill record of plan {}: {why}; a drill would overwrite it, then delete it",
                        record.drill_record_name, plan.name
                    ),
                    fix: format!(
                        "use a name that does not exist yet (e.g. drill-{}.{zone}); Backstop marks the records it creates ({})",
                        plan.name,
                        drill_record::mark_name(&drill_name)
                    ),
                });
            }
        }
    }
    Ok(problems)
}

/// Deletes a drill record a drill of `plan` wrote, with its ownership mark, if the mark names
/// the plan and the record still points only at what the run created (`endpoints`: its
/// instances' IPs and databases' addresses). Anything else is not this run's and is left
/// alone; production records are never touched. `None`: no record of the plan there (never
/// written, or deleted by an earlier pass), nothing to count.
pub async fn remove_drill_record(
    route53: &aws_sdk_route53::Client,
    plan: &str,
    record: &DnsRecordPlan,
    endpoints: &std::collections::BTreeSet<String>,
) -> Result<Option<Removal>, BackstopError> {
    let name = record_to_write(record, Mode::Drill)?;
    let zone = &record.hosted_zone_id;
    let observed = drill_record::observe(route53, zone, name).await?;
    let record_type = RrType::from(record.record_type.as_str());
    match drill_record::judge(plan, &observed.seen) {
        Ownership::Free => return Ok(None),
        Ownership::Foreign(why) => {
            let held = observed
                .seen
                .at_name
                .iter()
                .any(|set| set.record_type == record_type.as_str());
            return Ok(held.then(|| {
                Removal::Kept(format!(
                    "drill record {name} is not one Backstop created for plan {plan} ({why}): left alone"
                ))
            }));
        }
        Ownership::Ours => {}
    }
    let mut changes = Vec::new();
    let record_set = observed
        .sets
        .into_iter()
        .find(|set| set.r#type() == &record_type);
    if let Some(set) = record_set {
        let normalize = |value: &str| value.trim_end_matches('.').to_ascii_lowercase();
        let values: Vec<&str> = set.resource_records().iter().map(|r| r.value()).collect();
        let points_at_run =
            !values.is_empty() && values.iter().all(|v| endpoints.contains(&normalize(v)));
        if !points_at_run {
            return Ok(Some(Removal::Kept(format!(
                "drill record {name} points at {}, not at this run's resources: left alone",
                values.join(", ")
            ))));
        }
        changes.push(drill_record::delete(set)?);
    }
    if let Some(mark) = observed.mark {
        changes.push(drill_record::delete(mark)?);
    }
    let batch = ChangeBatch::builder()
        .comment("Backstop drill teardown")
        .set_changes(Some(changes))
        .build()
        .map_err(|e| BackstopError::invalid_input("dns", e.to_string()))?;
    match route53
        .change_resource_record_sets()
        .hosted_zone_id(zone)
        .change_batch(batch)
        .send()
        .await
    {
        Ok(_) => {
            tracing::info!(record = name, "drill record and its ownership mark deleted");
            Ok(Some(Removal::Gone))
        }
        Err(err) => match classify_sdk_error(format!("deleting drill record {name}"), err) {
            // deleted in the meantime (a DELETE of a missing record is InvalidChangeBatch)
            BackstopError::Aws { code, .. } if code == "InvalidChangeBatch" => {
                Ok(Some(Removal::Gone))
            }
            other => Err(other),
        },
    }
}

/// The record this run may write: in a drill, only the drill record, whatever else is asked.
pub(super) fn record_to_write(record: &DnsRecordPlan, mode: Mode) -> Result<&str, BackstopError> {
    match mode {
        Mode::Failover | Mode::Failback => Ok(&record.record_name),
        Mode::Drill => {
            let drill = normalize_dns_name(&record.drill_record_name);
            let same = drill.as_ref().ok() == normalize_dns_name(&record.record_name).as_ref().ok();
            if record.drill_record_name.is_empty() || drill.is_err() || same {
                return Err(BackstopError::invalid_input(
                    "plan.dns[].drillRecordName",
                    format!(
                        "a drill refuses to write {}: it is the production record",
                        record.record_name
                    ),
                ));
            }
            Ok(&record.drill_record_name)
        }
    }
}
