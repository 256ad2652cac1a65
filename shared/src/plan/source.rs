//! Where a run gets its plan: inline in the execution input, from an SSM parameter, or from
//! an S3 object, all in the DR region (so a failover never reads the primary region). Reading a
//! stored plan is `aws::plan_source`'s.

use serde_json::Value;

use crate::error::BackstopError;

#[derive(Debug, Clone, PartialEq)]
pub enum PlanSource {
    Inline(Value),
    SsmParameter(String),
    S3Object { bucket: String, key: String },
}

impl PlanSource {
    /// Exactly one of `plan`, `planParameter` and `planObject` must be given in the execution input.
    pub fn from_input(
        plan: Option<Value>,
        plan_parameter: Option<String>,
        plan_object: Option<String>,
    ) -> Result<Self, BackstopError> {
        let given = [
            plan.is_some(),
            plan_parameter.is_some(),
            plan_object.is_some(),
        ];
        if given.iter().filter(|given| **given).count() > 1 {
            return Err(BackstopError::invalid_input(
                "planParameter",
                "more than one of `plan`, `planParameter` and `planObject` is given; keep only one",
            ));
        }
        match (plan, plan_parameter, plan_object) {
            (Some(plan), _, _) => Ok(Self::Inline(plan)),
            (_, Some(name), _) if name.trim().is_empty() => Err(BackstopError::invalid_input(
                "planParameter",
                "is empty; give the name of the SSM parameter holding the plan JSON",
            )),
            (_, Some(name), _) => match ssm_parameter_name_problem(&name) {
                None => Ok(Self::SsmParameter(name)),
                Some(problem) => Err(BackstopError::invalid_input(
                    "planParameter",
                    format!(
                        "{:?} {problem}; give the SSM parameter's name (e.g. \"/backstop/plan\") or ARN",
                        crate::error::shorten(&name, 80)
                    ),
                )),
            },
            (_, _, Some(uri)) => Self::s3_object(&uri),
            (None, None, None) => Err(BackstopError::invalid_input(
                "plan",
                "no plan given; set `plan` to the plan JSON, `planParameter` to an SSM parameter name or `planObject` to s3://bucket/key",
            )),
        }
    }

    fn s3_object(uri: &str) -> Result<Self, BackstopError> {
        let parsed = parse_s3_uri(uri);
        match parsed {
            Some((bucket, key)) => Ok(Self::S3Object {
                bucket: bucket.to_string(),
                key: key.to_string(),
            }),
            None => Err(BackstopError::invalid_input(
                "planObject",
                format!(
                    "\"{}\" is not an S3 object URI; use s3://<bucket>/<key>, e.g. s3://my-run-state-bucket/plans/shop.json",
                    crate::error::truncate_chars(uri, 100)
                ),
            )),
        }
    }
}

/// `(bucket, key)` of an `s3://bucket/key` address, if it is one S3 would accept.
pub fn parse_s3_uri(uri: &str) -> Option<(&str, &str)> {
    uri.strip_prefix("s3://")
        .and_then(|rest| rest.split_once('/'))
        .filter(|(bucket, key)| {
            (3..=63).contains(&bucket.len())
                && bucket
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
                && !key.is_empty()
                && key.len() <= 1024
                && !key.chars().any(char::is_control)
        })
}

/// Why `name` cannot name an SSM parameter (GetParameter would refuse it or miss), if it
/// cannot: a name of letters, digits and `_.-/` (an optional `:version` or `:label` selector),
/// or the parameter's ARN, at most 1011 characters in all.
fn ssm_parameter_name_problem(name: &str) -> Option<&'static str> {
    if name.len() > 1011 {
        return Some("is longer than the 1011 characters an SSM parameter name may have");
    }
    let bare = match name.strip_prefix("arn:") {
        Some(rest) => match rest.split_once(":parameter") {
            Some((scope, bare)) if scope.split(':').count() == 4 && scope.contains(":ssm:") => bare,
            _ => {
                return Some(
                    "is not an SSM parameter ARN (arn:aws:ssm:<region>:<account>:parameter/<name>)",
                )
            }
        },
        None => name,
    };
    let (path, selector) = bare.split_once(':').unwrap_or((bare, ""));
    let allowed = |c: char| c.is_ascii_alphanumeric() || "_.-".contains(c);
    if path.is_empty()
        || !path.chars().all(|c| allowed(c) || c == '/')
        || !selector.chars().all(allowed)
    {
        return Some(
            "holds characters an SSM parameter name cannot (letters, digits and _.-/ only)",
        );
    }
    None
}

/// The JSON a stored plan holds; text that is not JSON (truncated by a size limit, say) is the
/// source's problem, named by `field`, not a field of the plan's.
pub fn json_of(field: &str, source: &str, text: &str) -> Result<serde_json::Value, BackstopError> {
    serde_json::from_str(text).map_err(|err| {
        BackstopError::invalid_input(
            field,
            format!(
                "{source} does not hold valid JSON ({err}; {} characters): store the whole plan there (a plan over 4 KB needs --tier Advanced, over 8 KB an S3 object)",
                text.chars().count()
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plan_parameter_must_be_a_name_or_arn_ssm_would_accept() {
        for good in [
            "/backstop/plan",
            "backstop-plan_v2.json",
            "/backstop/plan:3",
            "/backstop/plan:prod",
            "arn:aws:ssm:us-west-2:123456789012:parameter/backstop/plan",
        ] {
            assert_eq!(ssm_parameter_name_problem(good), None, "{good}");
        }
        for bad in [
            "/backstop/plan\u{0}",
            "/backstop/plan; rm -rf /",
            "/backstop/plän",
            "arn:aws:s3:::bucket/plan",
            &format!("/{}", "p".repeat(1011)),
        ] {
            let err = PlanSource::from_input(None, Some(bad.to_string()), None).unwrap_err();
            assert_eq!(err.error_name(), "Backstop.InvalidInput", "{bad}");
            assert!(err.to_string().contains("planParameter"), "{err}");
        }
    }

    #[test]
    fn a_stored_plan_that_is_not_json_is_the_sources_problem() {
        let truncated = r#"{"name": "shop", "drRegion": "us-west-2", "backupV"#;
        let err = json_of("planParameter", "SSM parameter /backstop/plan", truncated).unwrap_err();
        assert_eq!(err.error_name(), "Backstop.InvalidInput");
        assert!(err.to_string().contains("planParameter"), "{err}");
        assert!(!err.to_string().contains("drRegion"), "{err}");
    }

    #[test]
    fn a_plan_comes_from_exactly_one_source() {
        let object =
            PlanSource::from_input(None, None, Some("s3://run-state/plans/shop.json".into()));
        assert_eq!(
            object.unwrap(),
            PlanSource::S3Object {
                bucket: "run-state".into(),
                key: "plans/shop.json".into()
            }
        );
        for bad in [
            "https://x/plan.json",
            "s3://bucket-only",
            "s3://Bad_Bucket/plan.json",
            "s3:///plan.json",
        ] {
            let err = PlanSource::from_input(None, None, Some(bad.into())).unwrap_err();
            assert!(err.to_string().contains("planObject"), "{bad}: {err}");
        }
        let both = PlanSource::from_input(None, Some("/p".into()), Some("s3://b-1/k".into()));
        assert!(both.unwrap_err().to_string().contains("only one"));
    }
}
