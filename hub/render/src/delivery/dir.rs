//! A project described in a directory, so CI can render what the hub will render.
//!
//! `project.yaml` at the directory's root names the environments, tenants, workloads (each a
//! chart directory or archive inside the directory, with default values), the values per
//! level and the HQ variables, the same model the hub keeps in its store:
//!
//! ```yaml
//! name: shop
//! adapter: argocd            # or flux
//! environments:
//!   - name: staging
//!   - name: production
//!     cluster: prod-eu
//!     namespace: shop         # objects go to shop-<tenant>; default: the project's name
//! tenants: [acme, globex]
//! workloads:
//!   - name: web
//!     chart: charts/web       # a chart directory or a .tgz, relative to this file
//!     values: {replicaCount: 2}
//! values:
//!   - workload: web
//!     environment: production
//!     tenant: acme            # optional; so is environment
//!     file: values/web-acme-production.yaml   # read as `helm -f` reads it; or `values:` inline
//! variables:
//!   - key: DB_HOST
//!     value: db.prod.internal
//!     scope: {environment: production}
//! bindings:
//!   - name: monitoring
//!     kind: kustomize         # or manifests
//!     path: bases/monitoring  # a directory, relative to this file
//!     environments: [production]   # optional; so is tenants
//!     overlay: {extra.yaml: "..."} # files laid over the source's
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value as Json;

use super::{
    Adapter, Binding, BindingKind, Environment, Level, Project, Scope, Variable, Workload,
};
use crate::chart::{Chart, Renderer};

/// The project file's name.
pub const PROJECT_FILE: &str = "project.yaml";

/// A project directory could not be loaded.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct DirError {
    /// The file at fault.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

fn err(path: &Path, message: impl Into<String>) -> DirError {
    DirError {
        path: path.display().to_string(),
        message: message.into(),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct File {
    name: String,
    #[serde(default)]
    repo_url: Option<String>,
    #[serde(default)]
    adapter: Option<String>,
    environments: Vec<EnvFile>,
    tenants: Vec<String>,
    workloads: Vec<WorkloadFile>,
    #[serde(default)]
    values: Vec<LevelFile>,
    #[serde(default)]
    variables: Vec<VariableFile>,
    #[serde(default)]
    bindings: Vec<BindingFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BindingFile {
    name: String,
    kind: String,
    path: PathBuf,
    #[serde(default)]
    tenants: Vec<String>,
    #[serde(default)]
    environments: Vec<String>,
    #[serde(default)]
    overlay: std::collections::BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EnvFile {
    name: String,
    #[serde(default)]
    cluster: Option<String>,
    #[serde(default)]
    namespace: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WorkloadFile {
    name: String,
    chart: PathBuf,
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default)]
    values: Option<Json>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LevelFile {
    workload: String,
    #[serde(default)]
    environment: Option<String>,
    #[serde(default)]
    tenant: Option<String>,
    #[serde(default)]
    values: Option<Json>,
    #[serde(default)]
    file: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VariableFile {
    key: String,
    value: String,
    #[serde(default)]
    scope: ScopeFile,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ScopeFile {
    #[serde(default)]
    project: Option<String>,
    #[serde(default)]
    environment: Option<String>,
    #[serde(default)]
    tenant: Option<String>,
    #[serde(default)]
    service: Option<String>,
}

fn read_yaml<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, DirError> {
    let text = std::fs::read_to_string(path).map_err(|e| err(path, format!("cannot read: {e}")))?;
    crate::yaml::from_str(&text).map_err(|e| err(path, e))
}

/// Reads a values file as `helm -f` reads it (YAML 1.1 scalars: `enabled: yes` is true).
fn read_values(path: &Path) -> Result<Json, DirError> {
    let text = std::fs::read_to_string(path).map_err(|e| err(path, format!("cannot read: {e}")))?;
    crate::chart::values::parse(&text).map_err(|e| err(path, e))
}

/// Loads `dir/project.yaml` and the charts and values files it names.
pub fn load(dir: &Path) -> Result<Project, DirError> {
    let file_path = dir.join(PROJECT_FILE);
    let file: File = read_yaml(&file_path)?;
    let adapter = match file.adapter.as_deref() {
        None | Some("argocd") => Adapter::ArgoCd,
        Some("flux") => Adapter::Flux,
        Some(other) => {
            return Err(err(
                &file_path,
                format!("adapter {other:?} is not known: use argocd or flux"),
            ));
        }
    };
    let mut workloads = Vec::new();
    for w in file.workloads {
        let chart_path = dir.join(&w.chart);
        let chart = if chart_path.is_dir() {
            Chart::load_dir(&chart_path)
        } else {
            let bytes = std::fs::read(&chart_path)
                .map_err(|e| err(&chart_path, format!("cannot read the chart: {e}")))?;
            Chart::load_archive(&bytes)
        }
        .map_err(|e| err(&chart_path, e.to_string()))?;
        let renderer = Renderer::new(chart).map_err(|e| err(&chart_path, e.to_string()))?;
        workloads.push(Workload {
            name: w.name,
            chart: Arc::new(renderer),
            values: w.values.unwrap_or_else(|| Json::Object(Default::default())),
            namespace: w.namespace,
        });
    }
    let mut levels = Vec::new();
    for l in file.values {
        let values = match (l.values, l.file) {
            (Some(v), None) => v,
            (None, Some(f)) => read_values(&dir.join(f))?,
            _ => {
                return Err(err(
                    &file_path,
                    format!(
                        "the values of workload {:?} need exactly one of `values:` and `file:`",
                        l.workload
                    ),
                ));
            }
        };
        levels.push(Level {
            workload: l.workload,
            environment: l.environment,
            tenant: l.tenant,
            values,
        });
    }
    let mut bindings = Vec::new();
    for b in file.bindings {
        let kind = match b.kind.as_str() {
            "kustomize" => BindingKind::Kustomize,
            "manifests" => BindingKind::Manifests,
            other => {
                return Err(err(
                    &file_path,
                    format!(
                        "binding {:?}: kind {other:?} is not known: use kustomize or manifests",
                        b.name
                    ),
                ));
            }
        };
        let root = dir.join(&b.path);
        let mut files = std::collections::BTreeMap::new();
        read_tree(&root, "", &mut files, 0)?;
        bindings.push(Binding {
            name: b.name,
            kind,
            files: Arc::new(files),
            tenants: b.tenants,
            environments: b.environments,
            overlay: b.overlay,
        });
    }
    Ok(Project {
        bindings,
        name: file.name,
        repo_url: file.repo_url.unwrap_or_default(),
        adapter,
        environments: file
            .environments
            .into_iter()
            .map(|e| Environment {
                name: e.name,
                cluster: e.cluster,
                namespace: e.namespace,
            })
            .collect(),
        tenants: file.tenants,
        tenant_environments: Default::default(),
        workloads,
        levels,
        variables: file
            .variables
            .into_iter()
            .map(|v| Variable {
                key: v.key,
                value: v.value,
                scope: Scope {
                    project: v.scope.project,
                    environment: v.scope.environment,
                    tenant: v.scope.tenant,
                    service: v.scope.service,
                },
            })
            .collect(),
    })
}

/// Reads a binding's source directory (plain files only; nothing outside it).
fn read_tree(
    dir: &Path,
    prefix: &str,
    files: &mut std::collections::BTreeMap<String, Vec<u8>>,
    depth: usize,
) -> Result<(), DirError> {
    if depth > 32 {
        return Err(err(dir, "directories nest too deep"));
    }
    let entries = std::fs::read_dir(dir).map_err(|e| err(dir, format!("cannot read: {e}")))?;
    for entry in entries {
        let entry = entry.map_err(|e| err(dir, format!("cannot read: {e}")))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let rel = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}/{name}")
        };
        let path = entry.path();
        let kind = entry
            .file_type()
            .map_err(|e| err(&path, format!("cannot read: {e}")))?;
        if kind.is_dir() {
            read_tree(&path, &rel, files, depth + 1)?;
        } else if kind.is_file() {
            let bytes =
                std::fs::read(&path).map_err(|e| err(&path, format!("cannot read: {e}")))?;
            files.insert(rel, bytes);
        }
    }
    Ok(())
}
