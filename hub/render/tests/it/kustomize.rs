//! Kustomize parity: every case under tests/fixtures/kustomize/<case>/ builds to the objects
//! `kubectl kustomize` builds.
//!
//! Each case directory is a file tree built at its root (or at the directory named in its
//! optional `target` file). `expected.yaml` was produced by `kubectl kustomize`
//! (`regenerate.sh`); when `kubectl` is on PATH each case is also built by it live and compared.
//! Documents must be YAML-equal and in the same order; a failure lists every difference. Error
//! cases assert the message names what broke.

use std::path::{Path, PathBuf};
use std::process::Command;

use gatehouse_render::kustomize::{self, DirSource, Error, MemSource};
use serde_json::Value;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/kustomize")
}

fn cases() -> Vec<(String, PathBuf)> {
    let mut out: Vec<(String, PathBuf)> = std::fs::read_dir(fixtures())
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.join("expected.yaml").is_file())
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), p))
        .collect();
    out.sort();
    assert!(
        out.len() >= 10,
        "expected the fixture corpus, found {out:?}"
    );
    out
}

fn target(case: &Path) -> String {
    std::fs::read_to_string(case.join("target"))
        .map(|t| t.trim().to_string())
        .unwrap_or_default()
}

/// Parses a YAML stream the way Kubernetes reads it.
fn parse_stream(text: &str) -> Vec<Value> {
    let options = serde_saphyr::options! {
        legacy_octal_numbers: true,
        strict_booleans: true,
    };
    let docs: Vec<Value> = serde_saphyr::from_multiple_with_options(text, options).unwrap();
    docs.into_iter().filter(|d| !d.is_null()).collect()
}

/// Our build, printed with `to_yaml` and read back (so the printer is checked too).
fn ours(case: &Path) -> Result<Vec<Value>, String> {
    let src = DirSource::new(case).map_err(|e| e.to_string())?;
    let objects = kustomize::build(&src, &target(case)).map_err(|e| e.to_string())?;
    let text = kustomize::to_yaml(&objects);
    let back = parse_stream(&text);
    if back.len() != objects.len() {
        return Err(format!(
            "to_yaml printed {} documents for {} objects",
            back.len(),
            objects.len()
        ));
    }
    for (o, b) in objects.iter().zip(&back) {
        let mut diffs = Vec::new();
        diff("", o, b, &mut diffs);
        if !diffs.is_empty() {
            return Err(format!(
                "to_yaml does not read back equal:\n{}",
                diffs.join("\n")
            ));
        }
    }
    Ok(back)
}

fn describe(v: &Value) -> String {
    let s = |k: &[&str]| {
        let mut cur = v;
        for key in k {
            cur = &cur[*key];
        }
        cur.as_str().unwrap_or("?").to_string()
    };
    format!(
        "{} {}/{}",
        s(&["kind"]),
        s(&["metadata", "namespace"]),
        s(&["metadata", "name"])
    )
}

/// Lists the paths where `a` (ours) and `b` (expected) differ; numbers compare by value.
fn diff(path: &str, a: &Value, b: &Value, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let p = format!("{path}.{k}");
                match (x.get(k), y.get(k)) {
                    (Some(a), Some(b)) => diff(&p, a, b, out),
                    (Some(a), None) => out.push(format!("  {p}: ours has {a}, expected nothing")),
                    (None, Some(b)) => out.push(format!("  {p}: ours has nothing, expected {b}")),
                    (None, None) => {}
                }
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (a, b)) in x.iter().zip(y).enumerate() {
                diff(&format!("{path}[{i}]"), a, b, out);
            }
        }
        (Value::Number(x), Value::Number(y)) if x.as_f64() == y.as_f64() => {}
        _ if a == b => {}
        _ => out.push(format!("  {path}: ours {a}, expected {b}")),
    }
}

fn compare(case: &str, ours: &[Value], expected: &[Value]) -> Vec<String> {
    let mut out = Vec::new();
    if ours.len() != expected.len() {
        out.push(format!(
            "{case}: {} documents, expected {}\n  ours:     {:?}\n  expected: {:?}",
            ours.len(),
            expected.len(),
            ours.iter().map(describe).collect::<Vec<_>>(),
            expected.iter().map(describe).collect::<Vec<_>>()
        ));
        return out;
    }
    for (i, (a, b)) in ours.iter().zip(expected).enumerate() {
        let mut diffs = Vec::new();
        diff("", a, b, &mut diffs);
        if !diffs.is_empty() {
            out.push(format!(
                "{case}: document {i} ({} vs expected {}):\n{}",
                describe(a),
                describe(b),
                diffs.join("\n")
            ));
        }
    }
    out
}

#[test]
fn kustomize_parity_with_committed_expectations() {
    let mut failures = Vec::new();
    for (name, dir) in cases() {
        let expected = parse_stream(&std::fs::read_to_string(dir.join("expected.yaml")).unwrap());
        match ours(&dir) {
            Ok(objs) => failures.extend(compare(&name, &objs, &expected)),
            Err(e) => failures.push(format!("{name}: build failed: {e}")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} difference(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn kubectl_available() -> bool {
    Command::new("kubectl")
        .args(["version", "--client"])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn kustomize_parity_with_live_kubectl() {
    if !kubectl_available() {
        eprintln!("kubectl is not on PATH: live Kustomize parity not checked");
        return;
    }
    let mut failures = Vec::new();
    for (name, dir) in cases() {
        let t = target(&dir);
        let build_dir = if t.is_empty() {
            dir.clone()
        } else {
            dir.join(t)
        };
        let out = Command::new("kubectl")
            .arg("kustomize")
            .arg(&build_dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{name}: kubectl kustomize failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let expected = parse_stream(&String::from_utf8(out.stdout).unwrap());
        match ours(&dir) {
            Ok(objs) => failures.extend(compare(&name, &objs, &expected)),
            Err(e) => failures.push(format!("{name}: build failed: {e}")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} difference(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

// ----- error cases -----

const DEPLOYMENT: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: app
spec:
  template:
    spec:
      containers:
      - name: app
        image: nginx
";

fn tree(files: &[(&str, &str)]) -> MemSource {
    let mut src = MemSource::new();
    for (path, text) in files {
        src.insert(*path, *text);
    }
    src
}

fn build_err(src: &MemSource, dir: &str) -> (Error, String) {
    let err = kustomize::build(src, dir).unwrap_err();
    let text = err.to_string();
    (err, text)
}

#[test]
fn broken_json_patch_names_the_patch_and_the_target() {
    let src = tree(&[
        ("app/dep.yaml", DEPLOYMENT),
        (
            "app/kustomization.yaml",
            "resources: [dep.yaml]\npatches:\n- target:\n    kind: Deployment\n  path: fix.yaml\n",
        ),
        (
            "app/fix.yaml",
            "- op: replace\n  path: /spec/nope/x\n  value: 1\n",
        ),
    ]);
    let (err, text) = build_err(&src, "app");
    assert!(matches!(err, Error::Patch { .. }), "{text}");
    assert!(text.contains("app/fix.yaml"), "{text}");
    assert!(text.contains("Deployment/app"), "{text}");
    assert!(text.contains("/spec/nope/x"), "{text}");
}

#[test]
fn strategic_merge_patch_without_a_match_is_an_error_like_kustomize() {
    let src = tree(&[
        ("app/dep.yaml", DEPLOYMENT),
        (
            "app/kustomization.yaml",
            "resources: [dep.yaml]\npatches:\n- patch: |\n    apiVersion: apps/v1\n    kind: Deployment\n    metadata:\n      name: nothere\n    spec:\n      replicas: 2\n",
        ),
    ]);
    let (err, text) = build_err(&src, "app");
    assert!(matches!(err, Error::Patch { .. }), "{text}");
    assert!(
        text.contains("patches[0] in app/kustomization.yaml"),
        "{text}"
    );
    assert!(text.contains("Deployment/nothere"), "{text}");
}

#[test]
fn patch_whose_target_selects_nothing_is_a_no_op_like_kustomize() {
    let src = tree(&[
        ("app/dep.yaml", DEPLOYMENT),
        (
            "app/kustomization.yaml",
            "resources: [dep.yaml]\npatches:\n- target:\n    kind: Nope\n  patch: |\n    - op: remove\n      path: /spec\n",
        ),
    ]);
    let objs = kustomize::build(&src, "app").unwrap();
    assert_eq!(objs.len(), 1);
    assert_eq!(
        objs[0]["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx"
    );
}

#[test]
fn escaping_path_is_refused() {
    let src = tree(&[("app/kustomization.yaml", "resources:\n- ../../etc/passwd\n")]);
    let (err, text) = build_err(&src, "app");
    assert!(matches!(err, Error::Escapes { .. }), "{text}");
    assert!(text.contains("../../etc/passwd"), "{text}");
}

#[test]
fn dir_source_refuses_symlinks_out_of_the_root() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.yaml"), DEPLOYMENT).unwrap();
    let root = tempfile::tempdir().unwrap();
    std::fs::write(
        root.path().join("kustomization.yaml"),
        "resources: [link.yaml]\n",
    )
    .unwrap();
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(
            outside.path().join("secret.yaml"),
            root.path().join("link.yaml"),
        )
        .unwrap();
        let src = DirSource::new(root.path()).unwrap();
        let err = kustomize::build(&src, "").unwrap_err();
        assert!(matches!(err, Error::Escapes { .. }), "{err}");
    }
}

#[test]
fn missing_resource_names_the_file() {
    let src = tree(&[
        (
            "app/kustomization.yaml",
            "resources: [dep.yaml, missing.yaml]\n",
        ),
        ("app/dep.yaml", DEPLOYMENT),
    ]);
    let (err, text) = build_err(&src, "app");
    assert!(matches!(err, Error::NotFound { .. }), "{text}");
    assert!(text.contains("app/missing.yaml"), "{text}");
    assert!(text.contains("app/kustomization.yaml"), "{text}");
}

#[test]
fn cycle_between_kustomizations_is_detected() {
    let src = tree(&[
        ("a/kustomization.yaml", "resources: [../b]\n"),
        ("b/kustomization.yaml", "resources: [../a]\n"),
    ]);
    let (err, text) = build_err(&src, "a");
    assert!(matches!(err, Error::Cycle { .. }), "{text}");
    assert!(text.contains("a -> b -> a"), "{text}");
}

#[test]
fn malformed_yaml_names_file_and_line() {
    let src = tree(&[
        ("app/kustomization.yaml", "resources: [bad.yaml]\n"),
        (
            "app/bad.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n data: [\n",
        ),
    ]);
    let (err, text) = build_err(&src, "app");
    assert!(matches!(err, Error::Yaml { line: Some(_), .. }), "{text}");
    assert!(text.contains("app/bad.yaml line"), "{text}");
}

#[test]
fn remote_resources_are_refused() {
    let src = tree(&[(
        "app/kustomization.yaml",
        "resources:\n- https://example.invalid/org/repo//deploy?ref=v1\n",
    )]);
    let (err, text) = build_err(&src, "app");
    assert!(matches!(err, Error::Remote { .. }), "{text}");
    assert!(text.contains("not supported"), "{text}");
}

#[test]
fn nesting_is_bounded() {
    let mut src = MemSource::new();
    for i in 0..40 {
        src.insert(
            format!("k{i}/kustomization.yaml"),
            format!("resources: [../k{}]\n", i + 1),
        );
    }
    src.insert("k40/kustomization.yaml", "resources: []\n");
    let (err, text) = build_err(&src, "k0");
    assert!(matches!(err, Error::TooDeep { .. }), "{text}");
}

#[test]
fn unsupported_fields_are_refused_by_name() {
    let src = tree(&[(
        "app/kustomization.yaml",
        "vars:\n- name: X\n  objref: {kind: Service, name: s, apiVersion: v1}\n",
    )]);
    let (err, text) = build_err(&src, "app");
    assert!(matches!(err, Error::Unsupported { .. }), "{text}");
    assert!(text.contains("vars is not supported"), "{text}");
}

#[test]
fn generator_create_over_an_existing_name_is_refused() {
    let src = tree(&[
        (
            "base/kustomization.yaml",
            "configMapGenerator:\n- name: c\n  literals: [a=1]\n",
        ),
        (
            "app/kustomization.yaml",
            "resources: [../base]\nconfigMapGenerator:\n- name: c\n  literals: [b=2]\n",
        ),
    ]);
    let (_, text) = build_err(&src, "app");
    assert!(text.contains("merge or replace"), "{text}");
}

// ----- replacements -----

const SETTINGS: &str = "apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  version: 1.2.3
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: other
data:
  version: 9.9.9
";

/// Writes a tree to a temporary directory, for `kubectl kustomize`.
fn on_disk(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (path, text) in files {
        let full = dir.path().join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, text).unwrap();
    }
    dir
}

/// Builds `app` in the tree, expecting a replacement error whose message contains every one of
/// `ours`; when kubectl is installed, it must fail too, with `kubectl_says` in its message.
fn replacement_error(files: &[(&str, &str)], ours: &[&str], kubectl_says: &str) {
    let (err, text) = build_err(&tree(files), "app");
    assert!(matches!(err, Error::Replacement { .. }), "{text}");
    for want in ours.iter().chain([&kubectl_says]) {
        assert!(text.contains(want), "{want:?} not in: {text}");
    }
    if !kubectl_available() {
        return;
    }
    let dir = on_disk(files);
    let out = Command::new("kubectl")
        .arg("kustomize")
        .arg(dir.path().join("app"))
        .output()
        .unwrap();
    // kubectl logs the message quoted, with its own quotes escaped.
    let stderr = String::from_utf8_lossy(&out.stderr).replace("\\\"", "\"");
    assert!(!out.status.success(), "kubectl kustomize succeeded");
    assert!(
        stderr.contains(kubectl_says),
        "kubectl says: {stderr}\nours: {text}"
    );
}

#[test]
fn replacement_source_selecting_nothing_is_an_error_like_kustomize() {
    replacement_error(
        &[
            ("app/res.yaml", DEPLOYMENT),
            (
                "app/kustomization.yaml",
                "resources: [res.yaml]\nreplacements:\n- source:\n    kind: Secret\n    name: creds\n  targets:\n  - select: {kind: Deployment}\n    fieldPaths: [spec.x]\n",
            ),
        ],
        &[
            "replacements[0] in app/kustomization.yaml",
            "exactly one resource",
        ],
        "nothing selected by Secret.[noVer].[noGrp]/creds.[noNs]",
    );
}

#[test]
fn replacement_source_selecting_several_resources_is_an_error_like_kustomize() {
    replacement_error(
        &[
            ("app/res.yaml", SETTINGS),
            (
                "app/kustomization.yaml",
                "resources: [res.yaml]\nreplacements:\n- source:\n    kind: ConfigMap\n    fieldPath: data.version\n  targets:\n  - select: {name: other}\n    fieldPaths: [data.version]\n",
            ),
        ],
        &["v1 ConfigMap/settings and v1 ConfigMap/other"],
        "multiple matches for selector ConfigMap.[noVer].[noGrp]/[noName].[noNs]:data.version",
    );
}

#[test]
fn replacement_from_a_file_names_the_file_and_the_item() {
    replacement_error(
        &[
            ("app/res.yaml", SETTINGS),
            (
                "app/kustomization.yaml",
                "resources: [res.yaml]\nreplacements:\n- path: repl/all.yaml\n",
            ),
            (
                "app/repl/all.yaml",
                "- source: {name: settings, fieldPath: data.version}\n  targets:\n  - select: {name: other}\n    fieldPaths: [data.version]\n- source: {name: settings, fieldPath: data.nope}\n  targets:\n  - select: {name: other}\n    fieldPaths: [data.version]\n",
            ),
        ],
        &["app/repl/all.yaml item 1 (replacements[0] in app/kustomization.yaml)"],
        "fieldPath `data.nope` is missing for replacement source [noKind].[noVer].[noGrp]/settings.[noNs]",
    );
}

#[test]
fn replacement_target_without_the_field_is_an_error_unless_created() {
    let files = |options: &str| {
        vec![
            (
                "app/res.yaml".to_string(),
                format!("{SETTINGS}---\n{DEPLOYMENT}"),
            ),
            (
                "app/kustomization.yaml".to_string(),
                format!(
                    "resources: [res.yaml]\nreplacements:\n- source: {{name: settings, fieldPath: data.version}}\n  targets:\n  - select: {{kind: Deployment}}\n    fieldPaths: [spec.template.metadata.labels.version]\n{options}"
                ),
            ),
        ]
    };
    let missing = files("");
    let missing: Vec<(&str, &str)> = missing
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_str()))
        .collect();
    replacement_error(
        &missing,
        &["targets[0] on apps/v1 Deployment/app"],
        "unable to find field \"spec.template.metadata.labels.version\" in replacement target",
    );
    let created = files("    options: {create: true}\n");
    let mut src = MemSource::new();
    for (p, t) in &created {
        src.insert(p.as_str(), t.as_str());
    }
    let objs = kustomize::build(&src, "app").unwrap();
    let dep = objs.iter().find(|o| o["kind"] == "Deployment").unwrap();
    assert_eq!(
        dep["spec"]["template"]["metadata"]["labels"]["version"],
        "1.2.3"
    );
}

#[test]
fn replacement_into_an_integer_field_needs_a_number() {
    replacement_error(
        &[
            (
                "app/res.yaml",
                &format!(
                    "{SETTINGS}---\n{}",
                    DEPLOYMENT.replacen("spec:\n", "spec:\n  replicas: 1\n", 1)
                ),
            ),
            (
                "app/kustomization.yaml",
                "resources: [res.yaml]\nreplacements:\n- source: {name: settings, fieldPath: data.version}\n  targets:\n  - select: {kind: Deployment}\n    fieldPaths: [spec.replicas]\n",
            ),
        ],
        &["replacements[0]", "field \"spec.replicas\""],
        "cannot decode !!str `1.2.3` as a !!int",
    );
}

#[test]
fn replacement_path_is_checked_like_other_paths() {
    let src = tree(&[
        ("app/res.yaml", SETTINGS),
        (
            "app/kustomization.yaml",
            "resources: [res.yaml]\nreplacements:\n- path: ../../outside.yaml\n",
        ),
    ]);
    let (err, text) = build_err(&src, "app");
    assert!(matches!(err, Error::Escapes { .. }), "{text}");

    let src = tree(&[
        ("app/res.yaml", SETTINGS),
        (
            "app/kustomization.yaml",
            "resources: [res.yaml]\nreplacements:\n- path: missing.yaml\n",
        ),
    ]);
    let (err, text) = build_err(&src, "app");
    assert!(matches!(err, Error::NotFound { .. }), "{text}");
    assert!(text.contains("app/missing.yaml"), "{text}");

    let src = tree(&[
        ("app/res.yaml", SETTINGS),
        ("app/r.yaml", "source: {name: settings}\n"),
        (
            "app/kustomization.yaml",
            "resources: [res.yaml]\nreplacements:\n- path: r.yaml\n  source: {name: settings}\n",
        ),
    ]);
    let (err, text) = build_err(&src, "app");
    assert!(matches!(err, Error::Replacement { .. }), "{text}");
    assert!(
        text.contains("cannot specify both path and inline replacement"),
        "{text}"
    );
}

#[test]
fn replacement_reads_names_after_name_prefix_and_before_hash_suffixes() {
    let src = tree(&[
        ("app/res.yaml", &format!("{SETTINGS}---\n{DEPLOYMENT}")),
        (
            "app/kustomization.yaml",
            "resources: [res.yaml]\nnamePrefix: dev-\nconfigMapGenerator:\n- name: gen\n  literals: [a=b]\nreplacements:\n- source: {kind: ConfigMap, name: settings}\n  targets:\n  - select: {name: app}\n    fieldPaths: [metadata.annotations.settings]\n    options: {create: true}\n- source: {kind: ConfigMap, name: gen}\n  targets:\n  - select: {name: app}\n    fieldPaths: [metadata.annotations.gen]\n    options: {create: true}\n",
        ),
    ]);
    let objs = kustomize::build(&src, "app").unwrap();
    let dep = objs.iter().find(|o| o["kind"] == "Deployment").unwrap();
    assert_eq!(dep["metadata"]["annotations"]["settings"], "dev-settings");
    assert_eq!(dep["metadata"]["annotations"]["gen"], "dev-gen");
    let generated = objs
        .iter()
        .find(|o| {
            o["metadata"]["name"]
                .as_str()
                .is_some_and(|n| n.starts_with("dev-gen-"))
        })
        .unwrap();
    assert_eq!(generated["kind"], "ConfigMap");
}
