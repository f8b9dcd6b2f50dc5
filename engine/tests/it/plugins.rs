//! WebAssembly plugins through the engine: hostile guests deny with a reason naming the
//! plugin and the engine keeps serving; well-behaved guests (tiny .wat modules and the
//! built-in plugins) answer in the decision contract's terms; a plugin set swaps atomically.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use gatehouse_engine::plugin::{PluginSource, module_digest};
use gatehouse_engine::{
    Action, Bundle, Engine, EngineOptions, LoadOptions, Outcome, PluginLimits, PluginManifest,
    PluginSet,
};
use serde_json::json;

/// A module implementing the interface with a bump allocator; `body` is gatehouse_evaluate's.
fn guest(body: &str, data: &str) -> Vec<u8> {
    wat::parse_str(format!(
        r#"(module
          (memory (export "memory") 2)
          (global $bump (mut i32) (i32.const 4096))
          (func (export "gatehouse_abi_version") (result i32) (i32.const 1))
          (func (export "gatehouse_alloc") (param $len i32) (result i32)
            (local $p i32)
            (local.set $p (global.get $bump))
            (global.set $bump (i32.add (global.get $bump) (local.get $len)))
            (local.get $p))
          (func (export "gatehouse_dealloc") (param i32 i32))
          (data (i32.const 16) "{data}")
          (func (export "gatehouse_evaluate") (param i32 i32) (result i64) {body}))"#
    ))
    .unwrap()
}

/// A guest answering `answer` (JSON text without double quotes inside strings escaped).
fn answering(answer: &str) -> Vec<u8> {
    let escaped = answer.replace('\\', "\\\\").replace('"', "\\\"");
    guest(
        &format!(
            "(i64.or (i64.shl (i64.const 16) (i64.const 32)) (i64.const {}))",
            answer.len()
        ),
        &escaped,
    )
}

fn manifest(name: &str, module: &[u8], extra: &str) -> String {
    format!(
        "name: {name}\nversion: 1.0.0\nsha256: {}\n{extra}",
        module_digest(module)
    )
}

/// A bundle with one policy per plugin, each denying with the plugin's violations.
fn bundle(plugins: &[(&str, Vec<u8>, &str)]) -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    for (name, module, extra) in plugins {
        let package = name.replace('-', "_");
        files.push((
            format!("{package}.rego"),
            format!(
                "package {package}\n\nresult := gatehouse.plugin(\"{name}\", input, {{}})\n\ndeny contains v if some v in result.violations\n"
            )
            .into_bytes(),
        ));
        files.push((
            format!("plugins/{name}/plugin.yaml"),
            manifest(name, module, extra).into_bytes(),
        ));
        files.push((format!("plugins/{name}/plugin.wasm"), module.clone()));
    }
    files
}

fn engine(plugins: &[(&str, Vec<u8>, &str)]) -> Engine {
    let b = Bundle::from_files(bundle(plugins), LoadOptions::default()).unwrap();
    Engine::compile(b, None, EngineOptions::default()).unwrap()
}

fn action() -> Action {
    Action::from_value(&json!({
        "kind": "release.deploy",
        "actor": {"id": "u-alice", "kind": "user"},
        "scope": {"org": "acme", "environment": "production"},
        "subject": {"release": {"id": "rel-1"}},
        "time": "2026-11-24T10:00:00Z"
    }))
    .unwrap()
}

const GOOD: &str = r#"{"violations": [{"msg": "Not today.", "severity": "low"}]}"#;

fn hostile(name: &str, module: Vec<u8>, expect_kind: &str, expect_reason: &str) {
    let e = engine(&[(name, module, ""), ("good", answering(GOOD), "")]);
    for _ in 0..2 {
        let start = Instant::now();
        let d = e.decide(&action());
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "{name} took {:?}",
            start.elapsed()
        );
        assert_eq!(d.outcome, Outcome::Deny, "{name}");
        let v = d
            .violations
            .iter()
            .find(|v| v.policy == name.replace('-', "_"))
            .unwrap_or_else(|| panic!("no finding for {name}: {:?}", d.violations));
        assert_eq!(v.rule, "error");
        assert!(
            v.message
                .starts_with(&format!("Plugin {name} failed while policy")),
            "{}",
            v.message
        );
        assert!(v.message.contains(expect_reason), "{name}: {}", v.message);
        assert_eq!(
            v.details,
            Some(json!({"plugin": name, "failure": expect_kind}))
        );
        // The healthy plugin's policy still reports.
        assert!(
            d.violations.iter().any(|v| v.message == "Not today."),
            "{:?}",
            d.violations
        );
    }
}

#[test]
fn an_infinite_loop_is_cut_off_by_the_time_budget() {
    hostile(
        "spin",
        guest("(loop $l (br $l)) (unreachable)", ""),
        "timeout",
        "did not finish within its 10 ms time budget",
    );
}

#[test]
fn a_memory_bomb_hits_the_memory_cap() {
    hostile(
        "bomb",
        guest(
            "(loop $l (br_if $l (i32.ne (memory.grow (i32.const 16)) (i32.const -1)))) (unreachable)",
            "",
        ),
        "memory",
        "ran out of memory while evaluating (its limit is 32 MiB)",
    );
}

#[test]
fn garbage_output_is_refused() {
    hostile(
        "garbage",
        guest(
            "(i64.or (i64.shl (i64.const 16) (i64.const 32)) (i64.const 9))",
            "\\00\\ffgarbage",
        ),
        "malformed",
        "its answer is not JSON",
    );
    hostile(
        "wrong-shape",
        answering(r#"{"violations": [{"message": "x"}]}"#),
        "malformed",
        "violations[0] in its answer has no msg string",
    );
    hostile(
        "wild-pointer",
        guest("(i64.const 0x7fffff0000000010)", ""),
        "malformed",
        "answered with memory outside its linear memory",
    );
}

#[test]
fn a_trap_is_reported() {
    hostile(
        "trapper",
        guest("(unreachable)", ""),
        "trap",
        "it trapped while evaluating",
    );
}

#[test]
fn a_plugin_error_is_shown() {
    hostile(
        "picky",
        answering(r#"{"error": "config.window is missing"}"#),
        "error",
        "config.window is missing",
    );
}

#[test]
fn a_module_whose_digest_does_not_match_is_refused() {
    let mut files = bundle(&[("good", answering(GOOD), "")]);
    for (path, bytes) in &mut files {
        if path.ends_with(".wasm") {
            bytes.push(0);
        }
    }
    let err = Bundle::from_files(files, LoadOptions::default()).unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with(
            "plugins/good/plugin.yaml: the module of plugin good does not match its manifest"
        ),
        "{text}"
    );
    assert!(text.contains("update the manifest's sha256"), "{text}");
}

#[test]
fn modules_that_import_or_miss_exports_are_refused_at_load() {
    let importing = wat::parse_str(r#"(module (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32))) (memory (export "memory") 1))"#).unwrap();
    let source = |module: Vec<u8>| PluginSource {
        path: "plugins/x/plugin.yaml".into(),
        manifest: PluginManifest::from_yaml(&manifest("x", &module, "")).unwrap(),
        module,
    };
    let err = PluginSet::compile(&[source(importing)], PluginLimits::default()).unwrap_err();
    assert!(
        err.contains("imports wasi_snapshot_preview1.fd_write, but plugins may import nothing"),
        "{err}"
    );
    let bare = wat::parse_str(r#"(module (memory (export "memory") 1))"#).unwrap();
    let err = PluginSet::compile(&[source(bare)], PluginLimits::default()).unwrap_err();
    assert!(
        err.contains("does not export gatehouse_abi_version, gatehouse_alloc, gatehouse_evaluate"),
        "{err}"
    );
    let future = wat::parse_str(
        r#"(module (memory (export "memory") 1)
            (func (export "gatehouse_abi_version") (result i32) (i32.const 2))
            (func (export "gatehouse_alloc") (param i32) (result i32) (i32.const 0))
            (func (export "gatehouse_evaluate") (param i32 i32) (result i64) (i64.const 0)))"#,
    )
    .unwrap();
    let err = PluginSet::compile(&[source(future)], PluginLimits::default()).unwrap_err();
    assert!(err.contains("implements interface version 2"), "{err}");
}

#[test]
fn the_config_schema_is_enforced() {
    let module = answering(GOOD);
    let e = engine(&[(
        "strict",
        module,
        "config_schema: {type: object, required: [window]}\n",
    )]);
    let d = e.decide(&action());
    assert_eq!(d.outcome, Outcome::Deny);
    assert!(
        d.violations[0]
            .message
            .contains("does not match the plugin's config_schema"),
        "{}",
        d.violations[0].message
    );
}

#[test]
fn plugins_are_not_called_for_kinds_they_do_not_handle() {
    let e = engine(&[("good", answering(GOOD), "kinds: [promotion]\n")]);
    assert_eq!(e.decide(&action()).outcome, Outcome::Allow);
}

#[test]
fn a_missing_plugin_denies_naming_it() {
    let b = Bundle::from_files(
        [(
            "p.rego",
            "package p\ndeny contains v if some v in gatehouse.plugin(\"absent\", input, {}).violations\n",
        )],
        LoadOptions::default(),
    )
    .unwrap();
    let e = Engine::compile(b, None, EngineOptions::default()).unwrap();
    let d = e.decide(&action());
    assert_eq!(d.outcome, Outcome::Deny);
    assert!(
        d.violations[0].message.contains("Plugin absent failed")
            && d.violations[0]
                .message
                .contains("no plugin named absent is loaded"),
        "{}",
        d.violations[0].message
    );
}

#[test]
fn the_plugin_set_swaps_atomically_while_decisions_run() {
    let e = engine(&[("good", answering(GOOD), "")]);
    let allow = |m: &str| {
        PluginSet::compile(
            &[PluginSource {
                path: "plugins/good/plugin.yaml".into(),
                manifest: PluginManifest::from_yaml(&manifest("good", &answering(m), "")).unwrap(),
                module: answering(m),
            }],
            PluginLimits::default(),
        )
        .unwrap()
    };
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let (e, stop) = (e.clone(), Arc::clone(&stop));
            std::thread::spawn(move || {
                let mut seen = std::collections::BTreeSet::new();
                while !stop.load(Ordering::Relaxed) {
                    let d = e.decide(&action());
                    // Either set, never a mixture or a failure.
                    let msgs: Vec<&str> = d.violations.iter().map(|v| v.message.as_str()).collect();
                    assert!(msgs == ["Not today."] || msgs.is_empty(), "{msgs:?}");
                    seen.insert(msgs.len());
                }
                seen
            })
        })
        .collect();
    for i in 0..20 {
        let set = if i % 2 == 0 {
            allow(r#"{"violations": []}"#)
        } else {
            allow(GOOD)
        };
        e.plugins().swap(set);
        std::thread::sleep(Duration::from_millis(5));
    }
    e.plugins().swap(allow(r#"{"violations": []}"#));
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().unwrap();
    }
    assert_eq!(e.decide(&action()).outcome, Outcome::Allow);
}

#[test]
fn a_runaway_plugin_is_cut_off_quickly() {
    let e = engine(&[("spin", guest("(loop $l (br $l)) (unreachable)", ""), "")]);
    let mut times = Vec::new();
    for _ in 0..5 {
        let start = Instant::now();
        assert_eq!(e.decide(&action()).outcome, Outcome::Deny);
        times.push(start.elapsed());
    }
    times.sort();
    eprintln!("runaway cut off after {times:?}");
    // 10 ms budget; generous slack for a loaded debug build.
    assert!(times[2] < Duration::from_millis(200), "{times:?}");
}

#[test]
fn a_policy_that_swallows_a_plugin_failure_still_denies() {
    let module = guest("(unreachable)", "");
    let mut files = bundle(&[("trapper", module, "")]);
    files.retain(|(p, _)| !p.ends_with(".rego"));
    files.push((
        "quiet.rego".into(),
        b"package quiet\n\nfine if gatehouse.plugin(\"trapper\", input, {})\n\nwarn contains \"checked\" if not fine\n".to_vec(),
    ));
    let b = Bundle::from_files(files, LoadOptions::default()).unwrap();
    let e = Engine::compile(b, None, EngineOptions::default()).unwrap();
    let d = e.decide(&action());
    assert_eq!(d.outcome, Outcome::Deny, "{d:?}");
    assert!(
        d.violations[0]
            .message
            .starts_with("Plugin trapper failed while policy quiet was evaluated"),
        "{}",
        d.violations[0].message
    );
}

/// Regression: the freeze policy once handed its plugin the whole action, and parsing 146 KB of
/// manifests used up the plugin's time budget, denying a compliant release.
#[test]
fn the_library_plugins_run_within_budget_on_a_large_action() {
    let bundle =
        Bundle::from_files(gatehouse_policies::files(false), LoadOptions::default()).unwrap();
    let e = Engine::compile(bundle, None, EngineOptions::default()).unwrap();
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/actions/bench-release-deploy-50.json"
    );
    let d = e.decide(&Action::from_json(&std::fs::read_to_string(path).unwrap()).unwrap());
    let errors: Vec<_> = d.violations.iter().filter(|v| v.rule == "error").collect();
    assert!(errors.is_empty(), "{errors:#?}");
    assert!(
        d.requirements
            .iter()
            .any(|r| r.id == "approval:prod-two-teams"),
        "{:?}",
        d.requirements
    );
}
