//! Tests of the template engine. `testdata/helm_cases.json` holds templates rendered by Helm
//! v4.2 with what Helm produced (output or error message); the engine must produce the same.
//! The other tests cover what the fixtures cannot: limits, objects, the API's sharing rules.

use std::rc::Rc;

use super::*;
use crate::funcs::Ctx;
use crate::value::{Map, Object};

fn exec() -> Exec {
    Exec::new(Ctx::new([0; 32], 0))
}

/// The top-level object Helm passes a template, reduced to what the fixtures use.
fn top(values: &serde_json::Value, name: &str) -> Value {
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
    Value::Map(top)
}

/// Renders `files` (chart-relative names and texts) as Helm does: parsed deepest path first,
/// then in reverse lexical order, and each non-partial executed in that order, stopping at the
/// first error. Returns `{"out": {file: text}}` or `{"err": message}`.
fn render(files: &[(String, String)], values: &serde_json::Value) -> serde_json::Value {
    let mut files = files.to_vec();
    files.sort_by(|a, b| {
        let (ca, cb) = (a.0.matches('/').count(), b.0.matches('/').count());
        cb.cmp(&ca).then(b.0.cmp(&a.0))
    });
    let mut set = Templates::new();
    for (name, text) in &files {
        if let Err(e) = set.add(name, text) {
            return serde_json::json!({ "err": e.to_string() });
        }
    }
    let mut exec = exec();
    let mut out = serde_json::Map::new();
    for (name, _) in &files {
        if name
            .rsplit('/')
            .next()
            .is_some_and(|base| base.starts_with('_'))
        {
            continue;
        }
        match set.execute(name, &top(values, name), &mut exec) {
            Ok(s) => {
                out.insert(
                    name.clone(),
                    serde_json::Value::String(s.replace("<no value>", "")),
                );
            }
            Err(e) => return serde_json::json!({ "err": e.to_string() }),
        }
    }
    serde_json::json!({ "out": out })
}

fn values(text: &str) -> serde_json::Value {
    if text.trim().is_empty() {
        return serde_json::json!({});
    }
    match serde_saphyr::from_str(text) {
        Ok(v) => v,
        Err(e) => panic!("bad values {text:?}: {e}"),
    }
}

/// The names of library functions a template calls, so that cases needing functions the
/// library does not have (yet) are skipped.
fn needs_missing_function(text: &str) -> bool {
    ["fail", "required"]
        .iter()
        .any(|f| text.contains(&format!("{f} ")) && crate::funcs::lookup(f).is_none())
}

#[test]
fn renders_as_helm_does() {
    let doc: serde_json::Value =
        match serde_json::from_str(include_str!("testdata/helm_cases.json")) {
            Ok(d) => d,
            Err(e) => panic!("bad fixture: {e}"),
        };
    let helpers = doc["helpers"].as_str().unwrap_or_default();
    let mut failures = Vec::new();
    let mut ran = 0;
    for case in doc["cases"].as_array().into_iter().flatten() {
        let mut files: Vec<(String, String)> = match case.get("files").and_then(|f| f.as_object()) {
            Some(m) => m
                .iter()
                .map(|(k, v)| {
                    (
                        format!("t/templates/{k}"),
                        v.as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect(),
            None => vec![(
                "t/templates/x.yaml".to_owned(),
                case["tpl"].as_str().unwrap_or_default().to_owned(),
            )],
        };
        if case.get("helpers").is_some() {
            files.push(("t/templates/_h.tpl".to_owned(), helpers.to_owned()));
        }
        if files.iter().any(|(_, text)| needs_missing_function(text)) {
            continue;
        }
        let want = match (case.get("out"), case.get("err")) {
            (Some(out), _) => serde_json::json!({ "out": out }),
            (None, Some(err)) => serde_json::json!({ "err": err }),
            _ => panic!("case without expectation: {case}"),
        };
        let got = render(&files, &values(case["values"].as_str().unwrap_or_default()));
        ran += 1;
        if got != want {
            failures.push(format!("{files:?}\n  helm: {want}\n  ours: {got}"));
        }
    }
    assert!(ran > 250, "only {ran} cases ran");
    assert!(
        failures.is_empty(),
        "{} of {ran} cases differ from Helm:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn one(text: &str) -> Result<String, Error> {
    let mut set = Templates::new();
    set.add("t/templates/x.yaml", text)?;
    set.execute(
        "t/templates/x.yaml",
        &top(&serde_json::json!({}), "x"),
        &mut exec(),
    )
}

#[test]
fn nil_prints_as_no_value_for_the_renderer_to_strip() {
    assert_eq!(
        one("[{{ .Values.missing }}]").ok().as_deref(),
        Some("[<no value>]")
    );
    assert_eq!(
        one("[{{ print .Values.missing }}]").ok().as_deref(),
        Some("[<nil>]")
    );
}

#[test]
fn errors_carry_their_location() {
    let e = one("a\n  {{ .Values.a.b }}")
        .err()
        .unwrap_or_else(|| panic!("no error"));
    assert_eq!(
        (e.template.as_str(), e.line, e.column),
        ("t/templates/x.yaml", 2, 12)
    );
    assert_eq!(e.kind, ErrorKind::Exec);
    assert_eq!(e.message, "nil pointer evaluating interface {}.b");
    assert_eq!(e.context(), Some(".Values.a.b"));
    assert_eq!(e.executing(), "t/templates/x.yaml");

    let e = one("a\n{{ nope }}")
        .err()
        .unwrap_or_else(|| panic!("no error"));
    assert_eq!((e.kind, e.line), (ErrorKind::Parse, 2));
    assert_eq!(
        e.to_string(),
        "parse error at (t/templates/x.yaml:2): function \"nope\" not defined"
    );
}

#[test]
fn include_errors_chain_to_the_template_that_failed() {
    let e = one(r#"{{ define "a" }}{{ .x.y }}{{ end }}{{ include "a" .Values }}"#)
        .err()
        .unwrap_or_else(|| panic!("no error"));
    assert_eq!(e.message, "error calling include");
    let cause = e.cause().unwrap_or_else(|| panic!("no cause"));
    assert_eq!(cause.executing(), "a");
    assert_eq!(cause.message, "nil pointer evaluating interface {}.y");
    assert_eq!(e.root().message, cause.message);
    assert_eq!(
        e.to_string(),
        "t/templates/x.yaml:1:38\n  executing \"t/templates/x.yaml\" at <include \"a\" .Values>:\n    error calling include:\nt/templates/x.yaml:1:21\n  executing \"a\" at <.x.y>:\n    nil pointer evaluating interface {}.y"
    );
}

#[test]
fn fail_and_required_show_helms_execution_error() {
    if crate::funcs::lookup("fail").is_none() {
        return;
    }
    let e = one("{{ define \"a\" }}{{ fail \"boom\" }}{{ end }}x\n {{ include \"a\" . }}")
        .err()
        .unwrap_or_else(|| panic!("no error"));
    assert_eq!(e.kind, ErrorKind::Fail);
    assert_eq!(
        e.to_string(),
        "execution error at (t/templates/x.yaml:2:4): boom"
    );
}

#[test]
fn a_set_is_parsed_once_and_executed_by_many_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Templates>();
    let mut set = Templates::new();
    let added = set.add(
        "t/templates/x.yaml",
        r#"{{ define "n" }}n{{ . }}{{ end }}{{ range $i, $_ := . }}{{ include "n" $i }}{{ end }}"#,
    );
    assert!(added.is_ok());
    let handles: Vec<_> = (0..4)
        .map(|k| {
            let set = set.clone();
            std::thread::spawn(move || {
                let list = Value::from((0..k).map(Value::Int).collect::<Vec<_>>());
                set.execute("t/templates/x.yaml", &list, &mut exec()).ok()
            })
        })
        .collect();
    let outs: Vec<_> = handles
        .into_iter()
        .map(|h| h.join().ok().flatten())
        .collect();
    assert_eq!(
        outs,
        [
            Some(String::new()),
            Some("n0".into()),
            Some("n0n1".into()),
            Some("n0n1n2".into())
        ]
    );
}

#[test]
fn later_definitions_replace_earlier_ones_but_empty_ones_do_not() {
    let mut set = Templates::new();
    for (name, text) in [
        (
            "c/templates/_b.tpl",
            r#"{{ define "x" }}B{{ end }}{{ define "y" }}B{{ end }}"#,
        ),
        (
            "c/templates/_a.tpl",
            r#"{{ define "x" }}A{{ end }}{{ define "y" }}  {{ end }}"#,
        ),
        (
            "c/templates/t.yaml",
            r#"{{ template "x" }}{{ template "y" }}"#,
        ),
    ] {
        assert!(set.add(name, text).is_ok());
    }
    assert!(set.contains("x") && set.contains("c/templates/_a.tpl") && !set.contains("z"));
    assert_eq!(
        set.execute("c/templates/t.yaml", &Value::Nil, &mut exec())
            .ok()
            .as_deref(),
        Some("AB")
    );
    let e = set
        .execute("nope", &Value::Nil, &mut exec())
        .err()
        .unwrap_or_else(|| panic!("no error"));
    assert_eq!(e.kind, ErrorKind::NotFound);
    assert_eq!(
        e.to_string(),
        "template: no template \"nope\" associated with template \"gotpl\""
    );
}

#[test]
fn the_step_budget_stops_long_loops() {
    let mut set = Templates::new();
    assert!(
        set.add("x", "{{ range 100000000 }}{{ . }}{{ end }}")
            .is_ok()
    );
    let mut exec = exec();
    exec.max_steps = 10_000;
    let e = set
        .execute("x", &Value::Nil, &mut exec)
        .err()
        .unwrap_or_else(|| panic!("no error"));
    assert_eq!(e.kind, ErrorKind::Limit);
    assert!(
        e.message.contains("10000 evaluation steps"),
        "{}",
        e.message
    );
    assert!(exec.steps() <= 10_001);
}

#[test]
fn the_output_limit_stops_runaway_output() {
    let mut set = Templates::new();
    assert!(set
        .add("x", r#"{{ define "a" }}{{ range 1000 }}0123456789{{ end }}{{ end }}{{ range 1000 }}{{ include "a" . }}{{ end }}"#)
        .is_ok());
    let mut exec = exec();
    exec.max_output = 100_000;
    let e = set
        .execute("x", &Value::Nil, &mut exec)
        .err()
        .unwrap_or_else(|| panic!("no error"));
    assert_eq!(e.kind, ErrorKind::Limit);
    assert!(
        e.to_string().contains("exceeded its limit of 100000 bytes"),
        "{e}"
    );
}

/// Runs `f` on a thread with a large stack, so that deep nesting hits the engine's limits
/// rather than the test thread's stack.
fn with_big_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    match std::thread::Builder::new().stack_size(256 << 20).spawn(f) {
        Ok(h) => match h.join() {
            Ok(v) => v,
            Err(e) => std::panic::resume_unwind(e),
        },
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn recursive_include_stops_at_helms_depth() {
    let e = with_big_stack(|| {
        let mut set = Templates::new();
        let _ = set.add(
            "t/templates/x.yaml",
            r#"{{ include "x" . }}{{ define "x" }}{{ include "x" . }}{{ end }}"#,
        );
        let mut exec = exec();
        exec.max_stack = 200 << 20;
        set.execute("t/templates/x.yaml", &Value::Nil, &mut exec)
            .err()
    })
    .unwrap_or_else(|| panic!("no error"));
    // Helm: 1002 nested calls, the last refused.
    let text = e.to_string();
    assert_eq!(text.matches("error calling include").count(), 1002);
    assert!(text.ends_with(
        "error calling include: rendering template has a nested reference name: x: unable to execute template"
    ));
    assert_eq!(e.kind, ErrorKind::Limit);
}

#[test]
fn recursive_template_stops_at_the_depth_limit() {
    let e = with_big_stack(|| {
        let mut set = Templates::new();
        let _ = set.add(
            "t",
            r#"{{ template "x" . }}{{ define "x" }}{{ template "x" . }}{{ end }}"#,
        );
        let mut exec = exec();
        exec.max_stack = 200 << 20;
        set.execute("t", &Value::Nil, &mut exec).err()
    })
    .unwrap_or_else(|| panic!("no error"));
    assert_eq!(e.kind, ErrorKind::Limit);
    assert_eq!(e.message, "exceeded maximum template depth (1000)");
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    // Parse: parentheses and control structures.
    let parens = format!("{{{{ {}1{} }}}}", "(".repeat(100_000), ")".repeat(100_000));
    let e = one(&parens).err().unwrap_or_else(|| panic!("no error"));
    assert_eq!(
        e.to_string(),
        "parse error at (t/templates/x.yaml:1): max expression depth exceeded"
    );
    let ifs = format!(
        "{}x{}",
        "{{ if 1 }}".repeat(100_000),
        "{{ end }}".repeat(100_000)
    );
    let e = one(&ifs).err().unwrap_or_else(|| panic!("no error"));
    assert_eq!(
        e.to_string(),
        "parse error at (t/templates/x.yaml:1): max nesting depth exceeded"
    );
    // Execution, on a thread with a small stack: nested includes within nested ifs.
    let text = format!(
        r#"{{{{ define "d" }}}}{}{{{{ include "d" . }}}}{}{{{{ end }}}}{{{{ include "d" . }}}}"#,
        "{{ if 1 }}".repeat(100),
        "{{ end }}".repeat(100)
    );
    let r = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || {
            let mut set = Templates::new();
            set.add("x", &text).map_err(|e| e.kind)?;
            set.execute("x", &Value::Nil, &mut exec())
                .map(|_| ())
                .map_err(|e| e.kind)
        });
    let kind = r.ok().and_then(|h| h.join().ok());
    assert_eq!(kind, Some(Err(ErrorKind::Limit)));
}

/// An object with a field and methods, like Helm's `.Files` and `.Capabilities`.
#[derive(Debug)]
struct Files;

impl Object for Files {
    fn type_name(&self) -> &str {
        "chart.Files"
    }
    fn field(&self, name: &str) -> Option<Value> {
        (name == "Count").then_some(Value::Int(2))
    }
    fn call(&self, name: &str, args: &[Value]) -> Option<Result<Value, String>> {
        match name {
            "Get" => Some(match args {
                [Value::Str(p)] if &**p == "a.txt" => Ok(Value::str("A")),
                [Value::Str(p)] => Err(format!("no file {p}")),
                _ => Err("wrong arguments".to_owned()),
            }),
            _ => None,
        }
    }
    fn plain(&self) -> Value {
        let m = Map::new();
        m.insert("a.txt", Value::str("A"));
        Value::Map(m)
    }
}

#[test]
fn objects_have_fields_and_methods() {
    let run = |text: &str| {
        let mut set = Templates::new();
        set.add("x", text)?;
        let top = Map::new();
        top.insert("Files", Value::Object(Rc::new(Files)));
        set.execute("x", &Value::Map(top), &mut exec())
    };
    let ok = |text: &str| run(text).unwrap_or_else(|e| panic!("{text}: {e}"));
    let err = |text: &str| run(text).err().map(|e| e.to_string()).unwrap_or_default();
    assert_eq!(
        ok(r#"{{ .Files.Get "a.txt" }} {{ "a.txt" | .Files.Get }} {{ .Files.Count }}"#),
        "A A 2"
    );
    assert_eq!(
        ok("{{ range $k, $v := .Files }}{{ $k }}={{ $v }}{{ end }} {{ len .Files }}"),
        "a.txt=A 1"
    );
    assert_eq!(
        err(r#"{{ .Files.Get "b" }}"#),
        "template: x:1:9: executing \"x\" at <.Files.Get>: error calling Get: no file b"
    );
    assert_eq!(
        err("{{ .Files.Nope }}"),
        "x:1:9\n  executing \"x\" at <.Files.Nope>:\n    can't evaluate field Nope in type interface {}"
    );
    assert_eq!(
        err("{{ .Files.Count 1 }}"),
        "x:1:9\n  executing \"x\" at <.Files.Count>:\n    Count has arguments but cannot be invoked as function"
    );
}

#[test]
fn tpl_sees_the_set_and_keeps_its_own_definitions() {
    let mut set = Templates::new();
    assert!(set
        .add("x", r#"{{ define "n" }}N{{ end }}{{ tpl "{{ define \"m\" }}M{{ end }}{{ include \"n\" . }}{{ include \"m\" . }}" . }}{{ tpl "{{ include \"m\" . }}" . }}"#)
        .is_ok());
    let e = set
        .execute("x", &Value::Nil, &mut exec())
        .err()
        .unwrap_or_else(|| panic!("no error"));
    // The second tpl does not see the first one's definition.
    assert!(
        e.to_string().contains(r#"no template "m" associated"#),
        "{e}"
    );
    let mut set = Templates::new();
    assert!(
        set.add("x", r#"{{ range 3 }}{{ tpl "{{ . }}" . }}{{ end }}"#)
            .is_ok()
    );
    let mut exec = exec();
    assert_eq!(
        set.execute("x", &Value::Nil, &mut exec).ok().as_deref(),
        Some("012")
    );
    assert_eq!(exec.tpl_cache.len(), 1);
}
