//! Rendering a chart as `helm template` does.
//!
//! A [`Renderer`] parses every template of a chart and its subcharts once, in Helm's order (the
//! deepest files first, so a parent's `define` overrides a subchart's), and then renders any
//! number of times with different values. Each render:
//!
//! 1. drops subcharts disabled by condition or tag, and coalesces the supplied values with the
//!    chart's and subcharts' defaults (globals included);
//! 2. validates each chart's values against its `values.schema.json`, naming the failing key;
//! 3. executes every non-partial template with `.Values`, `.Chart`, `.Release`,
//!    `.Capabilities`, `.Template`, `.Files` and `.Subcharts` scoped to its chart;
//! 4. splits the output into documents, separates hooks, and orders the rest by Helm's install
//!    order (then file path, then position in the file).
//!
//! Random and time functions are seeded by [`RenderOptions::seed`] and
//! [`RenderOptions::now`], so the same inputs always give byte-identical output.

use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::Arc;

use serde_json::Value as Json;

use super::objects::{self, Files};
use super::{Chart, LoadError, values};
use crate::funcs::Ctx;
use crate::template::{self, Exec, Templates};
use crate::value::{Map, Value};

/// Helm's install order: kinds earlier in the list are applied first; unknown kinds come last,
/// alphabetically.
pub const INSTALL_ORDER: &[&str] = &[
    "PriorityClass",
    "Namespace",
    "NetworkPolicy",
    "ResourceQuota",
    "LimitRange",
    "PodSecurityPolicy",
    "PodDisruptionBudget",
    "ServiceAccount",
    "Secret",
    "SecretList",
    "ConfigMap",
    "StorageClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleList",
    "ClusterRoleBinding",
    "ClusterRoleBindingList",
    "Role",
    "RoleList",
    "RoleBinding",
    "RoleBindingList",
    "Service",
    "DaemonSet",
    "Pod",
    "ReplicationController",
    "ReplicaSet",
    "Deployment",
    "HorizontalPodAutoscaler",
    "StatefulSet",
    "Job",
    "CronJob",
    "IngressClass",
    "Ingress",
    "APIService",
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
];

/// The annotation that makes a manifest a hook.
const HOOK_ANNOTATION: &str = "helm.sh/hook";

/// What a render is for: the release it belongs to and the cluster it targets.
#[derive(Debug, Clone)]
pub struct RenderOptions {
    /// `.Release.Name`.
    pub release_name: String,
    /// `.Release.Namespace`.
    pub namespace: String,
    /// `.Release.Revision`.
    pub revision: i64,
    /// `.Release.IsUpgrade` (and the opposite `.Release.IsInstall`).
    pub is_upgrade: bool,
    /// `.Release.Service`.
    pub service: String,
    /// `.Capabilities.KubeVersion`.
    pub kube_version: String,
    /// `.Capabilities.APIVersions`.
    pub api_versions: Arc<Vec<String>>,
    /// Seeds the random functions (`randAlphaNum`, `uuidv4`, ...).
    pub seed: [u8; 32],
    /// The clock of `now` and the date functions (Unix seconds).
    pub now: i64,
}

impl Default for RenderOptions {
    fn default() -> RenderOptions {
        RenderOptions {
            release_name: "release-name".to_owned(),
            namespace: "default".to_owned(),
            revision: 1,
            is_upgrade: false,
            service: "Helm".to_owned(),
            kube_version: objects::DEFAULT_KUBE_VERSION.to_owned(),
            api_versions: Arc::new(
                objects::DEFAULT_API_VERSIONS
                    .iter()
                    .map(|v| (*v).to_owned())
                    .collect(),
            ),
            seed: [0; 32],
            now: 0,
        }
    }
}

/// A render failed.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// The chart could not be loaded.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// A template could not be parsed or executed.
    #[error("{0}")]
    Template(Box<template::Error>),
    /// Values do not satisfy a chart's `values.schema.json`.
    #[error("values don't meet the specifications of the schema(s) in the following chart(s):\n{chart}:\n{}", schema_problems(.problems))]
    Schema {
        /// The chart whose schema refused the values.
        chart: String,
        /// Each failing key, as a JSON pointer (`/image/tag`; empty for the root), and what is
        /// wrong with it.
        problems: Vec<(String, String)>,
    },
    /// A rendered document is not valid YAML.
    #[error("YAML parse error on {source_path}: {message}")]
    Yaml {
        /// The template that produced it.
        source_path: String,
        /// The parser's message.
        message: String,
    },
}

fn schema_problems(problems: &[(String, String)]) -> String {
    problems
        .iter()
        .map(|(path, message)| format!("- at '{path}': {message}"))
        .collect::<Vec<_>>()
        .join("\n")
}

impl From<template::Error> for RenderError {
    fn from(e: template::Error) -> RenderError {
        RenderError::Template(Box::new(e))
    }
}

/// One Kubernetes object in the rendered output.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    /// The template it came from (`mychart/templates/deployment.yaml`).
    pub source: String,
    /// The document's text, as rendered.
    pub content: String,
    /// `kind`.
    pub kind: String,
    /// `metadata.name`.
    pub name: String,
    /// The hook annotation's value, for hooks.
    pub hook: Option<String>,
    /// The document, parsed (once, when the output is sorted).
    pub object: Json,
}

/// A chart's rendered output.
#[derive(Debug, Clone, Default)]
pub struct Rendered {
    /// Every template's output that is not blank, by template path (what `helm.py render` and
    /// Helm's engine return).
    pub files: BTreeMap<String, String>,
    /// The manifests, in install order (what `helm template` prints, hooks left out).
    pub manifests: Vec<Manifest>,
    /// Hook manifests (`helm.sh/hook`), in file order.
    pub hooks: Vec<Manifest>,
    /// The root chart's `NOTES.txt`, rendered.
    pub notes: Option<String>,
}

impl Rendered {
    /// The manifests as `helm template` prints them.
    pub fn stream(&self) -> String {
        let mut out = String::new();
        for m in &self.manifests {
            out.push_str("---\n# Source: ");
            out.push_str(&m.source);
            out.push('\n');
            out.push_str(&m.content);
            out.push('\n');
        }
        out
    }

    /// The manifests' objects (for the render gate and the repository writer).
    pub fn objects(&self) -> Vec<Json> {
        self.manifests.iter().map(|m| m.object.clone()).collect()
    }
}

/// A chart parsed once, rendered many times. `Send + Sync`: share it across threads.
#[derive(Debug, Clone)]
pub struct Renderer {
    chart: Arc<Chart>,
    templates: Templates,
    /// Template names in Helm's order.
    order: Vec<String>,
}

/// Where a template sits: the chart path from the root (subchart names) and its names.
struct Placed<'a> {
    name: String,
    chain: Vec<String>,
    library: bool,
    text: &'a str,
}

fn place<'a>(chart: &'a Chart, prefix: &str, chain: &[String], out: &mut Vec<Placed<'a>>) {
    for (rel, text) in &chart.templates {
        out.push(Placed {
            name: format!("{prefix}/{rel}"),
            chain: chain.to_vec(),
            library: chart.metadata.is_library(),
            text,
        });
    }
    for sub in &chart.dependencies {
        let mut sub_chain = chain.to_vec();
        sub_chain.push(sub.name().to_owned());
        place(
            sub,
            &format!("{prefix}/charts/{}", sub.name()),
            &sub_chain,
            out,
        );
    }
}

/// Helm's `sortTemplates`: more path segments first, then reverse lexical order.
fn helm_order(a: &str, b: &str) -> std::cmp::Ordering {
    let (ca, cb) = (a.matches('/').count(), b.matches('/').count());
    cb.cmp(&ca).then_with(|| b.cmp(a))
}

fn is_partial(name: &str) -> bool {
    name.rsplit('/')
        .next()
        .is_some_and(|base| base.starts_with('_'))
}

impl Renderer {
    /// Parses every template of `chart` and its subcharts.
    pub fn new(chart: Chart) -> Result<Renderer, RenderError> {
        // Aliases are static (Chart.yaml); conditions depend on values and apply per render.
        let chart = values::with_aliases(&chart);
        let mut placed = Vec::new();
        place(&chart, chart.name(), &[], &mut placed);
        placed.sort_by(|a, b| helm_order(&a.name, &b.name));
        let mut templates = Templates::new();
        for p in &placed {
            templates.add(&p.name, p.text)?;
        }
        let order = placed.iter().map(|p| p.name.clone()).collect();
        Ok(Renderer {
            chart: Arc::new(chart),
            templates,
            order,
        })
    }

    /// The chart being rendered (aliases applied).
    pub fn chart(&self) -> &Chart {
        &self.chart
    }

    /// Renders with `supplied` values (already layered: see [`values::layer`]).
    pub fn render(
        &self,
        supplied: &Json,
        options: &RenderOptions,
    ) -> Result<Rendered, RenderError> {
        let tree = values::enabled_dependencies(&self.chart, supplied);
        let coalesced = values::coalesce(&tree, supplied);
        validate_schemas(&tree, &coalesced, tree.name())?;

        let root_values = Value::from_json(&coalesced);
        let release = release_value(options);
        let capabilities = objects::capabilities(&options.kube_version, &options.api_versions);
        let mut scopes: BTreeMap<Vec<String>, (String, Map)> = BTreeMap::new();
        build_scopes(
            &tree,
            tree.name(),
            &[],
            root_values,
            &release,
            &capabilities,
            true,
            &mut scopes,
        );

        let mut exec = Exec::new(Ctx::new(options.seed, options.now));
        let mut files = BTreeMap::new();
        let mut placed = Vec::new();
        place(&self.chart, self.chart.name(), &[], &mut placed);
        let library: BTreeMap<&str, bool> = placed
            .iter()
            .map(|p| (p.name.as_str(), p.library))
            .collect();
        let chains: BTreeMap<&str, &[String]> = placed
            .iter()
            .map(|p| (p.name.as_str(), p.chain.as_slice()))
            .collect();
        for name in &self.order {
            if is_partial(name) || library.get(name.as_str()).copied().unwrap_or(false) {
                continue;
            }
            let Some(chain) = chains.get(name.as_str()) else {
                continue;
            };
            // Templates of disabled subcharts have no scope and are not rendered.
            let Some((base_path, top)) = scopes.get(*chain) else {
                continue;
            };
            let template = Map::new();
            template.insert("Name", Value::str(name));
            template.insert("BasePath", Value::str(base_path));
            top.insert("Template", Value::Map(template));
            let out = self
                .templates
                .execute(name, &Value::Map(top.clone()), &mut exec)?;
            let out = out.replace("<no value>", "");
            if !out.trim().is_empty() {
                files.insert(name.clone(), out);
            }
        }
        let root_notes = format!("{}/templates/NOTES.txt", self.chart.name());
        let notes = files.get(&root_notes).cloned();
        let (manifests, hooks) = sort_manifests(&files)?;
        Ok(Rendered {
            files,
            manifests,
            hooks,
            notes,
        })
    }
}

fn release_value(options: &RenderOptions) -> Value {
    let release = Map::new();
    release.insert("Name", Value::str(&options.release_name));
    release.insert("Namespace", Value::str(&options.namespace));
    release.insert("Revision", Value::Int(options.revision));
    release.insert("IsInstall", Value::Bool(!options.is_upgrade));
    release.insert("IsUpgrade", Value::Bool(options.is_upgrade));
    release.insert("Service", Value::str(&options.service));
    Value::Map(release)
}

/// Builds the top-level object of every enabled chart, keyed by its subchart chain. A
/// subchart's `.Values` is the very map under its name in its parent's `.Values`, as in Helm.
#[allow(clippy::too_many_arguments)]
fn build_scopes(
    chart: &Chart,
    prefix: &str,
    chain: &[String],
    values: Value,
    release: &Value,
    capabilities: &Value,
    is_root: bool,
    scopes: &mut BTreeMap<Vec<String>, (String, Map)>,
) -> Map {
    let top = Map::new();
    let values = match values {
        Value::Map(m) => m,
        _ => Map::new(),
    };
    top.insert("Values", Value::Map(values.clone()));
    top.insert(
        "Chart",
        Value::from_json(&chart.metadata.to_template_json(is_root)),
    );
    top.insert("Release", release.clone());
    top.insert("Capabilities", capabilities.clone());
    top.insert("Files", Value::Object(Rc::new(Files(chart.files.clone()))));
    let subcharts = Map::new();
    for sub in &chart.dependencies {
        let mut sub_chain = chain.to_vec();
        sub_chain.push(sub.name().to_owned());
        let sub_values = values.get(sub.name()).unwrap_or_else(|| {
            let fresh = Value::Map(Map::new());
            values.insert(sub.name(), fresh.clone());
            fresh
        });
        let sub_top = build_scopes(
            sub,
            &format!("{prefix}/charts/{}", sub.name()),
            &sub_chain,
            sub_values,
            release,
            capabilities,
            false,
            scopes,
        );
        subcharts.insert(sub.name(), Value::Map(sub_top));
    }
    top.insert("Subcharts", Value::Map(subcharts));
    scopes.insert(chain.to_vec(), (format!("{prefix}/templates"), top.clone()));
    top
}

/// Validates each chart's values against its schema, the root first.
fn validate_schemas(chart: &Chart, values: &Json, path: &str) -> Result<(), RenderError> {
    if let Some(schema) = &chart.schema {
        let validator = jsonschema::validator_for(schema).map_err(|e| RenderError::Schema {
            chart: path.to_owned(),
            problems: vec![(
                String::new(),
                format!("values.schema.json is not a valid JSON Schema: {e}"),
            )],
        })?;
        let problems: Vec<(String, String)> = validator
            .iter_errors(values)
            .map(|e| (e.instance_path().to_string(), schema_message(&e)))
            .collect();
        if !problems.is_empty() {
            return Err(RenderError::Schema {
                chart: path.to_owned(),
                problems,
            });
        }
    }
    for sub in &chart.dependencies {
        let empty = Json::Object(Default::default());
        let sub_values = values.get(sub.name()).unwrap_or(&empty);
        validate_schemas(sub, sub_values, &format!("{path}/charts/{}", sub.name()))?;
    }
    Ok(())
}

/// A schema violation in Helm's words (Helm's validator says `minimum: got 0, want 1`).
fn schema_message(error: &jsonschema::ValidationError<'_>) -> String {
    use jsonschema::error::{TypeKind, ValidationErrorKind as K};
    let got = error.instance();
    let json_type = |v: &Json| match v {
        Json::Null => "null",
        Json::Bool(_) => "boolean",
        Json::Number(_) => "number",
        Json::String(_) => "string",
        Json::Array(_) => "array",
        Json::Object(_) => "object",
    };
    let size = |v: &Json| match v {
        Json::String(s) => s.chars().count(),
        Json::Array(a) => a.len(),
        Json::Object(o) => o.len(),
        _ => 0,
    };
    let quoted = |items: &[String]| {
        items
            .iter()
            .map(|i| format!("'{i}'"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match error.kind() {
        K::Type {
            kind: TypeKind::Single(want),
        } => format!("got {}, want {want}", json_type(got)),
        K::Minimum { limit } => format!("minimum: got {got}, want {limit}"),
        K::Maximum { limit } => format!("maximum: got {got}, want {limit}"),
        K::ExclusiveMinimum { limit } => format!("exclusiveMinimum: got {got}, want {limit}"),
        K::ExclusiveMaximum { limit } => format!("exclusiveMaximum: got {got}, want {limit}"),
        K::MinLength { limit } => format!("minLength: got {}, want {limit}", size(got)),
        K::MaxLength { limit } => format!("maxLength: got {}, want {limit}", size(got)),
        K::MinItems { limit } => format!("minItems: got {}, want {limit}", size(got)),
        K::MaxItems { limit } => format!("maxItems: got {}, want {limit}", size(got)),
        K::Required { property } => {
            format!(
                "missing property '{}'",
                property.as_str().unwrap_or_default()
            )
        }
        K::AdditionalProperties { unexpected } => {
            format!("additional properties {} not allowed", quoted(unexpected))
        }
        K::Pattern { pattern } => format!(
            "'{}' does not match pattern '{pattern}'",
            got.as_str().unwrap_or_default()
        ),
        K::Enum { options } => match options.as_array() {
            Some(items) => format!(
                "value must be one of {}",
                items
                    .iter()
                    .map(|i| match i {
                        Json::String(s) => format!("'{s}'"),
                        other => other.to_string(),
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            None => error.to_string(),
        },
        _ => error.to_string(),
    }
}

/// Helm's manifest splitter: documents separated by `---` lines (the whitespace around a
/// separator goes with it), leading whitespace dropped, blank documents skipped. The last
/// document keeps its trailing whitespace, as Helm prints it.
fn split_documents(text: &str) -> Vec<String> {
    static SEPARATOR: std::sync::OnceLock<Option<regex::Regex>> = std::sync::OnceLock::new();
    let separator =
        SEPARATOR.get_or_init(|| regex::Regex::new(r"(?:^|\s*\n)---[ \t]*(?:\n\s*|$)").ok());
    let text = text.trim_start();
    let docs: Vec<&str> = match separator {
        Some(re) => re.split(text).collect(),
        None => vec![text],
    };
    docs.into_iter()
        .filter(|d| !d.trim().is_empty())
        .map(str::to_owned)
        .collect()
}

fn sort_manifests(
    files: &BTreeMap<String, String>,
) -> Result<(Vec<Manifest>, Vec<Manifest>), RenderError> {
    let mut generic = Vec::new();
    let mut hooks = Vec::new();
    for (path, text) in files {
        if path.ends_with("NOTES.txt") {
            continue;
        }
        for doc in split_documents(text) {
            let object = crate::goyaml::to_json(&doc).map_err(|message| RenderError::Yaml {
                source_path: path.clone(),
                message,
            })?;
            let text = |pointer: &str| {
                object
                    .pointer(pointer)
                    .and_then(Json::as_str)
                    .unwrap_or_default()
                    .to_owned()
            };
            let hook = object
                .pointer("/metadata/annotations")
                .and_then(|a| a.get(HOOK_ANNOTATION))
                .and_then(Json::as_str)
                .map(str::to_owned);
            let manifest = Manifest {
                source: path.clone(),
                content: doc,
                kind: text("/kind"),
                name: text("/metadata/name"),
                hook: hook.clone(),
                object,
            };
            if hook.is_some() {
                hooks.push(manifest);
            } else {
                generic.push(manifest);
            }
        }
    }
    generic.sort_by(|a, b| {
        let rank = |kind: &str| INSTALL_ORDER.iter().position(|k| *k == kind);
        match (rank(&a.kind), rank(&b.kind)) {
            (Some(x), Some(y)) => x.cmp(&y),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => a.kind.cmp(&b.kind),
        }
    });
    Ok((generic, hooks))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_split_on_separator_lines_only() {
        let docs = split_documents("\n---\na: 1  \n---\nb: '---'\nc: --- x\n---x: 1\n  \n");
        assert_eq!(docs, ["a: 1", "b: '---'\nc: --- x\n---x: 1\n  \n"]);
        // Two separators in a row: Helm keeps the second in the document that follows.
        let docs = split_documents("kind: A\n---\n\n---   \n\nkind: B\n");
        assert_eq!(docs, ["kind: A", "---   \n\nkind: B\n"]);
    }

    #[test]
    fn templates_sort_deepest_first_then_reverse_lexical() {
        let mut names = vec![
            "a/templates/b.yaml",
            "a/templates/_helpers.tpl",
            "a/charts/s/templates/x.yaml",
            "a/templates/a.yaml",
        ];
        names.sort_by(|x, y| helm_order(x, y));
        assert_eq!(
            names,
            [
                "a/charts/s/templates/x.yaml",
                "a/templates/b.yaml",
                "a/templates/a.yaml",
                "a/templates/_helpers.tpl",
            ]
        );
    }

    #[test]
    fn rendered_documents_are_read_as_kubernetes_reads_them() {
        let files = [
            ("Chart.yaml", "apiVersion: v2\nname: c\nversion: 1.0.0\n"),
            (
                "templates/cm.yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  labels: {on: 'x'}\ndata:\n  enabled: yes\n  mode: 0644\n  when: 2001-12-14\n",
            ),
        ];
        let files = files
            .into_iter()
            .map(|(p, t)| (p.to_owned(), t.as_bytes().to_vec()))
            .collect();
        let chart = crate::chart::Chart::from_files("c", files).unwrap();
        let rendered = Renderer::new(chart)
            .unwrap()
            .render(&serde_json::json!({}), &RenderOptions::default())
            .unwrap();
        // sigs.k8s.io/yaml (YAML 1.1): what the API server is sent for this text.
        assert_eq!(
            rendered.objects(),
            [serde_json::json!({
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "c", "labels": {"true": "x"}},
                "data": {"enabled": true, "mode": 420, "when": "2001-12-14"},
            })]
        );
    }
}
