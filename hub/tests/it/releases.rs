//! Governed releases in process, with the built-in policy library and its plugins deciding:
//! pending changes to deployed under approval policies, freezes and break-glass, the refusals
//! of bad steps, and concurrent approvals.

use std::collections::BTreeMap;

use axum::Router;
use axum::http::{Method, StatusCode};
use gatehouse::server::{Hub, HubConfig, HubState, app, identity_admin, verify_audit};
use gatehouse_engine::{Bundle, Engine, EngineOptions, LoadOptions};
use serde_json::{Value as Json, json};

use super::server::{call, chart_tgz, ok};

struct Env {
    app: Router,
    hub: Hub,
    _dir: tempfile::TempDir,
    tokens: BTreeMap<String, String>,
}

impl Env {
    async fn send(&self, who: &str, method: Method, path: &str, body: Json) -> (StatusCode, Json) {
        let body = (method != Method::GET).then(|| body.to_string().into_bytes());
        call(&self.app, method, path, Some(&self.tokens[who]), body, &[]).await
    }

    async fn ok(&self, who: &str, method: Method, path: &str, body: Json) -> Json {
        ok(&self.app, method, path, &self.tokens[who], body).await
    }

    async fn audit_count(&self) -> usize {
        let (s, j) = self
            .send(
                "owner",
                Method::GET,
                "/api/v2/audit?limit=1000",
                json!(null),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{j}");
        j["items"].as_array().unwrap().len()
    }
}

/// The built-in library with its plugins, as `gatehouse serve` runs it.
fn library() -> Engine {
    let bundle = Bundle::from_files(gatehouse_policies::files(false), LoadOptions::default())
        .expect("the library loads");
    Engine::compile(bundle, None, EngineOptions::default()).expect("the library compiles")
}

/// An organization with a project `shop` deploying workload `checkout` to `production`, and
/// people: `owner`; `alice` and `bob` (team backend), `carol` (team platform), `sam` (an
/// operator in team sre); backend and sre may release, everyone in the three teams approve.
async fn setup(extra_backend: &[&str]) -> Env {
    setup_with(extra_backend, |_| {}).await
}

/// [`setup`] with the hub's configuration adjusted first.
async fn setup_with(extra_backend: &[&str], adjust: impl FnOnce(&mut HubConfig)) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let mut config = HubConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.path().to_path_buf(),
        agent_address: "hub.example:8443".into(),
        agent_chart: "gatehouse/gatehouse-agent".into(),
        agents: Default::default(),
        public_url: None,
        k8s_schemas: None,
        notify_ca: None,
        max_body_bytes: 1 << 20,
        playground: false,
    };
    adjust(&mut config);
    let hub = HubState::open(config, library()).unwrap();
    let owner = hub
        .store
        .write(|tx| identity_admin::create_org(tx, "acme", "owner"))
        .unwrap();
    let app = app(hub.clone());
    let mut tokens = BTreeMap::new();
    tokens.insert("owner".to_owned(), owner.clone());
    let o = owner.as_str();
    let mut people: Vec<(&str, &str)> = vec![
        ("alice", "member"),
        ("bob", "member"),
        ("carol", "member"),
        ("sam", "operator"),
        ("dave", "member"),
    ];
    people.extend(extra_backend.iter().map(|n| (*n, "member")));
    for (name, role) in people {
        let j = ok(
            &app,
            Method::POST,
            "/api/v2/members",
            o,
            json!({"name": name, "role": role}),
        )
        .await;
        tokens.insert(
            name.to_owned(),
            j["token"]["secret"].as_str().unwrap().to_owned(),
        );
    }
    ok(
        &app,
        Method::POST,
        "/api/v2/environments",
        o,
        json!({"name": "production", "rank": 30}),
    )
    .await;
    ok(
        &app,
        Method::POST,
        "/api/v2/clusters",
        o,
        json!({"name": "prod-eu", "labels": {"tier": "production"}}),
    )
    .await;
    ok(
        &app,
        Method::POST,
        "/api/v2/charts",
        o,
        json!({"name": "web"}),
    )
    .await;
    let (s, j) = call(
        &app,
        Method::POST,
        "/api/v2/charts/web/versions",
        Some(o),
        Some(chart_tgz("web", "1.0.0")),
        &[("content-type", "application/gzip")],
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{j}");
    ok(
        &app,
        Method::POST,
        "/api/v2/projects",
        o,
        json!({"name": "shop"}),
    )
    .await;
    ok(
        &app,
        Method::POST,
        "/api/v2/projects/shop/environments",
        o,
        json!({"name": "production", "cluster": "prod-eu"}),
    )
    .await;
    ok(&app, Method::POST, "/api/v2/projects/shop/workloads", o, json!({"name": "checkout", "chart": "web", "chartVersion": "1.0.0", "values": {"image": {"tag": "1.0.0"}, "replicas": 2}})).await;
    let mut backend = vec!["alice", "bob"];
    backend.extend(extra_backend);
    let grants = json!({"shop": ["write", "release", "approve", "rollback"]});
    ok(
        &app,
        Method::POST,
        "/api/v2/teams",
        o,
        json!({"name": "backend", "members": backend, "grants": grants}),
    )
    .await;
    ok(
        &app,
        Method::POST,
        "/api/v2/teams",
        o,
        json!({"name": "platform", "members": ["carol"], "grants": {"shop": ["approve"]}}),
    )
    .await;
    ok(
        &app,
        Method::POST,
        "/api/v2/teams",
        o,
        json!({"name": "sre", "members": ["sam"], "grants": grants}),
    )
    .await;
    Env {
        app,
        hub,
        _dir: dir,
        tokens,
    }
}

async fn stage(env: &Env, who: &str, values: Json) {
    env.ok(
        who,
        Method::PUT,
        "/api/v2/projects/shop/workloads/checkout/values?environment=production",
        values,
    )
    .await;
}

fn intact(env: &Env) -> bool {
    verify_audit(&env.hub.store)
        .unwrap()
        .iter()
        .all(|r| r.problem.is_none())
}

fn events(release: &Json) -> Vec<String> {
    release["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap().to_owned())
        .collect()
}

fn waiting(release: &Json) -> Vec<String> {
    release["gate"]["requirements"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["satisfied"] == false)
        .map(|r| r["message"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_goes_from_pending_changes_to_deployed_under_its_approval_policy() {
    let env = setup(&[]).await;
    env.ok(
        "owner",
        Method::POST,
        "/api/v2/approval-policies",
        json!({
            "name": "production-two-teams",
            "scope": {"environment": ["production"]},
            "quorum": 2,
            "distinctTeams": 2,
            "eligible": {"teams": ["backend", "platform", "sre"]},
        }),
    )
    .await;

    // Nothing deployed yet: the workload's defaults are pending; then a staged edit.
    stage(&env, "alice", json!({"image": {"tag": "1.1.0"}})).await;
    let pending = env
        .ok(
            "alice",
            Method::GET,
            "/api/v2/projects/shop/changes",
            json!(null),
        )
        .await;
    let levels = pending["items"].as_array().unwrap();
    assert_eq!(levels.len(), 2, "{pending}");
    assert!(levels.iter().any(|l| l["environment"] == "production"
        && l["changes"][0]["path"] == "image.tag"
        && l["changes"][0]["after"] == "1.1.0"));

    let rel = env
        .ok(
            "alice",
            Method::POST,
            "/api/v2/projects/shop/releases",
            json!({"title": "checkout 1.1.0", "submit": true}),
        )
        .await;
    let path = format!(
        "/api/v2/projects/shop/releases/{}",
        rel["id"].as_str().unwrap()
    );
    assert_eq!(rel["state"], "pending_approval", "{rel}");
    assert_eq!(rel["number"], 1);
    assert_eq!(events(&rel), ["created", "submitted"]);
    let w = waiting(&rel);
    assert!(w.iter().any(|m| m.contains("0 of 2")), "{w:?}");

    // The requester cannot approve their own release; the refusal is audited.
    let before = env.audit_count().await;
    let (s, j) = env
        .send("alice", Method::POST, &format!("{path}/approve"), json!({}))
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{j}");
    assert_eq!(j["error"]["code"], "approval_refused");
    assert!(
        j["error"]["message"]
            .as_str()
            .unwrap()
            .contains("requester"),
        "{j}"
    );
    assert_eq!(env.audit_count().await, before + 1);

    // Bob (backend) approves: 1 of 2, and a team other than backend is still needed.
    let r = env
        .ok(
            "bob",
            Method::POST,
            &format!("{path}/approve"),
            json!({"comment": "LGTM"}),
        )
        .await;
    assert_eq!(r["state"], "pending_approval");
    let w = waiting(&r);
    assert!(w.iter().any(|m| m.contains("1 of 2")), "{w:?}");
    assert!(w.iter().any(|m| m.contains("backend")), "{w:?}");
    // Twice is once.
    let (s, j) = env
        .send("bob", Method::POST, &format!("{path}/approve"), json!({}))
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{j}");
    assert_eq!(j["error"]["code"], "already_approved_by_you");

    // Deploying before approval is refused and changes nothing.
    let (s, j) = env
        .send("alice", Method::POST, &format!("{path}/deploy"), json!({}))
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{j}");
    assert_eq!(j["error"]["code"], "not_approved");

    // Carol (platform) completes it.
    let r = env
        .ok("carol", Method::POST, &format!("{path}/approve"), json!({}))
        .await;
    assert_eq!(r["state"], "approved", "{r}");
    assert!(waiting(&r).is_empty());
    let r = env
        .ok("alice", Method::POST, &format!("{path}/deploy"), json!({}))
        .await;
    assert_eq!(r["state"], "deployed", "{r}");
    assert_eq!(
        events(&r),
        [
            "created",
            "submitted",
            "approval",
            "approval",
            "approved",
            "deploying",
            "deployed"
        ]
    );
    assert_eq!(r["approvals"].as_array().unwrap().len(), 2);
    // Every step names the decisions behind it, and they are stored.
    let last = r["timeline"].as_array().unwrap().last().unwrap().clone();
    let id = last["decisions"][0].as_str().unwrap();
    let d = env
        .ok(
            "owner",
            Method::GET,
            &format!("/api/v2/decisions/{id}"),
            json!(null),
        )
        .await;
    assert_eq!(d["decision"]["outcome"], "allow");
    assert_eq!(d["effect"]["release"], r["id"]);

    // Nothing is pending any more; a further step on the deployed release is refused.
    let pending = env
        .ok(
            "alice",
            Method::GET,
            "/api/v2/projects/shop/changes",
            json!(null),
        )
        .await;
    assert_eq!(pending["items"], json!([]));
    let (s, j) = env
        .send(
            "alice",
            Method::POST,
            "/api/v2/projects/shop/releases",
            json!({"title": "again"}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(j["error"]["code"], "nothing_to_release");
    let (s, j) = env
        .send("carol", Method::POST, &format!("{path}/approve"), json!({}))
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(j["error"]["code"], "already_deployed");
    assert!(intact(&env));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approvals_of_people_no_longer_eligible_stop_counting() {
    let env = setup(&[]).await;
    env.ok(
        "owner",
        Method::POST,
        "/api/v2/approval-policies",
        json!({
            "name": "one-platform", "quorum": 1, "eligible": {"teams": ["platform"]},
        }),
    )
    .await;
    stage(&env, "alice", json!({"replicas": 3})).await;
    let rel = env
        .ok(
            "alice",
            Method::POST,
            "/api/v2/projects/shop/releases",
            json!({"title": "scale", "submit": true}),
        )
        .await;
    let path = format!(
        "/api/v2/projects/shop/releases/{}",
        rel["id"].as_str().unwrap()
    );
    // Bob is not in platform: the engine refuses his approval.
    let (s, j) = env
        .send("bob", Method::POST, &format!("{path}/approve"), json!({}))
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{j}");
    assert_eq!(j["error"]["code"], "approval_refused");
    let r = env
        .ok("carol", Method::POST, &format!("{path}/approve"), json!({}))
        .await;
    assert_eq!(r["state"], "approved");
    // Carol leaves platform before the deploy: the deploy gate no longer counts her.
    env.ok(
        "owner",
        Method::PATCH,
        "/api/v2/teams/platform",
        json!({"members": []}),
    )
    .await;
    let (s, j) = env
        .send("alice", Method::POST, &format!("{path}/deploy"), json!({}))
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{j}");
    assert_eq!(j["error"]["code"], "not_approved");
    let r = env.ok("alice", Method::GET, &path, json!(null)).await;
    assert_eq!(r["state"], "pending_approval");
    assert_eq!(events(&r).last().unwrap(), "approval_lapsed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_steps_are_refused_audited_and_change_nothing() {
    let env = setup(&[]).await;
    env.ok(
        "owner",
        Method::POST,
        "/api/v2/approval-policies",
        json!({"name": "one", "quorum": 1}),
    )
    .await;
    stage(&env, "alice", json!({"replicas": 4})).await;
    let rel = env
        .ok(
            "alice",
            Method::POST,
            "/api/v2/projects/shop/releases",
            json!({"title": "scale"}),
        )
        .await;
    let path = format!(
        "/api/v2/projects/shop/releases/{}",
        rel["id"].as_str().unwrap()
    );
    assert_eq!(rel["state"], "draft");

    let cases: Vec<(&str, String, Json, &str)> = vec![
        ("bob", format!("{path}/approve"), json!({}), "not_submitted"),
        (
            "alice",
            format!("{path}/deploy"),
            json!({}),
            "not_submitted",
        ),
        (
            "alice",
            format!("{path}/cancel"),
            json!({"comment": "not now"}),
            "",
        ),
        (
            "bob",
            format!("{path}/approve"),
            json!({}),
            "release_closed",
        ),
        (
            "alice",
            format!("{path}/deploy"),
            json!({}),
            "release_closed",
        ),
        (
            "alice",
            format!("{path}/submit"),
            json!({}),
            "release_closed",
        ),
    ];
    for (who, url, body, code) in cases {
        let before = env.audit_count().await;
        let (s, j) = env.send(who, Method::POST, &url, body).await;
        if code.is_empty() {
            assert_eq!(s, StatusCode::OK, "{url}: {j}");
            continue;
        }
        assert_eq!(s, StatusCode::CONFLICT, "{url}: {j}");
        assert_eq!(j["error"]["code"], code, "{url}: {j}");
        assert!(!j["error"]["hint"].as_str().unwrap().is_empty());
        assert_eq!(
            env.audit_count().await,
            before + 1,
            "{url}: the refusal is audited"
        );
    }
    let r = env.ok("alice", Method::GET, &path, json!(null)).await;
    assert_eq!(r["state"], "cancelled");
    assert_eq!(events(&r), ["created", "cancelled"]);

    // A member without the approve grant is not permitted at all (403, not a gate).
    let (s, j) = env
        .send("dave", Method::POST, &format!("{path}/approve"), json!({}))
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{j}");
    assert_eq!(j["error"]["code"], "forbidden");

    // Break-glass without a justification: refused by the policy, audited, no session.
    let before = env.audit_count().await;
    let (s, j) = env
        .send(
            "sam",
            Method::POST,
            "/api/v2/breakglass",
            json!({"environment": "production", "severity": "P1"}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{j}");
    assert_eq!(j["error"]["code"], "policy_denied");
    assert!(
        j["error"]["message"]
            .as_str()
            .unwrap()
            .contains("justification"),
        "{j}"
    );
    assert_eq!(env.audit_count().await, before + 1);
    let sessions = env
        .ok("owner", Method::GET, "/api/v2/breakglass", json!(null))
        .await;
    assert_eq!(sessions["items"], json!([]));
    // A release scoped to something that is not in the project names the field.
    let (s, j) = env
        .send(
            "alice",
            Method::POST,
            "/api/v2/projects/shop/releases",
            json!({"title": "x", "environments": ["mars"]}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(j["error"]["detail"]["path"], "environments[0]");
    assert!(intact(&env));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_freeze_blocks_until_a_break_glass_session_lifts_it_and_the_session_is_sealed() {
    let env = setup(&[]).await;
    let start = chrono::Utc::now() - chrono::Duration::hours(1);
    let end = chrono::Utc::now() + chrono::Duration::hours(5);
    env.ok(
        "owner",
        Method::POST,
        "/api/v2/freezes",
        json!({
            "name": "maintenance",
            "reason": "Database maintenance",
            "scope": {"environment": ["production"]},
            "start": start.to_rfc3339(),
            "end": end.to_rfc3339(),
        }),
    )
    .await;
    stage(&env, "sam", json!({"image": {"tag": "1.0.1"}})).await;
    // The freeze blocks the release, says when it ends and names the way around.
    let (s, j) = env
        .send(
            "sam",
            Method::POST,
            "/api/v2/projects/shop/releases",
            json!({"title": "hotfix"}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{j}");
    assert_eq!(j["error"]["code"], "frozen");
    assert!(
        j["error"]["message"]
            .as_str()
            .unwrap()
            .contains("maintenance"),
        "{j}"
    );
    assert!(
        j["error"]["hint"].as_str().unwrap().contains("break-glass"),
        "{j}"
    );
    assert!(
        j["error"]["message"]
            .as_str()
            .unwrap()
            .contains(&end.format("%Y-%m-%d").to_string()),
        "the message says when the window ends: {j}"
    );

    // Sam opens a session for production/checkout and releases within it.
    let session = env
        .ok("sam", Method::POST, "/api/v2/breakglass", json!({
            "project": "shop", "environment": "production", "workload": "checkout",
            "justification": "P1: checkout returns 500 for 40% of requests since 14:35; rolling forward the fix",
            "severity": "P1", "durationMinutes": 30,
        }))
        .await;
    assert_eq!(session["state"], "live");
    let rel = env
        .ok(
            "sam",
            Method::POST,
            "/api/v2/projects/shop/releases",
            json!({"title": "hotfix", "submit": true}),
        )
        .await;
    assert_eq!(rel["state"], "approved", "{rel}");
    let path = format!(
        "/api/v2/projects/shop/releases/{}",
        rel["id"].as_str().unwrap()
    );
    let r = env
        .ok("sam", Method::POST, &format!("{path}/deploy"), json!({}))
        .await;
    assert_eq!(r["state"], "deployed", "{r}");
    let deployed = r["timeline"].as_array().unwrap().last().unwrap().clone();
    assert!(
        deployed["note"]
            .as_str()
            .unwrap()
            .contains(session["id"].as_str().unwrap()),
        "the deploy is marked with the session: {deployed}"
    );
    // Someone else is still frozen out.
    stage(&env, "alice", json!({"image": {"tag": "1.0.2"}})).await;
    let (s, j) = env
        .send(
            "alice",
            Method::POST,
            "/api/v2/projects/shop/releases",
            json!({"title": "other"}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{j}");
    assert_eq!(j["error"]["code"], "frozen");

    // Closing needs a note; then the session, with what was done under it, is sealed.
    let url = format!(
        "/api/v2/breakglass/{}/close",
        session["id"].as_str().unwrap()
    );
    let (s, j) = env
        .send("sam", Method::POST, &url, json!({"note": " "}))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{j}");
    let closed = env
        .ok(
            "sam",
            Method::POST,
            &url,
            json!({"note": "Fix deployed; error rate back to baseline."}),
        )
        .await;
    assert_eq!(closed["state"], "closed");
    assert!(
        !closed["actions"].as_array().unwrap().is_empty(),
        "{closed}"
    );
    let audit = env
        .ok(
            "owner",
            Method::GET,
            "/api/v2/audit?action=breakglass.close",
            json!(null),
        )
        .await;
    let seal = &audit["items"][0];
    assert_eq!(
        seal["after"]["note"],
        "Fix deployed; error rate back to baseline."
    );
    assert_eq!(seal["after"]["actions"], closed["actions"]);
    // After closing, the freeze applies to Sam again.
    let (s, j) = env
        .send(
            "sam",
            Method::POST,
            "/api/v2/projects/shop/releases",
            json!({"title": "more"}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{j}");
    assert_eq!(j["error"]["code"], "frozen");
    assert!(intact(&env));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_simultaneous_approvals_make_one_transition_and_one_deploy() {
    let approvers: Vec<String> = (0..50).map(|i| format!("approver-{i}")).collect();
    let names: Vec<&str> = approvers.iter().map(String::as_str).collect();
    let env = setup(&names).await;
    env.ok(
        "owner",
        Method::POST,
        "/api/v2/approval-policies",
        json!({"name": "two", "quorum": 2}),
    )
    .await;
    stage(&env, "alice", json!({"replicas": 5})).await;
    let rel = env
        .ok(
            "alice",
            Method::POST,
            "/api/v2/projects/shop/releases",
            json!({"title": "scale", "submit": true, "autoDeploy": true}),
        )
        .await;
    assert_eq!(rel["state"], "pending_approval");
    let path = format!(
        "/api/v2/projects/shop/releases/{}",
        rel["id"].as_str().unwrap()
    );
    let mut tasks = Vec::new();
    for name in &approvers {
        let (app, token, url) = (
            env.app.clone(),
            env.tokens[name].clone(),
            format!("{path}/approve"),
        );
        tasks.push(tokio::spawn(async move {
            call(
                &app,
                Method::POST,
                &url,
                Some(&token),
                Some(b"{}".to_vec()),
                &[],
            )
            .await
        }));
    }
    let mut admitted = 0;
    for t in tasks {
        let (s, j) = t.await.unwrap();
        match s {
            StatusCode::OK => admitted += 1,
            StatusCode::CONFLICT => {
                let code = j["error"]["code"].as_str().unwrap();
                assert!(
                    ["already_approved", "already_deployed", "release_busy"].contains(&code),
                    "{j}"
                );
            }
            other => panic!("unexpected {other}: {j}"),
        }
    }
    assert_eq!(admitted, 2, "exactly the quorum's approvals are admitted");
    let r = env.ok("alice", Method::GET, &path, json!(null)).await;
    assert_eq!(r["state"], "deployed");
    let e = events(&r);
    assert_eq!(e.iter().filter(|x| *x == "approved").count(), 1, "{e:?}");
    assert_eq!(e.iter().filter(|x| *x == "deployed").count(), 1, "{e:?}");
    let deploys = env
        .ok(
            "owner",
            Method::GET,
            "/api/v2/audit?action=release.deploy",
            json!(null),
        )
        .await;
    assert_eq!(deploys["items"].as_array().unwrap().len(), 1, "{deploys}");
    assert!(intact(&env));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollback_is_previewed_approved_and_deployed_as_a_new_release() {
    let env = setup(&[]).await;
    env.ok(
        "owner",
        Method::POST,
        "/api/v2/approval-policies",
        json!({
            "name": "rollbacks-need-platform", "kinds": ["rollback"], "quorum": 1,
            "eligible": {"teams": ["platform"]},
        }),
    )
    .await;
    let deploy = |title: &'static str| {
        let env = &env;
        async move {
            let r = env
                .ok(
                    "alice",
                    Method::POST,
                    "/api/v2/projects/shop/releases",
                    json!({"title": title, "submit": true}),
                )
                .await;
            assert_eq!(r["state"], "approved", "{r}");
            let url = format!(
                "/api/v2/projects/shop/releases/{}/deploy",
                r["id"].as_str().unwrap()
            );
            env.ok("alice", Method::POST, &url, json!({})).await
        }
    };
    stage(
        &env,
        "alice",
        json!({"image": {"tag": "1.1.0"}, "cache": true}),
    )
    .await;
    let good = deploy("good").await;
    stage(&env, "alice", json!({"image": {"tag": "1.2.0"}})).await;
    deploy("bad").await;

    // A preview stores nothing and shows the way back.
    let before = env.audit_count().await;
    let preview = env
        .ok(
            "sam",
            Method::POST,
            "/api/v2/projects/shop/rollbacks",
            json!({"to": good["id"], "preview": true}),
        )
        .await;
    assert_eq!(env.audit_count().await, before);
    let changes = preview["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 2, "{preview}");
    assert!(
        changes
            .iter()
            .any(|c| c["path"] == "image.tag" && c["before"] == "1.2.0" && c["after"] == "1.1.0")
    );
    assert!(
        changes
            .iter()
            .any(|c| c["path"] == "cache" && c["after"] == true)
    );

    // The rollback is a new release, gated by the rollback approval policy.
    let rb = env
        .ok(
            "sam",
            Method::POST,
            "/api/v2/projects/shop/rollbacks",
            json!({"to": good["id"], "workloads": ["checkout"]}),
        )
        .await;
    assert_eq!(rb["state"], "pending_approval", "{rb}");
    assert_eq!(rb["number"], 3);
    assert_eq!(rb["title"], "Roll back to #1");
    assert!(
        waiting(&rb)
            .iter()
            .any(|m| m.contains("rollbacks-need-platform")),
        "{rb}"
    );
    let path = format!(
        "/api/v2/projects/shop/releases/{}",
        rb["id"].as_str().unwrap()
    );
    env.ok("carol", Method::POST, &format!("{path}/approve"), json!({}))
        .await;
    let done = env
        .ok("sam", Method::POST, &format!("{path}/deploy"), json!({}))
        .await;
    assert_eq!(done["state"], "deployed", "{done}");
    // The deploy was decided as a rollback.
    let last = done["timeline"].as_array().unwrap().last().unwrap().clone();
    let d = env
        .ok(
            "owner",
            Method::GET,
            &format!(
                "/api/v2/decisions/{}",
                last["decisions"][0].as_str().unwrap()
            ),
            json!(null),
        )
        .await;
    assert_eq!(d["decision"]["kind"], "rollback");
    assert_eq!(
        d["action"]["subject"]["rollback"]["target_release"],
        good["id"]
    );
    // Deployed and staged values are the good release's again; nothing is pending.
    let v = env
        .ok(
            "alice",
            Method::GET,
            "/api/v2/projects/shop/workloads/checkout/values?environment=production",
            json!(null),
        )
        .await;
    assert_eq!(
        v["values"],
        json!({"image": {"tag": "1.1.0"}, "cache": true})
    );
    let pending = env
        .ok(
            "alice",
            Method::GET,
            "/api/v2/projects/shop/changes",
            json!(null),
        )
        .await;
    assert_eq!(pending["items"], json!([]), "{pending}");
    // History is not rewritten: both earlier releases are still deployed in the list.
    let list = env
        .ok(
            "alice",
            Method::GET,
            "/api/v2/projects/shop/releases?state=deployed",
            json!(null),
        )
        .await;
    assert_eq!(list["items"].as_array().unwrap().len(), 3);
    // Rolling back to what is deployed, or to a release never deployed, is refused.
    let (s, j) = env
        .send(
            "sam",
            Method::POST,
            "/api/v2/projects/shop/rollbacks",
            json!({"to": good["id"]}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{j}");
    assert_eq!(j["error"]["code"], "nothing_to_roll_back");
    stage(&env, "alice", json!({"image": {"tag": "1.3.0"}})).await;
    let draft = env
        .ok(
            "alice",
            Method::POST,
            "/api/v2/projects/shop/releases",
            json!({"title": "draft"}),
        )
        .await;
    let (s, j) = env
        .send(
            "sam",
            Method::POST,
            "/api/v2/projects/shop/rollbacks",
            json!({"to": draft["id"]}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{j}");
    assert_eq!(j["error"]["code"], "not_deployed");
    assert!(intact(&env));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ci_image_update_opens_a_release_that_still_passes_every_gate() {
    let mut env = setup(&[]).await;
    env.ok(
        "owner",
        Method::PATCH,
        "/api/v2/projects/shop",
        json!({"autoRelease": true}),
    )
    .await;
    env.ok(
        "owner",
        Method::POST,
        "/api/v2/approval-policies",
        json!({
            "name": "production", "scope": {"environment": ["production"]}, "quorum": 1,
            "eligible": {"teams": ["platform"]},
        }),
    )
    .await;
    env.ok(
        "owner",
        Method::POST,
        "/api/v2/service-accounts",
        json!({
            "name": "ci-deployer", "allowedActions": ["values.set"], "projects": ["shop"],
        }),
    )
    .await;
    let token = env
        .ok(
            "owner",
            Method::POST,
            "/api/v2/service-accounts/ci-deployer/tokens",
            json!({"name": "github", "expiresInDays": 90}),
        )
        .await;
    env.tokens
        .insert("ci".into(), token["secret"].as_str().unwrap().to_owned());
    // The first deploy of the workload, by hand.
    let first = env
        .ok(
            "alice",
            Method::POST,
            "/api/v2/projects/shop/releases",
            json!({"title": "first", "submit": true, "autoDeploy": true}),
        )
        .await;
    assert_eq!(first["state"], "pending_approval");
    let url = format!(
        "/api/v2/projects/shop/releases/{}/approve",
        first["id"].as_str().unwrap()
    );
    assert_eq!(
        env.ok("carol", Method::POST, &url, json!({})).await["state"],
        "deployed"
    );

    // The CI call of the seed: one key, with where it comes from.
    let body = json!({
        "path": "image.tag", "value": "v2.4.0", "environment": "production",
        "context": {"build": "https://ci.example/runs/1842", "commit": "9f3c2e1"},
    });
    let out = env
        .ok(
            "ci",
            Method::POST,
            "/api/v2/projects/shop/workloads/checkout/values",
            body,
        )
        .await;
    assert_eq!(out["values"]["values"]["image"]["tag"], "v2.4.0", "{out}");
    let rel = &out["release"];
    assert_eq!(rel["title"], "Auto: image update to v2.4.0", "{out}");
    assert_eq!(rel["requester"], "service_account:ci-deployer");
    assert!(rel["description"].as_str().unwrap().contains("9f3c2e1"));
    assert_eq!(
        rel["changes"].as_array().unwrap().len(),
        1,
        "only the image tag: {rel}"
    );
    assert_eq!(rel["changes"][0]["path"], "image.tag");
    // The approval gate still applies; once approved it deploys by itself.
    assert_eq!(rel["state"], "pending_approval");
    let inbox = env
        .ok("carol", Method::GET, "/api/v2/approvals", json!(null))
        .await;
    assert_eq!(inbox["items"][0]["release"], rel["id"], "{inbox}");
    let url = format!(
        "/api/v2/projects/shop/releases/{}/approve",
        rel["id"].as_str().unwrap()
    );
    let done = env.ok("carol", Method::POST, &url, json!({})).await;
    assert_eq!(done["state"], "deployed", "{done}");

    // The token can do only what it was given.
    let (s, j) = env
        .send(
            "ci",
            Method::POST,
            "/api/v2/projects/shop/releases",
            json!({"title": "sneaky"}),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{j}");

    // During a freeze the value is staged, and the release is refused with the reason.
    env.ok("owner", Method::POST, "/api/v2/freezes", json!({
        "name": "launch", "start": (chrono::Utc::now() - chrono::Duration::minutes(5)).to_rfc3339(),
        "end": (chrono::Utc::now() + chrono::Duration::hours(2)).to_rfc3339(),
    }))
    .await;
    let out = env
        .ok(
            "ci",
            Method::POST,
            "/api/v2/projects/shop/workloads/checkout/values",
            json!({"path": "image.tag", "value": "v2.4.1", "environment": "production"}),
        )
        .await;
    assert_eq!(out["values"]["values"]["image"]["tag"], "v2.4.1");
    assert_eq!(out["release"], Json::Null);
    assert_eq!(out["releaseRefused"]["code"], "frozen", "{out}");
    // Bad input names the field; nothing is staged.
    let (s, j) = env
        .send(
            "ci",
            Method::POST,
            "/api/v2/projects/shop/workloads/checkout/values",
            json!({"path": "image..tag", "value": 1}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{j}");
    assert_eq!(j["error"]["detail"]["path"], "path");
    assert!(intact(&env));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promotion_follows_the_pipeline_and_its_edge_approvals() {
    let env = setup(&[]).await;
    env.ok(
        "owner",
        Method::POST,
        "/api/v2/environments",
        json!({"name": "staging", "rank": 20}),
    )
    .await;
    env.ok(
        "owner",
        Method::POST,
        "/api/v2/projects/shop/environments",
        json!({"name": "staging", "cluster": "prod-eu"}),
    )
    .await;
    // No edge yet: refused, naming the fix.
    stage_at(&env, "staging", json!({"image": {"tag": "3.0.0"}})).await;
    let rel = env
        .ok("alice", Method::POST, "/api/v2/projects/shop/releases", json!({"title": "staging 3.0.0", "environments": ["staging"], "submit": true, "autoDeploy": true}))
        .await;
    assert_eq!(rel["state"], "deployed", "{rel}");
    let (s, j) = env
        .send(
            "alice",
            Method::POST,
            "/api/v2/projects/shop/promotions",
            json!({"release": rel["id"], "to": "production"}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{j}");
    assert_eq!(j["error"]["code"], "not_in_pipeline");
    // An edge that needs one approval from platform.
    env.ok("owner", Method::PATCH, "/api/v2/projects/shop", json!({"pipeline": [{"from": "staging", "to": "production", "approvals": 1, "approverTeams": ["platform"]}]})).await;
    let (s, j) = env
        .send(
            "owner",
            Method::PATCH,
            "/api/v2/projects/shop",
            json!({"pipeline": [{"from": "staging", "to": "mars"}]}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{j}");
    assert_eq!(j["error"]["detail"]["path"], "pipeline[0].to");
    let promo = env
        .ok(
            "alice",
            Method::POST,
            "/api/v2/projects/shop/promotions",
            json!({"release": rel["id"], "to": "production"}),
        )
        .await;
    let batch = promo["batches"][0]["release"].as_str().unwrap().to_owned();
    let path = format!("/api/v2/projects/shop/releases/{batch}");
    let r = env.ok("alice", Method::GET, &path, json!(null)).await;
    assert_eq!(r["state"], "pending_approval", "{r}");
    assert!(
        waiting(&r)
            .iter()
            .any(|m| m.contains("staging → production")),
        "{r}"
    );
    assert_eq!(
        r["changes"].as_array().unwrap().len(),
        1,
        "only the staging change: {r}"
    );
    assert_eq!(r["changes"][0]["environment"], "production");
    assert_eq!(r["changes"][0]["path"], "image.tag");
    assert_eq!(r["changes"][0]["after"], "3.0.0");
    // Bob (backend) is not eligible on this edge; Carol (platform) is.
    let (s, j) = env
        .send("bob", Method::POST, &format!("{path}/approve"), json!({}))
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{j}");
    assert_eq!(j["error"]["code"], "approval_refused");
    env.ok("carol", Method::POST, &format!("{path}/approve"), json!({}))
        .await;
    let r = env
        .ok("alice", Method::POST, &format!("{path}/deploy"), json!({}))
        .await;
    assert_eq!(r["state"], "deployed", "{r}");
    let d = env
        .ok(
            "owner",
            Method::GET,
            &format!(
                "/api/v2/decisions/{}",
                r["timeline"].as_array().unwrap().last().unwrap()["decisions"][0]
                    .as_str()
                    .unwrap()
            ),
            json!(null),
        )
        .await;
    assert_eq!(d["decision"]["kind"], "promotion");
    assert_eq!(d["action"]["subject"]["promotion"]["from"], "staging");
    let p = env
        .ok(
            "alice",
            Method::GET,
            &format!(
                "/api/v2/projects/shop/promotions/{}",
                promo["id"].as_str().unwrap()
            ),
            json!(null),
        )
        .await;
    assert_eq!(p["state"], "completed", "{p}");
    assert!(intact(&env));
}

async fn stage_at(env: &Env, environment: &str, values: Json) {
    env.ok(
        "alice",
        Method::PUT,
        &format!("/api/v2/projects/shop/workloads/checkout/values?environment={environment}"),
        values,
    )
    .await;
}

/// A webhook receiver on loopback that fails its first `failures` requests.
async fn receiver(
    failures: usize,
) -> (
    String,
    std::sync::Arc<std::sync::Mutex<Vec<(axum::http::HeaderMap, Json)>>>,
) {
    use std::sync::{Arc, Mutex};
    let seen: Arc<Mutex<Vec<(axum::http::HeaderMap, Json)>>> = Arc::default();
    let count = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (s, c) = (seen.clone(), count.clone());
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(
            move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let (s, c) = (s.clone(), c.clone());
                async move {
                    if c.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < failures {
                        return StatusCode::SERVICE_UNAVAILABLE;
                    }
                    let json: Json = serde_json::from_slice(&body).unwrap_or(Json::Null);
                    assert_eq!(
                        headers
                            .get("x-gatehouse-signature")
                            .map(|v| v.to_str().unwrap().to_owned()),
                        Some(gatehouse::server::notify::signature("s3cret", &body))
                            .filter(|_| headers.contains_key("x-gatehouse-signature")),
                    );
                    s.lock().unwrap().push((headers, json));
                    StatusCode::OK
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn release_events_are_posted_to_webhooks_with_retries_and_a_delivery_log() {
    use gatehouse::server::notify::{Retry, spawn};
    let env = setup(&[]).await;
    let _worker = spawn(
        env.hub.clone(),
        Retry {
            base: std::time::Duration::from_millis(50),
            attempts: 4,
            timeout: std::time::Duration::from_secs(2),
        },
    );
    let (flaky, seen) = receiver(2).await;
    let (slack, slack_seen) = receiver(0).await;
    env.ok(
        "owner",
        Method::POST,
        "/api/v2/notifications",
        json!({"name": "ops", "url": flaky, "secret": "s3cret", "events": ["release.deployed"]}),
    )
    .await;
    env.ok(
        "owner",
        Method::POST,
        "/api/v2/notifications",
        json!({"name": "chat", "url": slack, "format": "slack", "projects": ["shop"]}),
    )
    .await;
    env.ok(
        "owner",
        Method::POST,
        "/api/v2/notifications",
        json!({"name": "gone", "url": "http://127.0.0.1:9/nothing", "events": ["release.created"]}),
    )
    .await;
    let (s, j) = env
        .send(
            "owner",
            Method::POST,
            "/api/v2/notifications",
            json!({"name": "ftp", "url": "ftp://hooks.example/x"}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{j}");
    assert_eq!(j["error"]["detail"]["path"], "url");
    let listed = env
        .ok(
            "owner",
            Method::GET,
            "/api/v2/notifications/ops",
            json!(null),
        )
        .await;
    assert_eq!(
        listed["secret"], "(set)",
        "the secret is not shown again: {listed}"
    );

    stage(&env, "alice", json!({"replicas": 6})).await;
    let rel = env
        .ok(
            "alice",
            Method::POST,
            "/api/v2/projects/shop/releases",
            json!({"title": "scale out", "submit": true, "autoDeploy": true}),
        )
        .await;
    assert_eq!(rel["state"], "deployed");

    // Bounded wait for the worker: the flaky endpoint needs three attempts.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let ops = env
            .ok(
                "owner",
                Method::GET,
                "/api/v2/notifications/ops/deliveries",
                json!(null),
            )
            .await;
        let gone = env
            .ok(
                "owner",
                Method::GET,
                "/api/v2/notifications/gone/deliveries",
                json!(null),
            )
            .await;
        let done = ops["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["state"] != "pending")
            && gone["items"]
                .as_array()
                .unwrap()
                .iter()
                .all(|d| d["state"] != "pending")
            && !ops["items"].as_array().unwrap().is_empty();
        if done {
            assert_eq!(
                ops["items"].as_array().unwrap().len(),
                1,
                "only release.deployed: {ops}"
            );
            assert_eq!(ops["items"][0]["state"], "delivered");
            assert_eq!(ops["items"][0]["attempts"], 3, "{ops}");
            assert_eq!(gone["items"][0]["state"], "failed");
            assert_eq!(gone["items"][0]["attempts"], 4);
            assert!(
                gone["items"][0]["lastError"]
                    .as_str()
                    .unwrap()
                    .contains("cannot reach")
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "deliveries still pending: {ops} {gone}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let got = seen.lock().unwrap().clone();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].1["event"], "release.deployed");
    assert_eq!(got[0].1["release"]["title"], "scale out");
    assert!(got[0].0.contains_key("x-gatehouse-signature"));
    // The Slack-compatible body, for every event of the release.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while slack_seen.lock().unwrap().len() < 4 {
        assert!(
            std::time::Instant::now() < deadline,
            "slack deliveries missing"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let texts: Vec<String> = slack_seen
        .lock()
        .unwrap()
        .iter()
        .map(|(_, b)| b["text"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        texts
            .iter()
            .any(|t| t == "Release #1 \"scale out\" in shop: deployed by user:alice"),
        "{texts:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_that_expires_without_a_close_is_sealed_by_the_hub() {
    let env = setup(&[]).await;
    let session = env
        .ok(
            "sam",
            Method::POST,
            "/api/v2/breakglass",
            json!({
                "environment": "production", "severity": "P2", "durationMinutes": 30,
                "justification": "P2: payments retry storm; scaling the workers past the freeze",
            }),
        )
        .await;
    let id = session["id"].as_str().unwrap();
    assert_eq!(
        gatehouse::server::breakglass::seal_expired(&env.hub).unwrap(),
        0,
        "still live"
    );
    // Time passes: the session's expiry is moved into the past.
    let conn = rusqlite::Connection::open(env.hub.store.path()).unwrap();
    conn.execute(
        "UPDATE breakglass_sessions SET expires_at = '2026-01-01T00:00:00.000000Z' WHERE id = ?1",
        [id],
    )
    .unwrap();
    assert_eq!(
        gatehouse::server::breakglass::seal_expired(&env.hub).unwrap(),
        1
    );
    assert_eq!(
        gatehouse::server::breakglass::seal_expired(&env.hub).unwrap(),
        0,
        "sealed once"
    );
    let s = env
        .ok(
            "owner",
            Method::GET,
            &format!("/api/v2/breakglass/{id}"),
            json!(null),
        )
        .await;
    assert_eq!(s["state"], "closed", "{s}");
    assert_eq!(s["closedAt"], "2026-01-01T00:00:00.000000Z");
    let audit = env
        .ok(
            "owner",
            Method::GET,
            &format!("/api/v2/audit?resource=breakglass/{id}"),
            json!(null),
        )
        .await;
    let seal = audit["items"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(seal["action"], "breakglass.expired");
    assert_eq!(seal["actor"], "system");
    assert_eq!(seal["after"]["note"], "expired without a closing note");
    let (s, j) = env
        .send(
            "sam",
            Method::POST,
            &format!("/api/v2/breakglass/{id}/close"),
            json!({"note": "late"}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{j}");
    assert!(intact(&env));
}

/// An HTTPS endpoint with a certificate for 127.0.0.1 signed by its own CA: the CA's PEM and
/// the URL; every request body it receives is recorded.
async fn https_receiver(
    dir: &std::path::Path,
) -> (
    std::path::PathBuf,
    String,
    std::sync::Arc<std::sync::Mutex<Vec<Json>>>,
) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    let ca_path = dir.join("hooks-ca.pem");
    std::fs::write(&ca_path, ca_cert.pem()).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![cert.der().clone()],
        rustls_pki_types::PrivateKeyDer::try_from(key.serialize_der()).unwrap(),
    )
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("https://{}/hook", listener.local_addr().unwrap());
    let seen: std::sync::Arc<std::sync::Mutex<Vec<Json>>> = Default::default();
    let s = seen.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, s) = (acceptor.clone(), s.clone());
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                // One request: headers, then a body of content-length bytes.
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    let Ok(n) = tls.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&buf).to_string();
                    let Some(end) = text.find("\r\n\r\n") else {
                        continue;
                    };
                    let length: usize = text[..end]
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    if buf.len() >= end + 4 + length {
                        let body: Json = serde_json::from_slice(&buf[end + 4..end + 4 + length])
                            .unwrap_or(Json::Null);
                        s.lock().unwrap().push(body);
                        let _ = tls.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").await;
                        let _ = tls.shutdown().await;
                        return;
                    }
                }
            });
        }
    });
    (ca_path, url, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_go_to_https_endpoints_whose_certificate_checks_out() {
    use gatehouse::server::notify::{Retry, spawn};
    let certs = tempfile::tempdir().unwrap();
    let (ca, url, seen) = https_receiver(certs.path()).await;
    let env = setup_with(&[], |c| c.notify_ca = Some(ca.clone())).await;
    let _worker = spawn(
        env.hub.clone(),
        Retry {
            base: std::time::Duration::from_millis(50),
            attempts: 2,
            timeout: std::time::Duration::from_secs(2),
        },
    );
    env.ok(
        "owner",
        Method::POST,
        "/api/v2/notifications",
        json!({"name": "tls", "url": url, "events": ["release.created"]}),
    )
    .await;
    // The same endpoint by a name its certificate does not carry: refused by verification.
    let wrong = url.replace("127.0.0.1", "localhost");
    env.ok(
        "owner",
        Method::POST,
        "/api/v2/notifications",
        json!({"name": "wrong-name", "url": wrong, "events": ["release.created"]}),
    )
    .await;
    stage(&env, "alice", json!({"replicas": 4})).await;
    env.ok(
        "alice",
        Method::POST,
        "/api/v2/projects/shop/releases",
        json!({"title": "over tls"}),
    )
    .await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let ok = env
            .ok(
                "owner",
                Method::GET,
                "/api/v2/notifications/tls/deliveries",
                json!(null),
            )
            .await;
        let bad = env
            .ok(
                "owner",
                Method::GET,
                "/api/v2/notifications/wrong-name/deliveries",
                json!(null),
            )
            .await;
        let settled = |d: &Json| {
            d["items"]
                .as_array()
                .is_some_and(|i| !i.is_empty() && i.iter().all(|x| x["state"] != "pending"))
        };
        if settled(&ok) && settled(&bad) {
            assert_eq!(ok["items"][0]["state"], "delivered", "{ok}");
            assert_eq!(bad["items"][0]["state"], "failed", "{bad}");
            let error = bad["items"][0]["lastError"].as_str().unwrap();
            assert!(error.contains("certificate"), "{error}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "deliveries still pending: {ok} {bad}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let got = seen.lock().unwrap().clone();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["event"], "release.created");
    assert_eq!(got[0]["release"]["title"], "over tls");
}

/// A request signed with a signing key, as a registry webhook sends it.
async fn signed(
    env: &Env,
    key: &str,
    secret: &str,
    ts: i64,
    path: &str,
    body: &Json,
    tamper: bool,
) -> (StatusCode, Json) {
    let bytes = body.to_string().into_bytes();
    let ts = ts.to_string();
    let mut signature = gatehouse::server::signing::sign(secret, &ts, "POST", path, &bytes);
    if tamper {
        signature = gatehouse::server::signing::sign(secret, &ts, "POST", path, b"{}");
    }
    call(
        &env.app,
        Method::POST,
        path,
        None,
        Some(bytes),
        &[
            ("x-gatehouse-key", key),
            ("x-gatehouse-timestamp", &ts),
            ("x-gatehouse-signature", &signature),
        ],
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registry_webhook_signs_its_call_and_bad_signatures_change_nothing() {
    let env = setup(&[]).await;
    env.ok(
        "owner",
        Method::POST,
        "/api/v2/service-accounts",
        json!({"name": "registry", "allowedActions": ["values.set"], "projects": ["shop"]}),
    )
    .await;
    let key = env
        .ok(
            "owner",
            Method::POST,
            "/api/v2/service-accounts/registry/signing-keys",
            json!({}),
        )
        .await;
    let (id, secret) = (
        key["id"].as_str().unwrap().to_owned(),
        key["secret"].as_str().unwrap().to_owned(),
    );
    assert!(
        secret.starts_with("ghqk_") && secret.len() == 5 + 64,
        "{key}"
    );
    let listed = env
        .ok(
            "owner",
            Method::GET,
            "/api/v2/service-accounts/registry/signing-keys",
            json!(null),
        )
        .await;
    assert!(
        listed["items"][0].get("secret").is_none(),
        "the secret is shown once: {listed}"
    );

    let path = "/api/v2/projects/shop/workloads/checkout/values";
    let body = json!({"path": "image.tag", "value": "v3.0.0", "environment": "production"});
    let now = chrono::Utc::now().timestamp();
    let before = env.audit_count().await;
    let current = || async {
        env.ok(
            "owner",
            Method::GET,
            "/api/v2/projects/shop/workloads/checkout/values?environment=production",
            json!(null),
        )
        .await["values"]["image"]["tag"]
            .clone()
    };
    let tag_before = current().await;

    // Refused, each with its reason, each recorded, nothing changed.
    let cases = [
        (
            signed(&env, &id, &secret, now, path, &body, true).await,
            "does not match",
        ),
        (
            signed(&env, &id, "ghqk_wrong", now, path, &body, false).await,
            "does not match",
        ),
        (
            signed(&env, &id, &secret, now - 3600, path, &body, false).await,
            "away from the hub's clock",
        ),
        (
            signed(&env, "sk_nope", &secret, now, path, &body, false).await,
            "not known",
        ),
    ];
    for ((status, j), why) in &cases {
        assert_eq!(*status, StatusCode::UNAUTHORIZED, "{j}");
        assert_eq!(j["error"]["code"], "bad_signature", "{j}");
        assert!(
            j["error"]["message"].as_str().unwrap().contains(why),
            "{why}: {j}"
        );
    }
    assert_eq!(current().await, tag_before, "nothing changed");
    let audit = env
        .ok(
            "owner",
            Method::GET,
            "/api/v2/audit?limit=1000",
            json!(null),
        )
        .await;
    let rejected = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "auth.signature.rejected")
        .count();
    assert_eq!(
        rejected, 3,
        "the known key's refusals are recorded (the unknown key has no organization)"
    );
    assert_eq!(env.audit_count().await, before + 3);

    // Signed correctly: the value is set as the service account, through the same gate.
    let (status, out) = signed(&env, &id, &secret, now, path, &body, false).await;
    assert_eq!(status, StatusCode::OK, "{out}");
    assert_eq!(out["values"]["values"]["image"]["tag"], "v3.0.0", "{out}");
    assert_eq!(current().await, json!("v3.0.0"));
    // The same signed request again is a replay.
    let (status, j) = signed(&env, &id, &secret, now, path, &body, false).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{j}");
    assert!(
        j["error"]["message"]
            .as_str()
            .unwrap()
            .contains("already used"),
        "{j}"
    );
    // A signature works only where signatures are accepted, and only within the account's rights.
    let (status, _) = signed(
        &env,
        &id,
        &secret,
        now + 1,
        "/api/v2/projects/shop/releases",
        &json!({"title": "x"}),
        false,
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Revoked keys stop working.
    let url = format!("/api/v2/service-accounts/registry/signing-keys/{id}");
    let (status, _) = env.send("owner", Method::DELETE, &url, json!(null)).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, j) = signed(&env, &id, &secret, now + 2, path, &body, false).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        j["error"]["message"].as_str().unwrap().contains("revoked"),
        "{j}"
    );
}
