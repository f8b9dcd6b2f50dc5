//! The playground's HTTP API, exercised through the router without a port: evaluation,
//! decisions, tests, located errors, the size limit, time limits, busy refusals, assets and
//! every example.

use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use gatehouse_playground::{PlaygroundConfig, router};
use serde_json::{Value, json};
use tower::ServiceExt;

fn app() -> Router {
    router(PlaygroundConfig {
        timeout: Duration::from_millis(300),
        ..PlaygroundConfig::default()
    })
}

async fn send(app: &Router, method: &str, uri: &str, body: Option<Value>) -> (StatusCode, Value) {
    let (status, _, bytes) = send_raw(app, method, uri, body.map(|b| b.to_string())).await;
    let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, value)
}

async fn send_raw(
    app: &Router,
    method: &str,
    uri: &str,
    body: Option<String>,
) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::CONTENT_TYPE, "application/json")
        .body(body.map(Body::from).unwrap_or_else(Body::empty))
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap()
        .to_vec();
    (status, headers, bytes)
}

fn files(list: &[(&str, &str)]) -> Value {
    Value::Array(
        list.iter()
            .map(|(name, content)| json!({"name": name, "content": content}))
            .collect(),
    )
}

const POLICY: &str = "package example\n\ndeny contains msg if {\n  some c in input.containers\n  not c.limits\n  msg := sprintf(\"container %s has no limits\", [c.name])\n}\n\nallow if count(deny) == 0\n";

#[tokio::test]
async fn a_query_answers_like_opa_eval_with_coverage_and_rule_values() {
    let (status, body) = send(
        &app(),
        "POST",
        "/api/evaluate",
        Some(json!({
            "files": files(&[("policy.rego", POLICY)]),
            "input": "{\"containers\": [{\"name\": \"app\"}]}",
            "mode": "query",
            "query": "data.example.deny",
        })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    assert_eq!(
        body["result"]["result"][0]["expressions"][0]["value"],
        json!(["container app has no limits"])
    );
    let coverage = &body["coverage"]["files"][0];
    assert_eq!(coverage["path"], "policy.rego");
    assert!(
        coverage["covered"].as_array().unwrap().contains(&json!(5)),
        "{coverage}"
    );
    assert!(
        coverage["not_covered"]
            .as_array()
            .unwrap()
            .contains(&json!(9)),
        "{coverage}"
    );
    let rules = body["rules"].as_array().unwrap();
    assert_eq!(rules[0]["name"], "deny");
    assert_eq!(rules[0]["status"], "defined");
    assert_eq!(rules[1]["name"], "allow");
    assert_eq!(
        rules[1]["status"], "not_evaluated",
        "the query never reached it"
    );
    assert!(body["timing"]["eval_us"].as_u64().is_some());
}

#[tokio::test]
async fn rules_the_query_reaches_are_explained_and_others_left_alone() {
    let policy = "package p\n\ngreedy := count(numbers.range(1, 10000000))\n\nsmall := input.n + 1\n\nbig if small > 10\n";
    let (status, body) = send(
        &app(),
        "POST",
        "/api/evaluate",
        Some(json!({"files": files(&[("p.rego", policy)]), "input": "{\"n\": 20}", "query": "data.p.big"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    let status_of = |name: &str| {
        body["rules"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name)
            .map(|r| (r["status"].clone(), r["value"].clone()))
            .unwrap()
    };
    assert_eq!(status_of("big"), (json!("defined"), json!(true)));
    assert_eq!(status_of("small"), (json!("defined"), json!(21)));
    assert_eq!(status_of("greedy").0, json!("not_evaluated"));
}

#[tokio::test]
async fn compile_errors_come_back_at_their_line_and_column() {
    let broken = "package example\n\ndeny contains msg if {\n  input.x == = 1\n}\n";
    let (status, body) = send(
        &app(),
        "POST",
        "/api/evaluate",
        Some(json!({
            "files": files(&[("ok.rego", "package ok\n"), ("broken.rego", broken)]),
            "mode": "query",
            "query": "data.example",
        })),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body:#}");
    let error = &body["error"];
    assert_eq!(error["code"], "compile");
    let marker = &error["markers"][0];
    assert_eq!(marker["file"], "broken.rego");
    assert_eq!(
        (marker["line"].as_u64(), marker["col"].as_u64()),
        (Some(4), Some(14))
    );
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .starts_with("broken.rego, line 4: "),
        "{error}"
    );
}

#[tokio::test]
async fn rego_v0_files_are_read_as_v0_when_marked_and_hinted_when_not() {
    let v0 = "package old\n\ndeny[msg] {\n  input.x\n  msg := \"x\"\n}\n";
    let request = |v0_flag: bool| {
        json!({
            "files": [{"name": "old.rego", "content": v0, "v0": v0_flag}],
            "input": "{\"x\": true}",
            "query": "data.old.deny",
        })
    };
    let (status, body) = send(&app(), "POST", "/api/evaluate", Some(request(true))).await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    assert_eq!(
        body["result"]["result"][0]["expressions"][0]["value"],
        json!(["x"])
    );
    let (status, body) = send(&app(), "POST", "/api/evaluate", Some(request(false))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let hint = body["error"]["markers"][0]["hint"]
        .as_str()
        .unwrap_or_default();
    assert!(hint.contains("Rego v0"), "{body:#}");
}

#[tokio::test]
async fn invalid_json_input_is_located_in_the_input_pane() {
    let (status, body) = send(
        &app(),
        "POST",
        "/api/evaluate",
        Some(json!({
            "files": files(&[("policy.rego", POLICY)]),
            "input": "{\n  \"containers\": [\n    {\"name\": \"app\",}\n  ]\n}",
            "query": "data.example.deny",
        })),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body:#}");
    assert_eq!(body["error"]["code"], "input");
    let marker = &body["error"]["markers"][0];
    assert_eq!(marker["file"], "input");
    assert_eq!(marker["line"], 3);
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("line 3") && message.contains("input pane"),
        "{message}"
    );
}

#[tokio::test]
async fn data_must_be_an_object_and_query_errors_point_at_the_query() {
    let (status, body) = send(
        &app(),
        "POST",
        "/api/evaluate",
        Some(
            json!({"files": files(&[("policy.rego", POLICY)]), "data": "[1, 2]", "query": "data"}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["code"], "data");
    let (status, body) = send(
        &app(),
        "POST",
        "/api/evaluate",
        Some(json!({"files": files(&[("policy.rego", POLICY)]), "query": "data.example.deny =="})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body:#}");
    assert_eq!(body["error"]["code"], "query");
    assert_eq!(body["error"]["markers"][0]["file"], "query");
}

#[tokio::test]
async fn runtime_errors_in_a_policy_are_located_in_the_policy() {
    let conflict = "package p\n\nx := 1 if input.a\nx := 2 if input.b\n";
    let (status, body) = send(
        &app(),
        "POST",
        "/api/evaluate",
        Some(json!({"files": files(&[("p.rego", conflict)]), "input": "{\"a\": true, \"b\": true}", "query": "data.p.x"})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body:#}");
    assert_eq!(body["error"]["code"], "runtime");
    assert_eq!(body["error"]["markers"][0]["file"], "p.rego");
}

#[tokio::test]
async fn a_decision_is_what_the_hub_would_decide() {
    let bindings = "bindings:\n  - {policy: example, mode: enforce, scope: {environment: [production]}}\n  - {policy: example, mode: warn, scope: {environment: [staging]}}\n";
    let policy = "package example\n\ndeny contains \"releases are frozen\" if input.scope.environment != \"dev\"\n";
    let action = |env: &str| {
        json!({
            "kind": "release.create",
            "actor": {"id": "u-alice", "kind": "user"},
            "scope": {"org": "acme", "environment": env},
            "subject": {"release": {"id": "rel-1"}},
        })
        .to_string()
    };
    let request = |env: &str| {
        json!({
            "files": files(&[("policy.rego", policy), ("bindings.yaml", bindings)]),
            "input": action(env),
            "mode": "decision",
            "kind": "release.deploy",
        })
    };
    let (status, body) = send(&app(), "POST", "/api/evaluate", Some(request("production"))).await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    let decision = &body["decision"];
    assert_eq!(decision["outcome"], "deny");
    assert_eq!(decision["kind"], "release.deploy", "the kind selector wins");
    assert_eq!(decision["violations"][0]["message"], "releases are frozen");
    assert_eq!(decision["explain"][0]["policy"], "example");
    assert!(
        body["coverage"]["files"][0]["covered"]
            .as_array()
            .unwrap()
            .contains(&json!(3))
    );

    let (_, body) = send(&app(), "POST", "/api/evaluate", Some(request("staging"))).await;
    assert_eq!(body["decision"]["outcome"], "allow");
    assert_eq!(body["decision"]["warnings"][0]["mode"], "warn");
}

#[tokio::test]
async fn a_decision_needs_an_action_and_a_known_kind() {
    let (status, body) = send(
        &app(),
        "POST",
        "/api/evaluate",
        Some(json!({"files": files(&[("policy.rego", POLICY)]), "mode": "decision"})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["code"], "input");
    let (status, body) = send(
        &app(),
        "POST",
        "/api/evaluate",
        Some(json!({"files": files(&[("policy.rego", POLICY)]), "mode": "decision", "input": "{}", "kind": "launch"})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("release.deploy"),
        "{body}"
    );
}

#[tokio::test]
async fn the_test_button_runs_test_rules_like_gatehouse_test() {
    let tests = "package example_test\n\nimport data.example\n\ntest_flags_missing_limits if {\n  count(example.deny) == 1 with input as {\"containers\": [{\"name\": \"a\"}]}\n}\n\ntest_wrong if {\n  x := 2\n  x > 5\n}\n";
    let (status, body) = send(
        &app(),
        "POST",
        "/api/test",
        Some(json!({"files": files(&[("policy.rego", POLICY), ("policy_test.rego", tests)])})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    assert_eq!(
        body["summary"],
        json!({"pass": 1, "fail": 1, "error": 0, "skip": 0})
    );
    assert_eq!(body["tests"][1]["name"], "test_wrong");
    assert_eq!(body["tests"][1]["status"], "fail");
    assert_eq!(
        body["tests"][1]["explanation"]["stopped_at"],
        json!([11, "x > 5"])
    );
    let marker = &body["markers"][0];
    assert_eq!(
        (marker["file"].as_str(), marker["line"].as_u64()),
        (Some("policy_test.rego"), Some(11))
    );
    assert_eq!(
        body["coverage"]["files"].as_array().unwrap().len(),
        1,
        "test files are left out"
    );
}

#[tokio::test]
async fn oversized_requests_get_413_with_a_clear_message() {
    let app = router(PlaygroundConfig {
        max_body_bytes: 64 * 1024,
        ..PlaygroundConfig::default()
    });
    let huge = format!("{{\"blob\": \"{}\"}}", "x".repeat(200 * 1024));
    let (status, body) = send(
        &app,
        "POST",
        "/api/evaluate",
        Some(json!({"files": files(&[("policy.rego", POLICY)]), "input": huge, "query": "data"})),
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body:#}");
    assert_eq!(body["error"]["code"], "too_large");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("64.0 KiB") && message.contains("gatehouse eval"),
        "{message}"
    );
}

#[tokio::test]
async fn malformed_requests_get_400() {
    let (status, _, bytes) =
        send_raw(&app(), "POST", "/api/evaluate", Some("{not json".into())).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let body: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(body["error"]["code"], "bad_request");
}

const LOOPING: &str = "package slow\n\nr := numbers.range(1, 20000)\n\nspin contains n if {\n  some i in r\n  some j in r\n  n := i * j\n  n < 0\n}\n";

#[tokio::test]
async fn a_looping_policy_is_stopped_at_the_time_limit() {
    let started = Instant::now();
    let (status, body) = send(
        &app(),
        "POST",
        "/api/evaluate",
        Some(json!({"files": files(&[("slow.rego", LOOPING)]), "query": "data.slow.spin"})),
    )
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body:#}");
    assert_eq!(body["error"]["code"], "timeout");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("300 ms"),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_stays_responsive_while_a_policy_loops() {
    let app = router(PlaygroundConfig {
        timeout: Duration::from_secs(2),
        max_concurrent: 2,
        ..PlaygroundConfig::default()
    });
    let slow = tokio::spawn({
        let app = app.clone();
        async move {
            send(
                &app,
                "POST",
                "/api/evaluate",
                Some(json!({"files": files(&[("slow.rego", LOOPING)]), "query": "data.slow.spin"})),
            )
            .await
        }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    let (status, _) = send(
        &app,
        "POST",
        "/api/evaluate",
        Some(json!({"files": files(&[("policy.rego", POLICY)]), "query": "data.example.allow"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "a quick evaluation waited {:?} behind a slow one",
        started.elapsed()
    );
    let (status, _) = slow.await.unwrap();
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_every_slot_is_taken_requests_are_told_to_retry() {
    let app = router(PlaygroundConfig {
        timeout: Duration::from_secs(2),
        max_concurrent: 1,
        queue_wait: Duration::from_millis(100),
        ..PlaygroundConfig::default()
    });
    let slow = tokio::spawn({
        let app = app.clone();
        async move {
            send(
                &app,
                "POST",
                "/api/evaluate",
                Some(json!({"files": files(&[("slow.rego", LOOPING)]), "query": "data.slow.spin"})),
            )
            .await
        }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (status, body) = send(
        &app,
        "POST",
        "/api/evaluate",
        Some(json!({"files": files(&[("policy.rego", POLICY)]), "query": "data.example.allow"})),
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body:#}");
    assert_eq!(body["error"]["code"], "busy");
    slow.await.unwrap();
}

#[tokio::test]
async fn requests_share_nothing() {
    let app = app();
    let (_, first) = send(
        &app,
        "POST",
        "/api/evaluate",
        Some(json!({"files": files(&[("a.rego", "package shared\n\nsecret := \"from a\"\n")]), "query": "data.shared.secret"})),
    )
    .await;
    assert_eq!(
        first["result"]["result"][0]["expressions"][0]["value"],
        "from a"
    );
    let (_, second) = send(
        &app,
        "POST",
        "/api/evaluate",
        Some(json!({"files": files(&[("b.rego", "package other\n")]), "query": "data.shared.secret"})),
    )
    .await;
    assert_eq!(second["result"], json!({}), "{second:#}");
}

#[tokio::test]
async fn every_example_evaluates_and_its_tests_pass() {
    let app = app();
    let (status, catalog) = send(&app, "GET", "/api/examples", None).await;
    assert_eq!(status, StatusCode::OK);
    let examples = catalog["examples"].as_array().unwrap();
    assert!(examples.len() >= 10);
    for example in examples {
        let id = example["id"].as_str().unwrap();
        let (status, body) = send(&app, "POST", "/api/evaluate", Some(example.clone())).await;
        assert_eq!(status, StatusCode::OK, "{id}: {body:#}");
        if example["mode"] == "decision" {
            let decision = &body["decision"];
            let findings = ["violations", "warnings", "requirements"]
                .iter()
                .map(|k| decision[k].as_array().map_or(0, Vec::len))
                .sum::<usize>();
            assert!(
                findings > 0,
                "{id}: the example's action should show the policy at work: {decision:#}"
            );
            let engine_findings = body["decision"]["violations"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|v| v["policy"] == "gatehouse.engine" || v["rule"] == "error")
                .count();
            assert_eq!(engine_findings, 0, "{id}: {body:#}");
        }
        let (status, run) = send(&app, "POST", "/api/test", Some(example.clone())).await;
        assert_eq!(status, StatusCode::OK, "{id}: {run:#}");
        assert_eq!(run["summary"]["fail"], 0, "{id}: {run:#}");
        assert_eq!(run["summary"]["error"], 0, "{id}: {run:#}");
    }
    let scenario = examples
        .iter()
        .find(|e| e["id"] == "seed-scenario-4")
        .unwrap();
    let (_, body) = send(&app, "POST", "/api/evaluate", Some(scenario.clone())).await;
    let violation = &body["decision"]["violations"][0];
    assert_eq!(
        violation["message"],
        "Container 'app' in production must have resource limits"
    );
    assert_eq!(violation["object"], "Deployment/shop/checkout");
}

#[tokio::test]
async fn the_page_works_nested_under_a_prefix() {
    let app = Router::new().nest("/playground", app());
    let (status, headers, page) = send_raw(&app, "GET", "/playground", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .contains("script-src 'self'")
    );
    let page = String::from_utf8(page).unwrap();
    assert!(
        page.contains("src=\"assets/app.js\""),
        "relative asset URLs"
    );
    assert!(
        page.contains("<base href=\"/playground/\">"),
        "resolved under the prefix"
    );
    let (status, _, page) = send_raw(&router(PlaygroundConfig::default()), "GET", "/", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        String::from_utf8(page)
            .unwrap()
            .contains("<base href=\"/\">")
    );
    let (status, headers, js) = send_raw(&app, "GET", "/playground/assets/app.js", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    assert!(js.len() > 10_000, "the bundle is embedded");
    let etag = headers[header::ETAG].to_str().unwrap().to_owned();
    let request = Request::builder()
        .uri("/playground/assets/app.js")
        .header(header::IF_NONE_MATCH, etag)
        .body(Body::empty())
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_MODIFIED);
    let (status, body) = send(&app, "GET", "/playground/api/config", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        body["kinds"]
            .as_array()
            .unwrap()
            .contains(&json!("release.deploy"))
    );
    let (status, body) = send(&app, "GET", "/playground/nope", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "not_found");
}
