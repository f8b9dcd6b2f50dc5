//! Bad input on both sides of the stream: a hub that sends tampered, expired, misaddressed,
//! replayed or over-the-limit commands (the agent refuses each, and touches nothing), and
//! agents that send the hub what it must refuse (each closed or refused with its reason while
//! the hub keeps serving the others).

use std::time::Duration;

use chrono::{SecondsFormat, Utc};
use gatehouse_agent_proto::v1::agent_message::Body as Up;
use gatehouse_agent_proto::v1::{AgentMessage, InventorySnapshot, ResourceSummary};
use gatehouse_agent_proto::{CommandKind, CommandSpec, Target};
use serde_json::json;
use tonic::Code;

use crate::fake_kube::{self, FakeKube};
use crate::procs::{Agent, Api, Hub};
use crate::raw;

fn spec(
    id: &str,
    cluster: &str,
    kind: CommandKind,
    ns: &str,
    name: &str,
    params: serde_json::Value,
    expires_in: i64,
) -> CommandSpec {
    let now = Utc::now();
    CommandSpec {
        id: id.into(),
        cluster_id: "c-1".into(),
        cluster: cluster.into(),
        kind,
        target: Target {
            kind: kind.target_kind().into(),
            namespace: ns.into(),
            name: name.into(),
        },
        params: serde_json::from_value(params).unwrap(),
        requested_by: "user:mallory".into(),
        decision_id: "dec_forged".into(),
        issued_at: now.to_rfc3339_opts(SecondsFormat::Secs, true),
        expires_at: (now + chrono::Duration::seconds(expires_in))
            .to_rfc3339_opts(SecondsFormat::Secs, true),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_refuses_what_a_compromised_hub_sends() {
    let dir = tempfile::tempdir().unwrap();
    let kube = FakeKube::start().await;
    kube.put(fake_kube::namespace("shop"));
    kube.put(fake_kube::deployment("shop", "api", 2));
    kube.put(fake_kube::application(
        "shop",
        "shop-api",
        "http://hub.example/git/shop",
        "apps/api",
        "Synced",
        "Healthy",
    ));

    let good = spec(
        "cmd-good",
        "prod-eu",
        CommandKind::Scale,
        "shop",
        "api",
        json!({"replicas": 3}),
        300,
    )
    .seal();
    let mut tampered = spec(
        "cmd-tampered",
        "prod-eu",
        CommandKind::Scale,
        "shop",
        "api",
        json!({"replicas": 4}),
        300,
    )
    .seal();
    tampered.spec = tampered.spec.replace("\"replicas\":4", "\"replicas\":40");
    let expired = spec(
        "cmd-expired",
        "prod-eu",
        CommandKind::Scale,
        "shop",
        "api",
        json!({"replicas": 5}),
        -5,
    )
    .seal();
    let elsewhere = spec(
        "cmd-elsewhere",
        "staging",
        CommandKind::Scale,
        "shop",
        "api",
        json!({"replicas": 6}),
        300,
    )
    .seal();
    let no_capability = spec(
        "cmd-sync",
        "prod-eu",
        CommandKind::Sync,
        "shop",
        "shop-api",
        json!({}),
        300,
    )
    .seal();
    let over_limit = spec(
        "cmd-huge",
        "prod-eu",
        CommandKind::Scale,
        "shop",
        "api",
        json!({"replicas": 500}),
        300,
    )
    .seal();
    let garbage = gatehouse_agent_proto::v1::ExecuteCommand {
        spec: "{not json".into(),
        spec_sha256: gatehouse_agent_proto::command::digest("{not json"),
    };
    let commands = vec![
        good.clone(),
        tampered,
        expired,
        elsewhere,
        no_capability,
        over_limit,
        good,
        garbage,
    ];
    let (address, mut heard) = raw::stand_in(commands).await;

    let agent = Agent::start(&[
        ("GATEHOUSE_HUB_ADDRESS", address),
        ("GATEHOUSE_HUB_PLAINTEXT", "true".into()),
        (
            "GATEHOUSE_REGISTRATION_TOKEN",
            format!("ghqa_reg_{}", "a".repeat(64)),
        ),
        ("GATEHOUSE_CLUSTER_NAME", "prod-eu".into()),
        (
            "GATEHOUSE_AGENT_TOKEN_PATH",
            dir.path().join("agent.json").display().to_string(),
        ),
        ("GATEHOUSE_CAPABILITIES", "observe,kubernetes.scale".into()),
        (
            "KUBECONFIG",
            kube.kubeconfig(dir.path()).display().to_string(),
        ),
    ]);
    let (acks, mut results) = raw::acks(&mut heard, 8, Duration::from_secs(20)).await;
    let reason = |id: &str| {
        let a = acks
            .get(id)
            .unwrap_or_else(|| panic!("no ack for {id}: {acks:#?}\n{}", agent.log()));
        assert!(!a.accepted, "{id} was accepted");
        a.reason.clone()
    };
    // The good command and its replay are handled concurrently: either may be acknowledged
    // first, but exactly one is accepted and the other refused as a replay.
    let good: Vec<_> = acks
        .iter()
        .filter(|(k, _)| k.starts_with("cmd-good"))
        .map(|(_, a)| a)
        .collect();
    assert_eq!(good.len(), 2, "{acks:#?}");
    assert_eq!(good.iter().filter(|a| a.accepted).count(), 1, "{acks:#?}");
    let replay = good.iter().find(|a| !a.accepted).unwrap();
    assert!(replay.reason.contains("replays are refused"), "{replay:?}");
    assert!(
        reason("cmd-tampered").contains("does not match its spec"),
        "{acks:#?}"
    );
    assert!(reason("cmd-expired").contains("expired"), "{acks:#?}");
    assert!(
        reason("cmd-elsewhere").contains("for cluster `staging`"),
        "{acks:#?}"
    );
    assert!(
        reason("cmd-sync").contains("`argocd.write` capability"),
        "{acks:#?}"
    );
    assert!(reason("cmd-huge").contains("limit of 100"), "{acks:#?}");
    assert!(reason("").contains("not a valid command spec"), "{acks:#?}");

    // Exactly one change reached the cluster: the good command's.
    while results.is_empty() {
        match tokio::time::timeout(Duration::from_secs(10), heard.recv()).await {
            Ok(Some(raw::Heard::Result(r))) => results.push(r),
            Ok(Some(raw::Heard::Ack(a))) => panic!("an unexpected ack: {a:?}"),
            _ => panic!("the good command's result did not arrive"),
        }
    }
    assert_eq!(results.len(), 1, "{results:?}");
    assert!(
        results[0].succeeded && results[0].command_id == "cmd-good",
        "{results:?}"
    );
    assert_eq!(
        results[0].output,
        "deployment shop/api scaled from 2 to 3 replicas"
    );
    let patches = kube.patches();
    assert_eq!(patches.len(), 1, "{patches:#?}");
    assert_eq!(
        kube.get("apps/v1", "Deployment", Some("shop"), "api")
            .unwrap()["spec"]["replicas"],
        3
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hub_refuses_bad_agents_and_keeps_serving_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let hub = Hub::start(&dir.path().join("hub"), 0, &[]);
    let api = Api::new(&hub.base, hub.token.as_deref().unwrap());
    let reg_a = api.cluster("prod-eu").await;
    let reg_b = api.cluster("staging").await;
    let token_a = raw::register(&hub, &reg_a, "prod-eu").await.unwrap();
    let token_b = raw::register(&hub, &reg_b, "staging").await.unwrap();

    // A reused registration token, a wrong cluster name, a token of the wrong kind.
    let e = raw::register(&hub, &reg_a, "prod-eu").await.unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated);
    assert!(e.message().contains("already used"), "{e:?}");
    let fresh = api
        .ok(
            "POST",
            "/api/v2/clusters/staging/join-token",
            serde_json::Value::Null,
        )
        .await;
    let e = raw::register(
        &hub,
        fresh["registrationToken"].as_str().unwrap(),
        "prod-eu",
    )
    .await
    .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().contains("is for cluster `staging`"), "{e:?}");
    let e = raw::open(&hub, &reg_b, None, "staging").await.unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated, "{e:?}");
    let e = raw::open(&hub, hub.token.as_deref().unwrap(), None, "prod-eu")
        .await
        .unwrap_err();
    assert_eq!(
        e.code(),
        Code::Unauthenticated,
        "an API token is not an agent token: {e:?}"
    );

    // A well-behaved session of cluster A stays up through everything below.
    let good = raw::connect(&hub, &token_a, "prod-eu").await.unwrap();
    let beat = good.tx.clone();
    let heartbeats = tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(400)).await;
            if beat
                .send(AgentMessage {
                    body: Some(Up::Heartbeat(Default::default())),
                })
                .await
                .is_err()
            {
                break;
            }
        }
    });

    // Cluster B's token used as cluster A.
    let e = raw::open(&hub, &token_b, None, "prod-eu")
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    assert!(
        e.message().contains("belongs to cluster `staging`"),
        "{e:?}"
    );

    // Not starting with hello.
    let heartbeat = AgentMessage {
        body: Some(Up::Heartbeat(Default::default())),
    };
    let e = raw::open(&hub, &token_b, Some(heartbeat), "staging")
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);

    // A message without a body.
    let mut s = raw::connect(&hub, &token_b, "staging").await.unwrap();
    s.tx.send(AgentMessage { body: None }).await.unwrap();
    let end = raw::ended(&mut s, Duration::from_secs(10)).await;
    assert_eq!(end.code(), Code::InvalidArgument, "{end:?}");

    // An oversized message (over the 4 MiB limit).
    let mut s = raw::connect(&hub, &token_b, "staging").await.unwrap();
    let huge = InventorySnapshot {
        resources: (0..60_000)
            .map(|i| ResourceSummary {
                r#type: "pods".into(),
                namespace: "x".repeat(40),
                name: format!("pod-{i:0>40}"),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    };
    let _ =
        s.tx.send(AgentMessage {
            body: Some(Up::Inventory(huge)),
        })
        .await;
    let end = raw::ended(&mut s, Duration::from_secs(10)).await;
    assert_ne!(end.code(), Code::Ok, "{end:?}");

    // A session that never sends a heartbeat is closed after the timeout (3 s here).
    let mut s = raw::connect(&hub, &token_b, "staging").await.unwrap();
    let end = raw::ended(&mut s, Duration::from_secs(10)).await;
    assert_eq!(end.code(), Code::DeadlineExceeded, "{end:?}");
    assert!(end.message().contains("no heartbeat"), "{end:?}");

    // The good session is still served and Connected.
    good.tx
        .send(AgentMessage {
            body: Some(Up::Heartbeat(Default::default())),
        })
        .await
        .unwrap();
    let status = api
        .ok(
            "GET",
            "/api/v2/clusters/prod-eu/status",
            serde_json::Value::Null,
        )
        .await;
    assert_eq!(status["health"], "Connected", "{status:#}");
    assert_eq!(status["agentVersion"], "test");
    heartbeats.abort();
    drop(good);
}
