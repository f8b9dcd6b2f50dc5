//! The hub server: `gatehouse serve`.
//!
//! A thin shell around the decision core and the store. [`routes`] declares every route once
//! (method, path, action id, required right, schemas); from that one table come the router,
//! the authorization of each request and the OpenAPI document. Handlers parse, ask the store or
//! the engine, and answer; the store runs on blocking threads so request threads never wait on
//! SQLite, and decisions run on them too so a slow policy never stalls the event loop.

pub mod access;
pub mod agents;
mod audit;
pub mod breakglass;
mod charts;
mod clusters;
mod crds;
mod delivery;
pub mod error;
pub mod governance;
mod identity;
pub mod notify;
mod observe;
pub mod openapi;
mod promotions;
mod releases;
pub mod resources;
pub mod routes;
pub mod signing;
pub mod store;
mod values;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use gatehouse_engine::Engine;
use serde_json::Value as Json;

use error::{ApiError, ApiResult};
use store::{Store, Tx};

pub use audit::verify as verify_audit;
pub use identity::bootstrap;

/// Organization and owner-token operations for `gatehouse admin`.
pub mod identity_admin {
    pub use super::identity::{admin_token, create_org};
}

/// How the hub is configured.
#[derive(Debug, Clone)]
pub struct HubConfig {
    /// Where the HTTP API listens.
    pub listen: SocketAddr,
    /// The data directory (the SQLite file lives here).
    pub data_dir: PathBuf,
    /// The agents' gRPC address, put into install commands.
    pub agent_address: String,
    /// The Helm chart reference of the agent, put into install commands.
    pub agent_chart: String,
    /// The agent service: listener, TLS, heartbeat and timeouts.
    pub agents: agents::AgentConfig,
    /// The hub's URL as GitOps controllers reach it (repositories are `<URL>/git/<project>`);
    /// `http://<listen>` when unset.
    pub public_url: Option<String>,
    /// The Kubernetes JSON schemas deploys are validated against, if any.
    pub k8s_schemas: Option<PathBuf>,
    /// CA certificates (PEM) trusted for https notification endpoints besides the system's.
    pub notify_ca: Option<PathBuf>,
    /// Largest request body accepted, in bytes (chart uploads have their own limit).
    pub max_body_bytes: usize,
    /// Serve the policy playground at `/playground` (public: it evaluates only what the visitor
    /// sends, in worker processes, and reads nothing from the store).
    pub playground: bool,
}

impl HubConfig {
    /// The store's file.
    pub fn database(&self) -> PathBuf {
        self.data_dir.join("gatehouse.db")
    }
}

/// Shared state of the running hub.
#[derive(Debug)]
pub struct HubState {
    /// The store.
    pub store: Store,
    /// The decision core, compiled once.
    pub engine: Engine,
    /// Configuration.
    pub config: HubConfig,
    /// Request and decision counters.
    pub(crate) metrics: observe::Metrics,
    /// One lock per governed target, so that concurrent changes of the same thing queue
    /// instead of racing between decision and write.
    pub(crate) targets: values::TargetLocks,
    /// Charts parsed for rendering, by archive digest.
    pub(crate) renderers: delivery::Renderers,
    /// The Kubernetes schemas deploys are validated against (`--k8s-schemas`).
    pub(crate) schemas: Option<gatehouse_render::validate::Schemas>,
    /// Live agent sessions.
    pub(crate) agents: agents::Agents,
    /// Signatures of signed requests seen recently (replays are refused).
    pub(crate) signatures: signing::Seen,
}

/// A handle on the hub's state (cheap to clone).
pub type Hub = Arc<HubState>;

impl HubState {
    /// Opens the store and compiles the engine.
    pub fn open(config: HubConfig, engine: Engine) -> Result<Hub> {
        std::fs::create_dir_all(&config.data_dir).with_context(|| {
            format!(
                "cannot create the data directory {}",
                config.data_dir.display()
            )
        })?;
        let schemas = config
            .k8s_schemas
            .as_deref()
            .map(|dir| {
                gatehouse_render::validate::Schemas::from_dir(dir).with_context(|| {
                    format!("cannot read the Kubernetes schemas in {}", dir.display())
                })
            })
            .transpose()?;
        let store = Store::open(&config.database())
            .with_context(|| format!("cannot open the store {}", config.database().display()))?;
        Ok(Arc::new(HubState {
            store,
            engine,
            config,
            metrics: observe::Metrics::default(),
            targets: values::TargetLocks::default(),
            renderers: delivery::Renderers::default(),
            schemas,
            agents: agents::Agents::default(),
            signatures: signing::Seen::default(),
        }))
    }
}

/// Runs `f` against the store on a blocking thread: a write transaction when `write`, else a
/// read snapshot.
pub(crate) async fn blocking<T: Send + 'static>(
    hub: &Hub,
    f: impl FnOnce(&Tx<'_>) -> ApiResult<T> + Send + 'static,
    write: bool,
) -> ApiResult<T> {
    let hub = hub.clone();
    tokio::task::spawn_blocking(move || {
        if write {
            hub.store.write(f)
        } else {
            hub.store.read(f)
        }
    })
    .await
    .map_err(ApiError::internal)?
}

/// Parses a JSON request body, mapping an oversized body to 413 and a malformed one to 400 at
/// its line and column.
pub(crate) fn body_json(bytes: Result<Bytes, BytesRejection>) -> ApiResult<Json> {
    let bytes = body_bytes(bytes)?;
    if bytes.is_empty() {
        return Err(ApiError::invalid(".", "the request needs a JSON body"));
    }
    serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::invalid(
            ".",
            format!(
                "not valid JSON at line {}, column {}: {e}",
                e.line(),
                e.column()
            ),
        )
    })
}

/// The raw body, or 413 when over the limit.
pub(crate) fn body_bytes(bytes: Result<Bytes, BytesRejection>) -> ApiResult<Bytes> {
    bytes.map_err(|e| {
        if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::gated(
                axum::http::StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "The request body is larger than this route accepts.".into(),
                "Send a smaller body; the limit is set with --max-body-bytes (chart uploads allow 8 MiB).".into(),
                Json::Null,
            )
        } else {
            ApiError::invalid(".", e.body_text())
        }
    })
}

/// Parses a typed request body strictly, naming the offending field.
pub(crate) fn parse_typed<T: serde::de::DeserializeOwned>(value: Json) -> ApiResult<T> {
    if !value.is_object() {
        return Err(ApiError::invalid(".", "the body must be a JSON object"));
    }
    serde_path_to_error::deserialize(value)
        .map_err(|e| ApiError::invalid(e.path().to_string(), e.inner().to_string()))
}

/// The whole HTTP application.
pub fn app(hub: Hub) -> Router {
    routes::router(hub)
}

/// Serves until SIGTERM or Ctrl-C, then drains in-flight requests and checkpoints the store.
pub async fn serve(hub: Hub) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(hub.config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", hub.config.listen))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, data_dir = %hub.config.data_dir.display(), "hub listening");
    let _deliveries = notify::spawn(hub.clone(), notify::Retry::default());
    let _sealer = breakglass::spawn_sealer(hub.clone());
    let (stop_agents, agents_stopped) = tokio::sync::watch::channel(false);
    let agent_server = match hub.config.agents.listen {
        None => None,
        Some(at) => {
            let tls = agents::tls::server_config(
                &hub.config.agents.tls,
                &hub.config.data_dir,
                &hub.config.agent_address,
            )?;
            let scheme = if tls.is_some() { "https" } else { "http" };
            let listener = tokio::net::TcpListener::bind(at)
                .await
                .with_context(|| format!("cannot listen for agents on {at}"))?;
            let agent_addr = listener.local_addr()?;
            match &hub.config.agents.tls {
                agents::AgentTls::Generated => outln!(
                    "Agent service (agent.v1.AgentHub) on {scheme}://{agent_addr}; agents trust {}",
                    agents::tls::ca_file(&hub.config.data_dir).display()
                )?,
                agents::AgentTls::Plaintext => outln!(
                    "Agent service (agent.v1.AgentHub) on {scheme}://{agent_addr} WITHOUT TLS (development only)"
                )?,
                agents::AgentTls::Files { .. } => {
                    outln!("Agent service (agent.v1.AgentHub) on {scheme}://{agent_addr}")?
                }
            }
            let mut stopped = agents_stopped.clone();
            let h = hub.clone();
            let shutdown = async move {
                let _ = stopped.wait_for(|s| *s).await;
                h.agents.shutdown();
            };
            Some(tokio::spawn(agents::service::serve(
                hub.clone(),
                listener,
                tls,
                shutdown,
            )))
        }
    };
    outln!(
        "Gatehouse hub listening on http://{addr} (API under /api/v2, OpenAPI at /api/v2/openapi.json)"
    )?;
    axum::serve(
        listener,
        app(hub.clone()).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        shutdown_signal().await;
        let _ = stop_agents.send(true);
    })
    .await
    .context("the server failed")?;
    if let Some(server) = agent_server {
        match tokio::time::timeout(Duration::from_secs(10), server).await {
            Ok(Ok(Err(e))) => tracing::error!(error = format!("{e:#}"), "the agent service failed"),
            Ok(_) => {}
            Err(_) => tracing::warn!("the agent service did not stop within 10 s"),
        }
    }
    tracing::info!("shutting down: draining done, checkpointing the store");
    let hub2 = hub.clone();
    tokio::task::spawn_blocking(move || hub2.store.checkpoint())
        .await?
        .context("cannot checkpoint the store")?;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutdown signal received");
}

/// How long a registration token lives.
pub const REGISTRATION_TTL: Duration = Duration::from_secs(3600);
