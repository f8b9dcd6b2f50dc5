//! The fake Kubernetes API against the real `kube` client, built the way the agent builds it:
//! from a kubeconfig file, with nothing set globally.

use std::collections::BTreeMap;
use std::time::Duration;

use futures_util::{AsyncBufReadExt, StreamExt, TryStreamExt};
use k8s_openapi::ByteString;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Event, Namespace, Pod, Secret};
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, LogParams, Patch,
    PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube::{Client, ResourceExt};
use serde_json::json;
use tokio::time::timeout;

use crate::fake_kube::{self, FakeKube};

/// A started fake API, a client for it, and the directory holding its kubeconfig.
struct Cluster {
    fake: FakeKube,
    client: Client,
    _dir: tempfile::TempDir,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("fake", &self.fake)
            .field("dir", &self._dir)
            .finish_non_exhaustive()
    }
}

async fn cluster() -> Cluster {
    let fake = FakeKube::start().await;
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = fake.kubeconfig(dir.path());
    let kubeconfig = kube::config::Kubeconfig::read_from(&path).expect("read the kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(
        kubeconfig,
        &kube::config::KubeConfigOptions::default(),
    )
    .await
    .expect("load the kubeconfig");
    let client = Client::try_from(config).expect("build the client");
    Cluster {
        fake,
        client,
        _dir: dir,
    }
}

/// The `Status` inside a `kube::Error::Api`; panics on any other outcome.
fn api_status<T: std::fmt::Debug>(result: Result<T, kube::Error>) -> kube::core::Status {
    match result {
        Err(kube::Error::Api(status)) => *status,
        other => panic!("expected an API error, got {other:?}"),
    }
}

/// Whether the fake saw `METHOD /path` with exactly these query parameters (in any order; kube
/// sometimes starts the query with `&`).
fn saw(fake: &FakeKube, method_path: &str, params: &[&str]) -> bool {
    let mut want: Vec<&str> = params.to_vec();
    want.sort_unstable();
    fake.requests().iter().any(|request| {
        let (head, query) = request.split_once('?').unwrap_or((request, ""));
        let mut got: Vec<&str> = query.split('&').filter(|p| !p.is_empty()).collect();
        got.sort_unstable();
        head == method_path && got == want
    })
}

fn deployment_replicas(d: &Deployment) -> Option<i32> {
    d.spec.as_ref().and_then(|s| s.replicas)
}

#[tokio::test]
async fn kubeconfig_points_the_client_at_the_server() {
    let c = cluster().await;
    let url = c.fake.url();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    assert_eq!(c.client.default_namespace(), "default");
    let version = c.client.apiserver_version().await.expect("version");
    assert_eq!(version.major, "1");
    assert_eq!(version.minor, "34");
    assert_eq!(version.git_version, "v1.34.0");
    assert_eq!(c.fake.requests(), vec!["GET /version".to_owned()]);
}

#[tokio::test]
async fn deployments_list_get_and_patch() {
    let c = cluster().await;
    c.fake.put(fake_kube::deployment("shop", "web", 2));
    c.fake.put(fake_kube::deployment("shop", "api", 1));
    c.fake.put(fake_kube::deployment("other", "worker", 3));

    let shop: Api<Deployment> = Api::namespaced(c.client.clone(), "shop");
    let listed = shop.list(&ListParams::default()).await.expect("list");
    let names: Vec<String> = listed.items.iter().map(ResourceExt::name_any).collect();
    assert_eq!(names, ["api", "web"]);
    let all: Api<Deployment> = Api::all(c.client.clone());
    let everywhere: Vec<(String, String)> = all
        .list(&ListParams::default())
        .await
        .expect("list everywhere")
        .items
        .iter()
        .map(|d| (d.namespace().unwrap_or_default(), d.name_any()))
        .collect();
    assert_eq!(
        everywhere,
        [
            ("other".into(), "worker".into()),
            ("shop".into(), "api".into()),
            ("shop".into(), "web".into())
        ]
    );

    let web = shop.get("web").await.expect("get");
    assert_eq!(deployment_replicas(&web), Some(2));
    assert_eq!(web.status.as_ref().and_then(|s| s.ready_replicas), Some(2));
    assert_eq!(web.metadata.generation, Some(1));
    let first_rv = web.resource_version().expect("a resourceVersion");

    // Scale through a merge patch: spec, generation and mirrored status all follow.
    let scaled = shop
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 5}})),
        )
        .await
        .expect("merge patch");
    assert_eq!(deployment_replicas(&scaled), Some(5));
    assert_eq!(scaled.metadata.generation, Some(2));
    let status = scaled.status.as_ref().expect("status");
    assert_eq!(
        (
            status.replicas,
            status.ready_replicas,
            status.available_replicas,
            status.updated_replicas
        ),
        (Some(5), Some(5), Some(5), Some(5))
    );
    assert_eq!(status.observed_generation, Some(2));
    assert_ne!(
        scaled.resource_version().as_deref(),
        Some(first_rv.as_str())
    );

    // A rollout restart as kubectl does it: a strategic merge patch of the template annotations,
    // together with a container patched by name (merged, not replacing the list).
    let restart = json!({
        "spec": {"template": {
            "metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": "2025-06-01T12:00:00Z"}},
            "spec": {"containers": [{"name": "web", "env": [{"name": "MODE", "value": "fast"}]}]},
        }}
    });
    let restarted = shop
        .patch("web", &PatchParams::default(), &Patch::Strategic(restart))
        .await
        .expect("strategic patch");
    let template = restarted.spec.as_ref().expect("spec").template.clone();
    let annotations = template
        .metadata
        .as_ref()
        .and_then(|m| m.annotations.clone())
        .unwrap_or_default();
    assert_eq!(
        annotations
            .get("kubectl.kubernetes.io/restartedAt")
            .map(String::as_str),
        Some("2025-06-01T12:00:00Z")
    );
    let containers = template.spec.expect("pod spec").containers;
    assert_eq!(containers.len(), 1);
    assert_eq!(containers[0].image.as_deref(), Some("nginx:1.27"));
    assert_eq!(containers[0].env.as_ref().map(Vec::len), Some(1));
    assert_eq!(deployment_replicas(&restarted), Some(5));
    assert_eq!(restarted.metadata.generation, Some(3));

    let stored = c
        .fake
        .get("apps/v1", "Deployment", Some("shop"), "web")
        .expect("stored");
    assert_eq!(
        stored["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"],
        "2025-06-01T12:00:00Z"
    );
    let patches = c.fake.patches();
    assert_eq!(patches.len(), 2);
    assert_eq!(
        patches[0].0,
        "/apis/apps/v1/namespaces/shop/deployments/web"
    );
    assert_eq!(patches[0].1, "application/merge-patch+json");
    assert_eq!(patches[0].2, json!({"spec": {"replicas": 5}}));
    assert_eq!(patches[1].1, "application/strategic-merge-patch+json");
    assert!(
        saw(
            &c.fake,
            "GET /apis/apps/v1/namespaces/shop/deployments",
            &[]
        ),
        "{:?}",
        c.fake.requests()
    );
    assert!(
        saw(
            &c.fake,
            "PATCH /apis/apps/v1/namespaces/shop/deployments/web",
            &[]
        ),
        "{:?}",
        c.fake.requests()
    );
}

#[tokio::test]
async fn scale_subresource_reads_and_writes_replicas() {
    let c = cluster().await;
    c.fake.put(fake_kube::deployment("shop", "web", 2));
    let api: Api<Deployment> = Api::namespaced(c.client.clone(), "shop");
    let scale = api.get_scale("web").await.expect("get scale");
    assert_eq!(scale.spec.and_then(|s| s.replicas), Some(2));
    assert_eq!(
        scale.status.map(|s| s.selector),
        Some(Some("app=web".to_owned()))
    );
    let scale = api
        .patch_scale(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 0}})),
        )
        .await
        .expect("patch scale");
    assert_eq!(scale.spec.and_then(|s| s.replicas), Some(0));
    let web = api.get("web").await.expect("get");
    assert_eq!(deployment_replicas(&web), Some(0));
    // A deployment scaled to zero reports no replica counts at all, as the API server does.
    assert_eq!(web.status.as_ref().and_then(|s| s.ready_replicas), None);
}

#[tokio::test]
async fn replace_with_a_stale_resource_version_conflicts() {
    let c = cluster().await;
    c.fake.put(fake_kube::deployment("shop", "web", 2));
    let api: Api<Deployment> = Api::namespaced(c.client.clone(), "shop");
    let original = api.get("web").await.expect("get");

    let mut fresh = original.clone();
    fresh.spec.as_mut().expect("spec").replicas = Some(4);
    let replaced = api
        .replace("web", &PostParams::default(), &fresh)
        .await
        .expect("replace");
    assert_eq!(deployment_replicas(&replaced), Some(4));
    assert_ne!(replaced.resource_version(), original.resource_version());

    let mut stale = original;
    stale.spec.as_mut().expect("spec").replicas = Some(9);
    let status = api_status(api.replace("web", &PostParams::default(), &stale).await);
    assert_eq!(status.code, 409);
    assert_eq!(status.reason, "Conflict");
    assert!(
        status.message.contains("deployments.apps \"web\""),
        "{}",
        status.message
    );
    let kept = c
        .fake
        .get("apps/v1", "Deployment", Some("shop"), "web")
        .expect("stored");
    assert_eq!(kept["spec"]["replicas"], 4);

    let missing = api_status(api.replace("nope", &PostParams::default(), &replaced).await);
    // The body names "web", the URL "nope".
    assert_eq!(missing.code, 400);
}

#[tokio::test]
async fn namespaces_list() {
    let c = cluster().await;
    for name in ["shop", "default", "argocd"] {
        c.fake.put(fake_kube::namespace(name));
    }
    let api: Api<Namespace> = Api::all(c.client.clone());
    let list = api.list(&ListParams::default()).await.expect("list");
    let names: Vec<String> = list.items.iter().map(ResourceExt::name_any).collect();
    assert_eq!(names, ["argocd", "default", "shop"]);
    assert!(
        list.items
            .iter()
            .all(|ns| ns.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Active"))
    );
    assert!(list.items.iter().all(|ns| ns.metadata.namespace.is_none()));
    let rv: u64 = list
        .metadata
        .resource_version
        .expect("list resourceVersion")
        .parse()
        .expect("numeric");
    assert!(rv >= 3, "{rv}");
    assert_eq!(c.fake.requests(), vec!["GET /api/v1/namespaces".to_owned()]);
}

#[tokio::test]
async fn pods_list_with_label_selectors() {
    let c = cluster().await;
    c.fake.put(fake_kube::replica_set("shop", "web", 2));
    c.fake
        .put(fake_kube::pod("shop", "web-1", Some("web"), "web"));
    c.fake
        .put(fake_kube::pod("shop", "web-2", Some("web"), "web"));
    c.fake
        .put(fake_kube::pod("shop", "api-1", Some("api"), "api"));
    let mut loose = fake_kube::pod("shop", "debug", None, "shell");
    loose["metadata"]["labels"] = json!({});
    c.fake.put(loose);
    c.fake
        .put(fake_kube::pod("other", "web-9", Some("web"), "web"));

    let api: Api<Pod> = Api::namespaced(c.client.clone(), "shop");
    let names = |pods: kube::api::ObjectList<Pod>| {
        pods.items
            .iter()
            .map(ResourceExt::name_any)
            .collect::<Vec<_>>()
    };
    let web = api
        .list(&ListParams::default().labels("app=web"))
        .await
        .expect("app=web");
    assert_eq!(names(web.clone()), ["web-1", "web-2"]);
    let owner = &web.items[0]
        .metadata
        .owner_references
        .as_ref()
        .expect("owner")[0];
    assert_eq!(
        (owner.kind.as_str(), owner.name.as_str()),
        ("ReplicaSet", "web-5d8f7c9b6d")
    );
    assert_eq!(
        web.items[0]
            .status
            .as_ref()
            .and_then(|s| s.phase.as_deref()),
        Some("Running")
    );
    assert_eq!(
        names(
            api.list(&ListParams::default().labels("app!=web"))
                .await
                .expect("!=")
        ),
        ["api-1", "debug"]
    );
    assert_eq!(
        names(
            api.list(&ListParams::default().labels("!app"))
                .await
                .expect("!app")
        ),
        ["debug"]
    );
    assert_eq!(
        names(
            api.list(&ListParams::default().labels("app,pod-template-hash"))
                .await
                .expect("exists")
        ),
        ["api-1", "web-1", "web-2"]
    );
    assert_eq!(
        names(
            api.list(&ListParams::default().labels("app in (api,nothing)"))
                .await
                .expect("in")
        ),
        ["api-1"]
    );
    assert_eq!(
        names(
            api.list(&ListParams::default().fields("metadata.name=web-2"))
                .await
                .expect("fields")
        ),
        ["web-2"]
    );
    let everywhere: Api<Pod> = Api::all(c.client.clone());
    assert_eq!(
        names(
            everywhere
                .list(&ListParams::default().labels("app=web"))
                .await
                .expect("all")
        )
        .len(),
        3
    );
    let bad = api_status(api.list(&ListParams::default().labels("app in web")).await);
    assert_eq!((bad.code, bad.reason.as_str()), (400, "BadRequest"));
    assert!(
        saw(
            &c.fake,
            "GET /api/v1/namespaces/shop/pods",
            &["labelSelector=app%3Dweb"]
        ),
        "{:?}",
        c.fake.requests()
    );
}

#[tokio::test]
async fn events_list_with_field_selector() {
    let c = cluster().await;
    c.fake.put(fake_kube::event(
        "shop",
        "web-1.a",
        "Pod",
        "web-1",
        "BackOff",
        "Back-off restarting failed container",
    ));
    c.fake.put(fake_kube::event(
        "shop",
        "web-1.b",
        "Pod",
        "web-1",
        "Pulled",
        "Container image pulled",
    ));
    c.fake.put(fake_kube::event(
        "shop",
        "web.c",
        "Deployment",
        "web",
        "ScalingReplicaSet",
        "Scaled up",
    ));
    c.fake.put(fake_kube::event(
        "other",
        "web-1.d",
        "Pod",
        "web-1",
        "Killing",
        "Stopping container",
    ));

    let api: Api<Event> = Api::namespaced(c.client.clone(), "shop");
    let pod_events = api
        .list(&ListParams::default().fields("involvedObject.kind=Pod,involvedObject.name=web-1"))
        .await
        .expect("list");
    let reasons: Vec<(String, String)> = pod_events
        .items
        .iter()
        .map(|e| {
            (
                e.reason.clone().unwrap_or_default(),
                e.type_.clone().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        reasons,
        [
            ("BackOff".into(), "Warning".into()),
            ("Pulled".into(), "Normal".into())
        ]
    );
    let deployment_events = api
        .list(&ListParams::default().fields("involvedObject.kind=Deployment"))
        .await
        .expect("list");
    assert_eq!(deployment_events.items.len(), 1);
    assert_eq!(
        deployment_events.items[0]
            .involved_object
            .api_version
            .as_deref(),
        Some("apps/v1")
    );
    let all: Api<Event> = Api::all(c.client.clone());
    let elsewhere = all
        .list(&ListParams::default().fields("involvedObject.namespace=other"))
        .await
        .expect("list");
    assert_eq!(
        elsewhere
            .items
            .iter()
            .map(ResourceExt::name_any)
            .collect::<Vec<_>>(),
        ["web-1.d"]
    );
}

#[tokio::test]
async fn pod_logs_with_tail_lines_and_containers() {
    let c = cluster().await;
    c.fake
        .put(fake_kube::pod("shop", "web-1", Some("web"), "web"));
    c.fake
        .append_log("shop", "web-1", "", &["one", "two", "three", "four"]);
    let api: Api<Pod> = Api::namespaced(c.client.clone(), "shop");

    let all = api
        .logs("web-1", &LogParams::default())
        .await
        .expect("logs");
    assert_eq!(all, "one\ntwo\nthree\nfour\n");
    let tail = api
        .logs(
            "web-1",
            &LogParams {
                tail_lines: Some(2),
                ..LogParams::default()
            },
        )
        .await
        .expect("tail");
    assert_eq!(tail, "three\nfour\n");
    let named = api
        .logs(
            "web-1",
            &LogParams {
                container: Some("web".into()),
                tail_lines: Some(1),
                ..LogParams::default()
            },
        )
        .await
        .expect("named container");
    assert_eq!(named, "four\n");
    let stamped = api
        .logs(
            "web-1",
            &LogParams {
                timestamps: true,
                tail_lines: Some(1),
                ..LogParams::default()
            },
        )
        .await
        .expect("timestamps");
    let (stamp, line) = stamped.trim_end().split_once(' ').expect("a timestamp");
    assert!(
        chrono::DateTime::parse_from_rfc3339(stamp).is_ok(),
        "{stamp}"
    );
    assert_eq!(line, "four");

    let wrong = api_status(
        api.logs(
            "web-1",
            &LogParams {
                container: Some("nope".into()),
                ..LogParams::default()
            },
        )
        .await,
    );
    assert_eq!((wrong.code, wrong.reason.as_str()), (400, "BadRequest"));
    let missing = api_status(api.logs("ghost", &LogParams::default()).await);
    assert_eq!((missing.code, missing.reason.as_str()), (404, "NotFound"));
    assert_eq!(missing.message, "pods \"ghost\" not found");
    assert!(
        saw(
            &c.fake,
            "GET /api/v1/namespaces/shop/pods/web-1/log",
            &["tailLines=2"]
        ),
        "{:?}",
        c.fake.requests()
    );
}

/// The next line of a log stream, within 10 s; None at its end.
async fn next_line<S>(lines: &mut S) -> Option<String>
where
    S: futures_util::TryStream<Ok = String, Error = std::io::Error> + Unpin,
{
    timeout(Duration::from_secs(10), lines.try_next())
        .await
        .expect("a log line or the end of the stream within 10 s")
        .expect("reading the log stream")
}

#[tokio::test]
async fn followed_logs_stream_lines_appended_later_and_end_with_the_pod() {
    let c = cluster().await;
    c.fake
        .put(fake_kube::pod("shop", "web-1", Some("web"), "web"));
    c.fake
        .append_log("shop", "web-1", "web", &["old-1", "old-2", "before"]);
    let api: Api<Pod> = Api::namespaced(c.client.clone(), "shop");
    let params = LogParams {
        follow: true,
        tail_lines: Some(1),
        ..LogParams::default()
    };
    let stream = timeout(Duration::from_secs(10), api.log_stream("web-1", &params))
        .await
        .expect("headers in time")
        .expect("log stream");
    let mut lines = Box::pin(stream.lines());
    assert_eq!(next_line(&mut lines).await.as_deref(), Some("before"));

    c.fake.append_log("shop", "web-1", "", &["after-1"]);
    c.fake.append_log("shop", "web-1", "web", &["after-2"]);
    assert_eq!(next_line(&mut lines).await.as_deref(), Some("after-1"));
    assert_eq!(next_line(&mut lines).await.as_deref(), Some("after-2"));

    assert!(c.fake.delete("v1", "Pod", Some("shop"), "web-1"));
    assert_eq!(next_line(&mut lines).await, None);
    assert!(
        saw(
            &c.fake,
            "GET /api/v1/namespaces/shop/pods/web-1/log",
            &["follow=true", "tailLines=1"]
        ),
        "{:?}",
        c.fake.requests()
    );
}

#[tokio::test]
async fn followed_logs_end_when_the_server_is_dropped() {
    let c = cluster().await;
    c.fake.put(fake_kube::pod("shop", "web-1", None, "web"));
    c.fake.append_log("shop", "web-1", "", &["hello"]);
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), "shop");
    let params = LogParams {
        follow: true,
        timestamps: true,
        ..LogParams::default()
    };
    let stream = pods.log_stream("web-1", &params).await.expect("log stream");
    let mut lines = Box::pin(stream.lines());
    let first = next_line(&mut lines).await.expect("a line");
    assert!(first.ends_with(" hello"), "{first}");
    let Cluster {
        fake,
        client: _client,
        _dir,
    } = c;
    drop(fake);
    assert_eq!(next_line(&mut lines).await, None);
    // Nothing answers any more, not even over a kept-alive connection.
    let after = timeout(Duration::from_secs(10), pods.get("web-1"))
        .await
        .expect("an answer in time");
    assert!(after.is_err(), "{after:?}");
}

fn applications(client: &Client) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk("argoproj.io", "v1alpha1", "Application");
    let resource = ApiResource::from_gvk_with_plural(&gvk, "applications");
    Api::namespaced_with(client.clone(), "argocd", &resource)
}

#[tokio::test]
async fn argo_cd_applications_get_and_sync_patch() {
    let c = cluster().await;
    c.fake.put(fake_kube::application(
        "argocd",
        "shop",
        "https://git.example/shop.git",
        "deploy/prod",
        "OutOfSync",
        "Degraded",
    ));
    let api = applications(&c.client);

    let app = api.get("shop").await.expect("get");
    assert_eq!(
        app.types.as_ref().map(|t| t.kind.as_str()),
        Some("Application")
    );
    assert_eq!(
        app.data["spec"]["source"]["repoURL"],
        "https://git.example/shop.git"
    );
    assert_eq!(app.data["spec"]["source"]["path"], "deploy/prod");
    assert_eq!(app.data["spec"]["source"]["targetRevision"], "HEAD");
    assert_eq!(
        app.data["spec"]["destination"]["server"],
        "https://kubernetes.default.svc"
    );
    assert_eq!(app.data["status"]["sync"]["status"], "OutOfSync");
    assert_eq!(app.data["status"]["health"]["status"], "Degraded");
    assert_eq!(app.data["status"]["history"][0]["id"], 1);
    assert_eq!(app.data["status"]["history"][0]["revision"], "abc123");
    assert!(app.data["status"]["operationState"]["finishedAt"].is_string());

    let sync = json!({"operation": {
        "initiatedBy": {"username": "gatehouse"},
        "sync": {"revision": "HEAD", "prune": true, "syncOptions": ["CreateNamespace=true"]},
    }});
    let patched = api
        .patch("shop", &PatchParams::default(), &Patch::Merge(&sync))
        .await
        .expect("sync patch");
    assert_eq!(patched.data["operation"]["sync"]["prune"], true);
    // Untouched by the patch.
    assert_eq!(patched.data["status"]["sync"]["status"], "OutOfSync");
    let stored = c
        .fake
        .get(
            "argoproj.io/v1alpha1",
            "Application",
            Some("argocd"),
            "shop",
        )
        .expect("stored");
    assert_eq!(stored["operation"]["initiatedBy"]["username"], "gatehouse");
    assert_eq!(
        c.fake.patches(),
        vec![(
            "/apis/argoproj.io/v1alpha1/namespaces/argocd/applications/shop".to_owned(),
            "application/merge-patch+json".to_owned(),
            sync
        )]
    );
    let listed = api.list(&ListParams::default()).await.expect("list");
    assert_eq!(
        listed
            .items
            .iter()
            .map(ResourceExt::name_any)
            .collect::<Vec<_>>(),
        ["shop"]
    );
}

#[tokio::test]
async fn secrets_create_then_replace() {
    let c = cluster().await;
    let api: Api<Secret> = Api::namespaced(c.client.clone(), "shop");
    let secret = Secret {
        metadata: kube::api::ObjectMeta {
            name: Some("creds".into()),
            ..Default::default()
        },
        data: Some(BTreeMap::from([(
            "token".to_owned(),
            ByteString(b"s3cret".to_vec()),
        )])),
        ..Default::default()
    };
    let created = api
        .create(&PostParams::default(), &secret)
        .await
        .expect("create");
    assert_eq!(created.metadata.namespace.as_deref(), Some("shop"));
    assert!(created.metadata.uid.is_some());
    assert!(created.metadata.creation_timestamp.is_some());
    assert_eq!(created.type_.as_deref(), Some("Opaque"));
    let stored = c
        .fake
        .get("v1", "Secret", Some("shop"), "creds")
        .expect("stored");
    assert_eq!(stored["data"]["token"], fake_kube::base64_encode(b"s3cret"));
    assert_eq!(stored["data"]["token"], "czNjcmV0");

    let again = api_status(api.create(&PostParams::default(), &secret).await);
    assert_eq!((again.code, again.reason.as_str()), (409, "AlreadyExists"));
    assert_eq!(again.message, "secrets \"creds\" already exists");

    let mut changed = created.clone();
    changed.data = Some(BTreeMap::from([(
        "token".to_owned(),
        ByteString(b"rotated".to_vec()),
    )]));
    changed.string_data = Some(BTreeMap::from([("extra".to_owned(), "plain".to_owned())]));
    let replaced = api
        .replace("creds", &PostParams::default(), &changed)
        .await
        .expect("replace");
    assert_eq!(replaced.metadata.uid, created.metadata.uid);
    assert_ne!(
        replaced.metadata.resource_version,
        created.metadata.resource_version
    );
    let data = replaced.data.expect("data");
    assert_eq!(data["token"].0, b"rotated");
    // stringData is folded into data on write, as the API server does.
    assert_eq!(data["extra"].0, b"plain");
    assert_eq!(replaced.string_data, None);

    let from_helper = fake_kube::secret("shop", "other", &[("a", "hello world")]);
    c.fake.put(from_helper);
    let other = api.get("other").await.expect("get");
    assert_eq!(other.data.expect("data")["a"].0, b"hello world");
}

#[tokio::test]
async fn forbidden_requests_fail_with_403() {
    let c = cluster().await;
    c.fake.put(fake_kube::deployment("shop", "web", 2));
    c.fake
        .forbid("PATCH", "/apis/apps/v1/namespaces/shop/deployments");
    let api: Api<Deployment> = Api::namespaced(c.client.clone(), "shop");
    let status = api_status(
        api.patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 0}})),
        )
        .await,
    );
    assert_eq!(status.code, 403);
    assert_eq!(status.reason, "Forbidden");
    assert!(
        status
            .message
            .starts_with("deployments.apps \"web\" is forbidden"),
        "{}",
        status.message
    );
    assert!(
        status
            .message
            .contains("cannot patch resource \"deployments\""),
        "{}",
        status.message
    );
    // The refused patch changed nothing, and other verbs still work.
    let web = api.get("web").await.expect("get is still allowed");
    assert_eq!(deployment_replicas(&web), Some(2));
    assert_eq!(c.fake.patches().len(), 1);

    c.fake.forbid("*", "/api/v1/namespaces");
    let namespaces: Api<Namespace> = Api::all(c.client.clone());
    let status = api_status(namespaces.list(&ListParams::default()).await);
    assert_eq!((status.code, status.reason.as_str()), (403, "Forbidden"));
    assert!(
        status
            .message
            .contains("cannot list resource \"namespaces\""),
        "{}",
        status.message
    );
}

#[tokio::test]
async fn missing_objects_and_unknown_paths_are_404() {
    let c = cluster().await;
    let api: Api<Deployment> = Api::namespaced(c.client.clone(), "shop");
    let status = api_status(api.get("ghost").await);
    assert_eq!((status.code, status.reason.as_str()), (404, "NotFound"));
    assert_eq!(status.message, "deployments.apps \"ghost\" not found");
    assert_eq!(api.get_opt("ghost").await.expect("get_opt"), None);
    let patch = api_status(
        api.patch("ghost", &PatchParams::default(), &Patch::Merge(json!({})))
            .await,
    );
    assert_eq!(patch.code, 404);
    let delete = api_status(api.delete("ghost", &DeleteParams::default()).await);
    assert_eq!(delete.code, 404);

    let gvk = GroupVersionKind::gvk("example.com", "v1", "Widget");
    let widgets: Api<DynamicObject> = Api::namespaced_with(
        c.client.clone(),
        "shop",
        &ApiResource::from_gvk_with_plural(&gvk, "widgets"),
    );
    let unknown = api_status(widgets.list(&ListParams::default()).await);
    assert_eq!((unknown.code, unknown.reason.as_str()), (404, "NotFound"));
}

#[tokio::test]
async fn delete_removes_and_namespaces_take_their_objects() {
    let c = cluster().await;
    c.fake.put(fake_kube::namespace("shop"));
    c.fake.put(fake_kube::pod("shop", "web-1", None, "web"));
    c.fake.put(fake_kube::pod("shop", "web-2", None, "web"));
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), "shop");
    let deleted = pods
        .delete("web-1", &DeleteParams::default())
        .await
        .expect("delete");
    let status = deleted.right().expect("a Status");
    assert_eq!(status.details.map(|d| d.name), Some("web-1".to_owned()));
    assert!(c.fake.get("v1", "Pod", Some("shop"), "web-1").is_none());
    assert!(c.fake.get("v1", "Pod", Some("shop"), "web-2").is_some());

    let namespaces: Api<Namespace> = Api::all(c.client.clone());
    namespaces
        .delete("shop", &DeleteParams::default())
        .await
        .expect("delete namespace");
    assert!(c.fake.get("v1", "Namespace", None, "shop").is_none());
    assert!(
        pods.list(&ListParams::default())
            .await
            .expect("list")
            .items
            .is_empty()
    );
}

#[tokio::test]
async fn server_side_apply_creates_then_merges() {
    let c = cluster().await;
    let api: Api<ConfigMap> = Api::namespaced(c.client.clone(), "shop");
    let params = PatchParams::apply("gatehouse").force();
    let first = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"}, "data": {"a": "1"}});
    let created = api
        .patch("settings", &params, &Patch::Apply(&first))
        .await
        .expect("apply creates");
    assert_eq!(
        created
            .data
            .as_ref()
            .and_then(|d| d.get("a"))
            .map(String::as_str),
        Some("1")
    );
    let second = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"}, "data": {"b": "2"}});
    let merged = api
        .patch("settings", &params, &Patch::Apply(&second))
        .await
        .expect("apply merges");
    let data = merged.data.expect("data");
    assert_eq!(
        (
            data.get("a").map(String::as_str),
            data.get("b").map(String::as_str)
        ),
        (Some("1"), Some("2"))
    );
    assert_eq!(merged.metadata.uid, created.metadata.uid);
    let patches = c.fake.patches();
    assert_eq!(patches[0].1, "application/apply-patch+yaml");
    assert!(
        saw(
            &c.fake,
            "PATCH /api/v1/namespaces/shop/configmaps/settings",
            &["fieldManager=gatehouse", "force=true"]
        ),
        "{:?}",
        c.fake.requests()
    );
}

#[tokio::test]
async fn json_patch_over_the_wire() {
    let c = cluster().await;
    c.fake.put(fake_kube::deployment("shop", "web", 2));
    let ops = json!([
        {"op": "test", "path": "/spec/replicas", "value": 2},
        {"op": "replace", "path": "/spec/replicas", "value": 3},
        {"op": "add", "path": "/metadata/labels/tier", "value": "front"},
        {"op": "add", "path": "/spec/template/spec/containers/-", "value": {"name": "sidecar", "image": "envoy:1"}},
    ]);
    let request = axum::http::Request::builder()
        .method("PATCH")
        .uri("/apis/apps/v1/namespaces/shop/deployments/web")
        .header("content-type", "application/json-patch+json")
        .body(ops.to_string().into_bytes())
        .expect("request");
    let patched: Deployment = c.client.request(request).await.expect("json patch");
    assert_eq!(deployment_replicas(&patched), Some(3));
    assert_eq!(
        patched.labels().get("tier").map(String::as_str),
        Some("front")
    );
    let containers = patched
        .spec
        .expect("spec")
        .template
        .spec
        .expect("pod spec")
        .containers;
    assert_eq!(
        containers
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>(),
        ["web", "sidecar"]
    );

    let failing = axum::http::Request::builder()
        .method("PATCH")
        .uri("/apis/apps/v1/namespaces/shop/deployments/web")
        .header("content-type", "application/json-patch+json")
        .body(
            json!([{"op": "test", "path": "/spec/replicas", "value": 2}])
                .to_string()
                .into_bytes(),
        )
        .expect("request");
    let status = api_status(c.client.request::<Deployment>(failing).await);
    assert_eq!(status.code, 422);
}

#[tokio::test]
async fn watch_streams_changes() {
    let c = cluster().await;
    c.fake.put(fake_kube::deployment("shop", "web", 1));
    let api: Api<Deployment> = Api::namespaced(c.client.clone(), "shop");
    let stream = api
        .watch(&WatchParams::default().timeout(5), "0")
        .await
        .expect("watch");
    let mut stream = Box::pin(stream);
    let first = timeout(Duration::from_secs(10), stream.next())
        .await
        .expect("an event")
        .expect("open")
        .expect("ok");
    let WatchEvent::Added(added) = first else {
        panic!("expected ADDED, got {first:?}")
    };
    assert_eq!(added.name_any(), "web");

    c.fake.put(fake_kube::deployment("shop", "web", 4));
    let next = timeout(Duration::from_secs(10), stream.next())
        .await
        .expect("an event")
        .expect("open")
        .expect("ok");
    let WatchEvent::Modified(modified) = next else {
        panic!("expected MODIFIED, got {next:?}")
    };
    assert_eq!(deployment_replicas(&modified), Some(4));
    assert_eq!(modified.metadata.generation, Some(2));
}
