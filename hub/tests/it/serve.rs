//! `gatehouse serve` as a real process on loopback: first-start bootstrap, kill -9 in the middle
//! of writes, restart, graceful SIGTERM, and the store commands beside it.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value as Json, json};

pub(crate) struct Served {
    pub(crate) child: Child,
    pub(crate) base: String,
    pub(crate) token: Option<String>,
}

impl Drop for Served {
    fn drop(&mut self) {
        // A failed assertion must not leave a hub running.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the hub on a free port and waits (bounded) for it to say where it listens.
pub(crate) fn start(dir: &Path) -> Served {
    start_with(dir, &[])
}

/// [`start`] with more flags.
#[allow(clippy::zombie_processes, reason = "Served's Drop kills and waits")]
pub(crate) fn start_with(dir: &Path, flags: &[&str]) -> Served {
    let mut child = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir)
        .args(["--agent-listen", "127.0.0.1:0"])
        .args(flags)
        // The test suite shares the schema directory through this variable; a hub is
        // configured by its flags alone.
        .env_remove("GATEHOUSE_K8S_SCHEMAS")
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
    let mut token = None;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx
            .recv_timeout(left)
            .expect("the hub prints where it listens within 60 s");
        if let Some(t) = line.split_whitespace().find(|w| w.starts_with("ghqu_")) {
            token = Some(t.to_owned());
        }
        if let Some(rest) = line.split("listening on ").nth(1) {
            let base = rest.split_whitespace().next().unwrap().to_owned();
            return Served { child, base, token };
        }
    }
}

pub(crate) fn cli(args: &[&str], dir: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_writes_leaves_a_consistent_store() {
    let dir = tempfile::tempdir().unwrap();
    let mut hub = start(dir.path());
    let token = hub
        .token
        .clone()
        .expect("the first start prints the owner token");
    let client = crate::http();
    let health = client
        .get(format!("{}/readyz", hub.base))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);

    // Four writers create tenants until 120 are acknowledged (or 30 s pass), then kill -9.
    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = Instant::now() + Duration::from_secs(30);
    let mut writers = Vec::new();
    for w in 0..4 {
        let (client, base, token, acked) = (
            client.clone(),
            hub.base.clone(),
            token.clone(),
            acked.clone(),
        );
        writers.push(tokio::spawn(async move {
            for i in 0..10_000 {
                if Instant::now() > stop || acked.lock().unwrap().len() >= 400 {
                    break;
                }
                let name = format!("t-{w}-{i}");
                let r = client
                    .post(format!("{base}/api/v2/tenants"))
                    .bearer_auth(&token)
                    .json(&json!({"name": name, "labels": {"writer": w.to_string()}}))
                    .send()
                    .await;
                match r {
                    Ok(r) if r.status() == 201 => acked.lock().unwrap().push(name),
                    _ => break,
                }
            }
        }));
    }
    let kill_at = Instant::now() + Duration::from_secs(30);
    while acked.lock().unwrap().len() < 120 && Instant::now() < kill_at {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    hub.child.kill().unwrap(); // SIGKILL, mid-write
    hub.child.wait().unwrap();
    for w in writers {
        w.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() >= 120,
        "only {} writes were acknowledged",
        acked.len()
    );

    // The file is intact, and every tenant that exists has its audit entry (change and entry
    // commit together).
    {
        let conn = rusqlite::Connection::open(dir.path().join("gatehouse.db")).unwrap();
        let check: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(check, "ok");
        let tenants: i64 = conn
            .query_row(
                "SELECT count(*) FROM resources WHERE kind = 'tenant'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        let entries: i64 = conn
            .query_row(
                "SELECT count(*) FROM audit_log WHERE action = 'tenants.create'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(tenants, entries);
        assert!(tenants as usize >= acked.len());
    }
    let verify = cli(&["audit", "verify"], dir.path());
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );

    // Restarted, it does not bootstrap again and has every acknowledged write.
    let mut hub = start(dir.path());
    assert!(
        hub.token.is_none(),
        "a second start must not mint another owner token"
    );
    let list: Json = client
        .get(format!("{}/api/v2/tenants", hub.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    for a in &acked {
        assert!(
            names.contains(&a.as_str()),
            "acknowledged tenant {a} was lost"
        );
    }

    // SIGTERM: drains and exits cleanly.
    let pid = hub.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = hub.child.try_wait().unwrap() {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "the hub did not stop within 30 s of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status}");
}

#[test]
fn admin_commands_work_on_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let out = cli(
        &["admin", "token", "--org", "default", "--user", "admin"],
        dir.path(),
    );
    assert!(!out.status.success(), "no store yet");
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not exist"));

    // Create the store through the library, then use the commands.
    let store = gatehouse::server::store::Store::open(&dir.path().join("gatehouse.db")).unwrap();
    store
        .write(|tx| gatehouse::server::identity_admin::create_org(tx, "default", "admin"))
        .unwrap();
    drop(store);
    let out = cli(
        &["admin", "create-org", "acme", "--owner", "alice"],
        dir.path(),
    );
    assert!(out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .starts_with("ghqu_")
    );
    let out = cli(
        &["admin", "create-org", "acme", "--owner", "bob"],
        dir.path(),
    );
    assert!(
        !out.status.success(),
        "duplicate organization names are refused"
    );
    let out = cli(
        &["admin", "token", "--org", "acme", "--user", "mallory"],
        dir.path(),
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a member"));
    let out = cli(&["audit", "verify"], dir.path());
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("acme: 1 entries, chain intact")
            && text.contains("default: 1 entries, chain intact"),
        "{text}"
    );
}
