//! Validation against the Kubernetes schemas: the cases in tests/fixtures/validate/cases.yaml,
//! the valid objects in valid.yaml, and sharing one `Schemas` between threads.
//!
//! The schemas are the ones `tests/k8s-schemas.sh` fetches (the PyPI package
//! kubernetes-validate); the directory comes from `GATEHOUSE_K8S_SCHEMAS`, or, when that is
//! unset, from running the script (idempotent, and quick once its cache is filled).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use gatehouse_render::validate::{Problem, Schemas};
use serde::Deserialize;
use serde_json::Value;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn fixtures() -> PathBuf {
    repo().join("tests/fixtures/validate")
}

/// The schema directory: `GATEHOUSE_K8S_SCHEMAS`, or what `tests/k8s-schemas.sh` prints.
fn schema_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        if let Some(dir) = std::env::var_os("GATEHOUSE_K8S_SCHEMAS") {
            return PathBuf::from(dir);
        }
        let script = repo().join("tests/k8s-schemas.sh");
        let output = Command::new("bash")
            .arg(&script)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
        assert!(
            output.status.success(),
            "{} failed (set GATEHOUSE_K8S_SCHEMAS to a schema directory to skip it):\n{}",
            script.display(),
            String::from_utf8_lossy(&output.stderr)
        );
        let stdout = String::from_utf8(output.stdout).unwrap();
        PathBuf::from(stdout.lines().last().unwrap().trim())
    })
}

fn schemas() -> Schemas {
    Schemas::from_dir(schema_dir()).unwrap()
}

/// Parses a YAML stream the way Kubernetes reads it (`0644` is octal).
fn parse_stream(text: &str) -> Vec<Value> {
    let options = serde_saphyr::options! {
        legacy_octal_numbers: true,
    };
    let docs: Vec<Value> = serde_saphyr::from_multiple_with_options(text, options).unwrap();
    docs.into_iter().filter(|d| !d.is_null()).collect()
}

fn fixture(name: &str) -> Vec<Value> {
    let path = fixtures().join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    parse_stream(&text)
}

#[derive(Debug, Deserialize)]
struct Case {
    name: String,
    #[serde(default)]
    crds: Vec<String>,
    objects: Vec<Value>,
    expect: Vec<Expected>,
}

#[derive(Debug, Deserialize)]
struct Expected {
    object: String,
    field: String,
    message: String,
}

impl Expected {
    fn matches(&self, problem: &Problem) -> bool {
        problem.object == self.object
            && problem.field == self.field
            && problem.message.contains(&self.message)
    }
}

/// Objects of a case: inline, or `file:NAME` for every document of a fixture file.
fn objects(case: &Case) -> Vec<Value> {
    let mut out = Vec::new();
    for object in &case.objects {
        match object.as_str().and_then(|s| s.strip_prefix("file:")) {
            Some(file) => out.extend(fixture(file)),
            None => out.push(object.clone()),
        }
    }
    out
}

#[test]
fn cases() {
    let text = std::fs::read_to_string(fixtures().join("cases.yaml")).unwrap();
    let cases: Vec<Case> = serde_saphyr::from_str(&text).unwrap();
    assert!(
        cases.len() >= 15,
        "expected the case corpus, found {}",
        cases.len()
    );

    let mut failures = Vec::new();
    for case in &cases {
        let mut schemas = schemas();
        for file in &case.crds {
            for crd in fixture(file) {
                schemas.add_crd(&crd).unwrap();
            }
        }
        let problems = schemas.validate(&objects(case));
        for expected in &case.expect {
            if !problems.iter().any(|p| expected.matches(p)) {
                failures.push(format!("{}: missing {expected:?}", case.name));
            }
        }
        for problem in &problems {
            if !case.expect.iter().any(|e| e.matches(problem)) {
                failures.push(format!("{}: unexpected {problem}", case.name));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn valid_built_in_objects_pass() {
    let objects = fixture("valid.yaml");
    let kinds: Vec<&str> = objects
        .iter()
        .map(|o| o["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["Deployment", "Service", "Ingress", "ConfigMap"]);
    let problems = schemas().validate(&objects);
    assert!(
        problems.is_empty(),
        "{}",
        problems
            .iter()
            .map(|p| format!("{p}\n"))
            .collect::<String>()
    );
}

#[test]
fn a_problem_reads_as_object_field_and_message() {
    let objects = parse_stream(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: shop}\n\
         spec:\n  replicas: three\n  selector: {}\n  template: {spec: {containers: []}}\n",
    );
    let problems = schemas().validate(&objects);
    let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
    assert_eq!(
        lines,
        ["Deployment/shop/web: spec.replicas: must be an integer, but is the string \"three\""]
    );
    assert_eq!(problems[0].index, 0);
}

#[test]
fn unknown_kinds_pass_when_missing_schemas_are_ignored() {
    let objects = parse_stream(
        "apiVersion: example.test/v1\nkind: Widget\nmetadata: {name: w}\n---\n\
         apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {n: 1}\n",
    );
    let problems = schemas().ignore_missing_schemas(true).validate(&objects);
    let fields: Vec<(&str, &str)> = problems
        .iter()
        .map(|p| (p.object.as_str(), p.field.as_str()))
        .collect();
    assert_eq!(fields, [("ConfigMap/c", "data.n")]);
}

#[test]
fn a_directory_without_schemas_is_refused() {
    let empty = tempfile::tempdir().unwrap();
    let error = Schemas::from_dir(empty.path()).unwrap_err().to_string();
    assert!(error.contains("holds no _definitions.json"), "{error}");
    assert!(error.contains("tests/k8s-schemas.sh"), "{error}");
}

#[test]
fn one_schemas_validates_from_many_threads() {
    let schemas = schemas();
    let valid = fixture("valid.yaml");
    let mut invalid = valid.clone();
    invalid[0]["spec"]["replicas"] = Value::from("three");
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..4)
            .map(|worker| {
                let (schemas, valid, invalid) = (&schemas, &valid, &invalid);
                scope.spawn(move || {
                    for round in 0..20 {
                        let bad = (worker + round) % 2 == 0;
                        let problems = schemas.validate(if bad { invalid } else { valid });
                        assert_eq!(problems.len(), usize::from(bad), "{problems:?}");
                    }
                })
            })
            .collect();
        for worker in workers {
            worker.join().unwrap();
        }
    });
}

/// The validation speed figure: median time to validate the Deployment of valid.yaml once its
/// schema is compiled. Run with `cargo test -p gatehouse-render --test it validation_speed --
/// --ignored --nocapture`; the target is well under a millisecond.
#[test]
#[ignore = "a measurement: run it explicitly"]
fn validation_speed() {
    let started = Instant::now();
    let schemas = schemas();
    let open = started.elapsed();
    let objects = fixture("valid.yaml");
    let deployment = std::slice::from_ref(&objects[0]);

    let started = Instant::now();
    assert_eq!(schemas.validate(deployment), []);
    let first = started.elapsed();

    let mut times: Vec<Duration> = (0..2_000)
        .map(|_| {
            let started = Instant::now();
            let problems = schemas.validate(deployment);
            let elapsed = started.elapsed();
            assert!(problems.is_empty());
            elapsed
        })
        .collect();
    times.sort();
    let median = times[times.len() / 2];
    let p99 = times[times.len() * 99 / 100];

    let mut invalid = objects[0].clone();
    invalid["spec"]["replicas"] = Value::from("three");
    let started = Instant::now();
    for _ in 0..1_000 {
        assert_eq!(schemas.validate(std::slice::from_ref(&invalid)).len(), 1);
    }
    let invalid_mean = started.elapsed() / 1_000;

    let started = Instant::now();
    for _ in 0..500 {
        assert!(schemas.validate(&objects).is_empty());
    }
    let all_mean = started.elapsed() / 500;

    println!(
        "from_dir: {open:?}; first Deployment (load + compile): {first:?}; warm Deployment: median {median:?}, \
         p99 {p99:?}; invalid Deployment (with error report): mean {invalid_mean:?}; \
         valid.yaml (4 objects): mean {all_mean:?}"
    );
    assert!(median < Duration::from_millis(1), "median {median:?}");
}
