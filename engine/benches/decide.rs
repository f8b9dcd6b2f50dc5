//! Criterion benchmarks of the decision path with the built-in library.
//!
//! - `engine_start`: loading and compiling the embedded library (what `gatehouse serve` and
//!   `gatehouse decide` pay once at start);
//! - `decide/release_deploy_50`: a production `release.deploy` with 50 rendered manifests and
//!   their deployed state (tests/fixtures/actions/bench-release-deploy-50.json), from a typed
//!   action (the hub's path) and from JSON text (the CLI's path, parsing and validation included);
//! - `input/release_deploy_50`: turning that typed action into Rego input alone
//!   ([`Engine::prepare`]), the part of a decision that does not depend on the policies, next
//!   to the two-step route through `serde_json::Value` it replaced (`via_json_value`).
//!
//! Run: `cargo bench -p gatehouse-engine --bench decide`.

use std::hint::black_box;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use gatehouse_engine::{Action, Bundle, DecideOptions, Engine, EngineOptions, LoadOptions};

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
}

criterion_group! {
    name = decide;
    config = Criterion::default().sample_size(50).measurement_time(std::time::Duration::from_secs(5));
    targets = benches
}
criterion_main!(decide);
