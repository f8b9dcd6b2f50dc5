//! JSON as Go's `encoding/json` writes and reads it: `toJson` (HTML-escaped), `toRawJson`,
//! `toPrettyJson` (two-space indent), their `must` forms, `fromJson` and `fromJsonArray`.

use super::super::Ctx;
use crate::value::{Map, Value};

/// Encodes `value` as `json.Marshal` does; `escape_html` escapes `<`, `>` and `&`.
pub(crate) fn encode(value: &Value, escape_html: bool, indent: bool) -> Result<String, String> {
    let mut out = String::new();
    write(value, escape_html, indent.then_some(0), &mut out, 0)?;
    Ok(out)
}

fn newline(out: &mut String, level: Option<usize>) {
    if let Some(level) = level {
        out.push('\n');
        for _ in 0..level {
            out.push_str("  ");
        }
    }
}

fn write(
    value: &Value,
    escape_html: bool,
    level: Option<usize>,
    out: &mut String,
    depth: usize,
) -> Result<(), String> {
    if depth > 10_000 {
        return Err("json: unsupported value: encountered a cycle".to_owned());
    }
    let inner = level.map(|l| l + 1);
    match value {
        Value::Nil => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) | Value::Int64(i) => out.push_str(&i.to_string()),
        Value::Float(x) => out.push_str(&float(*x)?),
        Value::Str(s) => string(s, escape_html, out),
        Value::List(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, inner);
                write(item, escape_html, inner, out, depth + 1)?;
            }
            if !items.is_empty() {
                newline(out, level);
            }
            out.push(']');
        }
        Value::Map(m) => {
            let entries = m.entries();
            out.push('{');
            for (i, (k, v)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, inner);
                string(k, escape_html, out);
                out.push(':');
                if level.is_some() {
                    out.push(' ');
                }
                write(v, escape_html, inner, out, depth + 1)?;
            }
            if !entries.is_empty() {
                newline(out, level);
            }
            out.push('}');
        }
        Value::Object(o) => write(&o.plain(), escape_html, level, out, depth + 1)?,
    }
    Ok(())
}

/// A float64 as `encoding/json` prints it: positional between 1e-6 and 1e21, else exponent
/// form with at least two exponent digits for positive exponents (`1e+21`, `1e-7`).
pub(crate) fn float(x: f64) -> Result<String, String> {
    if !x.is_finite() {
        return Err(format!(
            "json: unsupported value: {}",
            crate::value::format_float_g(x)
        ));
    }
    let abs = x.abs();
    if abs == 0.0 || (1e-6..1e21).contains(&abs) {
        return Ok(format!("{x}"));
    }
    let sci = format!("{x:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    Ok(match exp.strip_prefix('-') {
        Some(e) => format!("{mantissa}e-{e}"),
        None if exp.len() < 2 => format!("{mantissa}e+0{exp}"),
        None => format!("{mantissa}e+{exp}"),
    })
}

fn string(s: &str, escape_html: bool, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' if escape_html => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            '\u{2028}' | '\u{2029}' => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Decodes JSON text as `json.Unmarshal` into `interface{}` does (numbers are float64), with
/// Go's messages for the common errors.
pub(crate) fn decode(text: &str) -> Result<Value, String> {
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(v) => Ok(Value::from_json(&v)),
        Err(e) => Err(go_error(text, &e)),
    }
}

fn go_error(text: &str, e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    if text.trim().is_empty() || e.classify() == Category::Eof {
        return "unexpected end of JSON input".to_owned();
    }
    // Find the offending character from the line and column.
    let offset: usize = text
        .split_inclusive('\n')
        .take(e.line().saturating_sub(1))
        .map(str::len)
        .sum::<usize>()
        + e.column().saturating_sub(1);
    let c = text.get(offset..).and_then(|t| t.chars().next());
    match c {
        Some(c) if e.to_string().starts_with("trailing characters") => {
            format!("invalid character '{c}' after top-level value")
        }
        Some(c) => format!("invalid character '{c}' looking for beginning of value"),
        None => "unexpected end of JSON input".to_owned(),
    }
}

fn arg(args: &[Value]) -> Value {
    args.first().cloned().unwrap_or_default()
}

fn str_arg(args: &[Value]) -> String {
    match args.first() {
        Some(Value::Str(s)) => s.to_string(),
        Some(Value::Nil) | None => String::new(),
        Some(other) => other.go_string(),
    }
}

pub(super) fn to_json(_: &mut Ctx, args: &[Value]) -> Result<Value, String> {
    Ok(Value::from(
        encode(&arg(args), true, false).unwrap_or_default(),
    ))
}

pub(super) fn must_to_json(_: &mut Ctx, args: &[Value]) -> Result<Value, String> {
    encode(&arg(args), true, false).map(Value::from)
}

pub(super) fn to_raw_json(_: &mut Ctx, args: &[Value]) -> Result<Value, String> {
    Ok(Value::from(
        encode(&arg(args), false, false).unwrap_or_default(),
    ))
}

pub(super) fn must_to_raw_json(_: &mut Ctx, args: &[Value]) -> Result<Value, String> {
    encode(&arg(args), false, false).map(Value::from)
}

pub(super) fn to_pretty_json(_: &mut Ctx, args: &[Value]) -> Result<Value, String> {
    Ok(Value::from(
        encode(&arg(args), true, true).unwrap_or_default(),
    ))
}

pub(super) fn must_to_pretty_json(_: &mut Ctx, args: &[Value]) -> Result<Value, String> {
    encode(&arg(args), true, true).map(Value::from)
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Bool(_) => "bool",
        Value::Int(_) | Value::Int64(_) | Value::Float(_) => "number",
        Value::Str(_) => "string",
        Value::List(_) => "array",
        _ => "object",
    }
}

/// `fromJson`: a map; on error, a map whose `Error` key holds Go's message.
pub(super) fn from_json(_: &mut Ctx, args: &[Value]) -> Result<Value, String> {
    let result = decode(&str_arg(args)).and_then(|v| match v {
        Value::Nil => Ok(Value::Map(Map::new())),
        m @ Value::Map(_) => Ok(m),
        other => Err(format!(
            "json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
            kind(&other)
        )),
    });
    Ok(result.unwrap_or_else(|e| {
        let m = Map::new();
        m.insert("Error", Value::from(e));
        Value::Map(m)
    }))
}

/// `fromJsonArray`: a list; on error, a list holding Go's message.
pub(super) fn from_json_array(_: &mut Ctx, args: &[Value]) -> Result<Value, String> {
    let result = decode(&str_arg(args)).and_then(|v| match v {
        Value::Nil => Ok(Value::from(Vec::new())),
        l @ Value::List(_) => Ok(l),
        other => Err(format!(
            "json: cannot unmarshal {} into Go value of type []interface {{}}",
            kind(&other)
        )),
    });
    Ok(result.unwrap_or_else(|e| Value::from(vec![Value::from(e)])))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(f: super::super::super::Func, args: &[Value]) -> String {
        f(&mut Ctx::new([0; 32], 0), args).unwrap().go_string()
    }

    fn sample() -> Value {
        let m = Map::new();
        m.insert("a", Value::str("<x>&"));
        m.insert(
            "b",
            Value::from(vec![
                Value::Int(1),
                Value::Float(1.5),
                Value::Float(1e6),
                Value::Float(1e21),
                Value::Float(1e-7),
                Value::Float(-0.0),
            ]),
        );
        m.insert("c", Value::Nil);
        m.insert("d", Value::Map(Map::new()));
        m.insert("e", Value::from(Vec::new()));
        m.insert("u", Value::str("\u{2028}é\t"));
        Value::Map(m)
    }

    /// Expected texts are Helm's output for the same values.
    #[test]
    fn encodes_as_go_does() {
        assert_eq!(
            call(to_json, &[sample()]),
            r#"{"a":"\u003cx\u003e\u0026","b":[1,1.5,1000000,1e+21,1e-7,-0],"c":null,"d":{},"e":[],"u":"\u2028é\t"}"#
        );
        assert_eq!(
            call(to_raw_json, &[sample()]),
            r#"{"a":"<x>&","b":[1,1.5,1000000,1e+21,1e-7,-0],"c":null,"d":{},"e":[],"u":"\u2028é\t"}"#
        );
        let m = Map::new();
        m.insert("a", Value::str("<"));
        m.insert(
            "b",
            Value::from(vec![Value::Int(1), Value::Map(Map::new())]),
        );
        let c = Map::new();
        c.insert("x", Value::from(Vec::new()));
        m.insert("c", Value::Map(c));
        assert_eq!(
            call(to_pretty_json, &[Value::Map(m)]),
            "{\n  \"a\": \"\\u003c\",\n  \"b\": [\n    1,\n    {}\n  ],\n  \"c\": {\n    \"x\": []\n  }\n}"
        );
        assert_eq!(call(to_json, &[Value::Float(f64::NAN)]), "");
        assert!(must_to_json(&mut Ctx::new([0; 32], 0), &[Value::Float(f64::NAN)]).is_err());
    }

    #[test]
    fn decodes_with_go_messages() {
        for (input, want) in [
            ("{\"a\":1}", "map[a:1]"),
            (
                "[1]",
                "map[Error:json: cannot unmarshal array into Go value of type map[string]interface {}]",
            ),
            (
                "x",
                "map[Error:invalid character 'x' looking for beginning of value]",
            ),
            ("", "map[Error:unexpected end of JSON input]"),
            ("null", "map[]"),
            (
                "{\"a\":1} x",
                "map[Error:invalid character 'x' after top-level value]",
            ),
        ] {
            assert_eq!(call(from_json, &[Value::str(input)]), want, "{input}");
        }
        for (input, want) in [
            ("[1,\"a\"]", "[1 a]"),
            (
                "{}",
                "[json: cannot unmarshal object into Go value of type []interface {}]",
            ),
            ("[", "[unexpected end of JSON input]"),
        ] {
            assert_eq!(call(from_json_array, &[Value::str(input)]), want, "{input}");
        }
    }
}
