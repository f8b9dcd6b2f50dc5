//! Promotions: a deployed release's changes carried to other levels, batch by batch.
//!
//! A promotion takes each key a deployed release changed (its path and new value) and sets it
//! at other levels of the same workloads: the next environment along the project's pipeline
//! (`pipeline: [{from, to, approvals, approverTeams}]`), and/or other tenants — the canary →
//! batches → rest rollout of a multi-tenant change. Each batch is a release of its own, decided
//! as a `promotion` action at every step (approval policies with `kinds: [promotion]`, the
//! edge's own approvals, freezes); when one deploys, the next batch's release is opened. A
//! batch release that is rejected or cancelled pauses the promotion; `resume` opens the batch
//! again.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::pin::Pin;

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json as AxumJson};
use gatehouse_engine::action::{ActionKind, ApprovalPolicy, Eligible, ScopeSelector};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value as Json, json};

use super::access::{Caller, Grant, Need};
use super::error::{ApiError, ApiResult};
use super::releases::{Pending, open_release, state};
use super::resources::{PipelineEdge, ProjectSpec, project};
use super::routes::{Params, Route, json, param, route};
use super::store::{AuditEntry, PromotionRecord, ReleaseRecord, Resource, Tx, new_id, now};
use super::values::Edit;
use super::{Hub, blocking, body_json, parse_typed};

/// One batch of tenants.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct Batch {
    /// Its name, e.g. `canary`, `batch-1`, `rest`.
    pub name: String,
    /// Its tenants (empty: every tenant no earlier batch named, except the source's own).
    #[serde(default)]
    pub tenants: Vec<String>,
}

/// A request to promote a deployed release's changes.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct CreatePromotion {
    /// The deployed release whose changes are promoted (its id).
    pub release: String,
    /// The environment to promote to (default: the release's own, for tenant batches); must
    /// follow an edge of the project's pipeline.
    #[serde(default)]
    pub to: Option<String>,
    /// Tenant batches, in order (default: one batch of every other tenant, or the
    /// environment-wide level when the release's changes are not tenant-specific).
    #[serde(default)]
    pub batches: Vec<Batch>,
    /// Deploy each batch as soon as it is approved.
    #[serde(default)]
    pub auto_deploy: bool,
}

/// The routes of this module.
pub(crate) fn routes() -> Vec<Route> {
    let one = "/api/v2/projects/{project}/promotions/{promotion}";
    vec![
        route(
            Method::POST,
            "/api/v2/projects/{project}/promotions",
            "promotions.create",
            Need::Project(Grant::Release),
            "Promote a deployed release's changes to the next environment and/or other tenants, batch by batch",
        )
        .request(json::<CreatePromotion>())
        .response(201, None)
        .handler(create),
        route(
            Method::GET,
            one,
            "promotions.get",
            Need::Project(Grant::Read),
            "A promotion: its batches and the release carrying each",
        )
        .response(200, None)
        .handler(get),
        route(
            Method::POST,
            format!("{one}/resume"),
            "promotions.resume",
            Need::Project(Grant::Release),
            "Open the paused batch of a promotion again",
        )
        .response(200, None)
        .handler(resume),
    ]
}

fn view(p: &PromotionRecord, project: &str) -> Json {
    json!({
        "id": p.id,
        "project": project,
        "release": p.source,
        "from": p.from_env,
        "to": p.to_env,
        "batches": p.batches,
        "current": p.current,
        "state": p.state,
        "autoDeploy": p.auto_deploy,
        "requester": p.requester,
        "createdAt": p.created_at,
        "updatedAt": p.updated_at,
    })
}

/// The edge of the pipeline a promotion follows, if it changes environment.
pub(crate) fn edge(p: &Resource, from: &str, to: &str) -> Option<PipelineEdge> {
    let spec: ProjectSpec = serde_json::from_value(p.spec.clone()).ok()?;
    spec.pipeline
        .into_iter()
        .find(|e| e.from == from && e.to == to)
}

/// The approval policy an edge's own approvals amount to, for the facts of its promotions.
pub(crate) fn edge_policy(p: &Resource, promotion: &Json) -> Option<ApprovalPolicy> {
    let from = promotion.get("from")?.as_str()?;
    let to = promotion.get("to")?.as_str()?;
    let e = edge(p, from, to)?;
    (e.approvals > 0).then(|| ApprovalPolicy {
        name: format!("pipeline {from} → {to}"),
        scope: ScopeSelector {
            project: vec![p.name.clone()],
            environment: vec![to.to_owned()],
            ..ScopeSelector::default()
        },
        kinds: vec![ActionKind::Promotion],
        quorum: e.approvals,
        distinct_teams: 0,
        requester_can_approve: false,
        eligible: Eligible {
            users: Vec::new(),
            teams: e.approver_teams,
            roles: Vec::new(),
        },
    })
}

async fn create(
    State(hub): State<Hub>,
    Extension(caller): Extension<Caller>,
    path: Params,
    bytes: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let req: CreatePromotion = parse_typed(body_json(bytes)?)?;
    let name = param(&path, "project");
    let (c, n) = (caller.clone(), name.clone());
    let promo = blocking(
        &hub,
        move |tx| {
            let p = project(tx, &c.org.id, &n)?;
            let source = tx
                .release(&c.org.id, &p.id, &req.release)?
                .ok_or_else(|| ApiError::invalid("release", format!("`{}` is not a release of project `{n}`", req.release)))?;
            if source.deployed_at.is_none() {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "not_deployed",
                    format!("Release #{} is not deployed; only deployed changes are promoted.", source.number),
                    "Deploy it first, or pick a deployed release.",
                ));
            }
            let envs: BTreeSet<String> = changes_of(&source)
                .iter()
                .filter_map(|c| c.get("environment").and_then(Json::as_str).map(str::to_owned))
                .collect();
            let envs: Vec<String> = envs.into_iter().collect();
            let [from] = envs.as_slice() else {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "cannot_promote",
                    format!("Release #{} does not change exactly one environment, so there is nothing to promote from.", source.number),
                    "Promote a release of one environment's values (workload-wide changes already reach every environment).",
                ));
            };
            let from = from.clone();
            let to = req.to.clone().unwrap_or_else(|| from.clone());
            if tx.resource(&c.org.id, Some(&p.id), "project_environment", &to)?.is_none() {
                return Err(ApiError::invalid("to", format!("`{to}` is not an environment of project `{n}`")));
            }
            if to != from && edge(&p, &from, &to).is_none() {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "not_in_pipeline",
                    format!("Project `{n}`'s pipeline has no edge from {from} to {to}."),
                    "Add the edge to the project's pipeline (PATCH the project), or promote along an existing one.",
                ));
            }
            for (i, b) in req.batches.iter().enumerate() {
                for (j, t) in b.tenants.iter().enumerate() {
                    if tx.resource(&c.org.id, Some(&p.id), "project_tenant", t)?.is_none() {
                        return Err(ApiError::invalid(format!("batches[{i}].tenants[{j}]"), format!("`{t}` is not a tenant of project `{n}`")));
                    }
                }
            }
            let batches = if req.batches.is_empty() {
                vec![json!({"name": "all", "tenants": [], "release": null, "state": "pending"})]
            } else {
                req.batches
                    .iter()
                    .map(|b| json!({"name": b.name, "tenants": b.tenants, "release": null, "state": "pending"}))
                    .collect()
            };
            let at = now();
            let promo = PromotionRecord {
                id: format!("promo_{}", new_id()),
                org_id: c.org.id.clone(),
                project_id: p.id.clone(),
                source: source.id.clone(),
                from_env: from,
                to_env: to,
                batches: Json::Array(batches),
                current: 0,
                state: "running".into(),
                auto_deploy: req.auto_deploy,
                requester: c.actor(),
                created_at: at.clone(),
                updated_at: at,
            };
            tx.promotion_insert(&promo)?;
            tx.audit_append(
                &c.org.id,
                &AuditEntry {
                    actor: c.actor(),
                    action: "promotions.create".into(),
                    resource: format!("project/{n}/promotion/{}", promo.id),
                    before: None,
                    after: Some(view(&promo, &n)),
                    decision_id: None,
                },
            )?;
            Ok(promo)
        },
        true,
    )
    .await?;
    start_batch(hub.clone(), caller.clone(), name.clone(), promo.id.clone()).await?;
    let body = load_view(&hub, &caller, &name, &promo.id).await?;
    Ok((StatusCode::CREATED, AxumJson(body)).into_response())
}

/// A promotion of a project by id, with the project, or 404.
fn find(
    tx: &Tx<'_>,
    c: &Caller,
    project_name: &str,
    id: &str,
) -> ApiResult<(Resource, PromotionRecord)> {
    let p = project(tx, &c.org.id, project_name)?;
    let promo = tx.promotion(&c.org.id, &p.id, id)?.ok_or_else(|| {
        ApiError::not_found(format!("promotion `{id}` in project `{project_name}`"))
    })?;
    Ok((p, promo))
}

fn changes_of(rel: &ReleaseRecord) -> Vec<Json> {
    rel.changes.as_array().cloned().unwrap_or_default()
}

async fn load_view(hub: &Hub, caller: &Caller, name: &str, id: &str) -> ApiResult<Json> {
    let (c, n, i) = (caller.clone(), name.to_owned(), id.to_owned());
    blocking(
        hub,
        move |tx| {
            let (p, promo) = find(tx, &c, &n, &i)?;
            let mut body = view(&promo, &n);
            // Each batch with its release's state now.
            if let Some(batches) = body.get_mut("batches").and_then(Json::as_array_mut) {
                for b in batches {
                    if let Some(id) = b.get("release").and_then(Json::as_str).map(str::to_owned)
                        && let Some(r) = tx.release(&c.org.id, &p.id, &id)?
                    {
                        b["releaseState"] = json!(r.state);
                        b["releaseNumber"] = json!(r.number);
                    }
                }
            }
            Ok(body)
        },
        false,
    )
    .await
}

async fn get(
    State(hub): State<Hub>,
    Extension(caller): Extension<Caller>,
    path: Params,
) -> ApiResult<AxumJson<Json>> {
    let (name, id) = (param(&path, "project"), param(&path, "promotion"));
    Ok(AxumJson(load_view(&hub, &caller, &name, &id).await?))
}

async fn resume(
    State(hub): State<Hub>,
    Extension(caller): Extension<Caller>,
    path: Params,
) -> ApiResult<AxumJson<Json>> {
    let (name, id) = (param(&path, "project"), param(&path, "promotion"));
    let _lock = hub.targets.lock(format!("promotion:{id}")).await;
    let (c, n, i) = (caller.clone(), name.clone(), id.clone());
    blocking(
        &hub,
        move |tx| {
            let (_, mut promo) = find(tx, &c, &n, &i)?;
            if promo.state != "paused" {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "promotion_not_paused",
                    format!("Promotion {i} is {}, not paused.", promo.state),
                    "Only a paused promotion resumes; GET it to see where it stands.",
                ));
            }
            promo.state = "running".into();
            tx.promotion_update(&promo)?;
            tx.audit_append(
                &c.org.id,
                &AuditEntry {
                    actor: c.actor(),
                    action: "promotions.resume".into(),
                    resource: format!("project/{n}/promotion/{i}"),
                    before: Some(json!({"state": "paused"})),
                    after: Some(json!({"state": "running", "batch": promo.current})),
                    decision_id: None,
                },
            )?;
            Ok(())
        },
        true,
    )
    .await?;
    start_batch(hub.clone(), caller.clone(), name.clone(), id.clone()).await?;
    Ok(AxumJson(load_view(&hub, &caller, &name, &id).await?))
}

/// Opens the release of a running promotion's current batch (skipping batches with nothing to
/// change); completes the promotion after the last.
fn start_batch(
    hub: Hub,
    caller: Caller,
    name: String,
    id: String,
) -> Pin<Box<dyn Future<Output = ApiResult<()>> + Send>> {
    Box::pin(async move {
        loop {
            let (c, n, i) = (caller.clone(), name.clone(), id.clone());
            let next = blocking(
                &hub,
                move |tx| {
                    let (p, mut promo) = find(tx, &c, &n, &i)?;
                    if promo.state != "running" {
                        return Ok(None);
                    }
                    let count = promo.batches.as_array().map_or(0, Vec::len) as i64;
                    if promo.current >= count {
                        promo.state = "completed".into();
                        tx.promotion_update(&promo)?;
                        return Ok(None);
                    }
                    let levels = batch_levels(tx, &c, &p, &promo)?;
                    if levels.is_empty() {
                        let at = promo.current as usize;
                        promo.batches[at]["state"] = json!("nothing_to_change");
                        promo.current += 1;
                        tx.promotion_update(&promo)?;
                        return Ok(Some(None));
                    }
                    Ok(Some(Some((p, promo, levels))))
                },
                true,
            )
            .await?;
            let (p, promo, levels) = match next {
                None => return Ok(()),
                Some(None) => continue,
                Some(Some(x)) => x,
            };
            let at = promo.current as usize;
            let batch = &promo.batches[at];
            let batch_name = batch["name"].as_str().unwrap_or_default().to_owned();
            let source_number = blocking(
                &hub,
                {
                    let (c, pid, src) = (caller.clone(), p.id.clone(), promo.source.clone());
                    move |tx| Ok(tx.release(&c.org.id, &pid, &src)?.map_or(0, |r| r.number))
                },
                false,
            )
            .await?;
            let changes: Vec<_> = levels.iter().flat_map(Pending::changes).collect();
            let now_at = now();
            let rel = ReleaseRecord {
                id: format!("rel_{}", new_id()),
                org_id: caller.org.id.clone(),
                project_id: p.id.clone(),
                number: 0,
                title: format!(
                    "Promote #{source_number} to {} ({batch_name})",
                    promo.to_env
                ),
                description: None,
                state: state::DRAFT.into(),
                requester_id: caller.id().to_owned(),
                requester: caller.actor(),
                auto_deploy: promo.auto_deploy,
                changes: serde_json::to_value(changes).map_err(ApiError::internal)?,
                targets: Json::Array(levels.iter().map(Pending::target).collect()),
                gate: json!({}),
                rollback: Json::Null,
                promotion: json!({
                    "id": promo.id, "batch": at, "name": batch_name,
                    "from": promo.from_env, "to": promo.to_env, "tenants": batch["tenants"],
                }),
                created_at: now_at.clone(),
                updated_at: now_at,
                deployed_at: None,
                commit: None,
            };
            let rel_id = rel.id.clone();
            // Note the batch's release before it is submitted: an automatic deploy advances
            // the promotion from inside `open_release`.
            let (c, n, i, r) = (caller.clone(), name.clone(), id.clone(), rel_id.clone());
            blocking(
                &hub,
                move |tx| {
                    let p = project(tx, &c.org.id, &n)?;
                    if let Some(mut promo) = tx.promotion(&c.org.id, &p.id, &i)? {
                        let at = promo.current as usize;
                        promo.batches[at]["release"] = json!(r);
                        promo.batches[at]["state"] = json!("released");
                        tx.promotion_update(&promo)?;
                    }
                    Ok(())
                },
                true,
            )
            .await?;
            if let Err(e) = open_release(&hub, &caller, &name, &p, rel, true).await {
                // Refused at creation (a freeze, a policy): the promotion waits for a resume.
                pause(&hub, &caller, &name, &id, &e.message).await?;
                return Err(e);
            }
            return Ok(());
        }
    })
}

/// The levels a promotion's current batch changes, each with the values it will hold.
fn batch_levels(
    tx: &Tx<'_>,
    c: &Caller,
    p: &Resource,
    promo: &PromotionRecord,
) -> ApiResult<Vec<Pending>> {
    let source = tx
        .release(&c.org.id, &p.id, &promo.source)?
        .ok_or_else(|| ApiError::internal("the promoted release vanished"))?;
    let batches = promo.batches.as_array().cloned().unwrap_or_default();
    let at = promo.current as usize;
    let names = |b: &Json| -> Vec<String> {
        b["tenants"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t.as_str().map(str::to_owned))
            .collect()
    };
    let all_tenants: Vec<String> = tx
        .resources(&c.org.id, Some(&p.id), "project_tenant")?
        .into_iter()
        .map(|t| t.name)
        .collect();
    // Only what the release changed in the environment promoted from: its workload-wide
    // changes already reach every environment.
    let changes: Vec<Json> = changes_of(&source)
        .into_iter()
        .filter(|c| c.get("environment").and_then(Json::as_str) == Some(promo.from_env.as_str()))
        .collect();
    let source_tenants: BTreeSet<String> = changes
        .iter()
        .filter_map(|c| c.get("tenant").and_then(Json::as_str).map(str::to_owned))
        .collect();
    let named = names(&batches[at]);
    let tenants: Vec<Option<String>> = if !named.is_empty() {
        named.into_iter().map(Some).collect()
    } else if source_tenants.is_empty() {
        vec![None]
    } else {
        let earlier: BTreeSet<String> = batches[..at].iter().flat_map(names).collect();
        all_tenants
            .into_iter()
            .filter(|t| !earlier.contains(t) && !source_tenants.contains(t))
            .map(Some)
            .collect()
    };
    // (workload, tenant) → the values the level will hold.
    let mut levels: BTreeMap<(String, String), (String, Json)> = BTreeMap::new();
    for change in &changes {
        let Some(workload) = change.get("workload").and_then(Json::as_str) else {
            continue;
        };
        let Some(path) = change.get("path").and_then(Json::as_str) else {
            continue;
        };
        let Some(w) = tx.resource(&c.org.id, Some(&p.id), "workload", workload)? else {
            continue;
        };
        for tenant in &tenants {
            let tenant = tenant.clone().unwrap_or_default();
            let key = (workload.to_owned(), tenant.clone());
            if !levels.contains_key(&key) {
                let staged = tx
                    .values(&w.id, &promo.to_env, &tenant)?
                    .map_or_else(|| json!({}), |r| r.values);
                levels.insert(key.clone(), (w.id.clone(), staged));
            }
            if let Some((_, values)) = levels.get_mut(&key) {
                let edit = match change.get("after") {
                    Some(v) => Edit::Set(path.to_owned(), v.clone()),
                    None => Edit::Unset(path.to_owned()),
                };
                *values = edit.result(values)?;
            }
        }
    }
    let mut out = Vec::new();
    for ((workload, tenant), (workload_id, staged)) in levels {
        let (deployed, base_release) =
            match tx.deployed_values(&workload_id, &promo.to_env, &tenant)? {
                Some((v, r)) => (v, Some(r)),
                None => (json!({}), None),
            };
        if deployed != staged {
            out.push(Pending {
                workload_id,
                workload,
                environment: promo.to_env.clone(),
                tenant,
                staged,
                deployed,
                base_release,
            });
        }
    }
    Ok(out)
}

async fn pause(hub: &Hub, caller: &Caller, name: &str, id: &str, why: &str) -> ApiResult<()> {
    let (c, n, i, why) = (
        caller.clone(),
        name.to_owned(),
        id.to_owned(),
        why.to_owned(),
    );
    blocking(
        hub,
        move |tx| {
            let p = project(tx, &c.org.id, &n)?;
            let Some(mut promo) = tx.promotion(&c.org.id, &p.id, &i)? else {
                return Ok(());
            };
            if promo.state != "running" {
                return Ok(());
            }
            promo.state = "paused".into();
            let at = promo.current as usize;
            if let Some(b) = promo.batches.get_mut(at) {
                b["state"] = json!("paused");
            }
            tx.promotion_update(&promo)?;
            tx.audit_append(
                &c.org.id,
                &AuditEntry {
                    actor: c.actor(),
                    action: "promotions.pause".into(),
                    resource: format!("project/{n}/promotion/{i}"),
                    before: Some(json!({"state": "running"})),
                    after: Some(json!({"state": "paused", "batch": at, "why": why})),
                    decision_id: None,
                },
            )?;
            Ok(())
        },
        true,
    )
    .await
}

/// After a batch release deployed: the batch is done and the next one opens.
pub(crate) fn deployed(
    hub: Hub,
    caller: Caller,
    name: String,
    rel: ReleaseRecord,
) -> Pin<Box<dyn Future<Output = ApiResult<()>> + Send>> {
    Box::pin(async move {
        let Some(id) = rel
            .promotion
            .get("id")
            .and_then(Json::as_str)
            .map(str::to_owned)
        else {
            return Ok(());
        };
        let (c, n, i) = (caller.clone(), name.clone(), id.clone());
        let batch = rel
            .promotion
            .get("batch")
            .and_then(Json::as_i64)
            .unwrap_or(-1);
        let advanced = blocking(
            &hub,
            move |tx| {
                let p = project(tx, &c.org.id, &n)?;
                let Some(mut promo) = tx.promotion(&c.org.id, &p.id, &i)? else {
                    return Ok(false);
                };
                if promo.current != batch || promo.state != "running" {
                    return Ok(false);
                }
                promo.batches[batch as usize]["state"] = json!("deployed");
                promo.current += 1;
                tx.promotion_update(&promo)?;
                Ok(true)
            },
            true,
        )
        .await?;
        if advanced {
            start_batch(hub, caller, name, id).await?;
        }
        Ok(())
    })
}

/// After a batch release was rejected or cancelled: the promotion pauses.
pub(crate) async fn closed(
    hub: &Hub,
    caller: &Caller,
    name: &str,
    rel: &ReleaseRecord,
    to: &str,
) -> ApiResult<()> {
    let Some(id) = rel.promotion.get("id").and_then(Json::as_str) else {
        return Ok(());
    };
    pause(
        hub,
        caller,
        name,
        id,
        &format!("release #{} was {to}", rel.number),
    )
    .await
}
