//! Drift through the real `kube` client: the desired state as the hub sends it, compared with
//! the live objects (API discovery resolves each kind).

use gatehouse_agent::cluster::Cluster;
use gatehouse_agent_proto::v1::{DesiredObject, DesiredState};
use serde_json::json;

use crate::fake_kube::{self, FakeKube};

#[tokio::test]
async fn live_objects_are_compared_with_the_repository_field_by_field() {
    let kube = FakeKube::start().await;
    kube.put(fake_kube::namespace("shop"));
    kube.put(fake_kube::deployment("shop", "api", 5));
    kube.put(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings", "namespace": "shop", "labels": {"team": "b"}}, "data": {"mode": "fast"}}));
    kube.put(json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "api", "namespace": "shop"}, "spec": {"ports": [{"name": "http", "port": 80}]}}));
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = kube::config::Kubeconfig::read_from(kube.kubeconfig(dir.path())).unwrap();
    let client = kube::Client::try_from(
        kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
            .await
            .unwrap(),
    )
    .unwrap();
    let cluster = Cluster::new(client, "argocd".into());

    let mut live_deployment = kube
        .get("apps/v1", "Deployment", Some("shop"), "api")
        .unwrap();
    live_deployment["spec"]["replicas"] = json!(2);
    for drop in ["uid", "resourceVersion", "creationTimestamp", "generation"] {
        live_deployment["metadata"]
            .as_object_mut()
            .unwrap()
            .remove(drop);
    }
    live_deployment.as_object_mut().unwrap().remove("status");
    let object = |source: &str, manifest: serde_json::Value| DesiredObject {
        source: source.into(),
        manifest: manifest.to_string(),
    };
    let desired = DesiredState {
        revisions: [("shop".to_owned(), "abc123".to_owned())].into(),
        objects: vec![
            object(
                "shop/tenants/acme/production/api/deployment-api.yaml",
                live_deployment,
            ),
            object(
                "shop/tenants/acme/production/api/configmap-settings.yaml",
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings", "namespace": "shop", "labels": {"team": "a"}}, "data": {"mode": "fast"}}),
            ),
            object(
                "shop/tenants/acme/production/api/service-api.yaml",
                json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "api", "namespace": "shop"}, "spec": {"ports": [{"name": "http", "port": 80}]}}),
            ),
            object(
                "shop/tenants/acme/production/api/secret-db.yaml",
                json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db", "namespace": "shop"}}),
            ),
        ],
    };
    let report = cluster.drift(&desired).await;
    assert_eq!(report.compared, 4);
    assert_eq!(report.revision, "shop@abc123");
    let by_name: std::collections::HashMap<String, _> = report
        .findings
        .iter()
        .map(|f| (format!("{}/{}", f.kind, f.name), f))
        .collect();
    assert_eq!(
        by_name.len(),
        3,
        "the Service matches: {:#?}",
        report.findings
    );

    let dep = by_name["Deployment/api"];
    assert_eq!(dep.severity, "functional");
    assert_eq!(dep.fields.len(), 1, "{dep:#?}");
    assert_eq!(
        (
            dep.fields[0].path.as_str(),
            dep.fields[0].desired.as_str(),
            dep.fields[0].live.as_str()
        ),
        ("/spec/replicas", "2", "5")
    );
    assert_eq!(
        dep.source,
        "shop/tenants/acme/production/api/deployment-api.yaml"
    );

    let cm = by_name["ConfigMap/settings"];
    assert_eq!(cm.severity, "cosmetic");
    assert_eq!(cm.fields[0].path, "/metadata/labels/team");

    let secret = by_name["Secret/db"];
    assert!(secret.missing && secret.fields.is_empty(), "{secret:#?}");
}
