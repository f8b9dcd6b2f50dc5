//! Criterion benchmarks of the delivery generator on the `helm create` default chart
//! (tests/fixtures/helm/charts/mychart). The `render` group uses the values of the chart's
//! parity case (tests/fixtures/helm/values/mychart-everything.yaml, which turns every template
//! on):
//!
//! - `render/default-chart`: one render with the chart parsed once, the way the hub renders
//!   (a workload's [`Renderer`] is built when its chart version is loaded);
//! - `render/parse+render`: the chart's files already in memory, templates parsed and
//!   rendered on every iteration: what Helm does per render (its engine parses every template
//!   on each call), so this is the figure to put beside `helm.py bench`;
//! - `render/load+parse+render`: the same, reading the chart directory from disk first;
//! - `delivery/1000`: a project of 100 tenants × 2 environments × 5 workloads of the default
//!   chart, with values varied per tenant, environment and workload: the 1,000 targets
//!   rendered, each put through the render gate with the built-in library, and every allowed
//!   target's files written to a fresh hosted repository in one commit. The split between
//!   render, gate, files (the repository files of each allowed target) and commit is printed
//!   once, on a line starting `delivery/1000 split:`.
//!
//! Run: `cargo bench -p gatehouse --bench delivery`; tests/bench/render_compare.sh runs it beside
//! Helm v4 and prints the ratios.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, criterion_group, criterion_main};
use gatehouse::delivery::{GateScope, gate};
use gatehouse::git::{CommitOutcome, HostedRepo, Signature};
use gatehouse_engine::{Bundle, Engine, EngineOptions, LoadOptions, Outcome};
use gatehouse_render::chart::{Chart, RenderOptions, Renderer};
use gatehouse_render::delivery::{Environment, Level, Project, Workload};
use serde_json::{Value as Json, json};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const CHART: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/fixtures/helm/charts/mychart"
);
const VALUES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/fixtures/helm/values/mychart-everything.yaml"
);

const TENANTS: usize = 100;
const WORKLOADS: [&str; 5] = ["web", "api", "worker", "admin", "docs"];

/// The built-in library as `gatehouse render --check` compiles it.
fn library() -> Engine {
    let bundle = Bundle::from_files(gatehouse_policies::files(false), LoadOptions::default())
        .expect("library loads");
    let options = EngineOptions {
        timeout: Duration::from_millis(500),
        ..EngineOptions::default()
    };
    Engine::compile(bundle, None, options).expect("library compiles")
}

fn chart() -> Chart {
    Chart::load_dir(Path::new(CHART)).expect("the default chart loads")
}

fn typical_values() -> Json {
    let text = std::fs::read_to_string(VALUES).expect("the values fixture exists");
    serde_saphyr::from_str(&text).expect("the values fixture is YAML")
}

/// 100 tenants × {staging, production} × 5 workloads of the default chart. Every level of the
/// values (workload, environment, tenant, tenant-environment) is set, and differs per tenant,
/// so no two targets render the same values.
fn project(renderer: &Arc<Renderer>) -> Project {
    let tenants: Vec<String> = (0..TENANTS).map(|i| format!("t{i:03}")).collect();
    let workloads = WORKLOADS
        .iter()
        .enumerate()
        .map(|(w, name)| Workload {
            name: (*name).to_owned(),
            chart: Arc::clone(renderer),
            values: json!({
                "image": {"repository": format!("registry.example.test/shop/{name}"), "tag": "1.27.0"},
                "service": {"port": 8080 + w},
                "podLabels": {"app.kubernetes.io/part-of": "shop", "component": name},
                "podSecurityContext": {"fsGroup": 2000},
                "securityContext": {
                    "runAsNonRoot": true,
                    "runAsUser": 1000,
                    "readOnlyRootFilesystem": true,
                    "allowPrivilegeEscalation": false,
                    "capabilities": {"drop": ["ALL"]},
                },
                "resources": {
                    "limits": {"cpu": "500m", "memory": "256Mi"},
                    "requests": {"cpu": "100m", "memory": "128Mi"},
                },
                "volumes": [{"name": "cache", "emptyDir": {}}],
                "volumeMounts": [{"name": "cache", "mountPath": "/cache"}],
            }),
            namespace: None,
        })
        .collect();
    let mut levels = Vec::new();
    for name in WORKLOADS {
        levels.push(Level {
            workload: name.to_owned(),
            environment: Some("production".to_owned()),
            tenant: None,
            values: json!({"replicaCount": 3, "image": {"tag": "1.27.1"},
                "autoscaling": {"enabled": name == "web" || name == "api", "minReplicas": 3, "maxReplicas": 12}}),
        });
        for (i, tenant) in tenants.iter().enumerate() {
            levels.push(Level {
                workload: name.to_owned(),
                environment: None,
                tenant: Some(tenant.clone()),
                values: json!({
                    "podAnnotations": {"gatehouse.dev/tenant": tenant, "gatehouse.dev/tier": i % 4},
                    "resources": {"requests": {"cpu": format!("{}m", 100 + i), "memory": format!("{}Mi", 128 + 2 * i)}},
                    "ingress": {
                        "enabled": name == "web",
                        "className": "nginx",
                        "hosts": [{"host": format!("{tenant}.shop.example.test"),
                                   "paths": [{"path": "/", "pathType": "Prefix"}]}],
                        "tls": [{"secretName": format!("{tenant}-tls"), "hosts": [format!("{tenant}.shop.example.test")]}],
                    },
                }),
            });
            levels.push(Level {
                workload: name.to_owned(),
                environment: Some("production".to_owned()),
                tenant: Some(tenant.clone()),
                values: json!({
                    "replicaCount": 3 + i % 3,
                    "nodeSelector": {"pool": format!("pool-{}", i % 7)},
                    "tolerations": [{"key": "tenant", "operator": "Equal", "value": tenant, "effect": "NoSchedule"}],
                }),
            });
        }
    }
    Project {
        name: "shop".to_owned(),
        repo_url: "http://127.0.0.1:8080/git/acme/shop.git".to_owned(),
        environments: vec![
            Environment {
                name: "staging".to_owned(),
                cluster: None,
                namespace: None,
            },
            Environment {
                name: "production".to_owned(),
                cluster: Some("prod-eu".to_owned()),
                namespace: None,
            },
        ],
        tenants,
        workloads,
        levels,
        ..Project::default()
    }
}

/// Time spent in each step of one delivery of every target.
#[derive(Debug, Default)]
struct Split {
    render: Duration,
    gate: Duration,
    files: Duration,
    commit: Duration,
    targets: usize,
    allowed: usize,
    written: usize,
}

/// Renders every target, gates each, and commits the allowed targets' files to `repo` in one
/// commit.
fn deliver(project: &Project, engine: &Engine, repo: &HostedRepo) -> Split {
    let mut split = Split::default();
    let base = RenderOptions::default();
    let mut changes: BTreeMap<String, Option<Vec<u8>>> = BTreeMap::new();
    for target in project.targets() {
        let start = Instant::now();
        let rendered = project
            .render(&target, &base)
            .expect("every target renders");
        split.render += start.elapsed();

        let start = Instant::now();
        let scope = GateScope {
            org: "acme".to_owned(),
            project: Some(project.name.clone()),
            environment: Some(target.environment.clone()),
            tenant: Some(target.tenant.clone()),
            workload: Some(target.workload.clone()),
        };
        let decision = gate(engine, &scope, &rendered.objects);
        split.gate += start.elapsed();
        split.targets += 1;

        let start = Instant::now();
        if decision.outcome == Outcome::Allow {
            split.allowed += 1;
            changes.extend(
                project
                    .files(&rendered)
                    .into_iter()
                    .map(|(path, bytes)| (path, Some(bytes))),
            );
        }
        split.files += start.elapsed();
    }
    let start = Instant::now();
    split.written = changes.len();
    let author = Signature {
        name: "Gatehouse".to_owned(),
        email: "gatehouse@localhost".to_owned(),
        seconds: 1_767_225_600,
        offset_seconds: 0,
    };
    let outcome = repo
        .commit(&changes, &author, "Release 1: every target of shop", None)
        .expect("the commit succeeds");
    assert!(matches!(outcome, CommitOutcome::Committed { .. }));
    split.commit += start.elapsed();
    split
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn render_benches(c: &mut Criterion) {
    let chart = chart();
    let renderer = Renderer::new(chart.clone()).expect("the default chart parses");
    let values = typical_values();
    let options = RenderOptions::default();

    let mut group = c.benchmark_group("render");
    group.bench_function("default-chart", |b| {
        b.iter(|| black_box(renderer.render(black_box(&values), &options)))
    });
    group.bench_function("parse+render", |b| {
        b.iter(|| {
            let renderer = Renderer::new(black_box(&chart).clone()).expect("parses");
            black_box(renderer.render(black_box(&values), &options))
        })
    });
    group.bench_function("load+parse+render", |b| {
        b.iter(|| {
            let renderer = Renderer::new(self::chart()).expect("parses");
            black_box(renderer.render(black_box(&values), &options))
        })
    });
    group.finish();
}

fn delivery_benches(c: &mut Criterion) {
    let engine = library();
    let renderer = Arc::new(Renderer::new(chart()).expect("the default chart parses"));
    let project = project(&renderer);
    assert_eq!(project.targets().len(), 1000);

    // Every delivery commits to a fresh repository (in the temporary directory: `TMPDIR`), and
    // the repositories stay until the end: on ext4, creating thousands of files right after
    // deleting thousands is several times slower (the allocator skips recently freed inodes),
    // which would measure the filesystem.
    let dir = tempfile::tempdir().expect("a temporary directory");
    let fresh = |n: u64| {
        HostedRepo::open_or_init(&dir.path().join(format!("shop-{n}.git")))
            .expect("the repository is created")
    };
    let split = deliver(&project, &engine, &fresh(0));
    println!(
        "delivery/1000 split: render {:.1} ms, gate {:.1} ms, files {:.1} ms, commit {:.1} ms \
         ({} targets, {} allowed, {} files)",
        ms(split.render),
        ms(split.gate),
        ms(split.files),
        ms(split.commit),
        split.targets,
        split.allowed,
        split.written,
    );

    let mut group = c.benchmark_group("delivery");
    // Each iteration takes seconds: ten samples of one iteration each.
    group.sample_size(10);
    group.sampling_mode(SamplingMode::Flat);
    group.measurement_time(Duration::from_secs(10));
    let mut n = 0;
    group.bench_function("1000", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                n += 1;
                let repo = fresh(n);
                let start = Instant::now();
                black_box(deliver(&project, &engine, &repo));
                total += start.elapsed();
            }
            total
        })
    });
    group.finish();
}

criterion_group! {
    name = render;
    config = Criterion::default().sample_size(50).measurement_time(Duration::from_secs(5));
    targets = render_benches
}
criterion_group! {
    name = delivery;
    config = Criterion::default().warm_up_time(Duration::from_secs(1));
    targets = delivery_benches
}
criterion_main!(render, delivery);
