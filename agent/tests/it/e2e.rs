//! End to end: the real hub and the real agent as processes on loopback, TLS with the hub's
//! generated CA, the agent's `kube` client against the Kubernetes wire-format server.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value as Json, json};

use crate::fake_kube::{self, FakeKube};
use crate::procs::{Agent, Api, Hub, free_port};

const ALL_CAPABILITIES: &str = "observe,diagnostics.read,argocd.read,argocd.write,kubernetes.restart,kubernetes.scale,token.rotate";

fn agent_env(
    hub: &Hub,
    kubeconfig: &Path,
    dir: &Path,
    cluster: &str,
    token: Option<&str>,
) -> Vec<(&'static str, String)> {
    let mut env = vec![
        ("GATEHOUSE_HUB_ADDRESS", hub.agent_address.clone()),
        ("GATEHOUSE_HUB_CA_FILE", hub.ca().display().to_string()),
        ("GATEHOUSE_CLUSTER_NAME", cluster.to_owned()),
        (
            "GATEHOUSE_AGENT_TOKEN_PATH",
            dir.join("identity/agent.json").display().to_string(),
        ),
        ("GATEHOUSE_CAPABILITIES", ALL_CAPABILITIES.to_owned()),
        ("GATEHOUSE_ALLOWED_NAMESPACES", "shop".to_owned()),
        ("KUBECONFIG", kubeconfig.display().to_string()),
    ];
    if let Some(t) = token {
        env.push(("GATEHOUSE_REGISTRATION_TOKEN", t.to_owned()));
    }
    env
}

async fn kube_with_shop() -> FakeKube {
    let kube = FakeKube::start().await;
    kube.put(fake_kube::namespace("shop"));
    kube.put(fake_kube::namespace("kube-system"));
    kube.put(fake_kube::deployment("shop", "api", 2));
    kube.put(fake_kube::deployment("kube-system", "coredns", 2));
    kube.put(fake_kube::replica_set("shop", "api", 2));
    kube.put(fake_kube::pod("shop", "api-7d9f-abcde", Some("api"), "api"));
    kube.put(fake_kube::application(
        "shop",
        "shop-api",
        "http://hub.example/git/shop",
        "tenants/acme/production/api",
        "Synced",
        "Healthy",
    ));
    kube.append_log(
        "shop",
        "api-7d9f-abcde",
        "",
        &["booting", "listening on :8080", "GET /healthz 200"],
    );
    kube
}

fn token_in(dir: &Path) -> String {
    let text = std::fs::read_to_string(dir.join("identity/agent.json")).unwrap();
    serde_json::from_str::<Json>(&text).unwrap()["agentToken"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn command(api: &Api, cluster: &str, body: Json) -> Json {
    let created = api
        .ok(
            "POST",
            &format!("/api/v2/clusters/{cluster}/commands"),
            body,
        )
        .await;
    let id = created["id"].as_str().unwrap().to_owned();
    api.until(
        &format!("/api/v2/clusters/{cluster}/commands/{id}"),
        Duration::from_secs(15),
        |c| {
            matches!(
                c["state"].as_str(),
                Some("completed" | "failed" | "rejected")
            )
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_registers_connects_reports_and_runs_governed_commands() {
    let dir = tempfile::tempdir().unwrap();
    let kube = kube_with_shop().await;
    let kubeconfig = kube.kubeconfig(dir.path());
    let hub = Hub::start(&dir.path().join("hub"), 0, &[]);
    let api = Api::new(&hub.base, hub.token.as_deref().unwrap());
    let registration = api.cluster("prod-eu").await;

    // Register → Connected. (How fast, on a quiet machine, is measured by the agent's `idle`
    // benchmark; here other tests share the cores, so the bound is loose.)
    let started = Instant::now();
    let agent = Agent::start(&agent_env(
        &hub,
        &kubeconfig,
        dir.path(),
        "prod-eu",
        Some(&registration),
    ));
    let status = api
        .until(
            "/api/v2/clusters/prod-eu/status",
            Duration::from_secs(10),
            |s| s["health"] == "Connected",
        )
        .await;
    eprintln!(
        "agent Connected {} ms after it started",
        started.elapsed().as_millis()
    );
    assert_eq!(status["agentVersion"], env!("CARGO_PKG_VERSION"));
    assert!(
        status["capabilities"]
            .as_array()
            .unwrap()
            .contains(&json!("kubernetes.scale")),
        "{status:#}"
    );
    assert_eq!(status["allowedNamespaces"], json!(["shop"]));
    let identity = std::fs::read_to_string(dir.path().join("identity/agent.json")).unwrap();
    assert!(
        identity.contains("\"agentToken\": \"ghqa_"),
        "the agent persisted its token"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("identity/agent.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // The hub sent the desired state (nothing is deployed to this cluster yet) and the agent
    // compared it.
    let drift = api
        .until(
            "/api/v2/clusters/prod-eu/drift",
            Duration::from_secs(10),
            |d| d["reportedAt"].is_string(),
        )
        .await;
    assert_eq!(drift["compared"], 0, "{drift:#}");
    assert_eq!(drift["findings"], json!([]));

    // The same registration token cannot register a second agent.
    let other = tempfile::tempdir().unwrap();
    let (code, log) = Agent::start(&agent_env(
        &hub,
        &kubeconfig,
        other.path(),
        "prod-eu",
        Some(&registration),
    ))
    .exit(Duration::from_secs(20));
    assert_eq!(code, Some(1), "{log}");
    assert!(log.contains("already used"), "{log}");

    // Inventory and Argo CD applications arrive.
    let inventory = api
        .until(
            "/api/v2/clusters/prod-eu/inventory?namespace=shop",
            Duration::from_secs(10),
            |i| {
                i["resources"]
                    .as_array()
                    .is_some_and(|r| r.iter().any(|x| x["type"] == "deployments"))
            },
        )
        .await;
    let shop = inventory["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == "shop")
        .unwrap()
        .clone();
    assert_eq!(shop["counts"]["deployments"], 1, "{shop:#}");
    assert_eq!(shop["counts"]["pods"], 1, "{shop:#}");
    assert!(
        inventory["resources"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["namespace"] == "shop")
    );
    let apps = api
        .until(
            "/api/v2/clusters/prod-eu/applications",
            Duration::from_secs(10),
            |a| !a["items"].as_array().unwrap().is_empty(),
        )
        .await;
    assert_eq!(apps["items"][0]["name"], "shop-api");
    assert_eq!(apps["items"][0]["syncStatus"], "Synced");

    // A scale, decided on the hub, executed by the agent, visible in the API and the cluster.
    let done = command(&api, "prod-eu", json!({
        "type": "scale", "target": { "namespace": "shop", "name": "api" }, "params": { "replicas": 3 },
        "reason": "traffic spike",
    }))
    .await;
    assert_eq!(done["state"], "completed", "{done:#}\n{}", agent.log());
    assert_eq!(
        done["output"],
        "deployment shop/api scaled from 2 to 3 replicas"
    );
    assert_eq!(done["specSha256"].as_str().unwrap().len(), 64);
    assert_eq!(
        kube.get("apps/v1", "Deployment", Some("shop"), "api")
            .unwrap()["spec"]["replicas"],
        3
    );

    // A restart and an Argo CD sync.
    let done = command(
        &api,
        "prod-eu",
        json!({ "type": "restart", "target": { "namespace": "shop", "name": "api" } }),
    )
    .await;
    assert_eq!(done["state"], "completed", "{done:#}");
    let dep = kube
        .get("apps/v1", "Deployment", Some("shop"), "api")
        .unwrap();
    assert!(
        dep["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"]
            .is_string(),
        "{dep:#}"
    );
    let done = command(
        &api,
        "prod-eu",
        json!({ "type": "sync", "target": { "namespace": "shop", "name": "shop-api" } }),
    )
    .await;
    assert_eq!(done["state"], "completed", "{done:#}");
    let app = kube
        .get(
            "argoproj.io/v1alpha1",
            "Application",
            Some("shop"),
            "shop-api",
        )
        .unwrap();
    assert_eq!(app["operation"]["sync"]["revision"], "HEAD", "{app:#}");

    // The hub allows it (no hub policy says otherwise), the agent's own policy does not.
    let done = command(&api, "prod-eu", json!({
        "type": "scale", "target": { "namespace": "kube-system", "name": "coredns" }, "params": { "replicas": 0 },
    }))
    .await;
    assert_eq!(done["state"], "rejected", "{done:#}");
    assert!(
        done["output"]
            .as_str()
            .unwrap()
            .contains("namespace kube-system is protected"),
        "{done:#}"
    );
    assert_eq!(
        kube.get("apps/v1", "Deployment", Some("kube-system"), "coredns")
            .unwrap()["spec"]["replicas"],
        2
    );

    // Bad requests are refused before anything is sent.
    let (code, body) = api
        .send(
            "POST",
            "/api/v2/clusters/prod-eu/commands",
            Some(json!({ "type": "scale", "target": { "namespace": "shop", "name": "api" } })),
        )
        .await;
    assert_eq!(code, 400, "{body:#}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("params.replicas"),
        "{body:#}"
    );
    let (code, _) = api
        .send(
            "POST",
            "/api/v2/clusters/prod-eu/commands",
            Some(json!({ "type": "delete", "target": { "namespace": "shop", "name": "api" } })),
        )
        .await;
    assert_eq!(code, 400);

    // The history lists them, newest first.
    let history = api
        .ok("GET", "/api/v2/clusters/prod-eu/commands", Json::Null)
        .await;
    let states: Vec<&str> = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["rejected", "completed", "completed", "completed"]);

    // Inspection and logs are relayed by the agent.
    let inspected = api
        .ok(
            "GET",
            "/api/v2/clusters/prod-eu/resources/deployments/shop/api",
            Json::Null,
        )
        .await;
    assert_eq!(inspected["object"]["spec"]["replicas"], 3);
    let related: Vec<String> = inspected["related"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            format!(
                "{}/{}",
                o["kind"].as_str().unwrap(),
                o["name"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(related.len(), 2, "{inspected:#}");
    assert!(
        related[0].starts_with("ReplicaSet/api-") && related[1] == "Pod/api-7d9f-abcde",
        "{related:?}"
    );
    let (code, logs) = api
        .send(
            "GET",
            "/api/v2/clusters/prod-eu/logs/shop/api-7d9f-abcde?tail=2",
            None,
        )
        .await;
    assert_eq!(code, 200, "{logs:#}");
    assert_eq!(
        logs,
        Json::String("listening on :8080\nGET /healthz 200\n".into())
    );
    let (code, body) = api
        .send(
            "GET",
            "/api/v2/clusters/prod-eu/logs/kube-system/coredns-1?tail=2",
            None,
        )
        .await;
    assert_eq!(code, 403, "{body:#}");

    // Token rotation: the agent stores the new token, confirms, and the old one stops working.
    let old = token_in(dir.path());
    api.ok("POST", "/api/v2/clusters/prod-eu/rotate-token", Json::Null)
        .await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while token_in(dir.path()) == old {
        assert!(
            Instant::now() < deadline,
            "the agent did not store a rotated token; log:\n{}",
            agent.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let refused = crate::raw::connect(&hub, &old, "prod-eu")
        .await
        .unwrap_err();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut refused = refused;
    while refused.code() != tonic::Code::Unauthenticated && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        refused = match crate::raw::connect(&hub, &old, "prod-eu").await {
            Err(s) => s,
            Ok(_) => tonic::Status::ok("still accepted"),
        };
    }
    assert_eq!(refused.code(), tonic::Code::Unauthenticated, "{refused:?}");

    // The audit log recorded the registration, each command's end and the rotation.
    let audit = api.ok("GET", "/api/v2/audit?limit=500", Json::Null).await;
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    for want in [
        "agents.register",
        "clusters.command",
        "clusters.command.completed",
        "clusters.command.rejected",
        "clusters.rotate-token",
        "agents.token-rotated",
    ] {
        assert!(actions.contains(&want), "{want} missing from {actions:?}");
    }
    drop(agent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_reconnects_after_the_hub_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let kube = kube_with_shop().await;
    let kubeconfig = kube.kubeconfig(dir.path());
    let port = free_port();
    let hub = Hub::start(&dir.path().join("hub"), port, &[]);
    let owner = hub.token.clone().unwrap();
    let api = Api::new(&hub.base, &owner);
    let registration = api.cluster("prod-eu").await;
    let agent = Agent::start(&agent_env(
        &hub,
        &kubeconfig,
        dir.path(),
        "prod-eu",
        Some(&registration),
    ));
    api.until(
        "/api/v2/clusters/prod-eu/status",
        Duration::from_secs(10),
        |s| s["health"] == "Connected",
    )
    .await;
    let env = agent_env(&hub, &kubeconfig, dir.path(), "prod-eu", None);
    hub.stop();

    let hub = Hub::start(&dir.path().join("hub"), port, &[]);
    let api = Api::new(&hub.base, &owner);
    let status = api
        .until(
            "/api/v2/clusters/prod-eu/status",
            Duration::from_secs(15),
            |s| s["health"] == "Connected",
        )
        .await;
    assert!(
        status["connectedSeconds"].as_i64().unwrap() < 15,
        "{status:#}"
    );
    assert!(
        agent.log().contains("hub connection lost"),
        "{}",
        agent.log()
    );

    // A restarted agent needs no registration token: it has its identity.
    drop(agent);
    let agent = Agent::start(&env);
    api.until(
        "/api/v2/clusters/prod-eu/status",
        Duration::from_secs(15),
        |s| s["health"] == "Connected" && s["agentUptimeSeconds"].as_i64().is_some_and(|u| u < 10),
    )
    .await;
    assert!(agent.log().contains("identity loaded"), "{}", agent.log());
    // And the cluster shows Disconnected within the timeout once the agent is gone.
    drop(agent);
    api.until(
        "/api/v2/clusters/prod-eu/status",
        Duration::from_secs(10),
        |s| s["health"] == "Disconnected",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_wait_for_approval_and_for_the_agent() {
    let dir = tempfile::tempdir().unwrap();
    let kube = kube_with_shop().await;
    let kubeconfig = kube.kubeconfig(dir.path());
    let hub = Hub::start(&dir.path().join("hub"), 0, &[]);
    let owner = Api::new(&hub.base, hub.token.as_deref().unwrap());
    let registration = owner.cluster("prod-eu").await;
    owner.ok("POST", "/api/v2/approval-policies", json!({
        "name": "prod-scale", "kinds": ["command"], "quorum": 1, "eligible": { "roles": ["admin"] },
        "scope": { "cluster_labels": { "tier": "production" } },
    }))
    .await;
    let invite = owner
        .ok(
            "POST",
            "/api/v2/members",
            json!({ "name": "lead", "role": "admin" }),
        )
        .await;
    let lead = Api::new(&hub.base, invite["token"]["secret"].as_str().unwrap());

    // Asked for while no agent is connected: it waits for approval.
    let created = owner
        .ok("POST", "/api/v2/clusters/prod-eu/commands", json!({
            "type": "scale", "target": { "namespace": "shop", "name": "api" }, "params": { "replicas": 5 },
        }))
        .await;
    assert_eq!(created["state"], "pending");
    assert_eq!(created["approved"], false);
    assert_eq!(created["agentConnected"], false);
    assert!(
        !created["waitingFor"].as_array().unwrap().is_empty(),
        "{created:#}"
    );
    let id = created["id"].as_str().unwrap().to_owned();
    let (code, body) = owner
        .send(
            "POST",
            &format!("/api/v2/clusters/prod-eu/commands/{id}/approve"),
            Some(json!({})),
        )
        .await;
    assert_eq!(code, 403, "self-approval: {body:#}");
    let approved = lead
        .ok(
            "POST",
            &format!("/api/v2/clusters/prod-eu/commands/{id}/approve"),
            json!({ "comment": "ok" }),
        )
        .await;
    assert_eq!(approved["approved"], true, "{approved:#}");
    assert_eq!(approved["state"], "pending", "no agent yet");
    let (code, _) = lead
        .send(
            "POST",
            &format!("/api/v2/clusters/prod-eu/commands/{id}/approve"),
            Some(json!({})),
        )
        .await;
    assert_eq!(code, 409, "approving twice");

    // The agent connects and receives it.
    let agent = Agent::start(&agent_env(
        &hub,
        &kubeconfig,
        dir.path(),
        "prod-eu",
        Some(&registration),
    ));
    let done = owner
        .until(
            &format!("/api/v2/clusters/prod-eu/commands/{id}"),
            Duration::from_secs(15),
            |c| c["state"] == "completed",
        )
        .await;
    assert_eq!(done["approvals"][0]["user"], "lead", "{done:#}");
    assert_eq!(
        kube.get("apps/v1", "Deployment", Some("shop"), "api")
            .unwrap()["spec"]["replicas"],
        5,
        "{}",
        agent.log()
    );
}
