//! YAML as Helm reads values files, `values.yaml`, `Chart.yaml` and `fromYaml`: with
//! sigs.k8s.io/yaml, which decodes with go-yaml v2 and converts the result to JSON.
//!
//! go-yaml v2 resolves unquoted (plain) scalars with YAML 1.1's rules, which differ from the
//! YAML 1.2 core schema the rest of the crate reads with:
//!
//! - `y`, `Y`, `yes`, `Yes`, `YES`, `on`, `On`, `ON` are true and `n`, `N`, `no`, `No`, `NO`,
//!   `off`, `Off`, `OFF` false (besides `true`/`false` in three spellings), as keys too;
//! - integers take Go's literal syntax after underscores are dropped: `0755` is octal (493),
//!   `0b101`, `0o17` and `0x1F` have their bases, `+12` and `1_000` are numbers, `09` is the
//!   float 9; floats need digits around an optional point (`.5`, `1.`, `1e3`, but not `1.5.6`),
//!   and a number that overflows stays a string;
//! - timestamps (`2001-12-14`) stay strings, and merge keys (`<<`) merge in document order, a
//!   later key overriding an earlier one either way.
//!
//! The conversion to JSON then turns keys into strings (`true`, `1`, and floats at float32
//! precision: `1.5`, `1.8446744e+19`), refuses null keys and NaN or infinite values, and leaves
//! numbers for the caller to read (Helm reads every number of a values file as a float64).
//! Only the first document of a stream is read.

use std::rc::Rc;

use serde_json::{Map as JsonMap, Number, Value as Json};
use serde_saphyr::granit_parser::{Event, Parser, ScalarStyle, Tag};

use crate::value::format_float32_g;

/// The most nodes a document may expand to through aliases (go-yaml refuses "excessive
/// aliasing" too): a small file cannot make a huge tree.
const MAX_NODES: usize = 1_000_000;
/// The deepest nesting of sequences and mappings accepted.
const MAX_DEPTH: usize = 1_000;

const TAG_PREFIX: &str = "tag:yaml.org,2002:";

/// Parses the first YAML document of `text` as sigs.k8s.io/yaml does, into JSON. An empty
/// document is `null`. Errors read like Helm's (`error converting YAML to JSON: yaml: line 3:
/// ...`).
pub(crate) fn to_json(text: &str) -> Result<Json, String> {
    let node = parse(text).map_err(|e| format!("error converting YAML to JSON: yaml: {e}"))?;
    json(&node).map_err(|e| format!("error converting YAML to JSON: {e}"))
}

/// A scalar after go-yaml's resolution.
#[derive(Debug, Clone, PartialEq)]
enum Scalar {
    Null,
    Bool(bool),
    Int(i64),
    Uint(u64),
    Float(f64),
    Str(String),
    /// A plain `<<` (or one tagged `!!merge`): a merge key in key position, else the string.
    Merge,
}

#[derive(Debug, Clone)]
enum Node {
    Scalar(Rc<Scalar>),
    Seq(Rc<Vec<Node>>),
    Map(Rc<Vec<(Node, Node)>>),
}

/// A collection being read: its anchor, what it holds so far, and how many nodes that is.
enum Frame {
    Seq(usize, Vec<Node>, usize),
    Map(usize, Vec<(Node, Node)>, Option<Node>, usize),
}

#[derive(Default)]
struct Builder {
    /// Anchored nodes and their sizes (aliases count as copies).
    anchors: std::collections::HashMap<usize, (Node, usize)>,
    stack: Vec<Frame>,
    /// Nodes in the document so far, aliases expanded.
    nodes: usize,
}

impl Builder {
    /// Adds a finished node of `size` nodes (`new` of them not counted yet) to the collection
    /// being read, or returns it when it is the document's root.
    fn push(
        &mut self,
        node: Node,
        anchor: usize,
        size: usize,
        new: usize,
    ) -> Result<Option<Node>, String> {
        self.nodes = self.nodes.saturating_add(new);
        if self.nodes > MAX_NODES {
            return Err("document contains excessive aliasing".to_owned());
        }
        if anchor != 0 {
            self.anchors.insert(anchor, (node.clone(), size));
        }
        match self.stack.last_mut() {
            None => return Ok(Some(node)),
            Some(Frame::Seq(_, items, total)) => {
                items.push(node);
                *total = total.saturating_add(size);
            }
            Some(Frame::Map(_, entries, key, total)) => {
                match key.take() {
                    None => *key = Some(node),
                    Some(k) => entries.push((k, node)),
                }
                *total = total.saturating_add(size);
            }
        }
        Ok(None)
    }

    fn open(&mut self, frame: Frame, line: usize) -> Result<(), String> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(format!("line {line}: exceeded max depth of {MAX_DEPTH}"));
        }
        self.stack.push(frame);
        Ok(())
    }

    fn close(&mut self) -> Result<Option<Node>, String> {
        match self.stack.pop() {
            Some(Frame::Seq(anchor, items, total)) => {
                self.push(Node::Seq(Rc::new(items)), anchor, total + 1, 1)
            }
            Some(Frame::Map(anchor, entries, _, total)) => {
                self.push(Node::Map(Rc::new(entries)), anchor, total + 1, 1)
            }
            None => Ok(None),
        }
    }
}

fn parse(text: &str) -> Result<Node, String> {
    let mut b = Builder::default();
    let mut in_document = false;
    for event in Parser::new_from_str(text) {
        let (event, span) =
            event.map_err(|e| format!("line {}: {}", e.marker().line(), e.info()))?;
        let line = span.start.line();
        let root = match event {
            Event::DocumentStart(..) => {
                in_document = true;
                None
            }
            Event::DocumentEnd | Event::StreamEnd if in_document => {
                Some(Node::Scalar(Rc::new(Scalar::Null)))
            }
            Event::Scalar(value, style, anchor, tag) => {
                let scalar = resolve_scalar(&value, style, tag.as_deref())
                    .map_err(|e| format!("line {line}: {e}"))?;
                b.push(Node::Scalar(Rc::new(scalar)), anchor, 1, 1)?
            }
            Event::Alias(id) => {
                let (node, size) = b
                    .anchors
                    .get(&id)
                    .cloned()
                    .ok_or_else(|| format!("line {line}: unknown anchor referenced"))?;
                b.push(node, 0, size, size)?
            }
            Event::SequenceStart(_, anchor, _) => {
                b.open(Frame::Seq(anchor, Vec::new(), 0), line)?;
                None
            }
            Event::MappingStart(_, anchor, _) => {
                b.open(Frame::Map(anchor, Vec::new(), None, 0), line)?;
                None
            }
            Event::SequenceEnd | Event::MappingEnd => b.close()?,
            _ => None,
        };
        if let Some(root) = root {
            return Ok(root);
        }
    }
    Ok(Node::Scalar(Rc::new(Scalar::Null)))
}

/// A scalar as go-yaml v2 decodes it into an `interface{}`.
fn resolve_scalar(value: &str, style: ScalarStyle, tag: Option<&Tag>) -> Result<Scalar, String> {
    let Some(tag) = tag else {
        return Ok(if style == ScalarStyle::Plain {
            implicit(value)
        } else {
            Scalar::Str(value.to_owned())
        });
    };
    let full = format!("{}{}", tag.handle(), tag.suffix());
    let Some(short) = full.strip_prefix(TAG_PREFIX) else {
        // A local or non-specific tag (`!foo`, `!`): go-yaml keeps the text.
        return Ok(Scalar::Str(value.to_owned()));
    };
    match short {
        "str" => Ok(Scalar::Str(value.to_owned())),
        "binary" => binary(value),
        "merge" if value == "<<" => Ok(Scalar::Merge),
        "bool" | "int" | "float" | "null" | "timestamp" => {
            // A timestamp decodes into an `interface{}` as its text.
            if short == "timestamp" && is_timestamp(value) {
                return Ok(Scalar::Str(value.to_owned()));
            }
            match (short, implicit(value)) {
                ("bool", r @ Scalar::Bool(_))
                | ("int", r @ (Scalar::Int(_) | Scalar::Uint(_)))
                | ("float", r @ Scalar::Float(_))
                | ("null", r @ Scalar::Null) => Ok(r),
                #[allow(clippy::cast_precision_loss)]
                ("float", Scalar::Int(i)) => Ok(Scalar::Float(i as f64)),
                (_, r) => Err(format!(
                    "cannot decode {} `{value}` as a !!{short}",
                    tag_name(&r)
                )),
            }
        }
        _ => Ok(Scalar::Str(value.to_owned())),
    }
}

fn tag_name(s: &Scalar) -> &'static str {
    match s {
        Scalar::Null => "!!null",
        Scalar::Bool(_) => "!!bool",
        Scalar::Int(_) | Scalar::Uint(_) => "!!int",
        Scalar::Float(_) => "!!float",
        Scalar::Str(_) | Scalar::Merge => "!!str",
    }
}

/// `!!binary`: base64, line breaks ignored.
fn binary(value: &str) -> Result<Scalar, String> {
    use base64::Engine as _;
    let compact: String = value.chars().filter(|c| *c != '\n' && *c != '\r').collect();
    base64::engine::general_purpose::STANDARD
        .decode(compact)
        .map(|bytes| Scalar::Str(String::from_utf8_lossy(&bytes).into_owned()))
        .map_err(|_| "!!binary value contains invalid base64 data".to_owned())
}

/// go-yaml v2's `resolve` for an untagged plain scalar.
fn implicit(value: &str) -> Scalar {
    let hint = value.bytes().next();
    match value {
        "y" | "Y" | "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => {
            return Scalar::Bool(true);
        }
        "n" | "N" | "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => {
            return Scalar::Bool(false);
        }
        "" | "~" | "null" | "Null" | "NULL" => return Scalar::Null,
        ".nan" | ".NaN" | ".NAN" => return Scalar::Float(f64::NAN),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Scalar::Float(f64::INFINITY);
        }
        "-.inf" | "-.Inf" | "-.INF" => return Scalar::Float(f64::NEG_INFINITY),
        "<<" => return Scalar::Merge,
        _ => {}
    }
    match hint {
        Some(b'.') => {
            if let Some(f) = yaml_float(value) {
                return Scalar::Float(f);
            }
        }
        Some(b'0'..=b'9' | b'+' | b'-') => {
            let plain: String = value.chars().filter(|c| *c != '_').collect();
            match parse_int(&plain) {
                Ok(i) => return Scalar::Int(i),
                Err(_) => {
                    if let Some(u) = parse_uint(&plain) {
                        return Scalar::Uint(u);
                    }
                }
            }
            if let Some(f) = yaml_float(&plain) {
                return Scalar::Float(f);
            }
        }
        _ => {}
    }
    Scalar::Str(value.to_owned())
}

/// go-yaml's float syntax (`^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`), which go-yaml
/// v2 and v3, and so Helm, Kubernetes and Kustomize, read a plain scalar as a float by.
pub(crate) fn is_float_syntax(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = usize::from(matches!(b.first(), Some(b'+' | b'-')));
    let digits = |i: &mut usize| {
        let start = *i;
        while b.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        *i - start
    };
    if b.get(i) == Some(&b'.') {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    } else {
        if digits(&mut i) == 0 {
            return false;
        }
        if b.get(i) == Some(&b'.') {
            i += 1;
            digits(&mut i);
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

/// A float in go-yaml's syntax, read with Go's `ParseFloat`: an overflow is not a float.
fn yaml_float(s: &str) -> Option<f64> {
    if !is_float_syntax(s) {
        return None;
    }
    s.parse::<f64>().ok().filter(|f| f.is_finite())
}

/// An integer as go-yaml reads one (underscores already removed): Go's `ParseInt(s, 0, 64)`,
/// else `ParseUint(s, 0, 64)` (`0x`, `0o`, `0b` prefixes, a leading `0` for octal).
pub(crate) fn go_integer(s: &str) -> Option<Number> {
    match parse_int(s) {
        Ok(i) => Some(Number::from(i)),
        Err(_) => parse_uint(s).map(Number::from),
    }
}

#[derive(Debug)]
enum IntError {
    Syntax,
    Range,
}

/// Go's `strconv.ParseUint(s, 0, 64)`: `0x`, `0o`, `0b` prefixes, a leading `0` for octal.
fn parse_uint_base0(s: &str) -> Result<u64, IntError> {
    let b = s.as_bytes();
    if b.is_empty() {
        return Err(IntError::Syntax);
    }
    let (base, digits) = if b.first() == Some(&b'0') {
        match b.get(1).map(u8::to_ascii_lowercase) {
            Some(b'b') if b.len() >= 3 => (2, b.get(2..).unwrap_or_default()),
            Some(b'o') if b.len() >= 3 => (8, b.get(2..).unwrap_or_default()),
            Some(b'x') if b.len() >= 3 => (16, b.get(2..).unwrap_or_default()),
            _ => (8, b.get(1..).unwrap_or_default()),
        }
    } else {
        (10, b)
    };
    let mut n: u64 = 0;
    for &c in digits {
        let d = match c {
            b'0'..=b'9' => u64::from(c - b'0'),
            b'a'..=b'z' => u64::from(c - b'a') + 10,
            b'A'..=b'Z' => u64::from(c - b'A') + 10,
            _ => return Err(IntError::Syntax),
        };
        if d >= base {
            return Err(IntError::Syntax);
        }
        n = n
            .checked_mul(base)
            .and_then(|n| n.checked_add(d))
            .ok_or(IntError::Range)?;
    }
    Ok(n)
}

fn parse_uint(s: &str) -> Option<u64> {
    parse_uint_base0(s).ok()
}

/// Go's `strconv.ParseInt(s, 0, 64)`.
fn parse_int(s: &str) -> Result<i64, IntError> {
    let (negative, rest) = match s.as_bytes().first() {
        Some(b'+') => (false, s.get(1..).unwrap_or("")),
        Some(b'-') => (true, s.get(1..).unwrap_or("")),
        _ => (false, s),
    };
    let u = parse_uint_base0(rest)?;
    if negative {
        if u > 1 << 63 {
            return Err(IntError::Range);
        }
        Ok(0i64.wrapping_sub_unsigned(u))
    } else {
        i64::try_from(u).map_err(|_| IntError::Range)
    }
}

/// Whether `s` is one of the timestamp forms go-yaml accepts (`2001-12-14`,
/// `2001-12-14T21:59:43.10-05:00`, `2001-12-14 21:59:43.10`).
fn is_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 8 || !b.iter().take(4).all(u8::is_ascii_digit) || b.get(4) != Some(&b'-') {
        return false;
    }
    let (date, time) = match s.find(['T', 't', ' ']) {
        Some(i) => (s.get(..i).unwrap_or(""), s.get(i + 1..)),
        None => (s, None),
    };
    let date_ok = {
        let parts: Vec<&str> = date.split('-').collect();
        parts.len() == 3
            && parts
                .iter()
                .skip(1)
                .all(|p| (1..=2).contains(&p.len()) && p.bytes().all(|c| c.is_ascii_digit()))
    };
    let number = |p: &str| !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit());
    let time_ok = time.is_none_or(|t| {
        let mut parts = t.splitn(3, ':');
        match (parts.next(), parts.next(), parts.next()) {
            (Some(h), Some(m), Some(rest)) => {
                number(h) && number(m) && rest.bytes().next().is_some_and(|c| c.is_ascii_digit())
            }
            _ => false,
        }
    });
    date_ok && time_ok
}

/// The JSON of a decoded node, as sigs.k8s.io/yaml converts it.
fn json(node: &Node) -> Result<Json, String> {
    Ok(match node {
        Node::Scalar(s) => scalar_json(s)?,
        Node::Seq(items) => Json::Array(items.iter().map(json).collect::<Result<_, _>>()?),
        Node::Map(entries) => {
            let mut out = JsonMap::new();
            map_into(entries, &mut out)?;
            Json::Object(out)
        }
    })
}

fn scalar_json(s: &Scalar) -> Result<Json, String> {
    Ok(match s {
        Scalar::Null => Json::Null,
        Scalar::Bool(b) => Json::Bool(*b),
        Scalar::Int(i) => Json::from(*i),
        Scalar::Uint(u) => Json::from(*u),
        Scalar::Float(f) => Json::Number(Number::from_f64(*f).ok_or_else(|| {
            format!(
                "json: unsupported value: {}",
                crate::value::format_float_g(*f)
            )
        })?),
        Scalar::Str(s) => Json::String(s.clone()),
        Scalar::Merge => Json::String("<<".to_owned()),
    })
}

/// A mapping's entries into `out`, in document order: merge keys merge the mappings they name
/// (a list of them from the last to the first, so the first wins), later keys override.
fn map_into(entries: &[(Node, Node)], out: &mut JsonMap<String, Json>) -> Result<(), String> {
    for (k, v) in entries {
        if matches!(k, Node::Scalar(s) if **s == Scalar::Merge) {
            merge(v, out)?;
            continue;
        }
        let key = key_string(k, v)?;
        out.insert(key, json(v)?);
    }
    Ok(())
}

const MERGE_WANTS_MAP: &str = "yaml: map merge requires map or sequence of maps as the value";

fn merge(v: &Node, out: &mut JsonMap<String, Json>) -> Result<(), String> {
    match v {
        Node::Map(entries) => map_into(entries, out),
        Node::Seq(items) => {
            for item in items.iter().rev() {
                let Node::Map(entries) = item else {
                    return Err(MERGE_WANTS_MAP.to_owned());
                };
                map_into(entries, out)?;
            }
            Ok(())
        }
        Node::Scalar(_) => Err(MERGE_WANTS_MAP.to_owned()),
    }
}

/// A map key as sigs.k8s.io/yaml writes it into JSON.
fn key_string(k: &Node, v: &Node) -> Result<String, String> {
    let Node::Scalar(s) = k else {
        return Err("yaml: invalid map key: a sequence or mapping cannot be a key".to_owned());
    };
    Ok(match &**s {
        Scalar::Str(s) => s.clone(),
        Scalar::Merge => "<<".to_owned(),
        Scalar::Int(i) => i.to_string(),
        Scalar::Bool(b) => b.to_string(),
        Scalar::Float(f) => match format_float32_g(*f).as_str() {
            "+Inf" => ".inf".to_owned(),
            "-Inf" => "-.inf".to_owned(),
            "NaN" => ".nan".to_owned(),
            other => other.to_owned(),
        },
        Scalar::Uint(u) => {
            return Err(format!(
                "unsupported map key of type: uint64, key: {u:#x}, value: {}",
                go_repr(v)
            ));
        }
        Scalar::Null => {
            return Err(format!(
                "unsupported map key of type: %!s(<nil>), key: <nil>, value: {}",
                go_repr(v)
            ));
        }
    })
}

/// A value as Go's `%+#v` shows a scalar in sigs.k8s.io/yaml's key errors.
fn go_repr(v: &Node) -> String {
    match v {
        Node::Scalar(s) => match &**s {
            Scalar::Null => "<nil>".to_owned(),
            Scalar::Bool(b) => b.to_string(),
            Scalar::Int(i) => i.to_string(),
            Scalar::Uint(u) => format!("{u:#x}"),
            Scalar::Float(f) => crate::value::format_float_g(*f),
            Scalar::Str(s) => format!("{s:?}"),
            Scalar::Merge => "\"<<\"".to_owned(),
        },
        Node::Seq(_) => "[]interface {}{...}".to_owned(),
        Node::Map(_) => "map[interface {}]interface {}{...}".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn value_of(scalar: &str) -> Json {
        let doc = to_json(&format!("a: {scalar}\n")).unwrap();
        doc.get("a").cloned().unwrap()
    }

    /// Each case was read by Helm v4 (`helm_values_from_yaml`) with the same result.
    #[test]
    fn integers_and_floats_follow_gos_literal_syntax() {
        let int = |s| go_integer(s).map(|n| n.to_string());
        assert_eq!(int("0x1F").as_deref(), Some("31"));
        assert_eq!(int("0755").as_deref(), Some("493"));
        assert_eq!(int("-0b101").as_deref(), Some("-5"));
        assert_eq!(
            int("-9223372036854775808").as_deref(),
            Some("-9223372036854775808")
        );
        assert_eq!(
            int("18446744073709551615").as_deref(),
            Some("18446744073709551615")
        );
        // ParseUint takes no sign, and nothing past 64 bits is an integer.
        assert_eq!(int("+18446744073709551615"), None);
        assert_eq!(int("18446744073709551616"), None);
        assert_eq!(int("09"), None);
        for float in [".5", "1.", "1e3", "-2.5E-3", "+7"] {
            assert!(is_float_syntax(float), "{float}");
        }
        for not in ["1.5.6", ".", "e3", "1e", "1_0.0", "0x1p3", ""] {
            assert!(!is_float_syntax(not), "{not}");
        }
    }

    #[test]
    fn plain_scalars_resolve_as_go_yaml_v2() {
        for (text, want) in [
            ("y", json!(true)),
            ("Y", json!(true)),
            ("yes", json!(true)),
            ("YES", json!(true)),
            ("yEs", json!("yEs")),
            ("on", json!(true)),
            ("oN", json!("oN")),
            ("n", json!(false)),
            ("off", json!(false)),
            ("True", json!(true)),
            ("tRue", json!("tRue")),
            ("0755", json!(493)),
            ("-0755", json!(-493)),
            ("0b101", json!(5)),
            ("-0b11", json!(-3)),
            ("+0b1", json!(1)),
            ("0B11", json!(3)),
            ("0o17", json!(15)),
            ("0o", json!("0o")),
            ("0x1F", json!(31)),
            ("0X1F", json!(31)),
            ("0x_1F", json!(31)),
            ("-0x1F", json!(-31)),
            ("0x", json!("0x")),
            ("0x_", json!("0x_")),
            ("1_000", json!(1000)),
            ("1__0", json!(10)),
            ("_1", json!("_1")),
            ("1_", json!(1)),
            ("0_7", json!(7)),
            ("09", json!(9.0)),
            ("08", json!(8.0)),
            ("+12", json!(12)),
            ("-0", json!(0)),
            ("1e3", json!(1000.0)),
            ("12e03", json!(12000.0)),
            ("1.0e+3", json!(1000.0)),
            (".5", json!(0.5)),
            ("-.5", json!(-0.5)),
            ("+.5e-3", json!(0.0005)),
            ("0.", json!(0.0)),
            ("1.e5", json!(100_000.0)),
            ("0.1_0", json!(0.1)),
            ("685.230_15e+03", json!(685_230.15)),
            ("-.5e", json!("-.5e")),
            ("1.5.6", json!("1.5.6")),
            ("1e400", json!("1e400")),
            ("1e-500", json!(0.0)),
            ("0xFFFFFFFFFFFFFFFFF", json!("0xFFFFFFFFFFFFFFFFF")),
            ("18446744073709551615", json!(18_446_744_073_709_551_615u64)),
            ("9223372036854775808", json!(9_223_372_036_854_775_808u64)),
            ("2001-12-14", json!("2001-12-14")),
            ("1:20", json!("1:20")),
            ("<<", json!("<<")),
            ("~", json!(null)),
            ("Null", json!(null)),
            ("nULL", json!("nULL")),
            ("=", json!("=")),
            ("'yes'", json!("yes")),
            ("\"0755\"", json!("0755")),
            ("!!str 12", json!("12")),
            ("!!int \"12\"", json!(12)),
            ("!!float 1", json!(1.0)),
            ("!!bool yes", json!(true)),
            ("!!timestamp 2001-12-14", json!("2001-12-14")),
            ("!!binary aGVsbG8=", json!("hello")),
            ("! yes", json!("yes")),
            ("!foo yes", json!("yes")),
            ("|-\n  yes", json!("yes")),
        ] {
            assert_eq!(value_of(text), want, "{text}");
        }
    }

    #[test]
    fn keys_become_strings_as_sigs_yaml_writes_them() {
        let doc = to_json(
            "y: 1\non: 2\noff: 3\nn: 4\n1: a\n1.5: b\n0x1F: c\n1e3: d\n2.5e10: e\n\
             1.1234567891: f\n-1: g\n.inf: h\n18446744073709551616: i\ntrue: j\n",
        )
        .unwrap();
        assert_eq!(
            doc,
            json!({"true": "j", "false": 4, "1": "a", "1.5": "b", "31": "c", "1000": "d",
                   "2.5e+10": "e", "1.1234568": "f", "-1": "g", ".inf": "h",
                   "1.8446744e+19": "i"})
        );
    }

    #[test]
    fn merges_and_aliases_follow_go_yaml_v2() {
        assert_eq!(
            to_json("a: 1\n<<: {a: 2, b: 3}\n").unwrap(),
            json!({"a": 2, "b": 3})
        );
        assert_eq!(
            to_json("b: &x {c: 1}\na:\n  c: 0\n  <<: *x\n").unwrap(),
            json!({"a": {"c": 1}, "b": {"c": 1}})
        );
        assert_eq!(
            to_json("x: &x {k: 1, j: 1}\nz: &z {k: 2, m: 2}\na:\n  <<: [*x, *z]\n").unwrap(),
            json!({"a": {"j": 1, "k": 1, "m": 2}, "x": {"j": 1, "k": 1}, "z": {"k": 2, "m": 2}})
        );
        assert_eq!(
            to_json("a:\n  \"<<\": {k: 1}\n").unwrap(),
            json!({"a": {"<<": {"k": 1}}})
        );
        assert_eq!(
            to_json("a:\n  !!merge <<: {k: 1}\n").unwrap(),
            json!({"a": {"k": 1}})
        );
        assert_eq!(
            to_json("a: &a 1\nb: *a\n").unwrap(),
            json!({"a": 1, "b": 1})
        );
        assert_eq!(to_json("a: 1\na: 2\n").unwrap(), json!({"a": 2}));
        assert_eq!(to_json("---\na: 1\n---\nb: 2\n").unwrap(), json!({"a": 1}));
        assert_eq!(to_json("").unwrap(), Json::Null);
        assert_eq!(to_json("# only a comment\n").unwrap(), Json::Null);
        assert_eq!(
            to_json("a:\n  - y\n  - n\n  - [on, off]\n").unwrap(),
            json!({"a": [true, false, [true, false]]})
        );
    }

    #[test]
    fn refusals_read_like_helm() {
        for (text, want) in [
            (
                "a: !!int \"x\"",
                "error converting YAML to JSON: yaml: line 1: cannot decode !!str `x` as a !!int",
            ),
            (
                "a: !!timestamp 12",
                "error converting YAML to JSON: yaml: line 1: cannot decode !!int `12` as a !!timestamp",
            ),
            (
                "a: !!null x",
                "error converting YAML to JSON: yaml: line 1: cannot decode !!str `x` as a !!null",
            ),
            (
                "a: .inf",
                "error converting YAML to JSON: json: unsupported value: +Inf",
            ),
            (
                "a: -.INF",
                "error converting YAML to JSON: json: unsupported value: -Inf",
            ),
            (
                "a: .nan",
                "error converting YAML to JSON: json: unsupported value: NaN",
            ),
            (
                "~: 6",
                "error converting YAML to JSON: unsupported map key of type: %!s(<nil>), key: <nil>, value: 6",
            ),
            (
                "18446744073709551615: x",
                "error converting YAML to JSON: unsupported map key of type: uint64, key: 0xffffffffffffffff, value: \"x\"",
            ),
            (
                "a:\n  <<: 1\n",
                "error converting YAML to JSON: yaml: map merge requires map or sequence of maps as the value",
            ),
        ] {
            assert_eq!(to_json(text).unwrap_err(), want, "{text}");
        }
        assert!(
            to_json("a: [1, 2")
                .unwrap_err()
                .starts_with("error converting YAML to JSON: yaml: line "),
        );
        assert!(
            to_json("? [1]\n: x\n")
                .unwrap_err()
                .contains("invalid map key")
        );
        assert!(to_json("a: *nope\n").is_err());
    }

    #[test]
    fn alias_bombs_and_deep_nesting_are_refused() {
        let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let p = i - 1;
            bomb.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        assert!(to_json(&bomb).unwrap_err().contains("excessive aliasing"));
        // The parser stops first at its own recursion limit, below ours.
        let deep = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
        assert!(
            to_json(&deep)
                .unwrap_err()
                .contains("line 1: recursion limit exceeded")
        );
        let nested = format!("{}{}", "[".repeat(100), "]".repeat(100));
        assert!(to_json(&nested).is_ok());
    }
}
