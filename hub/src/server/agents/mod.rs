//! Cluster agents: the `agent.v1.AgentHub` gRPC service ([`service`]), served with TLS
//! ([`tls`]) on its own listener, and the registry of live agent sessions that the REST API
//! reads health from and sends commands, log and inspection requests through.
//!
//! Health comes from the session: Connected while messages arrive within twice the heartbeat
//! interval, Lagging after that, Disconnected when no session is open or nothing arrived
//! within the timeout (90 s by default; the hub then closes the session). What an agent last
//! reported (version, capabilities, inventory, Argo CD applications) is kept in the store, so
//! it survives the session and the hub.

pub(crate) mod commands;
pub(crate) mod desired;
pub(crate) mod service;
pub(crate) mod tls;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gatehouse_agent_proto::v1::{HubMessage, LogChunk, ResourceDetail, hub_message};
use schemars::JsonSchema;
use serde::Serialize;
use tokio::sync::{Notify, mpsc, oneshot};
use tonic::Status;

/// How the agent listener is secured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentTls {
    /// A certificate and key (PEM files) given by the operator.
    Files {
        /// The certificate chain.
        cert: std::path::PathBuf,
        /// The private key.
        key: std::path::PathBuf,
    },
    /// A CA and server certificate generated into the data directory on first start
    /// (`agent-ca.pem` is what agents trust, via GATEHOUSE_HUB_CA_FILE).
    Generated,
    /// No TLS (development only, explicitly asked for).
    Plaintext,
}

/// The agent side of the hub's configuration.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// Where the gRPC service listens; `None` serves no agents.
    pub listen: Option<std::net::SocketAddr>,
    /// How it is secured.
    pub tls: AgentTls,
    /// The heartbeat interval agents are told to keep.
    pub heartbeat: Duration,
    /// No message for this long and the session is closed (Disconnected).
    pub timeout: Duration,
    /// How long a command stays valid after it is issued.
    pub command_ttl: Duration,
    /// How long a rotated agent token keeps working.
    pub rotation_grace: Duration,
}

impl Default for AgentConfig {
    fn default() -> Self {
        AgentConfig {
            listen: None,
            tls: AgentTls::Generated,
            heartbeat: Duration::from_secs(30),
            timeout: Duration::from_secs(90),
            command_ttl: Duration::from_secs(300),
            rotation_grace: Duration::from_secs(600),
        }
    }
}

/// A cluster's connection health.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
pub(crate) enum Health {
    /// The agent is connected and its heartbeat is current.
    Connected,
    /// The agent is connected but its heartbeat is late.
    Lagging,
    /// No agent session, or no heartbeat within the timeout.
    Disconnected,
}

/// What a request relayed to the agent waits for.
#[derive(Debug)]
enum Waiter {
    Inspect(oneshot::Sender<ResourceDetail>),
    Logs(mpsc::Sender<LogChunk>),
}

/// One agent's live `Connect` stream.
#[derive(Debug)]
pub(crate) struct Session {
    /// Distinguishes this session from earlier ones of the same cluster.
    pub generation: u64,
    pub org_id: String,
    pub cluster_id: String,
    pub cluster_name: String,
    pub agent_version: String,
    pub capabilities: Vec<String>,
    pub allowed_namespaces: Vec<String>,
    /// When the session began.
    pub connected_at: String,
    tx: mpsc::Sender<Result<HubMessage, Status>>,
    last: Mutex<(Instant, String)>,
    waiters: Mutex<HashMap<String, Waiter>>,
    /// Signalled when a newer session of the same cluster replaces this one.
    pub(crate) replaced: Notify,
}

impl Session {
    /// Notes that the agent was heard from.
    pub(crate) fn touch(&self) {
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) =
            (Instant::now(), super::store::now());
    }

    /// When the agent was last heard from: (monotonic, RFC 3339).
    pub(crate) fn last_seen(&self) -> (Instant, String) {
        self.last.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Sends a message to the agent; false when the session is gone or its queue is full.
    pub(crate) fn send(&self, body: hub_message::Body) -> bool {
        self.tx
            .try_send(Ok(HubMessage { body: Some(body) }))
            .is_ok()
    }

    /// Ends the agent's stream with `status` (the agent sees the reason).
    pub(crate) fn close_with(&self, status: Status) {
        let _ = self.tx.try_send(Err(status));
    }

    fn wait(&self, id: &str, w: Waiter) {
        self.waiters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.to_owned(), w);
    }

    fn forget(&self, id: &str) {
        self.waiters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
    }

    /// Hands an inspection answer to whoever asked.
    pub(crate) fn resource(&self, detail: ResourceDetail) {
        let w = self
            .waiters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&detail.request_id);
        if let Some(Waiter::Inspect(tx)) = w {
            let _ = tx.send(detail);
        }
    }

    /// Hands a log chunk to whoever streams it; the last one ends the request.
    pub(crate) fn log(&self, chunk: LogChunk) {
        let mut waiters = self.waiters.lock().unwrap_or_else(|p| p.into_inner());
        let id = chunk.request_id.clone();
        let eof = chunk.eof;
        if let Some(Waiter::Logs(tx)) = waiters.get(&id)
            && tx.try_send(chunk).is_err()
        {
            // The client went away (or cannot keep up): stop relaying to it.
            waiters.remove(&id);
            return;
        }
        if eof {
            waiters.remove(&id);
        }
    }

    /// Asks the agent to inspect an object and waits (bounded) for the answer.
    pub(crate) async fn inspect(
        &self,
        plural: &str,
        namespace: &str,
        name: &str,
        within: Duration,
    ) -> Option<ResourceDetail> {
        let id = format!("req_{}", super::store::new_id());
        let (tx, rx) = oneshot::channel();
        self.wait(&id, Waiter::Inspect(tx));
        let sent = self.send(hub_message::Body::Inspect(
            gatehouse_agent_proto::v1::InspectResource {
                request_id: id.clone(),
                r#type: plural.to_owned(),
                namespace: namespace.to_owned(),
                name: name.to_owned(),
            },
        ));
        let answer = if sent {
            tokio::time::timeout(within, rx)
                .await
                .ok()
                .and_then(Result::ok)
        } else {
            None
        };
        self.forget(&id);
        answer
    }

    /// Asks the agent for a pod's log; chunks arrive on the returned channel until one has
    /// `eof` set.
    pub(crate) fn logs(
        &self,
        mut request: gatehouse_agent_proto::v1::StreamLogs,
    ) -> Option<mpsc::Receiver<LogChunk>> {
        let id = format!("req_{}", super::store::new_id());
        request.request_id = id.clone();
        let (tx, rx) = mpsc::channel(64);
        self.wait(&id, Waiter::Logs(tx));
        if self.send(hub_message::Body::StreamLogs(request)) {
            Some(rx)
        } else {
            self.forget(&id);
            None
        }
    }
}

/// Every live agent session, by cluster id.
#[derive(Debug, Default)]
pub(crate) struct Agents {
    sessions: Mutex<HashMap<String, Arc<Session>>>,
    generation: AtomicU64,
}

/// What a new session is opened with.
#[derive(Debug)]
pub(crate) struct Opening {
    pub org_id: String,
    pub cluster_id: String,
    pub cluster_name: String,
    pub agent_version: String,
    pub capabilities: Vec<String>,
    pub allowed_namespaces: Vec<String>,
}

impl Agents {
    /// Registers a new session for a cluster, replacing (and ending) an older one.
    pub(crate) fn open(
        &self,
        o: Opening,
        tx: mpsc::Sender<Result<HubMessage, Status>>,
    ) -> Arc<Session> {
        let session = Arc::new(Session {
            generation: self.generation.fetch_add(1, Ordering::Relaxed) + 1,
            org_id: o.org_id,
            cluster_id: o.cluster_id.clone(),
            cluster_name: o.cluster_name,
            agent_version: o.agent_version,
            capabilities: o.capabilities,
            allowed_namespaces: o.allowed_namespaces,
            connected_at: super::store::now(),
            tx,
            last: Mutex::new((Instant::now(), super::store::now())),
            waiters: Mutex::new(HashMap::new()),
            replaced: Notify::new(),
        });
        let old = self
            .sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(o.cluster_id, session.clone());
        if let Some(old) = old {
            old.close_with(Status::aborted(
                "a newer connection of this cluster's agent replaced this one",
            ));
            old.replaced.notify_one();
        }
        session
    }

    /// Removes a session if it is still the cluster's current one.
    pub(crate) fn close(&self, session: &Session) {
        let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        if sessions
            .get(&session.cluster_id)
            .is_some_and(|s| s.generation == session.generation)
        {
            sessions.remove(&session.cluster_id);
        }
    }

    /// The cluster's live session.
    pub(crate) fn get(&self, cluster_id: &str) -> Option<Arc<Session>> {
        self.sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(cluster_id)
            .cloned()
    }

    /// Ends every session (the hub is stopping); agents reconnect to the next hub.
    pub(crate) fn shutdown(&self) {
        for s in self.all() {
            s.close_with(Status::unavailable("the hub is shutting down; reconnect"));
            s.replaced.notify_one();
        }
    }

    /// How many sessions are open.
    pub(crate) fn count(&self) -> usize {
        self.sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len()
    }

    /// Every live session (for the periodic last-seen flush).
    pub(crate) fn all(&self) -> Vec<Arc<Session>> {
        self.sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect()
    }

    /// A cluster's health under `config`, with its live session if any.
    pub(crate) fn health(
        &self,
        cluster_id: &str,
        config: &AgentConfig,
    ) -> (Health, Option<Arc<Session>>) {
        let Some(session) = self.get(cluster_id) else {
            return (Health::Disconnected, None);
        };
        let age = session.last_seen().0.elapsed();
        let health = if age <= config.heartbeat * 2 {
            Health::Connected
        } else if age < config.timeout {
            Health::Lagging
        } else {
            Health::Disconnected
        };
        (health, Some(session))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opening(cluster: &str) -> Opening {
        Opening {
            org_id: "o".into(),
            cluster_id: cluster.into(),
            cluster_name: cluster.into(),
            agent_version: "1".into(),
            capabilities: vec![],
            allowed_namespaces: vec![],
        }
    }

    fn age(s: &Session, by: Duration) {
        s.last.lock().unwrap().0 = Instant::now() - by;
    }

    #[test]
    fn health_follows_the_last_message() {
        let config = AgentConfig {
            heartbeat: Duration::from_secs(30),
            timeout: Duration::from_secs(90),
            ..AgentConfig::default()
        };
        let agents = Agents::default();
        assert_eq!(agents.health("c1", &config).0, Health::Disconnected);
        let (tx, _rx) = mpsc::channel(4);
        let s = agents.open(opening("c1"), tx);
        assert_eq!(agents.health("c1", &config).0, Health::Connected);
        age(&s, Duration::from_secs(61));
        assert_eq!(agents.health("c1", &config).0, Health::Lagging);
        age(&s, Duration::from_secs(91));
        assert_eq!(agents.health("c1", &config).0, Health::Disconnected);
        s.touch();
        assert_eq!(agents.health("c1", &config).0, Health::Connected);
    }

    #[test]
    fn a_newer_session_replaces_the_older_one() {
        let agents = Agents::default();
        let (tx1, mut rx1) = mpsc::channel(4);
        let old = agents.open(opening("c1"), tx1);
        let (tx2, _rx2) = mpsc::channel(4);
        let new = agents.open(opening("c1"), tx2);
        assert_eq!(agents.count(), 1);
        assert_eq!(agents.get("c1").unwrap().generation, new.generation);
        // The old stream is told why it ends.
        let ended = rx1.try_recv().unwrap().unwrap_err();
        assert_eq!(ended.code(), tonic::Code::Aborted);
        // Closing the old session leaves the new one in place.
        agents.close(&old);
        assert_eq!(agents.get("c1").unwrap().generation, new.generation);
        agents.close(&new);
        assert!(agents.get("c1").is_none());
    }
}
