//! A test server speaking the Kubernetes REST wire format, so the agent's real `kube` client can
//! be exercised without a kube-apiserver.
//!
//! It keeps objects in memory, keyed by resource type, namespace and name, and serves the parts
//! of the API the agent uses: discovery and `/version`; list (label and field selectors), watch,
//! get, create, replace, delete and delete-collection; merge, strategic-merge, JSON and apply
//! patches; the `status` and `scale` subresources; and pod logs, including `follow`. Errors are
//! Kubernetes `Status` objects with the matching HTTP code. Every write bumps one global
//! resourceVersion counter. Nothing waits without a bound: a followed log or a watch ends after
//! [`STREAM_LIMIT`] at the latest, and everything stops when the [`FakeKube`] is dropped.
//!
//! Deliberate simplifications: no admission or schema validation, no managed fields (server-side
//! apply merges like a strategic merge patch and never removes fields), no garbage collection
//! beyond a deleted namespace taking its objects with it, no pagination (`limit` and `continue`
//! are ignored), and apply-patch bodies must be JSON (which is what `kube` sends).

use std::collections::{BTreeMap, VecDeque};
use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::response::Response;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value, json};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_stream::wrappers::ReceiverStream;

/// The longest a followed log or a watch stays open.
pub(crate) const STREAM_LIMIT: Duration = Duration::from_secs(30);
/// The largest request body accepted.
const BODY_LIMIT: usize = 16 << 20;
/// How many changes are kept for watches that resume from a resourceVersion.
const WATCH_HISTORY: usize = 10_000;
/// The node every pod built by [`pod`] runs on.
const NODE_NAME: &str = "node-1";

// ------------------------------------------------------------------------------------------------
// Resource types
// ------------------------------------------------------------------------------------------------

/// One resource type the server serves.
#[derive(Debug, Clone, Copy)]
struct ResourceType {
    group: &'static str,
    version: &'static str,
    plural: &'static str,
    singular: &'static str,
    kind: &'static str,
    namespaced: bool,
    /// Writes to the object itself keep the stored status; status is written through `/status`.
    status_subresource: bool,
    /// Has a `/scale` subresource (autoscaling/v1 Scale over `spec.replicas`).
    scale_subresource: bool,
}

/// [`ResourceType`] flags.
const NAMESPACED: u8 = 1;
const STATUS: u8 = 2;
const SCALE: u8 = 4;

const fn rt(
    (group, version): (&'static str, &'static str),
    plural: &'static str,
    singular: &'static str,
    kind: &'static str,
    flags: u8,
) -> ResourceType {
    ResourceType {
        group,
        version,
        plural,
        singular,
        kind,
        namespaced: flags & NAMESPACED != 0,
        status_subresource: flags & STATUS != 0,
        scale_subresource: flags & SCALE != 0,
    }
}

const CORE: (&str, &str) = ("", "v1");
const APPS: (&str, &str) = ("apps", "v1");
const BATCH: (&str, &str) = ("batch", "v1");
const ARGO: (&str, &str) = ("argoproj.io", "v1alpha1");

#[rustfmt::skip]
const RESOURCES: &[ResourceType] = &[
    rt(CORE, "namespaces", "namespace", "Namespace", STATUS),
    rt(CORE, "nodes", "node", "Node", STATUS),
    rt(CORE, "pods", "pod", "Pod", NAMESPACED | STATUS),
    rt(CORE, "services", "service", "Service", NAMESPACED | STATUS),
    rt(CORE, "configmaps", "configmap", "ConfigMap", NAMESPACED),
    rt(CORE, "secrets", "secret", "Secret", NAMESPACED),
    rt(CORE, "serviceaccounts", "serviceaccount", "ServiceAccount", NAMESPACED),
    rt(CORE, "persistentvolumeclaims", "persistentvolumeclaim", "PersistentVolumeClaim", NAMESPACED | STATUS),
    rt(CORE, "events", "event", "Event", NAMESPACED),
    rt(APPS, "deployments", "deployment", "Deployment", NAMESPACED | STATUS | SCALE),
    rt(APPS, "statefulsets", "statefulset", "StatefulSet", NAMESPACED | STATUS | SCALE),
    rt(APPS, "daemonsets", "daemonset", "DaemonSet", NAMESPACED | STATUS),
    rt(APPS, "replicasets", "replicaset", "ReplicaSet", NAMESPACED | STATUS | SCALE),
    rt(BATCH, "jobs", "job", "Job", NAMESPACED | STATUS),
    rt(BATCH, "cronjobs", "cronjob", "CronJob", NAMESPACED | STATUS),
    rt(("networking.k8s.io", "v1"), "ingresses", "ingress", "Ingress", NAMESPACED | STATUS),
    rt(("events.k8s.io", "v1"), "events", "event", "Event", NAMESPACED),
    rt(ARGO, "applications", "application", "Application", NAMESPACED),
    rt(ARGO, "appprojects", "appproject", "AppProject", NAMESPACED),
];

impl ResourceType {
    fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_owned()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `deployments.apps`, `pods`: how the API server names a resource in messages.
    fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_owned()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    fn verbs(&self) -> Value {
        json!([
            "create",
            "delete",
            "deletecollection",
            "get",
            "list",
            "patch",
            "update",
            "watch"
        ])
    }
}

fn resource_index(group: &str, version: &str, plural: &str) -> Option<usize> {
    RESOURCES
        .iter()
        .position(|r| r.group == group && r.version == version && r.plural == plural)
}

fn resource_by_kind(api_version: &str, kind: &str) -> Option<usize> {
    RESOURCES
        .iter()
        .position(|r| r.api_version() == api_version && r.kind == kind)
}

fn group_versions() -> Vec<(&'static str, &'static str)> {
    let mut seen: Vec<(&'static str, &'static str)> = Vec::new();
    for r in RESOURCES {
        if !seen.contains(&(r.group, r.version)) {
            seen.push((r.group, r.version));
        }
    }
    seen
}

// ------------------------------------------------------------------------------------------------
// Shared state
// ------------------------------------------------------------------------------------------------

#[derive(Debug)]
struct LogLine {
    /// The container, or "" for "the pod's first container" when the pod was unknown at append time.
    container: String,
    time: DateTime<Utc>,
    text: String,
}

#[derive(Debug)]
struct Change {
    resource_version: u64,
    resource: usize,
    kind: &'static str,
    object: Value,
}

#[derive(Debug)]
struct Store {
    resource_version: u64,
    uids: u64,
    objects: Vec<BTreeMap<(String, String), Value>>,
    logs: BTreeMap<(String, String), Vec<LogLine>>,
    changes: VecDeque<Change>,
    /// Watches may resume from any resourceVersion at or after this one.
    history_floor: u64,
    requests: Vec<String>,
    patches: Vec<(String, String, Value)>,
    forbidden: Vec<(String, String)>,
    closed: bool,
}

#[derive(Debug)]
struct Shared {
    store: Mutex<Store>,
    /// Bumped after every change to `store`; followers and watches wait on it.
    changed: watch::Sender<u64>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Store> {
        self.store
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn notify(&self) {
        self.changed.send_modify(|n| *n += 1);
    }
}

/// An in-memory Kubernetes API server on loopback. Dropping it stops the server.
#[derive(Debug)]
pub(crate) struct FakeKube {
    url: String,
    shared: Arc<Shared>,
    server: JoinHandle<()>,
}

impl FakeKube {
    /// Starts on 127.0.0.1:0 (tokio, inside the current runtime).
    pub(crate) async fn start() -> FakeKube {
        let (changed, _) = watch::channel(0);
        let shared = Arc::new(Shared {
            store: Mutex::new(Store {
                resource_version: 1,
                uids: 0,
                objects: RESOURCES.iter().map(|_| BTreeMap::new()).collect(),
                logs: BTreeMap::new(),
                changes: VecDeque::new(),
                history_floor: 1,
                requests: Vec::new(),
                patches: Vec::new(),
                forbidden: Vec::new(),
                closed: false,
            }),
            changed,
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the fake Kubernetes API");
        let addr = listener.local_addr().expect("local address");
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeKube {
            url: format!("http://{addr}"),
            shared,
            server,
        }
    }

    /// `http://127.0.0.1:PORT`
    pub(crate) fn url(&self) -> String {
        self.url.clone()
    }

    /// Writes a kubeconfig for this server into `dir` and returns its path. `KUBECONFIG=<path>`
    /// makes `kube::Config::infer()` and `kube::Client::try_default()` talk to this server.
    pub(crate) fn kubeconfig(&self, dir: &Path) -> PathBuf {
        let port = self.url.rsplit(':').next().unwrap_or("0");
        let path = dir.join(format!("fake-kube-{port}.kubeconfig"));
        let text = format!(
            "apiVersion: v1\n\
             kind: Config\n\
             clusters:\n\
             - name: fake-kube\n  cluster:\n    server: {url}\n\
             users:\n\
             - name: fake-kube-user\n  user:\n    token: fake-kube-token\n\
             contexts:\n\
             - name: fake-kube\n  context:\n    cluster: fake-kube\n    user: fake-kube-user\n    namespace: default\n\
             current-context: fake-kube\n\
             preferences: {{}}\n",
            url = self.url
        );
        std::fs::write(&path, text).expect("write the kubeconfig");
        path
    }

    /// Inserts or replaces an object of any served apiVersion/kind. Fills metadata.uid,
    /// resourceVersion, creationTimestamp and generation (for objects with a spec) when missing,
    /// and namespace `default` for namespaced kinds. A Deployment or StatefulSet put without a
    /// status gets one mirroring its spec (all replicas ready); one put with a status keeps it.
    ///
    /// Panics on an object without apiVersion, kind or metadata.name, or of a kind not served.
    pub(crate) fn put(&self, mut object: Value) {
        let api_version = object["apiVersion"]
            .as_str()
            .expect("object without apiVersion")
            .to_owned();
        let kind = object["kind"]
            .as_str()
            .expect("object without kind")
            .to_owned();
        let index = resource_by_kind(&api_version, &kind).unwrap_or_else(|| {
            panic!("the fake Kubernetes API does not serve {api_version} {kind}")
        });
        let resource = &RESOURCES[index];
        let name = object["metadata"]["name"]
            .as_str()
            .expect("object without metadata.name")
            .to_owned();
        let namespace = if resource.namespaced {
            let ns = object["metadata"]["namespace"]
                .as_str()
                .unwrap_or("default")
                .to_owned();
            object["metadata"]["namespace"] = json!(ns);
            ns
        } else {
            if let Some(meta) = object["metadata"].as_object_mut() {
                meta.remove("namespace");
            }
            String::new()
        };
        let mirror = object.get("status").is_none();
        let mut store = self.shared.lock();
        let old = store.objects[index]
            .get(&(namespace.clone(), name.clone()))
            .cloned();
        let mut uid_needed = object["metadata"]["uid"].as_str().is_none();
        if let Some(old) = &old {
            if uid_needed {
                object["metadata"]["uid"] = old["metadata"]["uid"].clone();
                uid_needed = false;
            }
            if object["metadata"]["creationTimestamp"].as_str().is_none() {
                object["metadata"]["creationTimestamp"] =
                    old["metadata"]["creationTimestamp"].clone();
            }
        }
        if uid_needed {
            object["metadata"]["uid"] = json!(store.next_uid());
        }
        if object["metadata"]["creationTimestamp"].as_str().is_none() {
            object["metadata"]["creationTimestamp"] = json!(now_seconds());
        }
        if object.get("spec").is_some() && object["metadata"]["generation"].as_i64().is_none() {
            let generation = match &old {
                Some(old) if without_meta_and_status(old) != without_meta_and_status(&object) => {
                    old["metadata"]["generation"].as_i64().unwrap_or(1) + 1
                }
                Some(old) => old["metadata"]["generation"].as_i64().unwrap_or(1),
                None => 1,
            };
            object["metadata"]["generation"] = json!(generation);
        }
        defaults(resource, &mut object);
        if mirror {
            mirror_status(resource, &mut object);
        }
        let kind = if old.is_some() { "MODIFIED" } else { "ADDED" };
        store.commit(index, &namespace, &name, object, kind);
        drop(store);
        self.shared.notify();
    }

    /// The stored object, if any. `namespace` None means `default` for namespaced kinds.
    pub(crate) fn get(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Option<Value> {
        let index = resource_by_kind(api_version, kind)?;
        let namespace = if RESOURCES[index].namespaced {
            namespace.unwrap_or("default")
        } else {
            ""
        };
        self.shared.lock().objects[index]
            .get(&(namespace.to_owned(), name.to_owned()))
            .cloned()
    }

    /// Removes an object (as if deleted through the API); true when it existed. Followers of a
    /// deleted pod's log see their stream end.
    pub(crate) fn delete(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> bool {
        let Some(index) = resource_by_kind(api_version, kind) else {
            return false;
        };
        let namespace = if RESOURCES[index].namespaced {
            namespace.unwrap_or("default")
        } else {
            ""
        };
        let removed = self.shared.lock().remove(index, namespace, name).is_some();
        self.shared.notify();
        removed
    }

    /// Appends log lines to a pod container (container "" = the pod's first container);
    /// followers see them.
    pub(crate) fn append_log(&self, namespace: &str, pod: &str, container: &str, lines: &[&str]) {
        let mut store = self.shared.lock();
        let container = if container.is_empty() {
            store
                .pod(namespace, pod)
                .and_then(|p| container_names(p).into_iter().next())
                .unwrap_or_default()
        } else {
            container.to_owned()
        };
        let log = store
            .logs
            .entry((namespace.to_owned(), pod.to_owned()))
            .or_default();
        for line in lines {
            log.push(LogLine {
                container: container.clone(),
                time: Utc::now(),
                text: (*line).to_owned(),
            });
        }
        drop(store);
        self.shared.notify();
    }

    /// Every request seen, as "METHOD /path?query" strings (no `?` when the query is empty), in order.
    pub(crate) fn requests(&self) -> Vec<String> {
        self.shared.lock().requests.clone()
    }

    /// The body of every PATCH seen (a JSON string when it was not JSON), with its path and
    /// content type, in order.
    pub(crate) fn patches(&self) -> Vec<(String, String, Value)> {
        self.shared.lock().patches.clone()
    }

    /// Makes every request with this method ("*" = any) and a path starting with `path_prefix`
    /// answer 403 Forbidden, as RBAC refusing the agent would.
    pub(crate) fn forbid(&self, method: &str, path_prefix: &str) {
        self.shared
            .lock()
            .forbidden
            .push((method.to_owned(), path_prefix.to_owned()));
    }
}

impl Drop for FakeKube {
    fn drop(&mut self) {
        self.server.abort();
        self.shared.lock().closed = true;
        self.shared.notify();
    }
}

impl Store {
    fn next_uid(&mut self) -> String {
        self.uids += 1;
        format!("00000000-0000-4000-8000-{:012x}", self.uids)
    }

    fn pod(&self, namespace: &str, name: &str) -> Option<&Value> {
        let index = resource_index("", "v1", "pods")?;
        self.objects[index].get(&(namespace.to_owned(), name.to_owned()))
    }

    /// Stores `object` with a fresh resourceVersion and records the change for watches.
    fn commit(
        &mut self,
        resource: usize,
        namespace: &str,
        name: &str,
        mut object: Value,
        kind: &'static str,
    ) -> Value {
        self.resource_version += 1;
        object["metadata"]["resourceVersion"] = json!(self.resource_version.to_string());
        self.objects[resource].insert((namespace.to_owned(), name.to_owned()), object.clone());
        self.record(resource, kind, object.clone());
        object
    }

    fn record(&mut self, resource: usize, kind: &'static str, object: Value) {
        self.changes.push_back(Change {
            resource_version: self.resource_version,
            resource,
            kind,
            object,
        });
        while self.changes.len() > WATCH_HISTORY {
            if let Some(dropped) = self.changes.pop_front() {
                self.history_floor = dropped.resource_version;
            }
        }
    }

    /// Removes an object; a namespace takes its namespaced objects with it.
    fn remove(&mut self, resource: usize, namespace: &str, name: &str) -> Option<Value> {
        let mut object = self.objects[resource].remove(&(namespace.to_owned(), name.to_owned()))?;
        self.resource_version += 1;
        object["metadata"]["resourceVersion"] = json!(self.resource_version.to_string());
        self.record(resource, "DELETED", object.clone());
        if RESOURCES[resource].kind == "Namespace" && RESOURCES[resource].group.is_empty() {
            for index in 0..RESOURCES.len() {
                let keys: Vec<(String, String)> = self.objects[index]
                    .keys()
                    .filter(|(ns, _)| ns == name)
                    .cloned()
                    .collect();
                for (ns, n) in keys {
                    self.remove(index, &ns, &n);
                }
            }
        }
        Some(object)
    }
}

// ------------------------------------------------------------------------------------------------
// Errors
// ------------------------------------------------------------------------------------------------

#[derive(Debug)]
struct ApiError {
    code: u16,
    reason: &'static str,
    message: String,
    details: Option<Value>,
}

impl ApiError {
    fn new(code: u16, reason: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            reason,
            message: message.into(),
            details: None,
        }
    }

    fn with_details(mut self, resource: &ResourceType, name: &str) -> ApiError {
        let mut details = json!({"group": resource.group, "kind": resource.plural});
        if !name.is_empty() {
            details["name"] = json!(name);
        }
        self.details = Some(details);
        self
    }

    fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(400, "BadRequest", message)
    }

    fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(422, "Invalid", message)
    }

    fn not_found(resource: &ResourceType, name: &str) -> ApiError {
        ApiError::new(
            404,
            "NotFound",
            format!("{} \"{name}\" not found", resource.qualified()),
        )
        .with_details(resource, name)
    }

    fn page_not_found() -> ApiError {
        let mut error = ApiError::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        );
        error.details = Some(
            json!({"causes": [{"reason": "UnexpectedServerResponse", "message": "404 page not found"}]}),
        );
        error
    }

    fn method_not_allowed(method: &Method) -> ApiError {
        ApiError::new(
            405,
            "MethodNotAllowed",
            format!("the server does not allow this method on the requested resource ({method})"),
        )
    }

    fn conflict(resource: &ResourceType, name: &str) -> ApiError {
        ApiError::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; \
                 please apply your changes to the latest version and try again",
                resource.qualified()
            ),
        )
        .with_details(resource, name)
    }

    fn into_response(self) -> Response {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if let Some(details) = self.details {
            status["details"] = details;
        }
        json_response(
            StatusCode::from_u16(self.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            &status,
        )
    }
}

type ApiResult = Result<Response, ApiError>;

fn json_response(code: StatusCode, value: &Value) -> Response {
    Response::builder()
        .status(code)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(value.to_string()))
        .expect("a valid response")
}

fn ok(value: &Value) -> ApiResult {
    Ok(json_response(StatusCode::OK, value))
}

// ------------------------------------------------------------------------------------------------
// Request handling
// ------------------------------------------------------------------------------------------------

/// Decoded query parameters, in order.
#[derive(Debug, Default)]
struct Query(Vec<(String, String)>);

impl Query {
    fn parse(raw: &str) -> Query {
        Query(
            raw.split('&')
                .filter(|pair| !pair.is_empty())
                .map(|pair| {
                    let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                    (percent_decode(k, true), percent_decode(v, true))
                })
                .collect(),
        )
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn flag(&self, key: &str) -> bool {
        matches!(self.get(key), Some("true" | "1" | "True"))
    }

    fn int(&self, key: &str) -> Result<Option<i64>, ApiError> {
        match self.get(key) {
            None | Some("") => Ok(None),
            Some(v) => v
                .parse()
                .map(Some)
                .map_err(|_| ApiError::bad_request(format!("invalid {key}: {v:?}"))),
        }
    }

    fn dry_run(&self) -> bool {
        self.get("dryRun").is_some_and(|v| !v.is_empty())
    }
}

fn percent_decode(s: &str, plus_is_space: bool) -> String {
    fn hex(b: u8) -> Option<u8> {
        char::from(b)
            .to_digit(16)
            .and_then(|d| u8::try_from(d).ok())
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' if plus_is_space => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(high), Some(low)) => {
                    out.push(high * 16 + low);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What a request path addresses.
#[derive(Debug)]
enum Target {
    Version,
    CoreVersions,
    Groups,
    Group(String),
    Resources(String, String),
    Collection {
        resource: usize,
        namespace: Option<String>,
    },
    Item {
        resource: usize,
        namespace: String,
        name: String,
        subresource: Option<String>,
    },
}

fn parse_path(path: &str) -> Option<Target> {
    let trimmed = path.strip_prefix('/')?.trim_end_matches('/');
    let segments: Vec<String> = trimmed
        .split('/')
        .map(|s| percent_decode(s, false))
        .collect();
    if segments.iter().any(String::is_empty) {
        return None;
    }
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    let (group, version, rest) = match segments.as_slice() {
        ["version"] => return Some(Target::Version),
        ["api"] => return Some(Target::CoreVersions),
        ["apis"] => return Some(Target::Groups),
        ["apis", group] => {
            return group_versions()
                .iter()
                .any(|(g, _)| g == group)
                .then(|| Target::Group((*group).to_owned()));
        }
        ["api", version, rest @ ..] => ("", *version, rest),
        ["apis", group, version, rest @ ..] => (*group, *version, rest),
        _ => return None,
    };
    if !group_versions().contains(&(group, version)) {
        return None;
    }
    let find = |plural: &str| resource_index(group, version, plural);
    match rest {
        [] => Some(Target::Resources(group.to_owned(), version.to_owned())),
        ["namespaces", ns, plural, tail @ ..]
            if find(plural).is_some_and(|i| RESOURCES[i].namespaced) =>
        {
            let resource = find(plural)?;
            match tail {
                [] => Some(Target::Collection {
                    resource,
                    namespace: Some((*ns).to_owned()),
                }),
                [name] => Some(Target::Item {
                    resource,
                    namespace: (*ns).to_owned(),
                    name: (*name).to_owned(),
                    subresource: None,
                }),
                [name, sub] => Some(Target::Item {
                    resource,
                    namespace: (*ns).to_owned(),
                    name: (*name).to_owned(),
                    subresource: Some((*sub).to_owned()),
                }),
                _ => None,
            }
        }
        [plural] => Some(Target::Collection {
            resource: find(plural)?,
            namespace: None,
        }),
        [plural, name, tail @ ..]
            if find(plural).is_some_and(|i| !RESOURCES[i].namespaced) && tail.len() <= 1 =>
        {
            Some(Target::Item {
                resource: find(plural)?,
                namespace: String::new(),
                name: (*name).to_owned(),
                subresource: tail.first().map(|s| (*s).to_owned()),
            })
        }
        _ => None,
    }
}

async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    if shared.lock().closed {
        // A kept-alive connection outliving the dropped server.
        let mut response = ApiError::new(
            503,
            "ServiceUnavailable",
            "the fake Kubernetes API has stopped",
        )
        .into_response();
        response.headers_mut().insert(
            header::CONNECTION,
            header::HeaderValue::from_static("close"),
        );
        return response;
    }
    let (parts, body) = request.into_parts();
    let method = parts.method.clone();
    let path = parts.uri.path().to_owned();
    let raw_query = parts.uri.query().unwrap_or("").to_owned();
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let line = if raw_query.is_empty() {
        format!("{method} {path}")
    } else {
        format!("{method} {path}?{raw_query}")
    };
    shared.lock().requests.push(line);
    let body = match axum::body::to_bytes(body, BODY_LIMIT).await {
        Ok(body) => body,
        Err(e) => {
            return ApiError::bad_request(format!("reading the request body: {e}")).into_response();
        }
    };
    if method == Method::PATCH {
        let value = serde_json::from_slice(&body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
        shared
            .lock()
            .patches
            .push((path.clone(), content_type.clone(), value));
    }
    let request = ApiRequest {
        method,
        path,
        query: Query::parse(&raw_query),
        content_type,
        body,
    };
    match route(&shared, &request) {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

#[derive(Debug)]
struct ApiRequest {
    method: Method,
    path: String,
    query: Query,
    content_type: String,
    body: Bytes,
}

impl ApiRequest {
    fn json_body(&self) -> Result<Value, ApiError> {
        let value: Value = serde_json::from_slice(&self.body).map_err(|e| {
            ApiError::bad_request(format!("the request body is not valid JSON: {e}"))
        })?;
        if !value.is_object() {
            return Err(ApiError::bad_request(
                "the request body is not a JSON object",
            ));
        }
        Ok(value)
    }

    /// The media type without parameters.
    fn media_type(&self) -> &str {
        self.content_type.split(';').next().unwrap_or("").trim()
    }
}

fn forbidden(shared: &Shared, request: &ApiRequest, target: Option<&Target>) -> Option<ApiError> {
    let store = shared.lock();
    let hit = store.forbidden.iter().any(|(method, prefix)| {
        (method == "*" || method.eq_ignore_ascii_case(request.method.as_str()))
            && request.path.starts_with(prefix.as_str())
    });
    drop(store);
    if !hit {
        return None;
    }
    let verb = match (&request.method, target) {
        (&Method::GET, Some(Target::Collection { .. })) if request.query.flag("watch") => "watch",
        (&Method::GET, Some(Target::Collection { .. })) => "list",
        (&Method::GET, _) => "get",
        (&Method::POST, _) => "create",
        (&Method::PUT, _) => "update",
        (&Method::PATCH, _) => "patch",
        (&Method::DELETE, Some(Target::Collection { .. })) => "deletecollection",
        (&Method::DELETE, _) => "delete",
        _ => "access",
    };
    let user = "User \"system:serviceaccount:gatehouse:gatehouse-agent\"";
    let (resource, namespace, name, subresource) = match target {
        Some(Target::Collection {
            resource,
            namespace,
        }) => (*resource, namespace.as_deref().unwrap_or(""), "", None),
        Some(Target::Item {
            resource,
            namespace,
            name,
            subresource,
        }) => (
            *resource,
            namespace.as_str(),
            name.as_str(),
            subresource.as_deref(),
        ),
        _ => {
            return Some(ApiError::new(
                403,
                "Forbidden",
                format!("forbidden: {user} cannot {verb} path \"{}\"", request.path),
            ));
        }
    };
    let r = &RESOURCES[resource];
    let subject = if name.is_empty() {
        r.qualified()
    } else {
        format!("{} \"{name}\"", r.qualified())
    };
    let resource_name = match subresource {
        Some(sub) => format!("{}/{sub}", r.plural),
        None => r.plural.to_owned(),
    };
    let scope = if namespace.is_empty() {
        "at the cluster scope".to_owned()
    } else {
        format!("in the namespace \"{namespace}\"")
    };
    let error = ApiError::new(
        403,
        "Forbidden",
        format!(
            "{subject} is forbidden: {user} cannot {verb} resource \"{resource_name}\" in API group \"{}\" {scope}",
            r.group
        ),
    )
    .with_details(r, name);
    Some(error)
}

fn route(shared: &Arc<Shared>, request: &ApiRequest) -> ApiResult {
    let target = parse_path(&request.path);
    if let Some(error) = forbidden(shared, request, target.as_ref()) {
        return Err(error);
    }
    let Some(target) = target else {
        return Err(ApiError::page_not_found());
    };
    let method = &request.method;
    match target {
        Target::Version
        | Target::CoreVersions
        | Target::Groups
        | Target::Group(_)
        | Target::Resources(..)
            if *method != Method::GET =>
        {
            Err(ApiError::method_not_allowed(method))
        }
        Target::Version => ok(&json!({
            "major": "1",
            "minor": "34",
            "emulationMajor": "1",
            "emulationMinor": "34",
            "minCompatibilityMajor": "1",
            "minCompatibilityMinor": "33",
            "gitVersion": "v1.34.0",
            "gitCommit": "0000000000000000000000000000000000000000",
            "gitTreeState": "clean",
            "buildDate": "2025-08-27T00:00:00Z",
            "goVersion": "go1.24.6",
            "compiler": "gc",
            "platform": "linux/amd64"
        })),
        Target::CoreVersions => ok(&json!({
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:443"}]
        })),
        Target::Groups => {
            let mut groups: Vec<Value> = Vec::new();
            let mut names: Vec<&str> = Vec::new();
            for (g, _) in group_versions() {
                if !g.is_empty() && !names.contains(&g) {
                    names.push(g);
                    groups.push(api_group(g));
                }
            }
            ok(&json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}))
        }
        Target::Group(group) => {
            let mut value = api_group(&group);
            value["kind"] = json!("APIGroup");
            value["apiVersion"] = json!("v1");
            ok(&value)
        }
        Target::Resources(group, version) => ok(&resource_list(&group, &version)),
        Target::Collection {
            resource,
            namespace,
        } => match *method {
            Method::GET if request.query.flag("watch") => {
                watch_collection(shared, request, resource, namespace)
            }
            Method::GET => list(shared, request, resource, namespace.as_deref()),
            Method::POST => match namespace {
                Some(ns) => create(shared, request, resource, &ns),
                None if !RESOURCES[resource].namespaced => create(shared, request, resource, ""),
                None => Err(ApiError::method_not_allowed(method)),
            },
            Method::DELETE => delete_collection(shared, request, resource, namespace.as_deref()),
            _ => Err(ApiError::method_not_allowed(method)),
        },
        Target::Item {
            resource,
            namespace,
            name,
            subresource,
        } => {
            let r = &RESOURCES[resource];
            let item = Item {
                resource,
                r,
                namespace: &namespace,
                name: &name,
            };
            match (subresource.as_deref(), method.clone()) {
                (None, Method::GET) => ok(&item.load(shared)?),
                (None, Method::PUT) => replace(shared, request, &item),
                (None, Method::PATCH) => patch(shared, request, &item),
                (None, Method::DELETE) => delete(shared, request, &item),
                (Some("status"), Method::GET) => ok(&item.load(shared)?),
                (Some("status"), Method::PUT | Method::PATCH) => {
                    write_status(shared, request, &item)
                }
                (Some("scale"), Method::GET) if r.scale_subresource => {
                    ok(&scale_of(&item.load(shared)?))
                }
                (Some("scale"), Method::PUT | Method::PATCH) if r.scale_subresource => {
                    write_scale(shared, request, &item)
                }
                (Some("log"), Method::GET) if r.kind == "Pod" => {
                    logs(shared, request, &namespace, &name)
                }
                (None | Some("status"), _) => Err(ApiError::method_not_allowed(method)),
                (Some("scale"), _) if r.scale_subresource => {
                    Err(ApiError::method_not_allowed(method))
                }
                (Some("log"), _) if r.kind == "Pod" => Err(ApiError::method_not_allowed(method)),
                _ => Err(ApiError::page_not_found()),
            }
        }
    }
}

fn api_group(group: &str) -> Value {
    let versions: Vec<Value> = group_versions()
        .iter()
        .filter(|(g, _)| *g == group)
        .map(|(g, v)| json!({"groupVersion": format!("{g}/{v}"), "version": v}))
        .collect();
    json!({"name": group, "versions": versions, "preferredVersion": versions[0]})
}

fn resource_list(group: &str, version: &str) -> Value {
    let mut resources = Vec::new();
    for r in RESOURCES
        .iter()
        .filter(|r| r.group == group && r.version == version)
    {
        resources.push(json!({
            "name": r.plural,
            "singularName": r.singular,
            "namespaced": r.namespaced,
            "kind": r.kind,
            "verbs": r.verbs(),
        }));
        if r.status_subresource {
            resources.push(json!({
                "name": format!("{}/status", r.plural),
                "singularName": "",
                "namespaced": r.namespaced,
                "kind": r.kind,
                "verbs": ["get", "patch", "update"],
            }));
        }
        if r.scale_subresource {
            resources.push(json!({
                "name": format!("{}/scale", r.plural),
                "singularName": "",
                "namespaced": r.namespaced,
                "group": "autoscaling",
                "version": "v1",
                "kind": "Scale",
                "verbs": ["get", "patch", "update"],
            }));
        }
        if r.kind == "Pod" {
            resources.push(json!({
                "name": "pods/log",
                "singularName": "",
                "namespaced": true,
                "kind": "Pod",
                "verbs": ["get"],
            }));
        }
    }
    let group_version = if group.is_empty() {
        version.to_owned()
    } else {
        format!("{group}/{version}")
    };
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": resources})
}

/// One addressed object.
#[derive(Debug)]
struct Item<'a> {
    resource: usize,
    r: &'a ResourceType,
    namespace: &'a str,
    name: &'a str,
}

impl Item<'_> {
    fn key(&self) -> (String, String) {
        (self.namespace.to_owned(), self.name.to_owned())
    }

    fn find(&self, store: &Store) -> Option<Value> {
        store.objects[self.resource].get(&self.key()).cloned()
    }

    fn load(&self, shared: &Shared) -> Result<Value, ApiError> {
        self.find(&shared.lock())
            .ok_or_else(|| ApiError::not_found(self.r, self.name))
    }
}

// ------------------------------------------------------------------------------------------------
// Reads
// ------------------------------------------------------------------------------------------------

fn list(
    shared: &Shared,
    request: &ApiRequest,
    resource: usize,
    namespace: Option<&str>,
) -> ApiResult {
    let labels = LabelSelector::parse(request.query.get("labelSelector").unwrap_or(""))?;
    let fields = FieldSelector::parse(request.query.get("fieldSelector").unwrap_or(""))?;
    let store = shared.lock();
    let items: Vec<Value> = store.objects[resource]
        .iter()
        .filter(|((ns, _), object)| {
            namespace.is_none_or(|want| want == ns.as_str())
                && labels.matches(object)
                && fields.matches(object)
        })
        .map(|(_, object)| object.clone())
        .collect();
    let r = &RESOURCES[resource];
    ok(&json!({
        "apiVersion": r.api_version(),
        "kind": format!("{}List", r.kind),
        "metadata": {"resourceVersion": store.resource_version.to_string()},
        "items": items,
    }))
}

/// A parsed label selector: `a=b`, `a==b`, `a!=b`, `a`, `!a`, `a in (x,y)`, `a notin (x,y)`.
#[derive(Debug, Default)]
struct LabelSelector(Vec<LabelRequirement>);

#[derive(Debug)]
enum LabelRequirement {
    Exists(String),
    NotExists(String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
}

impl LabelSelector {
    fn parse(selector: &str) -> Result<LabelSelector, ApiError> {
        let mut requirements = Vec::new();
        for term in split_top_level(selector) {
            let term = term.trim();
            if term.is_empty() {
                continue;
            }
            let bad = || {
                ApiError::bad_request(format!(
                    "unable to parse requirement: invalid label selector {selector:?}"
                ))
            };
            let set = |values: &str| -> Result<Vec<String>, ApiError> {
                let inner = values
                    .trim()
                    .strip_prefix('(')
                    .and_then(|v| v.strip_suffix(')'))
                    .ok_or_else(bad)?;
                Ok(inner.split(',').map(|v| v.trim().to_owned()).collect())
            };
            let requirement = if let Some(key) = term.strip_prefix('!') {
                LabelRequirement::NotExists(key.trim().to_owned())
            } else if let Some((key, values)) = term.split_once(" notin ") {
                LabelRequirement::NotIn(key.trim().to_owned(), set(values)?)
            } else if let Some((key, values)) = term.split_once(" in ") {
                LabelRequirement::In(key.trim().to_owned(), set(values)?)
            } else if let Some((key, value)) = term.split_once("!=") {
                LabelRequirement::NotIn(key.trim().to_owned(), vec![value.trim().to_owned()])
            } else if let Some((key, value)) =
                term.split_once("==").or_else(|| term.split_once('='))
            {
                LabelRequirement::In(key.trim().to_owned(), vec![value.trim().to_owned()])
            } else if term.contains(['<', '>', '(', ')', ' ']) {
                return Err(bad());
            } else {
                LabelRequirement::Exists(term.to_owned())
            };
            requirements.push(requirement);
        }
        Ok(LabelSelector(requirements))
    }

    fn matches(&self, object: &Value) -> bool {
        let labels = &object["metadata"]["labels"];
        self.0.iter().all(|requirement| match requirement {
            LabelRequirement::Exists(key) => labels.get(key).is_some(),
            LabelRequirement::NotExists(key) => labels.get(key).is_none(),
            LabelRequirement::In(key, values) => labels
                .get(key)
                .and_then(Value::as_str)
                .is_some_and(|v| values.iter().any(|w| w == v)),
            LabelRequirement::NotIn(key, values) => labels
                .get(key)
                .and_then(Value::as_str)
                .is_none_or(|v| values.iter().all(|w| w != v)),
        })
    }
}

/// Splits on commas outside parentheses.
fn split_top_level(s: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
}

/// A parsed field selector: `path=value`, `path==value`, `path!=value` over any dotted field path
/// (`metadata.name`, `involvedObject.kind`, `status.phase`, `spec.nodeName`, ...).
#[derive(Debug, Default)]
struct FieldSelector(Vec<(String, bool, String)>);

impl FieldSelector {
    fn parse(selector: &str) -> Result<FieldSelector, ApiError> {
        let mut terms = Vec::new();
        for term in selector.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            let (path, equal, value) = if let Some((p, v)) = term.split_once("!=") {
                (p, false, v)
            } else if let Some((p, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
                (p, true, v)
            } else {
                return Err(ApiError::bad_request(format!(
                    "invalid field selector: {selector:?}"
                )));
            };
            terms.push((path.trim().to_owned(), equal, value.trim().to_owned()));
        }
        Ok(FieldSelector(terms))
    }

    fn matches(&self, object: &Value) -> bool {
        self.0.iter().all(|(path, equal, value)| {
            let mut field = object;
            for part in path.split('.') {
                field = &field[part];
            }
            let actual = match field {
                Value::Null => String::new(),
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (actual == *value) == *equal
        })
    }
}

// ------------------------------------------------------------------------------------------------
// Writes
// ------------------------------------------------------------------------------------------------

fn now_seconds() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn without_meta_and_status(object: &Value) -> Value {
    let mut object = object.clone();
    if let Some(map) = object.as_object_mut() {
        map.remove("metadata");
        map.remove("status");
    }
    object
}

/// Server-side defaults and conversions applied to every stored object.
fn defaults(resource: &ResourceType, object: &mut Value) {
    match (resource.group, resource.kind) {
        ("", "Namespace") => {
            let name = object["metadata"]["name"].clone();
            object["metadata"]["labels"]["kubernetes.io/metadata.name"] = name;
            if object["status"]["phase"].is_null() {
                object["status"]["phase"] = json!("Active");
            }
        }
        ("", "Secret") => {
            if let Some(Value::Object(string_data)) =
                object.as_object_mut().and_then(|o| o.remove("stringData"))
            {
                for (key, value) in string_data {
                    let text = value.as_str().unwrap_or_default();
                    object["data"][key] = json!(base64_encode(text.as_bytes()));
                }
            }
            if object["type"].is_null() {
                object["type"] = json!("Opaque");
            }
        }
        _ => {}
    }
}

/// Deployments and StatefulSets report every wanted replica ready and the spec observed.
fn mirror_status(resource: &ResourceType, object: &mut Value) {
    if resource.group != "apps" || !matches!(resource.kind, "Deployment" | "StatefulSet") {
        return;
    }
    let replicas = object["spec"]["replicas"].as_i64().unwrap_or(1);
    let generation = object["metadata"]["generation"].as_i64().unwrap_or(1);
    let mut status = Map::new();
    status.insert("observedGeneration".into(), json!(generation));
    let counts: &[&str] = if resource.kind == "Deployment" {
        &[
            "replicas",
            "readyReplicas",
            "availableReplicas",
            "updatedReplicas",
        ]
    } else {
        &[
            "replicas",
            "readyReplicas",
            "availableReplicas",
            "currentReplicas",
            "updatedReplicas",
        ]
    };
    if replicas > 0 {
        for field in counts {
            status.insert((*field).into(), json!(replicas));
        }
    }
    if resource.kind == "Deployment" {
        let now = now_seconds();
        let rs = format!(
            "{}-{}",
            object["metadata"]["name"].as_str().unwrap_or(""),
            TEMPLATE_HASH
        );
        status.insert(
            "conditions".into(),
            json!([
                {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable",
                 "message": "Deployment has minimum availability.", "lastUpdateTime": now, "lastTransitionTime": now},
                {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable",
                 "message": format!("ReplicaSet \"{rs}\" has successfully progressed."),
                 "lastUpdateTime": now, "lastTransitionTime": now},
            ]),
        );
    } else {
        let revision = format!(
            "{}-{}",
            object["metadata"]["name"].as_str().unwrap_or(""),
            TEMPLATE_HASH
        );
        status.insert("currentRevision".into(), json!(revision));
        status.insert("updateRevision".into(), json!(revision));
    }
    object["status"] = Value::Object(status);
}

/// Checks the body's kind and names against the addressed resource and fills them in.
fn normalize_body(
    resource: &ResourceType,
    namespace: &str,
    object: &mut Value,
) -> Result<(), ApiError> {
    let api_version = resource.api_version();
    match object["apiVersion"].as_str() {
        None => object["apiVersion"] = json!(api_version),
        Some(v) if v == api_version => {}
        Some(v) => {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({v}) does not match the expected API version ({api_version})"
            )));
        }
    }
    match object["kind"].as_str() {
        None => object["kind"] = json!(resource.kind),
        Some(k) if k == resource.kind => {}
        Some(k) => {
            return Err(ApiError::bad_request(format!(
                "the kind in the data ({k}) does not match the expected kind ({})",
                resource.kind
            )));
        }
    }
    if !object["metadata"].is_object() {
        object["metadata"] = json!({});
    }
    if resource.namespaced {
        match object["metadata"]["namespace"].as_str() {
            None | Some("") => object["metadata"]["namespace"] = json!(namespace),
            Some(ns) if ns == namespace => {}
            Some(_) => {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
        }
    } else if let Some(meta) = object["metadata"].as_object_mut() {
        meta.remove("namespace");
    }
    Ok(())
}

/// Carries the server-owned fields of `old` into `new`, bumps the generation on a spec change and
/// keeps the stored status when the type writes status through its subresource.
fn carry_over(resource: &ResourceType, old: &Value, new: &mut Value) {
    for field in [
        "uid",
        "creationTimestamp",
        "name",
        "namespace",
        "deletionTimestamp",
    ] {
        match old["metadata"].get(field) {
            Some(value) => new["metadata"][field] = value.clone(),
            None => {
                if let Some(meta) = new["metadata"].as_object_mut() {
                    meta.remove(field);
                }
            }
        }
    }
    new["apiVersion"] = old["apiVersion"].clone();
    new["kind"] = old["kind"].clone();
    if resource.status_subresource {
        match old.get("status") {
            Some(status) => new["status"] = status.clone(),
            None => {
                if let Some(map) = new.as_object_mut() {
                    map.remove("status");
                }
            }
        }
    }
    if new.get("spec").is_some() || old["metadata"].get("generation").is_some() {
        let generation = old["metadata"]["generation"].as_i64().unwrap_or(1);
        let generation = if without_meta_and_status(old) == without_meta_and_status(new) {
            generation
        } else {
            generation + 1
        };
        new["metadata"]["generation"] = json!(generation);
    }
}

fn check_resource_version(item: &Item<'_>, old: &Value, new: &Value) -> Result<(), ApiError> {
    match new["metadata"]["resourceVersion"].as_str() {
        Some(rv) if !rv.is_empty() && Some(rv) != old["metadata"]["resourceVersion"].as_str() => {
            Err(ApiError::conflict(item.r, item.name))
        }
        _ => Ok(()),
    }
}

fn write_response(code: StatusCode, object: &Value) -> ApiResult {
    Ok(json_response(code, object))
}

fn create(shared: &Shared, request: &ApiRequest, resource: usize, namespace: &str) -> ApiResult {
    let r = &RESOURCES[resource];
    let mut object = request.json_body()?;
    normalize_body(r, namespace, &mut object)?;
    let mut store = shared.lock();
    let name = match object["metadata"]["name"].as_str() {
        Some(name) if !name.is_empty() => name.to_owned(),
        _ => match object["metadata"]["generateName"].as_str() {
            Some(prefix) if !prefix.is_empty() => {
                const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
                let mut n = store.uids + store.resource_version * 7919;
                let suffix: String = (0..5)
                    .map(|_| {
                        let c = ALPHABET[(n % ALPHABET.len() as u64) as usize] as char;
                        n /= ALPHABET.len() as u64;
                        n += 13;
                        c
                    })
                    .collect();
                format!("{prefix}{suffix}")
            }
            _ => {
                return Err(ApiError::invalid(format!(
                    "{} \"\" is invalid: metadata.name: Required value: name or generateName is required",
                    r.kind
                )));
            }
        },
    };
    object["metadata"]["name"] = json!(name);
    if store.objects[resource].contains_key(&(namespace.to_owned(), name.clone())) {
        return Err(ApiError::new(
            409,
            "AlreadyExists",
            format!("{} \"{name}\" already exists", r.qualified()),
        )
        .with_details(r, &name));
    }
    if let Some(meta) = object["metadata"].as_object_mut() {
        meta.remove("resourceVersion");
        meta.remove("deletionTimestamp");
    }
    object["metadata"]["uid"] = json!(store.next_uid());
    object["metadata"]["creationTimestamp"] = json!(now_seconds());
    if object.get("spec").is_some() {
        object["metadata"]["generation"] = json!(1);
    }
    if r.status_subresource
        && r.kind != "Namespace"
        && let Some(map) = object.as_object_mut()
    {
        map.remove("status");
    }
    defaults(r, &mut object);
    mirror_status(r, &mut object);
    if request.query.dry_run() {
        return write_response(StatusCode::CREATED, &object);
    }
    let stored = store.commit(resource, namespace, &name, object, "ADDED");
    drop(store);
    shared.notify();
    write_response(StatusCode::CREATED, &stored)
}

fn replace(shared: &Shared, request: &ApiRequest, item: &Item<'_>) -> ApiResult {
    let mut object = request.json_body()?;
    normalize_body(item.r, item.namespace, &mut object)?;
    match object["metadata"]["name"].as_str() {
        None | Some("") => object["metadata"]["name"] = json!(item.name),
        Some(name) if name == item.name => {}
        Some(name) => {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({name}) does not match the name on the URL ({})",
                item.name
            )));
        }
    }
    let mut store = shared.lock();
    let old = item
        .find(&store)
        .ok_or_else(|| ApiError::not_found(item.r, item.name))?;
    check_resource_version(item, &old, &object)?;
    carry_over(item.r, &old, &mut object);
    defaults(item.r, &mut object);
    mirror_status(item.r, &mut object);
    if request.query.dry_run() {
        return ok(&object);
    }
    let stored = store.commit(item.resource, item.namespace, item.name, object, "MODIFIED");
    drop(store);
    shared.notify();
    ok(&stored)
}

/// Applies a PATCH body of the request's content type to `object`.
fn apply_patch(request: &ApiRequest, object: &mut Value) -> Result<(), ApiError> {
    let body: Value = serde_json::from_slice(&request.body).map_err(|e| {
        ApiError::bad_request(format!(
            "the patch body is not valid JSON ({e}); only JSON bodies are supported"
        ))
    })?;
    match request.media_type() {
        "application/merge-patch+json" => {
            merge_patch(object, &body);
            Ok(())
        }
        "application/strategic-merge-patch+json"
        | "application/apply-patch+yaml"
        | "application/apply-patch+json" => {
            strategic_merge(object, &body);
            Ok(())
        }
        "application/json-patch+json" => json_patch(object, &body).map_err(ApiError::invalid),
        other => Err(ApiError::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml (got {other:?})"
            ),
        )),
    }
}

fn is_apply(request: &ApiRequest) -> bool {
    matches!(
        request.media_type(),
        "application/apply-patch+yaml" | "application/apply-patch+json"
    )
}

fn patch(shared: &Shared, request: &ApiRequest, item: &Item<'_>) -> ApiResult {
    if is_apply(request) && request.query.get("fieldManager").is_none_or(str::is_empty) {
        return Err(ApiError::invalid(
            "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch",
        ));
    }
    let mut store = shared.lock();
    let Some(old) = item.find(&store) else {
        drop(store);
        if !is_apply(request) {
            return Err(ApiError::not_found(item.r, item.name));
        }
        let mut object = json!({});
        apply_patch(request, &mut object)?;
        let mut object = strip_directives(&object);
        if !object["metadata"].is_object() {
            object["metadata"] = json!({});
        }
        if object["metadata"]["name"]
            .as_str()
            .is_some_and(|n| n != item.name)
        {
            return Err(ApiError::bad_request(format!(
                "the name of the object does not match the name on the URL ({})",
                item.name
            )));
        }
        object["metadata"]["name"] = json!(item.name);
        let create_request = ApiRequest {
            method: Method::POST,
            path: request.path.clone(),
            query: Query(request.query.0.clone()),
            content_type: "application/json".into(),
            body: Bytes::from(object.to_string()),
        };
        return create(shared, &create_request, item.resource, item.namespace);
    };
    let mut object = old.clone();
    apply_patch(request, &mut object)?;
    if !object.is_object() {
        return Err(ApiError::invalid("the patched object is not a JSON object"));
    }
    check_resource_version(item, &old, &object)?;
    carry_over(item.r, &old, &mut object);
    defaults(item.r, &mut object);
    mirror_status(item.r, &mut object);
    if request.query.dry_run() {
        return ok(&object);
    }
    let stored = store.commit(item.resource, item.namespace, item.name, object, "MODIFIED");
    drop(store);
    shared.notify();
    ok(&stored)
}

fn write_status(shared: &Shared, request: &ApiRequest, item: &Item<'_>) -> ApiResult {
    let mut store = shared.lock();
    let old = item
        .find(&store)
        .ok_or_else(|| ApiError::not_found(item.r, item.name))?;
    let written = if request.method == Method::PUT {
        request.json_body()?
    } else {
        let mut patched = old.clone();
        apply_patch(request, &mut patched)?;
        patched
    };
    check_resource_version(item, &old, &written)?;
    let mut object = old.clone();
    match written.get("status") {
        Some(status) => object["status"] = status.clone(),
        None => {
            if let Some(map) = object.as_object_mut() {
                map.remove("status");
            }
        }
    }
    if request.query.dry_run() {
        return ok(&object);
    }
    let stored = store.commit(item.resource, item.namespace, item.name, object, "MODIFIED");
    drop(store);
    shared.notify();
    ok(&stored)
}

/// The autoscaling/v1 Scale of a workload.
fn scale_of(object: &Value) -> Value {
    let replicas = object["spec"]["replicas"].as_i64().unwrap_or(1);
    let selector = object["spec"]["selector"]["matchLabels"]
        .as_object()
        .map(|labels| {
            labels
                .iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    let meta = &object["metadata"];
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": meta["name"],
            "namespace": meta["namespace"],
            "uid": meta["uid"],
            "resourceVersion": meta["resourceVersion"],
            "creationTimestamp": meta["creationTimestamp"],
        },
        "spec": {"replicas": replicas},
        "status": {"replicas": object["status"]["replicas"].as_i64().unwrap_or(0), "selector": selector},
    })
}

fn write_scale(shared: &Shared, request: &ApiRequest, item: &Item<'_>) -> ApiResult {
    let mut store = shared.lock();
    let old = item
        .find(&store)
        .ok_or_else(|| ApiError::not_found(item.r, item.name))?;
    let current = scale_of(&old);
    let written = if request.method == Method::PUT {
        request.json_body()?
    } else {
        let mut patched = current.clone();
        apply_patch(request, &mut patched)?;
        patched
    };
    check_resource_version(item, &old, &written)?;
    let Some(replicas) = written["spec"]["replicas"].as_i64() else {
        return Err(ApiError::invalid(
            "Scale.autoscaling \"\" is invalid: spec.replicas: Required value",
        ));
    };
    if replicas < 0 {
        return Err(ApiError::invalid(format!(
            "Scale.autoscaling \"{}\" is invalid: spec.replicas: Invalid value: {replicas}: must be greater than or equal to 0",
            item.name
        )));
    }
    let mut object = old.clone();
    object["spec"]["replicas"] = json!(replicas);
    carry_over(item.r, &old, &mut object);
    mirror_status(item.r, &mut object);
    if request.query.dry_run() {
        return ok(&scale_of(&object));
    }
    let stored = store.commit(item.resource, item.namespace, item.name, object, "MODIFIED");
    drop(store);
    shared.notify();
    ok(&scale_of(&stored))
}

fn success_status(item_resource: &ResourceType, name: &str, uid: &Value) -> Value {
    json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": {"name": name, "group": item_resource.group, "kind": item_resource.plural, "uid": uid},
    })
}

fn delete(shared: &Shared, request: &ApiRequest, item: &Item<'_>) -> ApiResult {
    let options: Value = if request.body.is_empty() {
        json!({})
    } else {
        serde_json::from_slice(&request.body).unwrap_or(json!({}))
    };
    let mut store = shared.lock();
    let old = item
        .find(&store)
        .ok_or_else(|| ApiError::not_found(item.r, item.name))?;
    let preconditions = &options["preconditions"];
    let rv_mismatch = preconditions["resourceVersion"]
        .as_str()
        .is_some_and(|rv| Some(rv) != old["metadata"]["resourceVersion"].as_str());
    let uid_mismatch = preconditions["uid"]
        .as_str()
        .is_some_and(|uid| Some(uid) != old["metadata"]["uid"].as_str());
    if rv_mismatch || uid_mismatch {
        return Err(ApiError::conflict(item.r, item.name));
    }
    if !request.query.dry_run() && options["dryRun"].as_array().is_none_or(Vec::is_empty) {
        store.remove(item.resource, item.namespace, item.name);
        drop(store);
        shared.notify();
    }
    ok(&success_status(item.r, item.name, &old["metadata"]["uid"]))
}

fn delete_collection(
    shared: &Shared,
    request: &ApiRequest,
    resource: usize,
    namespace: Option<&str>,
) -> ApiResult {
    let r = &RESOURCES[resource];
    if r.namespaced && namespace.is_none() {
        return Err(ApiError::method_not_allowed(&request.method));
    }
    let labels = LabelSelector::parse(request.query.get("labelSelector").unwrap_or(""))?;
    let fields = FieldSelector::parse(request.query.get("fieldSelector").unwrap_or(""))?;
    let mut store = shared.lock();
    let doomed: Vec<((String, String), Value)> = store.objects[resource]
        .iter()
        .filter(|((ns, _), object)| {
            namespace.is_none_or(|want| want == ns.as_str())
                && labels.matches(object)
                && fields.matches(object)
        })
        .map(|(key, object)| (key.clone(), object.clone()))
        .collect();
    if !request.query.dry_run() {
        for ((ns, name), _) in &doomed {
            store.remove(resource, ns, name);
        }
    }
    let rv = store.resource_version;
    drop(store);
    shared.notify();
    ok(&json!({
        "apiVersion": r.api_version(),
        "kind": format!("{}List", r.kind),
        "metadata": {"resourceVersion": rv.to_string()},
        "items": doomed.into_iter().map(|(_, object)| object).collect::<Vec<_>>(),
    }))
}

// ------------------------------------------------------------------------------------------------
// Patches
// ------------------------------------------------------------------------------------------------

/// RFC 7386 JSON merge patch.
fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = json!({});
    }
    let map = target.as_object_mut().expect("an object");
    for (key, value) in patch {
        if value.is_null() {
            map.remove(key);
        } else {
            merge_patch(map.entry(key.clone()).or_insert(Value::Null), value);
        }
    }
}

/// The merge key of a list field under a strategic merge patch, for the lists the agent touches.
fn merge_key(field: &str, item: &Value) -> Option<&'static str> {
    match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "env"
        | "volumes"
        | "imagePullSecrets" => Some("name"),
        "volumeMounts" => Some("mountPath"),
        "volumeDevices" => Some("devicePath"),
        "conditions" => Some("type"),
        "ownerReferences" => Some("uid"),
        "ports" => ["containerPort", "port", "name"]
            .into_iter()
            .find(|k| item.get(*k).is_some()),
        _ => None,
    }
}

/// Removes `$patch`-style directives from a value about to be stored.
fn strip_directives(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| !k.starts_with('$'))
                .map(|(k, v)| (k.clone(), strip_directives(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(strip_directives).collect()),
        other => other.clone(),
    }
}

/// A strategic merge patch: a merge patch whose lists of objects with a known merge key are
/// merged item by item; honours `$patch: replace|delete` and `$deleteFromPrimitiveList/`, and
/// ignores `$setElementOrder/` and `$retainKeys`.
fn strategic_merge(target: &mut Value, patch: &Value) {
    let Value::Object(patch_map) = patch else {
        *target = strip_directives(patch);
        return;
    };
    if patch_map.get("$patch").and_then(Value::as_str) == Some("replace") {
        *target = strip_directives(patch);
        return;
    }
    if !target.is_object() {
        *target = json!({});
    }
    let map = target.as_object_mut().expect("an object");
    for (key, value) in patch_map {
        if let Some(field) = key.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(Value::Array(items)), Value::Array(doomed)) = (map.get_mut(field), value) {
                items.retain(|item| !doomed.contains(item));
            }
            continue;
        }
        if key.starts_with('$') {
            continue;
        }
        if value.is_null() || value.get("$patch").and_then(Value::as_str) == Some("delete") {
            map.remove(key);
            continue;
        }
        match value {
            Value::Array(items) if items.iter().any(Value::is_object) => {
                let key_field = items.iter().find_map(|item| merge_key(key, item));
                let existing = map.entry(key.clone()).or_insert_with(|| json!([]));
                match (key_field, existing.is_array()) {
                    (Some(key_field), true) => merge_list(existing, items, key_field),
                    _ => *existing = strip_directives(value),
                }
            }
            Value::Object(_) => {
                strategic_merge(map.entry(key.clone()).or_insert(Value::Null), value)
            }
            other => {
                map.insert(key.clone(), strip_directives(other));
            }
        }
    }
}

fn merge_list(target: &mut Value, patch: &[Value], key_field: &str) {
    if patch
        .iter()
        .any(|item| item.get("$patch").and_then(Value::as_str) == Some("replace"))
    {
        *target = Value::Array(
            patch
                .iter()
                .filter(|item| item.get("$patch").is_none())
                .map(strip_directives)
                .collect(),
        );
        return;
    }
    let Value::Array(existing) = target else {
        return;
    };
    for item in patch {
        let key = item.get(key_field);
        let position =
            key.and_then(|key| existing.iter().position(|e| e.get(key_field) == Some(key)));
        let delete = item.get("$patch").and_then(Value::as_str) == Some("delete");
        match (position, delete) {
            (Some(i), true) => {
                existing.remove(i);
            }
            (None, true) => {}
            (Some(i), false) => strategic_merge(&mut existing[i], item),
            (None, false) => existing.push(strip_directives(item)),
        }
    }
}

/// RFC 6902 JSON patch: add, remove, replace, move, copy, test.
fn json_patch(doc: &mut Value, ops: &Value) -> Result<(), String> {
    let ops = ops
        .as_array()
        .ok_or("a JSON patch must be an array of operations")?;
    for op in ops {
        let name = op["op"].as_str().ok_or("an operation without \"op\"")?;
        let path = op["path"].as_str().ok_or("an operation without \"path\"")?;
        match name {
            "add" => pointer_add(
                doc,
                path,
                op.get("value").ok_or("add without value")?.clone(),
            )?,
            "remove" => {
                pointer_remove(doc, path)?;
            }
            "replace" => {
                let value = op.get("value").ok_or("replace without value")?.clone();
                *doc.pointer_mut(path).ok_or_else(|| {
                    format!("replace operation does not apply: doc is missing path: {path}")
                })? = value;
            }
            "move" => {
                let from = op["from"].as_str().ok_or("move without from")?;
                let value = pointer_remove(doc, from)?;
                pointer_add(doc, path, value)?;
            }
            "copy" => {
                let from = op["from"].as_str().ok_or("copy without from")?;
                let value = doc
                    .pointer(from)
                    .ok_or_else(|| format!("copy from a missing path: {from}"))?
                    .clone();
                pointer_add(doc, path, value)?;
            }
            "test" => {
                let expected = op.get("value").ok_or("test without value")?;
                if doc.pointer(path) != Some(expected) {
                    return Err(format!("testing value {path} failed"));
                }
            }
            other => return Err(format!("unexpected operation {other:?}")),
        }
    }
    Ok(())
}

fn split_pointer(path: &str) -> Result<(String, String), String> {
    if path.is_empty() {
        return Ok((String::new(), String::new()));
    }
    let (parent, last) = path
        .rsplit_once('/')
        .ok_or_else(|| format!("invalid JSON pointer {path:?}"))?;
    Ok((
        parent.to_owned(),
        last.replace("~1", "/").replace("~0", "~"),
    ))
}

fn pointer_add(doc: &mut Value, path: &str, value: Value) -> Result<(), String> {
    if path.is_empty() {
        *doc = value;
        return Ok(());
    }
    let (parent, last) = split_pointer(path)?;
    match doc.pointer_mut(&parent) {
        Some(Value::Object(map)) => {
            map.insert(last, value);
            Ok(())
        }
        Some(Value::Array(items)) if last == "-" => {
            items.push(value);
            Ok(())
        }
        Some(Value::Array(items)) => match last.parse::<usize>() {
            Ok(i) if i <= items.len() => {
                items.insert(i, value);
                Ok(())
            }
            _ => Err(format!(
                "add operation does not apply: index out of range: {path}"
            )),
        },
        _ => Err(format!(
            "add operation does not apply: doc is missing path: {path}"
        )),
    }
}

fn pointer_remove(doc: &mut Value, path: &str) -> Result<Value, String> {
    let (parent, last) = split_pointer(path)?;
    let missing = || format!("remove operation does not apply: doc is missing path: {path}");
    match doc.pointer_mut(&parent) {
        Some(Value::Object(map)) => map.remove(&last).ok_or_else(missing),
        Some(Value::Array(items)) => match last.parse::<usize>() {
            Ok(i) if i < items.len() => Ok(items.remove(i)),
            _ => Err(missing()),
        },
        _ => Err(missing()),
    }
}

// ------------------------------------------------------------------------------------------------
// Streams: logs and watches
// ------------------------------------------------------------------------------------------------

fn container_names(pod: &Value) -> Vec<String> {
    pod["spec"]["containers"]
        .as_array()
        .map(|cs| {
            cs.iter()
                .filter_map(|c| c["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn all_container_names(pod: &Value) -> Vec<String> {
    ["containers", "initContainers", "ephemeralContainers"]
        .iter()
        .flat_map(|field| pod["spec"][*field].as_array().cloned().unwrap_or_default())
        .filter_map(|c| c["name"].as_str().map(str::to_owned))
        .collect()
}

/// Which stored lines belong to the container being read.
#[derive(Debug, Clone)]
struct LogFilter {
    container: String,
    first: bool,
    since: Option<DateTime<Utc>>,
    timestamps: bool,
}

impl LogFilter {
    fn wants(&self, line: &LogLine) -> bool {
        (line.container == self.container || line.container.is_empty() && self.first)
            && self.since.is_none_or(|since| line.time >= since)
    }

    fn format(&self, line: &LogLine) -> String {
        if self.timestamps {
            format!(
                "{} {}\n",
                line.time.to_rfc3339_opts(SecondsFormat::Nanos, true),
                line.text
            )
        } else {
            format!("{}\n", line.text)
        }
    }
}

fn logs(shared: &Arc<Shared>, request: &ApiRequest, namespace: &str, name: &str) -> ApiResult {
    let query = &request.query;
    let tail = query.int("tailLines")?;
    let since_seconds = query.int("sinceSeconds")?;
    let limit_bytes = query.int("limitBytes")?;
    let since = match (since_seconds, query.get("sinceTime")) {
        (Some(seconds), _) => Some(Utc::now() - chrono::Duration::seconds(seconds)),
        (None, Some(time)) if !time.is_empty() => Some(
            DateTime::parse_from_rfc3339(time)
                .map_err(|_| ApiError::bad_request(format!("invalid sinceTime {time:?}")))?
                .with_timezone(&Utc),
        ),
        _ => None,
    };
    let mut changes = shared.changed.subscribe();
    changes.borrow_and_update();
    let store = shared.lock();
    let pods = &RESOURCES[resource_index("", "v1", "pods").expect("pods are served")];
    let pod = store
        .pod(namespace, name)
        .ok_or_else(|| ApiError::not_found(pods, name))?;
    let containers = container_names(pod);
    let container = match query.get("container").filter(|c| !c.is_empty()) {
        Some(c) if all_container_names(pod).iter().any(|n| n == c) => c.to_owned(),
        Some(c) => {
            return Err(ApiError::bad_request(format!(
                "container {c} is not valid for pod {name}"
            )));
        }
        None if containers.len() <= 1 => containers.first().cloned().unwrap_or_default(),
        None => {
            return Err(ApiError::bad_request(format!(
                "a container name must be specified for pod {name}, choose one of: [{}]",
                containers.join(" ")
            )));
        }
    };
    if query.flag("previous") {
        return Err(ApiError::bad_request(format!(
            "previous terminated container \"{container}\" in pod \"{name}\" not found"
        )));
    }
    let filter = LogFilter {
        first: containers.first() == Some(&container),
        container,
        since,
        timestamps: query.flag("timestamps"),
    };
    let key = (namespace.to_owned(), name.to_owned());
    let stored: &[LogLine] = store.logs.get(&key).map(Vec::as_slice).unwrap_or_default();
    let wanted: Vec<&LogLine> = stored.iter().filter(|line| filter.wants(line)).collect();
    let skip = match tail {
        Some(n) if n >= 0 => wanted
            .len()
            .saturating_sub(usize::try_from(n).unwrap_or(usize::MAX)),
        _ => 0,
    };
    let mut text: String = wanted[skip..]
        .iter()
        .map(|line| filter.format(line))
        .collect();
    let seen = stored.len();
    let uid = pod["metadata"]["uid"].clone();
    drop(store);
    let mut budget = limit_bytes
        .and_then(|n| usize::try_from(n).ok())
        .unwrap_or(usize::MAX);
    truncate_to(&mut text, &mut budget);
    if !query.flag("follow") || budget == 0 {
        return Ok(Response::builder()
            .status(StatusCode::OK)
            .header(header::CONTENT_TYPE, "text/plain")
            .body(Body::from(text))
            .expect("a valid response"));
    }
    let (tx, rx) = mpsc::channel::<Result<Bytes, Infallible>>(64);
    let shared = shared.clone();
    tokio::spawn(async move {
        let deadline = Instant::now() + STREAM_LIMIT;
        let mut seen = seen;
        if !text.is_empty() && tx.send(Ok(Bytes::from(text))).await.is_err() {
            return;
        }
        loop {
            tokio::select! {
                changed = changes.changed() => if changed.is_err() { return },
                () = tokio::time::sleep_until(deadline) => return,
                () = tx.closed() => return,
            }
            changes.borrow_and_update();
            let (mut chunk, done) = {
                let store = shared.lock();
                let lines = store.logs.get(&key).map(Vec::as_slice).unwrap_or_default();
                let chunk: String = lines
                    .iter()
                    .skip(seen)
                    .filter(|l| filter.wants(l))
                    .map(|l| filter.format(l))
                    .collect();
                seen = seen.max(lines.len());
                let alive = store
                    .pod(&key.0, &key.1)
                    .is_some_and(|p| p["metadata"]["uid"] == uid);
                (chunk, store.closed || !alive)
            };
            truncate_to(&mut chunk, &mut budget);
            if !chunk.is_empty() && tx.send(Ok(Bytes::from(chunk))).await.is_err() {
                return;
            }
            if done || budget == 0 {
                return;
            }
        }
    });
    Ok(Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "text/plain")
        .body(Body::from_stream(ReceiverStream::new(rx)))
        .expect("a valid response"))
}

/// Cuts `text` to at most `budget` bytes (on a character boundary) and charges the budget.
fn truncate_to(text: &mut String, budget: &mut usize) {
    if text.len() > *budget {
        let mut end = *budget;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    *budget -= text.len();
}

fn watch_event(kind: &str, object: &Value) -> Bytes {
    let mut line = json!({"type": kind, "object": object}).to_string();
    line.push('\n');
    Bytes::from(line)
}

fn watch_collection(
    shared: &Arc<Shared>,
    request: &ApiRequest,
    resource: usize,
    namespace: Option<String>,
) -> ApiResult {
    let query = &request.query;
    let labels = LabelSelector::parse(query.get("labelSelector").unwrap_or(""))?;
    let fields = FieldSelector::parse(query.get("fieldSelector").unwrap_or(""))?;
    let timeout = query
        .int("timeoutSeconds")?
        .and_then(|s| u64::try_from(s).ok())
        .map_or(STREAM_LIMIT, |s| Duration::from_secs(s).min(STREAM_LIMIT));
    let since: Option<u64> = match query.get("resourceVersion") {
        None | Some("" | "0") => None,
        Some(rv) => Some(
            rv.parse()
                .map_err(|_| ApiError::bad_request(format!("invalid resourceVersion {rv:?}")))?,
        ),
    };
    let initial_events = query.flag("sendInitialEvents");
    let matches = move |object: &Value| {
        namespace
            .as_deref()
            .is_none_or(|ns| object["metadata"]["namespace"].as_str().unwrap_or("") == ns)
            && labels.matches(object)
            && fields.matches(object)
    };
    let mut changes = shared.changed.subscribe();
    changes.borrow_and_update();
    let store = shared.lock();
    let mut initial: Vec<Bytes> = Vec::new();
    let mut seen = store.resource_version;
    match since {
        Some(rv) if rv < store.history_floor => {
            return Err(ApiError::new(
                410,
                "Expired",
                format!("too old resource version: {rv} ({})", store.history_floor),
            ));
        }
        Some(rv) if !initial_events => {
            for change in store
                .changes
                .iter()
                .filter(|c| c.resource_version > rv && c.resource == resource)
            {
                if matches(&change.object) {
                    initial.push(watch_event(change.kind, &change.object));
                }
            }
        }
        _ => {
            for object in store.objects[resource].values().filter(|o| matches(o)) {
                initial.push(watch_event("ADDED", object));
            }
            if initial_events {
                let r = &RESOURCES[resource];
                initial.push(watch_event(
                    "BOOKMARK",
                    &json!({
                        "kind": r.kind,
                        "apiVersion": r.api_version(),
                        "metadata": {
                            "resourceVersion": seen.to_string(),
                            "annotations": {"k8s.io/initial-events-end": "true"},
                        },
                    }),
                ));
            }
        }
    }
    drop(store);
    let (tx, rx) = mpsc::channel::<Result<Bytes, Infallible>>(256);
    let shared = shared.clone();
    tokio::spawn(async move {
        let deadline = Instant::now() + timeout;
        for event in initial {
            if tx.send(Ok(event)).await.is_err() {
                return;
            }
        }
        loop {
            tokio::select! {
                changed = changes.changed() => if changed.is_err() { return },
                () = tokio::time::sleep_until(deadline) => return,
                () = tx.closed() => return,
            }
            changes.borrow_and_update();
            let (events, closed) = {
                let store = shared.lock();
                let events: Vec<Bytes> = store
                    .changes
                    .iter()
                    .filter(|c| {
                        c.resource_version > seen && c.resource == resource && matches(&c.object)
                    })
                    .map(|c| watch_event(c.kind, &c.object))
                    .collect();
                seen = store.resource_version;
                (events, store.closed)
            };
            for event in events {
                if tx.send(Ok(event)).await.is_err() {
                    return;
                }
            }
            if closed {
                return;
            }
        }
    });
    Ok(Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from_stream(ReceiverStream::new(rx)))
        .expect("a valid response"))
}

// ------------------------------------------------------------------------------------------------
// Object builders
// ------------------------------------------------------------------------------------------------

/// The pod-template-hash of every ReplicaSet and pod built here.
pub(crate) const TEMPLATE_HASH: &str = "5d8f7c9b6d";

/// A Deployment `name` in `ns` selecting `app=name`, one container `name` running `nginx:1.27`.
pub(crate) fn deployment(ns: &str, name: &str, replicas: i64) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns, "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": name, "image": "nginx:1.27", "ports": [{"containerPort": 80, "protocol": "TCP"}]}]},
            },
        },
    })
}

/// The ReplicaSet `{deployment}-{TEMPLATE_HASH}` a Deployment owns, as the controller would make it.
pub(crate) fn replica_set(ns: &str, deployment_name: &str, replicas: i64) -> Value {
    let name = format!("{deployment_name}-{TEMPLATE_HASH}");
    json!({
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": name,
            "namespace": ns,
            "labels": {"app": deployment_name, "pod-template-hash": TEMPLATE_HASH},
            "annotations": {"deployment.kubernetes.io/revision": "1"},
            "ownerReferences": [{
                "apiVersion": "apps/v1", "kind": "Deployment", "name": deployment_name,
                "uid": format!("owner-{ns}-{deployment_name}"), "controller": true, "blockOwnerDeletion": true,
            }],
        },
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": deployment_name, "pod-template-hash": TEMPLATE_HASH}},
            "template": {
                "metadata": {"labels": {"app": deployment_name, "pod-template-hash": TEMPLATE_HASH}},
                "spec": {"containers": [{"name": deployment_name, "image": "nginx:1.27"}]},
            },
        },
        "status": {"replicas": replicas, "readyReplicas": replicas, "availableReplicas": replicas, "observedGeneration": 1},
    })
}

/// A running, ready pod with one container. With `owner_deployment` it is labelled
/// `app=<deployment>` and `pod-template-hash`, and owned (as in a real cluster) by the
/// ReplicaSet `<deployment>-<TEMPLATE_HASH>` (see [`replica_set`]); without, labelled `app=<name>`.
pub(crate) fn pod(ns: &str, name: &str, owner_deployment: Option<&str>, container: &str) -> Value {
    let started = "2025-01-01T00:00:00Z";
    let mut metadata =
        json!({"name": name, "namespace": ns, "labels": {"app": owner_deployment.unwrap_or(name)}});
    if let Some(deployment) = owner_deployment {
        metadata["labels"]["pod-template-hash"] = json!(TEMPLATE_HASH);
        metadata["ownerReferences"] = json!([{
            "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": format!("{deployment}-{TEMPLATE_HASH}"),
            "uid": format!("owner-{ns}-{deployment}-{TEMPLATE_HASH}"), "controller": true, "blockOwnerDeletion": true,
        }]);
    }
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": metadata,
        "spec": {
            "nodeName": NODE_NAME,
            "restartPolicy": "Always",
            "containers": [{"name": container, "image": "nginx:1.27"}],
        },
        "status": {
            "phase": "Running",
            "hostIP": "10.0.0.1",
            "podIP": "10.244.0.10",
            "startTime": started,
            "conditions": [
                {"type": "Initialized", "status": "True", "lastTransitionTime": started},
                {"type": "Ready", "status": "True", "lastTransitionTime": started},
                {"type": "ContainersReady", "status": "True", "lastTransitionTime": started},
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": started},
            ],
            "containerStatuses": [{
                "name": container,
                "image": "docker.io/library/nginx:1.27",
                "imageID": "docker.io/library/nginx@sha256:0000000000000000000000000000000000000000000000000000000000000000",
                "containerID": format!("containerd://{name}-{container}"),
                "ready": true,
                "started": true,
                "restartCount": 0,
                "state": {"running": {"startedAt": started}},
            }],
        },
    })
}

/// An active Namespace.
pub(crate) fn namespace(name: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name}},
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Active"},
    })
}

/// An Argo CD Application `ns/name` deploying `repo` at `path` (HEAD) into the namespace `name`
/// of the local cluster, with the given sync and health status and one history entry (id 1,
/// revision `abc123`).
pub(crate) fn application(
    ns: &str,
    name: &str,
    repo: &str,
    path: &str,
    sync_status: &str,
    health_status: &str,
) -> Value {
    let finished = "2025-01-01T00:00:00Z";
    let source = json!({"repoURL": repo, "path": path, "targetRevision": "HEAD"});
    let destination = json!({"namespace": name, "server": "https://kubernetes.default.svc"});
    json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"project": "default", "source": source, "destination": destination},
        "status": {
            "sync": {"status": sync_status, "revision": "abc123", "comparedTo": {"source": source, "destination": destination}},
            "health": {"status": health_status},
            "history": [{"id": 1, "revision": "abc123", "deployedAt": finished, "deployStartedAt": finished, "source": source}],
            "operationState": {
                "operation": {"sync": {"revision": "abc123"}},
                "phase": "Succeeded",
                "message": "successfully synced (all tasks run)",
                "startedAt": finished,
                "finishedAt": finished,
                "syncResult": {"revision": "abc123", "source": source},
            },
            "reconciledAt": finished,
            "sourceType": "Directory",
        },
    })
}

/// A core v1 Event about `involved_kind/involved_name` in `ns`; `Warning` when the reason looks
/// like a failure (`Failed*`, `BackOff`, `Unhealthy`, ...), `Normal` otherwise.
pub(crate) fn event(
    ns: &str,
    name: &str,
    involved_kind: &str,
    involved_name: &str,
    reason: &str,
    message: &str,
) -> Value {
    let warning = reason.starts_with("Failed")
        || matches!(
            reason,
            "BackOff"
                | "Unhealthy"
                | "Evicted"
                | "OOMKilling"
                | "ProbeWarning"
                | "FailedScheduling"
        );
    let involved_api_version = match involved_kind {
        "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet" => "apps/v1",
        "Job" | "CronJob" => "batch/v1",
        "Ingress" => "networking.k8s.io/v1",
        "Application" => "argoproj.io/v1alpha1",
        _ => "v1",
    };
    let time = "2025-01-01T00:00:00Z";
    json!({
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": name, "namespace": ns},
        "involvedObject": {"apiVersion": involved_api_version, "kind": involved_kind, "name": involved_name, "namespace": ns},
        "reason": reason,
        "message": message,
        "type": if warning { "Warning" } else { "Normal" },
        "count": 1,
        "firstTimestamp": time,
        "lastTimestamp": time,
        "source": {"component": if involved_kind == "Pod" { "kubelet" } else { "controller-manager" }},
        "reportingComponent": if involved_kind == "Pod" { "kubelet" } else { "controller-manager" },
        "reportingInstance": "",
    })
}

/// An Opaque Secret with `data` base64-encoded.
pub(crate) fn secret(ns: &str, name: &str, data: &[(&str, &str)]) -> Value {
    let data: Map<String, Value> = data
        .iter()
        .map(|(k, v)| ((*k).to_owned(), json!(base64_encode(v.as_bytes()))))
        .collect();
    json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": ns},
        "type": "Opaque",
        "data": data,
    })
}

/// Standard base64 with padding.
pub(crate) fn base64_encode(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
