//! Helm parity: every case in tests/fixtures/helm/cases.yaml renders as Helm v4 renders it.
//!
//! The expected output in tests/fixtures/helm/expected/ was produced by real Helm
//! (`regenerate.sh`); when the reference peer is installed (`GATEHOUSE_REF_PY`, or the default
//! virtualenv of ../shared/reference/setup.sh), each case is also rendered by Helm live and
//! compared. Documents must be YAML-equal, from the same template, in the same order; the
//! failure lists every difference.

use std::path::{Path, PathBuf};
use std::process::Command;

use gatehouse_render::chart::values;
use gatehouse_render::chart::{Chart, RenderOptions, Renderer};
use serde::Deserialize;
use serde_json::Value as Json;

#[derive(Deserialize)]
struct Case {
    name: String,
    chart: String,
    #[serde(default)]
    values: Vec<String>,
    release: Option<String>,
    namespace: Option<String>,
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/helm")
}

fn cases() -> Vec<Case> {
    let text = std::fs::read_to_string(fixtures().join("cases.yaml")).unwrap();
    serde_saphyr::from_str(&text).unwrap()
}

/// Our render: the `helm template` stream, or the error text.
fn ours(case: &Case) -> Result<String, String> {
    let chart =
        Chart::load_dir(&fixtures().join("charts").join(&case.chart)).map_err(|e| e.to_string())?;
    let renderer = Renderer::new(chart).map_err(|e| e.to_string())?;
    let layers: Vec<Json> = case
        .values
        .iter()
        .map(|v| {
            let text = std::fs::read_to_string(fixtures().join("values").join(v)).unwrap();
            values::parse(&text).unwrap()
        })
        .collect();
    let options = RenderOptions {
        release_name: case
            .release
            .clone()
            .unwrap_or_else(|| "release-name".into()),
        namespace: case.namespace.clone().unwrap_or_else(|| "default".into()),
        ..RenderOptions::default()
    };
    renderer
        .render(&values::layer(&layers), &options)
        .map(|r| r.stream())
        .map_err(|e| e.to_string())
}

/// Helm's answer from the committed expectation.
fn committed(case: &Case) -> Result<String, String> {
    let dir = fixtures().join("expected");
    match std::fs::read_to_string(dir.join(format!("{}.yaml", case.name))) {
        Ok(stream) => Ok(stream),
        Err(_) => Err(
            std::fs::read_to_string(dir.join(format!("{}.error", case.name)))
                .unwrap_or_else(|_| panic!("no expectation for {}: run regenerate.sh", case.name))
                .trim_end()
                .to_owned(),
        ),
    }
}

/// The reference peer's Python, if installed.
fn reference_python() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("GATEHOUSE_REF_PY") {
        return Some(PathBuf::from(p));
    }
    let home = std::env::var_os("HOME")?;
    let p = Path::new(&home).join(".cache/gatehouse-ref/venv/bin/python");
    p.exists().then_some(p)
}

/// The reference peer's driver: `GATEHOUSE_REF_HELM`, or `shared/reference/helm.py` beside the
/// repository.
fn reference_helm() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("GATEHOUSE_REF_HELM") {
        return Some(PathBuf::from(p));
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|a| a.join("shared/reference/helm.py"))
        .find(|p| p.exists())
}

/// Helm's answer, live.
fn live(py: &Path, helm_py: &Path, case: &Case) -> Result<String, String> {
    let mut cmd = Command::new(py);
    cmd.arg(helm_py)
        .arg("template")
        .arg(fixtures().join("charts").join(&case.chart))
        .args(["--name", case.release.as_deref().unwrap_or("release-name")])
        .args([
            "--namespace",
            case.namespace.as_deref().unwrap_or("default"),
        ]);
    for v in &case.values {
        cmd.arg("-f").arg(fixtures().join("values").join(v));
    }
    let out = cmd.output().expect("run helm.py");
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        let err = String::from_utf8_lossy(&out.stderr);
        Err(err.trim().trim_start_matches("helm: ").to_owned())
    }
}

/// Splits a `helm template` stream into (source, document) pairs.
fn documents(stream: &str) -> Vec<(String, Json)> {
    stream
        .split("---\n# Source: ")
        .filter(|chunk| !chunk.trim().is_empty())
        .map(|chunk| {
            let (source, doc) = chunk.split_once('\n').unwrap_or((chunk, ""));
            let value: Json = serde_saphyr::from_str(doc)
                .unwrap_or_else(|e| panic!("document from {source} is not YAML: {e}\n{doc}"));
            (source.to_owned(), value)
        })
        .collect()
}

/// Every difference between Helm's answer and ours.
fn differences(helm: &Result<String, String>, ours: &Result<String, String>) -> Vec<String> {
    match (helm, ours) {
        (Err(h), Err(o)) if h == o => vec![],
        (Err(h), Err(o)) => vec![format!("error text differs:\n  helm: {h}\n  ours: {o}")],
        (Err(h), Ok(_)) => vec![format!("helm fails ({h}) but we render")],
        (Ok(_), Err(o)) => vec![format!("helm renders but we fail: {o}")],
        (Ok(h), Ok(o)) => {
            let (h, o) = (documents(h), documents(o));
            let mut diffs = Vec::new();
            if h.len() != o.len() {
                diffs.push(format!(
                    "helm has {} documents, we have {}",
                    h.len(),
                    o.len()
                ));
            }
            for (i, (hd, od)) in h.iter().zip(o.iter()).enumerate() {
                if hd.0 != od.0 {
                    diffs.push(format!(
                        "document {i}: helm's is from {}, ours from {}",
                        hd.0, od.0
                    ));
                } else if hd.1 != od.1 {
                    diffs.push(format!(
                        "document {i} ({}) differs:\n  helm: {}\n  ours: {}",
                        hd.0, hd.1, od.1
                    ));
                }
            }
            diffs
        }
    }
}

#[test]
fn charts_render_as_helm_renders_them() {
    let peer = reference_python().zip(reference_helm());
    let mut report = Vec::new();
    for case in cases() {
        let ours = ours(&case);
        for d in differences(&committed(&case), &ours) {
            report.push(format!("[{}] vs committed expectation: {d}", case.name));
        }
        if let Some((py, helm_py)) = &peer {
            for d in differences(&live(py, helm_py, &case), &ours) {
                report.push(format!("[{}] vs live Helm: {d}", case.name));
            }
        }
    }
    assert!(
        report.is_empty(),
        "{} difference(s):\n{}",
        report.len(),
        report.join("\n")
    );
}

#[test]
fn renders_are_byte_identical_to_helm_for_the_default_chart() {
    let case = cases()
        .into_iter()
        .find(|c| c.name == "mychart-defaults")
        .unwrap();
    let helm = committed(&case).unwrap();
    assert_eq!(
        ours(&case).unwrap(),
        helm.strip_suffix('\n').unwrap_or(&helm)
    );
}
