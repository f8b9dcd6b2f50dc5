//! YAML in and out of a build: reading multi-document files the way Kubernetes reads them
//! (legacy octal `0644`, only `true`/`false` as booleans) and writing objects in the block
//! style `kubectl kustomize` prints (sorted keys, `- ` items at the parent's indentation,
//! literal blocks for multi-line strings).

use serde_json::{Map, Value};

use super::Error;

fn options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        legacy_octal_numbers: true,
        strict_booleans: true,
    }
}

/// Parses every document in `text`; `file` names the file in errors. Empty documents are
/// skipped.
pub(crate) fn parse_documents(file: &str, text: &str) -> Result<Vec<Value>, Error> {
    let docs: Vec<Value> = serde_saphyr::from_multiple_with_options(text, options())
        .map_err(|e| yaml_error(file, &e))?;
    Ok(docs.into_iter().filter(|d| !d.is_null()).collect())
}

/// Parses a single document (an empty one gives `null`).
pub(crate) fn parse_one(file: &str, text: &str) -> Result<Value, Error> {
    let mut docs = parse_documents(file, text)?;
    match docs.len() {
        0 => Ok(Value::Null),
        1 => Ok(docs.pop().unwrap_or(Value::Null)),
        n => Err(Error::Yaml {
            file: file.to_string(),
            line: None,
            message: format!("expected one YAML document, found {n}"),
        }),
    }
}

fn yaml_error(file: &str, e: &serde_saphyr::Error) -> Error {
    let line = e.location().map(|l| l.line());
    let message = e.without_snippet().to_string();
    let message = message.lines().next().unwrap_or_default().to_string();
    Error::Yaml {
        file: file.to_string(),
        line,
        message,
    }
}

/// Writes objects as one multi-document YAML stream separated by `---`.
pub(crate) fn to_yaml(objects: &[Value]) -> String {
    let mut out = String::new();
    for (i, obj) in objects.iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        match obj {
            Value::Object(m) if !m.is_empty() => write_map(&mut out, m, 0),
            Value::Array(a) if !a.is_empty() => write_seq(&mut out, a, 0),
            other => {
                out.push_str(&scalar(other, 0));
                out.push('\n');
            }
        }
    }
    out
}

fn indent(out: &mut String, n: usize) {
    for _ in 0..n {
        out.push(' ');
    }
}

fn write_map(out: &mut String, m: &Map<String, Value>, ind: usize) {
    let mut keys: Vec<&String> = m.keys().collect();
    keys.sort();
    for (i, k) in keys.into_iter().enumerate() {
        if i > 0 {
            indent(out, ind);
        }
        out.push_str(&key_scalar(k));
        out.push(':');
        match m.get(k) {
            Some(Value::Object(child)) if !child.is_empty() => {
                out.push('\n');
                indent(out, ind + 2);
                write_map(out, child, ind + 2);
            }
            Some(Value::Array(items)) if !items.is_empty() => {
                out.push('\n');
                indent(out, ind);
                write_seq(out, items, ind);
            }
            Some(v) => {
                out.push(' ');
                out.push_str(&scalar(v, ind + 2));
                out.push('\n');
            }
            None => out.push('\n'),
        }
    }
}

fn write_seq(out: &mut String, items: &[Value], ind: usize) {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            indent(out, ind);
        }
        out.push_str("- ");
        match item {
            Value::Object(child) if !child.is_empty() => write_map(out, child, ind + 2),
            Value::Array(inner) if !inner.is_empty() => write_seq(out, inner, ind + 2),
            v => {
                out.push_str(&scalar(v, ind + 2));
                out.push('\n');
            }
        }
    }
}

fn scalar(v: &Value, ind: usize) -> String {
    match v {
        Value::Null => "null".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => string_scalar(s, ind),
        Value::Array(_) => "[]".to_string(),
        Value::Object(_) => "{}".to_string(),
    }
}

/// A string as a YAML scalar: plain when it reads back as the same string, a literal block
/// when it spans lines, double-quoted otherwise.
fn string_scalar(s: &str, ind: usize) -> String {
    if s.contains('\n') && literal_ok(s) {
        let body = s.trim_end_matches('\n');
        let trailing = s.len() - body.len();
        let chomp = match trailing {
            0 => "-",
            1 => "",
            _ => "+",
        };
        let mut out = format!("|{chomp}\n");
        let lines: Vec<&str> = if trailing > 1 {
            s.strip_suffix('\n').unwrap_or(s).split('\n').collect()
        } else {
            body.split('\n').collect()
        };
        let n = lines.len();
        for (i, line) in lines.into_iter().enumerate() {
            if !line.is_empty() {
                indent(&mut out, ind);
                out.push_str(line);
            }
            if i + 1 < n {
                out.push('\n');
            }
        }
        return out;
    }
    if plain_ok(s) {
        return s.to_string();
    }
    double_quoted(s)
}

fn key_scalar(s: &str) -> String {
    if plain_ok(s) {
        s.to_string()
    } else {
        double_quoted(s)
    }
}

fn literal_ok(s: &str) -> bool {
    let first = s.split('\n').next().unwrap_or_default();
    !first.starts_with(' ')
        && !first.starts_with('\t')
        && !s.starts_with('\n')
        && s.chars()
            .all(|c| c == '\n' || (!c.is_control() && c != '\u{feff}'))
        && !s.split('\n').any(|l| l.ends_with(' ') || l.ends_with('\t'))
}

fn double_quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() || c == '\u{feff}' => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn plain_ok(s: &str) -> bool {
    let Some(first) = s.chars().next() else {
        return false;
    };
    if s.starts_with(' ') || s.ends_with(' ') || s.starts_with('\t') || s.ends_with('\t') {
        return false;
    }
    if "-?:,[]{}#&*!|>'\"%@`".contains(first) {
        // `-foo`, `:foo` and `?foo` are plain in YAML, but quoting them is always safe.
        return false;
    }
    if s.contains(": ") || s.contains(" #") || s.ends_with(':') {
        return false;
    }
    if s.chars().any(|c| c.is_control() || c == '\u{feff}') {
        return false;
    }
    !looks_typed(s)
}

/// Whether a plain scalar `s` would read back as something other than a string, under either
/// YAML 1.1 or 1.2 rules.
fn looks_typed(s: &str) -> bool {
    const WORDS: &[&str] = &[
        "true", "false", "yes", "no", "on", "off", "y", "n", "null", "~",
    ];
    let lower = s.to_ascii_lowercase();
    if WORDS.contains(&lower.as_str()) {
        return true;
    }
    let t = s.trim_start_matches(['+', '-']);
    if matches!(t.to_ascii_lowercase().as_str(), ".inf" | ".nan") {
        return true;
    }
    if looks_like_timestamp(s) {
        return true;
    }
    let Some(first) = t.chars().next() else {
        return false;
    };
    if !(first.is_ascii_digit() || first == '.') {
        return false;
    }
    // Numbers in any base, floats, base-60 and dates all start with a digit or a dot and use a
    // small alphabet; anything matching it is quoted.
    t.chars().all(|c| {
        c.is_ascii_hexdigit() || matches!(c, '.' | '_' | ':' | '-' | '+' | 'x' | 'o' | 'X' | 'O')
    }) || t.parse::<f64>().is_ok()
}

/// Whether `s` could be a YAML 1.1 timestamp (`2024-01-05T10:00:00Z`, `2024-01-05 10:00`),
/// which YAML 1.1 readers would not take as a string.
fn looks_like_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() > 5
        && b.iter().take(4).all(u8::is_ascii_digit)
        && b.get(4) == Some(&b'-')
        && s.chars().all(|c| {
            c.is_ascii_digit() || matches!(c, '-' | ':' | '.' | 'T' | 't' | 'Z' | ' ' | '\t' | '+')
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn legacy_octal_and_strict_booleans() {
        let v = parse_one("f.yaml", "mode: 0644\nflag: yes\nok: true\n").unwrap();
        assert_eq!(v, json!({"mode": 420, "flag": "yes", "ok": true}));
    }

    #[test]
    fn malformed_yaml_names_file_and_line() {
        let err = parse_documents("bad.yaml", "a: b\n c: [\n").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("bad.yaml"), "{text}");
        assert!(matches!(err, Error::Yaml { line: Some(_), .. }), "{text}");
    }

    #[test]
    fn emitted_yaml_reads_back_equal() {
        let v = json!({
            "s": ["1", "yes", "a: b", "", " x", "multi\nline\n", "no-newline\nend", "0x1F",
                  "1.5", "2024-01-01", "2024-01-05T00:00:00Z", "-dash", "#c", "tail\n\n", "plain text", "null"],
            "n": 3, "f": 0.5, "b": false, "z": null, "e": {}, "l": [],
            "nested": {"list": [{"a": 1, "b": [1, 2]}, [3, 4]]}
        });
        let text = to_yaml(std::slice::from_ref(&v));
        let back = parse_one("out.yaml", &text).unwrap();
        assert_eq!(back, v, "{text}");
    }
}
