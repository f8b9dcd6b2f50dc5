//! The hub's HTTP API in process (`app()` + `oneshot`): access on every route, the organization
//! boundary, bad input, the governed values route, the audit chain and concurrent writers.

use std::collections::BTreeMap;
use std::io::Write;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use gatehouse::server::access::{Grant, Need};
use gatehouse::server::{
    Hub, HubConfig, HubState, app, bootstrap, identity_admin, routes, store::Store, verify_audit,
};
use gatehouse_engine::{Bindings, Bundle, Engine, EngineOptions, LoadOptions};
use serde_json::{Value as Json, json};
use tower::ServiceExt;

const VALUES_GUARD: &str = r#"# METADATA
# custom:
#   kinds: [values.update]
package acme.values_guard

import rego.v1

deny contains msg if {
	input.scope.environment == "production"
	some c in input.subject.changes
	c.path == "replicaCount"
	c.after > 5
	msg := sprintf("production runs at most 5 replicas, not %v", [c.after])
}
"#;

struct Env {
    app: Router,
    hub: Hub,
    _dir: tempfile::TempDir,
    tokens: BTreeMap<&'static str, String>,
    ids: Ids,
}

/// Real objects the walk's paths name.
struct Ids {
    decision: String,
    release: String,
    session: String,
    promotion: String,
    command: String,
}

fn engine() -> Engine {
    let bundle = Bundle::from_files(
        [("acme/values_guard.rego", VALUES_GUARD.as_bytes())],
        LoadOptions::default(),
    )
    .unwrap();
    Engine::compile(
        bundle,
        Some(Bindings::enforce_all()),
        EngineOptions::default(),
    )
    .unwrap()
}

fn hub_at(dir: &std::path::Path) -> Hub {
    let config = HubConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.to_path_buf(),
        agent_address: "hub.example:8443".into(),
        agent_chart: "gatehouse/gatehouse-agent".into(),
        agents: Default::default(),
        public_url: None,
        k8s_schemas: None,
        notify_ca: None,
        max_body_bytes: 64 * 1024,
        playground: true,
    };
    HubState::open(config, engine()).unwrap()
}

pub(crate) async fn call(
    app: &Router,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Vec<u8>>,
    headers: &[(&str, &str)],
) -> (StatusCode, Json) {
    let mut req = Request::builder().method(method).uri(path);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req
        .body(body.map(Body::from).unwrap_or_else(Body::empty))
        .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    let json = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Json::String(String::from_utf8_lossy(&bytes).into_owned()));
    (status, json)
}

pub(crate) async fn ok(app: &Router, method: Method, path: &str, token: &str, body: Json) -> Json {
    let (s, j) = call(
        app,
        method.clone(),
        path,
        Some(token),
        Some(body.to_string().into_bytes()),
        &[],
    )
    .await;
    assert!(s.is_success(), "{method} {path}: {s} {j}");
    j
}

/// The test chart's one template: a Deployment with the labels, replicas, pinned image and
/// resource limits the built-in policies look for, all from values.
const DEPLOYMENT_TEMPLATE: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
  labels:
    app.kubernetes.io/name: {{ .Chart.Name }}
    app.kubernetes.io/instance: {{ .Release.Name }}
    app.kubernetes.io/version: {{ .Values.image.tag | quote }}
spec:
  replicas: {{ .Values.replicas | default .Values.replicaCount }}
  selector:
    matchLabels:
      app.kubernetes.io/instance: {{ .Release.Name }}
  template:
    metadata:
      labels:
        app.kubernetes.io/instance: {{ .Release.Name }}
    spec:
      containers:
        - name: app
          image: "registry.local/{{ .Chart.Name }}:{{ .Values.image.tag }}"
          {{- with .Values.env }}
          env:
            {{- range $k, $v := . }}
            - name: {{ $k }}
              value: {{ $v | quote }}
            {{- end }}
          {{- end }}
          {{- with .Values.resources }}
          resources:
            {{- toYaml . | nindent 12 }}
          {{- end }}
"#;

/// A chart archive as `helm package` makes it.
pub(crate) fn chart_tgz(name: &str, version: &str) -> Vec<u8> {
    chart_tgz_with(name, version, DEPLOYMENT_TEMPLATE)
}

/// A chart archive whose one template is `template`.
pub(crate) fn chart_tgz_with(name: &str, version: &str, template: &str) -> Vec<u8> {
    let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::default(),
    ));
    for (path, text) in [
        (
            format!("{name}/Chart.yaml"),
            format!(
                "apiVersion: v2\nname: {name}\nversion: {version}\nappVersion: \"1.0\"\ndescription: test chart\n"
            ),
        ),
        (
            format!("{name}/values.yaml"),
            "replicaCount: 2\nimage:\n  tag: \"1.0\"\nresources:\n  limits: {cpu: 250m, memory: 128Mi}\n".to_owned(),
        ),
        (
            format!("{name}/templates/deployment.yaml"),
            template.to_owned(),
        ),
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_size(text.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        tar.append_data(&mut h, path, text.as_bytes()).unwrap();
    }
    let gz = tar.into_inner().unwrap();
    let mut out = gz.finish().unwrap();
    out.flush().unwrap();
    out
}

/// Organization `default` (owner `admin`) with one of everything, members of every role, a
/// service account, and a second organization `other`.
async fn setup() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let hub = hub_at(dir.path());
    let owner = bootstrap(&hub, "default", "admin").unwrap().unwrap();
    let app = app(hub.clone());
    let mut tokens = BTreeMap::new();
    for (name, role) in [
        ("adm", "admin"),
        ("dev", "member"),
        ("ops", "operator"),
        ("view", "viewer"),
        ("plain", "member"),
    ] {
        let added = ok(
            &app,
            Method::POST,
            "/api/v2/members",
            &owner,
            json!({"name": name, "role": role}),
        )
        .await;
        tokens.insert(name, added["token"]["secret"].as_str().unwrap().to_owned());
    }
    let o = &owner;
    ok(
        &app,
        Method::POST,
        "/api/v2/tenants",
        o,
        json!({"name": "acme"}),
    )
    .await;
    ok(
        &app,
        Method::POST,
        "/api/v2/environments",
        o,
        json!({"name": "production", "rank": 30, "colour": "#cc0000", "protected": true}),
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
        "/api/v2/kustomize-bases",
        o,
        json!({"name": "base", "files": {"kustomization.yaml": "resources: []\n"}}),
    )
    .await;
    ok(&app, Method::POST, "/api/v2/manifest-bundles", o, json!({"name": "bundle", "files": {"cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n"}})).await;
    ok(
        &app,
        Method::POST,
        "/api/v2/crds",
        o,
        json!({"name": "widgets.example.test", "definition": {
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.test"},
        "spec": {"group": "example.test", "names": {"kind": "Widget", "plural": "widgets"},
                 "scope": "Namespaced", "versions": [{"name": "v1", "served": true, "storage": true,
                 "schema": {"openAPIV3Schema": {"type": "object"}}}]}}}),
    )
    .await;
    ok(
        &app,
        Method::POST,
        "/api/v2/clusters",
        o,
        json!({"name": "prod-a", "labels": {"tier": "production"}}),
    )
    .await;
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
        "/api/v2/teams",
        o,
        json!({"name": "core", "members": ["dev"], "grants": {"shop": ["write"]}}),
    )
    .await;
    ok(&app, Method::POST, "/api/v2/variables", o, json!({"name": "db-host", "key": "DB_HOST", "value": "db.internal", "scope": {"project": "shop"}})).await;
    ok(&app, Method::POST, "/api/v2/service-accounts", o, json!({"name": "ci", "allowedActions": ["projects.workloads.*", "values.update"], "projects": ["shop"]})).await;
    let sa = ok(
        &app,
        Method::POST,
        "/api/v2/service-accounts/ci/tokens",
        o,
        json!({"name": "pipeline", "expiresInDays": 30}),
    )
    .await;
    tokens.insert("ci", sa["secret"].as_str().unwrap().to_owned());
    ok(
        &app,
        Method::POST,
        "/api/v2/projects/shop/environments",
        o,
        json!({"name": "production", "cluster": "prod-a"}),
    )
    .await;
    ok(
        &app,
        Method::POST,
        "/api/v2/projects/shop/tenants",
        o,
        json!({"name": "acme"}),
    )
    .await;
    ok(&app, Method::POST, "/api/v2/projects/shop/workloads", o, json!({"name": "api", "chart": "web", "chartVersion": "1.0.0", "values": {"replicaCount": 1}})).await;
    ok(
        &app,
        Method::POST,
        "/api/v2/projects/shop/bindings",
        o,
        json!({"name": "extras", "kind": "manifests", "source": "bundle", "tenants": ["acme"]}),
    )
    .await;
    let v = ok(
        &app,
        Method::PUT,
        "/api/v2/projects/shop/workloads/api/values?environment=production",
        o,
        json!({"replicaCount": 3}),
    )
    .await;
    let decision = v["decision"]["id"].as_str().unwrap().to_owned();
    let rel = ok(
        &app,
        Method::POST,
        "/api/v2/projects/shop/releases",
        o,
        json!({"title": "First", "submit": true, "autoDeploy": true}),
    )
    .await;
    assert_eq!(rel["state"], "deployed", "{rel}");
    let promotion = ok(
        &app,
        Method::POST,
        "/api/v2/projects/shop/promotions",
        o,
        json!({"release": rel["id"], "batches": [{"name": "acme", "tenants": ["acme"]}]}),
    )
    .await;
    ok(
        &app,
        Method::POST,
        "/api/v2/approval-policies",
        o,
        json!({"name": "prod-one", "scope": {"environment": ["production"]}, "quorum": 1}),
    )
    .await;
    ok(
        &app,
        Method::POST,
        "/api/v2/notifications",
        o,
        json!({"name": "ops-hook", "url": "http://127.0.0.1:9/hook", "secret": "s3cret"}),
    )
    .await;
    ok(&app, Method::POST, "/api/v2/freezes", o, json!({"name": "new-year", "reason": "Year-end", "start": "2030-12-31T00:00:00Z", "end": "2031-01-02T00:00:00Z"})).await;
    let session = ok(&app, Method::POST, "/api/v2/breakglass", o, json!({"project": "shop", "environment": "production", "justification": "P2: checkout errors after the last deploy; rolling back", "severity": "P2", "durationMinutes": 30})).await;
    let command = ok(
        &app,
        Method::POST,
        "/api/v2/clusters/prod-a/commands",
        o,
        json!({"type": "restart", "target": {"namespace": "shop", "name": "api"}}),
    )
    .await;
    let ids = Ids {
        command: command["id"].as_str().unwrap().to_owned(),
        decision,
        release: rel["id"].as_str().unwrap().to_owned(),
        session: session["id"].as_str().unwrap().to_owned(),
        promotion: promotion["id"].as_str().unwrap().to_owned(),
    };
    let other = hub
        .store
        .write(|tx| identity_admin::create_org(tx, "other", "eve"))
        .unwrap();
    tokens.insert("other", other);
    tokens.insert("owner", owner);
    Env {
        app,
        hub,
        _dir: dir,
        tokens,
        ids,
    }
}

/// The name each path parameter takes in the walk: a real object, or `ghost` for mutating
/// routes so that a permitted request stops at 404 and changes nothing.
fn fill(path: &str, real: bool, ids: &Ids) -> String {
    let segs: Vec<&str> = path.split('/').collect();
    let mut out = Vec::new();
    for (i, seg) in segs.iter().enumerate() {
        let prev = if i > 0 { segs[i - 1] } else { "" };
        let v = match *seg {
            "{project}" => "shop".to_owned(),
            "{name}" if !real => "ghost".to_owned(),
            "{name}" => match prev {
                "teams" => "core",
                "tenants" => "acme",
                "environments" => "production",
                "charts" => "web",
                "kustomize-bases" => "base",
                "manifest-bundles" => "bundle",
                "clusters" => "prod-a",
                "variables" => "db-host",
                "service-accounts" => "ci",
                "projects" => "shop",
                "workloads" => "api",
                "bindings" => "extras",
                "approval-policies" => "prod-one",
                "freezes" => "new-year",
                "notifications" => "ops-hook",
                "crds" => "widgets.example.test",
                p => panic!("no fixture for {{name}} after {p} in {path}"),
            }
            .to_owned(),
            "{member}" => if real { "dev" } else { "ghost" }.to_owned(),
            "{token}" => "tok_ghost".to_owned(),
            "{key}" => "sk_ghost".to_owned(),
            "{version}" => "1.0.0".to_owned(),
            "{id}" => ids.decision.clone(),
            "{release}" if real => ids.release.clone(),
            "{session}" if real => ids.session.clone(),
            "{promotion}" if real => ids.promotion.clone(),
            "{command}" if real => ids.command.clone(),
            "{command}" => "cmd_ghost".to_owned(),
            "{type}" => "deployments".to_owned(),
            "{namespace}" => "shop".to_owned(),
            "{object}" => "api".to_owned(),
            "{pod}" => "api-1".to_owned(),
            "{release}" | "{session}" | "{promotion}" => "ghost".to_owned(),
            s if s.starts_with('{') => panic!("no fixture for {s} in {path}"),
            s => s.to_owned(),
        };
        out.push(v);
    }
    let path = out.join("/");
    // Git's ref advertisement answers the smart protocol only.
    if path.ends_with("/info/refs") {
        return format!("{path}?service=git-upload-pack");
    }
    path
}

fn body_is_probe(m: &Method) -> bool {
    *m != Method::DELETE
}

/// What each principal may do, written out independently of the server's own check.
fn permitted(who: &str, need: Need, path: &str) -> bool {
    let project_route = path.contains("{project}");
    match (need, who) {
        (Need::Public, _) | (Need::Authenticated, _) => true,
        (_, "ci") => false, // judged separately: by allowed actions
        (Need::OrgRead | Need::Project(Grant::Read), _) => true,
        (Need::OrgAdmin, w) => matches!(w, "owner" | "adm"),
        (Need::OrgOwner, w) => w == "owner",
        (Need::Operate, w) => matches!(w, "owner" | "adm" | "ops"),
        (Need::Project(Grant::Write), "dev") => project_route,
        (Need::Project(_), w) => matches!(w, "owner" | "adm"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_checks_identity_role_and_organization() {
    let env = setup().await;
    let audit_before = verify_audit(&env.hub.store).unwrap();
    let table = routes::table();
    assert!(table.len() > 80, "the walk covers {} routes", table.len());
    let mut checked = 0;
    for r in &table {
        let mutating = r.method != Method::GET;
        let body = mutating.then(|| b"[]".to_vec());
        // No credentials: 401 everywhere but the public routes.
        let path = fill(&r.path, !mutating, &env.ids);
        let (s, j) = call(&env.app, r.method.clone(), &path, None, body.clone(), &[]).await;
        if r.need == Need::Public {
            assert_eq!(s, StatusCode::OK, "{} {path}: {j}", r.method);
            continue;
        }
        assert_eq!(
            s,
            StatusCode::UNAUTHORIZED,
            "{} {path} without a token: {j}",
            r.method
        );
        assert_eq!(j["error"]["code"], "unauthenticated");
        let (s, _) = call(
            &env.app,
            r.method.clone(),
            &path,
            Some("ghqu_0000"),
            body.clone(),
            &[],
        )
        .await;
        assert_eq!(
            s,
            StatusCode::UNAUTHORIZED,
            "{} {path} with an unknown token",
            r.method
        );

        // Each role of the organization.
        for who in ["owner", "adm", "dev", "ops", "view", "plain", "ci"] {
            let token = &env.tokens[who];
            let (s, j) = call(
                &env.app,
                r.method.clone(),
                &path,
                Some(token),
                body.clone(),
                &[],
            )
            .await;
            let expected = if who == "ci" {
                r.need == Need::Authenticated
                    || (r.need != Need::OrgOwner
                        && ["projects.workloads.", "values.update"]
                            .iter()
                            .any(|p| r.action.starts_with(p)))
            } else {
                permitted(who, r.need, &r.path)
            };
            if expected {
                assert!(
                    s != StatusCode::UNAUTHORIZED && s != StatusCode::FORBIDDEN,
                    "{who}: {} {path} refused: {s} {j}",
                    r.method
                );
                if mutating {
                    assert!(
                        matches!(s.as_u16(), 400 | 404 | 409),
                        "{who}: {} {path} should stop at the probe: {s} {j}",
                        r.method
                    );
                } else if ["clusters.inspect", "clusters.logs"].contains(&r.action.as_str()) {
                    // Relayed to the cluster's agent, which is not connected here.
                    assert_eq!(s, StatusCode::CONFLICT, "{who}: {} {path}: {j}", r.method);
                } else if r.action == "releases.diff" {
                    // The walk's release is deployed: there is nothing left to preview.
                    assert_eq!(j["error"]["code"], "already_deployed", "{who}: {path}: {j}");
                } else if r.path != "/api/v2/tokens" || who != "ci" {
                    assert_eq!(s, StatusCode::OK, "{who}: {} {path}: {j}", r.method);
                }
            } else {
                assert_eq!(
                    s,
                    StatusCode::FORBIDDEN,
                    "{who}: {} {path} should be forbidden: {j}",
                    r.method
                );
                assert_eq!(j["error"]["code"], "forbidden");
                assert!(!j["error"]["hint"].as_str().unwrap_or_default().is_empty());
            }
            checked += 1;
        }

        // Another organization's owner: objects of `default` do not exist for them.
        let real = fill(&r.path, true, &env.ids);
        let (s, j) = call(
            &env.app,
            r.method.clone(),
            &real,
            Some(&env.tokens["other"]),
            body.clone(),
            &[],
        )
        .await;
        if r.path.contains('{') {
            // A probe body may be refused before the lookup; it reveals nothing either way.
            let probe_400 = mutating && body_is_probe(&r.method) && s == StatusCode::BAD_REQUEST;
            assert!(
                s == StatusCode::NOT_FOUND || probe_400,
                "other org: {} {real}: {s} {j}",
                r.method
            );
        } else {
            assert!(!s.is_server_error(), "other org: {} {real}: {s}", r.method);
        }
        let text = j.to_string();
        for leaked in [
            "db.internal",
            "\"createdBy\":\"user:admin\"",
            "\"name\":\"dev\"",
        ] {
            assert!(
                !text.contains(leaked),
                "other org sees {leaked} via {} {real}: {text}",
                r.method
            );
        }
    }
    assert!(checked > 500, "{checked} role checks");
    // The walk changed nothing.
    assert_eq!(verify_audit(&env.hub.store).unwrap(), audit_before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_with_the_field_and_nothing_is_written() {
    let env = setup().await;
    let o = &env.tokens["owner"];
    let a = &env.app;
    let before = verify_audit(&env.hub.store).unwrap();

    let (s, j) = call(
        a,
        Method::POST,
        "/api/v2/environments",
        Some(o),
        Some(br#"{"name":"qa","rank":"high"}"#.to_vec()),
        &[],
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{j}");
    assert_eq!(j["error"]["detail"]["path"], "rank");

    let (s, j) = call(
        a,
        Method::POST,
        "/api/v2/clusters",
        Some(o),
        Some(br#"{"name":"qa","labelz":{}}"#.to_vec()),
        &[],
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{j}");
    assert!(
        j["error"]["message"].as_str().unwrap().contains("labelz"),
        "{j}"
    );

    let (s, j) = call(
        a,
        Method::POST,
        "/api/v2/teams",
        Some(o),
        Some(br#"{"name":"t2","grants":{"shop":["write","fly"]}}"#.to_vec()),
        &[],
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{j}");
    assert_eq!(j["error"]["detail"]["path"], "grants.shop[1]");

    let (s, j) = call(
        a,
        Method::POST,
        "/api/v2/tenants",
        Some(o),
        Some(b"{\"name\": \"x\",".to_vec()),
        &[],
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(
        j["error"]["message"].as_str().unwrap().contains("line 1"),
        "{j}"
    );

    let (s, j) = call(
        a,
        Method::POST,
        "/api/v2/tenants",
        Some(o),
        Some(br#"{"name":"Not_A_Name"}"#.to_vec()),
        &[],
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{j}");

    let huge = format!(
        r#"{{"name":"big","description":"{}"}}"#,
        "x".repeat(100 * 1024)
    );
    let (s, j) = call(
        a,
        Method::POST,
        "/api/v2/tenants",
        Some(o),
        Some(huge.into_bytes()),
        &[],
    )
    .await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{j}");
    assert_eq!(j["error"]["code"], "payload_too_large");

    let (s, j) = call(
        a,
        Method::POST,
        "/api/v2/tenants",
        Some(o),
        Some(br#"{"name":"acme"}"#.to_vec()),
        &[],
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT, "{j}");

    let (s, j) = call(
        a,
        Method::POST,
        "/api/v2/projects/shop/workloads",
        Some(o),
        Some(br#"{"name":"w2","chart":"web","chartVersion":"9.9.9"}"#.to_vec()),
        &[],
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{j}");
    assert_eq!(j["error"]["detail"]["path"], "chartVersion");

    let (s, j) = call(
        a,
        Method::DELETE,
        "/api/v2/clusters/prod-a",
        Some(o),
        None,
        &[],
    )
    .await;
    assert_eq!(
        s,
        StatusCode::CONFLICT,
        "a cluster in use cannot be deleted: {j}"
    );
    assert!(
        j["error"]["message"]
            .as_str()
            .unwrap()
            .contains("project environment `production` in project `shop`"),
        "{j}"
    );

    let (s, j) = call(
        a,
        Method::POST,
        "/api/v2/charts/web/versions",
        Some(o),
        Some(chart_tgz("web", "1.0.0")),
        &[],
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT, "chart versions are immutable: {j}");
    let (s, j) = call(
        a,
        Method::POST,
        "/api/v2/charts/web/versions",
        Some(o),
        Some(chart_tgz("api", "2.0.0")),
        &[],
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{j}");
    let (s, _) = call(
        a,
        Method::POST,
        "/api/v2/charts/web/versions",
        Some(o),
        Some(b"not a tarball".to_vec()),
        &[],
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, j) = call(
        a,
        Method::POST,
        "/api/v2/charts/web/versions",
        Some(o),
        Some(chart_tgz_with(
            "web",
            "1.1.0",
            "kind: {{ .Values.x | nosuch }}\n",
        )),
        &[],
    )
    .await;
    assert_eq!(
        s,
        StatusCode::BAD_REQUEST,
        "a template that does not parse: {j}"
    );
    let message = j["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("web/templates/deployment.yaml:1") && message.contains("nosuch"),
        "{message}"
    );

    let (s, j) = call(
        a,
        Method::PATCH,
        "/api/v2/members/admin",
        Some(o),
        Some(br#"{"role":"viewer"}"#.to_vec()),
        &[],
    )
    .await;
    assert_eq!(
        s,
        StatusCode::CONFLICT,
        "the last owner cannot be demoted: {j}"
    );

    assert_eq!(
        verify_audit(&env.hub.store).unwrap(),
        before,
        "nothing was written"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_changes_are_decided_by_the_engine_and_recorded() {
    let env = setup().await;
    let a = &env.app;
    let dev = &env.tokens["dev"];
    let path = "/api/v2/projects/shop/workloads/api/values?environment=production";

    // Denied by policy: 409 with the violation; the values stay as they were.
    let (s, j) = call(
        a,
        Method::PUT,
        path,
        Some(dev),
        Some(br#"{"replicaCount": 9}"#.to_vec()),
        &[],
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT, "{j}");
    assert_eq!(j["error"]["code"], "policy_denied");
    assert!(
        j["error"]["message"]
            .as_str()
            .unwrap()
            .contains("at most 5 replicas, not 9"),
        "{j}"
    );
    let denied = j["error"]["detail"]["decision"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, current) = call(a, Method::GET, path, Some(dev), None, &[]).await;
    assert_eq!(current["values"], json!({"replicaCount": 3}));

    // Allowed: stored, and the decision is recorded with what it allowed.
    let (s, j) = call(
        a,
        Method::PUT,
        path,
        Some(dev),
        Some(br#"{"replicaCount": 4, "image": {"tag": "1.1"}}"#.to_vec()),
        &[],
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{j}");
    assert_eq!(j["version"], 2);
    let id = j["decision"]["id"].as_str().unwrap();
    let (s, d) = call(
        a,
        Method::GET,
        &format!("/api/v2/decisions/{id}"),
        Some(dev),
        None,
        &[],
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(d["decision"]["outcome"], "allow");
    assert_eq!(d["action"]["kind"], "values.update");
    assert_eq!(
        d["action"]["scope"]["cluster"]["labels"]["tier"],
        "production"
    );
    let paths: Vec<&str> = d["action"]["subject"]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["image.tag", "replicaCount"]);
    assert_eq!(d["effect"]["version"], 2);

    // The audit log links both decisions.
    let owner = &env.tokens["owner"];
    let (_, log) = call(
        a,
        Method::GET,
        "/api/v2/audit?action=values.update*&actor=user:dev",
        Some(owner),
        None,
        &[],
    )
    .await;
    let entries = log["items"].as_array().unwrap();
    assert_eq!(entries.len(), 2, "{log}");
    assert_eq!(entries[0]["action"], "values.update.deny");
    assert_eq!(entries[0]["decisionId"], denied.as_str());
    assert_eq!(entries[1]["decisionId"], id);

    // A viewer may not; another organization cannot see the decision.
    let (s, _) = call(
        a,
        Method::PUT,
        path,
        Some(&env.tokens["view"]),
        Some(br#"{"replicaCount": 2}"#.to_vec()),
        &[],
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = call(
        a,
        Method::GET,
        &format!("/api/v2/decisions/{id}"),
        Some(&env.tokens["other"]),
        None,
        &[],
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_patches_lose_no_update_and_if_match_guards_stale_writes() {
    let env = setup().await;
    let owner = env.tokens["owner"].clone();
    let mut tasks = Vec::new();
    for i in 0..40 {
        let (app, owner) = (env.app.clone(), owner.clone());
        tasks.push(tokio::spawn(async move {
            let body = json!({"labels": {format!("k{i}"): format!("v{i}")}})
                .to_string()
                .into_bytes();
            call(
                &app,
                Method::PATCH,
                "/api/v2/clusters/prod-a",
                Some(&owner),
                Some(body),
                &[],
            )
            .await
            .0
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), StatusCode::OK);
    }
    let (_, c) = call(
        &env.app,
        Method::GET,
        "/api/v2/clusters/prod-a",
        Some(&owner),
        None,
        &[],
    )
    .await;
    let labels = c["labels"].as_object().unwrap();
    assert_eq!(labels.len(), 41, "every concurrent patch landed: {c}");
    assert_eq!(c["version"], 41);

    let (s, j) = call(
        &env.app,
        Method::PATCH,
        "/api/v2/clusters/prod-a",
        Some(&owner),
        Some(br#"{"region":"eu"}"#.to_vec()),
        &[("if-match", "\"3\"")],
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(j["error"]["code"], "version_conflict");
    let (s, _) = call(
        &env.app,
        Method::PATCH,
        "/api/v2/clusters/prod-a",
        Some(&owner),
        Some(br#"{"region":"eu"}"#.to_vec()),
        &[("if-match", "\"41\"")],
    )
    .await;
    assert_eq!(s, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_single_use_hashed_and_revocable() {
    let env = setup().await;
    let a = &env.app;
    let owner = &env.tokens["owner"];
    let (s, reg) = call(
        a,
        Method::POST,
        "/api/v2/clusters/prod-a/join-token",
        Some(owner),
        None,
        &[],
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    let secret = reg["registrationToken"].as_str().unwrap();
    assert!(secret.starts_with("ghqa_reg_") && secret.len() == 9 + 64);
    assert!(reg["installCommand"].as_str().unwrap().contains(secret));
    // Only the hash is stored.
    let db = std::fs::read(env.hub.store.path()).unwrap_or_default();
    let wal = std::fs::read(env.hub.store.path().with_extension("db-wal")).unwrap_or_default();
    let hay = [db, wal].concat();
    assert!(
        !hay.windows(secret.len()).any(|w| w == secret.as_bytes()),
        "the registration token is stored in clear"
    );
    // Rotation needs a registered agent.
    let (s, j) = call(
        a,
        Method::POST,
        "/api/v2/clusters/prod-a/rotate-token",
        Some(owner),
        None,
        &[],
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT, "{j}");

    // A person's token stops working when revoked; a removed member's tokens die with them.
    let (_, t) = call(
        a,
        Method::POST,
        "/api/v2/tokens",
        Some(&env.tokens["dev"]),
        Some(br#"{"name":"laptop","expiresInDays":7}"#.to_vec()),
        &[],
    )
    .await;
    let laptop = t["secret"].as_str().unwrap().to_owned();
    let (s, _) = call(
        a,
        Method::GET,
        "/api/v2/organization",
        Some(&laptop),
        None,
        &[],
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = call(
        a,
        Method::DELETE,
        &format!("/api/v2/tokens/{}", t["id"].as_str().unwrap()),
        Some(&env.tokens["dev"]),
        None,
        &[],
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = call(
        a,
        Method::GET,
        "/api/v2/organization",
        Some(&laptop),
        None,
        &[],
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _) = call(
        a,
        Method::DELETE,
        "/api/v2/members/plain",
        Some(owner),
        None,
        &[],
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = call(
        a,
        Method::GET,
        "/api/v2/organization",
        Some(&env.tokens["plain"]),
        None,
        &[],
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_chain_reveals_edits_deletions_and_truncation() {
    let env = setup().await;
    let path = env.hub.store.path().to_path_buf();
    let good = verify_audit(&env.hub.store).unwrap();
    assert!(good.iter().all(|r| r.problem.is_none()), "{good:?}");
    let n = good.iter().find(|r| r.org == "default").unwrap().entries;
    assert!(n > 20);
    let Env {
        app,
        hub,
        _dir: _keep,
        ..
    } = env;
    drop((app, hub));

    let tamper = |sql: &str| {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch("DROP TRIGGER IF EXISTS audit_log_no_update; DROP TRIGGER IF EXISTS audit_log_no_delete;").unwrap();
        conn.execute_batch(sql).unwrap();
    };
    let problem = || {
        let store = Store::open(&path).unwrap();
        verify_audit(&store)
            .unwrap()
            .into_iter()
            .find(|r| r.org == "default")
            .unwrap()
            .problem
    };
    // SQL cannot edit the log while the triggers stand.
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        let err = conn
            .execute(
                "UPDATE audit_log SET actor = 'user:nobody' WHERE seq = 5",
                [],
            )
            .unwrap_err();
        assert!(err.to_string().contains("append-only"), "{err}");
    }
    let copy = path.with_extension("pristine");
    std::fs::copy(&path, &copy).unwrap();

    tamper("UPDATE audit_log SET actor = 'user:nobody' WHERE seq = 5");
    assert!(problem().unwrap().contains("entry 5"), "{:?}", problem());

    std::fs::copy(&copy, &path).unwrap();
    tamper("DELETE FROM audit_log WHERE seq = 7");
    assert!(
        problem().unwrap().contains("entry 7 is missing"),
        "{:?}",
        problem()
    );

    std::fs::copy(&copy, &path).unwrap();
    tamper(&format!("DELETE FROM audit_log WHERE seq = {n}"));
    assert!(problem().unwrap().contains("head"), "{:?}", problem());

    std::fs::copy(&copy, &path).unwrap();
    tamper(
        "UPDATE audit_log SET seq = -1 WHERE seq = 3; UPDATE audit_log SET seq = 3 WHERE seq = 4; UPDATE audit_log SET seq = 4 WHERE seq = -1;",
    );
    assert!(problem().unwrap().contains("entry 3"), "{:?}", problem());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_playground_is_served_beside_the_api() {
    let env = setup().await;
    let (s, page) = call(&env.app, Method::GET, "/playground", None, None, &[]).await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        page.as_str().unwrap_or_default().contains("<html"),
        "{page}"
    );
    let (s, page) = call(&env.app, Method::GET, "/playground/", None, None, &[]).await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        page.as_str().unwrap_or_default().contains("<html"),
        "{page}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_is_current() {
    let text = gatehouse::server::openapi::document_text();
    let doc: Json = serde_json::from_str(text).unwrap();
    for (path, method) in [
        ("/api/v2/clusters", "post"),
        ("/api/v2/clusters/{name}/join-token", "post"),
        ("/api/v2/clusters/{name}/rotate-token", "post"),
        ("/api/v2/features", "get"),
    ] {
        assert!(
            doc["paths"][path][method].is_object(),
            "{method} {path} is documented"
        );
    }
    let file = super::root().join("docs/reference/openapi.json");
    if std::env::var_os("GATEHOUSE_UPDATE_DOCS").is_some() {
        std::fs::write(&file, text).unwrap();
    }
    let on_disk = std::fs::read_to_string(&file).unwrap_or_default();
    assert!(
        on_disk == text,
        "docs/reference/openapi.json is out of date; run: GATEHOUSE_UPDATE_DOCS=1 cargo test -p gatehouse --test it openapi"
    );
}
