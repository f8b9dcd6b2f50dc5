//! The protocol from below: a raw `AgentHub` client (to send the hub what a real agent never
//! would), and a stand-in hub (to send the agent what a compromised hub might).

use std::collections::HashMap;
use std::pin::Pin;
use std::time::Duration;

use gatehouse_agent::Config;
use gatehouse_agent_proto::v1::agent_hub_client::AgentHubClient;
use gatehouse_agent_proto::v1::agent_hub_server::{AgentHub, AgentHubServer};
use gatehouse_agent_proto::v1::agent_message::Body as Up;
use gatehouse_agent_proto::v1::hub_message::Body as Down;
use gatehouse_agent_proto::v1::{
    AgentMessage, CommandAck, CommandResult, ExecuteCommand, Hello, HubMessage, RegisterRequest,
    RegisterResponse, Welcome,
};
use tokio::sync::mpsc;
use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;
use tonic::{Request, Response, Status, Streaming};

use crate::procs::Hub;

/// A TLS channel to the hub's agent service, trusting its generated CA.
pub(crate) async fn channel(hub: &Hub) -> Channel {
    let (address, ca) = (hub.agent_address.clone(), hub.ca().display().to_string());
    let config = Config::from_lookup(|k| match k {
        "GATEHOUSE_HUB_ADDRESS" => Some(address.clone()),
        "GATEHOUSE_HUB_CA_FILE" => Some(ca.clone()),
        _ => None,
    })
    .unwrap();
    gatehouse_agent::transport::channel(&config).await.unwrap()
}

fn hello(cluster: &str) -> AgentMessage {
    AgentMessage {
        body: Some(Up::Hello(Hello {
            cluster_name: cluster.to_owned(),
            agent_version: "test".into(),
            capabilities: vec!["observe".into()],
            started_at_ms: 0,
            allowed_namespaces: vec![],
        })),
    }
}

/// A live raw session: what to send, and what the hub sends back.
#[derive(Debug)]
pub(crate) struct Raw {
    pub tx: mpsc::Sender<AgentMessage>,
    pub rx: Streaming<HubMessage>,
}

/// Opens `Connect` with `token` and sends `first` (a hello for `cluster` when `None`).
pub(crate) async fn open(
    hub: &Hub,
    token: &str,
    first: Option<AgentMessage>,
    cluster: &str,
) -> Result<Raw, Status> {
    let mut client =
        AgentHubClient::new(channel(hub).await).max_encoding_message_size(64 * 1024 * 1024);
    let (tx, rx) = mpsc::channel(16);
    tx.send(first.unwrap_or_else(|| hello(cluster)))
        .await
        .unwrap();
    let mut req = Request::new(ReceiverStream::new(rx));
    req.metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    let resp = client.connect(req).await?;
    Ok(Raw {
        tx,
        rx: resp.into_inner(),
    })
}

/// Opens `Connect` and waits for the welcome: the hub accepted the session.
pub(crate) async fn connect(hub: &Hub, token: &str, cluster: &str) -> Result<Raw, Status> {
    let mut raw = open(hub, token, None, cluster).await?;
    match tokio::time::timeout(Duration::from_secs(10), raw.rx.message()).await {
        Ok(Ok(Some(HubMessage {
            body: Some(Down::Welcome(_)),
        }))) => Ok(raw),
        Ok(Ok(other)) => Err(Status::unknown(format!(
            "expected a welcome, got {other:?}"
        ))),
        Ok(Err(s)) => Err(s),
        Err(_) => Err(Status::deadline_exceeded("no welcome within 10 s")),
    }
}

/// Registers with a registration token; returns the agent token.
pub(crate) async fn register(
    hub: &Hub,
    registration: &str,
    cluster: &str,
) -> Result<String, Status> {
    let mut client = AgentHubClient::new(channel(hub).await);
    let mut req = Request::new(RegisterRequest {
        cluster_name: cluster.to_owned(),
        agent_version: "test".into(),
        capabilities: vec![],
    });
    req.metadata_mut().insert(
        "authorization",
        format!("Bearer {registration}").parse().unwrap(),
    );
    Ok(client.register(req).await?.into_inner().agent_token)
}

/// Waits (bounded) for the end of a session: the status it ended with.
pub(crate) async fn ended(raw: &mut Raw, within: Duration) -> Status {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, raw.rx.message()).await {
            Err(_) => panic!("the session did not end within {within:?}"),
            Ok(Ok(Some(_))) => continue,
            Ok(Ok(None)) => return Status::ok("ended without a status"),
            Ok(Err(s)) => return s,
        }
    }
}

// ----- a stand-in hub -----

/// What the stand-in hub heard from the agent.
#[derive(Debug)]
pub(crate) enum Heard {
    Ack(CommandAck),
    Result(CommandResult),
}

#[derive(Debug, Clone)]
struct StandIn {
    commands: Vec<ExecuteCommand>,
    heard: mpsc::Sender<Heard>,
}

type Outbound = Pin<Box<dyn Stream<Item = Result<HubMessage, Status>> + Send>>;

#[tonic::async_trait]
impl AgentHub for StandIn {
    async fn register(
        &self,
        req: Request<RegisterRequest>,
    ) -> Result<Response<RegisterResponse>, Status> {
        let cluster = req.into_inner().cluster_name;
        Ok(Response::new(RegisterResponse {
            agent_token: format!("ghqa_{}", "b".repeat(64)),
            cluster_id: "c-1".into(),
            cluster_name: cluster,
            organization: "acme".into(),
        }))
    }

    type ConnectStream = Outbound;

    async fn connect(
        &self,
        req: Request<Streaming<AgentMessage>>,
    ) -> Result<Response<Outbound>, Status> {
        let mut inbound = req.into_inner();
        let (tx, rx) = mpsc::channel(64);
        let welcome = HubMessage {
            body: Some(Down::Welcome(Welcome {
                cluster_id: "c-1".into(),
                cluster_name: "prod-eu".into(),
                heartbeat_interval_seconds: 1,
            })),
        };
        tx.send(Ok(welcome)).await.unwrap();
        for c in &self.commands {
            tx.send(Ok(HubMessage {
                body: Some(Down::Execute(c.clone())),
            }))
            .await
            .unwrap();
        }
        let heard = self.heard.clone();
        tokio::spawn(async move {
            let _keep = tx;
            while let Ok(Some(m)) = inbound.message().await {
                let h = match m.body {
                    Some(Up::Ack(a)) => Heard::Ack(a),
                    Some(Up::Result(r)) => Heard::Result(r),
                    _ => continue,
                };
                if heard.send(h).await.is_err() {
                    break;
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx)) as Outbound))
    }
}

/// Serves a plaintext stand-in hub that sends every agent `commands` on connect; returns its
/// address and what it hears back.
pub(crate) async fn stand_in(commands: Vec<ExecuteCommand>) -> (String, mpsc::Receiver<Heard>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (heard, rx) = mpsc::channel(64);
    let service = AgentHubServer::new(StandIn { commands, heard });
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    (format!("http://{addr}"), rx)
}

/// Collects acknowledgements by command id until `n` arrived (bounded), with the results that
/// came meanwhile.
pub(crate) async fn acks(
    rx: &mut mpsc::Receiver<Heard>,
    n: usize,
    within: Duration,
) -> (HashMap<String, CommandAck>, Vec<CommandResult>) {
    let mut out = HashMap::new();
    let mut results = Vec::new();
    let mut order = 0usize;
    let deadline = tokio::time::Instant::now() + within;
    while out.len() < n {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(Heard::Ack(a))) => {
                let key = if out.contains_key(&a.command_id) {
                    format!("{}#{order}", a.command_id)
                } else {
                    a.command_id.clone()
                };
                order += 1;
                out.insert(key, a);
            }
            Ok(Some(Heard::Result(r))) => results.push(r),
            Ok(None) | Err(_) => panic!(
                "only {} of {n} acknowledgements arrived: {out:#?}",
                out.len()
            ),
        }
    }
    (out, results)
}
