//! Helm charts: what a chart is, how it is loaded, and how it renders.
//!
//! A [`Chart`] is loaded from a directory, a `helm package` archive or a map of files (the hub
//! keeps uploaded archives; the CLI reads directories). Loading follows Helm's loader:
//! `Chart.yaml`, `values.yaml`, `values.schema.json`, `templates/`, `crds/`, subcharts under
//! `charts/` (directories or archives, recursively), every other file available as `.Files`,
//! and `.helmignore` applied to all of it.
//!
//! [`render`] turns a chart and values into manifests the way `helm template` does; [`values`]
//! holds Helm's value coalescing; [`objects`] the `.Files` and `.Capabilities` objects templates
//! call methods on.

mod ignore;
pub mod objects;
pub mod render;
pub mod values;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value as Json;

pub use render::{Manifest, RenderOptions, Rendered, Renderer};

/// Largest chart archive accepted, compressed.
pub const MAX_ARCHIVE_BYTES: usize = 16 * 1024 * 1024;
/// Largest chart, unpacked (all files together).
pub const MAX_UNPACKED_BYTES: u64 = 64 * 1024 * 1024;
/// Deepest subchart nesting accepted.
const MAX_DEPTH: usize = 16;

/// A chart could not be loaded.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct LoadError {
    /// The chart file at fault (`mychart/Chart.yaml`), or the chart itself.
    pub path: String,
    /// What is wrong and what to do.
    pub message: String,
}

fn load_error(path: impl Into<String>, message: impl Into<String>) -> LoadError {
    LoadError {
        path: path.into(),
        message: message.into(),
    }
}

/// A loaded chart, ready to render. Cheap to share across threads.
#[derive(Debug, Clone)]
pub struct Chart {
    /// `Chart.yaml`.
    pub metadata: Metadata,
    /// `values.yaml` (an empty object when the chart has none).
    pub values: Json,
    /// `values.schema.json`, if any.
    pub schema: Option<Json>,
    /// Template files by path relative to the chart (`templates/deployment.yaml`).
    pub templates: Vec<(String, Arc<str>)>,
    /// CRD files by path relative to the chart (`crds/foo.yaml`).
    pub crds: Vec<(String, Arc<str>)>,
    /// Every other file, as `.Files` sees them.
    pub files: Arc<BTreeMap<String, Arc<[u8]>>>,
    /// Subcharts from `charts/`.
    pub dependencies: Vec<Chart>,
}

/// `Chart.yaml`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Metadata {
    /// `v2` (or `v1` for legacy charts).
    pub api_version: String,
    /// The chart's name.
    pub name: String,
    /// The chart's semantic version.
    pub version: String,
    /// The packaged application's version.
    pub app_version: String,
    /// One-line description.
    pub description: String,
    /// `application` (default) or `library` (templates are not rendered, only their defines).
    #[serde(rename = "type")]
    pub chart_type: String,
    /// Kubernetes versions the chart supports (a semver constraint).
    pub kube_version: String,
    /// Project home page.
    pub home: String,
    /// Icon URL.
    pub icon: String,
    /// Source URLs.
    pub sources: Vec<String>,
    /// Keywords.
    pub keywords: Vec<String>,
    /// Maintainers, as written.
    pub maintainers: Vec<Json>,
    /// Whether the chart is deprecated.
    pub deprecated: bool,
    /// Free-form annotations.
    pub annotations: Option<BTreeMap<String, String>>,
    /// Declared dependencies (matched with `charts/` by name).
    pub dependencies: Vec<Dependency>,
}

/// A dependency declared in `Chart.yaml`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Dependency {
    /// The subchart's name.
    pub name: String,
    /// Version constraint (informational: the packaged subchart is used as is).
    pub version: String,
    /// Where it came from (informational).
    pub repository: String,
    /// Values paths (comma-separated) that enable or disable it; the first that resolves wins.
    pub condition: String,
    /// Tags that enable it (`tags.<name>` in values).
    pub tags: Vec<String>,
    /// The name it is rendered and configured under.
    pub alias: String,
}

impl Metadata {
    /// Whether this is a library chart.
    pub fn is_library(&self) -> bool {
        self.chart_type == "library"
    }

    /// `.Chart` as templates see it: Helm's field names.
    pub fn to_template_json(&self, is_root: bool) -> Json {
        let deps: Vec<Json> = self
            .dependencies
            .iter()
            .map(|d| {
                serde_json::json!({
                    "name": d.name, "version": d.version, "repository": d.repository,
                    "condition": d.condition, "tags": d.tags, "alias": d.alias,
                })
            })
            .collect();
        serde_json::json!({
            "APIVersion": self.api_version,
            "Annotations": self.annotations,
            "AppVersion": self.app_version,
            "Condition": "",
            "Dependencies": deps,
            "Deprecated": self.deprecated,
            "Description": self.description,
            "Home": self.home,
            "Icon": self.icon,
            "IsRoot": is_root,
            "Keywords": self.keywords,
            "KubeVersion": self.kube_version,
            "Maintainers": self.maintainers,
            "Name": self.name,
            "Sources": self.sources,
            "Tags": "",
            "Type": self.chart_type,
            "Version": self.version,
        })
    }
}

impl Chart {
    /// Loads a chart directory (`.helmignore` applied).
    pub fn load_dir(dir: &Path) -> Result<Chart, LoadError> {
        let mut files = BTreeMap::new();
        let mut total = 0u64;
        read_dir_into(dir, "", &mut files, &mut total, 0)?;
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        Chart::from_files(&name, files)
    }

    /// Loads a `helm package` archive (a gzipped tar whose entries sit under the chart's name).
    pub fn load_archive(bytes: &[u8]) -> Result<Chart, LoadError> {
        let (name, files) = unpack_archive(bytes)?;
        Chart::from_files(&name, files)
    }

    /// Loads a chart from its files (paths relative to the chart's root, `/`-separated).
    /// `origin` names the chart in errors.
    pub fn from_files(origin: &str, files: BTreeMap<String, Vec<u8>>) -> Result<Chart, LoadError> {
        Chart::from_files_at(origin, files, 0)
    }

    fn from_files_at(
        origin: &str,
        mut files: BTreeMap<String, Vec<u8>>,
        depth: usize,
    ) -> Result<Chart, LoadError> {
        if depth > MAX_DEPTH {
            return Err(load_error(
                origin,
                format!("subcharts are nested more than {MAX_DEPTH} deep"),
            ));
        }
        let rules = files
            .get(".helmignore")
            .map(|r| ignore::Rules::parse(&String::from_utf8_lossy(r)))
            .unwrap_or_else(|| ignore::Rules::parse(""));
        files.retain(|path, _| !rules.ignored(path));
        let chart_yaml = files.remove("Chart.yaml").ok_or_else(|| {
            load_error(
                origin,
                "this is not a chart: Chart.yaml is missing at its root",
            )
        })?;
        let metadata = parse_metadata(&format!("{origin}/Chart.yaml"), &chart_yaml)?;
        if metadata.name.is_empty() {
            return Err(load_error(
                format!("{origin}/Chart.yaml"),
                "the chart has no name: add `name:`",
            ));
        }
        if metadata.version.is_empty() {
            return Err(load_error(
                format!("{origin}/Chart.yaml"),
                "the chart has no version: add `version:` (a semantic version)",
            ));
        }
        let at = |file: &str| format!("{}/{file}", metadata.name);
        let values = match files.remove("values.yaml") {
            Some(text) if !String::from_utf8_lossy(&text).trim().is_empty() => {
                let v: Json = parse_yaml(&at("values.yaml"), &text)?;
                match v {
                    Json::Object(_) => v,
                    Json::Null => Json::Object(Default::default()),
                    _ => {
                        return Err(load_error(
                            at("values.yaml"),
                            "values must be a mapping of keys to values",
                        ));
                    }
                }
            }
            _ => Json::Object(Default::default()),
        };
        let schema = match files.remove("values.schema.json") {
            Some(text) => Some(serde_json::from_slice(&text).map_err(|e| {
                load_error(
                    at("values.schema.json"),
                    format!(
                        "not valid JSON at line {} column {}: {e}",
                        e.line(),
                        e.column()
                    ),
                )
            })?),
            None => None,
        };
        files.remove("Chart.lock");
        files.remove("requirements.yaml");
        files.remove("requirements.lock");

        let mut templates = Vec::new();
        let mut crds = Vec::new();
        let mut subcharts: BTreeMap<String, BTreeMap<String, Vec<u8>>> = BTreeMap::new();
        let mut archives = Vec::new();
        let mut others = BTreeMap::new();
        for (path, bytes) in files {
            if let Some(rest) = path.strip_prefix("templates/") {
                let _ = rest;
                let text = String::from_utf8(bytes)
                    .map_err(|_| load_error(at(&path), "templates must be UTF-8 text"))?;
                templates.push((path, Arc::from(text)));
            } else if let Some(rest) = path.strip_prefix("charts/") {
                match rest.split_once('/') {
                    Some((sub, inner)) => {
                        subcharts
                            .entry(sub.to_owned())
                            .or_default()
                            .insert(inner.to_owned(), bytes);
                    }
                    None if rest.ends_with(".tgz") || rest.ends_with(".tar.gz") => {
                        archives.push((path, bytes));
                    }
                    None => {}
                }
            } else {
                if path.starts_with("crds/") {
                    crds.push((
                        path.clone(),
                        Arc::from(String::from_utf8_lossy(&bytes).into_owned()),
                    ));
                }
                others.insert(path, Arc::from(bytes));
            }
        }
        let mut dependencies = Vec::new();
        for (sub, sub_files) in subcharts {
            dependencies.push(Chart::from_files_at(
                &at(&format!("charts/{sub}")),
                sub_files,
                depth + 1,
            )?);
        }
        for (path, bytes) in archives {
            let (_, sub_files) =
                unpack_archive(&bytes).map_err(|e| load_error(at(&path), e.message))?;
            dependencies.push(Chart::from_files_at(&at(&path), sub_files, depth + 1)?);
        }
        Ok(Chart {
            metadata,
            values,
            schema,
            templates,
            crds,
            files: Arc::new(others),
            dependencies,
        })
    }

    /// The chart's name.
    pub fn name(&self) -> &str {
        &self.metadata.name
    }
}

/// Parses YAML into JSON as Helm reads chart files (YAML 1.1 scalars, see [`crate::goyaml`]),
/// naming the file and line on error.
pub(crate) fn parse_yaml(path: &str, bytes: &[u8]) -> Result<Json, LoadError> {
    let text = std::str::from_utf8(bytes).map_err(|_| load_error(path, "not UTF-8 text"))?;
    crate::goyaml::to_json(text).map_err(|e| load_error(path, e))
}

/// Parses `Chart.yaml` as Helm does: its string fields take numbers and booleans as text, the
/// way sigs.k8s.io/yaml converts them for a string field (`appVersion: 1.10` is `"1.1"`,
/// `description: yes` is `"true"`).
fn parse_metadata(path: &str, bytes: &[u8]) -> Result<Metadata, LoadError> {
    let mut json = parse_yaml(path, bytes)?;
    if json.is_null() {
        json = Json::Object(Default::default());
    }
    coerce_metadata_strings(&mut json);
    serde_json::from_value(json).map_err(|e| load_error(path, e.to_string()))
}

/// The fields of `Chart.yaml` that Helm declares as strings, lists of strings, or maps of
/// strings, coerced as sigs.k8s.io/yaml coerces them.
fn coerce_metadata_strings(json: &mut Json) {
    const STRINGS: &[&str] = &[
        "apiVersion",
        "name",
        "version",
        "appVersion",
        "description",
        "type",
        "kubeVersion",
        "home",
        "icon",
    ];
    const DEPENDENCY_STRINGS: &[&str] = &["name", "version", "repository", "condition", "alias"];
    let Json::Object(fields) = json else { return };
    // A null field is Go's zero value, which the defaults already are.
    fields.retain(|_, v| !v.is_null());
    for (key, value) in fields.iter_mut() {
        match (key.as_str(), value) {
            (k, v) if STRINGS.contains(&k) => go_string(v),
            ("sources" | "keywords", Json::Array(items)) => items.iter_mut().for_each(go_string),
            ("annotations", Json::Object(map)) => map.values_mut().for_each(go_string),
            ("maintainers", Json::Array(items)) => {
                for m in items.iter_mut().filter_map(Json::as_object_mut) {
                    for k in ["name", "email", "url"] {
                        if let Some(v) = m.get_mut(k) {
                            go_string(v);
                        }
                    }
                }
            }
            ("dependencies", Json::Array(items)) => {
                for d in items.iter_mut().filter_map(Json::as_object_mut) {
                    d.retain(|_, v| !v.is_null());
                    for (k, v) in d.iter_mut() {
                        match (k.as_str(), v) {
                            (k, v) if DEPENDENCY_STRINGS.contains(&k) => go_string(v),
                            ("tags", Json::Array(tags)) => tags.iter_mut().for_each(go_string),
                            _ => {}
                        }
                    }
                }
            }
            _ => {}
        }
    }
}

/// A YAML number or boolean bound for a Go string field, as sigs.k8s.io/yaml writes it:
/// integers in decimal, floats at float32 precision, booleans as `true`/`false`; `null` is the
/// empty string.
fn go_string(v: &mut Json) {
    let text = match v {
        Json::Bool(b) => b.to_string(),
        Json::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) if !n.is_f64() => i.to_string(),
            (_, Some(u), _) if !n.is_f64() => u.to_string(),
            (_, _, Some(f)) => crate::value::format_float32_g(f),
            _ => n.to_string(),
        },
        Json::Null => String::new(),
        _ => return,
    };
    *v = Json::String(text);
}

fn read_dir_into(
    dir: &Path,
    prefix: &str,
    files: &mut BTreeMap<String, Vec<u8>>,
    total: &mut u64,
    depth: usize,
) -> Result<(), LoadError> {
    if depth > 64 {
        return Err(load_error(
            dir.display().to_string(),
            "directories nest too deep",
        ));
    }
    let entries = std::fs::read_dir(dir)
        .map_err(|e| load_error(dir.display().to_string(), format!("cannot read: {e}")))?;
    for entry in entries {
        let entry = entry
            .map_err(|e| load_error(dir.display().to_string(), format!("cannot read: {e}")))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let rel = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}/{name}")
        };
        // Symbolic links are followed only when they stay files or directories; Helm does the same.
        let path = entry.path();
        let meta = std::fs::metadata(&path)
            .map_err(|e| load_error(path.display().to_string(), format!("cannot read: {e}")))?;
        if meta.is_dir() {
            read_dir_into(&path, &rel, files, total, depth + 1)?;
        } else if meta.is_file() {
            *total += meta.len();
            if *total > MAX_UNPACKED_BYTES {
                return Err(load_error(
                    dir.display().to_string(),
                    format!("the chart is larger than {MAX_UNPACKED_BYTES} bytes"),
                ));
            }
            let bytes = std::fs::read(&path)
                .map_err(|e| load_error(path.display().to_string(), format!("cannot read: {e}")))?;
            files.insert(rel, bytes);
        }
    }
    Ok(())
}

/// Unpacks a chart archive: returns the chart's directory name and its files relative to it.
fn unpack_archive(bytes: &[u8]) -> Result<(String, BTreeMap<String, Vec<u8>>), LoadError> {
    if bytes.len() > MAX_ARCHIVE_BYTES {
        return Err(load_error(
            "archive",
            format!("the archive is larger than {MAX_ARCHIVE_BYTES} bytes"),
        ));
    }
    let gz = flate2::read::GzDecoder::new(bytes);
    let mut archive = tar::Archive::new(gz);
    let mut files = BTreeMap::new();
    let mut root: Option<String> = None;
    let mut total = 0u64;
    let entries = archive
        .entries()
        .map_err(|e| load_error("archive", format!("not a gzipped tar archive: {e}")))?;
    for entry in entries {
        let mut entry =
            entry.map_err(|e| load_error("archive", format!("corrupt archive: {e}")))?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let path = entry
            .path()
            .map_err(|e| load_error("archive", format!("corrupt entry name: {e}")))?
            .to_string_lossy()
            .replace('\\', "/");
        let path = path.trim_start_matches("./").to_owned();
        let Some((top, rest)) = path.split_once('/') else {
            continue;
        };
        if rest.split('/').any(|c| c == ".." || c.is_empty()) {
            return Err(load_error(
                "archive",
                format!("entry {path:?} escapes the chart directory"),
            ));
        }
        match &root {
            None => root = Some(top.to_owned()),
            Some(r) if r != top => {
                return Err(load_error(
                    "archive",
                    format!("entries under two top directories: {r:?} and {top:?}"),
                ));
            }
            Some(_) => {}
        }
        let mut data = Vec::new();
        let limit = MAX_UNPACKED_BYTES.saturating_sub(total) + 1;
        (&mut entry)
            .take(limit)
            .read_to_end(&mut data)
            .map_err(|e| load_error("archive", format!("cannot read {path}: {e}")))?;
        total += data.len() as u64;
        if total > MAX_UNPACKED_BYTES {
            return Err(load_error(
                "archive",
                format!("the chart unpacks to more than {MAX_UNPACKED_BYTES} bytes"),
            ));
        }
        files.insert(rest.to_owned(), data);
    }
    let root = root.ok_or_else(|| load_error("archive", "the archive holds no chart"))?;
    Ok((root, files))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(entries: &[(&str, &str)]) -> BTreeMap<String, Vec<u8>> {
        entries
            .iter()
            .map(|(p, t)| ((*p).to_owned(), t.as_bytes().to_vec()))
            .collect()
    }

    #[test]
    fn chart_files_are_read_as_helm_reads_them() {
        let chart = Chart::from_files(
            "app",
            files(&[
                (
                    "Chart.yaml",
                    "apiVersion: v2\nname: app\nversion: 1.0.0\nappVersion: 1.10\nhome:\nsources:\n\
                     description: yes\nkeywords: [1, on]\ndeprecated: yes\n\
                     annotations: {ratio: 1.50, count: 16777217}\n\
                     dependencies:\n  - name: db\n    version: 1.0\n    tags: [no]\n",
                ),
                ("values.yaml", "enabled: yes\nn: 1\nmode: 0755\n"),
            ]),
        )
        .unwrap();
        let m = &chart.metadata;
        assert_eq!(m.app_version, "1.1");
        assert_eq!(m.description, "true");
        assert_eq!(m.home, "");
        assert!(m.sources.is_empty());
        assert_eq!(m.keywords, ["1", "true"]);
        assert!(m.deprecated);
        let annotations = m.annotations.clone().unwrap_or_default();
        assert_eq!(annotations.get("ratio").map(String::as_str), Some("1.5"));
        assert_eq!(
            annotations.get("count").map(String::as_str),
            Some("16777217")
        );
        assert_eq!(m.dependencies[0].version, "1");
        assert_eq!(m.dependencies[0].tags, ["false"]);
        assert_eq!(
            chart.values,
            serde_json::json!({"enabled": true, "false": 1, "mode": 493})
        );
    }

    #[test]
    fn loads_templates_files_subcharts_and_applies_helmignore() {
        let chart = Chart::from_files(
            "app",
            files(&[
                ("Chart.yaml", "apiVersion: v2\nname: app\nversion: 1.0.0\n"),
                ("values.yaml", "replicas: 2\n"),
                ("templates/a.yaml", "kind: A\n"),
                ("templates/_h.tpl", "{{ define \"x\" }}{{ end }}"),
                ("files/conf.ini", "k=v\n"),
                ("secret.key", "shh"),
                (".helmignore", "*.key\n"),
                (
                    "charts/db/Chart.yaml",
                    "apiVersion: v2\nname: db\nversion: 0.1.0\n",
                ),
                ("charts/db/templates/s.yaml", "kind: S\n"),
            ]),
        )
        .unwrap();
        assert_eq!(chart.name(), "app");
        assert_eq!(chart.values, serde_json::json!({"replicas": 2}));
        assert_eq!(chart.templates.len(), 2);
        assert!(chart.files.contains_key("files/conf.ini"));
        assert!(!chart.files.contains_key("secret.key"));
        assert_eq!(chart.dependencies.len(), 1);
        assert_eq!(chart.dependencies[0].name(), "db");
    }

    #[test]
    fn a_missing_chart_yaml_or_version_is_named() {
        let err = Chart::from_files("x", files(&[("values.yaml", "a: 1\n")])).unwrap_err();
        assert!(err.to_string().contains("Chart.yaml is missing"), "{err}");
        let err = Chart::from_files("x", files(&[("Chart.yaml", "name: x\n")])).unwrap_err();
        assert!(
            err.to_string()
                .contains("x/Chart.yaml: the chart has no version"),
            "{err}"
        );
    }

    #[test]
    fn a_broken_values_file_names_the_file_and_line() {
        let err = Chart::from_files(
            "x",
            files(&[
                ("Chart.yaml", "name: x\nversion: 1.0.0\n"),
                ("values.yaml", "a: 1\nb: [unclosed\n"),
            ]),
        )
        .unwrap_err();
        assert!(err.to_string().starts_with("x/values.yaml:"), "{err}");
        assert!(err.to_string().contains("line"), "{err}");
    }
}
