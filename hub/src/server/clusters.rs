//! Cluster registration: creating a cluster returns a one-time registration token
//! (`ghqa_reg_` + 64 hex, valid one hour, single use, stored hashed) and a ready-to-paste
//! install command; `join-token` re-issues one (revoking the previous); `rotate-token` asks a
//! connected agent to switch to a new agent token.

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
use super::error::{ApiError, ApiResult};
use super::resources::{self, kind};
use super::routes::{Params, Route, json, param, route};
use super::store::{AuditEntry, TokenKind, Tx, now};
use super::{Hub, REGISTRATION_TTL, blocking, body_json};

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
    ]
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
    blocking(&hub, move |tx| {
        let cluster = resources::existing(tx, def, &caller.org.id, None, &name)?;
        let at = now();
        let registered = tx
            .tokens_of(&caller.org.id, TokenKind::Agent, &cluster.id)?
            .iter()
            .any(|t| t.usable(&at));
        if !registered {
            return Err(ApiError::conflict(
                format!("Cluster `{name}` has no registered agent, so there is no agent token to rotate."),
                format!("Install the agent with a registration token (POST /api/v2/clusters/{name}/join-token)."),
            ));
        }
        // A new agent token can only be handed to the agent over its live connection; without
        // one, issuing it would strand the agent when the old token expires.
        Err(ApiError::conflict(
            format!("Cluster `{name}`'s agent is not connected, so it cannot receive a new token."),
            "Retry when the cluster shows Connected; the agent's current token keeps working.",
        ))
    }, false)
    .await
}
