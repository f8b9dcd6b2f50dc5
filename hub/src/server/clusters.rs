//! Cluster registration: creating a cluster returns a one-time registration token
//! (`ghqa_reg_` + 64 hex, valid one hour, single use, stored hashed) and a ready-to-paste
//! install command; `join-token` re-issues one (revoking the previous); `rotate-token` asks a
//! connected agent to switch to a new agent token. The runtime routes read what the cluster's
//! agent reports (health, inventory, Argo CD applications), relay inspection and log requests
//! to it, and govern the commands sent to it ([`super::agents::commands`]).

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json as AxumJson};
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::{Value as Json, json};

use super::access::{Caller, Need, mint};
use super::agents::{Health, commands};
use super::error::{ApiError, ApiResult};
use super::resources::{self, kind};
use super::routes::{Params, Route, json, param, route};
use super::store::{AuditEntry, TokenKind, Tx, now};
use super::{Hub, REGISTRATION_TTL, blocking, body_json};
use axum::extract::Query;

/// A registration token and how to use it.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Registration {
    /// The cluster.
    pub cluster: Json,
    /// `ghqa_reg_` + 64 hex characters; single use; shown once.
    pub registration_token: String,
    /// When the token stops working (one hour).
    pub expires_at: String,
    /// A Helm command that installs the agent with this token.
    pub install_command: String,
}

/// The routes of this module.
pub(crate) fn routes() -> Vec<Route> {
    vec![
        route(
            Method::POST,
            "/api/v2/clusters",
            "clusters.create",
            Need::Operate,
            "Register a cluster: returns a one-time registration token and the install command",
        )
        .request(Some(super::routes::Body::Json(|g| {
            g.subschema_for::<resources::ClusterSpec>()
        })))
        .response(201, json::<Registration>())
        .handler(create),
        route(
            Method::POST,
            "/api/v2/clusters/{name}/join-token",
            "clusters.join-token",
            Need::Operate,
            "Issue a new registration token (the previous one stops working)",
        )
        .response(201, json::<Registration>())
        .handler(join_token),
        route(
            Method::POST,
            "/api/v2/clusters/{name}/rotate-token",
            "clusters.rotate-token",
            Need::Operate,
            "Rotate the agent's token (the old one keeps working for a grace period)",
        )
        .response(202, None)
        .handler(rotate_token),
        route(
            Method::GET,
            "/api/v2/clusters/{name}/status",
            "clusters.status",
            Need::OrgRead,
            "The agent's health (Connected, Lagging, Disconnected), last seen, uptime, version and capabilities",
        )
        .response(200, json::<AgentStatus>())
        .handler(status),
        route(
            Method::GET,
            "/api/v2/clusters/{name}/inventory",
            "clusters.inventory",
            Need::OrgRead,
            "The agent's last inventory: namespaces with counts per type, resources (?namespace=&type=)",
        )
        .handler(inventory),
        route(
            Method::GET,
            "/api/v2/clusters/{name}/applications",
            "clusters.applications",
            Need::OrgRead,
            "Argo CD Applications as the agent last reported them",
        )
        .handler(applications),
        route(
            Method::GET,
            "/api/v2/clusters/{name}/drift",
            "clusters.drift",
            Need::OrgRead,
            "Drift findings: live objects that differ from the hosted repositories (field by field), as the agent last compared them",
        )
        .handler(drift),
        route(
            Method::GET,
            "/api/v2/clusters/{name}/resources/{type}/{namespace}/{object}",
            "clusters.inspect",
            Need::Operate,
            "One live object (Secrets without their values), its events and what it owns, read by the agent now",
        )
        .handler(inspect),
        route(
            Method::GET,
            "/api/v2/clusters/{name}/logs/{namespace}/{pod}",
            "clusters.logs",
            Need::Operate,
            "A pod's log relayed by the agent as text/plain (?container=&tail=&follow=&limit=), in its allowed namespaces only",
        )
        .handler(logs),
        route(
            Method::POST,
            "/api/v2/clusters/{name}/commands",
            "clusters.commands.create",
            Need::Operate,
            "Ask for a command (sync, rollback, restart, scale); decided by the engine (command), sent to the agent when allowed",
        )
        .request(json::<commands::NewCommand>())
        .response(202, json::<commands::CommandView>())
        .handler(commands::create),
        route(
            Method::GET,
            "/api/v2/clusters/{name}/commands",
            "clusters.commands.list",
            Need::OrgRead,
            "The cluster's command history, newest first (?state=&limit=)",
        )
        .handler(commands::list),
        route(
            Method::GET,
            "/api/v2/clusters/{name}/commands/{command}",
            "clusters.commands.get",
            Need::OrgRead,
            "One command with its approvals, decisions, digest and output",
        )
        .response(200, json::<commands::CommandView>())
        .handler(commands::get),
        route(
            Method::POST,
            "/api/v2/clusters/{name}/commands/{command}/approve",
            "clusters.commands.approve",
            Need::Authenticated,
            "Approve a command waiting for approvals; it is decided again and sent when allowed",
        )
        .request(json::<commands::ApproveCommand>())
        .response(200, json::<commands::CommandView>())
        .handler(commands::approve),
    ]
}

/// An agent's health as the API shows it.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AgentStatus {
    /// The cluster.
    pub cluster: String,
    /// Connected, Lagging or Disconnected.
    pub health: Health,
    /// Whether an agent ever registered.
    pub registered: bool,
    /// The last message from the agent.
    pub last_seen_at: Option<String>,
    /// Seconds since then.
    pub last_seen_seconds_ago: Option<f64>,
    /// When the current session began.
    pub connected_at: Option<String>,
    /// Seconds the current session has lasted.
    pub connected_seconds: Option<i64>,
    /// Seconds since the agent process started.
    pub agent_uptime_seconds: Option<i64>,
    /// The agent's version.
    pub agent_version: Option<String>,
    /// Reported capabilities.
    pub capabilities: Vec<String>,
    /// Namespaces the agent reads diagnostics from.
    pub allowed_namespaces: Vec<String>,
    /// The heartbeat interval agents are asked to keep, in seconds.
    pub heartbeat_interval_seconds: u64,
}

fn cluster_named(tx: &Tx<'_>, caller: &Caller, name: &str) -> ApiResult<super::store::Resource> {
    let def = kind("cluster").ok_or_else(|| ApiError::internal("the cluster kind is missing"))?;
    resources::existing(tx, def, &caller.org.id, None, name)
}

/// What a named cluster's agent last reported (nothing, before its first report).
async fn reported(hub: &Hub, caller: Caller, name: String) -> ApiResult<super::store::AgentState> {
    blocking(
        hub,
        move |tx| {
            let cluster = cluster_named(tx, &caller, &name)?;
            Ok(tx.agent_state(&cluster.id)?.unwrap_or_default())
        },
        false,
    )
    .await
}

fn seconds_since(at: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(at)
        .ok()
        .map(|t| (chrono::Utc::now() - t.with_timezone(&chrono::Utc)).num_seconds())
}

async fn status(
    State(hub): State<Hub>,
    Extension(caller): Extension<Caller>,
    path: Params,
) -> ApiResult<Response> {
    let name = param(&path, "name");
    let (cluster, state) = blocking(
        &hub,
        move |tx| {
            let cluster = cluster_named(tx, &caller, &name)?;
            let state = tx.agent_state(&cluster.id)?;
            Ok((cluster, state))
        },
        false,
    )
    .await?;
    let (health, session) = hub.agents.health(&cluster.id, &hub.config.agents);
    let state = state.unwrap_or_default();
    let (last_seen, ago) = match &session {
        Some(s) => {
            let (instant, at) = s.last_seen();
            (Some(at), Some(instant.elapsed().as_secs_f64()))
        }
        None => (
            state.last_seen_at.clone(),
            state
                .last_seen_at
                .as_deref()
                .and_then(seconds_since)
                .map(|s| s as f64),
        ),
    };
    let body = AgentStatus {
        cluster: cluster.name.clone(),
        health,
        registered: state.registered_at.is_some() || state.connected_at.is_some(),
        last_seen_at: last_seen,
        last_seen_seconds_ago: ago,
        connected_at: session.as_ref().map(|s| s.connected_at.clone()),
        connected_seconds: session
            .as_ref()
            .and_then(|s| seconds_since(&s.connected_at)),
        agent_uptime_seconds: session
            .as_ref()
            .and(state.agent_started_at.as_deref())
            .and_then(seconds_since),
        agent_version: session
            .as_ref()
            .map(|s| s.agent_version.clone())
            .or(Some(state.agent_version.clone()).filter(|v| !v.is_empty())),
        capabilities: session
            .as_ref()
            .map(|s| s.capabilities.clone())
            .unwrap_or(state.capabilities),
        allowed_namespaces: session
            .as_ref()
            .map(|s| s.allowed_namespaces.clone())
            .unwrap_or(state.allowed_namespaces),
        heartbeat_interval_seconds: hub.config.agents.heartbeat.as_secs(),
    };
    Ok(AxumJson(body).into_response())
}

/// Filters of the inventory.
#[derive(Debug, serde::Deserialize)]
struct InventoryQuery {
    namespace: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
}

async fn inventory(
    State(hub): State<Hub>,
    Extension(caller): Extension<Caller>,
    path: Params,
    Query(q): Query<InventoryQuery>,
) -> ApiResult<Response> {
    let name = param(&path, "name");
    let state = reported(&hub, caller, name).await?;
    // Before the agent's first report: an empty inventory with no report time.
    let (mut inv, at) = state.inventory.zip(state.inventory_at).map_or(
        (json!({ "namespaces": [], "resources": [] }), None),
        |(i, t)| (i, Some(t)),
    );
    if let Some(list) = inv.get_mut("resources").and_then(Json::as_array_mut) {
        list.retain(|r| {
            q.namespace
                .as_deref()
                .is_none_or(|n| r.get("namespace").and_then(Json::as_str) == Some(n))
                && q.kind
                    .as_deref()
                    .is_none_or(|k| r.get("type").and_then(Json::as_str) == Some(k))
        });
    }
    inv["reportedAt"] = json!(at);
    Ok(AxumJson(inv).into_response())
}

async fn applications(
    State(hub): State<Hub>,
    Extension(caller): Extension<Caller>,
    path: Params,
) -> ApiResult<Response> {
    let name = param(&path, "name");
    let state = reported(&hub, caller, name).await?;
    let (items, at) = state
        .applications
        .zip(state.applications_at)
        .map_or((json!([]), None), |(a, t)| (a, Some(t)));
    Ok(AxumJson(json!({ "items": items, "reportedAt": at })).into_response())
}

async fn drift(
    State(hub): State<Hub>,
    Extension(caller): Extension<Caller>,
    path: Params,
) -> ApiResult<Response> {
    let name = param(&path, "name");
    let state = reported(&hub, caller, name).await?;
    let (mut report, at) = state.drift.zip(state.drift_at).map_or(
        (
            json!({ "findings": [], "revision": "", "compared": 0 }),
            None,
        ),
        |(d, t)| (d, Some(t)),
    );
    report["reportedAt"] = json!(at);
    Ok(AxumJson(report).into_response())
}

/// The live session of a named cluster, or 409 naming its health.
async fn live(
    hub: &Hub,
    caller: &Caller,
    name: &str,
) -> ApiResult<std::sync::Arc<super::agents::Session>> {
    let (c, n) = (caller.clone(), name.to_owned());
    let cluster = blocking(hub, move |tx| cluster_named(tx, &c, &n), false).await?;
    hub.agents.get(&cluster.id).ok_or_else(|| {
        ApiError::conflict(
            format!("Cluster `{name}`'s agent is not connected."),
            "Runtime requests go through the agent; retry when the cluster shows Connected.",
        )
    })
}

async fn inspect(
    State(hub): State<Hub>,
    Extension(caller): Extension<Caller>,
    path: Params,
) -> ApiResult<Response> {
    let (name, plural, ns, object) = (
        param(&path, "name"),
        param(&path, "type"),
        param(&path, "namespace"),
        param(&path, "object"),
    );
    let session = live(&hub, &caller, &name).await?;
    let detail = session
        .inspect(&plural, &ns, &object, std::time::Duration::from_secs(15))
        .await
        .ok_or_else(|| {
            ApiError::gated(
                StatusCode::GATEWAY_TIMEOUT,
                "agent_timeout",
                format!("Cluster `{name}`'s agent did not answer within 15 s."),
                "Retry; check the cluster's status.".into(),
                Json::Null,
            )
        })?;
    if !detail.error.is_empty() {
        return Err(ApiError::gated(
            StatusCode::BAD_GATEWAY,
            "agent_error",
            format!(
                "The agent could not read {plural}/{ns}/{object}: {}",
                detail.error
            ),
            "Check the name, the type and the agent's RBAC profile.".into(),
            Json::Null,
        ));
    }
    let object: Json = serde_json::from_str(&detail.object).map_err(ApiError::internal)?;
    let events: Vec<Json> = detail
        .events
        .iter()
        .filter_map(|e| serde_json::from_str(e).ok())
        .collect();
    let related: Vec<Json> = detail
        .related
        .iter()
        .filter_map(|e| serde_json::from_str(e).ok())
        .collect();
    Ok(AxumJson(json!({ "object": object, "events": events, "related": related })).into_response())
}

/// Options of a log request.
#[derive(Debug, serde::Deserialize)]
struct LogQuery {
    container: Option<String>,
    tail: Option<u32>,
    #[serde(default)]
    follow: bool,
    limit: Option<u32>,
}

async fn logs(
    State(hub): State<Hub>,
    Extension(caller): Extension<Caller>,
    path: Params,
    Query(q): Query<LogQuery>,
) -> ApiResult<Response> {
    let (name, ns, pod) = (
        param(&path, "name"),
        param(&path, "namespace"),
        param(&path, "pod"),
    );
    let session = live(&hub, &caller, &name).await?;
    if !session.allowed_namespaces.iter().any(|n| n == &ns) {
        return Err(ApiError::forbidden(
            format!("Namespace `{ns}` is not among cluster `{name}`'s diagnostics namespaces."),
            "The agent's chart sets them (diagnostics.allowedNamespaces).",
        ));
    }
    let mut rx = session
        .logs(gatehouse_agent_proto::v1::StreamLogs {
            request_id: String::new(),
            namespace: ns,
            pod,
            container: q.container.unwrap_or_default(),
            tail_lines: q.tail.unwrap_or(100),
            follow: q.follow,
            limit_lines: q.limit.unwrap_or(0),
        })
        .ok_or_else(|| {
            ApiError::conflict(
                "The agent's connection dropped.",
                "Retry when the cluster shows Connected.",
            )
        })?;
    // The first chunk decides the status: an error before any line is the request's failure.
    let first = tokio::time::timeout(std::time::Duration::from_secs(15), rx.recv())
        .await
        .ok()
        .flatten()
        .ok_or_else(|| {
            ApiError::gated(
                StatusCode::GATEWAY_TIMEOUT,
                "agent_timeout",
                format!("Cluster `{name}`'s agent did not start the log within 15 s."),
                "Retry; check the pod's name.".into(),
                Json::Null,
            )
        })?;
    if first.lines.is_empty() && !first.error.is_empty() {
        return Err(ApiError::gated(
            StatusCode::BAD_GATEWAY,
            "agent_error",
            first.error,
            "Check the pod and container names.".into(),
            Json::Null,
        ));
    }
    let stream = async_stream(first, rx);
    Response::builder()
        .header("content-type", "text/plain; charset=utf-8")
        .header("cache-control", "no-store")
        .body(axum::body::Body::from_stream(stream))
        .map_err(ApiError::internal)
}

/// Turns log chunks into body bytes, ending after the chunk marked `eof`.
fn async_stream(
    first: gatehouse_agent_proto::v1::LogChunk,
    rx: tokio::sync::mpsc::Receiver<gatehouse_agent_proto::v1::LogChunk>,
) -> impl tokio_stream::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    use tokio_stream::StreamExt;
    let text = |c: &gatehouse_agent_proto::v1::LogChunk| {
        let mut s: String = c.lines.iter().map(|l| format!("{l}\n")).collect();
        if !c.error.is_empty() {
            s.push_str(&format!("[log stream ended: {}]\n", c.error));
        }
        Bytes::from(s)
    };
    let done = first.eof;
    let head = tokio_stream::once(Ok(text(&first)));
    let rest = tokio_stream::wrappers::ReceiverStream::new(rx)
        .take_while(move |_| !done)
        .map(move |c| Ok(text(&c)));
    head.chain(rest)
}

fn registration(
    hub: &Hub,
    tx: &Tx<'_>,
    caller: &Caller,
    cluster: &super::store::Resource,
) -> ApiResult<Registration> {
    let at = now();
    tx.tokens_revoke_all(&caller.org.id, TokenKind::Registration, &cluster.id, &at)?;
    let expires = (chrono::Utc::now() + REGISTRATION_TTL)
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let minted = mint(
        &caller.org.id,
        TokenKind::Registration,
        &cluster.id,
        "registration",
        &caller.actor(),
        Some(expires.clone()),
    )?;
    tx.token_insert(&minted.record)?;
    tx.audit_append(
        &caller.org.id,
        &AuditEntry {
            actor: caller.actor(),
            action: "clusters.join-token".into(),
            resource: format!("cluster/{}", cluster.name),
            after: Some(json!({ "tokenId": minted.record.id, "expiresAt": expires })),
            ..AuditEntry::default()
        },
    )?;
    let c = &hub.config;
    let install_command = format!(
        "helm upgrade --install gatehouse-agent {chart} --namespace gatehouse-system --create-namespace \
         --set registrationToken=\"{token}\" --set hub.address=\"{addr}\" --set agent.clusterName=\"{name}\"",
        chart = c.agent_chart,
        token = minted.secret,
        addr = c.agent_address,
        name = cluster.name,
    );
    let def = kind("cluster").ok_or_else(|| ApiError::internal("the cluster kind is missing"))?;
    Ok(Registration {
        cluster: resources::view(def, cluster, None),
        registration_token: minted.secret,
        expires_at: expires,
        install_command,
    })
}

async fn create(
    State(hub): State<Hub>,
    Extension(caller): Extension<Caller>,
    bytes: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let body = body_json(bytes)?;
    let def = kind("cluster").ok_or_else(|| ApiError::internal("the cluster kind is missing"))?;
    let h = hub.clone();
    let reg = blocking(
        &hub,
        move |tx| {
            let (cluster, _) =
                resources::create_in(tx, def, &caller, None, body, "clusters.create")?;
            registration(&h, tx, &caller, &cluster)
        },
        true,
    )
    .await?;
    Ok((StatusCode::CREATED, AxumJson(reg)).into_response())
}

async fn join_token(
    State(hub): State<Hub>,
    Extension(caller): Extension<Caller>,
    path: Params,
) -> ApiResult<Response> {
    let name = param(&path, "name");
    let def = kind("cluster").ok_or_else(|| ApiError::internal("the cluster kind is missing"))?;
    let h = hub.clone();
    let reg = blocking(
        &hub,
        move |tx| {
            let cluster = resources::existing(tx, def, &caller.org.id, None, &name)?;
            registration(&h, tx, &caller, &cluster)
        },
        true,
    )
    .await?;
    Ok((StatusCode::CREATED, AxumJson(reg)).into_response())
}

async fn rotate_token(
    State(hub): State<Hub>,
    Extension(caller): Extension<Caller>,
    path: Params,
) -> ApiResult<Response> {
    let name = param(&path, "name");
    let def = kind("cluster").ok_or_else(|| ApiError::internal("the cluster kind is missing"))?;
    let c = caller.clone();
    let cluster = blocking(&hub, move |tx| {
        let cluster = resources::existing(tx, def, &c.org.id, None, &name)?;
        let at = now();
        let registered = tx
            .tokens_of(&c.org.id, TokenKind::Agent, &cluster.id)?
            .iter()
            .any(|t| t.usable(&at));
        if !registered {
            return Err(ApiError::conflict(
                format!("Cluster `{name}` has no registered agent, so there is no agent token to rotate."),
                format!("Install the agent with a registration token (POST /api/v2/clusters/{name}/join-token)."),
            ));
        }
        Ok(cluster)
    }, false)
    .await?;
    // A new agent token can only be handed to the agent over its live connection; without
    // one, issuing it would strand the agent when the old token expires.
    let body = commands::rotate(&hub, &caller, &cluster).await?;
    Ok((StatusCode::ACCEPTED, AxumJson(body)).into_response())
}
