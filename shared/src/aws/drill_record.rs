//! Which drill records are Backstop's. A drill writes a DNS name of the zone, so it must never
//! take over a name someone else uses: a drill record is Backstop's only if Backstop created
//! it, and it says so with an ownership mark written in the same change batch, a TXT record at
//! `_backstop-owner.<drill name>` naming the plan. (Not a TXT at the drill name itself: a CNAME
//! drill record may share its name with no other record.) A name that exists without the mark
//! is refused before anything is created; teardown deletes a record only when the mark names
//! this plan.

use aws_sdk_route53::types::{Change, ChangeAction, ResourceRecord, ResourceRecordSet, RrType};

use crate::error::{BackstopError, SdkContext};

/// The TTL of the ownership mark.
const MARK_TTL: i64 = 300;

/// The name of the ownership mark of `drill_name` (fully qualified, with the final dot).
pub fn mark_name(drill_name: &str) -> String {
    format!("_backstop-owner.{}.", drill_name.trim_end_matches('.'))
}

/// The mark's value (a TXT string, quoted as Route 53 wants it) for `plan`.
pub fn mark_value(plan: &str) -> String {
    format!("\"backstop:plan={plan}\"")
}

/// One record set found at a name: its type and values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenSet {
    pub record_type: String,
    pub values: Vec<String>,
}

/// What Route 53 holds at a drill name and at its mark.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Seen {
    /// Every record set at the drill name (any type).
    pub at_name: Vec<SeenSet>,
    /// The mark's values (empty: no mark).
    pub mark: Vec<String>,
}

/// Whose a drill name is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ownership {
    /// Nothing there: a drill may create it (with its mark).
    Free,
    /// Marked as this plan's: a drill may write it, and teardown may delete it.
    Ours,
    /// Someone else's: why, for the refusal.
    Foreign(String),
}

/// Decides whose the name is from what Route 53 holds there.
pub fn judge(plan: &str, seen: &Seen) -> Ownership {
    if seen.mark.iter().any(|value| *value == mark_value(plan)) {
        return Ownership::Ours;
    }
    if !seen.mark.is_empty() {
        return Ownership::Foreign(format!(
            "its ownership mark names another owner ({})",
            seen.mark.join(", ")
        ));
    }
    if seen.at_name.is_empty() {
        return Ownership::Free;
    }
    let held: Vec<String> = seen
        .at_name
        .iter()
        .map(|set| format!("{} {}", set.record_type, set.values.join(",")))
        .collect();
    Ownership::Foreign(format!(
        "it exists ({}) and Backstop did not create it (no ownership mark)",
        held.join("; ")
    ))
}

/// The record sets at exactly `name` in the zone (any type, or only `of_type`).
pub async fn sets_at(
    route53: &aws_sdk_route53::Client,
    zone_id: &str,
    name: &str,
    of_type: Option<&RrType>,
) -> Result<Vec<ResourceRecordSet>, BackstopError> {
    let fqdn = format!("{}.", name.trim_end_matches('.'));
    let mut request = route53
        .list_resource_record_sets()
        .hosted_zone_id(zone_id)
        .start_record_name(&fqdn)
        .max_items(20);
    if let Some(of_type) = of_type {
        request = request.start_record_type(of_type.clone());
    }
    let listed = request
        .send()
        .await
        .context(format!("reading records at {name}"))?;
    let same = |set: &ResourceRecordSet| {
        set.name()
            .trim_end_matches('.')
            .eq_ignore_ascii_case(fqdn.trim_end_matches('.'))
            && of_type.is_none_or(|t| set.r#type() == t)
    };
    Ok(listed
        .resource_record_sets()
        .iter()
        .filter(|set| same(set))
        .cloned()
        .collect())
}

fn values(set: &ResourceRecordSet) -> Vec<String> {
    set.resource_records()
        .iter()
        .map(|r| r.value().to_string())
        .collect()
}

/// What Route 53 holds at a drill name and its mark: the facts [`judge`] reads, and the
/// record sets as Route 53 has them (a DELETE must match them exactly).
pub struct Observed {
    pub seen: Seen,
    pub sets: Vec<ResourceRecordSet>,
    pub mark: Option<ResourceRecordSet>,
}

/// Reads what Route 53 holds at `drill_name` and at its mark (two calls).
pub async fn observe(
    route53: &aws_sdk_route53::Client,
    zone_id: &str,
    drill_name: &str,
) -> Result<Observed, BackstopError> {
    let sets = sets_at(route53, zone_id, drill_name, None).await?;
    let mark = sets_at(route53, zone_id, &mark_name(drill_name), Some(&RrType::Txt))
        .await?
        .into_iter()
        .next();
    let seen = Seen {
        at_name: sets
            .iter()
            .map(|set| SeenSet {
                record_type: set.r#type().as_str().to_string(),
                values: values(set),
            })
            .collect(),
        mark: mark.iter().flat_map(values).collect(),
    };
    Ok(Observed { seen, sets, mark })
}

/// The UPSERT of the mark, for the change batch that writes the drill record.
pub fn upsert_mark(drill_name: &str, plan: &str) -> Result<Change, BackstopError> {
    mark_change(
        ChangeAction::Upsert,
        drill_name,
        &[mark_value(plan)],
        MARK_TTL,
    )
}

/// The DELETE of a record set as Route 53 holds it (the drill record, or its mark).
pub fn delete(set: ResourceRecordSet) -> Result<Change, BackstopError> {
    Change::builder()
        .action(ChangeAction::Delete)
        .resource_record_set(set)
        .build()
        .map_err(|e| BackstopError::invalid_input("dns", e.to_string()))
}

fn mark_change(
    action: ChangeAction,
    drill_name: &str,
    values: &[String],
    ttl: i64,
) -> Result<Change, BackstopError> {
    let bad =
        |e: aws_sdk_route53::error::BuildError| BackstopError::invalid_input("dns", e.to_string());
    let mut set = ResourceRecordSet::builder()
        .name(mark_name(drill_name))
        .r#type(RrType::Txt)
        .ttl(ttl);
    for value in values {
        set = set.resource_records(
            ResourceRecord::builder()
                .value(value)
                .build()
                .map_err(bad)?,
        );
    }
    Change::builder()
        .action(action)
        .resource_record_set(set.build().map_err(bad)?)
        .build()
        .map_err(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(record_type: &str, value: &str) -> SeenSet {
        SeenSet {
            record_type: record_type.into(),
            values: vec![value.into()],
        }
    }

    #[test]
    fn a_name_nobody_uses_is_free() {
        assert_eq!(judge("shop", &Seen::default()), Ownership::Free);
    }

    #[test]
    fn an_existing_record_without_the_mark_is_someone_elses() {
        let seen = Seen {
            at_name: vec![set("A", "203.0.113.10")],
            mark: vec![],
        };
        let Ownership::Foreign(why) = judge("shop", &seen) else {
            panic!("an unmarked record was taken")
        };
        assert!(why.contains("A 203.0.113.10"), "{why}");
    }

    #[test]
    fn a_record_marked_for_this_plan_is_ours_even_with_other_types_beside_it() {
        let seen = Seen {
            at_name: vec![set("A", "10.1.0.10")],
            mark: vec![mark_value("shop")],
        };
        assert_eq!(judge("shop", &seen), Ownership::Ours);
        // a mark left alone after its record was deleted is still ours to remove
        let mark_only = Seen {
            at_name: vec![],
            mark: vec![mark_value("shop")],
        };
        assert_eq!(judge("shop", &mark_only), Ownership::Ours);
    }

    #[test]
    fn a_mark_of_another_plan_is_not_ours() {
        let seen = Seen {
            at_name: vec![],
            mark: vec![mark_value("billing")],
        };
        assert!(matches!(judge("shop", &seen), Ownership::Foreign(why) if why.contains("billing")));
        // a plan whose name is a prefix of another's is not that plan
        let seen = Seen {
            at_name: vec![set("A", "10.1.0.10")],
            mark: vec![mark_value("shop-eu")],
        };
        assert!(matches!(judge("shop", &seen), Ownership::Foreign(_)));
    }

    #[test]
    fn the_mark_sits_beside_the_name_so_a_cname_can_have_one() {
        assert_eq!(
            mark_name("drill.app.shop.example.com."),
            "_backstop-owner.drill.app.shop.example.com."
        );
        assert_eq!(mark_value("shop"), "\"backstop:plan=shop\"");
    }
}
