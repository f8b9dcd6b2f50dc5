//! CustomResourceDefinitions: an organization uploads the CRDs its clusters serve, and every
//! deploy validates custom resources against them, as the API server would.
//!
//! A deploy's schemas are laid in three layers, later ones winning for the same kind and
//! version: the built-in kinds (`--k8s-schemas`), the organization's uploaded CRDs, and the CRDs
//! the deploy itself renders (a chart that ships its CRDs beside its custom resources). Without
//! `--k8s-schemas`, only custom resources with a known CRD are checked; built-in kinds then
//! pass unvalidated, as before any CRD was uploaded.
//!
//! An upload is compiled before it is stored, so a CRD that cannot validate anything is refused
//! with the reason, not found out at the next deploy.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use gatehouse_render::validate::Schemas;

use super::error::{ApiError, ApiResult};
use super::store::{Org, Tx};
use super::{Hub, resources};

/// The stored kind.
pub(crate) const KIND: &str = "crd";

/// An uploaded CustomResourceDefinition.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct CrdSpec {
    /// What the custom resources are for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) description: Option<String>,
    /// The CustomResourceDefinition (`apiextensions.k8s.io/v1`) as JSON, as `kubectl get crd
    /// NAME -o json` prints it. Each served version's `openAPIV3Schema` validates that
    /// version's custom resources.
    pub(crate) definition: Json,
}

/// Parses an uploaded spec strictly, then compiles its definition: a CRD that is not one, serves
/// no version, or has a schema that does not compile is refused naming `definition`.
pub(crate) fn parse(value: &Json) -> ApiResult<Json> {
    let spec: CrdSpec = serde_path_to_error::deserialize(value)
        .map_err(|e| ApiError::invalid(e.path().to_string(), e.inner().to_string()))?;
    Schemas::new()
        .add_crd(&spec.definition)
        .map_err(|e| ApiError::invalid("definition", e.to_string()))?;
    serde_json::to_value(spec).map_err(ApiError::internal)
}

/// A CRD's name is its `metadata.name`, `<plural>.<group>`: a DNS subdomain (up to 253
/// characters of dot-separated labels), unlike other objects' single labels.
pub(crate) fn check_name(name: &str) -> ApiResult<()> {
    if name.len() <= 253 && name.contains('.') && name.split('.').all(resources::is_dns_label) {
        return Ok(());
    }
    Err(ApiError::invalid(
        "name",
        format!(
            "`{name}` is not a CRD name: use the definition's metadata.name, `<plural>.<group>` \
             (lowercase letters, digits, '-' and '.')"
        ),
    ))
}

/// The object's name must be the definition's own, so that one CRD cannot be stored twice
/// under different names.
pub(crate) fn check_definition_name(name: &str, spec: &Json) -> ApiResult<()> {
    let defined = spec
        .pointer("/definition/metadata/name")
        .and_then(Json::as_str);
    if defined == Some(name) {
        return Ok(());
    }
    Err(ApiError::invalid(
        "definition.metadata.name",
        format!(
            "is {}, but the CRD is being stored as `{name}`: the two must be the same",
            defined.map_or_else(|| "missing".to_owned(), |d| format!("`{d}`"))
        ),
    ))
}

/// The schemas a deploy in `org` validates against: the hub's built-in kinds and the
/// organization's CRDs, or `None` when there are neither (nothing to validate against yet).
/// The deploy adds the CRDs it renders with [`Schemas::add_crds_from`].
pub(crate) fn deploy_schemas(hub: &Hub, tx: &Tx<'_>, org: &Org) -> ApiResult<Option<Schemas>> {
    let uploaded = tx.resources(&org.id, None, KIND)?;
    let mut schemas = match (&hub.schemas, uploaded.is_empty()) {
        (Some(schemas), _) => schemas.clone(),
        (None, true) => return Ok(None),
        (None, false) => Schemas::new().ignore_missing_schemas(true),
    };
    for crd in uploaded {
        let definition = crd.spec.get("definition").unwrap_or(&Json::Null);
        // Compiled at upload; a failure here means the built-in kinds it refers to changed.
        schemas.add_crd(definition).map_err(|e| {
            ApiError::new(
                axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                "crd_unusable",
                format!("The uploaded CRD {} cannot be used: {e}", crd.name),
                "Upload a corrected definition (PATCH /api/v2/crds/{name}) or delete it, then deploy again.",
            )
        })?;
    }
    Ok(Some(schemas))
}

fn schema(g: &mut schemars::SchemaGenerator) -> schemars::Schema {
    g.subschema_for::<CrdSpec>()
}

/// Whether any of the objects is a CustomResourceDefinition.
pub(crate) fn any_crd(objects: &[Json]) -> bool {
    objects
        .iter()
        .any(|o| o.get("kind").and_then(Json::as_str) == Some("CustomResourceDefinition"))
}

/// The kind's row in [`resources::KINDS`].
pub(crate) const fn kind() -> resources::KindDef {
    resources::KindDef {
        kind: KIND,
        plural: "crds",
        title: "CRD",
        in_project: false,
        schema_name: "CrdSpec",
        parse,
        schema,
        write: super::access::Grant::Write,
    }
}
