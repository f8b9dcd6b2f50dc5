//! The kustomization file: its fields as Kustomize v5 reads them, the deprecated spellings
//! folded into the current ones, and a clear refusal of the fields this build does not run.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};
use serde_json::Value;

use super::replacement::ReplacementField;

/// The file names a kustomization directory may use, in the order Kustomize looks for them.
pub(crate) const FILE_NAMES: [&str; 3] =
    ["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// A parsed kustomization (or component) file.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct Kustomization {
    #[serde(default)]
    #[allow(dead_code)] // accepted and ignored, as Kustomize does
    pub(crate) api_version: Option<String>,
    #[serde(default)]
    pub(crate) kind: Option<String>,
    #[serde(default)]
    #[allow(dead_code)] // accepted and ignored, as Kustomize does
    pub(crate) metadata: Option<Value>,
    #[serde(default)]
    pub(crate) resources: Vec<String>,
    #[serde(default)]
    pub(crate) bases: Vec<String>,
    #[serde(default)]
    pub(crate) components: Vec<String>,
    #[serde(default)]
    pub(crate) namespace: Option<String>,
    #[serde(default)]
    pub(crate) name_prefix: Option<String>,
    #[serde(default)]
    pub(crate) name_suffix: Option<String>,
    #[serde(default, deserialize_with = "string_map")]
    pub(crate) common_labels: BTreeMap<String, String>,
    #[serde(default)]
    pub(crate) labels: Vec<Label>,
    #[serde(default, deserialize_with = "string_map")]
    pub(crate) common_annotations: BTreeMap<String, String>,
    #[serde(default)]
    pub(crate) images: Vec<Image>,
    #[serde(default)]
    pub(crate) replicas: Vec<Replica>,
    #[serde(default)]
    pub(crate) patches: Vec<Patch>,
    #[serde(default)]
    pub(crate) patches_strategic_merge: Vec<String>,
    #[serde(default)]
    pub(crate) patches_json6902: Vec<Patch>,
    #[serde(default)]
    pub(crate) config_map_generator: Vec<GeneratorArgs>,
    #[serde(default)]
    pub(crate) secret_generator: Vec<GeneratorArgs>,
    #[serde(default)]
    pub(crate) replacements: Vec<ReplacementField>,
    #[serde(default)]
    pub(crate) generator_options: Option<GeneratorOptions>,
    #[serde(default)]
    pub(crate) sort_options: Option<SortOptions>,
    #[serde(default)]
    #[allow(dead_code)] // accepted and ignored, as Kustomize does
    pub(crate) build_metadata: Option<Value>,
    // Fields Kustomize knows that this build does not run: refused with a clear message.
    #[serde(default)]
    pub(crate) vars: Option<Value>,
    #[serde(default)]
    pub(crate) helm_charts: Option<Value>,
    #[serde(default)]
    pub(crate) helm_globals: Option<Value>,
    #[serde(default)]
    pub(crate) helm_chart_inflation_generator: Option<Value>,
    #[serde(default)]
    pub(crate) transformers: Option<Value>,
    #[serde(default)]
    pub(crate) generators: Option<Value>,
    #[serde(default)]
    pub(crate) validators: Option<Value>,
    #[serde(default)]
    pub(crate) configurations: Option<Value>,
    #[serde(default)]
    pub(crate) crds: Option<Value>,
    #[serde(default)]
    pub(crate) openapi: Option<Value>,
    #[serde(default)]
    pub(crate) image_tags: Option<Value>,
}

impl Kustomization {
    /// The names of fields present in the file that this build does not support.
    pub(crate) fn unsupported_fields(&self) -> Vec<&'static str> {
        let fields: [(&'static str, bool); 11] = [
            ("vars", self.vars.is_some()),
            ("helmCharts", self.helm_charts.is_some()),
            ("helmGlobals", self.helm_globals.is_some()),
            (
                "helmChartInflationGenerator",
                self.helm_chart_inflation_generator.is_some(),
            ),
            ("transformers", self.transformers.is_some()),
            ("generators", self.generators.is_some()),
            ("validators", self.validators.is_some()),
            ("configurations", self.configurations.is_some()),
            ("crds", self.crds.is_some()),
            ("openapi", self.openapi.is_some()),
            ("imageTags", self.image_tags.is_some()),
        ];
        fields
            .into_iter()
            .filter(|(_, present)| *present)
            .map(|(name, _)| name)
            .collect()
    }

    /// Whether this file declares `kind: Component`.
    pub(crate) fn is_component(&self) -> bool {
        self.kind.as_deref() == Some("Component")
    }
}

/// One entry of `labels:`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct Label {
    #[serde(default, deserialize_with = "string_map")]
    pub(crate) pairs: BTreeMap<String, String>,
    #[serde(default)]
    pub(crate) include_selectors: bool,
    #[serde(default)]
    pub(crate) include_templates: bool,
    #[serde(default)]
    pub(crate) fields: Vec<FieldSpecArgs>,
}

/// A field specification as written in a kustomization (`labels[].fields`).
#[derive(Debug, Default, Deserialize, Clone)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct FieldSpecArgs {
    #[serde(default)]
    pub(crate) group: String,
    #[serde(default)]
    pub(crate) version: String,
    #[serde(default)]
    pub(crate) kind: String,
    pub(crate) path: String,
    #[serde(default)]
    pub(crate) create: bool,
}

/// One entry of `images:`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct Image {
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) new_name: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub(crate) new_tag: Option<String>,
    #[serde(default)]
    pub(crate) digest: Option<String>,
    #[serde(default)]
    pub(crate) tag_suffix: Option<String>,
}

/// One entry of `replicas:`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct Replica {
    pub(crate) name: String,
    pub(crate) count: i64,
}

/// A patch target selector.
#[derive(Debug, Default, Deserialize, Clone)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct Selector {
    #[serde(default)]
    pub(crate) group: Option<String>,
    #[serde(default)]
    pub(crate) version: Option<String>,
    #[serde(default)]
    pub(crate) kind: Option<String>,
    #[serde(default)]
    pub(crate) name: Option<String>,
    #[serde(default)]
    pub(crate) namespace: Option<String>,
    #[serde(default)]
    pub(crate) label_selector: Option<String>,
    #[serde(default)]
    pub(crate) annotation_selector: Option<String>,
}

impl std::fmt::Display for Selector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts = Vec::new();
        let fields = [
            ("group", &self.group),
            ("version", &self.version),
            ("kind", &self.kind),
            ("name", &self.name),
            ("namespace", &self.namespace),
            ("labelSelector", &self.label_selector),
            ("annotationSelector", &self.annotation_selector),
        ];
        for (k, v) in fields {
            if let Some(v) = v {
                parts.push(format!("{k}={v}"));
            }
        }
        if parts.is_empty() {
            f.write_str("every resource")
        } else {
            f.write_str(&parts.join(","))
        }
    }
}

/// One entry of `patches:` or `patchesJson6902:`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct Patch {
    #[serde(default)]
    pub(crate) path: Option<String>,
    #[serde(default)]
    pub(crate) patch: Option<String>,
    #[serde(default)]
    pub(crate) target: Option<Selector>,
    #[serde(default)]
    pub(crate) options: BTreeMap<String, bool>,
}

/// One entry of `configMapGenerator:` or `secretGenerator:`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct GeneratorArgs {
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) namespace: Option<String>,
    #[serde(default)]
    pub(crate) behavior: Option<String>,
    #[serde(default)]
    pub(crate) literals: Vec<String>,
    #[serde(default)]
    pub(crate) files: Vec<String>,
    #[serde(default)]
    pub(crate) envs: Vec<String>,
    #[serde(default)]
    pub(crate) env: Option<String>,
    #[serde(default, rename = "type")]
    pub(crate) type_: Option<String>,
    #[serde(default)]
    pub(crate) options: Option<GeneratorOptions>,
}

/// `generatorOptions:` and a generator's own `options:`.
#[derive(Debug, Default, Deserialize, Clone)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct GeneratorOptions {
    #[serde(default, deserialize_with = "string_map")]
    pub(crate) labels: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "string_map")]
    pub(crate) annotations: BTreeMap<String, String>,
    #[serde(default)]
    pub(crate) disable_name_suffix_hash: bool,
    #[serde(default)]
    pub(crate) immutable: bool,
}

/// `sortOptions:`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SortOptions {
    #[serde(default)]
    pub(crate) order: Option<String>,
}

/// A scalar written where Kustomize expects a string (`version: 1` is the label `"1"`).
pub(crate) fn scalar_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null => Some(String::new()),
        _ => None,
    }
}

fn string_map<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    let raw: Option<BTreeMap<String, Value>> = Option::deserialize(d)?;
    let mut out = BTreeMap::new();
    for (k, v) in raw.unwrap_or_default() {
        let s = scalar_string(&v).ok_or_else(|| {
            serde::de::Error::custom(format!("the value of {k:?} must be a string"))
        })?;
        out.insert(k, s);
    }
    Ok(out)
}

fn opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let raw: Option<Value> = Option::deserialize(d)?;
    Ok(raw
        .as_ref()
        .and_then(scalar_string)
        .filter(|s| !s.is_empty()))
}
