//! The built-in kinds' schemas: a directory of strict JSON schemas, one file per kind
//! (`deployment-apps-v1.json`, `service-v1.json`), whose `$ref`s point into a shared
//! `_definitions.json`, as the PyPI package kubernetes-validate ships them and
//! `tests/k8s-schemas.sh` copies them.
//!
//! `_definitions.json` is read once and registered under its own `$id`; a kind's file is read and
//! compiled the first time an object of that kind is validated, and the result (including "no
//! such file") is kept. Two adjustments are made to the definitions as they are loaded, both to
//! match what the API server accepts:
//! - a `oneOf` whose branches only name types (int-or-string, `Quantity`) becomes one `type`
//!   union, so that `null` (which every branch admits) is not rejected as matching several
//!   branches, and errors say which types are allowed;
//! - `Quantity` strings must follow the quantity grammar (`500m`, `1.5Gi`, `2e3`).

use std::{
    collections::HashMap,
    fs,
    path::{Path, PathBuf},
    sync::{Arc, OnceLock, PoisonError, RwLock},
};

use jsonschema::{Draft, Registry, Validator};
use serde_json::{Map, Value, json};

use super::Error;

/// The file holding the shared definitions.
const DEFINITIONS_FILE: &str = "_definitions.json";

/// The definition of resource quantities (`cpu: 500m`).
const QUANTITY: &str = "io.k8s.apimachinery.pkg.api.resource.Quantity";

/// The definition of object metadata.
const OBJECT_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";

/// The grammar of `resource.Quantity` strings: a signed decimal number and an optional binary
/// (`Ki`..`Ei`) or decimal (`n`, `u`, `m`, `k`, `M`..`E`) suffix or exponent.
pub(super) const QUANTITY_PATTERN: &str =
    r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([KMGTPE]i|[numkMGTPE]|[eE][+-]?[0-9]+)?$";

/// What looking up a kind found.
#[derive(Debug, Clone)]
pub(super) enum Entry {
    /// The kind's compiled schema.
    Found(Arc<Validator>),
    /// No file for this kind and version.
    Missing,
    /// The file exists but could not be read or compiled.
    Broken(String),
}

/// A kind's cache slot, keyed by `(apiVersion, kind)`: filled once, by the first thread that
/// needs it, while other kinds stay available.
type Slots = HashMap<(String, String), Arc<OnceLock<Entry>>>;

/// The built-in schemas of one directory.
#[derive(Debug)]
pub(super) struct Builtin {
    dir: PathBuf,
    /// The definitions' `$id`, which the per-kind files' `$ref`s resolve to.
    definitions_id: String,
    registry: Registry<'static>,
    cache: RwLock<Slots>,
}

impl Builtin {
    /// Reads and registers the directory's shared definitions.
    pub(super) fn open(dir: &Path) -> Result<Builtin, Error> {
        let path = dir.join(DEFINITIONS_FILE);
        if !path.is_file() {
            return Err(Error::NotSchemaDir {
                path: dir.display().to_string(),
            });
        }
        let mut definitions = read_json(&path)?;
        let definitions_id = definitions
            .get("$id")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| Error::Definitions {
                path: path.display().to_string(),
                message: "it has no $id, which the kinds' schemas refer to it by".to_owned(),
            })?;
        adjust_definitions(&mut definitions);
        let registry = Registry::new()
            .draft(Draft::Draft202012)
            .add(&definitions_id, definitions)
            .and_then(|builder| builder.prepare())
            .map_err(|error| Error::Definitions {
                path: path.display().to_string(),
                message: error.to_string(),
            })?;
        Ok(Builtin {
            dir: dir.to_owned(),
            definitions_id,
            registry,
            cache: RwLock::new(HashMap::new()),
        })
    }

    /// The registry holding the shared definitions, for compiling custom resources' schemas
    /// that refer to `ObjectMeta`.
    pub(super) fn registry(&self) -> &Registry<'static> {
        &self.registry
    }

    /// The `$ref` of `ObjectMeta`.
    pub(super) fn object_meta_ref(&self) -> String {
        format!("{}#/$defs/{OBJECT_META}", self.definitions_id)
    }

    /// The compiled schema for `kind` in `api_version`, loaded on first use.
    pub(super) fn get(&self, api_version: &str, kind: &str) -> Entry {
        let key = (api_version.to_owned(), kind.to_owned());
        let slot = self
            .cache
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
            .cloned();
        let slot = match slot {
            Some(slot) => slot,
            None => self
                .cache
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .entry(key)
                .or_default()
                .clone(),
        };
        slot.get_or_init(|| self.load(api_version, kind)).clone()
    }

    /// Reads and compiles a kind's file.
    fn load(&self, api_version: &str, kind: &str) -> Entry {
        let (group, version) = match api_version.split_once('/') {
            Some((group, version)) => (group, version),
            None => ("", api_version),
        };
        let name = file_name(group, version, kind);
        let path = self.dir.join(&name);
        if !path.is_file() {
            return Entry::Missing;
        }
        let schema = match read_json(&path) {
            Ok(schema) => schema,
            Err(error) => return Entry::Broken(error.to_string()),
        };
        // The file name drops all but the first label of the group; check it is this group.
        if !declares(&schema, group, version, kind) {
            return Entry::Missing;
        }
        match jsonschema::options()
            .with_draft(Draft::Draft202012)
            .with_registry(&self.registry)
            .build(&schema)
        {
            Ok(validator) => Entry::Found(Arc::new(validator)),
            Err(error) => Entry::Broken(format!("{}: {error}", path.display())),
        }
    }
}

/// The file a kind's schema is in: `<kind>-<first label of the group>-<version>.json`, the
/// group left out for the core group.
fn file_name(group: &str, version: &str, kind: &str) -> String {
    let kind = kind.to_ascii_lowercase();
    match group.split('.').next() {
        Some(label) if !label.is_empty() => format!("{kind}-{label}-{version}.json"),
        _ => format!("{kind}-{version}.json"),
    }
}

/// Whether a schema's `x-kubernetes-group-version-kind` names this group, version and kind.
fn declares(schema: &Value, group: &str, version: &str, kind: &str) -> bool {
    schema
        .get("x-kubernetes-group-version-kind")
        .and_then(Value::as_array)
        .is_some_and(|gvks| {
            gvks.iter().any(|gvk| {
                gvk.get("group").and_then(Value::as_str).unwrap_or("") == group
                    && gvk.get("version").and_then(Value::as_str) == Some(version)
                    && gvk.get("kind").and_then(Value::as_str) == Some(kind)
            })
        })
}

/// Reads a JSON file.
fn read_json(path: &Path) -> Result<Value, Error> {
    let bytes = fs::read(path).map_err(|error| Error::Io {
        path: path.display().to_string(),
        message: error.to_string(),
    })?;
    serde_json::from_slice(&bytes).map_err(|error| Error::Json {
        path: path.display().to_string(),
        message: error.to_string(),
    })
}

/// Applies the two adjustments described in the module documentation.
fn adjust_definitions(definitions: &mut Value) {
    if let Some(Value::Object(defs)) = definitions.get_mut("$defs") {
        for schema in defs.values_mut() {
            if let Value::Object(schema) = schema {
                merge_type_only_one_of(schema);
            }
        }
        if let Some(Value::Object(quantity)) = defs.get_mut(QUANTITY) {
            quantity.insert("pattern".to_owned(), json!(QUANTITY_PATTERN));
        }
    }
}

/// Replaces `oneOf: [{type: A}, {type: B}]` by `type: [A, B]`. Only branches holding nothing
/// but `type` are merged; other `oneOf`s are left alone.
fn merge_type_only_one_of(schema: &mut Map<String, Value>) {
    let Some(Value::Array(branches)) = schema.get("oneOf") else {
        return;
    };
    let mut types: Vec<Value> = Vec::new();
    for branch in branches {
        let Value::Object(branch) = branch else {
            return;
        };
        if branch.len() != 1 {
            return;
        }
        match branch.get("type") {
            Some(Value::String(single)) => push_unique(&mut types, single),
            Some(Value::Array(several)) => {
                for single in several {
                    let Value::String(single) = single else {
                        return;
                    };
                    push_unique(&mut types, single);
                }
            }
            _ => return,
        }
    }
    schema.remove("oneOf");
    schema.insert("type".to_owned(), Value::Array(types));
}

fn push_unique(types: &mut Vec<Value>, name: &str) {
    if !types.iter().any(|t| t == name) {
        types.push(json!(name));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_follow_the_package_layout() {
        assert_eq!(file_name("", "v1", "ConfigMap"), "configmap-v1.json");
        assert_eq!(
            file_name("apps", "v1", "Deployment"),
            "deployment-apps-v1.json"
        );
        assert_eq!(
            file_name("networking.k8s.io", "v1", "Ingress"),
            "ingress-networking-v1.json"
        );
    }

    #[test]
    fn a_file_counts_only_for_the_group_it_declares() {
        let schema = json!({"x-kubernetes-group-version-kind":
            [{"group": "networking.k8s.io", "version": "v1", "kind": "Ingress"}]});
        assert!(declares(&schema, "networking.k8s.io", "v1", "Ingress"));
        assert!(!declares(&schema, "networking.istio.io", "v1", "Ingress"));
        let core = json!({"x-kubernetes-group-version-kind":
            [{"group": "", "version": "v1", "kind": "Service"}]});
        assert!(declares(&core, "", "v1", "Service"));
    }

    #[test]
    fn int_or_string_one_of_becomes_a_type_union() {
        let mut defs = json!({"$defs": {
            "io.k8s.apimachinery.pkg.util.intstr.IntOrString":
                {"oneOf": [{"type": ["string", "null"]}, {"type": ["integer", "null"]}]},
            "other": {"oneOf": [{"type": "string", "minLength": 1}, {"type": "integer"}]},
            QUANTITY: {"oneOf": [{"type": ["string", "null"]}, {"type": ["number", "null"]}]}
        }});
        adjust_definitions(&mut defs);
        let defs = &defs["$defs"];
        assert_eq!(
            defs["io.k8s.apimachinery.pkg.util.intstr.IntOrString"],
            json!({"type": ["string", "null", "integer"]})
        );
        assert!(defs["other"].get("oneOf").is_some());
        assert_eq!(defs[QUANTITY]["pattern"], json!(QUANTITY_PATTERN));
    }

    #[test]
    fn the_quantity_pattern_accepts_what_kubernetes_accepts() {
        let pattern = regex::Regex::new(QUANTITY_PATTERN).unwrap();
        for good in [
            "1", "500m", "1.5Gi", "0.5", ".5", "2e3", "100Mi", "+1k", "1E", "5.",
        ] {
            assert!(pattern.is_match(good), "{good}");
        }
        for bad in ["", "lots", "1.5 Gi", "1gb", "Mi", "1..5", "--1"] {
            assert!(!pattern.is_match(bad), "{bad}");
        }
    }
}
