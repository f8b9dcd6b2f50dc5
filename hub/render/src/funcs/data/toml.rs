//! Helm's `toToml` and `fromToml`.
//!
//! `toToml` follows the encoder Helm uses (BurntSushi/toml): keys sorted, a table's plain keys
//! before its sub-tables, sub-tables indented two spaces per level, a list of maps as an array
//! of tables (`[[name]]`), other lists and maps inside lists inline, floats always with a
//! decimal point or an exponent (`1.0`, `1e+06`), nil map entries left out, and a nil list
//! element refused. Helm returns an encoding error as the function's text, so it is not a
//! render error.
//!
//! `fromToml` parses a TOML document into a map: integers are `int64`, floats `float64`,
//! dates and times `time.Time` (local ones in the zones `date-local`, `time-local` and
//! `datetime-local`, as BurntSushi/toml reads them). A document that does not parse gives a
//! map whose `Error` key holds the parser's message.

use chrono::{NaiveDate, NaiveTime};

use super::super::Ctx;
use super::dates::{format_time, time_value};
use crate::value::{Map, Value, format_float_g};

/// What `toToml` returns for nil: Go's reflection panics, and Helm reports the panic.
const NIL_DOCUMENT: &str = "reflect: call of reflect.Value.Type on zero Value";
const ERR_NIL_ELEMENT: &str = "toml: cannot encode array with nil element";
const ERR_NO_KEY: &str = "toml: top-level values must be Go maps or structs";

/// `toToml V`.
pub(super) fn to_toml(_: &mut Ctx, args: &[Value]) -> Result<Value, String> {
    let [v] = args else {
        return Err(format!(
            "wrong number of args for toToml: want 1 got {}",
            args.len()
        ));
    };
    if v.is_nil() {
        return Err(NIL_DOCUMENT.to_owned());
    }
    let mut enc = Encoder::default();
    Ok(Value::from(match enc.encode(&[], v) {
        Ok(()) => enc.out,
        Err(message) => message,
    }))
}

/// The TOML type of a value, as the encoder classifies map entries and list elements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Scalar,
    Array,
    /// A non-empty list of maps: written as an array of tables.
    ArrayOfTables,
    Table,
}

/// The value as the encoder sees it: objects by their plain value, except times.
fn plain(v: &Value) -> Value {
    match v {
        Value::Object(o) if o.type_name() != "time.Time" => o.plain(),
        other => other.clone(),
    }
}

/// `None` for nil; an error for a list with a nil element, at any depth of lists.
fn kind(v: &Value) -> Result<Option<Kind>, String> {
    Ok(Some(match plain(v) {
        Value::Nil => return Ok(None),
        Value::List(items) => {
            if is_table_array(&items)? {
                Kind::ArrayOfTables
            } else {
                Kind::Array
            }
        }
        Value::Map(_) => Kind::Table,
        _ => Kind::Scalar,
    }))
}

fn is_table_array(items: &[Value]) -> Result<bool, String> {
    if items.is_empty() {
        return Ok(false);
    }
    let mut all_tables = true;
    for item in items {
        match kind(item)? {
            None => return Err(ERR_NIL_ELEMENT.to_owned()),
            Some(Kind::Table) => {}
            Some(_) => all_tables = false,
        }
    }
    Ok(all_tables)
}

fn is_table(k: Option<Kind>) -> bool {
    matches!(k, Some(Kind::Table | Kind::ArrayOfTables))
}

/// A key part as TOML writes it: bare when it is only letters, digits, `_` and `-`.
fn key_part(part: &str) -> String {
    let bare = !part.is_empty()
        && part
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if bare { part.to_owned() } else { quoted(part) }
}

fn dotted(key: &[String]) -> String {
    key.iter()
        .map(|p| key_part(p))
        .collect::<Vec<_>>()
        .join(".")
}

/// A basic string with BurntSushi's escapes.
fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            '\0'..='\u{1f}' | '\u{7f}' => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A float: Go's shortest `%g`, with `.0` added when it has neither a point nor an exponent.
fn float(x: f64) -> String {
    if x.is_nan() {
        return "nan".to_owned();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf" } else { "-inf" }.to_owned();
    }
    let mut s = format_float_g(x);
    if !s.contains(['.', 'e']) {
        s.push_str(".0");
    }
    s
}

/// A time in the layout of its kind: local dates and times without a zone, others RFC 3339.
fn time(v: &Value) -> Option<String> {
    let (zone, _) = format_time(v, "")?;
    let layout = match zone.as_str() {
        "date-local" => "2006-01-02",
        "time-local" => "15:04:05.999999999",
        "datetime-local" => "2006-01-02T15:04:05.999999999",
        _ => "2006-01-02T15:04:05.999999999Z07:00",
    };
    format_time(v, layout).map(|(_, text)| text)
}

#[derive(Default)]
struct Encoder {
    out: String,
}

impl Encoder {
    fn write(&mut self, s: &str) {
        self.out.push_str(s);
    }

    /// A line break, unless nothing has been written yet.
    fn newline(&mut self) {
        if !self.out.is_empty() {
            self.out.push('\n');
        }
    }

    fn indent(&mut self, key: &[String]) {
        for _ in 1..key.len() {
            self.out.push_str("  ");
        }
    }

    fn encode(&mut self, key: &[String], v: &Value) -> Result<(), String> {
        if time(v).is_some() {
            return self.key_value(key, v, false);
        }
        match kind(v)? {
            None => Ok(()),
            Some(Kind::Table) => self.table(key, &plain(v)),
            Some(Kind::ArrayOfTables) => self.array_of_tables(key, &plain(v)),
            Some(Kind::Scalar | Kind::Array) => self.key_value(key, v, false),
        }
    }

    /// `key = value` (just the value for the document itself).
    fn key_value(&mut self, key: &[String], v: &Value, inline: bool) -> Result<(), String> {
        let Some(last) = key.last() else {
            return self.element(v);
        };
        self.indent(key);
        self.write(&key_part(last));
        self.write(" = ");
        self.element(v)?;
        if !inline {
            self.newline();
        }
        Ok(())
    }

    fn table(&mut self, key: &[String], v: &Value) -> Result<(), String> {
        if key.len() == 1 {
            // A blank line between top-level tables.
            self.newline();
        }
        if !key.is_empty() {
            self.indent(key);
            self.write(&format!("[{}]", dotted(key)));
            self.newline();
        }
        match v {
            Value::Map(m) => self.map(key, m, false),
            _ => Ok(()),
        }
    }

    fn array_of_tables(&mut self, key: &[String], v: &Value) -> Result<(), String> {
        if key.is_empty() {
            return Err(ERR_NO_KEY.to_owned());
        }
        for item in v.as_list().unwrap_or_default() {
            let Value::Map(m) = plain(item) else {
                continue;
            };
            self.newline();
            self.indent(key);
            self.write(&format!("[[{}]]", dotted(key)));
            self.newline();
            self.map(key, &m, false)?;
        }
        Ok(())
    }

    /// A map's entries: plain keys first, then sub-tables, each group sorted.
    fn map(&mut self, key: &[String], m: &Map, inline: bool) -> Result<(), String> {
        let mut direct = Vec::new();
        let mut sub = Vec::new();
        for (k, v) in m.entries() {
            if is_table(kind(&v)?) {
                sub.push((k, v));
            } else {
                direct.push((k, v));
            }
        }
        if inline {
            self.write("{");
        }
        let trailing_comma = !sub.is_empty();
        self.entries(key, &direct, inline, trailing_comma)?;
        self.entries(key, &sub, inline, false)?;
        if inline {
            self.write("}");
        }
        Ok(())
    }

    fn entries(
        &mut self,
        key: &[String],
        entries: &[(String, Value)],
        inline: bool,
        trailing_comma: bool,
    ) -> Result<(), String> {
        for (i, (k, v)) in entries.iter().enumerate() {
            if v.is_nil() {
                continue;
            }
            if inline {
                self.key_value(std::slice::from_ref(k), v, true)?;
                if trailing_comma || i + 1 != entries.len() {
                    self.write(", ");
                }
            } else {
                let mut sub_key = key.to_vec();
                sub_key.push(k.clone());
                self.encode(&sub_key, v)?;
            }
        }
        Ok(())
    }

    /// A value in `key = value` position or inside an array.
    fn element(&mut self, v: &Value) -> Result<(), String> {
        if let Some(text) = time(v) {
            self.write(&text);
            return Ok(());
        }
        match plain(v) {
            Value::Str(s) => self.write(&quoted(&s)),
            Value::Bool(b) => self.write(if b { "true" } else { "false" }),
            Value::Int(i) | Value::Int64(i) => self.write(&i.to_string()),
            Value::Float(x) => self.write(&float(x)),
            Value::List(items) => {
                self.write("[");
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        self.write(", ");
                    }
                    self.element(item)?;
                }
                self.write("]");
            }
            Value::Map(m) => self.map(&[], &m, true)?,
            Value::Nil | Value::Object(_) => {
                return Err(format!("toml: unsupported type: {}", v.type_name()));
            }
        }
        Ok(())
    }
}

/// `fromToml TEXT`.
pub(super) fn from_toml(_: &mut Ctx, args: &[Value]) -> Result<Value, String> {
    let [text] = args else {
        return Err(format!(
            "wrong number of args for fromToml: want 1 got {}",
            args.len()
        ));
    };
    let text = text.as_str().ok_or_else(|| {
        format!(
            "wrong type for value; expected string; got {}",
            if text.is_nil() {
                "interface {}"
            } else {
                text.type_name()
            }
        )
    })?;
    let out = Map::new();
    match text.parse::<toml::Table>() {
        Ok(table) => {
            for (k, v) in table {
                out.insert(k, from_toml_value(v));
            }
        }
        Err(e) => out.insert("Error", Value::from(parse_error(text, &e))),
    }
    Ok(Value::Map(out))
}

/// The parser's message in BurntSushi's shape: `toml: line N: ...`.
fn parse_error(text: &str, e: &toml::de::Error) -> String {
    let message = e.message().trim_end();
    match e.span() {
        Some(span) => {
            let line = text
                .get(..span.start)
                .map_or(1, |before| before.matches('\n').count() + 1);
            format!("toml: line {line}: {message}")
        }
        None => format!("toml: {message}"),
    }
}

fn from_toml_value(v: toml::Value) -> Value {
    match v {
        toml::Value::String(s) => Value::from(s),
        toml::Value::Integer(i) => Value::Int64(i),
        toml::Value::Float(x) => Value::Float(x),
        toml::Value::Boolean(b) => Value::Bool(b),
        toml::Value::Datetime(d) => datetime(&d),
        toml::Value::Array(items) => {
            Value::from(items.into_iter().map(from_toml_value).collect::<Vec<_>>())
        }
        toml::Value::Table(table) => {
            let m = Map::new();
            for (k, v) in table {
                m.insert(k, from_toml_value(v));
            }
            Value::Map(m)
        }
    }
}

/// A TOML date or time as the `time.Time` BurntSushi/toml gives: offset date-times in a zone
/// of that offset (`Z` is UTC), local ones in UTC under the names of their kind, a local time on
/// January 1 of year 0.
fn datetime(d: &toml::value::Datetime) -> Value {
    let date = d.date.map_or_else(
        || NaiveDate::from_ymd_opt(0, 1, 1),
        |date| {
            NaiveDate::from_ymd_opt(
                i32::from(date.year),
                u32::from(date.month),
                u32::from(date.day),
            )
        },
    );
    let time = match d.time {
        Some(t) => NaiveTime::from_hms_nano_opt(
            u32::from(t.hour),
            u32::from(t.minute),
            u32::from(t.second.unwrap_or(0)),
            t.nanosecond.unwrap_or(0),
        ),
        None => NaiveTime::from_hms_opt(0, 0, 0),
    };
    let (Some(date), Some(time)) = (date, time) else {
        return Value::str(d.to_string());
    };
    let local = date.and_time(time).and_utc();
    let (offset, zone) = match (d.date.is_some(), d.time.is_some(), d.offset) {
        (_, _, Some(toml::value::Offset::Z)) => (0, "UTC"),
        (_, _, Some(toml::value::Offset::Custom { minutes })) => (i32::from(minutes) * 60, ""),
        (true, true, None) => (0, "datetime-local"),
        (true, false, None) => (0, "date-local"),
        (false, _, None) => (0, "time-local"),
    };
    let secs = local.timestamp() - i64::from(offset);
    time_value(secs, local.timestamp_subsec_nanos(), offset, zone)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::Map;

    fn toml_of(v: Value) -> String {
        to_toml(&mut Ctx::new([0; 32], 0), &[v])
            .unwrap()
            .as_str()
            .unwrap()
            .to_owned()
    }

    fn dict(entries: Vec<(&str, Value)>) -> Value {
        let m = Map::new();
        for (k, v) in entries {
            m.insert(k, v);
        }
        Value::Map(m)
    }

    fn list(items: Vec<Value>) -> Value {
        Value::from(items)
    }

    /// Outputs of Helm v4's `toToml` for the same values.
    #[test]
    fn encodes_as_helm_does() {
        let values = dict(vec![
            ("f1", Value::Float(1.0)),
            ("f3", Value::Float(1e6)),
            ("f5", Value::Float(1e-7)),
            ("f7", Value::Float(-0.0)),
            (
                "s1",
                Value::str("quote\" back\\ tab\t del\u{7f} esc\u{1b} é"),
            ),
            ("b", Value::Bool(true)),
            (
                "l",
                list(vec![
                    Value::Float(1.0),
                    list(vec![Value::Float(2.0)]),
                    Value::str("x"),
                ]),
            ),
            (
                "nested",
                dict(vec![
                    ("k", Value::str("v")),
                    ("inner", dict(vec![("deep", Value::Float(1.0))])),
                ]),
            ),
            (
                "aot",
                list(vec![
                    dict(vec![("a", Value::Float(1.0))]),
                    dict(vec![
                        ("b", Value::Float(2.0)),
                        ("sub", dict(vec![("c", Value::Float(3.0))])),
                        ("list", list(vec![Value::Float(1.0)])),
                    ]),
                ]),
            ),
            ("e", dict(vec![])),
            ("n", Value::Nil),
        ]);
        assert_eq!(
            toml_of(values),
            "b = true\nf1 = 1.0\nf3 = 1e+06\nf5 = 1e-07\nf7 = -0.0\n\
             l = [1.0, [2.0], \"x\"]\n\
             s1 = \"quote\\\" back\\\\ tab\\t del\\u007f esc\\u001b é\"\n\
             \n[[aot]]\n  a = 1.0\n\
             \n[[aot]]\n  b = 2.0\n  list = [1.0]\n  [aot.sub]\n    c = 3.0\n\
             \n[e]\n\
             \n[nested]\n  k = \"v\"\n  [nested.inner]\n    deep = 1.0\n"
        );
        assert_eq!(
            toml_of(dict(vec![(
                "x",
                list(vec![dict(vec![
                    ("a", Value::Int(1)),
                    (
                        "y",
                        list(vec![
                            dict(vec![("b", Value::Int(2))]),
                            dict(vec![("c", Value::Int(3))]),
                        ])
                    ),
                    ("z", dict(vec![("q", Value::Int(1))])),
                ])])
            )])),
            "[[x]]\n  a = 1\n\n  [[x.y]]\n    b = 2\n\n  [[x.y]]\n    c = 3\n  [x.z]\n    q = 1\n"
        );
        assert_eq!(
            toml_of(dict(vec![
                ("a b", Value::Int(1)),
                ("c.d", Value::Int(2)),
                ("", Value::Int(4)),
                ("x-y_z", Value::Int(5)),
            ])),
            "\"\" = 4\n\"a b\" = 1\n\"c.d\" = 2\nx-y_z = 5\n"
        );
        // Inline tables inside lists, BurntSushi's comma left behind a nil entry included.
        assert_eq!(
            toml_of(dict(vec![(
                "l",
                list(vec![list(vec![dict(vec![
                    ("a", Value::Int(1)),
                    ("z", Value::Nil)
                ])])])
            )])),
            "l = [[{a = 1, }]]\n"
        );
        assert_eq!(
            toml_of(dict(vec![(
                "inl",
                list(vec![list(vec![
                    dict(vec![
                        ("a", Value::Int(1)),
                        ("b", dict(vec![("c", Value::Int(2))]))
                    ]),
                    dict(vec![]),
                ])])
            )])),
            "inl = [[{a = 1, b = {c = 2}}, {}]]\n"
        );
        assert_eq!(
            toml_of(dict(vec![(
                "a",
                list(vec![dict(vec![("q", Value::Int(1))]), Value::Int(2)])
            )])),
            "a = [{q = 1}, 2]\n"
        );
        assert_eq!(
            toml_of(dict(vec![
                ("a", Value::Int64(3)),
                ("nan", Value::Float(f64::NAN)),
                ("inf", Value::Float(f64::NEG_INFINITY)),
                ("big", Value::Float(1.234_567_890_123_456_8e17)),
            ])),
            "a = 3\nbig = 1.2345678901234568e+17\ninf = -inf\nnan = nan\n"
        );
    }

    #[test]
    fn documents_that_are_not_tables() {
        assert_eq!(toml_of(list(vec![Value::Int(1), Value::Int(2)])), "[1, 2]");
        assert_eq!(toml_of(Value::str("s")), "\"s\"");
        assert_eq!(toml_of(Value::Float(2.5)), "2.5");
        assert_eq!(
            toml_of(list(vec![dict(vec![("a", Value::Int(1))])])),
            ERR_NO_KEY
        );
        assert_eq!(
            toml_of(dict(vec![("a", list(vec![Value::Int(1), Value::Nil]))])),
            ERR_NIL_ELEMENT
        );
        assert_eq!(
            toml_of(dict(vec![("a", list(vec![list(vec![Value::Nil])]))])),
            ERR_NIL_ELEMENT
        );
        assert_eq!(
            to_toml(&mut Ctx::new([0; 32], 0), &[Value::Nil]).unwrap_err(),
            NIL_DOCUMENT
        );
    }

    fn parsed(text: &str) -> Value {
        from_toml(&mut Ctx::new([0; 32], 0), &[Value::str(text)]).unwrap()
    }

    #[test]
    fn decodes_as_helm_does() {
        let v = parsed(
            "a = 1\nb = 1.5\nc = \"x\"\nd = true\ne = [1, \"two\"]\n[t]\nk = 2\n[[arr]]\nx = 1\n",
        );
        assert_eq!(
            v.to_json(),
            serde_json::json!({"a": 1, "arr": [{"x": 1}], "b": 1.5, "c": "x", "d": true,
                               "e": [1, "two"], "t": {"k": 2}})
        );
        let m = v.as_map().unwrap();
        assert_eq!(m.get("a").unwrap().type_name(), "int64");
        assert_eq!(m.get("b").unwrap().type_name(), "float64");
        assert_eq!(m.get("e").unwrap().type_name(), "[]interface {}");

        let t = parsed(
            "d = 1979-05-27T07:32:00Z\nld = 1979-05-27\nlt = 07:32:00.25\n\
             ldt = 1979-05-27T07:32:00\no = 1979-05-27T00:32:00-07:00\n",
        );
        let t = t.as_map().unwrap();
        let shown = |k: &str| t.get(k).unwrap().go_string();
        assert_eq!(t.get("d").unwrap().type_name(), "time.Time");
        assert_eq!(shown("d"), "1979-05-27 07:32:00 +0000 UTC");
        assert_eq!(shown("ld"), "1979-05-27 00:00:00 +0000 date-local");
        assert_eq!(shown("lt"), "0000-01-01 07:32:00.25 +0000 time-local");
        assert_eq!(shown("ldt"), "1979-05-27 07:32:00 +0000 datetime-local");
        assert_eq!(shown("o"), "1979-05-27 00:32:00 -0700 -0700");
        // And back, each in its own layout.
        assert_eq!(
            toml_of(Value::Map(t.clone())),
            "d = 1979-05-27T07:32:00Z\nld = 1979-05-27\nldt = 1979-05-27T07:32:00\n\
             lt = 07:32:00.25\no = 1979-05-27T00:32:00-07:00\n"
        );
    }

    #[test]
    fn parse_errors_land_in_the_error_key() {
        let v = parsed("a = 1\n[b\n");
        let err = v.as_map().unwrap().get("Error").unwrap();
        assert!(
            err.as_str().unwrap().starts_with("toml: line 2: "),
            "{err:?}"
        );
        let v = parsed("a = 1\na = 2");
        assert!(v.as_map().unwrap().contains_key("Error"));
        assert_eq!(parsed("").as_map().unwrap().len(), 0);
    }
}
