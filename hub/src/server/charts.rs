//! The chart registry: upload packaged chart versions (`helm package` archives), list them, and
//! list the workloads that consume a version. Versions are immutable once uploaded.

use std::io::Read;

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json as AxumJson};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value as Json, json};
use sha2::{Digest, Sha256};

use super::access::{Caller, Need};
use super::error::{ApiError, ApiResult};
use super::resources::{existing, kind};
use super::routes::{Body, Items, Params, Route, json, param, route};
use super::store::{AuditEntry, ChartVersion, now};
use super::{Hub, blocking, body_bytes};

/// Largest chart archive accepted.
pub(crate) const MAX_CHART_BYTES: usize = 8 * 1024 * 1024;
/// Largest unpacked chart.
const MAX_UNPACKED_BYTES: u64 = 64 * 1024 * 1024;

/// A chart version as listed.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct VersionView {
    /// Semantic version.
    pub version: String,
    /// The packaged application's version.
    pub app_version: Option<String>,
    /// Description from Chart.yaml.
    pub description: Option<String>,
    /// `sha256:` digest of the archive.
    pub digest: String,
    /// Archive size in bytes.
    pub size: i64,
    /// When uploaded.
    pub created_at: String,
    /// Who uploaded it.
    pub created_by: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ChartYaml {
    name: Option<String>,
    version: Option<String>,
    app_version: Option<String>,
    description: Option<String>,
}

fn version_view(v: &ChartVersion) -> VersionView {
    VersionView {
        version: v.version.clone(),
        app_version: v.app_version.clone(),
        description: v.description.clone(),
        digest: format!("sha256:{}", v.digest),
        size: v.size,
        created_at: v.created_at.clone(),
        created_by: v.created_by.clone(),
    }
}

/// The routes of this module.
pub(crate) fn routes() -> Vec<Route> {
    vec![
        route(
            Method::POST,
            "/api/v2/charts/{name}/versions",
            "charts.versions.create",
            Need::OrgAdmin,
            "Upload a chart version (the .tgz from `helm package`)",
        )
        .request(Some(Body::Binary("application/gzip")))
        .response(201, json::<VersionView>())
        .limit(MAX_CHART_BYTES)
        .handler(upload),
        route(
            Method::GET,
            "/api/v2/charts/{name}/versions",
            "charts.versions.list",
            Need::OrgRead,
            "List a chart's versions",
        )
        .response(200, json::<Items>())
        .handler(list),
        route(
            Method::GET,
            "/api/v2/charts/{name}/versions/{version}/consumers",
            "charts.versions.consumers",
            Need::OrgRead,
            "Workloads that use a chart version",
        )
        .response(200, json::<Items>())
        .handler(consumers),
    ]
}

/// Reads Chart.yaml and values.yaml out of a chart archive.
fn inspect(archive: &[u8]) -> ApiResult<(ChartYaml, Json)> {
    let bad = |m: String| ApiError::invalid("body", m);
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(archive).take(MAX_UNPACKED_BYTES));
    let mut chart = None;
    let mut values = None;
    let entries = tar
        .entries()
        .map_err(|e| bad(format!("not a gzipped tar archive: {e}")))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| bad(format!("the archive is damaged: {e}")))?;
        let path = entry
            .path()
            .map_err(|e| bad(e.to_string()))?
            .to_string_lossy()
            .into_owned();
        let parts: Vec<&str> = path.split('/').collect();
        if parts.len() != 2 {
            continue;
        }
        let want = matches!(parts.get(1), Some(&"Chart.yaml") | Some(&"values.yaml"));
        if !want {
            continue;
        }
        let mut text = String::new();
        entry
            .read_to_string(&mut text)
            .map_err(|e| bad(format!("{path} is not UTF-8 text: {e}")))?;
        if path.ends_with("Chart.yaml") {
            let c: ChartYaml = gatehouse_engine::yaml_from_str(&text)
                .map_err(|e| bad(format!("{path} is not valid: {e}")))?;
            chart = Some(c);
        } else {
            let v: Json = if text.trim().is_empty() {
                Json::Object(Default::default())
            } else {
                gatehouse_engine::yaml_from_str(&text)
                    .map_err(|e| bad(format!("{path} is not valid YAML: {e}")))?
            };
            values = Some(v);
        }
    }
    let chart = chart.ok_or_else(|| {
        bad("the archive has no <chart>/Chart.yaml; upload the .tgz made by `helm package`".into())
    })?;
    let values = match values {
        Some(Json::Null) | None => Json::Object(Default::default()),
        Some(v @ Json::Object(_)) => v,
        Some(_) => return Err(bad("values.yaml must be a mapping".into())),
    };
    Ok((chart, values))
}

fn semver_like(v: &str) -> bool {
    let core = v.split(['-', '+']).next().unwrap_or_default();
    let nums: Vec<&str> = core.split('.').collect();
    nums.len() == 3
        && nums
            .iter()
            .all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

async fn upload(
    State(hub): State<Hub>,
    Extension(caller): Extension<Caller>,
    path: Params,
    bytes: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let archive = body_bytes(bytes)?;
    let name = param(&path, "name");
    let (chart, values) = inspect(&archive)?;
    if chart.name.as_deref() != Some(name.as_str()) {
        return Err(ApiError::invalid(
            "Chart.yaml.name",
            format!(
                "the archive holds chart `{}`, not `{name}`",
                chart.name.unwrap_or_default()
            ),
        ));
    }
    let version = chart.version.clone().unwrap_or_default();
    if !semver_like(&version) {
        return Err(ApiError::invalid(
            "Chart.yaml.version",
            format!("`{version}` is not a semantic version (MAJOR.MINOR.PATCH)"),
        ));
    }
    // Every template must parse now, not at the first deploy: the error names file:line.
    let parsed = archive.clone();
    tokio::task::spawn_blocking(move || {
        let chart = gatehouse_render::chart::Chart::load_archive(&parsed)
            .map_err(|e| ApiError::invalid("body", format!("the chart cannot be loaded: {e}")))?;
        gatehouse_render::chart::Renderer::new(chart)
            .map(|_| ())
            .map_err(|e| ApiError::invalid("body", format!("a template does not parse: {e}")))
    })
    .await
    .map_err(ApiError::internal)??;
    let def = kind("chart").ok_or_else(|| ApiError::internal("the chart kind is missing"))?;
    let view = blocking(
        &hub,
        move |tx| {
            let c = existing(tx, def, &caller.org.id, None, &name)?;
            let v = ChartVersion {
                version,
                app_version: chart.app_version,
                description: chart.description,
                digest: hex::encode(Sha256::digest(&archive)),
                size: archive.len() as i64,
                default_values: values,
                created_at: now(),
                created_by: caller.actor(),
            };
            tx.chart_version_insert(&c.id, &v, &archive)?;
            let view = version_view(&v);
            tx.audit_append(
                &caller.org.id,
                &AuditEntry {
                    actor: caller.actor(),
                    action: "charts.versions.create".into(),
                    resource: format!("chart/{name}/version/{}", v.version),
                    after: Some(serde_json::to_value(&view).map_err(ApiError::internal)?),
                    ..AuditEntry::default()
                },
            )?;
            Ok(view)
        },
        true,
    )
    .await?;
    Ok((StatusCode::CREATED, AxumJson(view)).into_response())
}

async fn list(
    State(hub): State<Hub>,
    Extension(caller): Extension<Caller>,
    path: Params,
) -> ApiResult<AxumJson<Json>> {
    let name = param(&path, "name");
    let def = kind("chart").ok_or_else(|| ApiError::internal("the chart kind is missing"))?;
    blocking(
        &hub,
        move |tx| {
            let c = existing(tx, def, &caller.org.id, None, &name)?;
            let items: Vec<VersionView> =
                tx.chart_versions(&c.id)?.iter().map(version_view).collect();
            Ok(AxumJson(json!({ "items": items })))
        },
        false,
    )
    .await
}

async fn consumers(
    State(hub): State<Hub>,
    Extension(caller): Extension<Caller>,
    path: Params,
) -> ApiResult<AxumJson<Json>> {
    let (name, version) = (param(&path, "name"), param(&path, "version"));
    let def = kind("chart").ok_or_else(|| ApiError::internal("the chart kind is missing"))?;
    blocking(
        &hub,
        move |tx| {
            let org = &caller.org.id;
            let c = existing(tx, def, org, None, &name)?;
            if !tx
                .chart_versions(&c.id)?
                .iter()
                .any(|v| v.version == version)
            {
                return Err(ApiError::not_found(format!(
                    "version {version} of chart `{name}`"
                )));
            }
            let mut items = Vec::new();
            for w in tx.resources_everywhere(org, "workload")? {
                let uses = w.spec.get("chart").and_then(Json::as_str) == Some(name.as_str())
                    && w.spec.get("chartVersion").and_then(Json::as_str) == Some(version.as_str());
                if uses {
                    let project = w
                        .project_id
                        .as_deref()
                        .map(|p| tx.resource_by_id(org, p))
                        .transpose()?
                        .flatten()
                        .map(|p| p.name);
                    items.push(json!({ "project": project, "workload": w.name }));
                }
            }
            Ok(AxumJson(json!({ "items": items })))
        },
        false,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert!(semver_like("1.2.3"));
        assert!(semver_like("0.1.0-rc.1+build.5"));
        assert!(!semver_like("1.2"));
        assert!(!semver_like("v1.2.3"));
    }
}
