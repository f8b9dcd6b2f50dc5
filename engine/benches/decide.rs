//! Criterion benchmarks of the decision path with the built-in library.
//!
//! - `engine_start`: loading and compiling the embedded library (what `gatehouse serve` and
//!   `gatehouse decide` pay once at start);
//! - `decide/release_deploy_50`: a production `release.deploy` with 50 rendered manifests and
//!   their deployed state (tests/fixtures/actions/bench-release-deploy-50.json), from a typed
//!   action (the hub's path) and from JSON text (the CLI's path, parsing and validation included);
//! - `input/release_deploy_50`: turning that typed action into Rego input alone
//!   ([`Engine::prepare`]), the part of a decision that does not depend on the policies, next
//!   to the two-step route through `serde_json::Value` it replaced (`via_json_value`);
//! - `rvm/six_policies`: the `deny` rules of the six plugin-free policies on the same input, in
//!   regorus's interpreter (what decisions use) and in its bytecode VM (which decisions cannot
//!   use, because it fails open: tests/it/vm.rs), after checking that both find the same.
//!
//! Run: `cargo bench -p gatehouse-engine --bench decide`.

use std::hint::black_box;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use gatehouse_engine::{Action, Bundle, DecideOptions, Engine, EngineOptions, LoadOptions};
use regorus::languages::rego::compiler::Compiler;
use regorus::rvm::vm::RegoVM;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn library() -> Engine {
    let bundle = Bundle::from_files(gatehouse_policies::files(false), LoadOptions::default())
        .expect("library loads");
    Engine::compile(bundle, None, EngineOptions::default()).expect("library compiles")
}

fn fixture() -> String {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/actions/bench-release-deploy-50.json"
    );
    std::fs::read_to_string(path)
        .expect("fixture exists; regenerate with tests/bench/make_release_action.py")
}

fn benches(c: &mut Criterion) {
    c.bench_function("engine_start/builtin_library", |b| {
        b.iter(|| black_box(library()))
    });

    let engine = library();
    let text = fixture();
    let action = Action::from_json(&text).expect("fixture is a valid action");
    let mut group = c.benchmark_group("input/release_deploy_50");
    group.bench_function("prepare", |b| {
        b.iter_batched(
            || action.clone(),
            |a| black_box(Engine::prepare(a)),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("via_json_value", |b| {
        b.iter_batched(
            || action.clone(),
            |a| {
                let json = serde_json::to_value(&a).expect("encodes");
                black_box((a, regorus::Value::from(json)))
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
    let mut group = c.benchmark_group("decide/release_deploy_50");
    group.bench_function("typed", |b| {
        b.iter(|| black_box(engine.decide(black_box(&action))))
    });
    group.bench_function("json", |b| {
        b.iter(|| black_box(engine.decide_json(black_box(&text), DecideOptions::default())))
    });
    group.finish();
    vm_against_interpreter(c, &engine, &text);
}

/// The policies that call no plugin (the VM has no extension built-ins), as in
/// tests/bench/compare.sh.
const SIX_POLICIES: [&str; 6] = [
    "data.gatehouse.k8s.resource_limits.deny",
    "data.gatehouse.k8s.image_tags.deny",
    "data.gatehouse.k8s.required_labels.deny",
    "data.gatehouse.k8s.pod_security.deny",
    "data.gatehouse.k8s.replicas.deny",
    "data.gatehouse.release.env_removal.deny",
];

fn vm_against_interpreter(c: &mut Criterion, engine: &Engine, text: &str) {
    const PLUGIN_CALLERS: [&str; 3] = [
        "governance/approvals.rego",
        "governance/freeze.rego",
        "release/values.rego",
    ];
    let mut rego = regorus::Engine::new();
    for m in engine.modules() {
        if !m.path.ends_with("_test.rego") && !PLUGIN_CALLERS.contains(&m.path.as_str()) {
            rego.add_policy(m.path.clone(), m.source.clone())
                .expect("library module parses");
        }
    }
    let data = regorus::Value::from(engine.data().clone());
    rego.add_data(data.clone()).expect("library data loads");
    let input = regorus::Value::from_json_str(text).expect("fixture parses");
    rego.set_input(input.clone());

    let policy = rego
        .compile_with_entrypoint(&SIX_POLICIES[0].into())
        .expect("library compiles");
    let program =
        Compiler::compile_from_policy(&policy, &SIX_POLICIES).expect("the VM compiles the library");
    let mut vm = RegoVM::new();
    vm.load_program(program);
    vm.set_data(data).expect("library data loads into the VM");

    let interpreted = |rego: &mut regorus::Engine| -> Vec<regorus::Value> {
        SIX_POLICIES
            .iter()
            .map(|rule| rego.eval_rule((*rule).into()).expect("rule evaluates"))
            .collect()
    };
    let on_vm = |vm: &mut RegoVM| -> Vec<regorus::Value> {
        vm.set_input(input.clone());
        SIX_POLICIES
            .iter()
            .map(|rule| vm.execute_entry_point_by_name(rule).expect("rule runs"))
            .collect()
    };
    assert_eq!(
        interpreted(&mut rego.clone()),
        on_vm(&mut vm),
        "the VM and the interpreter must find the same before their times mean anything"
    );

    let mut group = c.benchmark_group("rvm/six_policies");
    group.bench_function("interpreter", |b| {
        b.iter(|| {
            let mut r = rego.clone();
            r.set_input(input.clone());
            black_box(interpreted(&mut r))
        })
    });
    group.bench_function("vm", |b| b.iter(|| black_box(on_vm(&mut vm))));
    group.finish();
}

criterion_group! {
    name = decide;
    config = Criterion::default().sample_size(50).measurement_time(std::time::Duration::from_secs(5));
    targets = benches
}
criterion_main!(decide);
