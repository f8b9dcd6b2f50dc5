//! The agent's identity kept in a Kubernetes Secret, through the real `kube` client.

use gatehouse_agent::config::IdentityStore;
use gatehouse_agent::identity::{Identity, Store};

use crate::fake_kube::FakeKube;

async fn client(kube: &FakeKube, dir: &std::path::Path) -> kube::Client {
    let kubeconfig = kube::config::Kubeconfig::read_from(kube.kubeconfig(dir)).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .unwrap();
    kube::Client::try_from(config).unwrap()
}

#[tokio::test]
async fn the_identity_lives_in_a_secret_and_is_replaced_on_rotation() {
    let kube = FakeKube::start().await;
    let dir = tempfile::tempdir().unwrap();
    let place = IdentityStore::Secret {
        namespace: "gatehouse-system".into(),
        name: "gatehouse-agent-identity".into(),
    };
    let store = Store::new(place, Some(client(&kube, dir.path()).await)).unwrap();
    assert_eq!(store.load().await.unwrap(), None);

    let mut id = Identity {
        agent_token: format!("ghqa_{}", "1".repeat(64)),
        cluster_id: "c1".into(),
        cluster_name: "prod-eu".into(),
        organization: "acme".into(),
        issued_at: "2026-01-01T00:00:00Z".into(),
    };
    store.save(&id).await.unwrap();
    let secret = kube
        .get(
            "v1",
            "Secret",
            Some("gatehouse-system"),
            "gatehouse-agent-identity",
        )
        .unwrap();
    assert_eq!(secret["type"], "Opaque");
    assert!(secret["data"]["agent.json"].is_string(), "{secret:#}");
    assert_eq!(store.load().await.unwrap(), Some(id.clone()));

    // A rotation replaces the Secret's content in place.
    id.agent_token = format!("ghqa_{}", "2".repeat(64));
    store.save(&id).await.unwrap();
    assert_eq!(
        store.load().await.unwrap().unwrap().agent_token,
        id.agent_token
    );

    // RBAC refusing the update is an error naming the Secret; the stored identity is unchanged.
    kube.forbid("PUT", "/api/v1/namespaces/gatehouse-system/secrets");
    let mut newer = id.clone();
    newer.agent_token = format!("ghqa_{}", "3".repeat(64));
    let e = format!("{:#}", store.save(&newer).await.unwrap_err());
    assert!(
        e.contains("cannot update secret gatehouse-system/gatehouse-agent-identity"),
        "{e}"
    );
    assert_eq!(store.load().await.unwrap(), Some(id));
}
