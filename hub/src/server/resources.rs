//! The object model: organization-level and project-level kinds, their fields, the references
//! between them, and the generic create/list/get/update/delete behind their routes.
//!
//! Each kind is a typed spec (strictly parsed: unknown fields and wrong types are refused with
//! the field's path) plus a row in [`KINDS`] that says where it lives, which references it must
//! satisfy and what stops it from being deleted. Objects are addressed by name; on the wire an
//! object is its spec's fields plus `id`, `name`, `version`, `createdAt`, `updatedAt` and
//! `createdBy`. Updates are JSON merge patches (RFC 7396) applied to the stored object inside
//! the write transaction, so concurrent patches of different fields both land; `If-Match`
//! makes an update conditional on the version the caller read.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json as AxumJson};
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json, json};

use super::access::{Caller, Grant};
use super::error::{ApiError, ApiResult};
use super::governance::{ApprovalPolicySpec, FreezeSpec};
use super::notify::NotificationSpec;
use super::store::{AuditEntry, Resource, Tx};
use super::{Hub, blocking, body_json};

/// A team: members and per-project grants.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TeamSpec {
    /// What the team is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Member user names.
    #[serde(default)]
    pub members: Vec<String>,
    /// Rights per project name.
    #[serde(default)]
    pub grants: BTreeMap<String, Vec<Grant>>,
}

/// A business tenant (a customer, a region).
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TenantSpec {
    /// Human-readable name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Labels for scoping.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// An ordered environment stage.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EnvironmentSpec {
    /// Order of promotion: lower ranks come first (dev 10, staging 20, production 30).
    pub rank: u32,
    /// Display colour, `#rrggbb`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub colour: Option<String>,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Marks production-like stages (shown prominently; policies can read it).
    #[serde(default)]
    pub protected: bool,
}

/// A chart in the registry (versions are uploaded separately).
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChartSpec {
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// A reusable Kustomize base: its files by path.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KustomizeBaseSpec {
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// File contents by relative path; must include `kustomization.yaml`.
    pub files: BTreeMap<String, String>,
}

/// A collection of raw Kubernetes manifests.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ManifestBundleSpec {
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// YAML files by relative path; every document needs apiVersion, kind and metadata.name.
    pub files: BTreeMap<String, String>,
}

/// A registered cluster.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClusterSpec {
    /// Human-readable name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// eks, gke, aks, on-prem, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// Region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// The environment it serves (a label for people; targets are set per project).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// Labels used by bindings and approval policies.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// A project.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProjectSpec {
    /// Human-readable name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Open a release by itself for each keyed values update (a CI image-update call), which
    /// then deploys once the gates let it.
    #[serde(default)]
    pub auto_release: bool,
    /// The promotion pipeline: the environment-to-environment edges changes may be promoted
    /// along, each with the approvals it needs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pipeline: Vec<PipelineEdge>,
    /// Which GitOps controller pulls the project's repository: the objects generated beside
    /// the manifests are Argo CD Applications (`argocd`, the default) or Flux Kustomizations
    /// (`flux`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adapter: Option<Adapter>,
}

/// A project's runtime adapter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Adapter {
    /// Argo CD `Application` objects.
    Argocd,
    /// Flux `Kustomization` objects and their `GitRepository`.
    Flux,
}

/// One edge of a project's promotion pipeline.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PipelineEdge {
    /// From this environment ...
    pub from: String,
    /// ... to this one.
    pub to: String,
    /// Approvals a promotion along this edge needs, besides any approval policy (0: none).
    #[serde(default)]
    pub approvals: u32,
    /// Teams whose members may give them (empty: any member).
    #[serde(default)]
    pub approver_teams: Vec<String>,
}

/// A project's use of an organization environment (same name), bound to a target cluster.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProjectEnvironmentSpec {
    /// The target cluster's name.
    pub cluster: String,
    /// Namespace for the project's objects (default: the project's name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// A project's link to an organization tenant (same name).
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProjectTenantSpec {
    /// Environments this tenant is delivered to (empty: all of the project's).
    #[serde(default)]
    pub environments: Vec<String>,
}

/// A Helm-chart workload.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WorkloadSpec {
    /// The organization chart's name.
    pub chart: String,
    /// An uploaded version of it.
    pub chart_version: String,
    /// Default values for every environment and tenant.
    #[serde(default = "empty_object")]
    pub values: Json,
}

fn empty_object() -> Json {
    Json::Object(Map::new())
}

/// What a binding applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum BindingKind {
    /// An organization Kustomize base.
    Kustomize,
    /// An organization manifest bundle.
    Manifests,
}

/// A Kustomize or manifest binding to tenant-environment pairs.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BindingSpec {
    /// What is bound.
    pub kind: BindingKind,
    /// The Kustomize base's or manifest bundle's name.
    pub source: String,
    /// Project tenants (empty: all).
    #[serde(default)]
    pub tenants: Vec<String>,
    /// Project environments (empty: all).
    #[serde(default)]
    pub environments: Vec<String>,
    /// Overlay files by path, applied on top of the source.
    #[serde(default)]
    pub overlay: BTreeMap<String, String>,
}

/// Where an HQ variable applies; the most specific match wins when resolving.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VariableScope {
    /// Project name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// Environment name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// Tenant name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// Workload (service) name; needs a project.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
}

/// An HQ variable, referenced in values as `{{hq.var.KEY}}`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VariableSpec {
    /// The variable's key: letters, digits and `_`, not starting with a digit.
    pub key: String,
    /// The value.
    pub value: String,
    /// Secret values are never returned by the API.
    #[serde(default)]
    pub secret: bool,
    /// Where it applies (empty: the whole organization).
    #[serde(default)]
    pub scope: VariableScope,
}

/// A machine identity for CI/CD.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServiceAccountSpec {
    /// What it is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Route actions it may perform: exact ids (`values.update`) or prefixes (`charts.*`).
    pub allowed_actions: Vec<String>,
    /// Projects it is confined to (empty: all).
    #[serde(default)]
    pub projects: Vec<String>,
}

/// One kind of object and its rules.
#[derive(Debug)]
pub struct KindDef {
    /// Stored kind.
    pub kind: &'static str,
    /// Collection path segment.
    pub plural: &'static str,
    /// Name in messages.
    pub title: &'static str,
    /// Lives inside a project.
    pub in_project: bool,
    /// The request schema's type name in the OpenAPI document.
    pub schema_name: &'static str,
    /// Parses and normalises a spec (strict, with field paths).
    pub parse: fn(&Json) -> ApiResult<Json>,
    /// The spec's JSON Schema.
    pub schema: fn(&mut schemars::SchemaGenerator) -> schemars::Schema,
    /// Creating and changing it needs this grant in its project (org kinds: admin).
    pub write: Grant,
}

fn parse_as<T: DeserializeOwned + Serialize>(value: &Json) -> ApiResult<Json> {
    let spec: T = serde_path_to_error::deserialize(value)
        .map_err(|e| ApiError::invalid(e.path().to_string(), e.inner().to_string()))?;
    serde_json::to_value(spec).map_err(ApiError::internal)
}

fn schema_of<T: JsonSchema>(g: &mut schemars::SchemaGenerator) -> schemars::Schema {
    g.subschema_for::<T>()
}

macro_rules! kind {
    ($kind:literal, $plural:literal, $title:literal, $in_project:literal, $spec:ty, $write:expr) => {
        KindDef {
            kind: $kind,
            plural: $plural,
            title: $title,
            in_project: $in_project,
            schema_name: stringify!($spec),
            parse: parse_as::<$spec>,
            schema: schema_of::<$spec>,
            write: $write,
        }
    };
}

/// Every generic kind.
pub static KINDS: &[KindDef] = &[
    kind!("team", "teams", "team", false, TeamSpec, Grant::Write),
    kind!(
        "tenant",
        "tenants",
        "tenant",
        false,
        TenantSpec,
        Grant::Write
    ),
    kind!(
        "environment",
        "environments",
        "environment",
        false,
        EnvironmentSpec,
        Grant::Write
    ),
    kind!("chart", "charts", "chart", false, ChartSpec, Grant::Write),
    kind!(
        "kustomize_base",
        "kustomize-bases",
        "Kustomize base",
        false,
        KustomizeBaseSpec,
        Grant::Write
    ),
    kind!(
        "manifest_bundle",
        "manifest-bundles",
        "manifest bundle",
        false,
        ManifestBundleSpec,
        Grant::Write
    ),
    kind!(
        "cluster",
        "clusters",
        "cluster",
        false,
        ClusterSpec,
        Grant::Write
    ),
    kind!(
        "variable",
        "variables",
        "variable",
        false,
        VariableSpec,
        Grant::Write
    ),
    kind!(
        "service_account",
        "service-accounts",
        "service account",
        false,
        ServiceAccountSpec,
        Grant::Write
    ),
    kind!(
        "approval_policy",
        "approval-policies",
        "approval policy",
        false,
        ApprovalPolicySpec,
        Grant::Write
    ),
    kind!(
        "freeze",
        "freezes",
        "freeze window",
        false,
        FreezeSpec,
        Grant::Write
    ),
    kind!(
        "notification",
        "notifications",
        "notification",
        false,
        NotificationSpec,
        Grant::Write
    ),
    super::crds::kind(),
    kind!(
        "project",
        "projects",
        "project",
        false,
        ProjectSpec,
        Grant::Write
    ),
    kind!(
        "project_environment",
        "environments",
        "project environment",
        true,
        ProjectEnvironmentSpec,
        Grant::Write
    ),
    kind!(
        "project_tenant",
        "tenants",
        "project tenant",
        true,
        ProjectTenantSpec,
        Grant::Write
    ),
    kind!(
        "workload",
        "workloads",
        "workload",
        true,
        WorkloadSpec,
        Grant::Write
    ),
    kind!(
        "binding",
        "bindings",
        "binding",
        true,
        BindingSpec,
        Grant::Write
    ),
];

/// The definition of a stored kind.
pub fn kind(kind: &str) -> Option<&'static KindDef> {
    KINDS.iter().find(|k| k.kind == kind)
}

/// Whether `name` is a DNS label: 1-63 lowercase letters, digits and '-', starting and ending
/// with a letter or digit.
pub(crate) fn is_dns_label(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

/// Names are DNS labels: they become namespaces, paths and Git directories.
pub fn check_name(name: &str) -> ApiResult<()> {
    if is_dns_label(name) {
        Ok(())
    } else {
        Err(ApiError::invalid(
            "name",
            format!(
                "`{name}` is not a valid name: use 1-63 lowercase letters, digits and '-', starting and ending with a letter or digit"
            ),
        ))
    }
}

/// The wire form of a stored object.
pub fn view(def: &KindDef, res: &Resource, project: Option<&str>) -> Json {
    let mut obj = Map::new();
    obj.insert("id".into(), json!(res.id));
    obj.insert("name".into(), json!(res.name));
    if let Some(p) = project {
        obj.insert("project".into(), json!(p));
    }
    if let Json::Object(spec) = &res.spec {
        for (k, v) in spec {
            obj.insert(k.clone(), v.clone());
        }
    }
    if def.kind == "variable" && res.spec.get("secret") == Some(&Json::Bool(true)) {
        obj.insert("value".into(), Json::Null);
    }
    if def.kind == "notification" && res.spec.get("secret").is_some() {
        obj.insert("secret".into(), json!("(set)"));
    }
    obj.insert("version".into(), json!(res.version));
    obj.insert("createdAt".into(), json!(res.created_at));
    obj.insert("updatedAt".into(), json!(res.updated_at));
    obj.insert("createdBy".into(), json!(res.created_by));
    Json::Object(obj)
}

/// The audit log's name for an object: `cluster/prod`, `project/shop/workload/api`.
pub fn audit_name(def: &KindDef, project: Option<&str>, name: &str) -> String {
    match project {
        Some(p) => format!("project/{p}/{}/{name}", def.kind),
        None => format!("{}/{name}", def.kind),
    }
}

/// The project named in a path, or 404.
pub fn project(tx: &Tx<'_>, org_id: &str, name: &str) -> ApiResult<Resource> {
    tx.resource(org_id, None, "project", name)?
        .ok_or_else(|| ApiError::not_found(format!("project `{name}`")))
}

/// An object by kind and name, or 404.
pub fn existing(
    tx: &Tx<'_>,
    def: &KindDef,
    org_id: &str,
    project_id: Option<&str>,
    name: &str,
) -> ApiResult<Resource> {
    tx.resource(org_id, project_id, def.kind, name)?
        .ok_or_else(|| ApiError::not_found(format!("{} `{name}`", def.title)))
}

fn need_ref(
    tx: &Tx<'_>,
    org: &str,
    project: Option<&str>,
    kind: &str,
    name: &str,
    field: &str,
    what: &str,
) -> ApiResult<Resource> {
    tx.resource(org, project, kind, name)?.ok_or_else(|| {
        ApiError::invalid(
            field,
            format!("there is no {what} named `{name}`; create it first"),
        )
    })
}

/// Checks a spec's references and invariants against the store.
fn validate(
    tx: &Tx<'_>,
    def: &KindDef,
    org: &str,
    project: Option<&Resource>,
    name: &str,
    spec: &Json,
    self_id: Option<&str>,
) -> ApiResult<()> {
    let pid = project.map(|p| p.id.as_str());
    match def.kind {
        super::crds::KIND => super::crds::check_definition_name(name, spec)?,
        "team" => {
            let t: TeamSpec = spec_as(spec)?;
            for (i, m) in t.members.iter().enumerate() {
                if tx.member(org, m)?.is_none() {
                    return Err(ApiError::invalid(
                        format!("members[{i}]"),
                        format!("`{m}` is not a member of the organization"),
                    ));
                }
            }
            for p in t.grants.keys() {
                need_ref(
                    tx,
                    org,
                    None,
                    "project",
                    p,
                    &format!("grants.{p}"),
                    "project",
                )?;
            }
        }
        "environment" => {
            let e: EnvironmentSpec = spec_as(spec)?;
            if let Some(c) = &e.colour {
                let ok = c.len() == 7
                    && c.starts_with('#')
                    && c.bytes().skip(1).all(|b| b.is_ascii_hexdigit());
                if !ok {
                    return Err(ApiError::invalid(
                        "colour",
                        format!("`{c}` is not a #rrggbb colour"),
                    ));
                }
            }
        }
        "kustomize_base" => {
            let k: KustomizeBaseSpec = spec_as(spec)?;
            if !["kustomization.yaml", "kustomization.yml", "Kustomization"]
                .iter()
                .any(|f| k.files.contains_key(*f))
            {
                return Err(ApiError::invalid(
                    "files",
                    "a Kustomize base needs a kustomization.yaml file",
                ));
            }
            for (path, text) in &k.files {
                check_path(path)?;
                if path.ends_with(".yaml") || path.ends_with(".yml") {
                    yaml_docs(text).map_err(|e| ApiError::invalid(format!("files.{path}"), e))?;
                }
            }
        }
        "manifest_bundle" => {
            let m: ManifestBundleSpec = spec_as(spec)?;
            if m.files.is_empty() {
                return Err(ApiError::invalid(
                    "files",
                    "a manifest bundle needs at least one file",
                ));
            }
            for (path, text) in &m.files {
                check_path(path)?;
                for (i, doc) in yaml_docs(text)
                    .map_err(|e| ApiError::invalid(format!("files.{path}"), e))?
                    .iter()
                    .enumerate()
                {
                    let name = doc.pointer("/metadata/name").and_then(Json::as_str);
                    if doc.get("apiVersion").and_then(Json::as_str).is_none()
                        || doc.get("kind").and_then(Json::as_str).is_none()
                        || name.is_none()
                    {
                        return Err(ApiError::invalid(
                            format!("files.{path}"),
                            format!(
                                "document {} needs apiVersion, kind and metadata.name",
                                i + 1
                            ),
                        ));
                    }
                }
            }
        }
        "variable" => {
            let v: VariableSpec = spec_as(spec)?;
            let key_ok = v
                .key
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && v.key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !key_ok {
                return Err(ApiError::invalid(
                    "key",
                    format!(
                        "`{}` is not a valid key: use letters, digits and '_'",
                        v.key
                    ),
                ));
            }
            let s = &v.scope;
            let p = match &s.project {
                Some(p) => Some(need_ref(
                    tx,
                    org,
                    None,
                    "project",
                    p,
                    "scope.project",
                    "project",
                )?),
                None => None,
            };
            if let Some(e) = &s.environment {
                need_ref(
                    tx,
                    org,
                    None,
                    "environment",
                    e,
                    "scope.environment",
                    "environment",
                )?;
            }
            if let Some(t) = &s.tenant {
                need_ref(tx, org, None, "tenant", t, "scope.tenant", "tenant")?;
            }
            if let Some(w) = &s.service {
                let Some(p) = &p else {
                    return Err(ApiError::invalid(
                        "scope.service",
                        "a service scope needs scope.project too",
                    ));
                };
                need_ref(
                    tx,
                    org,
                    Some(&p.id),
                    "workload",
                    w,
                    "scope.service",
                    "workload in that project",
                )?;
            }
            for other in tx.resources(org, None, "variable")? {
                if Some(other.id.as_str()) == self_id {
                    continue;
                }
                if let Ok(o) = serde_json::from_value::<VariableSpec>(other.spec)
                    && o.key == v.key
                    && o.scope == v.scope
                {
                    return Err(ApiError::conflict(
                        format!(
                            "Variable `{}` ({}) already sets `{}` in this scope.",
                            other.name, o.key, v.key
                        ),
                        "Update that variable instead, or narrow the scope.",
                    ));
                }
            }
        }
        "service_account" => {
            let s: ServiceAccountSpec = spec_as(spec)?;
            let known = super::routes::action_ids();
            for (i, a) in s.allowed_actions.iter().enumerate() {
                if !known.iter().any(|k| super::access::action_matches(a, k)) {
                    return Err(ApiError::invalid(
                        format!("allowedActions[{i}]"),
                        format!(
                            "`{a}` matches no API action; see the OpenAPI document's x-gatehouse-action values"
                        ),
                    ));
                }
            }
            for (i, p) in s.projects.iter().enumerate() {
                need_ref(
                    tx,
                    org,
                    None,
                    "project",
                    p,
                    &format!("projects[{i}]"),
                    "project",
                )?;
            }
        }
        "project" => {
            let p: ProjectSpec = spec_as(spec)?;
            for (i, e) in p.pipeline.iter().enumerate() {
                for (field, env) in [("from", &e.from), ("to", &e.to)] {
                    need_ref(
                        tx,
                        org,
                        None,
                        "environment",
                        env,
                        &format!("pipeline[{i}].{field}"),
                        "environment",
                    )?;
                }
                if e.from == e.to {
                    return Err(ApiError::invalid(
                        format!("pipeline[{i}]"),
                        "an edge goes from one environment to another",
                    ));
                }
                for (j, t) in e.approver_teams.iter().enumerate() {
                    need_ref(
                        tx,
                        org,
                        None,
                        "team",
                        t,
                        &format!("pipeline[{i}].approverTeams[{j}]"),
                        "team",
                    )?;
                }
            }
        }
        "notification" => {
            let n: NotificationSpec = spec_as(spec)?;
            n.check()?;
        }
        "approval_policy" => {
            let a: ApprovalPolicySpec = spec_as(spec)?;
            if a.quorum == 0 {
                return Err(ApiError::invalid(
                    "quorum",
                    "an approval policy needs a quorum of at least 1",
                ));
            }
            for (i, u) in a.eligible.users.iter().enumerate() {
                if tx.member(org, u)?.is_none() {
                    return Err(ApiError::invalid(
                        format!("eligible.users[{i}]"),
                        format!("`{u}` is not a member of the organization"),
                    ));
                }
            }
            for (i, t) in a.eligible.teams.iter().enumerate() {
                need_ref(
                    tx,
                    org,
                    None,
                    "team",
                    t,
                    &format!("eligible.teams[{i}]"),
                    "team",
                )?;
            }
        }
        "freeze" => {
            let f: FreezeSpec = spec_as(spec)?;
            f.check(name)?;
        }
        "project_environment" => {
            need_ref(
                tx,
                org,
                None,
                "environment",
                name,
                "name",
                "organization environment",
            )?;
            let e: ProjectEnvironmentSpec = spec_as(spec)?;
            need_ref(tx, org, None, "cluster", &e.cluster, "cluster", "cluster")?;
        }
        "project_tenant" => {
            need_ref(tx, org, None, "tenant", name, "name", "organization tenant")?;
            let t: ProjectTenantSpec = spec_as(spec)?;
            for (i, e) in t.environments.iter().enumerate() {
                need_ref(
                    tx,
                    org,
                    pid,
                    "project_environment",
                    e,
                    &format!("environments[{i}]"),
                    "environment in this project",
                )?;
            }
        }
        "workload" => {
            let w: WorkloadSpec = spec_as(spec)?;
            let chart = need_ref(tx, org, None, "chart", &w.chart, "chart", "chart")?;
            if !tx
                .chart_versions(&chart.id)?
                .iter()
                .any(|v| v.version == w.chart_version)
            {
                return Err(ApiError::invalid(
                    "chartVersion",
                    format!(
                        "chart `{}` has no version {}; upload it first",
                        w.chart, w.chart_version
                    ),
                ));
            }
            if !w.values.is_object() {
                return Err(ApiError::invalid("values", "values must be an object"));
            }
        }
        "binding" => {
            let b: BindingSpec = spec_as(spec)?;
            let (kind, what) = match b.kind {
                BindingKind::Kustomize => ("kustomize_base", "Kustomize base"),
                BindingKind::Manifests => ("manifest_bundle", "manifest bundle"),
            };
            need_ref(tx, org, None, kind, &b.source, "source", what)?;
            for (i, t) in b.tenants.iter().enumerate() {
                need_ref(
                    tx,
                    org,
                    pid,
                    "project_tenant",
                    t,
                    &format!("tenants[{i}]"),
                    "tenant in this project",
                )?;
            }
            for (i, e) in b.environments.iter().enumerate() {
                need_ref(
                    tx,
                    org,
                    pid,
                    "project_environment",
                    e,
                    &format!("environments[{i}]"),
                    "environment in this project",
                )?;
            }
            for path in b.overlay.keys() {
                check_path(path)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// A spec already parsed by its kind, as its type.
fn spec_as<T: DeserializeOwned>(spec: &Json) -> ApiResult<T> {
    T::deserialize(spec).map_err(ApiError::internal)
}

fn check_path(path: &str) -> ApiResult<()> {
    let bad = path.is_empty()
        || path.starts_with('/')
        || path
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == "..");
    if bad {
        return Err(ApiError::invalid(
            format!("files.{path}"),
            "file paths are relative, without '.', '..' or empty components",
        ));
    }
    Ok(())
}

fn yaml_docs(text: &str) -> Result<Vec<Json>, String> {
    let docs: Vec<Json> = gatehouse_engine::yaml_from_str_multiple(text)
        .map_err(|e| format!("not valid YAML: {e}"))?;
    Ok(docs.into_iter().filter(|d| !d.is_null()).collect())
}

/// What still refers to an object (deleting it would break them).
fn dependents(tx: &Tx<'_>, def: &KindDef, org: &str, res: &Resource) -> ApiResult<Vec<String>> {
    let mut out = Vec::new();
    let mut scan = |kind: &str, hit: &dyn Fn(&Resource) -> bool| -> ApiResult<()> {
        for r in tx.resources_everywhere(org, kind)? {
            if hit(&r) {
                let project = r
                    .project_id
                    .as_deref()
                    .and_then(|p| tx.resource_by_id(org, p).ok().flatten())
                    .map(|p| p.name);
                out.push(match project {
                    Some(p) => format!("{} `{}` in project `{p}`", kind.replace('_', " "), r.name),
                    None => format!("{} `{}`", kind.replace('_', " "), r.name),
                });
            }
        }
        Ok(())
    };
    let field_is = |field: &'static str, name: String| {
        move |r: &Resource| r.spec.get(field).and_then(Json::as_str) == Some(name.as_str())
    };
    match def.kind {
        "environment" => scan("project_environment", &|r: &Resource| r.name == res.name)?,
        "tenant" => scan("project_tenant", &|r: &Resource| r.name == res.name)?,
        "cluster" => scan(
            "project_environment",
            &field_is("cluster", res.name.clone()),
        )?,
        "chart" => scan("workload", &field_is("chart", res.name.clone()))?,
        "kustomize_base" | "manifest_bundle" => {
            let want = if def.kind == "kustomize_base" {
                "kustomize"
            } else {
                "manifests"
            };
            let name = res.name.clone();
            scan("binding", &move |r: &Resource| {
                r.spec.get("kind").and_then(Json::as_str) == Some(want)
                    && r.spec.get("source").and_then(Json::as_str) == Some(name.as_str())
            })?
        }
        "project_environment" | "project_tenant" => {
            let field = if def.kind == "project_environment" {
                "environments"
            } else {
                "tenants"
            };
            let name = res.name.clone();
            let pid = res.project_id.clone();
            scan("binding", &move |r: &Resource| {
                r.project_id == pid
                    && r.spec
                        .get(field)
                        .and_then(Json::as_array)
                        .is_some_and(|a| a.iter().any(|x| x.as_str() == Some(name.as_str())))
            })?
        }
        _ => {}
    }
    Ok(out)
}

/// Splits a create body into its name and spec.
fn split_name(def: &KindDef, mut body: Json) -> ApiResult<(String, Json)> {
    let Json::Object(obj) = &mut body else {
        return Err(ApiError::invalid(".", "the body must be a JSON object"));
    };
    let name = match obj.remove("name") {
        Some(Json::String(n)) => n,
        Some(_) => return Err(ApiError::invalid("name", "must be a string")),
        None => return Err(ApiError::invalid("name", "is required")),
    };
    if def.kind == super::crds::KIND {
        super::crds::check_name(&name)?;
    } else {
        check_name(&name)?;
    }
    Ok((name, body))
}

/// Applies a JSON merge patch (RFC 7396).
pub fn merge_patch(target: &mut Json, patch: &Json) {
    match patch {
        Json::Object(p) => {
            if !target.is_object() {
                *target = Json::Object(Map::new());
            }
            if let Json::Object(t) = target {
                for (k, v) in p {
                    if v.is_null() {
                        t.remove(k);
                    } else {
                        merge_patch(t.entry(k.clone()).or_insert(Json::Null), v);
                    }
                }
            }
        }
        other => *target = other.clone(),
    }
}

/// The version an `If-Match` header asks for, if any.
pub fn if_match(headers: &HeaderMap) -> ApiResult<Option<i64>> {
    let Some(v) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let text = v
        .to_str()
        .unwrap_or_default()
        .trim()
        .trim_start_matches("W/")
        .trim_matches('"');
    text.parse().map(Some).map_err(|_| {
        ApiError::invalid(
            "If-Match",
            "must be the object's version, e.g. \"3\" (the ETag of a GET)",
        )
    })
}

/// A JSON response with the object's version as its ETag.
pub fn with_etag(status: StatusCode, version: i64, body: Json) -> Response {
    (
        status,
        [(header::ETAG, format!("\"{version}\""))],
        AxumJson(body),
    )
        .into_response()
}

/// Path parameters of generic routes: `{project}` (project kinds) and `{name}`.
#[derive(Debug, Deserialize)]
pub struct Names {
    /// The project, for project kinds.
    pub project: Option<String>,
    /// The object.
    pub name: Option<String>,
}

fn project_of(tx: &Tx<'_>, def: &KindDef, org: &str, names: &Names) -> ApiResult<Option<Resource>> {
    match (def.in_project, &names.project) {
        (true, Some(p)) => Ok(Some(project(tx, org, p)?)),
        _ => Ok(None),
    }
}

/// `GET` a collection.
pub async fn list(
    def: &'static KindDef,
    hub: Hub,
    caller: Caller,
    names: Names,
) -> ApiResult<Response> {
    let items = blocking(
        &hub,
        move |tx| {
            let org = &caller.org.id;
            let p = project_of(tx, def, org, &names)?;
            let rows = tx.resources(org, p.as_ref().map(|p| p.id.as_str()), def.kind)?;
            Ok(rows
                .iter()
                .map(|r| view(def, r, p.as_ref().map(|p| p.name.as_str())))
                .collect::<Vec<_>>())
        },
        false,
    )
    .await?;
    Ok(AxumJson(json!({ "items": items })).into_response())
}

/// `GET` one object.
pub async fn get(
    def: &'static KindDef,
    hub: Hub,
    caller: Caller,
    names: Names,
) -> ApiResult<Response> {
    let (res, p) = blocking(
        &hub,
        move |tx| {
            let org = &caller.org.id;
            let p = project_of(tx, def, org, &names)?;
            let res = existing(
                tx,
                def,
                org,
                p.as_ref().map(|p| p.id.as_str()),
                names.name.as_deref().unwrap_or_default(),
            )?;
            Ok((res, p.map(|p| p.name)))
        },
        false,
    )
    .await?;
    Ok(with_etag(
        StatusCode::OK,
        res.version,
        view(def, &res, p.as_deref()),
    ))
}

/// Creates an object inside a write transaction with its audit entry; shared by the generic
/// route and routes that add to creation (clusters).
pub fn create_in(
    tx: &Tx<'_>,
    def: &'static KindDef,
    caller: &Caller,
    project: Option<&str>,
    body: Json,
    action: &str,
) -> ApiResult<(Resource, Option<String>)> {
    let org = &caller.org.id;
    let p = match (def.in_project, project) {
        (true, Some(p)) => Some(self::project(tx, org, p)?),
        _ => None,
    };
    let (name, spec) = split_name(def, body)?;
    let spec = (def.parse)(&spec)?;
    validate(tx, def, org, p.as_ref(), &name, &spec, None)?;
    let res = tx.resource_insert(
        org,
        p.as_ref().map(|p| p.id.as_str()),
        def.kind,
        &name,
        &spec,
        &caller.actor(),
    )?;
    let pname = p.map(|p| p.name);
    tx.audit_append(
        org,
        &AuditEntry {
            actor: caller.actor(),
            action: action.to_owned(),
            resource: audit_name(def, pname.as_deref(), &name),
            before: None,
            after: Some(view(def, &res, pname.as_deref())),
            decision_id: None,
        },
    )?;
    Ok((res, pname))
}

/// `POST` a collection.
pub async fn create(
    def: &'static KindDef,
    action: String,
    hub: Hub,
    caller: Caller,
    names: Names,
    body: Json,
) -> ApiResult<Response> {
    let (res, p) = blocking(
        &hub,
        move |tx| create_in(tx, def, &caller, names.project.as_deref(), body, &action),
        true,
    )
    .await?;
    Ok(with_etag(
        StatusCode::CREATED,
        res.version,
        view(def, &res, p.as_deref()),
    ))
}

/// `PATCH` one object with a JSON merge patch.
pub async fn update(
    def: &'static KindDef,
    action: String,
    hub: Hub,
    caller: Caller,
    names: Names,
    expected: Option<i64>,
    patch: Json,
) -> ApiResult<Response> {
    if !patch.is_object() {
        return Err(ApiError::invalid(
            ".",
            "the body must be a JSON merge patch object",
        ));
    }
    if patch
        .get("name")
        .is_some_and(|n| Some(n.as_str().unwrap_or_default()) != names.name.as_deref())
    {
        return Err(ApiError::invalid(
            "name",
            "objects cannot be renamed; create a new one and delete this one",
        ));
    }
    let (res, p) = blocking(
        &hub,
        move |tx| {
            let org = &caller.org.id;
            let p = project_of(tx, def, org, &names)?;
            let pid = p.as_ref().map(|p| p.id.as_str());
            let name = names.name.as_deref().unwrap_or_default();
            let current = existing(tx, def, org, pid, name)?;
            if let Some(v) = expected
                && v != current.version
            {
                return Err(ApiError::version_conflict(current.version));
            }
            let mut doc = current.spec.clone();
            let mut patch = patch;
            if let Json::Object(o) = &mut patch {
                o.remove("name");
            }
            merge_patch(&mut doc, &patch);
            let spec = (def.parse)(&doc)?;
            validate(tx, def, org, p.as_ref(), name, &spec, Some(&current.id))?;
            let pname = p.map(|p| p.name);
            let updated = tx.resource_update(&current, &spec)?;
            tx.audit_append(
                org,
                &AuditEntry {
                    actor: caller.actor(),
                    action: action.to_owned(),
                    resource: audit_name(def, pname.as_deref(), name),
                    before: Some(view(def, &current, pname.as_deref())),
                    after: Some(view(def, &updated, pname.as_deref())),
                    decision_id: None,
                },
            )?;
            Ok((updated, pname))
        },
        true,
    )
    .await?;
    Ok(with_etag(
        StatusCode::OK,
        res.version,
        view(def, &res, p.as_deref()),
    ))
}

/// `DELETE` one object, refused while others refer to it.
pub async fn delete(
    def: &'static KindDef,
    action: String,
    hub: Hub,
    caller: Caller,
    names: Names,
    expected: Option<i64>,
) -> ApiResult<Response> {
    blocking(
        &hub,
        move |tx| {
            let org = &caller.org.id;
            let p = project_of(tx, def, org, &names)?;
            let name = names.name.as_deref().unwrap_or_default();
            let current = existing(tx, def, org, p.as_ref().map(|p| p.id.as_str()), name)?;
            if let Some(v) = expected
                && v != current.version
            {
                return Err(ApiError::version_conflict(current.version));
            }
            let users = dependents(tx, def, org, &current)?;
            if !users.is_empty() {
                return Err(ApiError::conflict(
                    format!(
                        "The {} `{name}` is still used by {}.",
                        def.title,
                        users.join(", ")
                    ),
                    "Remove or change those first, then delete it.",
                )
                .with_detail(json!({ "usedBy": users })));
            }
            let pname = p.map(|p| p.name);
            tx.resource_delete(&current.id)?;
            if def.kind == "service_account" {
                for t in tx.tokens_of(org, super::store::TokenKind::ServiceAccount, &current.id)? {
                    tx.token_revoke(&t.id, &super::store::now())?;
                }
            }
            tx.audit_append(
                org,
                &AuditEntry {
                    actor: caller.actor(),
                    action: action.to_owned(),
                    resource: audit_name(def, pname.as_deref(), name),
                    before: Some(view(def, &current, pname.as_deref())),
                    after: None,
                    decision_id: None,
                },
            )?;
            Ok(())
        },
        true,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Axum glue: turns a kind and an operation into a handler.
pub mod handlers {
    use super::*;

    /// The shape every generic handler receives.
    pub type Parts = (
        State<Hub>,
        Extension<Caller>,
        Path<BTreeMap<String, String>>,
    );

    /// Path parameters as names.
    pub fn names(Path(p): Path<BTreeMap<String, String>>) -> Names {
        Names {
            project: p.get("project").cloned(),
            name: p.get("name").cloned(),
        }
    }

    /// Parses a request body for a generic handler.
    pub fn body(
        bytes: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
    ) -> ApiResult<Json> {
        body_json(bytes)
    }
}
