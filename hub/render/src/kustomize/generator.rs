//! ConfigMap and Secret generators (literals, files, env files; options; behaviors) and the
//! content hash Kustomize appends to generated names.

use std::collections::BTreeMap;

use base64::Engine;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::kustomization::{GeneratorArgs, GeneratorOptions};
use super::resmap::{Behavior, Resource};
use super::source::{Source, base_name, normalize};
use super::{Error, read_required};

/// Which generator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GenKind {
    ConfigMap,
    Secret,
}

impl GenKind {
    fn field(self) -> &'static str {
        match self {
            GenKind::ConfigMap => "configMapGenerator",
            GenKind::Secret => "secretGenerator",
        }
    }
}

/// Generates one object from one generator entry of the kustomization `file` in `dir`.
pub(crate) fn generate(
    src: &dyn Source,
    dir: &str,
    file: &str,
    kind: GenKind,
    args: &GeneratorArgs,
    global: Option<&GeneratorOptions>,
) -> Result<Resource, Error> {
    let fail = |message: String| Error::Generator {
        dir: dir.to_string(),
        field: kind.field(),
        name: args.name.clone(),
        message,
    };
    let behavior = match args.behavior.as_deref() {
        None | Some("") | Some("create") => Behavior::Create,
        Some("merge") => Behavior::Merge,
        Some("replace") => Behavior::Replace,
        Some(other) => {
            return Err(fail(format!(
                "unknown behavior {other:?} (use create, merge or replace)"
            )));
        }
    };
    // Kustomize merges generatorOptions into each generator's options, the global ones winning.
    let mut opts = args.options.clone().unwrap_or_default();
    if let Some(g) = global {
        opts.labels.extend(g.labels.clone());
        opts.annotations.extend(g.annotations.clone());
        opts.disable_name_suffix_hash |= g.disable_name_suffix_hash;
        opts.immutable |= g.immutable;
    }

    let mut pairs: Vec<(String, Vec<u8>)> = Vec::new();
    let mut envs = args.envs.clone();
    if let Some(env) = &args.env {
        envs.push(env.clone());
    }
    for env in &envs {
        let path = normalize(dir, env)?;
        let bytes = read_required(src, &path, file)?;
        let text = String::from_utf8(bytes).map_err(|_| fail(format!("{env} is not UTF-8")))?;
        for (i, line) in text.lines().enumerate() {
            let line = if i == 0 {
                line.trim_start_matches('\u{feff}')
            } else {
                line
            };
            if line.trim().is_empty() || line.trim_start().starts_with('#') {
                continue;
            }
            let (k, v) = match line.split_once('=') {
                Some((k, v)) => (k.trim_start().to_string(), v.to_string()),
                None => (line.trim().to_string(), String::new()),
            };
            if k.contains(char::is_whitespace) || k.is_empty() {
                return Err(fail(format!(
                    "{env} line {}: {k:?} is not a valid key",
                    i + 1
                )));
            }
            pairs.push((k, v.into_bytes()));
        }
    }
    for lit in &args.literals {
        let (k, v) = lit
            .split_once('=')
            .ok_or_else(|| fail(format!("the literal {lit:?} is not KEY=VALUE")))?;
        pairs.push((k.to_string(), unquote(v).as_bytes().to_vec()));
    }
    for file in &args.files {
        let (key, rel) = match file.split_once('=') {
            Some((k, p)) if !k.is_empty() => (k.to_string(), p),
            _ => (base_name(file).to_string(), file.as_str()),
        };
        let path = normalize(dir, rel)?;
        pairs.push((key, read_required(src, &path, file)?));
    }

    let mut data: BTreeMap<String, Value> = BTreeMap::new();
    let mut binary: BTreeMap<String, Value> = BTreeMap::new();
    let b64 = base64::engine::general_purpose::STANDARD;
    for (k, v) in pairs {
        if data.contains_key(&k) || binary.contains_key(&k) {
            return Err(fail(format!(
                "the key {k:?} is defined more than once (each key may appear once across literals, files and envs)"
            )));
        }
        match kind {
            GenKind::Secret => {
                data.insert(k, Value::String(secret_base64(&v)));
            }
            GenKind::ConfigMap => match String::from_utf8(v) {
                Ok(s) => {
                    data.insert(k, Value::String(s));
                }
                Err(e) => {
                    binary.insert(k, Value::String(b64.encode(e.as_bytes())));
                }
            },
        }
    }

    let mut meta = Map::new();
    meta.insert("name".into(), Value::String(args.name.clone()));
    if let Some(ns) = args.namespace.as_deref().filter(|n| !n.is_empty()) {
        meta.insert("namespace".into(), Value::String(ns.to_string()));
    }
    let to_map = |m: &BTreeMap<String, String>| -> Map<String, Value> {
        m.iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect()
    };
    if !opts.labels.is_empty() {
        meta.insert("labels".into(), Value::Object(to_map(&opts.labels)));
    }
    if !opts.annotations.is_empty() {
        meta.insert(
            "annotations".into(),
            Value::Object(to_map(&opts.annotations)),
        );
    }
    let mut obj = Map::new();
    obj.insert("apiVersion".into(), Value::String("v1".into()));
    obj.insert(
        "kind".into(),
        Value::String(
            match kind {
                GenKind::ConfigMap => "ConfigMap",
                GenKind::Secret => "Secret",
            }
            .into(),
        ),
    );
    obj.insert("metadata".into(), Value::Object(meta));
    if !data.is_empty() {
        obj.insert("data".into(), Value::Object(data.into_iter().collect()));
    }
    if !binary.is_empty() {
        obj.insert(
            "binaryData".into(),
            Value::Object(binary.into_iter().collect()),
        );
    }
    if kind == GenKind::Secret {
        let t = args.type_.clone().unwrap_or_else(|| "Opaque".into());
        obj.insert("type".into(), Value::String(t));
    }
    if opts.immutable {
        obj.insert("immutable".into(), Value::Bool(true));
    }
    let mut res = Resource::new(Value::Object(obj));
    res.needs_hash = !opts.disable_name_suffix_hash;
    res.behavior = behavior;
    Ok(res)
}

/// Base64 as Kustomize writes Secret data: values of 70 characters or more are broken into
/// lines of 70, each ending in a newline.
fn secret_base64(v: &[u8]) -> String {
    const LINE: usize = 70;
    let enc = base64::engine::general_purpose::STANDARD.encode(v);
    if enc.len() < LINE {
        return enc;
    }
    let mut out = String::with_capacity(enc.len() + enc.len() / LINE + 1);
    let mut rest = enc.as_str();
    while !rest.is_empty() {
        let (line, tail) = rest.split_at(rest.len().min(LINE));
        out.push_str(line);
        out.push('\n');
        rest = tail;
    }
    out
}

/// Strips one pair of matching quotes around a literal's value, as Kustomize does.
fn unquote(v: &str) -> &str {
    for q in ['"', '\''] {
        if v.len() >= 2
            && v.starts_with(q)
            && v.ends_with(q)
            && let Some(inner) = v.get(1..v.len() - 1)
        {
            return inner;
        }
    }
    v
}

/// Combines a generated object with the one already present under the same id (behavior
/// `merge` or `replace`): the old object's name, namespace and identity are kept, labels and
/// annotations are merged, and for `merge` the data maps are merged too.
pub(crate) fn combine(old: &Resource, mut new: Resource) -> Resource {
    let mut labels = old.string_map("labels");
    labels.extend(new.string_map("labels"));
    let mut annotations = old.string_map("annotations");
    annotations.extend(new.string_map("annotations"));
    if new.behavior == Behavior::Merge {
        for field in ["data", "binaryData"] {
            let mut merged = old
                .obj
                .get(field)
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            if let Some(m) = new.obj.get(field).and_then(Value::as_object) {
                merged.extend(m.clone());
            }
            if let Some(o) = new.obj.as_object_mut()
                && !merged.is_empty()
            {
                o.insert(field.into(), Value::Object(merged));
            }
        }
    }
    let mut out = Resource {
        obj: std::mem::take(&mut new.obj),
        org: old.org.clone(),
        prev: old.prev.clone(),
        needs_hash: old.needs_hash,
        behavior: Behavior::Create,
        prefixes: old.prefixes.clone(),
        suffixes: old.suffixes.clone(),
    };
    if let Some(meta) = out.obj.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.insert("name".into(), Value::String(old.name().to_string()));
        if old.namespace().is_empty() {
            meta.remove("namespace");
        } else {
            meta.insert(
                "namespace".into(),
                Value::String(old.namespace().to_string()),
            );
        }
    }
    out.set_string_map("labels", labels);
    out.set_string_map("annotations", annotations);
    out
}

/// Kustomize's content hash of a ConfigMap or Secret: SHA-256 of Go's JSON encoding of the
/// kind, type and data (the name takes part as an empty string), first ten hex digits with
/// vowel-like digits mapped to consonants.
pub(crate) fn content_hash(obj: &Value) -> String {
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
    let field = |k: &str| -> Value {
        match obj.get(k) {
            None | Some(Value::Null) => Value::String(String::new()),
            Some(v) => v.clone(),
        }
    };
    let mut m = Map::new();
    m.insert("kind".into(), Value::String(kind.into()));
    m.insert("name".into(), Value::String(String::new()));
    m.insert("data".into(), field("data"));
    if kind == "Secret" {
        m.insert("type".into(), field("type"));
        if let Some(v @ Value::Object(_)) = obj.get("stringData") {
            m.insert("stringData".into(), v.clone());
        }
    } else if let Some(v @ Value::Object(_)) = obj.get("binaryData") {
        m.insert("binaryData".into(), v.clone());
    }
    let mut encoded = String::new();
    go_json(&Value::Object(m), &mut encoded);
    let digest = Sha256::digest(encoded.as_bytes());
    hex::encode(digest)
        .chars()
        .take(10)
        .map(|c| match c {
            '0' => 'g',
            '1' => 'h',
            '3' => 'k',
            'a' => 'm',
            'e' => 't',
            c => c,
        })
        .collect()
}

/// Go's `encoding/json` output: sorted keys, no spaces, `<`, `>`, `&`, U+2028 and U+2029
/// escaped.
fn go_json(v: &Value, out: &mut String) {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                go_string(k, out);
                out.push(':');
                if let Some(v) = m.get(k) {
                    go_json(v, out);
                }
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                go_json(item, out);
            }
            out.push(']');
        }
        Value::String(s) => go_string(s, out),
        other => out.push_str(&other.to_string()),
    }
}

fn go_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn hash_matches_kubectl_kustomize() {
        // Values observed from `kubectl kustomize` (Kustomize v5.5).
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "o-b-cfg"},
            "data": {"A": "1", "B": "quoted", "C": "<&>", "D": "4"}});
        assert_eq!(content_hash(&cm), "67ccdgfhhf");
        let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x"},
            "type": "Opaque", "data": {"pw": "c2VjcmV0"}});
        assert_eq!(content_hash(&secret), "dtgd52765c");
    }

    #[test]
    fn literal_quotes_are_stripped() {
        assert_eq!(unquote("\"a b\""), "a b");
        assert_eq!(unquote("'x'"), "x");
        assert_eq!(unquote("\"x"), "\"x");
    }
}
