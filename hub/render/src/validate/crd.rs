//! CustomResourceDefinitions: reading the served versions of an `apiextensions.k8s.io/v1` CRD and
//! turning each version's `openAPIV3Schema` (OpenAPI 3.0, structural, with Kubernetes
//! extensions) into a JSON Schema (draft 2020-12) that validates custom resources the way the
//! API server does.
//!
//! The conversion follows the API server's rules:
//! - `nullable: true` admits `null`;
//! - `x-kubernetes-int-or-string: true` admits integers and strings;
//! - `x-kubernetes-preserve-unknown-fields: true` keeps fields the schema does not list; without
//!   it, unknown fields are reported (the API server's strict field validation), as the built-in
//!   strict schemas do;
//! - `x-kubernetes-embedded-resource: true` requires `apiVersion` and `kind` and admits
//!   `metadata`;
//! - `x-kubernetes-list-type: set` requires unique items;
//! - OpenAPI 3.0's boolean `exclusiveMinimum`/`exclusiveMaximum` become JSON Schema's numeric ones;
//! - at the root, `apiVersion` and `kind` must name the version and kind, and `metadata` is an
//!   `ObjectMeta` (checked against the built-in schema when one is loaded).
//!
//! CEL rules (`x-kubernetes-validations`) and `x-kubernetes-list-type: map` key uniqueness are not
//! checked; `format` is an annotation.

use serde_json::{Map, Value, json};

use super::Error;

/// One served version of a custom resource: what it is called and its converted schema.
#[derive(Debug)]
pub(super) struct Version {
    /// `group/version`.
    pub(super) api_version: String,
    /// The resource's kind.
    pub(super) kind: String,
    /// The JSON Schema for the whole object.
    pub(super) schema: Value,
}

/// Reads a CustomResourceDefinition and converts the schema of each served version.
/// `object_meta` is the `$ref` of the built-in `ObjectMeta` schema, when one is loaded.
pub(super) fn versions(crd: &Value, object_meta: Option<&str>) -> Result<Vec<Version>, Error> {
    let name = crd
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("<unnamed>")
        .to_owned();
    let invalid = |message: &str| Error::InvalidCrd {
        name: name.clone(),
        message: message.to_owned(),
    };
    let api_version = crd.get("apiVersion").and_then(Value::as_str);
    let kind = crd.get("kind").and_then(Value::as_str);
    if kind != Some("CustomResourceDefinition") || api_version != Some("apiextensions.k8s.io/v1") {
        return Err(invalid(&format!(
            "expected kind CustomResourceDefinition in apiextensions.k8s.io/v1, found {} in {}",
            kind.unwrap_or("no kind"),
            api_version.unwrap_or("no apiVersion"),
        )));
    }
    let group = crd
        .pointer("/spec/group")
        .and_then(Value::as_str)
        .filter(|group| !group.is_empty())
        .ok_or_else(|| invalid("spec.group is missing"))?;
    let resource_kind = crd
        .pointer("/spec/names/kind")
        .and_then(Value::as_str)
        .filter(|kind| !kind.is_empty())
        .ok_or_else(|| invalid("spec.names.kind is missing"))?;
    let listed = crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .ok_or_else(|| invalid("spec.versions is missing"))?;

    let mut out = Vec::new();
    for (index, version) in listed.iter().enumerate() {
        let version_name = version
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid(&format!("spec.versions[{index}].name is missing")))?;
        if version.get("served").and_then(Value::as_bool) != Some(true) {
            continue;
        }
        let schema = version.pointer("/schema/openAPIV3Schema").ok_or_else(|| {
            invalid(&format!(
                "spec.versions[{index}] ({version_name}) has no schema.openAPIV3Schema"
            ))
        })?;
        if !schema.is_object() {
            return Err(invalid(&format!(
                "spec.versions[{index}].schema.openAPIV3Schema is not an object"
            )));
        }
        let api_version = format!("{group}/{version_name}");
        let schema = root(schema, &api_version, resource_kind, object_meta);
        out.push(Version {
            api_version,
            kind: resource_kind.to_owned(),
            schema,
        });
    }
    if out.is_empty() {
        return Err(invalid("no version is served"));
    }
    Ok(out)
}

/// Converts the root schema of a version: the structural conversion, plus the implicit
/// `apiVersion`, `kind` and `metadata`.
fn root(schema: &Value, api_version: &str, kind: &str, object_meta: Option<&str>) -> Value {
    let mut converted = structural(schema);
    let Value::Object(map) = &mut converted else {
        return converted;
    };
    let properties = map
        .entry("properties")
        .or_insert_with(|| Value::Object(Map::new()));
    if let Value::Object(properties) = properties {
        properties.insert(
            "apiVersion".to_owned(),
            json!({"type": "string", "enum": [api_version]}),
        );
        properties.insert("kind".to_owned(), json!({"type": "string", "enum": [kind]}));
        // The API server checks metadata as ObjectMeta; a CRD may only narrow `name` and
        // `generateName`, which are kept as a second constraint.
        let declared = schema.pointer("/properties/metadata").map(junctor);
        let meta = match object_meta {
            Some(reference) => json!({"$ref": reference}),
            None => json!({"type": "object"}),
        };
        let metadata = match declared {
            Some(declared) => json!({"allOf": [meta, declared]}),
            None => meta,
        };
        properties.insert("metadata".to_owned(), metadata);
    }
    converted
}

/// Converts a schema in the structural part of a CRD schema (the root, `properties`, `items`,
/// `additionalProperties`), where unknown fields are rejected unless preserved.
fn structural(schema: &Value) -> Value {
    let Value::Object(source) = schema else {
        return schema.clone();
    };
    let mut out = common(source);
    let preserve = flag(source, "x-kubernetes-preserve-unknown-fields");

    if let Some(Value::Object(properties)) = source.get("properties") {
        let converted = properties
            .iter()
            .map(|(name, schema)| (name.clone(), structural(schema)))
            .collect();
        out.insert("properties".to_owned(), Value::Object(converted));
    }
    if let Some(items) = source.get("items") {
        out.insert("items".to_owned(), structural(items));
    }
    match source.get("additionalProperties") {
        Some(additional @ Value::Object(_)) => {
            out.insert("additionalProperties".to_owned(), structural(additional));
        }
        Some(other) => {
            out.insert("additionalProperties".to_owned(), other.clone());
        }
        None => {}
    }
    for keyword in ["allOf", "anyOf", "oneOf"] {
        if let Some(Value::Array(branches)) = source.get(keyword)
            && !restates_int_or_string(source, branches)
        {
            out.insert(
                keyword.to_owned(),
                Value::Array(branches.iter().map(junctor).collect()),
            );
        }
    }
    if let Some(not) = source.get("not") {
        out.insert("not".to_owned(), junctor(not));
    }

    if flag(source, "x-kubernetes-embedded-resource") {
        let properties = out
            .entry("properties")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(properties) = properties {
            for (name, schema) in [
                ("apiVersion", json!({"type": "string", "minLength": 1})),
                ("kind", json!({"type": "string", "minLength": 1})),
                ("metadata", json!({"type": "object"})),
            ] {
                properties.entry(name).or_insert(schema);
            }
        }
        add_required(&mut out, &["apiVersion", "kind"]);
    }

    let is_object = source.get("type").and_then(Value::as_str) == Some("object");
    if is_object && !preserve && !source.contains_key("additionalProperties") {
        out.insert("additionalProperties".to_owned(), Value::Bool(false));
    }
    Value::Object(out)
}

/// Converts a schema inside `allOf`/`anyOf`/`oneOf`/`not`, which only adds constraints to the
/// structural schema around it: no unknown-field rejection is added there.
fn junctor(schema: &Value) -> Value {
    let Value::Object(source) = schema else {
        return schema.clone();
    };
    let mut out = common(source);
    if let Some(Value::Object(properties)) = source.get("properties") {
        let converted = properties
            .iter()
            .map(|(name, schema)| (name.clone(), junctor(schema)))
            .collect();
        out.insert("properties".to_owned(), Value::Object(converted));
    }
    for keyword in ["items", "additionalProperties", "not"] {
        if let Some(inner) = source.get(keyword) {
            out.insert(keyword.to_owned(), junctor(inner));
        }
    }
    for keyword in ["allOf", "anyOf", "oneOf"] {
        if let Some(Value::Array(branches)) = source.get(keyword)
            && !restates_int_or_string(source, branches)
        {
            out.insert(
                keyword.to_owned(),
                Value::Array(branches.iter().map(junctor).collect()),
            );
        }
    }
    Value::Object(out)
}

/// The keywords that convert the same way everywhere: value constraints copied as they are,
/// `nullable`, int-or-string, list sets and OpenAPI 3.0's boolean exclusive bounds.
fn common(source: &Map<String, Value>) -> Map<String, Value> {
    const COPIED: &[&str] = &[
        "type",
        "enum",
        "required",
        "minimum",
        "maximum",
        "multipleOf",
        "minLength",
        "maxLength",
        "pattern",
        "minItems",
        "maxItems",
        "uniqueItems",
        "minProperties",
        "maxProperties",
        "format",
        "description",
        "default",
    ];
    let mut out: Map<String, Value> = COPIED
        .iter()
        .filter_map(|&keyword| {
            source
                .get(keyword)
                .map(|value| (keyword.to_owned(), value.clone()))
        })
        .collect();

    for (exclusive, bound) in [
        ("exclusiveMinimum", "minimum"),
        ("exclusiveMaximum", "maximum"),
    ] {
        match source.get(exclusive) {
            Some(Value::Bool(true)) => {
                if let Some(limit) = out.remove(bound) {
                    out.insert(exclusive.to_owned(), limit);
                }
            }
            Some(limit @ Value::Number(_)) => {
                out.insert(exclusive.to_owned(), limit.clone());
            }
            _ => {}
        }
    }

    if flag(source, "x-kubernetes-int-or-string") {
        out.insert("type".to_owned(), json!(["integer", "string"]));
    }
    if source.get("x-kubernetes-list-type").and_then(Value::as_str) == Some("set") {
        out.insert("uniqueItems".to_owned(), Value::Bool(true));
    }
    if flag(source, "nullable") {
        admit_null(&mut out);
    }
    out
}

/// Whether `branches` only repeat what `x-kubernetes-int-or-string` says (`anyOf: [{type:
/// integer}, {type: string}]`, which structural schemas allow beside it); they are dropped so
/// that a wrong value is reported once.
fn restates_int_or_string(source: &Map<String, Value>, branches: &[Value]) -> bool {
    flag(source, "x-kubernetes-int-or-string")
        && branches.iter().all(|branch| {
            branch.as_object().is_some_and(|branch| {
                branch.len() == 1
                    && matches!(
                        branch.get("type").and_then(Value::as_str),
                        Some("integer" | "string")
                    )
            })
        })
}

/// Widens `type` (and `enum`, when present) to admit `null`.
fn admit_null(out: &mut Map<String, Value>) {
    match out.get_mut("type") {
        Some(Value::String(single)) => {
            let single = std::mem::take(single);
            out.insert("type".to_owned(), json!([single, "null"]));
        }
        Some(Value::Array(types)) if !types.iter().any(|t| t == "null") => {
            types.push(json!("null"));
        }
        _ => {}
    }
    if let Some(Value::Array(options)) = out.get_mut("enum")
        && !options.contains(&Value::Null)
    {
        options.push(Value::Null);
    }
}

/// Adds names to `required`, keeping those already listed.
fn add_required(out: &mut Map<String, Value>, names: &[&str]) {
    let required = out
        .entry("required")
        .or_insert_with(|| Value::Array(Vec::new()));
    if let Value::Array(required) = required {
        for name in names {
            if !required.iter().any(|r| r == name) {
                required.push(json!(name));
            }
        }
    }
}

/// Whether a boolean extension is set to `true`.
fn flag(source: &Map<String, Value>, name: &str) -> bool {
    source.get(name).and_then(Value::as_bool) == Some(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crd(schema: Value) -> Value {
        json!({
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": "widgets.example.test"},
            "spec": {
                "group": "example.test",
                "names": {"kind": "Widget", "plural": "widgets"},
                "scope": "Namespaced",
                "versions": [
                    {"name": "v1", "served": true, "storage": true,
                     "schema": {"openAPIV3Schema": schema}},
                    {"name": "v1alpha1", "served": false, "storage": false,
                     "schema": {"openAPIV3Schema": {"type": "object"}}}
                ]
            }
        })
    }

    #[test]
    fn only_served_versions_are_converted() {
        let versions = versions(&crd(json!({"type": "object"})), None).unwrap();
        assert_eq!(versions.len(), 1);
        assert_eq!(versions[0].api_version, "example.test/v1");
        assert_eq!(versions[0].kind, "Widget");
    }

    #[test]
    fn unknown_fields_are_rejected_unless_preserved() {
        let schema = json!({
            "type": "object",
            "properties": {
                "spec": {"type": "object", "properties": {"size": {"type": "integer"}}},
                "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}}
            }
        });
        let converted = structural(&schema);
        assert_eq!(converted["additionalProperties"], json!(false));
        assert_eq!(
            converted["properties"]["spec"]["additionalProperties"],
            json!(false)
        );
        assert!(
            converted["properties"]["extra"]
                .get("additionalProperties")
                .is_none()
        );
        assert_eq!(
            converted["properties"]["labels"]["additionalProperties"],
            json!({"type": "string"})
        );
    }

    #[test]
    fn kubernetes_extensions_become_json_schema() {
        let schema = json!({
            "type": "object",
            "properties": {
                "port": {"x-kubernetes-int-or-string": true,
                         "anyOf": [{"type": "integer"}, {"type": "string"}]},
                "note": {"type": "string", "nullable": true, "enum": ["a", "b"]},
                "ratio": {"type": "number", "minimum": 0, "exclusiveMinimum": true,
                          "maximum": 1, "exclusiveMaximum": false},
                "tags": {"type": "array", "items": {"type": "string"},
                         "x-kubernetes-list-type": "set"},
                "template": {"type": "object", "x-kubernetes-embedded-resource": true,
                             "x-kubernetes-preserve-unknown-fields": true}
            }
        });
        let converted = structural(&schema);
        let properties = &converted["properties"];
        assert_eq!(properties["port"]["type"], json!(["integer", "string"]));
        assert!(properties["port"].get("anyOf").is_none());
        assert_eq!(properties["note"]["type"], json!(["string", "null"]));
        assert_eq!(properties["note"]["enum"], json!(["a", "b", null]));
        assert_eq!(properties["ratio"]["exclusiveMinimum"], json!(0));
        assert!(properties["ratio"].get("minimum").is_none());
        assert_eq!(properties["ratio"]["maximum"], json!(1));
        assert!(properties["ratio"].get("exclusiveMaximum").is_none());
        assert_eq!(properties["tags"]["uniqueItems"], json!(true));
        assert_eq!(
            properties["template"]["required"],
            json!(["apiVersion", "kind"])
        );
        assert!(properties["template"].get("additionalProperties").is_none());
    }

    #[test]
    fn junctors_add_no_unknown_field_rejection() {
        let schema = json!({
            "type": "object",
            "properties": {"a": {"type": "string"}, "b": {"type": "string"}},
            "oneOf": [{"required": ["a"]}, {"required": ["b"], "properties": {"b": {"type": "string"}}}]
        });
        let converted = structural(&schema);
        for branch in converted["oneOf"].as_array().unwrap() {
            assert!(branch.get("additionalProperties").is_none(), "{branch}");
        }
    }

    #[test]
    fn root_names_version_and_kind_and_keeps_metadata_constraints() {
        let schema = json!({
            "type": "object",
            "properties": {"metadata": {"type": "object",
                                        "properties": {"name": {"type": "string", "maxLength": 10}}}}
        });
        let versions = versions(&crd(schema), Some("urn:meta")).unwrap();
        let properties = &versions[0].schema["properties"];
        assert_eq!(properties["apiVersion"]["enum"], json!(["example.test/v1"]));
        assert_eq!(properties["kind"]["enum"], json!(["Widget"]));
        assert_eq!(
            properties["metadata"]["allOf"][0],
            json!({"$ref": "urn:meta"})
        );
        assert_eq!(
            properties["metadata"]["allOf"][1]["properties"]["name"]["maxLength"],
            json!(10)
        );
        assert!(
            properties["metadata"]["allOf"][1]
                .get("additionalProperties")
                .is_none()
        );
    }

    #[test]
    fn malformed_definitions_are_refused_with_the_reason() {
        let mut no_group = crd(json!({"type": "object"}));
        no_group["spec"]["group"] = json!("");
        let error = versions(&no_group, None).unwrap_err().to_string();
        assert!(error.contains("widgets.example.test"), "{error}");
        assert!(error.contains("spec.group"), "{error}");

        let error = versions(&json!({"apiVersion": "v1", "kind": "ConfigMap"}), None)
            .unwrap_err()
            .to_string();
        assert!(error.contains("found ConfigMap in v1"), "{error}");

        let mut none_served = crd(json!({"type": "object"}));
        none_served["spec"]["versions"][0]["served"] = json!(false);
        let error = versions(&none_served, None).unwrap_err().to_string();
        assert!(error.contains("no version is served"), "{error}");
    }
}
