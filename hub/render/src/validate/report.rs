//! Turning schema violations into [`Problem`]s: the field as a dotted path
//! (`spec.template.spec.containers[0].ports[0].containerPort`, `metadata.labels["app.kubernetes.io/name"]`)
//! and a message that says what is wrong in Kubernetes terms.

use jsonschema::{ValidationError, error::TypeKind, error::ValidationErrorKind};
use serde_json::Value;

use super::{Problem, builtin::QUANTITY_PATTERN};

/// Who the problems are about.
#[derive(Debug)]
pub(super) struct Subject<'a> {
    /// Position of the object in the validated list.
    pub(super) index: usize,
    /// `Kind/namespace/name`.
    pub(super) object: &'a str,
    /// The object itself, to tell list indices from map keys.
    pub(super) instance: &'a Value,
    /// `kind apiVersion`, for unknown-field messages.
    pub(super) kind: &'a str,
}

/// Appends the problems one violation describes (an unknown-fields violation lists each field).
pub(super) fn push(subject: &Subject<'_>, error: &ValidationError<'_>, out: &mut Vec<Problem>) {
    let pointer = error.instance_path().as_str();
    let field = field_path(subject.instance, pointer);
    let problem = |field: String, message: String| Problem {
        index: subject.index,
        object: subject.object.to_owned(),
        field,
        message,
    };
    match error.kind() {
        ValidationErrorKind::AdditionalProperties { unexpected } => {
            for name in unexpected {
                out.push(problem(
                    child(&field, name),
                    format!(
                        "unknown field: the {} schema has no field {name:?} here; check its \
                         spelling and indentation",
                        subject.kind
                    ),
                ));
            }
        }
        ValidationErrorKind::Required { property } => {
            let name = property
                .as_str()
                .map_or_else(|| property.to_string(), str::to_owned);
            out.push(problem(
                child(&field, &name),
                "required field is missing; add it".to_owned(),
            ));
        }
        ValidationErrorKind::Type { kind } => {
            let expected = match kind {
                TypeKind::Single(single) => article(single.as_str()),
                TypeKind::Multiple(set) => set
                    .iter()
                    .filter(|t| t.as_str() != "null")
                    .map(|t| article(t.as_str()))
                    .collect::<Vec<_>>()
                    .join(" or "),
            };
            out.push(problem(
                field,
                format!("must be {expected}, but is {}", describe(error.instance())),
            ));
        }
        ValidationErrorKind::Enum { options } => {
            let options = match options.as_ref() {
                Value::Array(options) => options
                    .iter()
                    .filter(|o| !o.is_null())
                    .map(Value::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
                other => other.to_string(),
            };
            out.push(problem(
                field,
                format!(
                    "must be one of {options}, but is {}",
                    describe(error.instance())
                ),
            ));
        }
        ValidationErrorKind::Pattern { pattern } if pattern == QUANTITY_PATTERN => {
            out.push(problem(
                field,
                format!(
                    "{} is not a quantity; write a number with an optional suffix, such as \
                     500m, 1.5, 128Mi or 2Gi",
                    error.instance()
                ),
            ));
        }
        _ => out.push(problem(field, error.to_string())),
    }
}

/// Renders a JSON pointer into `instance` as a dotted path, with `[i]` for list items and
/// `["key"]` for keys that are not plain identifiers.
pub(super) fn field_path(instance: &Value, pointer: &str) -> String {
    let mut out = String::new();
    let mut current = Some(instance);
    for raw in pointer.split('/').skip(1) {
        let segment = raw.replace("~1", "/").replace("~0", "~");
        match current {
            Some(Value::Array(items)) => {
                let item = segment.parse::<usize>().ok();
                out.push('[');
                out.push_str(&segment);
                out.push(']');
                current = item.and_then(|i| items.get(i));
            }
            other => {
                current = other.and_then(|value| value.get(&segment));
                out = child(&out, &segment);
            }
        }
    }
    out
}

/// `parent.name`, or `parent["name"]` when the name is not a plain identifier.
fn child(parent: &str, name: &str) -> String {
    let plain = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !plain {
        format!("{parent}[{name:?}]")
    } else if parent.is_empty() {
        name.to_owned()
    } else {
        format!("{parent}.{name}")
    }
}

/// "an integer", "a string".
fn article(type_name: &str) -> String {
    match type_name {
        "integer" | "object" | "array" => format!("an {type_name}"),
        "null" => "null".to_owned(),
        other => format!("a {other}"),
    }
}

/// A value in words, short: `the string "three"`, `an object`.
fn describe(value: &Value) -> String {
    const LONGEST: usize = 60;
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => format!("the boolean {b}"),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) if s.chars().count() > LONGEST => {
            let head: String = s.chars().take(LONGEST).collect();
            format!("the string \"{head}...\"")
        }
        Value::String(s) => format!("the string {s:?}"),
        Value::Array(_) => "a list".to_owned(),
        Value::Object(_) => "a map".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn paths_tell_list_items_from_map_keys() {
        let instance = json!({
            "spec": {"containers": [{"ports": [{"containerPort": "80"}]}]},
            "metadata": {"labels": {"app.kubernetes.io/name": 1, "0": 2}}
        });
        assert_eq!(
            field_path(&instance, "/spec/containers/0/ports/0/containerPort"),
            "spec.containers[0].ports[0].containerPort"
        );
        assert_eq!(
            field_path(&instance, "/metadata/labels/app.kubernetes.io~1name"),
            "metadata.labels[\"app.kubernetes.io/name\"]"
        );
        assert_eq!(
            field_path(&instance, "/metadata/labels/0"),
            "metadata.labels.0"
        );
        assert_eq!(field_path(&instance, ""), "");
    }

    #[test]
    fn values_are_described_briefly() {
        assert_eq!(describe(&json!("three")), "the string \"three\"");
        assert_eq!(describe(&json!(1.5)), "the number 1.5");
        assert!(describe(&json!("x".repeat(100))).ends_with("...\""));
        assert_eq!(article("integer"), "an integer");
    }
}
