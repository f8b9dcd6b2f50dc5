//! Validation of rendered objects against the Kubernetes API's schemas, before they are gated
//! and committed: what `kubectl apply --validate=strict` or kubeconform would reject is reported
//! here, naming the object and the field.
//!
//! [`Schemas`] holds two sources:
//! - the built-in kinds' strict JSON schemas, from a directory produced by
//!   `tests/k8s-schemas.sh` (the PyPI package kubernetes-validate's schemas for one Kubernetes
//!   version), read and compiled lazily, one kind at a time, and kept;
//! - uploaded CustomResourceDefinitions: each served version's `openAPIV3Schema`, converted to
//!   JSON Schema with the API server's reading of `nullable` and the `x-kubernetes-*`
//!   extensions, and compiled when added.
//!
//! Both are strict: a field the schema does not know is a problem, as it is for
//! `kubectl apply`, unless a CRD preserves unknown fields there. A kind with no schema is a
//! problem too (as in kubeconform) unless [`Schemas::ignore_missing_schemas`] says otherwise.
//! Rendered objects are already JSON values, so YAML's spellings do not matter here: a quoted
//! `"80"` is a string wherever it came from.
//!
//! ```
//! use gatehouse_render::validate::Schemas;
//! use serde_json::json;
//!
//! let mut schemas = Schemas::new();
//! schemas.add_crd(&json!({
//!     "apiVersion": "apiextensions.k8s.io/v1",
//!     "kind": "CustomResourceDefinition",
//!     "metadata": {"name": "widgets.example.test"},
//!     "spec": {
//!         "group": "example.test",
//!         "names": {"kind": "Widget", "plural": "widgets"},
//!         "scope": "Namespaced",
//!         "versions": [{"name": "v1", "served": true, "storage": true, "schema": {
//!             "openAPIV3Schema": {"type": "object", "properties": {"spec": {
//!                 "type": "object", "properties": {"size": {"type": "integer"}}}}}}}]
//!     }
//! }))?;
//! let problems = schemas.validate(&[json!({
//!     "apiVersion": "example.test/v1",
//!     "kind": "Widget",
//!     "metadata": {"name": "w", "namespace": "shop"},
//!     "spec": {"size": "large"}
//! })]);
//! assert_eq!(problems.len(), 1);
//! assert_eq!(problems[0].object, "Widget/shop/w");
//! assert_eq!(problems[0].field, "spec.size");
//! assert_eq!(problems[0].message, "must be an integer, but is the string \"large\"");
//! # Ok::<(), gatehouse_render::validate::Error>(())
//! ```

mod builtin;
mod crd;
mod report;

use std::{collections::HashMap, fmt, path::Path, sync::Arc};

use jsonschema::{Draft, Validator};
use serde_json::Value;

use builtin::{Builtin, Entry};

/// The schemas objects are validated against: built-in kinds (from a schema directory) and
/// custom resources (from uploaded CRDs). Compiled schemas are cached; a `Schemas` is `Send +
/// Sync` and meant to be shared between threads. Cloning is cheap and shares the built-in
/// kinds' cache, so a clone can take one deploy's extra CRDs without touching the original.
#[derive(Debug, Default, Clone)]
pub struct Schemas {
    builtin: Option<Arc<Builtin>>,
    custom: HashMap<(String, String), Arc<Validator>>,
    ignore_missing: bool,
}

/// One thing wrong with one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Position of the object in the validated list.
    pub index: usize,
    /// The object: `Kind/namespace/name`, or `Kind/name` when it has no namespace.
    pub object: String,
    /// The field, as a dotted path (`spec.template.spec.containers[0].resources.limits.cpu`);
    /// empty when the problem is with the object as a whole.
    pub field: String,
    /// What is wrong, and what to do about it.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            write!(f, "{}: {}", self.object, self.message)
        } else {
            write!(f, "{}: {}: {}", self.object, self.field, self.message)
        }
    }
}

/// Why schemas could not be loaded or a CRD could not be added.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A schema file could not be read.
    #[error("cannot read {path}: {message}")]
    Io {
        /// The file.
        path: String,
        /// The operating system's message.
        message: String,
    },
    /// A schema file is not JSON.
    #[error("{path} is not valid JSON: {message}")]
    Json {
        /// The file.
        path: String,
        /// The parser's message.
        message: String,
    },
    /// The directory is not a schema directory.
    #[error(
        "{path} holds no _definitions.json; point to the directory tests/k8s-schemas.sh prints"
    )]
    NotSchemaDir {
        /// The directory.
        path: String,
    },
    /// The shared definitions could not be registered.
    #[error("cannot load the schema definitions in {path}: {message}")]
    Definitions {
        /// The file.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// An object given as a CRD is not a usable `apiextensions.k8s.io/v1` CRD.
    #[error("the CustomResourceDefinition {name} cannot be used: {message}")]
    InvalidCrd {
        /// The CRD's `metadata.name`.
        name: String,
        /// What is missing or wrong.
        message: String,
    },
    /// A CRD version's schema does not compile.
    #[error(
        "the schema of {kind} {api_version} in the CustomResourceDefinition {name} is not a valid schema: {message}"
    )]
    CrdSchema {
        /// The CRD's `metadata.name`.
        name: String,
        /// `group/version`.
        api_version: String,
        /// The custom resource's kind.
        kind: String,
        /// The compiler's message.
        message: String,
    },
}

impl Schemas {
    /// No built-in schemas; custom resources only, once CRDs are added.
    pub fn new() -> Schemas {
        Schemas::default()
    }

    /// Uses the built-in kinds' schemas in `dir`, a directory produced by
    /// `tests/k8s-schemas.sh`. Only the shared definitions are read now; each kind's file is
    /// read the first time an object of that kind is validated.
    ///
    /// # Errors
    ///
    /// When `dir` holds no `_definitions.json`, or it cannot be read or registered.
    pub fn from_dir(dir: &Path) -> Result<Schemas, Error> {
        Ok(Schemas {
            builtin: Some(Arc::new(Builtin::open(dir)?)),
            ..Schemas::default()
        })
    }

    /// Whether objects of kinds with no schema pass (`true`) or are reported (`false`, the
    /// default, as kubeconform does without `-ignore-missing-schemas`).
    #[must_use]
    pub fn ignore_missing_schemas(mut self, ignore: bool) -> Schemas {
        self.ignore_missing = ignore;
        self
    }

    /// Adds the custom resources a CustomResourceDefinition (`apiextensions.k8s.io/v1`)
    /// defines: one schema per served version, replacing any added before for the same kind
    /// and version.
    ///
    /// # Errors
    ///
    /// When the object is not such a CRD, serves no version, or a version has no schema or one
    /// that does not compile. Nothing is added then.
    pub fn add_crd(&mut self, crd: &Value) -> Result<(), Error> {
        let object_meta = self.builtin.as_deref().map(Builtin::object_meta_ref);
        let versions = crd::versions(crd, object_meta.as_deref())?;
        let name = crd
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("<unnamed>");
        let mut compiled = Vec::with_capacity(versions.len());
        for version in versions {
            let mut options = jsonschema::options().with_draft(Draft::Draft202012);
            if let Some(builtin) = &self.builtin {
                options = options.with_registry(builtin.registry());
            }
            let validator = options
                .build(&version.schema)
                .map_err(|error| Error::CrdSchema {
                    name: name.to_owned(),
                    api_version: version.api_version.clone(),
                    kind: version.kind.clone(),
                    message: error.to_string(),
                })?;
            compiled.push(((version.api_version, version.kind), Arc::new(validator)));
        }
        self.custom.extend(compiled);
        Ok(())
    }

    /// Adds every CustomResourceDefinition among `objects` (a chart that ships its CRDs with
    /// its custom resources), returning how many were added.
    ///
    /// # Errors
    ///
    /// As [`Schemas::add_crd`], for the first CRD that cannot be used.
    pub fn add_crds_from(&mut self, objects: &[Value]) -> Result<usize, Error> {
        let mut added = 0;
        for object in objects {
            if object.get("kind").and_then(Value::as_str) == Some("CustomResourceDefinition") {
                self.add_crd(object)?;
                added += 1;
            }
        }
        Ok(added)
    }

    /// Validates each object against its kind's schema. Every problem names the object
    /// (`Deployment/shop/web`) and the field (`spec.replicas`) and says what is wrong; an
    /// empty list means every object passed.
    pub fn validate(&self, objects: &[Value]) -> Vec<Problem> {
        let mut problems = Vec::new();
        for (index, object) in objects.iter().enumerate() {
            self.validate_object(index, object, &mut problems);
        }
        problems
    }

    fn validate_object(&self, index: usize, object: &Value, out: &mut Vec<Problem>) {
        let name = object_name(object);
        let problem = |field: &str, message: String| Problem {
            index,
            object: name.clone(),
            field: field.to_owned(),
            message,
        };
        if !object.is_object() {
            out.push(problem(
                "",
                "is not a Kubernetes object: expected a map with apiVersion, kind and metadata"
                    .to_owned(),
            ));
            return;
        }
        let api_version = object.get("apiVersion").and_then(Value::as_str);
        let kind = object.get("kind").and_then(Value::as_str);
        let (Some(api_version), Some(kind)) = (api_version, kind) else {
            for (field, value) in [("apiVersion", api_version), ("kind", kind)] {
                if value.is_none() {
                    out.push(problem(
                        field,
                        "required field is missing (or not a string); every object needs \
                         apiVersion and kind"
                            .to_owned(),
                    ));
                }
            }
            return;
        };

        let validator = match self.lookup(api_version, kind) {
            Entry::Found(validator) => validator,
            Entry::Missing if self.ignore_missing => return,
            Entry::Missing => {
                out.push(problem(
                    "kind",
                    format!(
                        "no schema for kind {kind} in {api_version}: if it is a custom resource, \
                         upload the CustomResourceDefinition that defines it (serving \
                         {api_version}); otherwise check apiVersion and kind for typos"
                    ),
                ));
                return;
            }
            Entry::Broken(message) => {
                out.push(problem(
                    "",
                    format!("the schema for {kind} {api_version} cannot be used: {message}"),
                ));
                return;
            }
        };
        if validator.is_valid(object) {
            return;
        }
        let label = format!("{kind} {api_version}");
        let subject = report::Subject {
            index,
            object: &name,
            instance: object,
            kind: &label,
        };
        for error in validator.iter_errors(object) {
            report::push(&subject, &error, out);
        }
    }

    /// The schema for a kind: an uploaded CRD's first, then the built-in one.
    fn lookup(&self, api_version: &str, kind: &str) -> Entry {
        if let Some(validator) = self.custom.get(&(api_version.to_owned(), kind.to_owned())) {
            return Entry::Found(Arc::clone(validator));
        }
        match &self.builtin {
            Some(builtin) => builtin.get(api_version, kind),
            None => Entry::Missing,
        }
    }
}

/// `Kind/namespace/name` or `Kind/name`, with placeholders for what is missing.
fn object_name(object: &Value) -> String {
    let text = |pointer: &str| object.pointer(pointer).and_then(Value::as_str);
    let kind = text("/kind").unwrap_or("<no kind>");
    let name = text("/metadata/name")
        .or_else(|| text("/metadata/generateName"))
        .unwrap_or("<no name>");
    match text("/metadata/namespace") {
        Some(namespace) if !namespace.is_empty() => format!("{kind}/{namespace}/{name}"),
        _ => format!("{kind}/{name}"),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn widget_crd() -> Value {
        json!({
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": "widgets.example.test"},
            "spec": {
                "group": "example.test",
                "names": {"kind": "Widget", "plural": "widgets"},
                "scope": "Namespaced",
                "versions": [{"name": "v1", "served": true, "storage": true, "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "required": ["spec"],
                        "properties": {"spec": {
                            "type": "object",
                            "required": ["size"],
                            "properties": {
                                "size": {"type": "integer", "minimum": 1},
                                "port": {"x-kubernetes-int-or-string": true},
                                "mode": {"type": "string", "enum": ["fast", "safe"]},
                                "note": {"type": "string", "nullable": true},
                                "extra": {"type": "object",
                                          "x-kubernetes-preserve-unknown-fields": true},
                                "template": {"type": "object",
                                             "x-kubernetes-embedded-resource": true,
                                             "x-kubernetes-preserve-unknown-fields": true},
                                "rules": {"type": "array", "items": {"type": "string"},
                                          "x-kubernetes-validations": [{"rule": "size(self) < 5"}]}
                            }
                        }}
                    }}}]
            }
        })
    }

    fn widget(spec: Value) -> Value {
        json!({"apiVersion": "example.test/v1", "kind": "Widget",
               "metadata": {"name": "w", "namespace": "shop"}, "spec": spec})
    }

    fn schemas() -> Schemas {
        let mut schemas = Schemas::new();
        schemas.add_crd(&widget_crd()).unwrap();
        schemas
    }

    #[test]
    fn schemas_can_be_shared_between_threads() {
        fn shared<T: Send + Sync>() {}
        shared::<Schemas>();
    }

    #[test]
    fn a_valid_custom_resource_passes() {
        let problems = schemas().validate(&[widget(json!({
            "size": 3, "port": "http", "mode": "safe", "note": null,
            "extra": {"anything": [1, 2]},
            "template": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                         "spec": {"containers": []}},
            "rules": ["a"]
        }))]);
        assert_eq!(problems, []);
        let problems = schemas().validate(&[widget(json!({"size": 1, "port": 8080}))]);
        assert_eq!(problems, []);
    }

    #[test]
    fn custom_resource_problems_name_object_and_field() {
        let problems = schemas().validate(&[widget(json!({
            "size": 0, "port": 1.5, "mode": "slow", "colour": "red",
            "template": {"metadata": {}}
        }))]);
        let found: Vec<(String, String)> = problems
            .iter()
            .map(|p| (p.field.clone(), p.message.clone()))
            .collect();
        let expect = [
            ("spec.size", "less than the minimum of 1"),
            (
                "spec.port",
                "must be an integer or a string, but is the number 1.5",
            ),
            (
                "spec.mode",
                "must be one of \"fast\", \"safe\", but is the string \"slow\"",
            ),
            ("spec.colour", "unknown field"),
            ("spec.template.apiVersion", "required field is missing"),
            ("spec.template.kind", "required field is missing"),
        ];
        for (field, message) in expect {
            assert!(
                found.iter().any(|(f, m)| f == field && m.contains(message)),
                "no problem at {field} saying {message:?} in {found:#?}"
            );
        }
        assert_eq!(problems.len(), expect.len(), "{found:#?}");
        assert!(problems.iter().all(|p| p.object == "Widget/shop/w"));
    }

    #[test]
    fn required_fields_and_api_version_are_checked() {
        let problems = schemas().validate(&[widget(json!({}))]);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].field, "spec.size");
        assert_eq!(
            problems[0].to_string(),
            "Widget/shop/w: spec.size: required field is missing; add it"
        );
    }

    #[test]
    fn unknown_kinds_are_problems_unless_ignored() {
        let object = json!({"apiVersion": "example.test/v2", "kind": "Widget",
                            "metadata": {"name": "w"}});
        let problems = schemas().validate(std::slice::from_ref(&object));
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].object, "Widget/w");
        assert_eq!(problems[0].field, "kind");
        assert!(
            problems[0]
                .message
                .contains("upload the CustomResourceDefinition"),
            "{}",
            problems[0].message
        );
        let ignoring = schemas().ignore_missing_schemas(true);
        assert_eq!(ignoring.validate(&[object]), []);
    }

    #[test]
    fn objects_without_kind_or_api_version_are_reported() {
        let problems = Schemas::new().validate(&[json!({"metadata": {"name": "x"}}), json!(3)]);
        let fields: Vec<(usize, &str)> = problems
            .iter()
            .map(|p| (p.index, p.field.as_str()))
            .collect();
        assert_eq!(fields, [(0, "apiVersion"), (0, "kind"), (1, "")]);
        assert_eq!(problems[0].object, "<no kind>/x");
    }

    #[test]
    fn crds_among_objects_are_added() {
        let mut schemas = Schemas::new();
        let added = schemas
            .add_crds_from(&[widget(json!({})), widget_crd()])
            .unwrap();
        assert_eq!(added, 1);
        assert_eq!(schemas.validate(&[widget(json!({"size": 2}))]), []);
    }

    #[test]
    fn a_crd_whose_schema_does_not_compile_is_refused() {
        let mut crd = widget_crd();
        crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
            ["size"]["pattern"] = json!("(unclosed");
        let error = Schemas::new().add_crd(&crd).unwrap_err().to_string();
        assert!(
            error.contains("the schema of Widget example.test/v1 in the CustomResourceDefinition widgets.example.test"),
            "{error}"
        );
    }
}
