//! `agent.v1.AgentHub` on the hub: `Register` trades a registration token for an agent token;
//! `Connect` authenticates the agent token, waits for the agent's hello, and then reads what
//! the agent reports until the stream ends, it goes silent past the timeout, or it sends
//! something unreadable. Every refusal is logged with its reason and never affects other
//! sessions.

use std::pin::Pin;
use std::time::Duration;

use gatehouse_agent_proto::v1::agent_hub_server::{AgentHub, AgentHubServer};
use gatehouse_agent_proto::v1::agent_message::Body as Up;
use gatehouse_agent_proto::v1::hub_message::Body as Down;
use gatehouse_agent_proto::v1::{
    AgentMessage, HubMessage, RegisterRequest, RegisterResponse, Welcome,
};
use gatehouse_agent_proto::{AGENT_TOKEN_PREFIX, MAX_MESSAGE_BYTES, REGISTRATION_TOKEN_PREFIX};
use serde_json::json;
use tokio::sync::mpsc;
use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use super::{Opening, Session, commands};
use crate::server::Hub;
use crate::server::access::{hash_token, mint};
use crate::server::store::{AuditEntry, Resource, TokenKind, now};

/// How long the agent has to say hello after opening the stream.
const HELLO_WITHIN: Duration = Duration::from_secs(10);

/// The service, ready to add to a tonic server.
pub(crate) fn server(hub: Hub) -> AgentHubServer<Service> {
    AgentHubServer::new(Service { hub })
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES)
}

/// The `AgentHub` implementation.
#[derive(Debug, Clone)]
pub(crate) struct Service {
    hub: Hub,
}

fn bearer<T>(req: &Request<T>) -> Result<String, Status> {
    req.metadata()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(|t| t.trim().to_owned())
        .ok_or_else(|| Status::unauthenticated("send `authorization: Bearer <token>`"))
}

/// Runs store work on a blocking thread, mapping failures to gRPC statuses.
async fn store<T: Send + 'static>(
    hub: &Hub,
    write: bool,
    f: impl FnOnce(&crate::server::store::Tx<'_>) -> Result<T, Status> + Send + 'static,
) -> Result<T, Status> {
    let hub = hub.clone();
    tokio::task::spawn_blocking(move || {
        let run = |tx: &crate::server::store::Tx<'_>| -> Result<Result<T, Status>, crate::server::store::StoreError> { Ok(f(tx)) };
        let out = if write { hub.store.write(run) } else { hub.store.read(run) };
        out.map_err(|e| {
            tracing::error!(error = %e, "agent service: store failure");
            Status::unavailable("the hub's store is unavailable; retry")
        })?
    })
    .await
    .map_err(|_| Status::internal("the hub failed to process the request"))?
}

fn internal<E: std::fmt::Display>(e: E) -> Status {
    tracing::error!(error = %e, "agent service failure");
    Status::internal("the hub failed to process the request")
}

/// The cluster an agent token belongs to: (org id, cluster, token id).
async fn agent_of(hub: &Hub, token: String) -> Result<(String, Resource, String), Status> {
    if !token.starts_with(AGENT_TOKEN_PREFIX) || token.starts_with(REGISTRATION_TOKEN_PREFIX) {
        return Err(Status::unauthenticated(
            "the bearer token is not an agent token (ghqa_…)",
        ));
    }
    store(hub, false, move |tx| {
        let record = tx
            .token_by_hash(&hash_token(&token))
            .map_err(internal)?
            .filter(|t| t.kind == TokenKind::Agent)
            .ok_or_else(|| Status::unauthenticated("the agent token is not known to this hub"))?;
        if !record.usable(&now()) {
            return Err(Status::unauthenticated(
                "the agent token has expired or was revoked; re-issue a join token for the cluster",
            ));
        }
        let cluster = tx
            .resource_by_id(&record.org_id, &record.subject)
            .map_err(internal)?
            .ok_or_else(|| Status::unauthenticated("the agent token's cluster no longer exists"))?;
        Ok((record.org_id, cluster, record.id))
    })
    .await
}

type Outbound = Pin<Box<dyn Stream<Item = Result<HubMessage, Status>> + Send>>;

#[tonic::async_trait]
impl AgentHub for Service {
    async fn register(
        &self,
        req: Request<RegisterRequest>,
    ) -> Result<Response<RegisterResponse>, Status> {
        let token = bearer(&req)?;
        let peer = req.remote_addr();
        let body = req.into_inner();
        if !token.starts_with(REGISTRATION_TOKEN_PREFIX) {
            tracing::warn!(
                ?peer,
                "agent registration refused: not a registration token"
            );
            return Err(Status::unauthenticated(
                "the bearer token is not a registration token (ghqa_reg_…)",
            ));
        }
        let result = store(&self.hub, true, move |tx| {
            let record = tx
                .token_by_hash(&hash_token(&token))
                .map_err(internal)?
                .filter(|t| t.kind == TokenKind::Registration)
                .ok_or_else(|| Status::unauthenticated("the registration token is not known to this hub"))?;
            let at = now();
            if record.consumed_at.is_some() {
                return Err(Status::unauthenticated("the registration token was already used; issue a new one (POST /api/v2/clusters/{name}/join-token)"));
            }
            if !record.usable(&at) {
                return Err(Status::unauthenticated("the registration token has expired or was revoked; issue a new one (POST /api/v2/clusters/{name}/join-token)"));
            }
            let cluster = tx
                .resource_by_id(&record.org_id, &record.subject)
                .map_err(internal)?
                .ok_or_else(|| Status::not_found("the registration token's cluster no longer exists"))?;
            if !body.cluster_name.is_empty() && body.cluster_name != cluster.name {
                return Err(Status::invalid_argument(format!(
                    "this registration token is for cluster `{}`, but the agent was installed as `{}`; set agent.clusterName to `{}`",
                    cluster.name, body.cluster_name, cluster.name
                )));
            }
            if !tx.token_consume(&record.id).map_err(internal)? {
                return Err(Status::unauthenticated("the registration token was already used"));
            }
            // A new registration replaces any earlier agent of the cluster.
            tx.tokens_revoke_all(&record.org_id, TokenKind::Agent, &cluster.id, &at).map_err(internal)?;
            let minted = mint(&record.org_id, TokenKind::Agent, &cluster.id, "agent", &format!("agent:{}", cluster.name), None)
                .map_err(internal)?;
            tx.token_insert(&minted.record).map_err(internal)?;
            tx.agent_registered(&record.org_id, &cluster.id, &body.agent_version, &body.capabilities)
                .map_err(internal)?;
            let org = tx.org(&record.org_id).map_err(internal)?.ok_or_else(|| Status::not_found("the organization no longer exists"))?;
            tx.audit_append(
                &record.org_id,
                &AuditEntry {
                    actor: format!("agent:{}", cluster.name),
                    action: "agents.register".into(),
                    resource: format!("cluster/{}", cluster.name),
                    after: Some(json!({
                        "registrationTokenId": record.id,
                        "agentTokenId": minted.record.id,
                        "agentVersion": body.agent_version,
                        "capabilities": body.capabilities,
                    })),
                    ..AuditEntry::default()
                },
            )
            .map_err(internal)?;
            Ok(RegisterResponse {
                agent_token: minted.secret,
                cluster_id: cluster.id,
                cluster_name: cluster.name,
                organization: org.name,
            })
        })
        .await;
        match &result {
            Ok(r) => tracing::info!(cluster = %r.cluster_name, ?peer, "agent registered"),
            Err(s) => tracing::warn!(?peer, reason = %s.message(), "agent registration refused"),
        }
        result.map(Response::new)
    }

    type ConnectStream = Outbound;

    async fn connect(
        &self,
        req: Request<Streaming<AgentMessage>>,
    ) -> Result<Response<Outbound>, Status> {
        let peer = req.remote_addr();
        let token = bearer(&req)?;
        let (org_id, cluster, _token_id) = agent_of(&self.hub, token).await.inspect_err(|s| {
            tracing::warn!(?peer, reason = %s.message(), "agent stream refused");
        })?;
        let mut inbound = req.into_inner();
        let hello = match tokio::time::timeout(HELLO_WITHIN, inbound.message()).await {
            Ok(Ok(Some(AgentMessage {
                body: Some(Up::Hello(h)),
            }))) => h,
            Ok(Ok(Some(_))) => {
                return Err(refuse(
                    &cluster.name,
                    Status::invalid_argument("the first message on the stream must be hello"),
                ));
            }
            Ok(Ok(None)) => {
                return Err(refuse(
                    &cluster.name,
                    Status::cancelled("the agent closed the stream before saying hello"),
                ));
            }
            Ok(Err(s)) => {
                return Err(refuse(
                    &cluster.name,
                    Status::invalid_argument(format!("unreadable first message: {}", s.message())),
                ));
            }
            Err(_) => {
                return Err(refuse(
                    &cluster.name,
                    Status::deadline_exceeded("no hello within 10 s"),
                ));
            }
        };
        if hello.cluster_name != cluster.name {
            return Err(refuse(
                &cluster.name,
                Status::permission_denied(format!(
                    "this agent token belongs to cluster `{}`, not `{}`",
                    cluster.name, hello.cluster_name
                )),
            ));
        }
        let started = chrono::DateTime::from_timestamp_millis(hello.started_at_ms)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
        {
            let (o, c, h) = (org_id.clone(), cluster.id.clone(), hello.clone());
            store(&self.hub, true, move |tx| {
                tx.agent_connected(
                    &o,
                    &c,
                    &h.agent_version,
                    &h.capabilities,
                    &h.allowed_namespaces,
                    started.as_deref(),
                )
                .map_err(internal)
            })
            .await?;
        }
        let (tx, rx) = mpsc::channel(256);
        let session = self.hub.agents.open(
            Opening {
                org_id,
                cluster_id: cluster.id.clone(),
                cluster_name: cluster.name.clone(),
                agent_version: hello.agent_version.clone(),
                capabilities: hello.capabilities.clone(),
                allowed_namespaces: hello.allowed_namespaces.clone(),
            },
            tx,
        );
        session.send(Down::Welcome(Welcome {
            cluster_id: cluster.id.clone(),
            cluster_name: cluster.name.clone(),
            heartbeat_interval_seconds: self.hub.config.agents.heartbeat.as_secs().max(1) as u32,
        }));
        tracing::info!(cluster = %cluster.name, version = %hello.agent_version, ?peer, "agent connected");
        commands::dispatch_due(&self.hub, &session).await;
        super::desired::send(&self.hub, &session).await;
        let hub = self.hub.clone();
        tokio::spawn(async move { read(hub, session, inbound).await });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx)) as Outbound))
    }
}

fn refuse(cluster: &str, status: Status) -> Status {
    tracing::warn!(cluster, reason = %status.message(), "agent stream refused");
    status
}

/// Reads one session's messages until it ends.
async fn read(hub: Hub, session: std::sync::Arc<Session>, mut inbound: Streaming<AgentMessage>) {
    let timeout = hub.config.agents.timeout;
    let reason = loop {
        let next = tokio::select! {
            () = session.replaced.notified() => break "replaced by a newer connection".to_owned(),
            next = tokio::time::timeout(timeout, inbound.message()) => next,
        };
        match next {
            Err(_) => {
                session.close_with(Status::deadline_exceeded(format!(
                    "no heartbeat within {} s",
                    timeout.as_secs()
                )));
                break format!("no heartbeat within {} s", timeout.as_secs());
            }
            Ok(Ok(None)) => break "the agent closed the stream".to_owned(),
            Ok(Err(status)) => {
                session.close_with(Status::invalid_argument(format!(
                    "unreadable message: {}",
                    status.message()
                )));
                break format!("unreadable message: {}", status.message());
            }
            Ok(Ok(Some(AgentMessage { body: None }))) => {
                session.close_with(Status::invalid_argument("a message without a body"));
                break "a message without a body".to_owned();
            }
            Ok(Ok(Some(AgentMessage { body: Some(body) }))) => {
                session.touch();
                handle(&hub, &session, body).await;
            }
        }
    };
    hub.agents.close(&session);
    let (cluster_id, seen) = (session.cluster_id.clone(), session.last_seen().1);
    let _ = store(&hub, true, move |tx| {
        tx.agent_seen(&cluster_id, &seen, true).map_err(internal)
    })
    .await;
    tracing::info!(cluster = %session.cluster_name, %reason, "agent disconnected");
}

async fn handle(hub: &Hub, session: &std::sync::Arc<Session>, body: Up) {
    match body {
        Up::Heartbeat(_) | Up::Pong(_) => {}
        Up::Hello(_) => {
            tracing::warn!(cluster = %session.cluster_name, "a second hello on the same stream; ignored")
        }
        Up::Inventory(inv) => {
            let (id, doc) = (
                session.cluster_id.clone(),
                serde_json::to_value(&inv).unwrap_or_default(),
            );
            let _ = store(hub, true, move |tx| {
                tx.agent_inventory(&id, &doc).map_err(internal)
            })
            .await;
        }
        Up::Applications(apps) => {
            let (id, doc) = (
                session.cluster_id.clone(),
                serde_json::to_value(&apps.applications).unwrap_or_default(),
            );
            let _ = store(hub, true, move |tx| {
                tx.agent_applications(&id, &doc).map_err(internal)
            })
            .await;
        }
        Up::Drift(report) => {
            if !report.findings.is_empty() {
                tracing::info!(cluster = %session.cluster_name, findings = report.findings.len(), "drift found");
            }
            let (id, doc) = (
                session.cluster_id.clone(),
                serde_json::to_value(&report).unwrap_or_default(),
            );
            let _ = store(hub, true, move |tx| {
                tx.agent_drift(&id, &doc).map_err(internal)
            })
            .await;
        }
        Up::Ack(ack) => commands::acknowledged(hub, session, ack).await,
        Up::Result(result) => commands::finished(hub, session, result).await,
        Up::Log(chunk) => session.log(chunk),
        Up::Resource(detail) => session.resource(detail),
        Up::TokenRotated(r) => commands::token_rotated(hub, session, r).await,
    }
}

/// Serves the agent service on `listener` until `shutdown` completes; also flushes every live
/// session's last-seen time to the store every 15 s.
pub(crate) async fn serve(
    hub: Hub,
    listener: tokio::net::TcpListener,
    tls: Option<tonic::transport::ServerTlsConfig>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let flush = {
        let hub = hub.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(15));
            loop {
                every.tick().await;
                let seen: Vec<(String, String)> = hub
                    .agents
                    .all()
                    .iter()
                    .map(|s| (s.cluster_id.clone(), s.last_seen().1))
                    .collect();
                if seen.is_empty() {
                    continue;
                }
                let _ = store(&hub, true, move |tx| {
                    for (id, at) in &seen {
                        tx.agent_seen(id, at, false).map_err(internal)?;
                    }
                    Ok(())
                })
                .await;
            }
        })
    };
    let mut builder = tonic::transport::Server::builder()
        .http2_keepalive_interval(Some(Duration::from_secs(30)))
        .http2_keepalive_timeout(Some(Duration::from_secs(20)))
        .max_concurrent_streams(Some(16));
    if let Some(tls) = tls {
        builder = builder.tls_config(tls)?;
    }
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
    let result = builder
        .add_service(server(hub))
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await;
    flush.abort();
    result.map_err(Into::into)
}
