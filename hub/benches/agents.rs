//! The agent service under load, against a real `gatehouse serve` process (built in the bench
//! profile) on loopback, with TLS:
//!
//! - **fleet**: N simulated agents (default 2,000; `GATEHOUSE_BENCH_AGENTS`), each registered
//!   with its own registration token and holding its own TLS connection and `Connect` stream,
//!   heartbeating every second (30 times the default rate). Printed: how long registering and
//!   connecting them all took, the hub's resident memory before and with the fleet (and per
//!   agent), and the hub's CPU over 10 s of heartbeats.
//! - **command round trip**: the median and spread of 200 commands (scale) from the API call
//!   to the command showing `completed`, through the hub's decision, the seal, the stream, the
//!   simulated agent's checks (digest, cluster, expiry, capability) and its ack and result.
//!
//! Run: `cargo bench -p gatehouse --bench agents`.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use gatehouse_agent_proto::CommandSpec;
use gatehouse_agent_proto::v1::agent_hub_client::AgentHubClient;
use gatehouse_agent_proto::v1::agent_message::Body as Up;
use gatehouse_agent_proto::v1::hub_message::Body as Down;
use gatehouse_agent_proto::v1::{
    AgentMessage, CommandAck, CommandResult, Heartbeat, Hello, RegisterRequest,
};
use serde_json::{Value as Json, json};
use tokio::sync::{Semaphore, mpsc};
use tokio_stream::wrappers::ReceiverStream;
use tonic::Request;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};

struct Hub {
    child: Child,
    base: String,
    agents: String,
    token: String,
}

impl Drop for Hub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[allow(clippy::zombie_processes, reason = "Hub's Drop kills and waits")]
fn start(dir: &std::path::Path) -> Hub {
    let mut child = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--agent-listen",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(dir)
        .args([
            "--agent-heartbeat-seconds",
            "1",
            "--agent-timeout-seconds",
            "30",
        ])
        .env("GATEHOUSE_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the hub starts");
    let stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let (mut token, mut agents) = (String::new(), String::new());
    for line in stdout.lines().map_while(Result::ok) {
        if let Some(t) = line.split_whitespace().find(|w| w.starts_with("ghqu_")) {
            token = t.to_owned();
        }
        if let Some(rest) = line.split("(agent.v1.AgentHub) on https://").nth(1) {
            agents = rest.split([';', ' ']).next().unwrap_or_default().to_owned();
        }
        if let Some(rest) = line.split("listening on ").nth(1) {
            let base = rest
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_owned();
            return Hub {
                child,
                base,
                agents,
                token,
            };
        }
    }
    panic!("the hub exited before listening");
}

/// (resident KiB, CPU ticks) of a process.
fn usage(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    let ticks = fields
        .get(11)
        .and_then(|u| u.parse::<u64>().ok())
        .unwrap_or(0)
        + fields
            .get(12)
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or(0);
    (rss, ticks)
}

fn median(v: &mut [Duration]) -> (Duration, Duration, Duration) {
    v.sort();
    let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.1), at(0.9))
}

async fn channel(address: &str, ca: &Certificate) -> Channel {
    Endpoint::from_shared(format!("https://{address}"))
        .expect("uri")
        .tls_config(
            ClientTlsConfig::new()
                .ca_certificate(ca.clone())
                .domain_name("localhost"),
        )
        .expect("tls")
        .connect()
        .await
        .expect("connect")
}

/// One simulated agent: registers, connects, heartbeats every second, and answers commands
/// after the agent's own checks. Counts itself in `connected` once welcomed.
async fn agent(
    address: String,
    ca: Certificate,
    name: String,
    registration: String,
    connected: Arc<AtomicUsize>,
    gate: Arc<Semaphore>,
) {
    let (token, mut client) = {
        // Bound the concurrent TLS handshakes and registrations.
        let _permit = gate.acquire().await.expect("semaphore");
        let mut client = AgentHubClient::new(channel(&address, &ca).await);
        let mut req = Request::new(RegisterRequest {
            cluster_name: name.clone(),
            agent_version: "bench".into(),
            capabilities: vec!["kubernetes.scale".into()],
        });
        req.metadata_mut().insert(
            "authorization",
            format!("Bearer {registration}").parse().expect("header"),
        );
        let token = client
            .register(req)
            .await
            .expect("register")
            .into_inner()
            .agent_token;
        (token, client)
    };
    let (tx, rx) = mpsc::channel(64);
    let hello = Hello {
        cluster_name: name.clone(),
        agent_version: "bench".into(),
        capabilities: vec!["kubernetes.scale".into()],
        started_at_ms: 0,
        allowed_namespaces: vec![],
    };
    tx.send(AgentMessage {
        body: Some(Up::Hello(hello)),
    })
    .await
    .expect("queue");
    let mut req = Request::new(ReceiverStream::new(rx));
    req.metadata_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("header"),
    );
    let mut inbound = client.connect(req).await.expect("connect").into_inner();
    let beat = tx.clone();
    tokio::spawn(async move {
        let mut seq = 0;
        let mut every = tokio::time::interval(Duration::from_secs(1));
        loop {
            every.tick().await;
            seq += 1;
            if beat
                .send(AgentMessage {
                    body: Some(Up::Heartbeat(Heartbeat {
                        sequence: seq,
                        sent_at_ms: 0,
                    })),
                })
                .await
                .is_err()
            {
                break;
            }
        }
    });
    while let Ok(Some(m)) = inbound.message().await {
        match m.body {
            Some(Down::Welcome(_)) => {
                connected.fetch_add(1, Ordering::Relaxed);
            }
            Some(Down::Execute(cmd)) => {
                let now = chrono::Utc::now();
                let (ack, result) = match CommandSpec::open(&cmd, &name, |_| true, now) {
                    Ok(spec) => (
                        CommandAck {
                            command_id: spec.id.clone(),
                            accepted: true,
                            reason: String::new(),
                        },
                        Some(CommandResult {
                            command_id: spec.id,
                            succeeded: true,
                            output: "scaled".into(),
                        }),
                    ),
                    Err(e) => (
                        CommandAck {
                            command_id: String::new(),
                            accepted: false,
                            reason: e.to_string(),
                        },
                        None,
                    ),
                };
                let _ = tx
                    .send(AgentMessage {
                        body: Some(Up::Ack(ack)),
                    })
                    .await;
                if let Some(r) = result {
                    let _ = tx
                        .send(AgentMessage {
                            body: Some(Up::Result(r)),
                        })
                        .await;
                }
            }
            _ => {}
        }
    }
}

fn main() {
    let n: usize = std::env::var("GATEHOUSE_BENCH_AGENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000);
    let dir = tempfile::tempdir().expect("tempdir");
    let hub = start(dir.path());
    let pid = hub.child.id();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        // reqwest is built without a default crypto provider (the hub hands it ring).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::new();
        let api = |method: reqwest::Method, path: &str| {
            http.request(method, format!("{}{path}", hub.base)).bearer_auth(&hub.token)
        };
        let ca = Certificate::from_pem(std::fs::read(dir.path().join("agent-tls/ca.pem")).expect("ca"));

        // The clusters, each with its registration token.
        let mut registrations = Vec::with_capacity(n);
        for i in 0..n {
            let r: Json = api(reqwest::Method::POST, "/api/v2/clusters")
                .json(&json!({ "name": format!("c{i:05}") }))
                .send().await.expect("create").json().await.expect("json");
            registrations.push(r["registrationToken"].as_str().expect("token").to_owned());
        }
        let (rss0, _) = usage(pid);

        // The fleet.
        let connected = Arc::new(AtomicUsize::new(0));
        let gate = Arc::new(Semaphore::new(64));
        let started = Instant::now();
        for (i, reg) in registrations.into_iter().enumerate() {
            tokio::spawn(agent(hub.agents.clone(), ca.clone(), format!("c{i:05}"), reg, connected.clone(), gate.clone()));
        }
        while connected.load(Ordering::Relaxed) < n {
            assert!(started.elapsed() < Duration::from_secs(600), "only {} of {n} agents connected", connected.load(Ordering::Relaxed));
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let join = started.elapsed();
        tokio::time::sleep(Duration::from_secs(3)).await;
        let (rss1, cpu0) = usage(pid);
        let window = Instant::now();
        tokio::time::sleep(Duration::from_secs(10)).await;
        let (rss2, cpu1) = usage(pid);
        let secs = window.elapsed().as_secs_f64();
        // Linux reports CPU in clock ticks of 1/100 s.
        let cpu = (cpu1 - cpu0) as f64 / 100.0 / secs * 100.0;
        let metrics = api(reqwest::Method::GET, "/metrics").send().await.expect("metrics").text().await.expect("text");
        let open = metrics.lines().find_map(|l| l.strip_prefix("gatehouse_agents_connected ")).unwrap_or("?").to_owned();
        println!("fleet: {n} agents registered and connected in {:.2} s ({:.0} per second); hub reports {open} open sessions", join.as_secs_f64(), n as f64 / join.as_secs_f64());
        println!(
            "fleet: hub resident memory {:.1} MiB before, {:.1} MiB with the fleet ({:.1} KiB per agent session)",
            rss0 as f64 / 1024.0,
            rss2.max(rss1) as f64 / 1024.0,
            (rss2.max(rss1).saturating_sub(rss0)) as f64 / n as f64
        );
        println!("fleet: hub CPU {cpu:.1} % of one core over {secs:.0} s of {n} heartbeats per second");

        // Command round trips to the first cluster.
        let mut times = Vec::new();
        for i in 0..200 {
            let t = Instant::now();
            let c: Json = api(reqwest::Method::POST, "/api/v2/clusters/c00000/commands")
                .json(&json!({ "type": "scale", "target": { "namespace": "shop", "name": "api" }, "params": { "replicas": 1 + i % 5 } }))
                .send().await.expect("command").json().await.expect("json");
            let id = c["id"].as_str().expect("id").to_owned();
            loop {
                let s: Json = api(reqwest::Method::GET, &format!("/api/v2/clusters/c00000/commands/{id}")).send().await.expect("get").json().await.expect("json");
                match s["state"].as_str() {
                    Some("completed") => break,
                    Some("pending" | "executing") => tokio::time::sleep(Duration::from_micros(500)).await,
                    other => panic!("command ended {other:?}: {s}"),
                }
            }
            times.push(t.elapsed());
        }
        let (med, p10, p90) = median(&mut times);
        println!(
            "command round trip (API call to completed, {} commands, {n} agents connected): median {:.2} ms (p10 {:.2}, p90 {:.2})",
            times.len(),
            med.as_secs_f64() * 1e3,
            p10.as_secs_f64() * 1e3,
            p90.as_secs_f64() * 1e3
        );
        drop(hub);
    });
}
