//! DNS records: types, TTLs, targets, zones, the failover-alarm method, and the drill record's
//! safe name; DNS names compared as Route 53 reads them.

use super::{is_aws_id, Problems};
use crate::plan::{DnsMethod, DnsRecordPlan, Plan, ResourceKind};
use std::collections::{HashMap, HashSet};

pub(super) const RECORD_TYPES: [&str; 3] = ["A", "AAAA", "CNAME"];

/// Route 53 accepts larger TTLs, but a DR record with a long TTL keeps clients on the dead region.
pub(super) const MAX_TTL_SECONDS: i64 = 86_400;

pub(super) fn check_dns(plan: &Plan, instance_names: &HashSet<String>, p: &mut Problems) {
    let mut record_names: HashMap<String, String> = HashMap::new();
    for (i, record) in plan.dns.iter().enumerate() {
        let at = format!("dns[{i}]");
        if record.hosted_zone_id.trim().is_empty() {
            p.add(
                format!("{at}.hostedZoneId"),
                "is missing",
                "set the id of the Route 53 hosted zone that holds the record, e.g. \"Z0123456789ABC\"",
            );
        }
        if record.record_name.trim().is_empty() {
            p.add(
                format!("{at}.recordName"),
                "is missing",
                "set the production record name, e.g. \"app.example.com\"",
            );
        }
        if record.drill_record_name.trim().is_empty() {
            p.add(
                format!("{at}.drillRecordName"),
                "is missing",
                "set a record only drills write, e.g. \"drill.app.example.com\"",
            );
        } else {
            match normalize_dns_name(&record.drill_record_name) {
                Err(why) => p.add(
                    format!("{at}.drillRecordName"),
                    format!("\"{}\" {why}", record.drill_record_name),
                    "use a plain DNS name such as \"drill.app.example.com\"",
                ),
                Ok(drill) if is_wildcard(&drill) => p.add(
                    format!("{at}.drillRecordName"),
                    format!("\"{}\" is a wildcard name", record.drill_record_name),
                    "a wildcard would answer for production names: use one plain name such as \"drill.app.example.com\"",
                ),
                Ok(drill) => {
                    let production = plan
                        .dns
                        .iter()
                        .any(|other| dns_name(&other.record_name) == drill);
                    if production {
                        p.add(
                            format!("{at}.drillRecordName"),
                            format!(
                                "\"{}\" is a production record of this plan (compared as Route 53 reads it: case, trailing dot and escapes)",
                                record.drill_record_name
                            ),
                            "a drill must never write production DNS: use a separate name such as \"drill.app.example.com\"",
                        );
                    }
                }
            }
        }
        if let Err(why) = normalize_dns_name(&record.record_name) {
            if !record.record_name.trim().is_empty() {
                p.add(
                    format!("{at}.recordName"),
                    format!("\"{}\" {why}", record.record_name),
                    "use the record's DNS name, e.g. \"app.example.com\"",
                );
            }
        }
        for (field, name) in [
            ("recordName", &record.record_name),
            ("drillRecordName", &record.drill_record_name),
        ] {
            if name.trim().is_empty() {
                continue;
            }
            let key = dns_name(name);
            let here = format!("{at}.{field}");
            if let Some(first) = record_names.get(&key) {
                p.add(
                    &here,
                    format!("record \"{name}\" is also {first}"),
                    "each record may be switched by one entry only",
                );
            } else {
                record_names.insert(key, here);
            }
        }
        if !RECORD_TYPES.contains(&record.record_type.as_str()) {
            p.add(
                format!("{at}.recordType"),
                if record.record_type.is_empty() {
                    "is missing".to_string()
                } else {
                    format!("unsupported record type \"{}\"", record.record_type)
                },
                format!("use one of {}", RECORD_TYPES.join(", ")),
            );
        }
        if let Some(ttl) = record.ttl {
            if !(1..=MAX_TTL_SECONDS).contains(&ttl) {
                p.add(
                    format!("{at}.ttl"),
                    format!("must be between 1 and {MAX_TTL_SECONDS} seconds, got {ttl}"),
                    "use a short TTL such as 60 so clients follow a failover quickly",
                );
            }
        }
        check_dns_target(plan, &at, record, instance_names, p);
        check_dns_method(&at, record, p);
    }
}

/// A failover-alarm record needs its alarm and Elastic IP, and can only point at an instance
/// (the SECONDARY record holds the Elastic IP's address, set ahead of time).
pub(super) fn check_dns_method(at: &str, record: &DnsRecordPlan, p: &mut Problems) {
    match record.method {
        DnsMethod::Upsert => {
            for (field, set) in [
                ("alarmName", record.alarm_name.is_some()),
                (
                    "elasticIpAllocationId",
                    record.elastic_ip_allocation_id.is_some(),
                ),
            ] {
                if set {
                    p.add(
                        format!("{at}.{field}"),
                        "is only used with method \"failoverAlarm\"",
                        "set method to \"failoverAlarm\" (a failover-routing pair set up ahead of time), or remove the field",
                    );
                }
            }
        }
        DnsMethod::FailoverAlarm => {
            match record.alarm_name.as_deref().map(str::trim) {
                None | Some("") => p.add(
                    format!("{at}.alarmName"),
                    "is missing",
                    "name the DR-region CloudWatch alarm the PRIMARY record's health check follows (docs/reference.md: DNS without us-east-1)",
                ),
                Some(name) if name.len() > 255 || name.chars().any(|c| c.is_control() || !c.is_ascii()) => p.add(
                    format!("{at}.alarmName"),
                    "must be 1 to 255 printable ASCII characters",
                    "use the alarm's exact name, e.g. \"backstop-app-failover\"",
                ),
                Some(_) => {}
            }
            match record.elastic_ip_allocation_id.as_deref() {
                None | Some("") => p.add(
                    format!("{at}.elasticIpAllocationId"),
                    "is missing",
                    "allocate an Elastic IP in the DR region, point the SECONDARY record at it, and give its allocation id, e.g. \"eipalloc-0123456789abcdef0\"",
                ),
                Some(id) if !is_aws_id(id, "eipalloc-") => p.add(
                    format!("{at}.elasticIpAllocationId"),
                    format!("\"{id}\" is not an Elastic IP allocation id"),
                    "use the AllocationId of the DR-region Elastic IP, e.g. \"eipalloc-0123456789abcdef0\"",
                ),
                Some(_) => {}
            }
            if record.target.instance.is_none() || record.target.resource.is_some() {
                p.add(
                    format!("{at}.target.instance"),
                    "a failoverAlarm record must point at an instance",
                    "set target.instance: the failover moves the Elastic IP the SECONDARY record holds to that instance",
                );
            }
            if !record.record_type.is_empty() && record.record_type != "A" {
                p.add(
                    format!("{at}.recordType"),
                    format!(
                        "a failoverAlarm record is type A (an Elastic IP), got \"{}\"",
                        record.record_type
                    ),
                    "use type A",
                );
            }
        }
    }
}

pub(super) fn check_dns_target(
    plan: &Plan,
    at: &str,
    record: &DnsRecordPlan,
    instance_names: &HashSet<String>,
    p: &mut Problems,
) {
    let field = format!("{at}.target");
    match (&record.target.instance, &record.target.resource) {
        (Some(instance), None) => {
            if !instance_names.contains(instance) {
                p.add(
                    format!("{field}.instance"),
                    format!("\"{instance}\" is not an instance of this plan"),
                    "use the name of an entry in instances",
                );
            }
            if record.record_type == "CNAME" {
                p.add(
                    format!("{at}.recordType"),
                    "a CNAME cannot point at an instance's IP address",
                    "use type A for an instance target",
                );
            }
        }
        (None, Some(resource)) => match plan.resource(resource) {
            None => p.add(
                format!("{field}.resource"),
                format!("\"{resource}\" is not a resource of this plan"),
                "use the name of an entry in resources",
            ),
            Some(r) if r.kind != ResourceKind::Rds => p.add(
                format!("{field}.resource"),
                format!(
                    "\"{resource}\" is a {} resource, which has no DNS endpoint",
                    r.kind
                ),
                "point the record at an rds resource or at an instance",
            ),
            Some(_) if record.record_type != "CNAME" && !record.record_type.is_empty() => p.add(
                format!("{at}.recordType"),
                "an RDS endpoint is a host name",
                "use type CNAME for an rds target",
            ),
            Some(r) if r.optional => p.add(
                format!("{field}.resource"),
                format!("\"{resource}\" is optional: a run may go on without it, and the record would point nowhere"),
                "make the resource required (remove optional), or point the record elsewhere",
            ),
            Some(_) => {}
        },
        _ => p.add(
            field,
            "must name exactly one of instance or resource",
            "set target.instance to an instance name, or target.resource to an rds resource name",
        ),
    }
}

pub(super) fn dns_name(name: &str) -> String {
    normalize_dns_name(name).unwrap_or_else(|_| name.trim().to_ascii_lowercase())
}

/// A DNS name as Route 53 reads it: escapes decoded (`\141` is `a`, `\.` a literal dot
/// inside a label), ASCII case folded, the trailing dot dropped. Labels are joined with `.`;
/// a literal dot inside a label stays escaped so it cannot pass for a label boundary.
pub fn normalize_dns_name(name: &str) -> Result<String, String> {
    let name = name.trim();
    let name = name.strip_suffix('.').unwrap_or(name);
    let mut labels: Vec<String> = vec![String::new()];
    let mut chars = name.chars().peekable();
    while let Some(c) = chars.next() {
        let decoded = match c {
            '\\' => {
                let digits: String = std::iter::from_fn(|| chars.next_if(char::is_ascii_digit))
                    .take(3)
                    .collect();
                if digits.is_empty() {
                    chars.next().ok_or("ends with a lone backslash")?
                } else if digits.len() == 3 {
                    let code = u32::from_str_radix(&digits, 8)
                        .map_err(|_| format!("\\{digits} is not a valid escape"))?;
                    char::from_u32(code)
                        .filter(|_| code <= 0o377)
                        .ok_or(format!("\\{digits} is not a valid escape"))?
                } else {
                    return Err(format!("\\{digits} is not a three-digit escape"));
                }
            }
            '.' => {
                labels.push(String::new());
                continue;
            }
            // Route 53 takes other characters (spaces, control characters, non-ASCII) only
            // as \ddd escapes; an internationalized name goes in its punycode form
            other if !other.is_ascii_graphic() => {
                return Err(format!(
                    "holds {other:?}, which a DNS name may carry only as an octal escape (\\ddd); use its ASCII (punycode) form"
                ))
            }
            other => other,
        };
        let label = labels.last_mut().expect("at least one label");
        match decoded {
            '.' => label.push_str("\\."),
            other => label.push(other.to_ascii_lowercase()),
        }
    }
    if labels.iter().any(String::is_empty) {
        return Err("has an empty label (two dots in a row, or a leading dot)".into());
    }
    if labels.iter().any(|label| label.len() > 63) {
        return Err("has a label longer than 63 characters".into());
    }
    let joined = labels.join(".");
    if joined.len() > 253 {
        return Err("is longer than 253 characters".into());
    }
    Ok(joined)
}

/// Whether a (normalized) name is a wildcard or holds one: Route 53 reads `*` as one only as
/// the leftmost label, but no drill name should carry one anywhere.
pub fn is_wildcard(normalized: &str) -> bool {
    normalized.split('.').any(|label| label.contains('*'))
}
