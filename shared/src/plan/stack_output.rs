//! `{"stackOutput": "PrivateSubnetA"}` in place of a subnet, security group, DB subnet group or
//! AZ: the value comes from the DR network stack's outputs once the stack is ready.
//!
//! In memory a reference is kept in the setting's own `String` as a marker no AWS id can
//! look like, so every step handles one type; (de)serialization turns it back into the
//! object form the operator wrote. [`Plan::with_stack_outputs`] swaps the markers for values.

use std::collections::{BTreeMap, BTreeSet};

use serde::de::{self, Deserializer};
use serde::ser::{SerializeSeq, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Plan;
use crate::error::BackstopError;
use crate::error::PlanProblem;

const MARKER_OPEN: &str = "{{stackOutput:";
const MARKER_CLOSE: &str = "}}";
/// The key of the object form, `{"stackOutput": "Name"}`.
const KEY: &str = "stackOutput";

/// The in-memory marker of a reference to output `name`.
pub fn marker(name: &str) -> String {
    format!("{MARKER_OPEN}{name}{MARKER_CLOSE}")
}

/// The output a setting references, if it is a reference.
pub fn referenced(value: &str) -> Option<&str> {
    value
        .strip_prefix(MARKER_OPEN)
        .and_then(|rest| rest.strip_suffix(MARKER_CLOSE))
}

/// A setting as written: an id, or a reference to a stack output.
#[derive(Deserialize, Serialize)]
#[serde(untagged)]
enum Written {
    Literal(String),
    Output {
        #[serde(rename = "stackOutput")]
        stack_output: String,
    },
}

impl Written {
    fn into_setting<E: de::Error>(self) -> Result<String, E> {
        match self {
            Written::Literal(text) if referenced(&text).is_some() => Err(E::custom(format!(
                "write a stack output as {{\"{KEY}\": \"Name\"}}, not {text:?}"
            ))),
            Written::Literal(text) => Ok(text),
            Written::Output { stack_output } => Ok(marker(&stack_output)),
        }
    }

    fn of(setting: &str) -> Written {
        match referenced(setting) {
            Some(name) => Written::Output {
                stack_output: name.to_string(),
            },
            None => Written::Literal(setting.to_string()),
        }
    }
}

/// `#[serde(with = "stack_output::one")]` for an `Option<String>` setting.
pub mod one {
    use super::*;

    pub fn serialize<S: Serializer>(value: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(setting) => Written::of(setting).serialize(s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        Option::<Written>::deserialize(d)?
            .map(Written::into_setting)
            .transpose()
    }
}

/// `#[serde(with = "stack_output::many")]` for a `Vec<String>` setting.
pub mod many {
    use super::*;

    pub fn serialize<S: Serializer>(values: &[String], s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(values.len()))?;
        for setting in values {
            seq.serialize_element(&Written::of(setting))?;
        }
        seq.end()
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
        Vec::<Written>::deserialize(d)?
            .into_iter()
            .map(Written::into_setting)
            .collect()
    }
}

/// Every reference in a serialized plan (or part of one): `(field path, output name)`.
pub fn references_in(value: &Value) -> Vec<(String, String)> {
    let mut found = Vec::new();
    walk(value, "plan", &mut |path, name| {
        found.push((path.to_string(), name.to_string()));
        None
    });
    found
}

/// Visits every `{"stackOutput": name}` object; `replace` may return what stands in its place.
fn walk(value: &Value, path: &str, visit: &mut dyn FnMut(&str, &str) -> Option<Value>) -> Value {
    match value {
        Value::Object(map) => {
            if let (1, Some(Value::String(name))) = (map.len(), map.get(KEY)) {
                return visit(path, name).unwrap_or_else(|| value.clone());
            }
            Value::Object(
                map.iter()
                    .map(|(key, item)| (key.clone(), walk(item, &format!("{path}.{key}"), visit)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, item)| walk(item, &format!("{path}[{i}]"), visit))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// What to do with a reference whose output is not known (yet).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unknown {
    /// Refuse: the run needs every output it references.
    Refuse,
    /// Leave the setting out (a check before the stack exists skips what it cannot know).
    Drop,
}

impl Plan {
    /// The stack outputs the plan references, by name.
    pub fn referenced_outputs(&self) -> BTreeSet<String> {
        references_in(&serde_json::to_value(self).unwrap_or_default())
            .into_iter()
            .map(|(_, name)| name)
            .collect()
    }

    /// Whether this part of the plan (a resource, an instance) waits for the stack's outputs.
    pub fn needs_stack<T: Serialize>(part: &T) -> bool {
        !references_in(&serde_json::to_value(part).unwrap_or_default()).is_empty()
    }

    /// The plan with every reference replaced by the output's value. `Refuse`: an output the
    /// stack does not have is an invalid plan naming every field that references it.
    pub fn with_stack_outputs(
        &self,
        stack: &str,
        outputs: &BTreeMap<String, String>,
        unknown: Unknown,
    ) -> Result<Plan, BackstopError> {
        let value = serde_json::to_value(self).map_err(|err| {
            BackstopError::invalid_input("plan", format!("cannot be serialized: {err}"))
        })?;
        let mut problems = Vec::new();
        let resolved = walk(&value, "plan", &mut |path, name| match outputs.get(name) {
            Some(output) => Some(Value::String(output.clone())),
            None if unknown == Unknown::Drop => Some(Value::Null),
            None => {
                problems.push(PlanProblem {
                    field: path.to_string(),
                    message: format!(
                        "references output {name:?}, which stack {stack} does not have"
                    ),
                    fix: format!(
                        "add the output {name} to the network template, or reference one of: {}",
                        outputs.keys().cloned().collect::<Vec<_>>().join(", ")
                    ),
                });
                None
            }
        });
        if !problems.is_empty() {
            return Err(BackstopError::InvalidPlan(problems));
        }
        let resolved = drop_nulls_in_lists(resolved);
        serde_json::from_value(resolved).map_err(|err| {
            BackstopError::invalid_input(
                "plan",
                format!("with the stack's outputs filled in, is not a valid plan: {err}"),
            )
        })
    }
}

/// A dropped reference inside a list leaves the list without it (a `null` would not parse).
fn drop_nulls_in_lists(value: Value) -> Value {
    match value {
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .filter(|item| !item.is_null())
                .map(drop_nulls_in_lists)
                .collect(),
        ),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(key, item)| (key, drop_nulls_in_lists(item)))
                .collect(),
        ),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn plan(network: bool) -> Value {
        let mut plan = json!({
            "name": "shop",
            "drRegion": "us-west-2",
            "backupVault": "backstop-dr",
            "objectives": {"rtoMinutes": 60, "rpoMinutes": 240},
            "resources": [
                {"name": "data", "kind": "ebs", "arn": "arn:aws:ec2:us-east-1:111122223333:volume/vol-0abc1234",
                 "ebs": {"availabilityZone": {"stackOutput": "AvailabilityZoneA"}, "attachTo": {"instance": "app", "device": "/dev/sdf"}}},
                {"name": "orders", "kind": "rds", "arn": "arn:aws:rds:us-east-1:111122223333:db:orders",
                 "rds": {"dbSubnetGroupName": {"stackOutput": "DbSubnetGroupName"}, "vpcSecurityGroupIds": [{"stackOutput": "DbSecurityGroup"}]}}
            ],
            "instances": [
                {"name": "app", "ami": {"id": "ami-0abc1234"}, "instanceTypes": ["t3.small"],
                 "subnetIds": [{"stackOutput": "PrivateSubnetA"}, "subnet-0abc1234"],
                 "securityGroupIds": [{"stackOutput": "AppSecurityGroup"}]}
            ]
        });
        if network {
            plan["network"] = json!({"stackName": "shop-dr-network", "template": "s3://shop-templates/network.yaml"});
        }
        plan
    }

    fn outputs(names: &[&str]) -> BTreeMap<String, String> {
        names
            .iter()
            .map(|n| (n.to_string(), format!("value-of-{n}")))
            .collect()
    }

    #[test]
    fn references_round_trip_as_the_operator_wrote_them() {
        let parsed = Plan::from_value(plan(true)).unwrap();
        let instance = &parsed.instances[0];
        assert_eq!(referenced(&instance.subnet_ids[0]), Some("PrivateSubnetA"));
        assert_eq!(instance.subnet_ids[1], "subnet-0abc1234");
        assert_eq!(
            serde_json::to_value(&parsed).unwrap()["instances"][0]["subnetIds"],
            plan(true)["instances"][0]["subnetIds"]
        );
        let names: Vec<String> = parsed.referenced_outputs().into_iter().collect();
        assert_eq!(
            names,
            [
                "AppSecurityGroup",
                "AvailabilityZoneA",
                "DbSecurityGroup",
                "DbSubnetGroupName",
                "PrivateSubnetA"
            ]
        );
        assert!(Plan::needs_stack(&parsed.resources[1]));
    }

    #[test]
    fn a_reference_without_a_network_stack_or_with_a_bad_name_is_refused_with_its_field() {
        let err = Plan::from_value(plan(false)).unwrap_err().to_string();
        assert!(err.contains("resources[0].ebs.availabilityZone"), "{err}");
        assert!(err.contains("network.stackName"), "{err}");
        let mut bad = plan(true);
        bad["instances"][0]["subnetIds"][0] = json!({"stackOutput": "Private-Subnet"});
        bad["network"]["template"] = json!("https://example.com/network.yaml");
        let err = Plan::from_value(bad).unwrap_err().to_string();
        assert!(err.contains("instances[0].subnetIds[0]"), "{err}");
        assert!(err.contains("network.template"), "{err}");
        let literal = plan(true).to_string().replace(
            r#"{"stackOutput":"PrivateSubnetA"}"#,
            r#""{{stackOutput:PrivateSubnetA}}""#,
        );
        assert!(Plan::from_json(&literal).is_err());
    }

    #[test]
    fn the_stacks_outputs_fill_every_reference_and_a_missing_one_names_each_field() {
        let parsed = Plan::from_value(plan(true)).unwrap();
        let all = outputs(&[
            "AppSecurityGroup",
            "AvailabilityZoneA",
            "DbSecurityGroup",
            "DbSubnetGroupName",
            "PrivateSubnetA",
        ]);
        let resolved = parsed
            .with_stack_outputs("net", &all, Unknown::Refuse)
            .unwrap();
        assert_eq!(
            resolved.instances[0].subnet_ids,
            ["value-of-PrivateSubnetA", "subnet-0abc1234"]
        );
        assert_eq!(
            resolved.resources[1]
                .rds
                .as_ref()
                .unwrap()
                .db_subnet_group_name
                .as_deref(),
            Some("value-of-DbSubnetGroupName")
        );
        assert!(resolved.referenced_outputs().is_empty());

        let some = outputs(&["PrivateSubnetA"]);
        let err = parsed
            .with_stack_outputs("net", &some, Unknown::Refuse)
            .unwrap_err()
            .to_string();
        assert!(err.contains("4 problems"), "{err}");
        assert!(
            err.contains("plan.resources[1].rds.dbSubnetGroupName"),
            "{err}"
        );

        let dropped = parsed
            .with_stack_outputs("net", &some, Unknown::Drop)
            .unwrap();
        assert_eq!(
            dropped.instances[0].security_group_ids,
            Vec::<String>::new()
        );
        assert_eq!(
            dropped.resources[0].ebs.as_ref().unwrap().availability_zone,
            None
        );
    }
}
