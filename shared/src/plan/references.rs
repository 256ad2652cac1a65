//! `${...}` in a post-launch action's or a validation's parameters: what the run recovered,
//! known only once it exists.
//!
//! - `${restored.<resource>.endpoint}`: where clients connect (a database's address)
//! - `${restored.<resource>.arn}`: the restored resource's ARN
//! - `${instances.<instance>.privateIp}`, `${instances.<instance>.instanceId}`
//! - `${run.id}`, `${run.mode}`
//!
//! `$` not followed by `{` is left alone (shell variables stay shell variables); `$${` writes
//! a literal `${`.

use std::fmt;

/// One reference, as written.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Reference {
    RestoredEndpoint(String),
    RestoredArn(String),
    InstancePrivateIp(String),
    InstanceId(String),
    RunId,
    RunMode,
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::RestoredEndpoint(name) => write!(f, "${{restored.{name}.endpoint}}"),
            Self::RestoredArn(name) => write!(f, "${{restored.{name}.arn}}"),
            Self::InstancePrivateIp(name) => write!(f, "${{instances.{name}.privateIp}}"),
            Self::InstanceId(name) => write!(f, "${{instances.{name}.instanceId}}"),
            Self::RunId => f.write_str("${run.id}"),
            Self::RunMode => f.write_str("${run.mode}"),
        }
    }
}

const FORMS: &str = "${restored.<resource>.endpoint|arn}, ${instances.<instance>.privateIp|instanceId}, ${run.id} or ${run.mode}";

fn parse_one(inner: &str) -> Result<Reference, String> {
    let parts: Vec<&str> = inner.split('.').collect();
    let reference = match parts.as_slice() {
        ["restored", name, "endpoint"] => Reference::RestoredEndpoint(name.to_string()),
        ["restored", name, "arn"] => Reference::RestoredArn(name.to_string()),
        ["instances", name, "privateIp"] => Reference::InstancePrivateIp(name.to_string()),
        ["instances", name, "instanceId"] => Reference::InstanceId(name.to_string()),
        ["run", "id"] => Reference::RunId,
        ["run", "mode"] => Reference::RunMode,
        _ => return Err(format!("${{{inner}}} is not one of {FORMS}")),
    };
    Ok(reference)
}

/// Text split into literal pieces and references.
enum Piece<'a> {
    Text(&'a str),
    Ref(Reference),
}

fn pieces(text: &str) -> Result<Vec<Piece<'_>>, String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("${") {
        if at > 0 && rest[..at].ends_with('$') {
            // `$${` is a literal `${`
            out.push(Piece::Text(&rest[..at - 1]));
            out.push(Piece::Text("${"));
            rest = &rest[at + 2..];
            continue;
        }
        out.push(Piece::Text(&rest[..at]));
        let Some(end) = rest[at..].find('}') else {
            return Err(format!("\"{}\" opens ${{ without closing it", &rest[at..]));
        };
        out.push(Piece::Ref(parse_one(&rest[at + 2..at + end])?));
        rest = &rest[at + end + 1..];
    }
    out.push(Piece::Text(rest));
    Ok(out)
}

/// The references in `text`, or what is wrong with one.
pub fn references_in(text: &str) -> Result<Vec<Reference>, String> {
    Ok(pieces(text)?
        .into_iter()
        .filter_map(|piece| match piece {
            Piece::Ref(reference) => Some(reference),
            Piece::Text(_) => None,
        })
        .collect())
}

/// `text` with each reference replaced by `value(reference)`; the first reference without a
/// value is the error.
pub fn substitute(
    text: &str,
    value: impl Fn(&Reference) -> Option<String>,
) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    for piece in pieces(text)? {
        match piece {
            Piece::Text(literal) => out.push_str(literal),
            Piece::Ref(reference) => match value(&reference) {
                Some(v) => out.push_str(&v),
                None => return Err(format!("{reference} has no value")),
            },
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_found_and_replaced_and_shell_variables_are_left_alone() {
        let text = "DB=${restored.orders-db.endpoint} HOST=$HOSTNAME ip=${instances.app.privateIp} run ${run.id} $${literal}";
        assert_eq!(
            references_in(text).unwrap(),
            [
                Reference::RestoredEndpoint("orders-db".into()),
                Reference::InstancePrivateIp("app".into()),
                Reference::RunId
            ]
        );
        let replaced = substitute(text, |r| match r {
            Reference::RestoredEndpoint(_) => Some("db.example".into()),
            Reference::InstancePrivateIp(_) => Some("10.0.0.5".into()),
            Reference::RunId => Some("drill-1".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(
            replaced,
            "DB=db.example HOST=$HOSTNAME ip=10.0.0.5 run drill-1 ${literal}"
        );
        assert!(substitute("${run.mode}", |_| None)
            .unwrap_err()
            .contains("${run.mode} has no value"));
    }

    #[test]
    fn a_malformed_reference_says_which_forms_exist() {
        for bad in [
            "${restored.db}",
            "${instances.app.publicIp}",
            "${stack.Out}",
            "x ${run.id",
        ] {
            let err = references_in(bad).unwrap_err();
            assert!(
                err.contains("is not one of") || err.contains("without closing"),
                "{bad}: {err}"
            );
        }
    }
}
