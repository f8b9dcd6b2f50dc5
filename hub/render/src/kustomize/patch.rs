//! Patches: strategic merge (Kubernetes merge keys, `$patch: delete` and `$patch: replace`,
//! list order as `kubectl kustomize` leaves it) and JSON 6902 operations.

use serde_json::{Map, Value};

/// The outcome of merging a patch into a map.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Merged {
    Kept,
    Deleted,
}

/// Applies a strategic merge patch to `dest`. `kind` is the kind of the patched object, which
/// picks the merge key of lists whose key differs by kind (`ports`).
pub(crate) fn strategic_merge(dest: &mut Value, patch: &Value, kind: &str) -> Merged {
    match (dest.as_object_mut(), patch.as_object()) {
        (Some(d), Some(p)) => merge_map(d, p, kind),
        _ => {
            *dest = clean(patch);
            Merged::Kept
        }
    }
}

fn directive(m: &Map<String, Value>) -> Option<&str> {
    m.get("$patch").and_then(Value::as_str)
}

fn merge_map(dest: &mut Map<String, Value>, patch: &Map<String, Value>, kind: &str) -> Merged {
    match directive(patch) {
        Some("delete") => return Merged::Deleted,
        Some("replace") => {
            if let Value::Object(m) = clean(&Value::Object(patch.clone())) {
                *dest = m;
            }
            return Merged::Kept;
        }
        _ => {}
    }
    for (k, pv) in patch {
        if k.starts_with('$') {
            continue;
        }
        if pv.is_null() {
            dest.remove(k);
            continue;
        }
        let merged = match (dest.get_mut(k), pv) {
            (Some(Value::Object(d)), Value::Object(p)) => merge_map(d, p, kind),
            (Some(Value::Array(d)), Value::Array(p)) => {
                merge_list(k, d, p, kind);
                Merged::Kept
            }
            (_, Value::Object(p)) if directive(p) == Some("delete") => Merged::Deleted,
            (_, v) => {
                dest.insert(k.clone(), clean(v));
                Merged::Kept
            }
        };
        if merged == Merged::Deleted {
            dest.remove(k);
        }
    }
    Merged::Kept
}

/// The merge key of a list field, by field name (and kind where it differs).
fn known_key(field: &str, kind: &str) -> Option<&'static str> {
    Some(match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "env"
        | "volumes"
        | "imagePullSecrets"
        | "secrets"
        | "resourceClaims"
        | "schedulingGates" => "name",
        "ports" if kind == "Service" => "port",
        "ports" => "containerPort",
        "volumeMounts" => "mountPath",
        "volumeDevices" => "devicePath",
        "hostAliases" => "ip",
        "topologySpreadConstraints" => "topologyKey",
        "conditions" => "type",
        "ownerReferences" => "uid",
        _ => return None,
    })
}

fn merge_list(field: &str, dest: &mut Vec<Value>, patch: &[Value], kind: &str) {
    // `- $patch: replace` replaces the whole list with the other items.
    if patch
        .iter()
        .any(|p| p.as_object().and_then(directive) == Some("replace"))
    {
        *dest = patch
            .iter()
            .filter(|p| p.as_object().and_then(directive) != Some("replace"))
            .map(clean)
            .collect();
        return;
    }
    let keyed = |key: &str, items: &[Value]| {
        items
            .iter()
            .all(|i| i.as_object().is_some_and(|m| m.contains_key(key)))
    };
    let key = known_key(field, kind)
        .filter(|k| keyed(k, dest) && keyed(k, patch))
        .or_else(|| (keyed("name", dest) && keyed("name", patch)).then_some("name"));
    let Some(key) = key else {
        *dest = patch.iter().map(clean).collect();
        return;
    };
    let key_of = |v: &Value| v.get(key).cloned();
    let mut remaining: Vec<Option<Value>> = std::mem::take(dest).into_iter().map(Some).collect();
    let mut out = Vec::new();
    for p in patch {
        let pk = key_of(p);
        let found = remaining
            .iter_mut()
            .find(|slot| slot.as_ref().is_some_and(|d| key_of(d) == pk))
            .and_then(Option::take);
        let is_delete = p.as_object().and_then(directive) == Some("delete");
        match found {
            Some(mut d) => {
                if is_delete {
                    continue;
                }
                if strategic_merge(&mut d, p, kind) == Merged::Kept {
                    out.push(d);
                }
            }
            None if !is_delete => out.push(clean(p)),
            None => {}
        }
    }
    out.extend(remaining.into_iter().flatten());
    *dest = out;
}

/// A patch value with its directives removed, as it lands in an object.
fn clean(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| !k.starts_with('$'))
                .map(|(k, v)| (k.clone(), clean(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .filter(|i| i.as_object().and_then(directive).is_none())
                .map(clean)
                .collect(),
        ),
        v => v.clone(),
    }
}

/// One JSON 6902 operation.
#[derive(Debug, Clone)]
pub(crate) struct Op {
    op: String,
    path: String,
    from: Option<String>,
    value: Option<Value>,
}

/// Reads a JSON 6902 patch (a list of operations) from a parsed YAML or JSON document.
pub(crate) fn parse_json_patch(doc: &Value) -> Result<Vec<Op>, String> {
    let items = doc
        .as_array()
        .ok_or_else(|| "a JSON patch must be a list of operations".to_string())?;
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let m = item
                .as_object()
                .ok_or_else(|| format!("operation {i} is not a map"))?;
            let s = |k: &str| m.get(k).and_then(Value::as_str).map(str::to_string);
            let op = s("op").ok_or_else(|| format!("operation {i} has no \"op\""))?;
            let path = s("path").ok_or_else(|| format!("operation {i} has no \"path\""))?;
            if !matches!(
                op.as_str(),
                "add" | "remove" | "replace" | "move" | "copy" | "test"
            ) {
                return Err(format!("operation {i} has the unknown op {op:?}"));
            }
            let from = s("from");
            if matches!(op.as_str(), "move" | "copy") && from.is_none() {
                return Err(format!("operation {i} ({op}) has no \"from\""));
            }
            let value = m.get("value").cloned();
            if matches!(op.as_str(), "add" | "replace" | "test") && value.is_none() {
                return Err(format!("operation {i} ({op}) has no \"value\""));
            }
            Ok(Op {
                op,
                path,
                from,
                value,
            })
        })
        .collect()
}

fn pointer(path: &str) -> Result<Vec<String>, String> {
    if path.is_empty() {
        return Ok(Vec::new());
    }
    let rest = path
        .strip_prefix('/')
        .ok_or_else(|| format!("the path {path:?} does not start with '/'"))?;
    Ok(rest
        .split('/')
        .map(|s| s.replace("~1", "/").replace("~0", "~"))
        .collect())
}

fn missing(op: &str, path: &str) -> String {
    format!("{op} operation does not apply: doc is missing path: {path}")
}

fn parent<'a>(
    doc: &'a mut Value,
    segs: &[String],
    op: &str,
    path: &str,
) -> Result<&'a mut Value, String> {
    let mut cur = doc;
    for s in segs {
        cur = match cur {
            Value::Object(m) => m.get_mut(s),
            Value::Array(a) => s.parse::<usize>().ok().and_then(|i| a.get_mut(i)),
            _ => None,
        }
        .ok_or_else(|| missing(op, path))?;
    }
    Ok(cur)
}

fn get(doc: &Value, path: &str, op: &str) -> Result<Value, String> {
    let segs = pointer(path)?;
    let mut cur = doc;
    for s in &segs {
        cur = match cur {
            Value::Object(m) => m.get(s),
            Value::Array(a) => s.parse::<usize>().ok().and_then(|i| a.get(i)),
            _ => None,
        }
        .ok_or_else(|| missing(op, path))?;
    }
    Ok(cur.clone())
}

fn add(doc: &mut Value, path: &str, value: Value, op: &str) -> Result<(), String> {
    let segs = pointer(path)?;
    let Some((last, init)) = segs.split_last() else {
        *doc = value;
        return Ok(());
    };
    match parent(doc, init, op, path)? {
        Value::Object(m) => {
            m.insert(last.clone(), value);
            Ok(())
        }
        Value::Array(a) => {
            let i = if last == "-" {
                a.len()
            } else {
                last.parse::<usize>()
                    .ok()
                    .filter(|i| *i <= a.len())
                    .ok_or_else(|| {
                        format!("{op} operation does not apply: index out of range: {path}")
                    })?
            };
            a.insert(i, value);
            Ok(())
        }
        _ => Err(missing(op, path)),
    }
}

fn remove(doc: &mut Value, path: &str, op: &str) -> Result<Value, String> {
    let segs = pointer(path)?;
    let Some((last, init)) = segs.split_last() else {
        return Err(format!(
            "{op} operation does not apply: cannot remove the whole document"
        ));
    };
    match parent(doc, init, op, path)? {
        Value::Object(m) => m.remove(last).ok_or_else(|| missing(op, path)),
        Value::Array(a) => {
            let i = last
                .parse::<usize>()
                .ok()
                .filter(|i| *i < a.len())
                .ok_or_else(|| missing(op, path))?;
            Ok(a.remove(i))
        }
        _ => Err(missing(op, path)),
    }
}

/// Applies JSON 6902 operations to `doc`, in order.
pub(crate) fn apply_json_patch(doc: &mut Value, ops: &[Op]) -> Result<(), String> {
    for o in ops {
        let value = || o.value.clone().unwrap_or(Value::Null);
        match o.op.as_str() {
            "add" => add(doc, &o.path, value(), "add")?,
            "remove" => {
                remove(doc, &o.path, "remove")?;
            }
            "replace" => {
                let segs = pointer(&o.path)?;
                if segs.is_empty() {
                    *doc = value();
                } else {
                    let slot = parent(doc, &segs, "replace", &o.path)?;
                    *slot = value();
                }
            }
            "move" => {
                let from = o.from.as_deref().unwrap_or_default();
                let v = remove(doc, from, "move")?;
                add(doc, &o.path, v, "move")?;
            }
            "copy" => {
                let from = o.from.as_deref().unwrap_or_default();
                let v = get(doc, from, "copy")?;
                add(doc, &o.path, v, "copy")?;
            }
            "test" => {
                let actual = get(doc, &o.path, "test")?;
                if !json_equal(&actual, &value()) {
                    return Err(format!("testing value {} failed: test failed", o.path));
                }
            }
            other => return Err(format!("unknown operation {other:?}")),
        }
    }
    Ok(())
}

/// Equality that treats `1` and `1.0` alike.
pub(crate) fn json_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x == y || x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_equal(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_equal(v, w)))
        }
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn containers_merge_by_name_patch_order_first() {
        let mut d = json!({"spec": {"containers": [
            {"name": "a", "image": "a"}, {"name": "b", "image": "b"}, {"name": "c", "image": "c"}
        ]}});
        let p = json!({"spec": {"containers": [
            {"name": "c", "image": "c2"}, {"name": "d", "image": "d"}, {"name": "a", "$patch": "delete"}
        ]}});
        strategic_merge(&mut d, &p, "Deployment");
        assert_eq!(
            d,
            json!({"spec": {"containers": [
                {"name": "c", "image": "c2"}, {"name": "d", "image": "d"}, {"name": "b", "image": "b"}
            ]}})
        );
    }

    #[test]
    fn lists_without_keys_are_replaced_and_null_deletes() {
        let mut d = json!({"a": [1, 2], "b": {"c": 1, "d": 2}});
        strategic_merge(&mut d, &json!({"a": [3], "b": {"c": null}}), "X");
        assert_eq!(d, json!({"a": [3], "b": {"d": 2}}));
    }

    #[test]
    fn patch_replace_directive_replaces_a_map() {
        let mut d = json!({"spec": {"strategy": {"type": "Rolling", "rollingUpdate": {}}}});
        let p = json!({"spec": {"strategy": {"$patch": "replace", "type": "Recreate"}}});
        strategic_merge(&mut d, &p, "Deployment");
        assert_eq!(d, json!({"spec": {"strategy": {"type": "Recreate"}}}));
    }

    #[test]
    fn json_patch_operations() {
        let mut d = json!({"a": {"b": [1, 2]}, "c": "x"});
        let ops = parse_json_patch(&json!([
            {"op": "add", "path": "/a/b/-", "value": 3},
            {"op": "add", "path": "/a/b/0", "value": 0},
            {"op": "remove", "path": "/a/b/1"},
            {"op": "replace", "path": "/c", "value": "y"},
            {"op": "copy", "from": "/c", "path": "/d"},
            {"op": "move", "from": "/d", "path": "/e~1f"},
            {"op": "test", "path": "/e~1f", "value": "y"}
        ]))
        .unwrap();
        apply_json_patch(&mut d, &ops).unwrap();
        assert_eq!(d, json!({"a": {"b": [0, 2, 3]}, "c": "y", "e/f": "y"}));
        let bad =
            parse_json_patch(&json!([{"op": "replace", "path": "/nope/x", "value": 1}])).unwrap();
        let err = apply_json_patch(&mut d, &bad).unwrap_err();
        assert!(err.contains("/nope/x"), "{err}");
    }
}
