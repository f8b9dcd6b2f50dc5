//! Tests of the template engine against outputs and messages checked with Helm.

use super::*;
use crate::funcs::Ctx;
use crate::value::Map;

/// Parity harness: renders the cases of `$HARNESS_IN` (a JSON list of `{tpl | files, values}`)
/// as Helm would, writing `{out}` or `{err}` per case to `$HARNESS_OUT`.
#[test]
#[ignore]
fn harness() {
    let (Ok(input), Ok(output)) = (std::env::var("HARNESS_IN"), std::env::var("HARNESS_OUT")) else {
        return;
    };
    let cases: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(input).unwrap()).unwrap();
    let mut results = Vec::new();
    for case in cases {
        let mut files: Vec<(String, String)> = match case.get("files") {
            Some(serde_json::Value::Object(m)) => m
                .iter()
                .map(|(k, v)| (format!("t/templates/{k}"), v.as_str().unwrap().to_owned()))
                .collect(),
            _ => vec![(
                "t/templates/x.yaml".to_owned(),
                case["tpl"].as_str().unwrap().to_owned(),
            )],
        };
        // Helm's parse order: deeper paths first, then reverse lexical order.
        files.sort_by(|a, b| {
            let (ca, cb) = (a.0.matches('/').count(), b.0.matches('/').count());
            cb.cmp(&ca).then(b.0.cmp(&a.0))
        });
        let values_text = case.get("values").and_then(|v| v.as_str()).unwrap_or("");
        let values: serde_json::Value = if values_text.trim().is_empty() {
            serde_json::json!({})
        } else {
            serde_saphyr::from_str(values_text).unwrap()
        };
        results.push(render_case(&files, &values));
    }
    std::fs::write(output, serde_json::to_string_pretty(&results).unwrap()).unwrap();
}

fn render_case(files: &[(String, String)], values: &serde_json::Value) -> serde_json::Value {
    let mut set = Templates::new();
    for (name, text) in files {
        if let Err(e) = set.add(name, text) {
            return serde_json::json!({ "err": e.to_string() });
        }
    }
    let mut exec = Exec::new(Ctx::new([0; 32], 0));
    let mut out = serde_json::Map::new();
    for (name, _) in files {
        if name.rsplit('/').next().unwrap().starts_with('_') {
            continue;
        }
        let top = Map::new();
        top.insert("Values", Value::from_json(values));
        let release = Map::new();
        release.insert("Name", Value::str("release-name"));
        release.insert("Namespace", Value::str("default"));
        top.insert("Release", Value::Map(release));
        let template = Map::new();
        template.insert("Name", Value::str(name));
        template.insert("BasePath", Value::str("t/templates"));
        top.insert("Template", Value::Map(template));
        let chart = Map::new();
        chart.insert("Name", Value::str("t"));
        chart.insert("Version", Value::str("0.1.0"));
        top.insert("Chart", Value::Map(chart));
        match set.execute(name, &Value::Map(top), &mut exec) {
            Ok(s) => {
                out.insert(name.clone(), serde_json::Value::String(s.replace("<no value>", "")));
            }
            Err(e) => return serde_json::json!({ "err": e.to_string() }),
        }
    }
    serde_json::json!({ "out": out })
}

#[test]
#[ignore]
fn stack_probe() {
    let h = std::thread::Builder::new().stack_size(256 << 20).spawn(|| {
        let mut set = Templates::new();
        set.add("x", r#"{{ define "r" }}{{ if lt . 5000 }}{{ include "r" (add1 .) }}{{ end }}{{ end }}{{ define "t" }}{{ if lt . 5000 }}{{ template "t" (add1 .) }}{{ end }}{{ end }}"#).unwrap_or_else(|e| panic!("{e}"));
        for name in ["r", "t"] {
            let mut exec = Exec::new(Ctx::new([0; 32], 0));
            exec.max_include_depth = 100000;
            exec.max_stack = 1 << 20;
            let err = set.execute(name, &Value::Int(0), &mut exec).unwrap_err();
            let depth = err.go_text().matches("executing").count();
            eprintln!("{name}: {} levels in 1 MiB; {}", depth, err.root().message);
        }
    }).unwrap();
    h.join().unwrap();
}
