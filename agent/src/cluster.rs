//! What the agent reads from and does to its cluster, through the Kubernetes API with the
//! `kube` client: the inventory, Argo CD's Applications, object inspection, pod logs, and the
//! four commands (sync, rollback, restart, scale). Secrets are only ever listed by metadata and
//! inspected with their data removed.

use std::collections::{BTreeMap, HashMap};

use anyhow::{Context, Result, anyhow, bail};
use chrono::{SecondsFormat, Utc};
use futures_util::io::AsyncBufReadExt;
use futures_util::stream::{BoxStream, StreamExt};
use gatehouse_agent_proto::v1::{
    Application, ApplicationStatus, DesiredState, DriftReport, InventorySnapshot, NamespaceSummary,
    ResourceSummary,
};
use gatehouse_agent_proto::{CommandKind, CommandSpec};
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{ConfigMap, Event, Namespace, Pod, Secret, Service};
use k8s_openapi::api::networking::v1::Ingress;
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, ListParams, LogParams, Patch, PatchParams,
};
use kube::core::PartialObjectMeta;
use kube::{Client, Resource, ResourceExt};
use serde_json::{Value as Json, json};

/// Most resources listed in one inventory snapshot; beyond it only counts are reported.
pub const INVENTORY_RESOURCE_LIMIT: usize = 5_000;

/// Most drifted objects listed in one report (each lists at most 50 fields), so that a report
/// stays well inside the stream's message limit.
pub const MAX_FINDINGS: usize = 500;

/// The field manager the agent's patches are recorded under.
const FIELD_MANAGER: &str = "gatehouse-agent";

/// The agent's view of its cluster.
#[derive(Clone)]
pub struct Cluster {
    client: Client,
    argocd_namespace: String,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("argocd_namespace", &self.argocd_namespace)
            .finish()
    }
}

fn application_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("argoproj.io", "v1alpha1", "Application"),
        "applications",
    )
}

/// What a command did, for the hub's command history.
pub type Output = String;

impl Cluster {
    /// A view through `client`; Argo CD Applications are looked for in `argocd_namespace`
    /// first (and across namespaces when listing).
    pub fn new(client: Client, argocd_namespace: String) -> Cluster {
        Cluster {
            client,
            argocd_namespace,
        }
    }

    /// The Kubernetes client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Namespaces, counts per type, and a summary line per resource.
    pub async fn inventory(&self) -> Result<InventorySnapshot> {
        let namespaces: Api<Namespace> = Api::all(self.client.clone());
        let lp = ListParams::default();
        let mut counts: BTreeMap<String, HashMap<String, u32>> = namespaces
            .list(&lp)
            .await
            .context("cannot list namespaces")?
            .items
            .into_iter()
            .map(|n| (n.name_any(), HashMap::new()))
            .collect();
        let mut resources = Vec::new();
        let mut add = |kind: &str,
                       ns: String,
                       name: String,
                       status: String,
                       created: String,
                       labels: BTreeMap<String, String>| {
            *counts
                .entry(ns.clone())
                .or_default()
                .entry(kind.to_owned())
                .or_default() += 1;
            if resources.len() < INVENTORY_RESOURCE_LIMIT {
                resources.push(ResourceSummary {
                    r#type: kind.to_owned(),
                    namespace: ns,
                    name,
                    status,
                    created_at: created,
                    labels: labels.into_iter().collect(),
                });
            }
        };

        for p in Api::<Pod>::all(self.client.clone())
            .list(&lp)
            .await
            .context("cannot list pods")?
        {
            let status = p
                .status
                .as_ref()
                .and_then(|s| s.phase.clone())
                .unwrap_or_else(|| "Unknown".into());
            add(
                "pods",
                p.namespace().unwrap_or_default(),
                p.name_any(),
                status,
                created(&p),
                p.labels().clone(),
            );
        }
        for d in Api::<Deployment>::all(self.client.clone())
            .list(&lp)
            .await
            .context("cannot list deployments")?
        {
            let want = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
            let ready = d
                .status
                .as_ref()
                .and_then(|s| s.ready_replicas)
                .unwrap_or(0);
            add(
                "deployments",
                d.namespace().unwrap_or_default(),
                d.name_any(),
                format!("{ready}/{want}"),
                created(&d),
                d.labels().clone(),
            );
        }
        for s in Api::<StatefulSet>::all(self.client.clone())
            .list(&lp)
            .await
            .context("cannot list statefulsets")?
        {
            let want = s.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
            let ready = s
                .status
                .as_ref()
                .and_then(|s| s.ready_replicas)
                .unwrap_or(0);
            add(
                "statefulsets",
                s.namespace().unwrap_or_default(),
                s.name_any(),
                format!("{ready}/{want}"),
                created(&s),
                s.labels().clone(),
            );
        }
        for d in Api::<DaemonSet>::all(self.client.clone())
            .list(&lp)
            .await
            .context("cannot list daemonsets")?
        {
            let st = d.status.as_ref();
            let status = format!(
                "{}/{}",
                st.map(|s| s.number_ready).unwrap_or(0),
                st.map(|s| s.desired_number_scheduled).unwrap_or(0)
            );
            add(
                "daemonsets",
                d.namespace().unwrap_or_default(),
                d.name_any(),
                status,
                created(&d),
                d.labels().clone(),
            );
        }
        for s in Api::<Service>::all(self.client.clone())
            .list(&lp)
            .await
            .context("cannot list services")?
        {
            let t = s
                .spec
                .as_ref()
                .and_then(|s| s.type_.clone())
                .unwrap_or_else(|| "ClusterIP".into());
            add(
                "services",
                s.namespace().unwrap_or_default(),
                s.name_any(),
                t,
                created(&s),
                s.labels().clone(),
            );
        }
        for j in Api::<Job>::all(self.client.clone())
            .list(&lp)
            .await
            .context("cannot list jobs")?
        {
            let st = j.status.as_ref();
            let status = if st.and_then(|s| s.succeeded).unwrap_or(0) > 0 {
                "Complete"
            } else if st.and_then(|s| s.failed).unwrap_or(0) > 0 {
                "Failed"
            } else {
                "Running"
            };
            add(
                "jobs",
                j.namespace().unwrap_or_default(),
                j.name_any(),
                status.into(),
                created(&j),
                j.labels().clone(),
            );
        }
        for c in Api::<CronJob>::all(self.client.clone())
            .list(&lp)
            .await
            .context("cannot list cronjobs")?
        {
            let schedule = c
                .spec
                .as_ref()
                .map(|s| s.schedule.clone())
                .unwrap_or_default();
            add(
                "cronjobs",
                c.namespace().unwrap_or_default(),
                c.name_any(),
                schedule,
                created(&c),
                c.labels().clone(),
            );
        }
        for i in Api::<Ingress>::all(self.client.clone())
            .list(&lp)
            .await
            .context("cannot list ingresses")?
        {
            add(
                "ingresses",
                i.namespace().unwrap_or_default(),
                i.name_any(),
                "Active".into(),
                created(&i),
                i.labels().clone(),
            );
        }
        for c in Api::<ConfigMap>::all(self.client.clone())
            .list_metadata(&lp)
            .await
            .context("cannot list configmaps")?
        {
            add_meta(&mut add, "configmaps", c);
        }
        // Secrets by metadata only: the agent never reads secret values for the inventory.
        for s in Api::<Secret>::all(self.client.clone())
            .list_metadata(&lp)
            .await
            .context("cannot list secrets")?
        {
            add_meta(&mut add, "secrets", s);
        }

        Ok(InventorySnapshot {
            namespaces: counts
                .into_iter()
                .map(|(name, c)| NamespaceSummary { name, counts: c })
                .collect(),
            resources,
            collected_at_ms: Utc::now().timestamp_millis(),
        })
    }

    /// Argo CD's Applications, in every namespace the agent can see.
    pub async fn applications(&self) -> Result<ApplicationStatus> {
        let api: Api<DynamicObject> = Api::all_with(self.client.clone(), &application_resource());
        let list = api
            .list(&ListParams::default())
            .await
            .context("cannot list Argo CD applications")?;
        let s = |v: &Json, ptr: &str| {
            v.pointer(ptr)
                .and_then(Json::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let applications = list
            .items
            .into_iter()
            .map(|app| {
                let data = &app.data;
                Application {
                    name: app.name_any(),
                    namespace: app.namespace().unwrap_or_default(),
                    sync_status: or_unknown(s(data, "/status/sync/status")),
                    health_status: or_unknown(s(data, "/status/health/status")),
                    repo_url: s(data, "/spec/source/repoURL"),
                    path: s(data, "/spec/source/path"),
                    target_revision: s(data, "/spec/source/targetRevision"),
                    destination_namespace: s(data, "/spec/destination/namespace"),
                    last_synced_at: s(data, "/status/operationState/finishedAt"),
                    revision: s(data, "/status/sync/revision"),
                }
            })
            .collect();
        Ok(ApplicationStatus { applications })
    }

    /// Runs a checked command and says what it did.
    pub async fn execute(&self, spec: &CommandSpec) -> Result<Output> {
        let ns = &spec.target.namespace;
        let name = &spec.target.name;
        let pp = PatchParams {
            field_manager: Some(FIELD_MANAGER.to_owned()),
            ..PatchParams::default()
        };
        match spec.kind {
            CommandKind::Scale => {
                let replicas = spec
                    .params
                    .get("replicas")
                    .and_then(Json::as_i64)
                    .ok_or_else(|| anyhow!("params.replicas is missing"))?;
                let api: Api<Deployment> = Api::namespaced(self.client.clone(), ns);
                let before = api
                    .get(name)
                    .await
                    .with_context(|| format!("cannot read deployment {ns}/{name}"))?;
                let was = before.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
                api.patch(
                    name,
                    &pp,
                    &Patch::Merge(json!({ "spec": { "replicas": replicas } })),
                )
                .await
                .with_context(|| format!("cannot scale deployment {ns}/{name}"))?;
                Ok(format!(
                    "deployment {ns}/{name} scaled from {was} to {replicas} replicas"
                ))
            }
            CommandKind::Restart => {
                let at = Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true);
                let api: Api<Deployment> = Api::namespaced(self.client.clone(), ns);
                let patch = json!({ "spec": { "template": { "metadata": { "annotations": {
                    "kubectl.kubernetes.io/restartedAt": at,
                    "gatehouse.dev/command": spec.id,
                } } } } });
                api.patch(name, &pp, &Patch::Strategic(patch))
                    .await
                    .with_context(|| format!("cannot restart deployment {ns}/{name}"))?;
                Ok(format!("deployment {ns}/{name} restarted at {at}"))
            }
            CommandKind::Sync => {
                let api: Api<DynamicObject> =
                    Api::namespaced_with(self.client.clone(), ns, &application_resource());
                let app = api
                    .get(name)
                    .await
                    .with_context(|| format!("cannot read application {ns}/{name}"))?;
                if app.data.pointer("/operation").is_some_and(|o| !o.is_null()) {
                    bail!("application {ns}/{name} already has an operation in progress");
                }
                let revision = app
                    .data
                    .pointer("/spec/source/targetRevision")
                    .and_then(Json::as_str)
                    .unwrap_or("HEAD")
                    .to_owned();
                let patch = json!({ "operation": {
                    "initiatedBy": { "username": format!("gatehouse:{}", spec.requested_by) },
                    "info": [{ "name": "gatehouse.command", "value": spec.id }],
                    "sync": { "revision": revision, "syncStrategy": { "hook": {} } },
                } });
                api.patch(name, &pp, &Patch::Merge(patch))
                    .await
                    .with_context(|| format!("cannot sync application {ns}/{name}"))?;
                Ok(format!(
                    "application {ns}/{name} sync to {revision} requested"
                ))
            }
            CommandKind::Rollback => {
                let id = spec
                    .params
                    .get("id")
                    .and_then(Json::as_i64)
                    .ok_or_else(|| anyhow!("params.id is missing"))?;
                let api: Api<DynamicObject> =
                    Api::namespaced_with(self.client.clone(), ns, &application_resource());
                let app = api
                    .get(name)
                    .await
                    .with_context(|| format!("cannot read application {ns}/{name}"))?;
                if app
                    .data
                    .pointer("/spec/syncPolicy/automated")
                    .is_some_and(|a| !a.is_null())
                {
                    bail!(
                        "application {ns}/{name} has automated sync on, which would undo a rollback at once; turn it off in the repository first"
                    );
                }
                let history = app.data.pointer("/status/history").and_then(Json::as_array);
                let entry = history
                    .and_then(|h| {
                        h.iter()
                            .find(|e| e.get("id").and_then(Json::as_i64) == Some(id))
                    })
                    .ok_or_else(|| anyhow!("application {ns}/{name} has no history entry {id}"))?;
                let revision = entry
                    .get("revision")
                    .and_then(Json::as_str)
                    .unwrap_or_default()
                    .to_owned();
                let mut sync = json!({ "revision": revision, "syncStrategy": { "hook": {} } });
                if let Some(source) = entry.get("source") {
                    sync["source"] = source.clone();
                }
                let patch = json!({ "operation": {
                    "initiatedBy": { "username": format!("gatehouse:{}", spec.requested_by) },
                    "info": [
                        { "name": "gatehouse.command", "value": spec.id },
                        { "name": "Reason", "value": format!("rollback to history {id}") },
                    ],
                    "sync": sync,
                } });
                api.patch(name, &pp, &Patch::Merge(patch))
                    .await
                    .with_context(|| format!("cannot roll back application {ns}/{name}"))?;
                Ok(format!(
                    "application {ns}/{name} rolled back to history {id} (revision {revision})"
                ))
            }
        }
    }

    /// Compares the live objects with the desired state: a finding per object that differs or
    /// is missing.
    pub async fn drift(&self, desired: &DesiredState) -> DriftReport {
        let mut resolved: HashMap<(String, String), Option<(ApiResource, bool)>> = HashMap::new();
        let mut findings = Vec::new();
        for object in &desired.objects {
            let Ok(want) = serde_json::from_str::<Json>(&object.manifest) else {
                continue;
            };
            let s = |ptr: &str| {
                want.pointer(ptr)
                    .and_then(Json::as_str)
                    .unwrap_or_default()
                    .to_owned()
            };
            let (api_version, kind, name) = (s("/apiVersion"), s("/kind"), s("/metadata/name"));
            if kind.is_empty() || name.is_empty() {
                continue;
            }
            let key = (api_version.clone(), kind.clone());
            if !resolved.contains_key(&key) {
                let (group, version) = api_version
                    .split_once('/')
                    .unwrap_or(("", api_version.as_str()));
                let gvk = GroupVersionKind::gvk(group, version, &kind);
                let found = kube::discovery::pinned_kind(&self.client, &gvk)
                    .await
                    .ok()
                    .map(|(ar, caps)| (ar, caps.scope == kube::discovery::Scope::Namespaced));
                resolved.insert(key.clone(), found);
            }
            let live = match resolved.get(&key).cloned().flatten() {
                None => None,
                Some((ar, namespaced)) => {
                    let api: Api<DynamicObject> = if namespaced {
                        let ns = want
                            .pointer("/metadata/namespace")
                            .and_then(Json::as_str)
                            .unwrap_or("default");
                        Api::namespaced_with(self.client.clone(), ns, &ar)
                    } else {
                        Api::all_with(self.client.clone(), &ar)
                    };
                    match api.get_opt(&name).await {
                        Ok(found) => found.and_then(|o| serde_json::to_value(o).ok()),
                        Err(e) => {
                            tracing::debug!(error = %e, kind, name, "cannot read an object for drift");
                            continue;
                        }
                    }
                }
            };
            if let Some(f) = crate::drift::finding(&object.source, &want, live.as_ref()) {
                if findings.len() == MAX_FINDINGS {
                    tracing::warn!(
                        "more than {MAX_FINDINGS} drifted objects; the report lists the first"
                    );
                    break;
                }
                findings.push(f);
            }
        }
        let mut revisions: Vec<String> = desired
            .revisions
            .iter()
            .map(|(p, c)| format!("{p}@{c}"))
            .collect();
        revisions.sort();
        DriftReport {
            findings,
            revision: revisions.join(","),
            compared: desired.objects.len() as u32,
        }
    }

    /// What an object owns (`{kind, name, status}`): a Deployment's ReplicaSets and their Pods;
    /// a StatefulSet's, DaemonSet's, ReplicaSet's or Job's Pods; a CronJob's Jobs.
    pub async fn related(&self, kind: &str, ns: &str, name: &str) -> Result<Vec<Json>> {
        fn owned_by<K: Resource>(k: &K, kind: &str, name: &str) -> bool {
            k.meta()
                .owner_references
                .iter()
                .flatten()
                .any(|o| o.kind == kind && o.name == name)
        }
        let lp = ListParams::default();
        let pods = || async {
            Api::<Pod>::namespaced(self.client.clone(), ns)
                .list(&lp)
                .await
        };
        let pod_ref = |p: &Pod| {
            let phase = p
                .status
                .as_ref()
                .and_then(|s| s.phase.clone())
                .unwrap_or_default();
            json!({ "kind": "Pod", "name": p.name_any(), "status": phase })
        };
        let mut out = Vec::new();
        match kind {
            "Deployment" => {
                let sets: Vec<ReplicaSet> = Api::<ReplicaSet>::namespaced(self.client.clone(), ns)
                    .list(&lp)
                    .await?
                    .items
                    .into_iter()
                    .filter(|r| owned_by(r, kind, name))
                    .collect();
                let pods = pods().await?;
                for rs in &sets {
                    let ready = rs
                        .status
                        .as_ref()
                        .and_then(|s| s.ready_replicas)
                        .unwrap_or(0);
                    let want = rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0);
                    out.push(json!({ "kind": "ReplicaSet", "name": rs.name_any(), "status": format!("{ready}/{want}") }));
                    out.extend(
                        pods.iter()
                            .filter(|p| owned_by(*p, "ReplicaSet", &rs.name_any()))
                            .map(pod_ref),
                    );
                }
            }
            "StatefulSet" | "DaemonSet" | "ReplicaSet" | "Job" => {
                out.extend(
                    pods()
                        .await?
                        .iter()
                        .filter(|p| owned_by(*p, kind, name))
                        .map(pod_ref),
                );
            }
            "CronJob" => {
                for j in Api::<Job>::namespaced(self.client.clone(), ns)
                    .list(&lp)
                    .await?
                {
                    if owned_by(&j, kind, name) {
                        out.push(json!({ "kind": "Job", "name": j.name_any() }));
                    }
                }
            }
            _ => {}
        }
        Ok(out)
    }

    /// One object as JSON (a Secret with its values removed) and the events about it.
    pub async fn inspect(&self, plural: &str, ns: &str, name: &str) -> Result<(Json, Vec<Json>)> {
        let object = match plural {
            "pods" => to_json(
                Api::<Pod>::namespaced(self.client.clone(), ns)
                    .get(name)
                    .await,
            )?,
            "deployments" => to_json(
                Api::<Deployment>::namespaced(self.client.clone(), ns)
                    .get(name)
                    .await,
            )?,
            "statefulsets" => to_json(
                Api::<StatefulSet>::namespaced(self.client.clone(), ns)
                    .get(name)
                    .await,
            )?,
            "daemonsets" => to_json(
                Api::<DaemonSet>::namespaced(self.client.clone(), ns)
                    .get(name)
                    .await,
            )?,
            "replicasets" => to_json(
                Api::<ReplicaSet>::namespaced(self.client.clone(), ns)
                    .get(name)
                    .await,
            )?,
            "services" => to_json(
                Api::<Service>::namespaced(self.client.clone(), ns)
                    .get(name)
                    .await,
            )?,
            "configmaps" => to_json(
                Api::<ConfigMap>::namespaced(self.client.clone(), ns)
                    .get(name)
                    .await,
            )?,
            "jobs" => to_json(
                Api::<Job>::namespaced(self.client.clone(), ns)
                    .get(name)
                    .await,
            )?,
            "cronjobs" => to_json(
                Api::<CronJob>::namespaced(self.client.clone(), ns)
                    .get(name)
                    .await,
            )?,
            "ingresses" => to_json(
                Api::<Ingress>::namespaced(self.client.clone(), ns)
                    .get(name)
                    .await,
            )?,
            "secrets" => {
                let meta: PartialObjectMeta<Secret> =
                    Api::<Secret>::namespaced(self.client.clone(), ns)
                        .get_metadata(name)
                        .await?;
                json!({ "apiVersion": "v1", "kind": "Secret", "metadata": meta.metadata, "data": "<hidden>" })
            }
            "applications" => to_json(
                Api::<DynamicObject>::namespaced_with(
                    self.client.clone(),
                    ns,
                    &application_resource(),
                )
                .get(name)
                .await,
            )?,
            other => bail!("`{other}` is not a resource type the agent inspects"),
        };
        let kind = object
            .get("kind")
            .and_then(Json::as_str)
            .unwrap_or_default()
            .to_owned();
        let events = Api::<Event>::namespaced(self.client.clone(), ns)
            .list(&ListParams::default().fields(&format!("involvedObject.name={name}")))
            .await
            .map(|l| {
                let mut items: Vec<Event> = l
                    .items
                    .into_iter()
                    .filter(|e| {
                        kind.is_empty() || e.involved_object.kind.as_deref() == Some(kind.as_str())
                    })
                    .collect();
                items.sort_by(|a, b| {
                    let t = |e: &Event| e.last_timestamp.as_ref().map(|t| t.0);
                    t(a).cmp(&t(b))
                });
                items
                    .into_iter()
                    .filter_map(|e| serde_json::to_value(e).ok())
                    .collect()
            })
            .unwrap_or_default();
        Ok((object, events))
    }

    /// A pod's log lines: the last `tail` lines, then (when following) new ones as they come.
    pub async fn logs(
        &self,
        ns: &str,
        pod: &str,
        container: Option<&str>,
        tail: Option<i64>,
        follow: bool,
    ) -> Result<BoxStream<'static, std::io::Result<String>>> {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), ns);
        let params = LogParams {
            container: container.map(str::to_owned),
            tail_lines: tail,
            follow,
            ..LogParams::default()
        };
        let stream = api
            .log_stream(pod, &params)
            .await
            .with_context(|| format!("cannot read the log of pod {ns}/{pod}"))?;
        Ok(stream.lines().boxed())
    }
}

fn or_unknown(s: String) -> String {
    if s.is_empty() { "Unknown".into() } else { s }
}

fn created<K: Resource>(k: &K) -> String {
    k.meta()
        .creation_timestamp
        .as_ref()
        .map(|t| t.0.to_string())
        .unwrap_or_default()
}

fn add_meta<K: Resource>(
    add: &mut impl FnMut(&str, String, String, String, String, BTreeMap<String, String>),
    kind: &str,
    m: PartialObjectMeta<K>,
) {
    add(
        kind,
        m.metadata.namespace.clone().unwrap_or_default(),
        m.metadata.name.clone().unwrap_or_default(),
        String::new(),
        m.metadata
            .creation_timestamp
            .as_ref()
            .map(|t| t.0.to_string())
            .unwrap_or_default(),
        m.metadata.labels.clone().unwrap_or_default(),
    );
}

fn to_json<T: serde::Serialize>(r: kube::Result<T>) -> Result<Json> {
    let object = r?;
    Ok(serde_json::to_value(object)?)
}
