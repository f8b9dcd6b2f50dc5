//! `gatehouse check`: conftest's `test` and `verify` semantics, formats and exit codes, run as
//! real processes against the fixtures in `tests/fixtures/check/`.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::{Value as Json, json};

const POLICY: &str = "tests/fixtures/check/policy";
const INPUTS: &str = "tests/fixtures/check/inputs";

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Json {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}\n{}", self.stdout, self.stderr))
    }
}

/// Runs `gatehouse check` from the repository root, with `stdin` piped in when given.
fn check_with(args: &[&str], stdin: Option<&str>) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .arg("check")
        .args(args)
        .current_dir(super::root())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("binary runs");
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn check(args: &[&str]) -> Run {
    check_with(args, None)
}

fn input(name: &str) -> String {
    format!("{INPUTS}/{name}")
}

fn messages(result: &Json, kind: &str) -> Vec<String> {
    result[kind]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|m| m["msg"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn deny_violation_warn_suffixes_and_exceptions_follow_conftest() {
    let run = check(&["-p", POLICY, "-o", "json", &input("deployments.yaml")]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let results = run.json();
    assert_eq!(results.as_array().unwrap().len(), 1, "one result per file");
    let r = &results[0];
    assert_eq!(r["namespace"], "main");
    assert_eq!(
        messages(r, "failures"),
        [
            "Deployment/worker must set runAsNonRoot",
            "container worker uses a :latest image",
            "container debug is privileged",
            "container debug pulls from an untrusted registry",
        ]
    );
    assert_eq!(messages(r, "warnings"), ["worker has no owner label"]);
    // The canary's :latest image is exempted by `exception` (rules := ["latest"]).
    assert_eq!(
        messages(r, "exceptions"),
        ["data.main.exception[_][_] == \"latest\""]
    );
    // 5 rule definitions x 3 documents: everything not reported passed.
    assert_eq!(r["successes"], 9);
    let failures = r["failures"].as_array().unwrap();
    assert_eq!(failures[0]["metadata"], json!({"query": "data.main.deny"}));
    assert_eq!(
        failures[2]["metadata"],
        json!({"query": "data.main.violation", "details": {"container": "debug"}})
    );
    assert_eq!(
        r["warnings"][0]["loc"],
        json!({"file": "deployments.yaml", "line": 4})
    );
}

#[test]
fn stdout_prints_conftest_lines_and_summary() {
    let run = check(&["-p", POLICY, &input("deployments.yaml")]);
    let file = input("deployments.yaml");
    assert_eq!(
        run.stdout,
        format!(
            "WARN - {file} - main - worker has no owner label\n\
             FAIL - {file} - main - Deployment/worker must set runAsNonRoot\n\
             FAIL - {file} - main - container worker uses a :latest image\n\
             FAIL - {file} - main - container debug is privileged\n\
             FAIL - {file} - main - container debug pulls from an untrusted registry\n\
             EXCP - {file} - main - data.main.exception[_][_] == \"latest\"\n\
             \n\
             15 tests, 9 passed, 1 warning, 4 failures, 1 exception\n"
        )
    );
    assert!(
        !run.stdout.contains('\u{1b}'),
        "no colour when stdout is not a terminal"
    );
    let suppressed = check(&[
        "-p",
        POLICY,
        "--suppress-exceptions",
        &input("deployments.yaml"),
    ]);
    assert!(!suppressed.stdout.contains("EXCP"), "{}", suppressed.stdout);
}

#[test]
fn multi_document_yaml_checks_every_document() {
    let run = check(&[
        "-p",
        POLICY,
        "-n",
        "main.k8s",
        "-o",
        "json",
        &input("deployments.yaml"),
    ]);
    let r = &run.json()[0];
    assert_eq!(messages(r, "warnings"), ["worker runs a single replica"]);
    assert_eq!(r["successes"], 2, "three documents, one rule each");
}

#[test]
fn namespaces_default_glob_and_all() {
    let namespaces = |args: &[&str]| -> Vec<String> {
        let mut full = vec!["-p", POLICY, "-o", "json"];
        full.extend_from_slice(args);
        full.push("tests/fixtures/check/inputs/service.json");
        check(&full)
            .json()
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["namespace"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(namespaces(&[]), ["main"]);
    assert_eq!(namespaces(&["-n", "main.*"]), ["main.k8s"]);
    assert_eq!(
        namespaces(&["-n", "main*", "-n", "files"]),
        ["main", "main.k8s", "main_test", "files"]
    );
    assert_eq!(
        namespaces(&["--all-namespaces"]),
        ["combine", "echo", "files", "main", "main.k8s", "main_test"]
    );

    let run = check(&["-p", POLICY, "-n", "mian", &input("service.json")]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("namespace `mian` matches no package")
            && run.stderr.contains("--all-namespaces"),
        "{}",
        run.stderr
    );
}

#[test]
fn each_parser_reads_its_format() {
    let run = check(&["-p", POLICY, "-n", "echo", "-o", "json", &input("parsers")]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let parsed: std::collections::BTreeMap<String, Json> = run
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let name = r["filename"]
                .as_str()
                .unwrap()
                .rsplit('/')
                .next()
                .unwrap()
                .to_owned();
            let doc = serde_json::from_str(r["warnings"][0]["msg"].as_str().unwrap()).unwrap();
            (name, doc)
        })
        .collect();
    assert_eq!(parsed["values.yaml"], json!({"replicas": 2, "mode": 420}));
    assert_eq!(parsed["config.json"], json!({"name": "api", "replicas": 2}));
    assert_eq!(
        parsed["config.jsonc"],
        json!({"editor.tabSize": 2, "files.exclude": {"**/.git": true}})
    );
    assert_eq!(
        parsed["config.toml"],
        json!({"title": "service", "server": {"port": 8080, "started": "2024-05-01T10:00:00Z"}})
    );
    assert_eq!(
        parsed["app.ini"],
        json!({"server": {"port": 8080, "debug": false, "name": "web"}})
    );
    assert_eq!(
        parsed["prod.env"],
        json!({"HOST": "db.internal", "URL": "postgres://db.internal:5432"})
    );
    assert_eq!(
        parsed["main.tf"],
        json!({"resource": {"aws_s3_bucket": {"logs": [{"bucket": "logs-${var.env}", "acl": "private"}]}}})
    );
    assert_eq!(
        parsed["pom.xml"],
        json!({"project": {"modelVersion": "4.0.0", "dependency": {"-scope": "test", "#content": "junit"}}})
    );
    assert_eq!(
        parsed["app.properties"],
        json!({"server.port": "8080", "spring.application.name": "api"})
    );
    let docker = parsed["Dockerfile"].as_array().unwrap();
    assert_eq!(
        docker[1],
        json!({"Cmd": "from", "SubCmd": "", "JSON": false, "Flags": [], "Value": ["golang:1.22", "AS", "build"], "Stage": 0})
    );
    assert_eq!(
        docker[6],
        json!({"Cmd": "copy", "SubCmd": "", "JSON": false, "Flags": ["--from=build"], "Value": ["/app", "/app"], "Stage": 1})
    );
    assert_eq!(docker[8]["JSON"], true);

    // --parser overrides the file name.
    let run = check(&[
        "-p",
        POLICY,
        "-n",
        "echo",
        "-o",
        "json",
        "--parser",
        "ini",
        &input("parsers/app.properties"),
    ]);
    assert_eq!(
        run.json()[0]["warnings"][0]["msg"],
        "{}",
        "no sections, so nothing"
    );
}

#[test]
fn stdin_is_autodetected_or_parsed_as_asked() {
    let run = check_with(
        &["-p", POLICY, "-n", "echo", "-o", "json", "-"],
        Some("{\"kind\": \"Pod\"}"),
    );
    let r = &run.json()[0];
    assert_eq!(
        r["filename"], "",
        "conftest's JSON names stdin with an empty string"
    );
    assert_eq!(r["warnings"][0]["msg"], "{\"kind\":\"Pod\"}");
    let run = check_with(
        &["-p", POLICY, "-n", "echo", "-"],
        Some("a: 1\n---\nb: 2\n"),
    );
    assert!(
        run.stdout.starts_with("WARN - - echo - {\"a\":1}\n"),
        "{}",
        run.stdout
    );
    let run = check_with(
        &["-p", POLICY, "-n", "echo", "--parser", "toml", "-"],
        Some("a = 1\n"),
    );
    assert!(run.stdout.contains("{\"a\":1}"), "{}", run.stdout);
}

#[test]
fn output_formats_match_conftest() {
    let file = input("deployments.yaml");
    let args = |format: &'static str| vec!["-p", POLICY, "-o", format];

    let mut a = args("tap");
    a.push(&file);
    let tap = check(&a).stdout;
    let lines: Vec<&str> = tap.lines().collect();
    assert_eq!(lines[0], "1..15");
    assert_eq!(
        lines[1],
        format!("not ok 1 - {file} - main - Deployment/worker must set runAsNonRoot")
    );
    assert!(lines.contains(&"# warnings"));
    assert!(
        lines.contains(&format!("ok 15 - {file} - main - SUCCESS").as_str()),
        "{tap}"
    );

    let mut a = args("github");
    a.push(&file);
    let github = check(&a).stdout;
    assert!(
        github.starts_with(&format!(
            "::group::Testing \"{file}\" against 15 policies in namespace \"main\"\n"
        )),
        "{github}"
    );
    assert!(github.contains(&format!(
        "::error file={file},line=1::container debug is privileged\n"
    )));
    // The policy's `_loc` names another file (the base name), so conftest annotates both.
    assert!(
        github.contains(&format!(
            "::warning file=deployments.yaml,line=4::worker has no owner label\n\
             ::warning file={file},line=1::(ORIGINATING FROM deployments.yaml L4) worker has no owner label\n"
        )),
        "{github}"
    );
    assert!(github.ends_with("15 tests, 9 passed, 1 warning, 4 failures, 1 exception\n"));

    let mut a = args("table");
    a.push(&file);
    let table = check(&a).stdout;
    assert!(table.starts_with("┌───────────┬"), "{table}");
    assert!(table.contains("│  RESULT   │"), "{table}");
    assert!(
        table.contains("│ exception │") && table.contains("│ failure   │"),
        "{table}"
    );
    assert_eq!(table.lines().count(), 4 + 15, "{table}");

    let mut a = args("junit");
    a.push(&file);
    let junit = check(&a).stdout;
    let doc = roxmltree::Document::parse(&junit).unwrap();
    let suite = doc
        .descendants()
        .find(|n| n.has_tag_name("testsuite"))
        .unwrap();
    assert_eq!(suite.attribute("name"), Some("conftest.main"));
    assert_eq!(
        suite.attribute("tests"),
        Some("14"),
        "exceptions are not test cases"
    );
    assert_eq!(suite.attribute("failures"), Some("5"), "warnings fail too");
    let case = suite
        .children()
        .find(|n| n.has_tag_name("testcase"))
        .unwrap();
    assert_eq!(
        case.attribute("name").unwrap(),
        format!("{file} - worker has no owner label")
    );

    let mut a = args("sarif");
    a.push(&file);
    let sarif: Json = serde_json::from_str(&check(&a).stdout).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    let run = &sarif["runs"][0];
    assert_eq!(run["tool"]["driver"]["name"], "gatehouse");
    let levels: Vec<&str> = run["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["level"].as_str().unwrap())
        .collect();
    assert_eq!(
        levels,
        ["error", "error", "error", "error", "warning", "note"]
    );
    assert_eq!(
        run["results"][4]["locations"][0]["physicalLocation"]["region"]["startLine"],
        4
    );
    assert_eq!(run["invocations"][0]["exitCode"], 1);
}

#[test]
fn combine_evaluates_all_documents_as_one_input() {
    let run = check(&[
        "-p",
        POLICY,
        "-n",
        "combine",
        "--combine",
        "-o",
        "json",
        &input("deployments.yaml"),
        &input("service.json"),
    ]);
    let results = run.json();
    assert_eq!(results.as_array().unwrap().len(), 1);
    let r = &results[0];
    assert_eq!(r["filename"], "Combined");
    assert_eq!(messages(r, "warnings"), ["4 documents"]);
    assert_eq!(
        messages(r, "failures"),
        [format!(
            "api is defined in both {} and {}",
            input("deployments.yaml"),
            input("service.json")
        )]
    );
    assert_eq!(run.code, 1);
}

#[test]
fn data_conftest_file_names_the_file_being_checked() {
    let run = check(&[
        "-p",
        POLICY,
        "-n",
        "files",
        "-o",
        "json",
        &input("service.json"),
    ]);
    let r = &run.json()[0];
    assert_eq!(messages(r, "warnings"), ["checked service.json"]);
    assert!(
        messages(r, "failures").is_empty(),
        "dir is absolute and ends in inputs: {r}"
    );
    assert_eq!(run.code, 0);
    let run = check(&[
        "-p",
        POLICY,
        "-n",
        "files",
        "-o",
        "json",
        &input("parsers/config.json"),
    ]);
    let failure = &messages(&run.json()[0], "failures")[0];
    assert!(
        failure.starts_with("config.json is outside the inputs directory (/"),
        "{failure}"
    );
    assert!(
        failure.ends_with("tests/fixtures/check/inputs/parsers)"),
        "{failure}"
    );
}

#[test]
fn data_files_are_mounted_by_directory() {
    let without = check(&["-p", POLICY, "-o", "json", &input("deployments.yaml")]);
    assert!(
        messages(&without.json()[0], "failures")
            .iter()
            .any(|m| m.contains("untrusted registry"))
    );
    let with = check(&[
        "-p",
        POLICY,
        "-d",
        "tests/fixtures/check/data",
        "-o",
        "json",
        &input("deployments.yaml"),
    ]);
    assert!(
        !messages(&with.json()[0], "failures")
            .iter()
            .any(|m| m.contains("untrusted registry")),
        "data.allowed.images lists busybox"
    );
}

#[test]
fn exit_codes_follow_conftest() {
    let clean = input("service.json");
    let warned = input("unlabelled.yaml");
    let failing = input("deployments.yaml");
    let code = |args: &[&str]| {
        let mut full = vec!["-p", POLICY];
        full.extend_from_slice(args);
        check(&full).code
    };
    assert_eq!(code(&[&clean]), 0);
    assert_eq!(code(&[&warned]), 0, "warnings alone pass");
    assert_eq!(code(&[&failing]), 1);
    assert_eq!(code(&["--fail-on-warn", &clean]), 0);
    assert_eq!(code(&["--fail-on-warn", &warned]), 1);
    assert_eq!(code(&["--fail-on-warn", &failing]), 2);
    assert_eq!(code(&["--no-fail", &failing]), 0);
    assert_eq!(code(&["--no-fail", "--fail-on-warn", &failing]), 0);
}

#[test]
fn an_unparseable_file_is_a_located_failure_not_skipped() {
    let run = check(&[
        "-p",
        POLICY,
        &input("bad/broken.yaml"),
        &input("service.json"),
    ]);
    assert_eq!(run.code, 1);
    let broken = input("bad/broken.yaml");
    assert!(
        run.stdout.starts_with(&format!(
            "FAIL - {broken} - {broken}:4:5: cannot be read as YAML: "
        )),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .ends_with("6 tests, 5 passed, 0 warnings, 1 failure, 0 exceptions\n"),
        "{}",
        run.stdout
    );
    let json = check(&["-p", POLICY, "-o", "json", &input("bad/broken.yaml")]).json();
    assert_eq!(
        json[0]["failures"][0]["loc"],
        json!({"file": broken, "line": 4})
    );
    assert_eq!(
        json[0]["failures"][0]["metadata"],
        json!({"parser": "yaml"})
    );
}

#[test]
fn setup_errors_say_what_to_do() {
    let run = check(&[
        "-p",
        "tests/fixtures/check/no-such-policy",
        &input("service.json"),
    ]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr
            .contains("The policy path tests/fixtures/check/no-such-policy does not exist"),
        "{}",
        run.stderr
    );
    let run = check(&[
        "-p",
        "tests/fixtures/check/empty-policy",
        &input("service.json"),
    ]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr
            .contains("define no deny, violation or warn rules in namespace main"),
        "{}",
        run.stderr
    );
    let run = check(&["-p", "tests/fixtures/check/data", &input("service.json")]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("No policies found"), "{}", run.stderr);
    let run = check(&["-p", POLICY, "tests/fixtures/check/no-such-file.yaml"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("no-such-file.yaml cannot be read"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_failing_rule_is_reported_while_the_others_still_run() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("p.rego"),
        "package main\n\ndeny contains \"always\" if true\n\nwarn contains msg if {\n  x := 1 / input.zero\n  msg := sprintf(\"%v\", [x])\n}\n\ndeny_flat if true\n",
    )
    .unwrap();
    let file = dir.path().join("in.json");
    std::fs::write(&file, "{\"zero\": 0}").unwrap();
    let run = check(&[
        "-p",
        dir.path().to_str().unwrap(),
        "-o",
        "json",
        file.to_str().unwrap(),
    ]);
    let failures = messages(&run.json()[0], "failures");
    assert!(failures.contains(&"always".to_owned()), "{failures:?}");
    assert!(
        failures
            .iter()
            .any(|m| m.starts_with("data.main.warn failed: ") && m.contains("p.rego:6")),
        "{failures:?}"
    );
    assert!(
        failures
            .iter()
            .any(|m| m.contains("write `deny_flat contains msg if")),
        "{failures:?}"
    );
    assert_eq!(run.code, 1);
}

#[test]
fn verify_runs_the_policy_tests() {
    let run = check(&["-p", POLICY, "--verify"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(
        run.stdout,
        "\n3 tests, 2 passed, 0 warnings, 0 failures, 0 exceptions, 1 skipped\n"
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("p_test.rego"),
        "package p_test\n\ntest_ok if true\n\ntest_bad if 1 == 2\n",
    )
    .unwrap();
    let path = dir.path().to_str().unwrap();
    let run = check(&["-p", path, "--verify"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stdout.contains("FAIL - ")
            && run
                .stdout
                .contains("p_test.rego - p_test - data.p_test.test_bad\n"),
        "{}",
        run.stdout
    );
    let json = check(&["-p", path, "--verify", "-o", "json"]).json();
    assert_eq!(json.as_array().unwrap().len(), 2, "one result per test");
}

#[test]
fn rego_v0_policies_run_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("p.rego"),
        "package main\n\ndeny[msg] {\n  input.kind == \"Pod\"\n  msg := \"no bare pods\"\n}\n\ndeny[msg] {\n  input.kind == \"Job\"\n  msg := \"no jobs\"\n}\n",
    )
    .unwrap();
    let policy = dir.path().to_str().unwrap();
    for flag in [&["--rego-version", "v0"][..], &["--v0"][..]] {
        let mut args = vec!["-p", policy, "-"];
        args.extend_from_slice(flag);
        let run = check_with(&args, Some("kind: Pod\n"));
        assert_eq!(run.code, 1, "{}", run.stderr);
        assert_eq!(
            run.stdout,
            "FAIL - - main - no bare pods\n\n2 tests, 1 passed, 0 warnings, 1 failure, 0 exceptions\n"
        );
    }
    let run = check_with(&["-p", policy, "-"], Some("kind: Pod\n"));
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("Rego v0"), "{}", run.stderr);
}
