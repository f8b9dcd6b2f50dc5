//! The agent's life: obtain an identity (stored, or registered with the one-time token), then
//! hold a `Connect` stream to the hub, reconnecting with exponential backoff and jitter when
//! it drops. On the stream the agent sends its hello, heartbeats, inventory and Argo CD status,
//! and answers the hub: commands (checked, decided by the local policy, executed, reported),
//! token rotation, configuration, pings, log and inspection requests.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use chrono::Utc;
use futures_util::StreamExt;
use gatehouse_agent_proto::v1::agent_hub_client::AgentHubClient;
use gatehouse_agent_proto::v1::agent_message::Body as Up;
use gatehouse_agent_proto::v1::hub_message::Body as Down;
use gatehouse_agent_proto::v1::{
    AgentMessage, CommandAck, CommandResult, DesiredState, ExecuteCommand, Heartbeat, Hello,
    InspectResource, LogChunk, Pong, RegisterRequest, ResourceDetail, RotateToken, StreamLogs,
    TokenRotated,
};
use gatehouse_agent_proto::{Capability, CommandSpec, MAX_MESSAGE_BYTES, Refusal};
use tokio::sync::{Mutex, mpsc};
use tokio::task::JoinSet;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;
use tonic::{Code, Request, Status};

use crate::cluster::Cluster;
use crate::config::{Config, VERSION};
use crate::identity::{self, Identity};
use crate::policy::LocalPolicy;
use crate::transport;

/// Most log lines relayed for one request when the hub sets no limit.
pub const LOG_LINE_LIMIT: u32 = 10_000;
/// Longest a followed log is relayed for one request.
pub const LOG_FOLLOW_LIMIT: Duration = Duration::from_secs(15 * 60);
/// How many recent command ids the agent remembers to refuse replays.
const SEEN_COMMANDS: usize = 4_096;

/// A running agent.
#[derive(Debug)]
pub struct Agent {
    config: Config,
    cluster: Cluster,
    policy: LocalPolicy,
    store: identity::Store,
    identity: Mutex<Option<Identity>>,
    seen: std::sync::Mutex<(HashSet<String>, VecDeque<String>)>,
    started_at_ms: i64,
    /// The desired state the hub sent last, compared with the cluster at each report.
    desired: Mutex<Option<Arc<DesiredState>>>,
}

/// Why a session ended.
enum Ended {
    /// The hub closed the stream or the connection broke; `welcomed` says whether the hub had
    /// accepted the session first.
    Lost { welcomed: bool, reason: String },
    /// The hub refused the agent token.
    Unauthenticated(String),
}

impl Agent {
    /// Prepares an agent: compiles the local policy and opens the identity store.
    pub fn new(config: Config, client: kube::Client) -> Result<Arc<Agent>> {
        let policy = LocalPolicy::load(config.policy_dir.as_deref())?;
        tracing::info!(revision = policy.revision(), "local policy compiled");
        let store = identity::Store::new(config.identity.clone(), Some(client.clone()))?;
        let cluster = Cluster::new(client, config.argocd_namespace.clone());
        Ok(Arc::new(Agent {
            config,
            cluster,
            policy,
            store,
            identity: Mutex::new(None),
            seen: std::sync::Mutex::new((HashSet::new(), VecDeque::new())),
            started_at_ms: Utc::now().timestamp_millis(),
            desired: Mutex::new(None),
        }))
    }

    /// Runs until the process is stopped, or until the agent cannot go on (no identity and no
    /// usable registration token).
    pub async fn run(self: Arc<Self>) -> Result<()> {
        let mut backoff = Backoff::new(self.config.reconnect_initial, self.config.reconnect_max);
        let mut registered_this_run = false;
        loop {
            let identity = match self.identity().await? {
                Some(id) => id,
                None => {
                    let id = self.register(&mut backoff).await?;
                    registered_this_run = true;
                    id
                }
            };
            match self.session(&identity).await {
                Ok(Ended::Lost { welcomed, reason }) => {
                    if welcomed {
                        backoff.reset();
                    }
                    let wait = backoff.next();
                    tracing::warn!(%reason, retry_in_ms = wait.as_millis() as u64, "hub connection lost");
                    tokio::time::sleep(wait).await;
                }
                Ok(Ended::Unauthenticated(reason)) => {
                    // The stored identity was revoked (or belongs to another hub). A fresh
                    // registration token, if one was given, lets the agent join again.
                    if self.config.registration_token.is_some() && !registered_this_run {
                        tracing::warn!(%reason, "the hub refused the stored agent token; registering again");
                        *self.identity.lock().await = None;
                        self.register(&mut backoff).await?;
                        registered_this_run = true;
                        continue;
                    }
                    let wait = backoff.next();
                    tracing::error!(%reason, retry_in_ms = wait.as_millis() as u64,
                        "the hub refused the agent token; re-issue a join token for this cluster and restart the agent with it");
                    tokio::time::sleep(wait).await;
                }
                Err(e) => {
                    let wait = backoff.next();
                    tracing::warn!(
                        error = format!("{e:#}"),
                        retry_in_ms = wait.as_millis() as u64,
                        "cannot reach the hub"
                    );
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    /// The identity in memory, else the stored one.
    async fn identity(&self) -> Result<Option<Identity>> {
        let mut guard = self.identity.lock().await;
        if guard.is_none() {
            *guard = self.store.load().await?;
            if let Some(id) = guard.as_ref() {
                tracing::info!(cluster = %id.cluster_name, store = %self.store.describe(), "identity loaded");
            }
        }
        Ok(guard.clone())
    }

    /// Trades the registration token for an identity and stores it. Network trouble is retried
    /// with backoff; a refused token ends the agent with the hub's reason.
    async fn register(&self, backoff: &mut Backoff) -> Result<Identity> {
        let token = self.config.registration_token.clone().ok_or_else(|| {
            anyhow!(
                "the agent has no identity in {} and no registration token; set GATEHOUSE_REGISTRATION_TOKEN (POST /api/v2/clusters/{{name}}/join-token issues one)",
                self.store.describe()
            )
        })?;
        loop {
            let attempt = async {
                let mut client = self.client().await?;
                let mut req = Request::new(RegisterRequest {
                    cluster_name: self.config.cluster_name.clone(),
                    agent_version: VERSION.to_owned(),
                    capabilities: self.config.capability_names(),
                });
                bearer(&mut req, &token)?;
                client.register(req).await.map_err(anyhow::Error::from)
            };
            match attempt.await {
                Ok(resp) => {
                    let r = resp.into_inner();
                    let id = Identity {
                        agent_token: r.agent_token,
                        cluster_id: r.cluster_id,
                        cluster_name: r.cluster_name,
                        organization: r.organization,
                        issued_at: Utc::now().to_rfc3339(),
                    };
                    self.store.save(&id).await.with_context(|| {
                        format!(
                            "registered, but cannot store the identity in {}",
                            self.store.describe()
                        )
                    })?;
                    tracing::info!(cluster = %id.cluster_name, organization = %id.organization, store = %self.store.describe(), "registered with the hub");
                    *self.identity.lock().await = Some(id.clone());
                    backoff.reset();
                    return Ok(id);
                }
                Err(e) => {
                    if let Some(status) = e.downcast_ref::<Status>()
                        && permanent(status.code())
                    {
                        return Err(anyhow!(
                            "the hub refused the registration: {}",
                            status.message()
                        ));
                    }
                    let wait = backoff.next();
                    tracing::warn!(
                        error = format!("{e:#}"),
                        retry_in_ms = wait.as_millis() as u64,
                        "registration failed; retrying"
                    );
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    async fn client(&self) -> Result<AgentHubClient<Channel>> {
        let channel = transport::channel(&self.config).await?;
        Ok(AgentHubClient::new(channel)
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES))
    }

    /// One `Connect` stream, until it ends.
    async fn session(self: &Arc<Self>, identity: &Identity) -> Result<Ended> {
        let mut client = self.client().await?;
        let (tx, rx) = mpsc::channel::<AgentMessage>(256);
        send(
            &tx,
            Up::Hello(Hello {
                cluster_name: identity.cluster_name.clone(),
                agent_version: VERSION.to_owned(),
                capabilities: self.config.capability_names(),
                started_at_ms: self.started_at_ms,
                allowed_namespaces: self.config.allowed_namespaces.clone(),
            }),
        )
        .await;
        let mut req = Request::new(ReceiverStream::new(rx));
        bearer(&mut req, &identity.agent_token)?;
        let mut inbound = match client.connect(req).await {
            Ok(r) => r.into_inner(),
            Err(s) if s.code() == Code::Unauthenticated => {
                return Ok(Ended::Unauthenticated(s.message().to_owned()));
            }
            Err(s) => return Err(anyhow!("the hub refused the stream: {}", s.message())),
        };

        let mut tasks = JoinSet::new();
        let mut welcomed = false;
        let mut heartbeat = tokio::time::interval(self.config.status_interval);
        let mut inventory = tokio::time::interval(self.config.inventory_interval);
        let mut sequence = 0u64;
        loop {
            tokio::select! {
                msg = inbound.message() => match msg {
                    Ok(Some(m)) => match m.body {
                        Some(Down::Welcome(w)) => {
                            welcomed = true;
                            if w.heartbeat_interval_seconds > 0 {
                                heartbeat = interval(w.heartbeat_interval_seconds);
                            }
                            tracing::info!(cluster = %w.cluster_name, "connected to the hub");
                        }
                        Some(Down::Execute(cmd)) => {
                            let agent = self.clone();
                            let tx = tx.clone();
                            let id = identity.clone();
                            tasks.spawn(async move { agent.command(cmd, &id, &tx).await });
                        }
                        Some(Down::RotateToken(r)) => self.rotate(r, &tx).await,
                        Some(Down::Config(c)) => {
                            if c.heartbeat_interval_seconds > 0 {
                                heartbeat = interval(c.heartbeat_interval_seconds);
                            }
                            if c.inventory_interval_seconds > 0 {
                                inventory = interval(c.inventory_interval_seconds);
                            }
                        }
                        Some(Down::Ping(p)) => send(&tx, Up::Pong(Pong { nonce: p.nonce })).await,
                        Some(Down::StreamLogs(r)) => {
                            let agent = self.clone();
                            let tx = tx.clone();
                            tasks.spawn(async move { agent.logs(r, &tx).await });
                        }
                        Some(Down::Desired(d)) => {
                            *self.desired.lock().await = Some(Arc::new(d));
                            let agent = self.clone();
                            let tx = tx.clone();
                            tasks.spawn(async move { agent.drift(&tx).await });
                        }
                        Some(Down::Inspect(r)) => {
                            let agent = self.clone();
                            let tx = tx.clone();
                            tasks.spawn(async move { agent.inspect(r, &tx).await });
                        }
                        None => tracing::warn!("the hub sent an empty message"),
                    },
                    Ok(None) => return Ok(Ended::Lost { welcomed, reason: "the hub closed the stream".into() }),
                    Err(s) if s.code() == Code::Unauthenticated => return Ok(Ended::Unauthenticated(s.message().to_owned())),
                    Err(s) => return Ok(Ended::Lost { welcomed, reason: format!("{}: {}", s.code(), s.message()) }),
                },
                _ = heartbeat.tick() => {
                    sequence += 1;
                    send(&tx, Up::Heartbeat(Heartbeat { sequence, sent_at_ms: Utc::now().timestamp_millis() })).await;
                }
                _ = inventory.tick() => {
                    let agent = self.clone();
                    let tx = tx.clone();
                    tasks.spawn(async move { agent.report(&tx).await });
                }
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            }
        }
    }

    /// Compares the cluster with the last desired state and reports the drift.
    async fn drift(&self, tx: &mpsc::Sender<AgentMessage>) {
        if !self.config.has(Capability::Observe) {
            return;
        }
        let Some(desired) = self.desired.lock().await.clone() else {
            return;
        };
        let report = self.cluster.drift(&desired).await;
        send(tx, Up::Drift(report)).await;
    }

    /// Sends the inventory, Argo CD status and drift, as the capabilities allow.
    async fn report(&self, tx: &mpsc::Sender<AgentMessage>) {
        self.drift(tx).await;
        if self.config.has(Capability::Observe) {
            match self.cluster.inventory().await {
                Ok(inv) => send(tx, Up::Inventory(inv)).await,
                Err(e) => tracing::warn!(error = format!("{e:#}"), "inventory failed"),
            }
        }
        if self.config.has(Capability::ArgocdRead) {
            match self.cluster.applications().await {
                Ok(apps) => send(tx, Up::Applications(apps)).await,
                Err(e) => tracing::debug!(error = format!("{e:#}"), "no Argo CD applications"),
            }
        }
    }

    /// Checks, decides locally, executes and reports one command.
    async fn command(
        &self,
        msg: ExecuteCommand,
        identity: &Identity,
        tx: &mpsc::Sender<AgentMessage>,
    ) {
        let claimed_id = serde_json::from_str::<serde_json::Value>(&msg.spec)
            .ok()
            .and_then(|v| v.get("id").and_then(|i| i.as_str()).map(str::to_owned))
            .unwrap_or_default();
        let checked = CommandSpec::open(
            &msg,
            &identity.cluster_name,
            |c| self.config.has(c),
            Utc::now(),
        )
        .and_then(|spec| {
            if !self.first_time(&spec.id) {
                return Err(Refusal::Invalid(format!(
                    "command {} was already received; replays are refused",
                    spec.id
                )));
            }
            self.policy
                .check(&spec, &identity.organization)
                .map_err(Refusal::Policy)?;
            Ok(spec)
        });
        let spec = match checked {
            Ok(spec) => spec,
            Err(refusal) => {
                tracing::warn!(command = %claimed_id, reason = %refusal, "command refused");
                send(
                    tx,
                    Up::Ack(CommandAck {
                        command_id: claimed_id,
                        accepted: false,
                        reason: refusal.to_string(),
                    }),
                )
                .await;
                return;
            }
        };
        tracing::info!(command = %spec.id, kind = %spec.kind, target = format!("{}/{}", spec.target.namespace, spec.target.name), requested_by = %spec.requested_by, "executing command");
        send(
            tx,
            Up::Ack(CommandAck {
                command_id: spec.id.clone(),
                accepted: true,
                reason: String::new(),
            }),
        )
        .await;
        let result = match self.cluster.execute(&spec).await {
            Ok(output) => CommandResult {
                command_id: spec.id.clone(),
                succeeded: true,
                output,
            },
            Err(e) => CommandResult {
                command_id: spec.id.clone(),
                succeeded: false,
                output: format!("{e:#}"),
            },
        };
        tracing::info!(command = %spec.id, succeeded = result.succeeded, output = %result.output, "command finished");
        send(tx, Up::Result(result)).await;
    }

    /// Remembers a command id; false when it was seen before.
    fn first_time(&self, id: &str) -> bool {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let (set, order) = &mut *seen;
        if !set.insert(id.to_owned()) {
            return false;
        }
        order.push_back(id.to_owned());
        if order.len() > SEEN_COMMANDS
            && let Some(old) = order.pop_front()
        {
            set.remove(&old);
        }
        true
    }

    /// Stores a new agent token, then tells the hub, which retires the old one.
    async fn rotate(&self, r: RotateToken, tx: &mpsc::Sender<AgentMessage>) {
        if !self.config.has(Capability::TokenRotate) {
            tracing::warn!(
                "the hub asked to rotate the agent token, but token.rotate is not enabled; keeping the current token"
            );
            return;
        }
        if !r
            .agent_token
            .starts_with(gatehouse_agent_proto::AGENT_TOKEN_PREFIX)
        {
            tracing::warn!("the hub sent a rotation with a malformed token; ignored");
            return;
        }
        let mut guard = self.identity.lock().await;
        let Some(mut id) = guard.clone() else { return };
        id.agent_token = r.agent_token;
        id.issued_at = Utc::now().to_rfc3339();
        if let Err(e) = self.store.save(&id).await {
            tracing::error!(
                error = format!("{e:#}"),
                "cannot store the rotated token; the old one stays in use"
            );
            return;
        }
        *guard = Some(id);
        drop(guard);
        tracing::info!(token = %r.token_id, "agent token rotated");
        send(
            tx,
            Up::TokenRotated(TokenRotated {
                token_id: r.token_id,
            }),
        )
        .await;
    }

    /// Relays a pod's log to the hub in chunks.
    async fn logs(&self, r: StreamLogs, tx: &mpsc::Sender<AgentMessage>) {
        let fail = |error: String| LogChunk {
            request_id: r.request_id.clone(),
            lines: vec![],
            eof: true,
            error,
        };
        if !self.config.has(Capability::DiagnosticsRead) {
            send(
                tx,
                Up::Log(fail(
                    "this agent was not installed with diagnostics.read".into(),
                )),
            )
            .await;
            return;
        }
        if !self
            .config
            .allowed_namespaces
            .iter()
            .any(|n| n == &r.namespace)
        {
            send(
                tx,
                Up::Log(fail(format!(
                    "namespace {} is not among the agent's diagnostics namespaces",
                    r.namespace
                ))),
            )
            .await;
            return;
        }
        let container = Some(r.container.as_str()).filter(|c| !c.is_empty());
        let tail = (r.tail_lines > 0).then_some(i64::from(r.tail_lines));
        let limit = if r.limit_lines == 0 {
            LOG_LINE_LIMIT
        } else {
            r.limit_lines.min(LOG_LINE_LIMIT)
        };
        let mut lines = match self
            .cluster
            .logs(&r.namespace, &r.pod, container, tail, r.follow)
            .await
        {
            Ok(s) => s,
            Err(e) => {
                send(tx, Up::Log(fail(format!("{e:#}")))).await;
                return;
            }
        };
        let deadline = tokio::time::Instant::now() + LOG_FOLLOW_LIMIT;
        let mut sent = 0u32;
        let mut batch = Vec::new();
        let mut error = String::new();
        loop {
            let next = tokio::time::timeout(Duration::from_millis(200), lines.next());
            match tokio::time::timeout_at(deadline, next).await {
                Err(_) => break,
                Ok(Err(_)) => {}
                Ok(Ok(None)) => break,
                Ok(Ok(Some(Err(e)))) => {
                    error = e.to_string();
                    break;
                }
                Ok(Ok(Some(Ok(line)))) => {
                    batch.push(line);
                    sent += 1;
                    if sent >= limit {
                        break;
                    }
                    if batch.len() < 200 {
                        continue;
                    }
                }
            }
            if !batch.is_empty() {
                let chunk = LogChunk {
                    request_id: r.request_id.clone(),
                    lines: std::mem::take(&mut batch),
                    eof: false,
                    error: String::new(),
                };
                if tx
                    .send(AgentMessage {
                        body: Some(Up::Log(chunk)),
                    })
                    .await
                    .is_err()
                {
                    return;
                }
            }
        }
        send(
            tx,
            Up::Log(LogChunk {
                request_id: r.request_id,
                lines: batch,
                eof: true,
                error,
            }),
        )
        .await;
    }

    /// Answers an inspection request.
    async fn inspect(&self, r: InspectResource, tx: &mpsc::Sender<AgentMessage>) {
        let detail = if !self.config.has(Capability::Observe) {
            ResourceDetail {
                request_id: r.request_id,
                error: "this agent was not installed with observe".into(),
                ..Default::default()
            }
        } else {
            match self.cluster.inspect(&r.r#type, &r.namespace, &r.name).await {
                Ok((object, events)) => {
                    let kind = object
                        .get("kind")
                        .and_then(|k| k.as_str())
                        .unwrap_or_default();
                    let related = self
                        .cluster
                        .related(kind, &r.namespace, &r.name)
                        .await
                        .unwrap_or_default();
                    ResourceDetail {
                        request_id: r.request_id,
                        object: object.to_string(),
                        events: events.iter().map(|e| e.to_string()).collect(),
                        error: String::new(),
                        related: related.iter().map(|o| o.to_string()).collect(),
                    }
                }
                Err(e) => ResourceDetail {
                    request_id: r.request_id,
                    error: format!("{e:#}"),
                    ..Default::default()
                },
            }
        };
        send(tx, Up::Resource(detail)).await;
    }
}

fn interval(seconds: u32) -> tokio::time::Interval {
    let mut i = tokio::time::interval(Duration::from_secs(u64::from(seconds)));
    i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    i
}

async fn send(tx: &mpsc::Sender<AgentMessage>, body: Up) {
    // A closed channel means the session is ending; the message has nowhere to go.
    let _ = tx.send(AgentMessage { body: Some(body) }).await;
}

fn bearer<T>(req: &mut Request<T>, token: &str) -> Result<()> {
    let value = format!("Bearer {token}")
        .parse()
        .context("the token is not a valid header value")?;
    req.metadata_mut().insert("authorization", value);
    Ok(())
}

/// Errors retrying cannot fix.
fn permanent(code: Code) -> bool {
    matches!(
        code,
        Code::Unauthenticated
            | Code::PermissionDenied
            | Code::InvalidArgument
            | Code::FailedPrecondition
            | Code::NotFound
    )
}

/// Exponential backoff with full jitter between `initial` and the current ceiling.
#[derive(Debug)]
struct Backoff {
    initial: Duration,
    max: Duration,
    ceiling: Duration,
    seed: u64,
}

impl Backoff {
    fn new(initial: Duration, max: Duration) -> Backoff {
        let mut b = [0u8; 8];
        let _ = getrandom::fill(&mut b);
        Backoff {
            initial,
            max,
            ceiling: initial,
            seed: u64::from_le_bytes(b) | 1,
        }
    }

    fn reset(&mut self) {
        self.ceiling = self.initial;
    }

    fn next(&mut self) -> Duration {
        // xorshift: jitter only, not security.
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 7;
        self.seed ^= self.seed << 17;
        let span = self.ceiling.saturating_sub(self.initial / 2).as_millis() as u64;
        let wait = self.initial / 2 + Duration::from_millis(self.seed % span.max(1));
        self.ceiling = (self.ceiling * 2).min(self.max);
        wait
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_its_ceiling_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
        let waits: Vec<Duration> = (0..12).map(|_| b.next()).collect();
        assert!(
            waits
                .iter()
                .all(|w| *w >= Duration::from_millis(50) && *w <= Duration::from_secs(2)),
            "{waits:?}"
        );
        assert_eq!(b.ceiling, Duration::from_secs(2));
        b.reset();
        assert!(b.next() <= Duration::from_millis(100));
    }
}
