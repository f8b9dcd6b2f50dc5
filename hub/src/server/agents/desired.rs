//! The desired state of a cluster, read from the hosted repositories: every object under
//! `tenants/<tenant>/<environment>/` of every project environment bound to the cluster, at the
//! repository's current commit. Sent to the cluster's agent when it connects and after every
//! deploy of its organization; the agent compares it with the live objects and reports drift.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use gatehouse_agent_proto::v1::hub_message::Body as Down;
use gatehouse_agent_proto::v1::{DesiredObject, DesiredState};
use serde_json::Value as Json;

use super::Session;
use crate::git::HostedRepo;
use crate::server::error::{ApiError, ApiResult};
use crate::server::store::Tx;
use crate::server::{Hub, blocking};

/// Most objects sent in one desired state (the rest are left out, and logged).
pub(crate) const MAX_OBJECTS: usize = 5_000;

/// Most manifest bytes in one desired state, well inside the stream's 4 MiB message limit.
pub(crate) const MAX_BYTES: usize = 3 * 1024 * 1024;

/// Reads the desired state of cluster `cluster` in organization `org_id`.
fn read(hub: &Hub, tx: &Tx<'_>, org_id: &str, cluster: &str) -> ApiResult<DesiredState> {
    let org = tx
        .org(org_id)?
        .ok_or_else(|| ApiError::internal("the organization is gone"))?;
    let mut revisions = HashMap::new();
    let mut objects = Vec::new();
    let mut total = 0usize;
    for project in tx.resources(org_id, None, "project")? {
        let environments: BTreeSet<String> = tx
            .resources(org_id, Some(&project.id), "project_environment")?
            .into_iter()
            .filter(|e| e.spec.get("cluster").and_then(Json::as_str) == Some(cluster))
            .map(|e| e.name)
            .collect();
        if environments.is_empty() {
            continue;
        }
        let path = crate::server::delivery::repo_path(hub, &org, &project);
        if !path.exists() {
            continue;
        }
        let repo = HostedRepo::open_or_init(&path).map_err(ApiError::internal)?;
        let Some(head) = repo.head().map_err(ApiError::internal)? else {
            continue;
        };
        for (file, bytes) in repo.files(Some(&head)).map_err(ApiError::internal)? {
            let mut parts = file.split('/');
            let (Some("tenants"), Some(_tenant), Some(env)) =
                (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            if !environments.contains(env) || !(file.ends_with(".yaml") || file.ends_with(".yml")) {
                continue;
            }
            let text = String::from_utf8_lossy(&bytes);
            let docs: Vec<Json> =
                gatehouse_engine::yaml_from_str_multiple(&text).unwrap_or_default();
            for doc in docs.into_iter().filter(|d| d.get("kind").is_some()) {
                let manifest = doc.to_string();
                if objects.len() >= MAX_OBJECTS || total + manifest.len() > MAX_BYTES {
                    tracing::warn!(
                        cluster,
                        objects = objects.len(),
                        "desired state truncated at its size limit"
                    );
                    break;
                }
                total += manifest.len();
                objects.push(DesiredObject {
                    source: format!("{}/{file}", project.name),
                    manifest,
                });
            }
        }
        revisions.insert(project.name.clone(), head);
    }
    Ok(DesiredState { revisions, objects })
}

/// Sends `session`'s cluster its desired state.
pub(crate) async fn send(hub: &Hub, session: &Arc<Session>) {
    let (h, org, cluster) = (
        hub.clone(),
        session.org_id.clone(),
        session.cluster_name.clone(),
    );
    match blocking(hub, move |tx| read(&h, tx, &org, &cluster), false).await {
        Ok(desired) => {
            session.send(Down::Desired(desired));
        }
        Err(e) => {
            tracing::error!(cluster = %session.cluster_name, error = %e.message, "cannot read the desired state")
        }
    }
}

/// Sends every connected cluster of organization `org_id` its desired state again (after a
/// deploy changed a repository).
pub(crate) fn refresh(hub: &Hub, org_id: &str) {
    let sessions: Vec<Arc<Session>> = hub
        .agents
        .all()
        .into_iter()
        .filter(|s| s.org_id == org_id)
        .collect();
    if sessions.is_empty() {
        return;
    }
    let hub = hub.clone();
    tokio::spawn(async move {
        for s in sessions {
            send(&hub, &s).await;
        }
    });
}
