//! YAML in Helm's dialect: `toYaml`, `toYamlPretty`, `fromYaml`, `fromYamlArray`, `mustToYaml`
//! and `mustFromYaml`.
//!
//! Writing goes through [`super::yaml_emit`], which reproduces go-yaml's output byte for byte;
//! reading uses the crate's YAML reader (YAML 1.1 booleans, legacy octal), with every number a
//! float64 as Helm's JSON round trip leaves it.

use super::super::Ctx;
use super::yaml_emit::{Dialect, emit};
use crate::value::Value;

/// Helm's `toYaml`: the value as `sigs.k8s.io/yaml.Marshal` writes it, with the final newline
/// (callers that print it as `toYaml` does trim one newline). Errors are the encoder's.
pub(crate) fn to_yaml_document(value: &Value) -> Result<String, String> {
    emit(value, Dialect::HelmV2)
}

/// Helm's `toYaml` exactly: the document without its final newline, or "" when the value
/// cannot be encoded.
pub(crate) fn to_yaml(value: &Value) -> String {
    to_yaml_document(value)
        .map(|text| trim_one_newline(&text).to_owned())
        .unwrap_or_default()
}

fn trim_one_newline(text: &str) -> &str {
    text.strip_suffix('\n').unwrap_or(text)
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

pub(super) fn to_yaml_fn(_: &mut Ctx, args: &[Value]) -> Result<Value, String> {
    Ok(Value::from(to_yaml(&arg(args))))
}

pub(super) fn must_to_yaml(_: &mut Ctx, args: &[Value]) -> Result<Value, String> {
    to_yaml_document(&arg(args)).map(|text| Value::from(trim_one_newline(&text)))
}

pub(super) fn to_yaml_pretty(_: &mut Ctx, args: &[Value]) -> Result<Value, String> {
    Ok(Value::from(
        emit(&arg(args), Dialect::PrettyV3)
            .map(|text| trim_one_newline(&text).to_owned())
            .unwrap_or_default(),
    ))
}

/// Parses a YAML document as Helm's `fromYaml` does (sigs.k8s.io/yaml: YAML 1.1 scalars),
/// numbers as float64.
fn parse(text: &str) -> Result<Value, String> {
    let json = crate::goyaml::to_json(text)?;
    Ok(Value::from_json(&json))
}

fn unmarshal_error(kind: &str, target: &str) -> String {
    format!(
        "error unmarshaling JSON: while decoding JSON: json: cannot unmarshal {kind} into Go value of type {target}"
    )
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Bool(_) => "bool",
        Value::Int(_) | Value::Int64(_) | Value::Float(_) => "number",
        Value::Str(_) => "string",
        Value::List(_) => "array",
        _ => "object",
    }
}

fn from_yaml_map(text: &str) -> Result<Value, String> {
    match parse(text)? {
        Value::Nil => Ok(Value::Map(crate::value::Map::new())),
        m @ Value::Map(_) => Ok(m),
        other => Err(unmarshal_error(
            json_kind(&other),
            "map[string]interface {}",
        )),
    }
}

fn from_yaml_list(text: &str) -> Result<Value, String> {
    match parse(text)? {
        Value::Nil => Ok(Value::from(Vec::new())),
        l @ Value::List(_) => Ok(l),
        other => Err(unmarshal_error(json_kind(&other), "[]interface {}")),
    }
}

/// `fromYaml`: a map; on error, a map whose `Error` key holds the message.
pub(super) fn from_yaml(_: &mut Ctx, args: &[Value]) -> Result<Value, String> {
    Ok(from_yaml_map(&str_arg(args)).unwrap_or_else(|e| {
        let m = crate::value::Map::new();
        m.insert("Error", Value::from(e));
        Value::Map(m)
    }))
}

/// `fromYamlArray`: a list; on error, a list holding the message.
pub(super) fn from_yaml_array(_: &mut Ctx, args: &[Value]) -> Result<Value, String> {
    Ok(from_yaml_list(&str_arg(args)).unwrap_or_else(|e| Value::from(vec![Value::from(e)])))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    struct Case {
        f: String,
        #[serde(rename = "in")]
        input: serde_json::Value,
        out: String,
    }

    /// Every case's expected text is real Helm's output for the same value.
    #[test]
    fn to_yaml_matches_helm_byte_for_byte() {
        let cases: Vec<Case> = serde_json::from_str(include_str!("testdata/to_yaml.json")).unwrap();
        assert!(cases.len() > 600);
        let mut failures = Vec::new();
        for case in &cases {
            let value = Value::from_json(&case.input);
            let got = if case.f == "toYaml" {
                to_yaml(&value)
            } else {
                to_yaml_pretty(&mut Ctx::new([0; 32], 0), &[value])
                    .unwrap()
                    .as_str()
                    .unwrap()
                    .to_owned()
            };
            if got != case.out {
                failures.push(format!(
                    "{} {}\n  want {:?}\n  got  {:?}",
                    case.f, case.input, case.out, got
                ));
            }
        }
        assert!(
            failures.is_empty(),
            "{} of {} differ:\n{}",
            failures.len(),
            cases.len(),
            failures.join("\n")
        );
    }

    #[test]
    fn numbers_print_as_helm_prints_them() {
        let m = crate::value::Map::new();
        for (k, v) in [
            ("f1", 1.5),
            ("f2", 1e6),
            ("f3", 1e21),
            ("f4", 0.000001),
            ("f5", 1e-7),
            ("f6", 123456789.0),
            ("f7", 1e20),
            ("f8", 0.1),
            ("f9", 1e19),
            ("f10", 2e19),
            ("f11", 12345678.9),
            ("f12", 100000.0),
            ("f13", 0.0001),
            ("f14", -2.5e-5),
            ("neg", -0.0),
        ] {
            m.insert(k, Value::Float(v));
        }
        m.insert("i", Value::Int(5));
        let v = Value::Map(m);
        assert_eq!(
            to_yaml(&v),
            "f1: 1.5\nf2: 1000000\nf3: 1e+21\nf4: 1e-06\nf5: 1e-07\nf6: 123456789\nf7: 1e+20\n\
             f8: 0.1\nf9: 10000000000000000000\nf10: 2e+19\nf11: 1.23456789e+07\nf12: 100000\n\
             f13: 0.0001\nf14: -2.5e-05\ni: 5\nneg: 0"
        );
        let pretty = to_yaml_pretty(&mut Ctx::new([0; 32], 0), &[v]).unwrap();
        assert_eq!(
            pretty.as_str().unwrap(),
            "f1: 1.5\nf2: 1e+06\nf3: 1e+21\nf4: 1e-06\nf5: 1e-07\nf6: 1.23456789e+08\nf7: 1e+20\n\
             f8: 0.1\nf9: 1e+19\nf10: 2e+19\nf11: 1.23456789e+07\nf12: 100000\nf13: 0.0001\n\
             f14: -2.5e-05\ni: 5\nneg: -0"
        );
    }

    #[test]
    fn unencodable_values_give_an_empty_string() {
        assert_eq!(to_yaml(&Value::Float(f64::NAN)), "");
        assert!(must_to_yaml(&mut Ctx::new([0; 32], 0), &[Value::Float(f64::INFINITY)]).is_err());
        assert_eq!(to_yaml(&Value::str("a\u{7f}")), "");
    }

    #[test]
    fn from_yaml_reads_maps_lists_and_reports_errors_in_band() {
        let mut ctx = Ctx::new([0; 32], 0);
        let m = from_yaml(&mut ctx, &[Value::str("a: 1\nb: yes\nc: [x]\n")]).unwrap();
        assert_eq!(m.go_string(), "map[a:1 b:true c:[x]]");
        assert_eq!(
            m.as_map().and_then(|m| m.get("a")).unwrap().type_name(),
            "float64"
        );
        let e = from_yaml(&mut ctx, &[Value::str("- a\n")]).unwrap();
        assert!(
            e.as_map()
                .and_then(|m| m.get("Error"))
                .unwrap()
                .as_str()
                .unwrap()
                .contains("cannot unmarshal array")
        );
        let bad = from_yaml(&mut ctx, &[Value::str("a: [")]).unwrap();
        assert!(bad.as_map().unwrap().contains_key("Error"));
        let empty = from_yaml(&mut ctx, &[Value::str("")]).unwrap();
        assert_eq!(empty.go_string(), "map[]");
        let l = from_yaml_array(&mut ctx, &[Value::str("- 1\n- b\n")]).unwrap();
        assert_eq!(l.go_string(), "[1 b]");
        let le = from_yaml_array(&mut ctx, &[Value::str("a: 1")]).unwrap();
        assert!(
            le.as_list().unwrap()[0]
                .as_str()
                .unwrap()
                .contains("cannot unmarshal object")
        );
    }
}
