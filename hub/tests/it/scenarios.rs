//! The seed's end-to-end scenarios, each as a newcomer would run it: a real `gatehouse serve`
//! process on loopback from an empty data directory, the built-in policies and plugins
//! deciding, HTTP only, and `gatehouse audit verify` at the end.
//!
//! Scenario 1 (bootstrap to deployed), 3 (incident rollback), 5 (CI image update to an
//! automatic release), 7 (team RBAC) and 8 (break-glass under a freeze).

use std::path::Path;

use serde_json::{Value as Json, json};

use super::serve::{Served, cli, start, start_with};
use super::server::{chart_tgz, chart_tgz_with};

/// An HTTP client for one hub, acting with one token at a time.
struct Api {
    client: reqwest::Client,
    base: String,
}

impl Api {
    fn of(hub: &Served) -> Api {
        Api {
            client: crate::http(),
            base: hub.base.clone(),
        }
    }

    async fn send(&self, token: &str, method: &str, path: &str, body: Option<Json>) -> (u16, Json) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("the hub answers");
        let status = resp.status().as_u16();
        let json = resp.json().await.unwrap_or(Json::Null);
        (status, json)
    }

    /// A request that must succeed.
    async fn ok(&self, token: &str, method: &str, path: &str, body: Json) -> Json {
        let body = (method != "GET").then_some(body);
        let (s, j) = self.send(token, method, path, body).await;
        assert!((200..300).contains(&s), "{method} {path}: {s} {j}");
        j
    }

    /// A request that must be refused with this status and error code.
    async fn refused(
        &self,
        token: &str,
        method: &str,
        path: &str,
        body: Json,
        status: u16,
        code: &str,
    ) -> Json {
        let (s, j) = self.send(token, method, path, Some(body)).await;
        assert_eq!(s, status, "{method} {path}: {j}");
        assert_eq!(j["error"]["code"], code, "{method} {path}: {j}");
        assert!(
            !j["error"]["hint"].as_str().unwrap_or_default().is_empty(),
            "{j}"
        );
        j
    }

    async fn member(&self, owner: &str, name: &str, role: &str) -> String {
        let j = self
            .ok(
                owner,
                "POST",
                "/api/v2/members",
                json!({"name": name, "role": role}),
            )
            .await;
        j["token"]["secret"].as_str().unwrap().to_owned()
    }

    async fn upload_chart(&self, token: &str, name: &str, version: &str) {
        self.upload_chart_archive(token, name, chart_tgz(name, version))
            .await;
    }

    /// Registers chart `name` and uploads `archive` as a version of it.
    async fn upload_chart_archive(&self, token: &str, name: &str, archive: Vec<u8>) {
        self.ok(token, "POST", "/api/v2/charts", json!({"name": name}))
            .await;
        let resp = self
            .client
            .post(format!("{}/api/v2/charts/{name}/versions", self.base))
            .bearer_auth(token)
            .header("content-type", "application/gzip")
            .body(archive)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 201);
    }

    /// A project `shop` with workload `checkout` in `production` on cluster `prod-eu`.
    async fn shop(&self, owner: &str) {
        self.ok(
            owner,
            "POST",
            "/api/v2/environments",
            json!({"name": "staging", "rank": 20, "colour": "#e0a000"}),
        )
        .await;
        self.ok(
            owner,
            "POST",
            "/api/v2/environments",
            json!({"name": "production", "rank": 30, "colour": "#cc0000", "protected": true}),
        )
        .await;
        self.ok(
            owner,
            "POST",
            "/api/v2/clusters",
            json!({"name": "prod-eu", "labels": {"tier": "production"}}),
        )
        .await;
        self.upload_chart(owner, "web", "1.0.0").await;
        self.ok(owner, "POST", "/api/v2/projects", json!({"name": "shop"}))
            .await;
        self.ok(
            owner,
            "POST",
            "/api/v2/projects/shop/environments",
            json!({"name": "production", "cluster": "prod-eu"}),
        )
        .await;
        self.ok(
            owner,
            "POST",
            "/api/v2/projects/shop/workloads",
            json!({
                "name": "checkout", "chart": "web", "chartVersion": "1.0.0",
                "values": {"image": {"tag": "2.8.0"}, "replicas": 3},
            }),
        )
        .await;
    }

    /// Creates, submits and (once approved) deploys a release; returns it.
    async fn release(&self, token: &str, title: &str) -> Json {
        self.ok(
            token,
            "POST",
            "/api/v2/projects/shop/releases",
            json!({"title": title, "submit": true}),
        )
        .await
    }

    async fn step(&self, token: &str, release: &Json, step: &str) -> Json {
        let path = format!(
            "/api/v2/projects/shop/releases/{}/{step}",
            release["id"].as_str().unwrap()
        );
        self.ok(token, "POST", &path, json!({})).await
    }
}

fn verified(dir: &Path) {
    let out = cli(&["audit", "verify"], dir);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

fn owner_token(hub: &Served) -> String {
    hub.token
        .clone()
        .expect("the first start prints the owner's token")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_1_from_an_empty_organization_to_a_deployed_service() {
    let dir = tempfile::tempdir().unwrap();
    let hub = start(dir.path());
    let owner = owner_token(&hub);
    let api = Api::of(&hub);
    let features = api.ok(&owner, "GET", "/api/v2/features", json!(null)).await;
    assert_eq!(features["features"]["releases"], true);

    api.shop(&owner).await;
    let cluster = api
        .ok(
            &owner,
            "POST",
            "/api/v2/clusters",
            json!({"name": "prod-us"}),
        )
        .await;
    assert!(
        cluster["registrationToken"]
            .as_str()
            .unwrap()
            .starts_with("ghqa_reg_")
    );
    assert!(
        cluster["installCommand"]
            .as_str()
            .unwrap()
            .contains("registrationToken")
    );
    let dev = api.member(&owner, "devon", "member").await;
    api.ok(
        &owner,
        "POST",
        "/api/v2/teams",
        json!({"name": "devops", "members": ["devon"], "grants": {"shop": ["write", "release"]}}),
    )
    .await;

    // The developer sets the production values, looks at what is pending, releases it.
    api.ok(
        &dev,
        "PUT",
        "/api/v2/projects/shop/workloads/checkout/values?environment=production",
        json!({"image": {"tag": "2.9.0"}}),
    )
    .await;
    let pending = api
        .ok(&dev, "GET", "/api/v2/projects/shop/changes", json!(null))
        .await;
    assert_eq!(pending["items"].as_array().unwrap().len(), 2, "{pending}");
    let rel = api.release(&dev, "checkout 2.9.0").await;
    assert_eq!(rel["state"], "approved", "no approval policy yet: {rel}");
    let rel = api.step(&dev, &rel, "deploy").await;
    assert_eq!(rel["state"], "deployed");
    let pending = api
        .ok(&dev, "GET", "/api/v2/projects/shop/changes", json!(null))
        .await;
    assert_eq!(pending["items"], json!([]));
    let audit = api
        .ok(&owner, "GET", "/api/v2/audit?action=release.*", json!(null))
        .await;
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(
        actions.contains(&"release.create") && actions.contains(&"release.deploy"),
        "{actions:?}"
    );
    drop(hub);
    verified(dir.path());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_3_an_incident_is_rolled_back_to_the_last_good_release() {
    let dir = tempfile::tempdir().unwrap();
    let hub = start(dir.path());
    let owner = owner_token(&hub);
    let api = Api::of(&hub);
    api.shop(&owner).await;
    let sre = api.member(&owner, "sre-on-call", "operator").await;
    let lead = api.member(&owner, "lead", "member").await;
    api.ok(&owner, "POST", "/api/v2/teams", json!({"name": "sre", "members": ["sre-on-call"], "grants": {"shop": ["read", "release", "rollback"]}})).await;
    api.ok(
        &owner,
        "POST",
        "/api/v2/teams",
        json!({"name": "leads", "members": ["lead"], "grants": {"shop": ["approve"]}}),
    )
    .await;
    api.ok(&owner, "POST", "/api/v2/approval-policies", json!({
        "name": "rollbacks", "kinds": ["rollback"], "quorum": 1, "eligible": {"teams": ["leads"]},
    }))
    .await;

    // REL-1 is good; REL-2 drops the cache endpoint and breaks checkout.
    api.ok(
        &owner,
        "PUT",
        "/api/v2/projects/shop/workloads/checkout/values?environment=production",
        json!({"env": {"CACHE_ENDPOINT": "redis://cache:6379"}}),
    )
    .await;
    let good = api.release(&owner, "good").await;
    api.step(&owner, &good, "deploy").await;
    api.ok(
        &owner,
        "PUT",
        "/api/v2/projects/shop/workloads/checkout/values?environment=production",
        json!({"env": {"CACHE_ENDPOINT": "redis://cache:6379"}, "image": {"tag": "2.9.1"}}),
    )
    .await;
    let bad = api.release(&owner, "bad").await;
    api.step(&owner, &bad, "deploy").await;

    // The SRE previews the rollback of checkout to REL-1, then asks for it.
    let preview = api
        .ok(
            &sre,
            "POST",
            "/api/v2/projects/shop/rollbacks",
            json!({"to": good["id"], "workloads": ["checkout"], "preview": true}),
        )
        .await;
    assert_eq!(preview["changes"][0]["path"], "image.tag", "{preview}");
    assert_eq!(preview["changes"][0]["before"], "2.9.1");
    let rb = api.ok(&sre, "POST", "/api/v2/projects/shop/rollbacks",
        json!({"to": good["id"], "workloads": ["checkout"], "description": "500s since 14:35", "autoDeploy": true})).await;
    assert_eq!(rb["state"], "pending_approval", "{rb}");
    // The requester may not approve their own rollback; the lead approves and it deploys.
    let (s, j) = api
        .send(
            &sre,
            "POST",
            &format!(
                "/api/v2/projects/shop/releases/{}/approve",
                rb["id"].as_str().unwrap()
            ),
            Some(json!({})),
        )
        .await;
    assert_eq!(s, 403, "the SRE has no approve grant: {j}");
    let done = api.step(&lead, &rb, "approve").await;
    assert_eq!(done["state"], "deployed", "{done}");
    let v = api
        .ok(
            &owner,
            "GET",
            "/api/v2/projects/shop/workloads/checkout/values?environment=production",
            json!(null),
        )
        .await;
    assert_eq!(v["values"]["image"], Json::Null, "back to REL-1: {v}");
    drop(hub);
    verified(dir.path());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_5_a_ci_image_build_becomes_an_approved_deploy() {
    let dir = tempfile::tempdir().unwrap();
    let hub = start(dir.path());
    let owner = owner_token(&hub);
    let api = Api::of(&hub);
    api.shop(&owner).await;
    let first = api.release(&owner, "initial").await;
    api.step(&owner, &first, "deploy").await;
    api.ok(
        &owner,
        "PATCH",
        "/api/v2/projects/shop",
        json!({"autoRelease": true}),
    )
    .await;
    let approver = api.member(&owner, "pat", "member").await;
    api.ok(
        &owner,
        "POST",
        "/api/v2/teams",
        json!({"name": "platform", "members": ["pat"], "grants": {"shop": ["approve"]}}),
    )
    .await;
    api.ok(&owner, "POST", "/api/v2/approval-policies", json!({
        "name": "production", "scope": {"environment": ["production"]}, "quorum": 1, "eligible": {"teams": ["platform"]},
    }))
    .await;
    api.ok(
        &owner,
        "POST",
        "/api/v2/service-accounts",
        json!({"name": "ci-deployer", "allowedActions": ["values.set"], "projects": ["shop"]}),
    )
    .await;
    let t = api
        .ok(
            &owner,
            "POST",
            "/api/v2/service-accounts/ci-deployer/tokens",
            json!({"name": "github-actions", "expiresInDays": 90}),
        )
        .await;
    let ci = t["secret"].as_str().unwrap().to_owned();
    assert!(ci.starts_with("ghqs_"));

    let out = api
        .ok(
            &ci,
            "POST",
            "/api/v2/projects/shop/workloads/checkout/values",
            json!({
                "path": "image.tag", "value": "v2.4.0", "environment": "production",
                "context": {"build": "https://ci.example/runs/77", "commit": "4be1d0c"},
            }),
        )
        .await;
    let rel = &out["release"];
    assert_eq!(rel["title"], "Auto: image update to v2.4.0", "{out}");
    assert_eq!(rel["state"], "pending_approval");
    let inbox = api
        .ok(&approver, "GET", "/api/v2/approvals", json!(null))
        .await;
    assert_eq!(inbox["items"][0]["release"], rel["id"]);
    assert!(
        inbox["items"][0]["waitingFor"][0]["message"]
            .as_str()
            .unwrap()
            .contains("0 of 1"),
        "{inbox}"
    );
    let done = api.step(&approver, rel, "approve").await;
    assert_eq!(done["state"], "deployed", "{done}");
    // A token cannot go beyond its allowed actions.
    api.refused(
        &ci,
        "POST",
        "/api/v2/freezes",
        json!({"name": "x"}),
        403,
        "forbidden",
    )
    .await;
    drop(hub);
    verified(dir.path());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_7_teams_get_least_privilege_per_project() {
    let dir = tempfile::tempdir().unwrap();
    let hub = start(dir.path());
    let owner = owner_token(&hub);
    let api = Api::of(&hub);
    api.shop(&owner).await;
    api.ok(
        &owner,
        "POST",
        "/api/v2/projects",
        json!({"name": "infra-configs"}),
    )
    .await;
    let platform = api.member(&owner, "plat", "admin").await;
    let backend = api.member(&owner, "bea", "member").await;
    let frontend = api.member(&owner, "fred", "member").await;
    let sre = api.member(&owner, "sol", "operator").await;
    api.ok(&platform, "POST", "/api/v2/teams", json!({"name": "backend-team", "members": ["bea"], "grants": {"shop": ["write"], "infra-configs": ["read"]}})).await;
    api.ok(
        &platform,
        "POST",
        "/api/v2/teams",
        json!({"name": "frontend-team", "members": ["fred"], "grants": {}}),
    )
    .await;
    api.ok(
        &platform,
        "POST",
        "/api/v2/teams",
        json!({"name": "sre-team", "members": ["sol"], "grants": {"shop": ["read", "rollback"]}}),
    )
    .await;

    let values = "/api/v2/projects/shop/workloads/checkout/values?environment=production";
    // Backend writes shop's values, but may not release them (no release grant).
    api.ok(&backend, "PUT", values, json!({"replicas": 4}))
        .await;
    let j = api
        .refused(
            &backend,
            "POST",
            "/api/v2/projects/shop/releases",
            json!({"title": "x"}),
            403,
            "forbidden",
        )
        .await;
    assert!(
        j["error"]["message"].as_str().unwrap().contains("release"),
        "{j}"
    );
    // Frontend may read (every member can) but not write shop.
    api.ok(&frontend, "GET", values, json!(null)).await;
    api.refused(
        &frontend,
        "PUT",
        values,
        json!({"replicas": 9}),
        403,
        "forbidden",
    )
    .await;
    // SRE operates clusters and rolls back, but does not manage the organization.
    api.ok(&sre, "POST", "/api/v2/breakglass", json!({"environment": "production", "justification": "drill: verifying break-glass access for the on-call rota", "severity": "P4", "durationMinutes": 5})).await;
    api.refused(
        &sre,
        "POST",
        "/api/v2/teams",
        json!({"name": "mine"}),
        403,
        "forbidden",
    )
    .await;
    // Only admins change who may approve what.
    api.refused(
        &backend,
        "POST",
        "/api/v2/approval-policies",
        json!({"name": "p", "quorum": 1}),
        403,
        "forbidden",
    )
    .await;
    api.ok(
        &platform,
        "POST",
        "/api/v2/approval-policies",
        json!({"name": "p", "quorum": 1}),
    )
    .await;
    // Nothing of this organization exists for another.
    let other = cli(
        &["admin", "create-org", "globex", "--owner", "gina"],
        dir.path(),
    );
    assert!(
        other.status.success(),
        "{}",
        String::from_utf8_lossy(&other.stderr)
    );
    let text = String::from_utf8_lossy(&other.stdout).into_owned();
    let token = text
        .split_whitespace()
        .find(|w| w.starts_with("ghqu_"))
        .expect("the new owner's token");
    api.refused(token, "GET", values, json!(null), 404, "not_found")
        .await;
    drop(hub);
    verified(dir.path());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_8_break_glass_gets_a_fix_past_a_freeze_and_is_sealed() {
    let dir = tempfile::tempdir().unwrap();
    let hub = start(dir.path());
    let owner = owner_token(&hub);
    let api = Api::of(&hub);
    api.shop(&owner).await;
    let sre = api.member(&owner, "sre", "operator").await;
    api.ok(&owner, "POST", "/api/v2/teams", json!({"name": "sre-team", "members": ["sre"], "grants": {"shop": ["write", "release", "rollback"]}})).await;
    let good = api.release(&owner, "REL-2846").await;
    api.step(&owner, &good, "deploy").await;
    api.ok(
        &owner,
        "PUT",
        "/api/v2/projects/shop/workloads/checkout/values?environment=production",
        json!({"image": {"tag": "2.9.0-bad"}}),
    )
    .await;
    let bad = api.release(&owner, "REL-2847").await;
    api.step(&owner, &bad, "deploy").await;
    let now = chrono::Utc::now();
    api.ok(
        &owner,
        "POST",
        "/api/v2/freezes",
        json!({
            "name": "maintenance", "reason": "Planned database maintenance",
            "scope": {"environment": ["production"]},
            "start": (now - chrono::Duration::minutes(30)).to_rfc3339(),
            "end": (now + chrono::Duration::hours(3)).to_rfc3339(),
        }),
    )
    .await;

    // The rollback is blocked by the freeze, with the way out named.
    let j = api
        .refused(
            &sre,
            "POST",
            "/api/v2/projects/shop/rollbacks",
            json!({"to": good["id"], "workloads": ["checkout"]}),
            409,
            "frozen",
        )
        .await;
    assert!(
        j["error"]["message"]
            .as_str()
            .unwrap()
            .contains("maintenance"),
        "{j}"
    );
    // Break-glass needs a justification.
    api.refused(&sre, "POST", "/api/v2/breakglass", json!({"environment": "production", "workload": "checkout", "severity": "P1", "justification": "urgent"}), 409, "policy_denied").await;
    let session = api.ok(&sre, "POST", "/api/v2/breakglass", json!({
        "project": "shop", "environment": "production", "workload": "checkout", "severity": "P1",
        "justification": "P1 incident: checkout-service returning 500 errors at 40% since 14:35 UTC; rolling back REL-2847",
        "durationMinutes": 60,
    }))
    .await;
    let rb = api
        .ok(
            &sre,
            "POST",
            "/api/v2/projects/shop/rollbacks",
            json!({"to": good["id"], "workloads": ["checkout"]}),
        )
        .await;
    assert_eq!(rb["state"], "approved", "{rb}");
    let done = api.step(&sre, &rb, "deploy").await;
    assert_eq!(done["state"], "deployed", "{done}");
    let sid = session["id"].as_str().unwrap();
    let note = "Rollback to REL-2846 successful. Error rate returned to baseline.";
    let closed = api
        .ok(
            &sre,
            "POST",
            &format!("/api/v2/breakglass/{sid}/close"),
            json!({"note": note}),
        )
        .await;
    assert_eq!(closed["state"], "closed");
    // The post-incident review finds the whole session in the audit trail.
    let seal = api
        .ok(
            &owner,
            "GET",
            &format!("/api/v2/audit?resource=breakglass/{sid}"),
            json!(null),
        )
        .await;
    let actions: Vec<&str> = seal["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["breakglass.open", "breakglass.close"], "{seal}");
    let last = &seal["items"][1]["after"];
    assert_eq!(last["note"], note);
    assert!(!last["actions"].as_array().unwrap().is_empty(), "{last}");
    // Closed, the freeze holds again.
    api.ok(
        &sre,
        "PUT",
        "/api/v2/projects/shop/workloads/checkout/values?environment=production",
        json!({"image": {"tag": "2.9.1"}}),
    )
    .await;
    api.refused(
        &sre,
        "POST",
        "/api/v2/projects/shop/releases",
        json!({"title": "after"}),
        409,
        "frozen",
    )
    .await;
    drop(hub);
    verified(dir.path());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_2_a_canary_tenant_then_batches_then_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let hub = start(dir.path());
    let owner = owner_token(&hub);
    let api = Api::of(&hub);
    api.shop(&owner).await;
    for t in ["alpha", "beta", "gamma", "delta"] {
        api.ok(&owner, "POST", "/api/v2/tenants", json!({"name": t}))
            .await;
        api.ok(
            &owner,
            "POST",
            "/api/v2/projects/shop/tenants",
            json!({"name": t}),
        )
        .await;
    }
    let first = api.release(&owner, "initial").await;
    api.step(&owner, &first, "deploy").await;
    let devops = api.member(&owner, "dora", "member").await;
    let sre = api.member(&owner, "sid", "operator").await;
    api.ok(
        &owner,
        "POST",
        "/api/v2/teams",
        json!({"name": "devops", "members": ["dora"], "grants": {"shop": ["write", "release"]}}),
    )
    .await;
    api.ok(
        &owner,
        "POST",
        "/api/v2/teams",
        json!({"name": "sre", "members": ["sid"], "grants": {"shop": ["approve"]}}),
    )
    .await;
    api.ok(
        &owner,
        "POST",
        "/api/v2/approval-policies",
        json!({
            "name": "production-sre", "scope": {"environment": ["production"]},
            "kinds": ["release.deploy", "promotion"], "quorum": 1, "eligible": {"teams": ["sre"]},
        }),
    )
    .await;

    // The canary: tenant-alpha's values, released to alpha only, approved, deployed.
    api.ok(
        &devops,
        "PUT",
        "/api/v2/projects/shop/workloads/checkout/values?environment=production&tenant=alpha",
        json!({"image": {"tag": "2.3.0"}, "env": {"FEATURE_CHECKOUT_V2": "on"}}),
    )
    .await;
    let canary = api.ok(&devops, "POST", "/api/v2/projects/shop/releases", json!({
        "title": "Canary: checkout 2.3.0 → alpha", "tenants": ["alpha"], "submit": true, "autoDeploy": true,
    }))
    .await;
    assert_eq!(
        canary["targets"].as_array().unwrap().len(),
        1,
        "only alpha: {canary}"
    );
    assert_eq!(
        api.step(&sre, &canary, "approve").await["state"],
        "deployed"
    );

    // Promote the same changes: beta and gamma, then the rest; each batch gated.
    let promo = api
        .ok(
            &devops,
            "POST",
            "/api/v2/projects/shop/promotions",
            json!({
                "release": canary["id"], "autoDeploy": true,
                "batches": [{"name": "batch-1", "tenants": ["beta", "gamma"]}, {"name": "rest"}],
            }),
        )
        .await;
    let url = format!(
        "/api/v2/projects/shop/promotions/{}",
        promo["id"].as_str().unwrap()
    );
    assert_eq!(promo["state"], "running");
    assert_eq!(
        promo["batches"][0]["releaseState"], "pending_approval",
        "{promo}"
    );
    let batch1 = json!({"id": promo["batches"][0]["release"]});
    let r = api
        .ok(
            &sre,
            "GET",
            &format!(
                "/api/v2/projects/shop/releases/{}",
                batch1["id"].as_str().unwrap()
            ),
            json!(null),
        )
        .await;
    assert_eq!(
        r["changes"].as_array().unwrap().len(),
        4,
        "two keys for two tenants: {r}"
    );
    assert!(
        r["gate"]["requirements"][0]["message"]
            .as_str()
            .unwrap()
            .contains("production-sre"),
        "{r}"
    );
    api.step(&sre, &batch1, "approve").await;
    let p = api.ok(&devops, "GET", &url, json!(null)).await;
    assert_eq!(p["batches"][0]["state"], "deployed", "{p}");
    assert_eq!(p["current"], 1);
    // Degradation seen: the SRE rejects the last batch; the promotion pauses.
    let rest = json!({"id": p["batches"][1]["release"]});
    api.step(&sre, &rest, "reject").await;
    let p = api.ok(&devops, "GET", &url, json!(null)).await;
    assert_eq!(p["state"], "paused", "{p}");
    // Fixed and verified: resumed, approved, and the rollout completes.
    let p = api
        .ok(&devops, "POST", &format!("{url}/resume"), json!({}))
        .await;
    assert_eq!(p["state"], "running");
    let again = json!({"id": p["batches"][1]["release"]});
    assert_ne!(again["id"], rest["id"]);
    api.step(&sre, &again, "approve").await;
    let p = api.ok(&devops, "GET", &url, json!(null)).await;
    assert_eq!(p["state"], "completed", "{p}");
    for t in ["beta", "gamma", "delta"] {
        let v = api.ok(&devops, "GET", &format!("/api/v2/projects/shop/workloads/checkout/values?environment=production&tenant={t}"), json!(null)).await;
        assert_eq!(v["values"]["image"]["tag"], "2.3.0", "{t}: {v}");
    }
    let pending = api
        .ok(&devops, "GET", "/api/v2/projects/shop/changes", json!(null))
        .await;
    assert_eq!(pending["items"], json!([]), "{pending}");
    drop(hub);
    verified(dir.path());
}

/// Runs the git CLI with no user or system configuration, bounded in time by git's own
/// low-speed limit.
fn git(args: &[&str], cwd: &Path) -> std::process::Output {
    std::process::Command::new("git")
        .args(args)
        .current_dir(cwd)
        .env("HOME", cwd)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_HTTP_LOW_SPEED_LIMIT", "1")
        .env("GIT_HTTP_LOW_SPEED_TIME", "20")
        .output()
        .expect("git runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_4_the_render_gate_blocks_a_release_until_it_is_fixed() {
    let dir = tempfile::tempdir().unwrap();
    let hub = start(dir.path());
    let owner = owner_token(&hub);
    let api = Api::of(&hub);
    api.shop(&owner).await;
    let values = "/api/v2/projects/shop/workloads/checkout/values?environment=production";

    // Production values drop the chart's resource limits: the seed's policy blocks the render.
    api.ok(
        &owner,
        "PUT",
        values,
        json!({"image": {"tag": "2.9.0"}, "resources": null}),
    )
    .await;
    let rel = api.release(&owner, "checkout 2.9.0").await;
    assert_eq!(rel["state"], "approved", "{rel}");
    let path = format!(
        "/api/v2/projects/shop/releases/{}/deploy",
        rel["id"].as_str().unwrap()
    );
    // The reviewer's preview says so before anyone deploys, and changes nothing.
    let diff_path = format!(
        "/api/v2/projects/shop/releases/{}/diff",
        rel["id"].as_str().unwrap()
    );
    let preview = api.ok(&owner, "GET", &diff_path, json!(null)).await;
    assert_eq!(preview["deployable"], false, "{preview}");
    assert_eq!(preview["blocked"]["code"], "render_blocked", "{preview}");
    assert_eq!(
        preview["blocked"]["violations"][0]["policy"], "gatehouse.k8s.resource_limits",
        "{preview}"
    );
    assert_eq!(preview["files"], json!([]), "{preview}");
    let still = api
        .ok(&owner, "GET", &diff_path.replace("/diff", ""), json!(null))
        .await;
    assert_eq!(
        still["state"], "approved",
        "a preview moves nothing: {still}"
    );
    let j = api
        .refused(&owner, "POST", &path, json!({}), 403, "render_blocked")
        .await;
    let message = j["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("tenants/default/production/checkout"),
        "{message}"
    );
    let violation = &j["error"]["detail"]["violations"][0];
    assert_eq!(violation["policy"], "gatehouse.k8s.resource_limits", "{j}");
    assert!(
        violation["object"]
            .as_str()
            .unwrap()
            .starts_with("Deployment/"),
        "{j}"
    );
    let failed = api
        .ok(
            &owner,
            "GET",
            &format!(
                "/api/v2/projects/shop/releases/{}",
                rel["id"].as_str().unwrap()
            ),
            json!(null),
        )
        .await;
    assert_eq!(failed["state"], "failed");
    assert!(
        failed.get("commit").is_none(),
        "nothing is committed: {failed}"
    );
    let events: Vec<&str> = failed["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert!(events.contains(&"render_blocked"), "{events:?}");

    // The developer adds limits back; the next release renders, passes and is committed.
    api.ok(
        &owner,
        "PUT",
        values,
        json!({"image": {"tag": "2.9.0"}, "resources": {"limits": {"cpu": "500m", "memory": "256Mi"}}}),
    )
    .await;
    let rel = api.release(&owner, "checkout 2.9.0 with limits").await;
    let diff_path = format!(
        "/api/v2/projects/shop/releases/{}/diff",
        rel["id"].as_str().unwrap()
    );
    let preview = api.ok(&owner, "GET", &diff_path, json!(null)).await;
    assert_eq!(preview["deployable"], true, "{preview}");
    assert_eq!(
        preview["base"],
        Json::Null,
        "the repository is empty: {preview}"
    );
    assert_eq!(preview["summary"]["modified"], 0, "{preview}");
    let deployment_path = "tenants/default/production/checkout/deployment-checkout.yaml";
    let added = preview["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == deployment_path)
        .unwrap_or_else(|| panic!("{preview}"));
    assert_eq!(added["change"], "added");
    let text = added["diff"].as_str().unwrap();
    assert!(
        text.starts_with(&format!("--- /dev/null\n+++ b/{deployment_path}\n"))
            && text.contains("registry.local/web:2.9.0"),
        "{text}"
    );
    let rel = api.step(&owner, &rel, "deploy").await;
    assert_eq!(rel["state"], "deployed", "{rel}");
    let commit = rel["commit"]
        .as_str()
        .expect("the deploy committed")
        .to_owned();
    api.refused(
        &owner,
        "GET",
        &diff_path,
        json!(null),
        409,
        "already_deployed",
    )
    .await;

    // The next change previews as a diff against that commit: the lines it changes.
    api.ok(
        &owner,
        "PUT",
        values,
        json!({"image": {"tag": "3.0.0"}, "resources": {"limits": {"cpu": "500m", "memory": "256Mi"}}}),
    )
    .await;
    let next = api.release(&owner, "checkout 3.0.0").await;
    let preview = api
        .ok(
            &owner,
            "GET",
            &format!(
                "/api/v2/projects/shop/releases/{}/diff",
                next["id"].as_str().unwrap()
            ),
            json!(null),
        )
        .await;
    assert_eq!(preview["base"], commit.as_str(), "{preview}");
    assert_eq!(
        preview["summary"],
        json!({"added": 0, "modified": 1, "deleted": 0}),
        "{preview}"
    );
    let text = preview["files"][0]["diff"].as_str().unwrap();
    let changed: Vec<&str> = text
        .lines()
        .filter(|l| {
            (l.starts_with('-') || l.starts_with('+'))
                && !l.starts_with("---")
                && !l.starts_with("+++")
        })
        .collect();
    assert_eq!(
        changed,
        [
            "-    app.kubernetes.io/version: \"2.9.0\"",
            "+    app.kubernetes.io/version: \"3.0.0\"",
            "-          image: \"registry.local/web:2.9.0\"",
            "+          image: \"registry.local/web:3.0.0\"",
        ],
        "{text}"
    );
    api.step(&owner, &next, "cancel").await;

    // Argo CD's view: the hosted repository over Git smart HTTP, with a token as password.
    let work = tempfile::tempdir().unwrap();
    let port = hub.base.rsplit(':').next().unwrap().trim_end_matches('/');
    let anonymous = git(
        &[
            "clone",
            &format!("http://127.0.0.1:{port}/git/shop"),
            "anon",
        ],
        work.path(),
    );
    assert!(!anonymous.status.success(), "a clone needs a token");
    let url = format!("http://argocd:{owner}@127.0.0.1:{port}/git/shop");
    let out = git(&["clone", &url, "shop"], work.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let checkout = work.path().join("shop");
    let head = git(&["rev-parse", "HEAD"], &checkout);
    assert_eq!(String::from_utf8_lossy(&head.stdout).trim(), commit);
    let deployment = std::fs::read_to_string(
        checkout.join("tenants/default/production/checkout/deployment-checkout.yaml"),
    )
    .unwrap();
    assert!(
        deployment.contains("cpu: 500m") && deployment.contains("registry.local/web:2.9.0"),
        "{deployment}"
    );
    let app =
        std::fs::read_to_string(checkout.join("argocd/production/default-checkout.yaml")).unwrap();
    assert!(
        app.contains("path: tenants/default/production/checkout") && app.contains("name: prod-eu"),
        "{app}"
    );
    let log = git(&["log", "--format=%B"], &checkout);
    let log = String::from_utf8_lossy(&log.stdout);
    assert!(
        log.contains("Release #2 of shop: checkout 2.9.0 with limits"),
        "{log}"
    );
    assert!(
        log.contains(&format!("Release: {}", rel["id"].as_str().unwrap())),
        "{log}"
    );
    assert_eq!(
        git(&["rev-list", "--count", "HEAD"], &checkout).stdout,
        b"1\n",
        "the blocked release committed nothing"
    );
    drop(hub);
    verified(dir.path());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploys_are_validated_against_the_kubernetes_schemas() {
    let dir = tempfile::tempdir().unwrap();
    let schemas = super::k8s_schemas();
    let hub = start_with(dir.path(), &["--k8s-schemas", &schemas]);
    let owner = owner_token(&hub);
    let api = Api::of(&hub);
    api.shop(&owner).await;
    let values = "/api/v2/projects/shop/workloads/checkout/values?environment=production";
    api.ok(&owner, "PUT", values, json!({"replicas": "three"}))
        .await;
    let rel = api.release(&owner, "replicas as words").await;
    let path = format!(
        "/api/v2/projects/shop/releases/{}/deploy",
        rel["id"].as_str().unwrap()
    );
    let j = api
        .refused(&owner, "POST", &path, json!({}), 422, "render_invalid")
        .await;
    let problem = j["error"]["detail"]["problems"][0].as_str().unwrap();
    assert!(
        problem.starts_with("Deployment/checkout: spec.replicas: must be an integer"),
        "{problem}"
    );
    let cancelled = api.step(&owner, &rel, "cancel").await;
    assert_eq!(
        cancelled["state"], "cancelled",
        "an invalid render leaves the release to cancel"
    );
    api.ok(&owner, "PUT", values, json!({"replicas": 3})).await;
    let fixed = api.release(&owner, "replicas as a number").await;
    let fixed = api.step(&owner, &fixed, "deploy").await;
    assert_eq!(fixed["state"], "deployed", "{fixed}");
    drop(hub);
    verified(dir.path());
}

/// A CustomResourceDefinition for `kind` in group `example.test`, serving `v1`, whose
/// `spec.size` is a positive integer.
fn crd(kind: &str, plural: &str) -> Json {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("{plural}.example.test")},
        "spec": {
            "group": "example.test",
            "names": {"kind": kind, "plural": plural},
            "scope": "Namespaced",
            "versions": [{"name": "v1", "served": true, "storage": true, "schema": {
                "openAPIV3Schema": {"type": "object", "properties": {"spec": {
                    "type": "object",
                    "properties": {"size": {"type": "integer", "minimum": 1}}}}}}}]
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_resources_are_validated_against_uploaded_and_shipped_crds() {
    let dir = tempfile::tempdir().unwrap();
    let hub = start(dir.path());
    let owner = owner_token(&hub);
    let api = Api::of(&hub);
    api.shop(&owner).await;

    // An upload is compiled before it is stored, and named as its definition is.
    let mut broken = crd("Widget", "widgets");
    broken["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["type"] = json!(7);
    let not_a_crd = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x.y"}});
    for (name, definition, path) in [
        ("widgets.example.test", broken, "definition"),
        ("x.y", not_a_crd, "definition"),
        (
            "gadgets.example.test",
            crd("Widget", "widgets"),
            "definition.metadata.name",
        ),
        ("widgets", crd("Widget", "widgets"), "name"),
    ] {
        let j = api
            .refused(
                &owner,
                "POST",
                "/api/v2/crds",
                json!({"name": name, "definition": definition}),
                400,
                "invalid_request",
            )
            .await;
        assert_eq!(j["error"]["detail"]["path"], path, "{name}: {j}");
    }
    let listed = api.ok(&owner, "GET", "/api/v2/crds", json!({})).await;
    assert_eq!(listed["items"], json!([]), "nothing half-stored: {listed}");
    api.ok(
        &owner,
        "POST",
        "/api/v2/crds",
        json!({"name": "widgets.example.test", "description": "Widgets",
               "definition": crd("Widget", "widgets")}),
    )
    .await;

    // A chart of custom resources: a Widget from the uploaded CRD, and a Gizmo whose CRD the
    // chart ships itself (JSON is YAML: the CRD goes into the template as one line).
    let template = format!(
        "{}\n---\napiVersion: example.test/v1\nkind: Widget\nmetadata:\n  name: {{{{ .Release.Name }}}}\nspec:\n  size: {{{{ .Values.size | toJson }}}}\n---\napiVersion: example.test/v1\nkind: Gizmo\nmetadata:\n  name: {{{{ .Release.Name }}}}\nspec:\n  size: {{{{ .Values.gizmos | toJson }}}}\n",
        crd("Gizmo", "gizmos")
    );
    api.upload_chart_archive(
        &owner,
        "widgets",
        chart_tgz_with("widgets", "1.0.0", &template),
    )
    .await;
    api.ok(
        &owner,
        "POST",
        "/api/v2/projects/shop/workloads",
        json!({"name": "gadget", "chart": "widgets", "chartVersion": "1.0.0",
               "values": {"size": 2, "gizmos": 2}}),
    )
    .await;
    let values = "/api/v2/projects/shop/workloads/gadget/values?environment=production";
    for (bad, object) in [
        (json!({"size": "large", "gizmos": 2}), "Widget/"),
        (json!({"size": 2, "gizmos": 0}), "Gizmo/"),
    ] {
        api.ok(&owner, "PUT", values, bad.clone()).await;
        let rel = api.release(&owner, "bad custom resource").await;
        let path = format!(
            "/api/v2/projects/shop/releases/{}/deploy",
            rel["id"].as_str().unwrap()
        );
        let j = api
            .refused(&owner, "POST", &path, json!({}), 422, "render_invalid")
            .await;
        let problems = j["error"]["detail"]["problems"].as_array().unwrap();
        assert_eq!(problems.len(), 1, "{bad}: {j}");
        let problem = problems[0].as_str().unwrap();
        assert!(
            problem.starts_with(object) && problem.contains(": spec.size: "),
            "{bad}: {problem}"
        );
        api.step(&owner, &rel, "cancel").await;
    }
    api.ok(&owner, "PUT", values, json!({"size": 3, "gizmos": 4}))
        .await;
    let fixed = api.release(&owner, "valid custom resources").await;
    let fixed = api.step(&owner, &fixed, "deploy").await;
    assert_eq!(fixed["state"], "deployed", "{fixed}");

    // Deleting the CRD takes its schema away from later deploys (this hub has no built-in
    // schemas, so Widgets then pass unchecked).
    api.ok(
        &owner,
        "DELETE",
        "/api/v2/crds/widgets.example.test",
        json!({}),
    )
    .await;
    api.ok(&owner, "PUT", values, json!({"size": "large", "gizmos": 4}))
        .await;
    let unchecked = api.release(&owner, "no Widget schema").await;
    let unchecked = api.step(&owner, &unchecked, "deploy").await;
    assert_eq!(unchecked["state"], "deployed", "{unchecked}");
    drop(hub);
    verified(dir.path());
}
