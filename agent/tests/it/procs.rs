//! Real processes on loopback: the hub (`gatehouse serve`, from the same target directory) and
//! the agent (`gatehouse-agent`), with bounded waits everywhere.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value as Json, json};

/// The hub binary, built beside this test (`cargo test --workspace` builds it).
pub(crate) fn hub_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(Path::parent).unwrap();
    let bin = dir.join(format!("gatehouse{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.exists(),
        "{} is missing: these tests run the real hub; build it first (`cargo build -p gatehouse`, or run `cargo test --workspace`)",
        bin.display()
    );
    bin
}

/// A free loopback port (bound, read, released).
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running hub.
#[derive(Debug)]
pub(crate) struct Hub {
    child: Child,
    /// `http://127.0.0.1:PORT`
    pub base: String,
    /// `127.0.0.1:PORT` of the agent service.
    pub agent_address: String,
    /// The owner's API token (first start only).
    pub token: Option<String>,
    /// The data directory.
    pub data: PathBuf,
}

impl Drop for Hub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Hub {
    /// Starts a hub on `data` with agents on `agent_port` (0: any), a 1 s heartbeat and a 3 s
    /// timeout, plus `flags`.
    #[allow(clippy::zombie_processes, reason = "Hub's Drop kills and waits")]
    pub(crate) fn start(data: &Path, agent_port: u16, flags: &[&str]) -> Hub {
        let mut child = Command::new(hub_binary())
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data)
            .args(["--agent-listen", &format!("127.0.0.1:{agent_port}")])
            .args([
                "--agent-heartbeat-seconds",
                "1",
                "--agent-timeout-seconds",
                "3",
            ])
            .args(flags)
            .env("GATEHOUSE_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("the hub starts");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        let (mut token, mut agent_address) = (None, None);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = rx
                .recv_timeout(left)
                .expect("the hub prints where it listens within 60 s");
            if let Some(t) = line.split_whitespace().find(|w| w.starts_with("ghqu_")) {
                token = Some(t.to_owned());
            }
            if let Some(rest) = line.split("(agent.v1.AgentHub) on ").nth(1) {
                let url = rest.split([' ', ';']).next().unwrap();
                agent_address = Some(url.split("://").nth(1).unwrap().to_owned());
            }
            if let Some(rest) = line.split("listening on ").nth(1) {
                let base = rest.split_whitespace().next().unwrap().to_owned();
                return Hub {
                    child,
                    base,
                    agent_address: agent_address.expect("the agent service line comes first"),
                    token,
                    data: data.to_owned(),
                };
            }
        }
    }

    /// The CA agents trust (generated on first start).
    pub(crate) fn ca(&self) -> PathBuf {
        self.data.join("agent-tls/ca.pem")
    }

    /// Stops the hub with SIGTERM and waits (bounded) for it to exit.
    pub(crate) fn stop(mut self) {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if self.child.try_wait().unwrap().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the hub did not stop within 20 s of SIGTERM");
    }
}

/// A minimal JSON-over-HTTP client for the hub's API.
#[derive(Debug, Clone)]
pub(crate) struct Api {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Api {
    pub(crate) fn new(base: &str, token: &str) -> Api {
        Api {
            http: {
                // reqwest is built without a default crypto provider: this process uses ring.
                let _ = rustls::crypto::ring::default_provider().install_default();
                reqwest::Client::new()
            },
            base: base.to_owned(),
            token: token.to_owned(),
        }
    }

    /// Sends a request; returns the status and the body (JSON, or a string for text).
    pub(crate) async fn send(&self, method: &str, path: &str, body: Option<Json>) -> (u16, Json) {
        let mut req = self
            .http
            .request(method.parse().unwrap(), format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .timeout(Duration::from_secs(30));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Json::String(text)),
        )
    }

    /// A request that must succeed (2xx).
    pub(crate) async fn ok(&self, method: &str, path: &str, body: Json) -> Json {
        let body = if body.is_null() { None } else { Some(body) };
        let (status, out) = self.send(method, path, body).await;
        assert!(
            (200..300).contains(&status),
            "{method} {path}: {status} {out:#}"
        );
        out
    }

    /// Polls `path` until `pred` holds (bounded by `within`), returning the last body.
    pub(crate) async fn until(
        &self,
        path: &str,
        within: Duration,
        pred: impl Fn(&Json) -> bool,
    ) -> Json {
        let deadline = Instant::now() + within;
        loop {
            let (_, body) = self.send("GET", path, None).await;
            if pred(&body) {
                return body;
            }
            assert!(
                Instant::now() < deadline,
                "GET {path}: condition not met within {within:?}; last: {body:#}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Registers a cluster; returns its registration token.
    pub(crate) async fn cluster(&self, name: &str) -> String {
        let reg = self
            .ok(
                "POST",
                "/api/v2/clusters",
                json!({ "name": name, "labels": { "tier": "production" } }),
            )
            .await;
        reg["registrationToken"].as_str().unwrap().to_owned()
    }
}

/// A running agent; its stderr is kept for assertions.
#[derive(Debug)]
pub(crate) struct Agent {
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Agent {
    /// Starts `gatehouse-agent` with fast intervals and `env` on top.
    #[allow(clippy::zombie_processes, reason = "Agent's Drop kills and waits")]
    pub(crate) fn start(env: &[(&str, String)]) -> Agent {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_gatehouse-agent"));
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("GATEHOUSE_LOG", "info")
            .env("GATEHOUSE_STATUS_INTERVAL_SECONDS", "1")
            .env("GATEHOUSE_INVENTORY_INTERVAL_SECONDS", "1")
            .env("GATEHOUSE_RECONNECT_INITIAL_SECONDS", "0.2")
            .env("GATEHOUSE_RECONNECT_MAX_SECONDS", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("the agent starts");
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let l = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                l.lock().unwrap().push(line);
            }
        });
        Agent { child, log }
    }

    /// Waits (bounded) for the agent to exit; its exit code and log.
    pub(crate) fn exit(mut self, within: Duration) -> (Option<i32>, String) {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                std::thread::sleep(Duration::from_millis(100));
                return (status.code(), self.log());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "the agent did not exit within {within:?}; log:\n{}",
            self.log()
        );
    }

    /// Everything the agent logged so far.
    pub(crate) fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }
}
