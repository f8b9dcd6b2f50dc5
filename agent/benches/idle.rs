//! The agent's idle footprint: the release `gatehouse-agent` registered with and connected to
//! a stand-in hub on loopback (plaintext), heartbeating, with nothing to do. Printed: its
//! resident memory after 10 s and its CPU over those 10 s.
//!
//! Run: `cargo bench -p gatehouse-agent --bench idle`.

use std::pin::Pin;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use gatehouse_agent_proto::v1::agent_hub_server::{AgentHub, AgentHubServer};
use gatehouse_agent_proto::v1::hub_message::Body as Down;
use gatehouse_agent_proto::v1::{
    AgentMessage, HubMessage, RegisterRequest, RegisterResponse, Welcome,
};
use tokio::sync::mpsc;
use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

#[derive(Debug)]
struct StandIn {
    heard: mpsc::Sender<()>,
}

type Outbound = Pin<Box<dyn Stream<Item = Result<HubMessage, Status>> + Send>>;

#[tonic::async_trait]
impl AgentHub for StandIn {
    async fn register(
        &self,
        req: Request<RegisterRequest>,
    ) -> Result<Response<RegisterResponse>, Status> {
        Ok(Response::new(RegisterResponse {
            agent_token: format!("ghqa_{}", "c".repeat(64)),
            cluster_id: "c-1".into(),
            cluster_name: req.into_inner().cluster_name,
            organization: "bench".into(),
        }))
    }

    type ConnectStream = Outbound;

    async fn connect(
        &self,
        req: Request<Streaming<AgentMessage>>,
    ) -> Result<Response<Outbound>, Status> {
        let mut inbound = req.into_inner();
        let (tx, rx) = mpsc::channel(8);
        let welcome = Welcome {
            cluster_id: "c-1".into(),
            cluster_name: "idle".into(),
            heartbeat_interval_seconds: 1,
        };
        let _ = tx
            .send(Ok(HubMessage {
                body: Some(Down::Welcome(welcome)),
            }))
            .await;
        let heard = self.heard.clone();
        tokio::spawn(async move {
            let _keep = tx;
            while let Ok(Some(_)) = inbound.message().await {
                let _ = heard.try_send(());
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx)) as Outbound))
    }
}

fn usage(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let f: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    let ticks = f.get(11).and_then(|u| u.parse::<u64>().ok()).unwrap_or(0)
        + f.get(12).and_then(|s| s.parse::<u64>().ok()).unwrap_or(0);
    (rss, ticks)
}

fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: http://127.0.0.1:9\ncontexts:\n- name: c\n  context:\n    cluster: c\n    user: u\ncurrent-context: c\nusers:\n- name: u\n  user:\n    token: x\n",
    )
    .expect("kubeconfig");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (heard, mut messages) = mpsc::channel(1024);
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(AgentHubServer::new(StandIn { heard }))
                .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
        );
        let mut child = Command::new(env!("CARGO_BIN_EXE_gatehouse-agent"))
            .env_clear()
            .env("GATEHOUSE_HUB_ADDRESS", format!("http://{addr}"))
            .env("GATEHOUSE_HUB_PLAINTEXT", "true")
            .env("GATEHOUSE_REGISTRATION_TOKEN", format!("ghqa_reg_{}", "a".repeat(64)))
            .env("GATEHOUSE_CLUSTER_NAME", "idle")
            .env("GATEHOUSE_CAPABILITIES", "token.rotate")
            .env("GATEHOUSE_AGENT_TOKEN_PATH", dir.path().join("agent.json"))
            .env("KUBECONFIG", &kubeconfig)
            .env("GATEHOUSE_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the agent starts");
        let started = Instant::now();
        tokio::time::timeout(Duration::from_secs(30), messages.recv()).await.expect("the agent connects").expect("a message");
        let connected = started.elapsed();
        tokio::time::sleep(Duration::from_secs(2)).await;
        let (_, cpu0) = usage(child.id());
        tokio::time::sleep(Duration::from_secs(10)).await;
        let (rss, cpu1) = usage(child.id());
        let mut beats = 0;
        while messages.try_recv().is_ok() {
            beats += 1;
        }
        println!("agent: connected {:.0} ms after start", connected.as_secs_f64() * 1e3);
        println!(
            "agent idle: resident memory {:.1} MiB, CPU {:.2} % of one core over 10 s ({beats} messages sent, heartbeat every 1 s)",
            rss as f64 / 1024.0,
            (cpu1 - cpu0) as f64 / 100.0 / 10.0 * 100.0
        );
        let _ = child.kill();
        let _ = child.wait();
    });
}
