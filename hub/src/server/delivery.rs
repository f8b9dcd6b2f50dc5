//! The delivery generator in the hub: when a release deploys, the targets it touches are
//! rendered from the store's state (what is deployed, with the release's values laid over it),
//! every render goes through the render gate, and the result is committed to the project's
//! hosted repository in one commit, which Argo CD or Flux pull over Git smart HTTP.
//!
//! Rendering and gating run before anything is written: a blocked render commits nothing and
//! names the policy and the object. The repository moves by compare-and-swap on `main`, and
//! deploys of one project queue on a lock, so the commit and the store agree.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::Extension;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use gatehouse_engine::{Decision, Outcome};
use gatehouse_render::chart::{Chart, RenderOptions, Renderer};
use gatehouse_render::delivery::{
    Adapter, Binding, BindingKind, Environment, Level, Project, Scope, Target, Variable, Workload,
};
use gatehouse_render::validate::Schemas;
use serde_json::{Value as Json, json};

use super::access::{Caller, Need};
use super::error::{ApiError, ApiResult};
use super::resources::project;
use super::routes::{Params, Route, param, route};
use super::store::{Org, ReleaseRecord, Resource, Tx};
use super::{Hub, blocking, crds};
use crate::delivery::{GateScope, gate};
use crate::git::{self, HostedRepo, Signature};

/// The tenant of a project that has none.
const DEFAULT_TENANT: &str = "default";

/// Largest Git request body accepted (negotiations of long histories are larger than JSON).
const MAX_GIT_BODY: usize = git::MAX_REQUEST_BYTES;

/// How many parsed chart versions the hub keeps; the least recently used goes first.
const RENDERERS_KEPT: usize = 128;

/// Parsed charts by archive digest: a chart version is parsed once and kept while it is in use,
/// up to [`RENDERERS_KEPT`] versions.
#[derive(Debug, Default)]
pub(crate) struct Renderers(Mutex<RendererCache>);

#[derive(Debug, Default)]
struct RendererCache {
    /// Each renderer with the tick it was last used at.
    entries: HashMap<String, (Arc<Renderer>, u64)>,
    tick: u64,
}

impl RendererCache {
    fn get(&mut self, digest: &str) -> Option<Arc<Renderer>> {
        self.tick += 1;
        let tick = self.tick;
        self.entries.get_mut(digest).map(|(renderer, used)| {
            *used = tick;
            Arc::clone(renderer)
        })
    }

    fn insert(&mut self, digest: String, renderer: Arc<Renderer>) {
        while self.entries.len() >= RENDERERS_KEPT {
            let Some(oldest) = self
                .entries
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(d, _)| d.clone())
            else {
                break;
            };
            self.entries.remove(&oldest);
        }
        self.tick += 1;
        self.entries.insert(digest, (renderer, self.tick));
    }
}

impl Renderers {
    fn get(&self, digest: &str, archive: &[u8], what: &str) -> ApiResult<Arc<Renderer>> {
        if let Some(r) = self.0.lock().ok().and_then(|mut c| c.get(digest)) {
            return Ok(r);
        }
        let chart = Chart::load_archive(archive).map_err(|e| unrenderable(what, &e.to_string()))?;
        let renderer =
            Arc::new(Renderer::new(chart).map_err(|e| unrenderable(what, &e.to_string()))?);
        if let Ok(mut c) = self.0.lock() {
            c.insert(digest.to_owned(), renderer.clone());
        }
        Ok(renderer)
    }
}

fn unrenderable(what: &str, message: &str) -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "render_failed",
        format!("{what} cannot be rendered: {message}"),
        "Fix the chart or the values named in the message, then create a new release.",
    )
}

/// The project's hosted repository on disk.
pub(crate) fn repo_path(hub: &Hub, org: &Org, project: &Resource) -> PathBuf {
    hub.config
        .data_dir
        .join("repos")
        .join(&org.id)
        .join(format!("{}.git", project.id))
}

fn repo(hub: &Hub, org: &Org, project: &Resource) -> ApiResult<HostedRepo> {
    HostedRepo::open_or_init(&repo_path(hub, org, project)).map_err(ApiError::internal)
}

/// What a deploy will commit, once every render passed the gate.
#[derive(Debug)]
pub(crate) struct Plan {
    /// Files to write (Some) or delete (None).
    pub changes: BTreeMap<String, Option<Vec<u8>>>,
    /// The commit the plan was made against.
    pub head: Option<String>,
    /// What the changed paths hold at `head` (paths that do not exist there are absent).
    pub previous: BTreeMap<String, Vec<u8>>,
    /// Each target's render decision id.
    pub decisions: Vec<(String, String)>,
}

/// Why a deploy cannot commit.
#[derive(Debug)]
pub(crate) enum Blocked {
    /// A render gate denied (the target and its decision).
    Denied(String, Box<Decision>),
    /// Rendered objects do not match the Kubernetes schemas (the target and each problem).
    Invalid(String, Vec<String>),
}

/// Renders and gates every target the release touches. Runs on a blocking thread.
pub(crate) fn plan(
    hub: &Hub,
    tx: &Tx<'_>,
    org: &Org,
    project: &Resource,
    rel: &ReleaseRecord,
) -> ApiResult<Result<Plan, Blocked>> {
    let model = model(hub, tx, org, project, rel)?;
    let touched: Vec<(String, String, String)> = levels(rel)
        .into_iter()
        .map(|l| (l.workload, l.environment, l.tenant))
        .collect();
    let affected: Vec<Target> = model
        .targets()
        .into_iter()
        .filter(|t| {
            touched.iter().any(|(w, e, n)| {
                *w == t.workload
                    && (e.is_empty() || *e == t.environment)
                    && (n.is_empty() || *n == t.tenant)
            })
        })
        .collect();
    let repo = repo(hub, org, project)?;
    let head = repo.head().map_err(ApiError::internal)?;
    let mut existing = repo.files(head.as_deref()).map_err(ApiError::internal)?;
    let base = RenderOptions {
        revision: rel.number,
        now: chrono::DateTime::parse_from_rfc3339(&rel.created_at)
            .map(|t| t.timestamp())
            .unwrap_or(0),
        ..RenderOptions::default()
    };
    // Every target renders before any is judged: a CRD one target ships validates the custom
    // resources of all of them.
    let mut renders = Vec::with_capacity(affected.len());
    for target in &affected {
        let rendered = model
            .render(target, &base)
            .map_err(|e| unrenderable(&format!("workload {}", target.workload), &e.to_string()))?;
        renders.push((target, rendered));
    }
    let mut schemas = crds::deploy_schemas(hub, tx, org)?;
    for (target, rendered) in &renders {
        if !crds::any_crd(&rendered.objects) {
            continue;
        }
        let schemas = schemas.get_or_insert_with(|| Schemas::new().ignore_missing_schemas(true));
        if let Err(e) = schemas.add_crds_from(&rendered.objects) {
            return Ok(Err(Blocked::Invalid(target.dir(), vec![e.to_string()])));
        }
    }
    let mut changes: BTreeMap<String, Option<Vec<u8>>> = BTreeMap::new();
    let mut decisions = Vec::new();
    for (target, rendered) in &renders {
        let scope = GateScope {
            org: org.name.clone(),
            project: Some(project.name.clone()),
            environment: Some(target.environment.clone()),
            tenant: Some(target.tenant.clone()),
            workload: Some(target.workload.clone()),
        };
        if let Some(schemas) = &schemas {
            let problems = schemas.validate(&rendered.objects);
            if !problems.is_empty() {
                let problems = problems.iter().map(ToString::to_string).collect();
                return Ok(Err(Blocked::Invalid(target.dir(), problems)));
            }
        }
        let decision = gate(&hub.engine, &scope, &rendered.objects);
        if decision.outcome != Outcome::Allow {
            return Ok(Err(Blocked::Denied(target.dir(), Box::new(decision))));
        }
        decisions.push((target.dir(), decision.decision_id.clone()));
        let files = model.files(rendered);
        let dir = format!("{}/", target.dir());
        for path in existing.keys().filter(|p| p.starts_with(&dir)) {
            if !files.contains_key(path) {
                changes.insert(path.clone(), None);
            }
        }
        for (path, bytes) in files {
            changes.insert(path, Some(bytes));
        }
    }
    let previous = changes
        .keys()
        .filter_map(|path| existing.remove_entry(path))
        .collect();
    Ok(Ok(Plan {
        changes,
        head,
        previous,
        decisions,
    }))
}

/// One level a release sets: which workload, environment and tenant (empty: all), and the
/// values it will hold.
struct ReleaseLevel {
    workload_id: String,
    workload: String,
    environment: String,
    tenant: String,
    values: Json,
}

/// The levels a release sets, from its `targets`.
fn levels(rel: &ReleaseRecord) -> Vec<ReleaseLevel> {
    rel.targets
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| {
            let s = |k: &str| {
                t.get(k)
                    .and_then(Json::as_str)
                    .unwrap_or_default()
                    .to_owned()
            };
            ReleaseLevel {
                workload_id: s("workloadId"),
                workload: s("workload"),
                environment: s("environment"),
                tenant: s("tenant"),
                values: t.get("values").cloned().unwrap_or(json!({})),
            }
        })
        .collect()
}

/// Commits a plan: one commit on `main`, or none when nothing changed. Returns the commit.
pub(crate) fn commit(
    hub: &Hub,
    org: &Org,
    project: &Resource,
    rel: &ReleaseRecord,
    caller: &Caller,
    plan: &Plan,
) -> ApiResult<Option<String>> {
    let repo = repo(hub, org, project)?;
    let scope: Vec<String> = plan.decisions.iter().map(|(t, _)| t.clone()).collect();
    let message = format!(
        "Release #{} of {}: {}\n\nAuthor: {}\nScope: {}\nRelease: {}\nDecisions: {}\n",
        rel.number,
        project.name,
        rel.title,
        caller.actor(),
        scope.join(", "),
        rel.id,
        plan.decisions
            .iter()
            .map(|(_, d)| d.as_str())
            .collect::<Vec<_>>()
            .join(", "),
    );
    let signature = Signature {
        name: "Gatehouse".to_owned(),
        email: format!("{}@gatehouse.invalid", caller.actor().replace(':', ".")),
        seconds: chrono::Utc::now().timestamp(),
        offset_seconds: 0,
    };
    match repo.commit(&plan.changes, &signature, &message, plan.head.as_deref()) {
        Ok(git::CommitOutcome::Committed { commit, .. }) => Ok(Some(commit)),
        Ok(git::CommitOutcome::Unchanged { .. }) => Ok(None),
        Err(git::Error::Conflict { .. }) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "repository_moved",
            "The project's repository moved while the release rendered.",
            "Deploy again: the release renders against the new commit.",
        )),
        Err(e) => Err(ApiError::internal(e)),
    }
}

/// The project as the delivery generator sees it after `rel` deploys: deployed values, with
/// the release's values at the levels it changes.
fn model(
    hub: &Hub,
    tx: &Tx<'_>,
    org: &Org,
    project: &Resource,
    rel: &ReleaseRecord,
) -> ApiResult<Project> {
    let pid = Some(project.id.as_str());
    let environments = tx
        .resources(&org.id, pid, "project_environment")?
        .into_iter()
        .map(|e| Environment {
            cluster: e
                .spec
                .get("cluster")
                .and_then(Json::as_str)
                .map(str::to_owned),
            namespace: e
                .spec
                .get("namespace")
                .and_then(Json::as_str)
                .map(str::to_owned),
            name: e.name,
        })
        .collect();
    let mut tenants = Vec::new();
    let mut tenant_environments = BTreeMap::new();
    for t in tx.resources(&org.id, pid, "project_tenant")? {
        let envs: Vec<String> = t
            .spec
            .get("environments")
            .and_then(Json::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Json::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        tenant_environments.insert(t.name.clone(), envs);
        tenants.push(t.name);
    }
    if tenants.is_empty() {
        // A project without tenants delivers each workload once per environment.
        tenants.push(DEFAULT_TENANT.to_owned());
    }
    let release_levels: BTreeMap<(String, String, String), Json> = levels(rel)
        .into_iter()
        .map(|l| ((l.workload_id, l.environment, l.tenant), l.values))
        .collect();
    let mut workloads = Vec::new();
    let mut levels = Vec::new();
    for w in tx.resources(&org.id, pid, "workload")? {
        let chart_name = w
            .spec
            .get("chart")
            .and_then(Json::as_str)
            .unwrap_or_default();
        let version = w
            .spec
            .get("chartVersion")
            .and_then(Json::as_str)
            .unwrap_or_default();
        let what = format!("chart {chart_name} {version}");
        let chart = tx
            .resource(&org.id, None, "chart", chart_name)?
            .ok_or_else(|| unrenderable(&what, "the chart no longer exists"))?;
        let (digest, archive) = tx
            .chart_archive(&chart.id, version)?
            .ok_or_else(|| unrenderable(&what, "the version was never uploaded"))?;
        let renderer = hub.renderers.get(&digest, &archive, &what)?;
        let mut at_levels: BTreeMap<(String, String), Json> = BTreeMap::new();
        for (env, tenant, _) in tx.values_levels(&w.id)? {
            if let Some((deployed, _)) = tx.deployed_values(&w.id, &env, &tenant)? {
                at_levels.insert((env, tenant), deployed);
            }
        }
        for ((wid, env, tenant), values) in &release_levels {
            if *wid == w.id {
                at_levels.insert((env.clone(), tenant.clone()), values.clone());
            }
        }
        let workload_values = at_levels
            .remove(&(String::new(), String::new()))
            .unwrap_or_else(|| w.spec.get("values").cloned().unwrap_or(json!({})));
        for ((env, tenant), values) in at_levels {
            levels.push(Level {
                workload: w.name.clone(),
                environment: (!env.is_empty()).then_some(env),
                tenant: (!tenant.is_empty()).then_some(tenant),
                values,
            });
        }
        workloads.push(Workload {
            name: w.name,
            chart: renderer,
            values: workload_values,
            namespace: None,
        });
    }
    let variables = tx
        .resources(&org.id, None, "variable")?
        .into_iter()
        .filter_map(|v| {
            let s = |k: &str| v.spec.pointer(k).and_then(Json::as_str).map(str::to_owned);
            Some(Variable {
                key: s("/key")?,
                value: s("/value")?,
                scope: Scope {
                    project: s("/scope/project"),
                    environment: s("/scope/environment"),
                    tenant: s("/scope/tenant"),
                    service: s("/scope/service"),
                },
            })
        })
        .filter(|v| v.scope.project.as_deref().is_none_or(|p| p == project.name))
        .collect();
    let mut bindings = Vec::new();
    for b in tx.resources(&org.id, pid, "binding")? {
        let kind = match b.spec.get("kind").and_then(Json::as_str) {
            Some("kustomize") => BindingKind::Kustomize,
            _ => BindingKind::Manifests,
        };
        let source_kind = match kind {
            BindingKind::Kustomize => "kustomize_base",
            BindingKind::Manifests => "manifest_bundle",
        };
        let source = b
            .spec
            .get("source")
            .and_then(Json::as_str)
            .unwrap_or_default();
        let Some(src) = tx.resource(&org.id, None, source_kind, source)? else {
            continue;
        };
        let strings = |v: Option<&Json>| -> BTreeMap<String, String> {
            v.and_then(Json::as_object)
                .map(|m| {
                    m.iter()
                        .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_owned())))
                        .collect()
                })
                .unwrap_or_default()
        };
        let list = |k: &str| -> Vec<String> {
            b.spec
                .get(k)
                .and_then(Json::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Json::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default()
        };
        bindings.push(Binding {
            name: b.name.clone(),
            kind,
            files: Arc::new(
                strings(src.spec.get("files"))
                    .into_iter()
                    .map(|(k, v)| (k, v.into_bytes()))
                    .collect(),
            ),
            tenants: list("tenants"),
            environments: list("environments"),
            overlay: strings(b.spec.get("overlay")),
        });
    }
    Ok(Project {
        name: project.name.clone(),
        repo_url: format!("http://{}/git/{}", hub.config.listen, project.name),
        adapter: match project.spec.get("adapter").and_then(Json::as_str) {
            Some("flux") => Adapter::Flux,
            _ => Adapter::ArgoCd,
        },
        environments,
        tenants,
        tenant_environments,
        workloads,
        levels,
        variables,
        bindings,
    })
}

/// The routes of this module: the project's repository over Git smart HTTP (read-only).
pub(crate) fn routes() -> Vec<Route> {
    vec![
        route(
            Method::GET,
            "/git/{project}/info/refs",
            "projects.repository.read",
            Need::Project(super::access::Grant::Read),
            "Git smart HTTP: the repository's refs (`git clone http://HOST/git/PROJECT`)",
        )
        .handler(info_refs),
        route(
            Method::POST,
            "/git/{project}/git-upload-pack",
            "projects.repository.read",
            Need::Project(super::access::Grant::Read),
            "Git smart HTTP: fetch (upload-pack)",
        )
        .limit(MAX_GIT_BODY)
        .handler(upload_pack),
    ]
}

/// The `Git-Protocol` request header (`version=2`), if any.
fn git_protocol(headers: &HeaderMap) -> Option<String> {
    headers
        .get("git-protocol")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn git_error(e: git::Error) -> ApiError {
    if e.is_client_error() {
        ApiError::invalid(".", e.to_string())
    } else {
        ApiError::internal(e)
    }
}

#[derive(serde::Deserialize)]
struct ServiceQuery {
    service: Option<String>,
}

async fn info_refs(
    State(hub): State<Hub>,
    Extension(caller): Extension<Caller>,
    path: Params,
    axum::extract::Query(q): axum::extract::Query<ServiceQuery>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let name = param(&path, "project");
    git::check_service(q.service.as_deref()).map_err(git_error)?;
    let protocol = git_protocol(&headers);
    let body = blocking(
        &hub.clone(),
        move |tx| {
            let project = project(tx, &caller.org.id, &name)?;
            let repo = repo(&hub, &caller.org, &project)?;
            git::info_refs(&repo, protocol.as_deref()).map_err(git_error)
        },
        false,
    )
    .await?;
    Ok(git_response(git::ADVERTISEMENT_CONTENT_TYPE, body))
}

async fn upload_pack(
    State(hub): State<Hub>,
    Extension(caller): Extension<Caller>,
    path: Params,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> ApiResult<Response> {
    let name = param(&path, "project");
    let body = super::body_bytes(body)?;
    let gzip = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("gzip"));
    let protocol = git_protocol(&headers);
    let answer = blocking(
        &hub.clone(),
        move |tx| {
            let project = project(tx, &caller.org.id, &name)?;
            let repo = repo(&hub, &caller.org, &project)?;
            let body = if gzip {
                git::decode_gzip(&body, MAX_GIT_BODY).map_err(git_error)?
            } else {
                body.to_vec()
            };
            git::negotiate(&repo, protocol.as_deref(), &body).map_err(git_error)
        },
        false,
    )
    .await?;
    Ok(stream_answer(answer))
}

/// The size of the pieces an upload-pack answer is sent in.
const GIT_CHUNK: usize = 64 << 10;

/// Sends an upload-pack answer as it is written: a blocking thread writes it in
/// [`GIT_CHUNK`] pieces, at most a few of which wait for the client, so a clone of a large
/// repository is never held whole in memory. A failure part-way is logged and cuts the
/// response short, which the client reports as a broken pack.
fn stream_answer(answer: git::Answer) -> Response {
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(4);
    tokio::task::spawn_blocking(move || {
        let mut out = Chunks {
            tx: tx.clone(),
            buf: Vec::with_capacity(GIT_CHUNK),
        };
        let objects = answer.objects();
        let sent = answer.write_to(&mut out).and_then(|()| {
            std::io::Write::flush(&mut out).map_err(|e| git::Error::Storage {
                context: "the pack could not be sent",
                detail: e.to_string(),
            })
        });
        if let Err(e) = sent {
            tracing::warn!(error = %e, objects, "an upload-pack answer was cut short");
            let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
        }
    });
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, git::RESULT_CONTENT_TYPE),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        axum::body::Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx)),
    )
        .into_response()
}

/// A writer that hands what it is given to the response in [`GIT_CHUNK`] pieces, waiting
/// while the client is behind; it fails once the client is gone.
struct Chunks {
    tx: tokio::sync::mpsc::Sender<std::io::Result<Bytes>>,
    buf: Vec<u8>,
}

impl std::io::Write for Chunks {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= GIT_CHUNK {
            self.flush()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(
            &mut self.buf,
            Vec::with_capacity(GIT_CHUNK),
        ));
        self.tx.blocking_send(Ok(chunk)).map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client went away")
        })
    }
}

fn git_response(content_type: &'static str, body: Vec<u8>) -> Response {
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn renderer() -> Arc<Renderer> {
        let files = [(
            "Chart.yaml".to_owned(),
            b"apiVersion: v2\nname: c\nversion: 1.0.0\n".to_vec(),
        )];
        let chart = Chart::from_files("c", files.into_iter().collect()).unwrap();
        Arc::new(Renderer::new(chart).unwrap())
    }

    #[test]
    fn the_renderer_cache_keeps_the_most_recently_used() {
        let r = renderer();
        let mut cache = RendererCache::default();
        for i in 0..RENDERERS_KEPT {
            cache.insert(format!("d{i}"), r.clone());
        }
        assert!(cache.get("d0").is_some(), "d0 is now the most recent");
        cache.insert("new".to_owned(), r.clone());
        assert_eq!(cache.entries.len(), RENDERERS_KEPT);
        assert!(cache.get("d1").is_none(), "the least recently used went");
        assert!(cache.get("d0").is_some() && cache.get("new").is_some());
        assert!(cache.get("d2").is_some());
    }
}
