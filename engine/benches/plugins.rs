//! Criterion benchmarks of WebAssembly plugins.
//!
//! - `plugin_call/<name>`: one call of each built-in plugin on the benchmark decision's action
//!   (instantiation, request in, evaluation, answer out and checked);
//! - `decide_plugins/library_with_plugins` against `decide_plugins/library_without_plugins`:
//!   the benchmark decision (tests/fixtures/actions/bench-release-deploy-50.json, with a
//!   values rule configured so that all four plugins run) through the whole built-in library,
//!   and through the library without the three policies that call plugins (freeze, approvals,
//!   values);
//! - `runaway/cut_off`: a decision whose plugin loops forever, i.e. how long the engine takes
//!   to stop it and deny (default budget 10 ms).
//!
//! It also prints, once, how long compiling each built-in plugin's module takes (what an engine
//! pays at start for a bundle it has not compiled before).
//!
//! Run: `cargo bench -p gatehouse-engine --bench plugins`.

use std::hint::black_box;
use std::time::Instant;

use criterion::{Criterion, criterion_group, criterion_main};
use gatehouse_engine::plugin::module_digest;
use gatehouse_engine::{
    Action, Bundle, Engine, EngineOptions, LoadOptions, PluginLimits, PluginSet,
};
use serde_json::{Value as Json, json};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const PLUGIN_POLICIES: [&str; 3] = [
    "governance/freeze.rego",
    "governance/approvals.rego",
    "release/values.rego",
];

fn values_rules() -> Json {
    json!([{"name": "prod-values", "environments": ["production"], "required": ["image.tag"],
            "keys": {"image.tag": {"type": "string", "pattern": "^v?[0-9]+\\.[0-9]+\\.[0-9]+$"},
                     "replicaCount": {"type": "integer", "minimum": 2}}}])
}

fn library(with_plugin_policies: bool) -> Engine {
    let files = gatehouse_policies::files(false)
        .filter(|(p, _)| with_plugin_policies || !PLUGIN_POLICIES.contains(p));
    let mut bundle = Bundle::from_files(files, LoadOptions::default()).expect("library loads");
    bundle.override_data(json!({"gatehouse": {"config": {"values_rules": values_rules()}}}));
    Engine::compile(bundle, None, EngineOptions::default()).expect("library compiles")
}

fn fixture() -> Action {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/actions/bench-release-deploy-50.json"
    );
    let text = std::fs::read_to_string(path)
        .expect("fixture exists; regenerate with tests/bench/make_release_action.py");
    Action::from_json(&text).expect("fixture is a valid action")
}

fn benches(c: &mut Criterion) {
    let builtin = Bundle::from_files(gatehouse_policies::files(false), LoadOptions::default())
        .expect("library loads");
    for source in &builtin.plugins {
        let start = Instant::now();
        let _ = PluginSet::compile(std::slice::from_ref(source), PluginLimits::default())
            .expect("plugin compiles");
        eprintln!(
            "compile {} ({} KiB module): {:?}",
            source.manifest.name,
            source.module.len() / 1024,
            start.elapsed()
        );
    }
    let set = PluginSet::compile(&builtin.plugins, PluginLimits::default()).expect("compiles");
    let action = fixture();
    let full = serde_json::to_value(&action).expect("encodes");
    let policy = full["facts"]["approval_policies"][0].clone();
    // What the built-in policies hand each plugin (their `plugin_input`).
    let release = &full["subject"]["release"];
    let freeze_input = json!({"kind": full["kind"], "time": full["time"], "actor": full["actor"],
        "scope": full["scope"], "subject": {"release": {"changes": release["changes"]}},
        "facts": {"freezes": full["facts"]["freezes"], "breakglass": full["facts"]["breakglass"]}});
    let approvals_input = json!({"kind": full["kind"], "actor": full["actor"],
        "subject": {"release": {"requester": release["requester"]}},
        "facts": {"approvals": full["facts"]["approvals"]}});
    let values_input = json!({"kind": full["kind"], "scope": full["scope"],
        "subject": {"release": {"changes": release["changes"]}}});
    let calls = [
        ("freeze-windows", freeze_input, json!({})),
        ("quorum", approvals_input.clone(), policy.clone()),
        ("distinct-teams", approvals_input, policy),
        (
            "values-rules",
            values_input,
            json!({"rules": values_rules()}),
        ),
    ];
    let mut group = c.benchmark_group("plugin_call");
    for (name, input, config) in &calls {
        set.call(name, input, config).expect("plugin answers");
        group.bench_function(*name, |b| {
            b.iter(|| black_box(set.call(name, black_box(input), config)))
        });
    }
    // The whole 146 KB action, for scale: parsing it is most of the call, and more work than
    // the default budget allows, which is why the library's policies hand each plugin only
    // what it reads. Measured under a larger budget.
    let roomy = PluginSet::compile(
        &builtin.plugins,
        PluginLimits {
            time: std::time::Duration::from_millis(500),
            ..PluginLimits::default()
        },
    )
    .expect("compiles");
    assert!(
        set.call("quorum", &full, &calls[1].2).is_err(),
        "the whole action does not fit the default budget"
    );
    roomy
        .call("quorum", &full, &calls[1].2)
        .expect("plugin answers");
    group.bench_function("quorum_whole_action_500ms_budget", |b| {
        b.iter(|| black_box(roomy.call("quorum", black_box(&full), &calls[1].2)))
    });
    group.finish();

    let with = library(true);
    assert!(
        with.decide(&action)
            .violations
            .iter()
            .all(|v| v.rule != "error"),
        "no plugin fails on the benchmark action"
    );
    let without = library(false);
    let mut group = c.benchmark_group("decide_plugins");
    group.bench_function("library_with_plugins", |b| {
        b.iter(|| black_box(with.decide(black_box(&action))))
    });
    group.bench_function("library_without_plugins", |b| {
        b.iter(|| black_box(without.decide(black_box(&action))))
    });
    group.finish();

    let spin = wat::parse_str(
        r#"(module (memory (export "memory") 1)
          (func (export "gatehouse_abi_version") (result i32) (i32.const 1))
          (func (export "gatehouse_alloc") (param i32) (result i32) (i32.const 1024))
          (func (export "gatehouse_evaluate") (param i32 i32) (result i64) (loop $l (br $l)) (unreachable)))"#,
    )
    .expect("valid wat");
    let manifest = format!(
        "name: spin\nversion: 1.0.0\nsha256: {}\n",
        module_digest(&spin)
    );
    let runaway = Bundle::from_files(
        [
            ("spin.rego", "package spin\ndeny contains v if some v in gatehouse.plugin(\"spin\", {}, {}).violations\n".as_bytes().to_vec()),
            ("plugins/spin/plugin.yaml", manifest.into_bytes()),
            ("plugins/spin/plugin.wasm", spin),
        ],
        LoadOptions::default(),
    )
    .expect("bundle loads");
    let runaway = Engine::compile(runaway, None, EngineOptions::default()).expect("compiles");
    let mut group = c.benchmark_group("runaway");
    group.sample_size(20);
    group.bench_function("cut_off", |b| {
        b.iter(|| black_box(runaway.decide(black_box(&action))))
    });
    group.finish();
}

criterion_group! {
    name = plugins;
    config = Criterion::default().sample_size(50).measurement_time(std::time::Duration::from_secs(4));
    targets = benches
}
criterion_main!(plugins);
