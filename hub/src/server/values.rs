//! Helm values of a workload per environment and tenant: the governed write of the hub's
//! foundation.
//!
//! Setting values builds a `values.update` action (who, where — with the target cluster and its
//! labels — and each changed key path with its before and after), asks the engine, and acts only
//! on the answer: `allow` stores the values, `deny` answers 409 `policy_denied` with the
//! violations, `pending` answers 202 `pending_approval` with the requirements. Every decision is
//! recorded with what it allowed and referenced from the audit entry. Changes of the same
//! workload level queue on a per-target lock, so each is decided against the state it will
//! replace; the decision runs outside the store's writer lock, and the write re-checks that
//! nothing changed in between (else it decides again).

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Query, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json as AxumJson};
use gatehouse_engine::action::{ACTION_VERSION, Action, Change, ClusterRef, Facts, Scope, Subject};
use gatehouse_engine::{ActionKind, Decision, Outcome};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value as Json, json};

use super::access::{Caller, Grant, Need};
use super::error::{ApiError, ApiResult};
use super::resources::{existing, kind, project};
use super::routes::{Params, Route, json, param, route};
use super::store::{AuditEntry, Tx};
use super::{Hub, blocking, body_json};

/// Which level of a workload's values.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Level {
    /// Project environment (absent: the workload's defaults for every environment).
    pub environment: Option<String>,
    /// Project tenant (absent: every tenant).
    pub tenant: Option<String>,
}

/// Values at one level.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ValuesView {
    /// The workload.
    pub workload: String,
    /// The environment, if any.
    pub environment: Option<String>,
    /// The tenant, if any.
    pub tenant: Option<String>,
    /// The values.
    pub values: Json,
    /// Incremented by every change (0: never set).
    pub version: i64,
    /// The decision that allowed the last change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision: Option<Json>,
}

/// Per-target async locks (workload, environment, tenant), dropped when no one holds them.
#[derive(Debug, Default)]
pub(crate) struct TargetLocks(
    std::sync::Mutex<std::collections::HashMap<String, std::sync::Arc<tokio::sync::Mutex<()>>>>,
);

impl TargetLocks {
    pub(crate) async fn lock(&self, key: String) -> TargetGuard<'_> {
        let m = {
            let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
            map.entry(key.clone()).or_default().clone()
        };
        let guard = m.clone().lock_owned().await;
        TargetGuard {
            locks: self,
            key,
            _guard: guard,
        }
    }
}

pub(crate) struct TargetGuard<'a> {
    locks: &'a TargetLocks,
    key: String,
    _guard: tokio::sync::OwnedMutexGuard<()>,
}

impl Drop for TargetGuard<'_> {
    fn drop(&mut self) {
        let mut map = self.locks.0.lock().unwrap_or_else(|p| p.into_inner());
        // The map's own Arc plus the one inside this guard: no one else waits.
        if map
            .get(&self.key)
            .is_some_and(|m| std::sync::Arc::strong_count(m) <= 2)
        {
            map.remove(&self.key);
        }
    }
}

/// The routes of this module.
pub(crate) fn routes() -> Vec<Route> {
    let path = "/api/v2/projects/{project}/workloads/{name}/values";
    vec![
        route(
            Method::GET,
            path,
            "projects.values.get",
            Need::Project(Grant::Read),
            "A workload's values at one level (?environment=&tenant=)",
        )
        .response(200, json::<ValuesView>())
        .handler(get),
        route(
            Method::PUT,
            path,
            "values.update",
            Need::Project(Grant::Write),
            "Set a workload's values at one level; decided by the policy engine (values.update)",
        )
        .request(Some(super::routes::Body::Json(|g| {
            g.subschema_for::<BTreeMap<String, Json>>()
        })))
        .response(200, json::<ValuesView>())
        .handler(put),
    ]
}

struct Target {
    workload_id: String,
    environment: String,
    tenant: String,
    scope: Scope,
    before: Json,
    version: i64,
}

fn target(
    tx: &Tx<'_>,
    caller: &Caller,
    project_name: &str,
    workload: &str,
    level: &Level,
) -> ApiResult<Target> {
    let org = &caller.org.id;
    let p = project(tx, org, project_name)?;
    let wdef =
        kind("workload").ok_or_else(|| ApiError::internal("the workload kind is missing"))?;
    let w = existing(tx, wdef, org, Some(&p.id), workload)?;
    let mut cluster = None;
    if let Some(e) = &level.environment {
        let env = tx
            .resource(org, Some(&p.id), "project_environment", e)?
            .ok_or_else(|| {
                ApiError::not_found(format!("environment `{e}` in project `{project_name}`"))
            })?;
        cluster = cluster_of(tx, org, &env)?;
    }
    if let Some(t) = &level.tenant
        && tx
            .resource(org, Some(&p.id), "project_tenant", t)?
            .is_none()
    {
        return Err(ApiError::not_found(format!(
            "tenant `{t}` in project `{project_name}`"
        )));
    }
    let environment = level.environment.clone().unwrap_or_default();
    let tenant = level.tenant.clone().unwrap_or_default();
    let stored = tx.values(&w.id, &environment, &tenant)?;
    let (before, version) = match stored {
        Some(r) => (r.values, r.version),
        None if level.environment.is_none() && level.tenant.is_none() => {
            (w.spec.get("values").cloned().unwrap_or(json!({})), 0)
        }
        None => (json!({}), 0),
    };
    Ok(Target {
        workload_id: w.id,
        environment,
        tenant,
        scope: Scope {
            org: caller.org.name.clone(),
            project: Some(p.name),
            environment: level.environment.clone(),
            tenant: level.tenant.clone(),
            workload: Some(w.name),
            cluster,
        },
        before,
        version,
    })
}

/// The target cluster of a project environment, with its labels, as policies see it.
pub(crate) fn cluster_of(
    tx: &Tx<'_>,
    org: &str,
    environment: &super::store::Resource,
) -> ApiResult<Option<ClusterRef>> {
    let Some(name) = environment.spec.get("cluster").and_then(Json::as_str) else {
        return Ok(None);
    };
    Ok(tx
        .resource(org, None, "cluster", name)?
        .map(|c| ClusterRef {
            labels: c
                .spec
                .get("labels")
                .and_then(Json::as_object)
                .map(|m| {
                    m.iter()
                        .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_owned())))
                        .collect()
                })
                .unwrap_or_default(),
            name: c.name,
        }))
}

/// Leaf-level differences between two values documents, as dotted key paths (an added or
/// removed object is listed by its leaves).
pub(crate) fn diff(before: &Json, after: &Json) -> Vec<(String, Option<Json>, Option<Json>)> {
    fn walk(
        prefix: &str,
        b: Option<&Json>,
        a: Option<&Json>,
        out: &mut Vec<(String, Option<Json>, Option<Json>)>,
    ) {
        let empty = serde_json::Map::new();
        let objects = match (b, a) {
            (Some(Json::Object(bm)), Some(Json::Object(am))) => Some((bm, am)),
            (Some(Json::Object(bm)), None) if !bm.is_empty() => Some((bm, &empty)),
            (None, Some(Json::Object(am))) if !am.is_empty() => Some((&empty, am)),
            _ => None,
        };
        match objects {
            Some((bm, am)) => {
                let keys: std::collections::BTreeSet<&String> =
                    bm.keys().chain(am.keys()).collect();
                for k in keys {
                    let path = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(&path, bm.get(k), am.get(k), out);
                }
            }
            None if b != a => out.push((prefix.to_owned(), b.cloned(), a.cloned())),
            None => {}
        }
    }
    let mut out = Vec::new();
    walk("", Some(before), Some(after), &mut out);
    out
}

fn level_of(t: &Target) -> (Option<String>, Option<String>) {
    let opt = |s: &String| (!s.is_empty()).then(|| s.clone());
    (opt(&t.environment), opt(&t.tenant))
}

async fn get(
    State(hub): State<Hub>,
    Extension(caller): Extension<Caller>,
    path: Params,
    Query(level): Query<Level>,
) -> ApiResult<AxumJson<ValuesView>> {
    let (p, w) = (param(&path, "project"), param(&path, "name"));
    blocking(
        &hub,
        move |tx| {
            let t = target(tx, &caller, &p, &w, &level)?;
            let (environment, tenant) = level_of(&t);
            Ok(AxumJson(ValuesView {
                workload: w,
                environment,
                tenant,
                values: t.before,
                version: t.version,
                decision: None,
            }))
        },
        false,
    )
    .await
}

fn decision_summary(d: &Decision) -> Json {
    json!({
        "id": d.decision_id,
        "outcome": d.outcome,
        "violations": d.violations,
        "warnings": d.warnings,
        "requirements": d.requirements,
        "revision": d.revision,
    })
}

async fn put(
    State(hub): State<Hub>,
    Extension(caller): Extension<Caller>,
    path: Params,
    Query(level): Query<Level>,
    bytes: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let values = body_json(bytes)?;
    if !values.is_object() {
        return Err(ApiError::invalid(".", "values must be a JSON object"));
    }
    let (p, w) = (param(&path, "project"), param(&path, "name"));
    Ok(AxumJson(apply(&hub, &caller, p, w, level, Edit::Replace(values)).await?).into_response())
}

/// What a values change does to the level's current values.
#[derive(Debug, Clone)]
pub(crate) enum Edit {
    /// The whole document.
    Replace(Json),
    /// One dotted key path set to a value (intermediate objects created).
    Set(String, Json),
    /// One dotted key path removed (absent already: no change).
    Unset(String),
}

impl Edit {
    /// The values after the edit.
    pub(crate) fn result(&self, before: &Json) -> ApiResult<Json> {
        match self {
            Edit::Replace(v) => Ok(v.clone()),
            Edit::Unset(path) => {
                let mut out = before.clone();
                let keys: Vec<&str> = path.split('.').collect();
                let (last, parents) = keys.split_last().unwrap_or((&"", &[]));
                let mut at = Some(&mut out);
                for k in parents {
                    at = at.and_then(|v| v.get_mut(*k));
                }
                if let Some(Json::Object(map)) = at {
                    map.remove(*last);
                }
                Ok(out)
            }
            Edit::Set(path, value) => {
                let mut out = before.clone();
                let mut at = &mut out;
                let keys: Vec<&str> = path.split('.').collect();
                if keys.iter().any(|k| k.is_empty()) {
                    return Err(ApiError::invalid(
                        "path",
                        format!("`{path}` is not a dotted key path like image.tag"),
                    ));
                }
                for (i, k) in keys.iter().enumerate() {
                    let Json::Object(map) = at else {
                        return Err(ApiError::invalid(
                            "path",
                            format!(
                                "`{}` is not an object in the current values",
                                keys[..i].join(".")
                            ),
                        ));
                    };
                    if i + 1 == keys.len() {
                        map.insert((*k).to_owned(), value.clone());
                        break;
                    }
                    at = map.entry((*k).to_owned()).or_insert_with(|| json!({}));
                }
                Ok(out)
            }
        }
    }
}

/// Applies a governed values change at one level: decided on a snapshot, written only if
/// nothing changed meanwhile.
pub(crate) async fn apply(
    hub: &Hub,
    caller: &Caller,
    p: String,
    w: String,
    level: Level,
    edit: Edit,
) -> ApiResult<ValuesView> {
    let hub = hub.clone();
    let key = format!(
        "{}/{p}/{w}/{:?}/{:?}",
        caller.org.id, level.environment, level.tenant
    );
    let _queued = hub.targets.lock(key).await;
    // Decide on a snapshot; write only if nothing changed meanwhile, else decide again.
    for _attempt in 0..3 {
        let (c, pp, ww, lv) = (caller.clone(), p.clone(), w.clone(), level.clone());
        let t = blocking(&hub, move |tx| target(tx, &c, &pp, &ww, &lv), false).await?;
        let values = edit.result(&t.before)?;
        let changes: Vec<Change> = diff(&t.before, &values)
            .into_iter()
            .map(|(path, before, after)| Change {
                workload: w.clone(),
                tenant: level.tenant.clone(),
                environment: level.environment.clone(),
                path,
                before,
                after,
            })
            .collect();
        let (environment, tenant) = level_of(&t);
        if changes.is_empty() {
            return Ok(ValuesView {
                workload: w,
                environment,
                tenant,
                values: t.before,
                version: t.version,
                decision: None,
            });
        }
        let action = Action {
            version: ACTION_VERSION,
            kind: ActionKind::ValuesUpdate,
            id: None,
            time: None,
            actor: caller.engine_actor(),
            scope: t.scope.clone(),
            subject: Subject {
                changes,
                ..Subject::default()
            },
            facts: Facts::default(),
            context: BTreeMap::new(),
        };
        let h = hub.clone();
        let (decision, action) =
            tokio::task::spawn_blocking(move || (h.engine.decide(&action), action))
                .await
                .map_err(ApiError::internal)?;
        hub.metrics.decision(&decision);
        let action_json = serde_json::to_value(&action).map_err(ApiError::internal)?;
        let summary = decision_summary(&decision);
        let resource = format!(
            "project/{p}/workload/{w}/values/{}/{}",
            environment.as_deref().unwrap_or("*"),
            tenant.as_deref().unwrap_or("*")
        );
        let (c, vals) = (caller.clone(), values.clone());
        let seen = t.version;
        let applied = blocking(
            &hub,
            move |tx| {
                let org = &c.org.id;
                if decision.outcome != Outcome::Allow {
                    tx.decision_insert(org, &decision, &action_json, None)?;
                    tx.audit_append(
                        org,
                        &AuditEntry {
                            actor: c.actor(),
                            action: format!("values.update.{}", decision.outcome.as_str()),
                            resource,
                            before: Some(t.before),
                            after: None,
                            decision_id: Some(decision.decision_id.clone()),
                        },
                    )?;
                    return Ok(Some(Err(decision)));
                }
                let now = tx
                    .values(&t.workload_id, &t.environment, &t.tenant)?
                    .map_or(0, |r| r.version);
                if now != seen {
                    return Ok(None);
                }
                let version =
                    tx.values_put(&t.workload_id, &t.environment, &t.tenant, &vals, &c.actor())?;
                tx.decision_insert(
                    org,
                    &decision,
                    &action_json,
                    Some(&json!({ "values": vals, "version": version })),
                )?;
                tx.audit_append(
                    org,
                    &AuditEntry {
                        actor: c.actor(),
                        action: "values.update".into(),
                        resource,
                        before: Some(t.before),
                        after: Some(vals),
                        decision_id: Some(decision.decision_id.clone()),
                    },
                )?;
                Ok(Some(Ok(version)))
            },
            true,
        )
        .await?;
        match applied {
            None => continue,
            Some(Ok(version)) => {
                return Ok(ValuesView {
                    workload: w,
                    environment,
                    tenant,
                    values,
                    version,
                    decision: Some(summary),
                });
            }
            Some(Err(d)) if d.outcome == Outcome::Pending => {
                let waiting: Vec<String> = d
                    .requirements
                    .iter()
                    .filter(|r| !r.satisfied)
                    .map(|r| r.message.clone())
                    .collect();
                return Err(ApiError::gated(
                    StatusCode::ACCEPTED,
                    "pending_approval",
                    format!("The change is permitted but waits for: {}.", waiting.join("; ")),
                    "Collect the approvals named in detail.decision.requirements, then send the change again.".into(),
                    json!({ "decision": summary }),
                ));
            }
            Some(Err(d)) => {
                let why: Vec<String> = d
                    .violations
                    .iter()
                    .map(|v| format!("{} ({})", v.message, v.policy))
                    .collect();
                return Err(ApiError::gated(
                    StatusCode::CONFLICT,
                    "policy_denied",
                    format!("Policy denied the change: {}", why.join("; ")),
                    "Change the values so the policies pass, or ask the policy owners; a break-glass session lifts freezes and approvals, not policy violations.".into(),
                    json!({ "decision": summary }),
                ));
            }
        }
    }
    Err(ApiError::conflict(
        "The values kept changing while the change was being decided.",
        "Read them again and retry.",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_names_leaf_paths() {
        let b = json!({"image": {"tag": "1.0", "repo": "x"}, "replicas": 2});
        let a =
            json!({"image": {"tag": "1.1", "repo": "x"}, "resources": {"limits": {"cpu": "1"}}});
        let d = diff(&b, &a);
        let paths: Vec<&str> = d.iter().map(|(p, _, _)| p.as_str()).collect();
        assert_eq!(paths, ["image.tag", "replicas", "resources.limits.cpu"]);
        assert_eq!(d[1].2, None);
    }
}
