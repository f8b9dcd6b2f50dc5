//! Releases: pending changes gathered, approved and deployed under the engine's gate.
//!
//! Values edits (`PUT .../values`) are *staged*; a level's pending changes are the difference
//! between what is staged and what a release last deployed there. A release takes the pending
//! changes in its scope (environments, tenants, workloads) as they are at that moment, with the
//! full values each level will hold, and moves draft → pending_approval → approved → deploying
//! → deployed (or rejected, cancelled, failed). Every step asks the engine again with facts
//! read at that step (see [`super::governance`]); nothing a client sent earlier is trusted.
//! Each release is worked on under its own lock, and each transition is a compare-and-set on
//! its state, so concurrent approvals produce exactly one transition to approved and one
//! deploy. Until the delivery generator exists, deploying records the release's values as the
//! deployed state.

use std::collections::BTreeSet;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Query, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json as AxumJson};
use gatehouse_engine::Outcome;
use gatehouse_engine::action::{
    ACTION_VERSION, Action, ActionKind, Change, ClusterRef, Facts, Principal, Promotion, Release,
    Rollback, RollbackMode, Scope, Subject,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value as Json, json};

use super::access::{Caller, Grant, Need, Principal as Who};
use super::delivery;
use super::error::{ApiError, ApiResult};
use super::governance::{self, About, Verdict};
use super::resources::project;
use super::routes::{Params, Route, json, param, route};
use super::store::{ApprovalRecord, AuditEntry, ReleaseRecord, Resource, Tx, new_id, now};
use super::values::{self, Edit, Level, diff};
use super::{Hub, blocking, body_json, parse_typed};

/// Release states.
pub(super) mod state {
    pub(crate) const DRAFT: &str = "draft";
    pub(crate) const PENDING: &str = "pending_approval";
    pub(crate) const APPROVED: &str = "approved";
    pub(crate) const DEPLOYING: &str = "deploying";
    pub(crate) const DEPLOYED: &str = "deployed";
    pub(crate) const REJECTED: &str = "rejected";
    pub(crate) const CANCELLED: &str = "cancelled";
    pub(crate) const FAILED: &str = "failed";
}

/// A request for a new release.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct CreateRelease {
    /// Short title.
    pub title: String,
    /// Longer description.
    #[serde(default)]
    pub description: Option<String>,
    /// Only changes in these environments (empty: all). Workload-wide changes reach every
    /// environment and are always included.
    #[serde(default)]
    pub environments: Vec<String>,
    /// Only changes of these tenants (empty: all). Changes for every tenant are included.
    #[serde(default)]
    pub tenants: Vec<String>,
    /// Only changes of these workloads (empty: all).
    #[serde(default)]
    pub workloads: Vec<String>,
    /// Submit for approval at once.
    #[serde(default)]
    pub submit: bool,
    /// Deploy as soon as the release is approved.
    #[serde(default)]
    pub auto_deploy: bool,
}

/// A request to restore what an earlier release deployed.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct CreateRollback {
    /// The deployed release whose state is restored (its id).
    pub to: String,
    /// Title (default: "Roll back to #N").
    #[serde(default)]
    pub title: Option<String>,
    /// Why.
    #[serde(default)]
    pub description: Option<String>,
    /// Only these environments (empty: all).
    #[serde(default)]
    pub environments: Vec<String>,
    /// Only these tenants (empty: all).
    #[serde(default)]
    pub tenants: Vec<String>,
    /// Only these workloads: a service-scoped rollback (empty: full).
    #[serde(default)]
    pub workloads: Vec<String>,
    /// Only show what would change; store nothing.
    #[serde(default)]
    pub preview: bool,
    /// Submit for approval at once (default true).
    #[serde(default = "yes")]
    pub submit: bool,
    /// Deploy as soon as approved.
    #[serde(default)]
    pub auto_deploy: bool,
}

fn yes() -> bool {
    true
}

/// One key of a workload's values set from outside (a CI pipeline after an image build).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct SetValue {
    /// Dotted key path, e.g. `image.tag`.
    pub path: String,
    /// The new value.
    pub value: Json,
    /// Environment level (absent: the workload's defaults).
    #[serde(default)]
    pub environment: Option<String>,
    /// Tenant level (absent: every tenant).
    #[serde(default)]
    pub tenant: Option<String>,
    /// Where it comes from, shown to approvers: e.g. `build` (a link), `commit`.
    #[serde(default)]
    pub context: std::collections::BTreeMap<String, String>,
}

/// A note with a step (approve, reject, cancel).
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct StepNote {
    /// A comment or reason.
    #[serde(default)]
    pub comment: Option<String>,
}

/// Filters of the release list.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListQuery {
    /// Only releases in this state.
    pub state: Option<String>,
}

/// A release as the API shows it.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ReleaseView {
    /// Release id.
    pub id: String,
    /// Number within the project.
    pub number: i64,
    /// Project name.
    pub project: String,
    /// Title.
    pub title: String,
    /// Description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// State.
    pub state: String,
    /// Who asked for it.
    pub requester: String,
    /// Deploys when approved.
    pub auto_deploy: bool,
    /// Each changed key path with its level, before and after.
    pub changes: Json,
    /// Each level's full values after the release.
    pub targets: Json,
    /// The last evaluation of the deploy gate: outcome, requirements with progress,
    /// violations, decision ids.
    pub gate: Json,
    /// Approvals so far.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub approvals: Vec<Json>,
    /// What happened, oldest first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub timeline: Vec<Json>,
    /// Created.
    pub created_at: String,
    /// Last changed.
    pub updated_at: String,
    /// The commit its deploy wrote to the project's repository (none when the rendered
    /// manifests did not change).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
}

/// The routes of this module.
pub(crate) fn routes() -> Vec<Route> {
    let base = "/api/v2/projects/{project}";
    let one = "/api/v2/projects/{project}/releases/{release}";
    vec![
        route(
            Method::GET,
            format!("{base}/changes"),
            "releases.changes",
            Need::Project(Grant::Read),
            "Pending changes: staged values that differ from what was last deployed, per level",
        )
        .response(200, None)
        .handler(changes),
        route(
            Method::GET,
            format!("{base}/releases"),
            "releases.list",
            Need::Project(Grant::Read),
            "A project's releases, newest first (?state=)",
        )
        .response(200, None)
        .handler(list),
        route(
            Method::POST,
            format!("{base}/releases"),
            "releases.create",
            Need::Project(Grant::Release),
            "Create a release from the pending changes in a scope; decided by the engine (release.create)",
        )
        .request(json::<CreateRelease>())
        .response(201, json::<ReleaseView>())
        .handler(create),
        route(
            Method::GET,
            one,
            "releases.get",
            Need::Project(Grant::Read),
            "A release with its changes, gate, approvals and timeline",
        )
        .response(200, json::<ReleaseView>())
        .handler(get),
        route(
            Method::POST,
            format!("{one}/submit"),
            "releases.submit",
            Need::Project(Grant::Release),
            "Submit a draft: pending_approval while approvals are missing, else approved",
        )
        .request(json::<StepNote>())
        .response(200, json::<ReleaseView>())
        .handler(submit),
        route(
            Method::POST,
            format!("{one}/approve"),
            "releases.approve",
            Need::Project(Grant::Approve),
            "Approve a release; decided by the engine (release.approve), then the gate is re-evaluated",
        )
        .request(json::<StepNote>())
        .response(200, json::<ReleaseView>())
        .handler(approve),
        route(
            Method::POST,
            format!("{one}/reject"),
            "releases.reject",
            Need::Project(Grant::Approve),
            "Reject a release waiting for approval",
        )
        .request(json::<StepNote>())
        .response(200, json::<ReleaseView>())
        .handler(reject),
        route(
            Method::POST,
            format!("{one}/cancel"),
            "releases.cancel",
            Need::Project(Grant::Release),
            "Cancel a release that is not deployed",
        )
        .request(json::<StepNote>())
        .response(200, json::<ReleaseView>())
        .handler(cancel),
        route(
            Method::POST,
            format!("{one}/deploy"),
            "releases.deploy",
            Need::Project(Grant::Release),
            "Deploy an approved release; the engine decides again (release.deploy)",
        )
        .request(json::<StepNote>())
        .response(200, json::<ReleaseView>())
        .handler(deploy),
        route(
            Method::POST,
            format!("{base}/rollbacks"),
            "releases.rollback",
            Need::Project(Grant::Rollback),
            "Restore what an earlier release deployed (full or per workload): a preview, or a new release decided as a rollback",
        )
        .request(json::<CreateRollback>())
        .response(201, json::<ReleaseView>())
        .handler(rollback),
        route(
            Method::POST,
            "/api/v2/projects/{project}/workloads/{name}/values",
            "values.set",
            Need::Project(Grant::Write),
            "Set one key of a workload's values (the CI image-update call); with the project's autoRelease, a release is opened for it and deploys once its gates allow",
        )
        .request(json::<SetValue>())
        .response(200, None)
        .handler(set_value),
        route(
            Method::GET,
            "/api/v2/approvals",
            "approvals.inbox",
            Need::OrgRead,
            "Releases waiting for approval in the projects where the caller may approve, with progress",
        )
        .response(200, None)
        .handler(inbox),
    ]
}

// ----- pending changes -----

/// One level of one workload whose staged values differ from the deployed ones.
#[derive(Debug, Clone)]
pub(super) struct Pending {
    pub(super) workload_id: String,
    pub(super) workload: String,
    pub(super) environment: String,
    pub(super) tenant: String,
    pub(super) staged: Json,
    pub(super) deployed: Json,
    pub(super) base_release: Option<String>,
}

impl Pending {
    pub(super) fn changes(&self) -> Vec<Change> {
        let opt = |s: &String| (!s.is_empty()).then(|| s.clone());
        diff(&self.deployed, &self.staged)
            .into_iter()
            .map(|(path, before, after)| Change {
                workload: self.workload.clone(),
                tenant: opt(&self.tenant),
                environment: opt(&self.environment),
                path,
                before,
                after,
            })
            .collect()
    }

    pub(super) fn target(&self) -> Json {
        json!({
            "workloadId": self.workload_id,
            "workload": self.workload,
            "environment": self.environment,
            "tenant": self.tenant,
            "values": self.staged,
            "base": self.base_release,
        })
    }
}

fn pending(tx: &Tx<'_>, org_id: &str, p: &Resource) -> ApiResult<Vec<Pending>> {
    let mut out = Vec::new();
    for w in tx.resources(org_id, Some(&p.id), "workload")? {
        let mut levels = tx.values_levels(&w.id)?;
        if !levels.iter().any(|(e, t, _)| e.is_empty() && t.is_empty()) {
            levels.insert(0, (String::new(), String::new(), None));
        }
        for (environment, tenant, staged) in levels {
            let staged = match staged {
                Some(v) => v,
                // Never edited: the workload's own default values are staged.
                None if environment.is_empty() && tenant.is_empty() => {
                    w.spec.get("values").cloned().unwrap_or(json!({}))
                }
                None => json!({}),
            };
            let (deployed, base_release) = match tx.deployed_values(&w.id, &environment, &tenant)? {
                Some((v, r)) => (v, Some(r)),
                None => (json!({}), None),
            };
            if deployed != staged {
                out.push(Pending {
                    workload_id: w.id.clone(),
                    workload: w.name.clone(),
                    environment,
                    tenant,
                    staged,
                    deployed,
                    base_release,
                });
            }
        }
    }
    Ok(out)
}

async fn changes(
    State(hub): State<Hub>,
    Extension(caller): Extension<Caller>,
    path: Params,
) -> ApiResult<AxumJson<Json>> {
    let name = param(&path, "project");
    blocking(
        &hub,
        move |tx| {
            let p = project(tx, &caller.org.id, &name)?;
            let items: Vec<Json> = pending(tx, &caller.org.id, &p)?
                .iter()
                .map(|l| {
                    json!({
                        "workload": l.workload,
                        "environment": (!l.environment.is_empty()).then_some(&l.environment),
                        "tenant": (!l.tenant.is_empty()).then_some(&l.tenant),
                        "changes": l.changes(),
                    })
                })
                .collect();
            Ok(AxumJson(json!({ "items": items })))
        },
        false,
    )
    .await
}

/// Which levels a release or rollback covers: empty lists cover everything, and a
/// workload-wide (or all-tenant) level is covered by any environment (or tenant) list.
struct Selection<'a> {
    environments: &'a [String],
    tenants: &'a [String],
    workloads: &'a [String],
}

impl Selection<'_> {
    /// Each name must exist in the project; the error names the field.
    fn check(&self, tx: &Tx<'_>, org_id: &str, p: &Resource) -> ApiResult<()> {
        for (field, kind, names) in [
            ("environments", "project_environment", self.environments),
            ("tenants", "project_tenant", self.tenants),
            ("workloads", "workload", self.workloads),
        ] {
            for (i, x) in names.iter().enumerate() {
                if tx.resource(org_id, Some(&p.id), kind, x)?.is_none() {
                    return Err(ApiError::invalid(
                        format!("{field}[{i}]"),
                        format!("`{x}` is not in project `{}`", p.name),
                    ));
                }
            }
        }
        Ok(())
    }

    fn covers(&self, workload: &str, environment: &str, tenant: &str) -> bool {
        let within = |list: &[String], x: &str| {
            x.is_empty() || list.is_empty() || list.iter().any(|l| l == x)
        };
        (self.workloads.is_empty() || self.workloads.iter().any(|w| w == workload))
            && within(self.environments, environment)
            && within(self.tenants, tenant)
    }
}

// ----- scopes and actions -----

/// The scopes a release reaches: each (environment, tenant, workload) its levels touch, a
/// workload-wide level reaching every environment of the project.
fn scopes(tx: &Tx<'_>, caller: &Caller, p: &Resource, targets: &Json) -> ApiResult<Vec<Scope>> {
    let org = &caller.org.id;
    let envs = tx.resources(org, Some(&p.id), "project_environment")?;
    let cluster_of = |env: &str| -> ApiResult<Option<ClusterRef>> {
        match envs.iter().find(|e| e.name == env) {
            Some(e) => values::cluster_of(tx, org, e),
            None => Ok(None),
        }
    };
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for t in targets.as_array().into_iter().flatten() {
        let s = |k: &str| {
            t.get(k)
                .and_then(Json::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let (workload, environment, tenant) = (s("workload"), s("environment"), s("tenant"));
        let reach: Vec<Option<String>> = if !environment.is_empty() {
            vec![Some(environment)]
        } else if envs.is_empty() {
            vec![None]
        } else {
            envs.iter().map(|e| Some(e.name.clone())).collect()
        };
        for env in reach {
            let tenant = (!tenant.is_empty()).then(|| tenant.clone());
            if !seen.insert((env.clone(), tenant.clone(), workload.clone())) {
                continue;
            }
            out.push(Scope {
                org: caller.org.name.clone(),
                project: Some(p.name.clone()),
                cluster: match &env {
                    Some(e) => cluster_of(e)?,
                    None => None,
                },
                environment: env,
                tenant,
                workload: Some(workload.clone()),
            });
        }
    }
    Ok(out)
}

/// The release as policies see it.
fn release_subject(tx: &Tx<'_>, rel: &ReleaseRecord) -> ApiResult<Release> {
    let requester = governance::actor_now(tx, &rel.org_id, &rel.requester_id)?;
    Ok(Release {
        id: rel.id.clone(),
        title: Some(rel.title.clone()),
        description: rel.description.clone(),
        requester: Some(match requester {
            Some(a) => Principal {
                id: a.id,
                teams: a.teams,
                role: a.role,
            },
            None => Principal {
                id: rel.requester_id.clone(),
                teams: Vec::new(),
                role: None,
            },
        }),
        state: Some(rel.state.clone()),
        changes: serde_json::from_value(rel.changes.clone()).map_err(ApiError::internal)?,
    })
}

/// The action kind a step of this release is decided as: a rollback's and a promotion's
/// steps are decided as `rollback` and `promotion`, a plain release's as `plain`.
fn kind_of(rel: &ReleaseRecord, plain: ActionKind) -> ActionKind {
    if !rel.rollback.is_null() {
        ActionKind::Rollback
    } else if !rel.promotion.is_null() {
        ActionKind::Promotion
    } else {
        plain
    }
}

/// A promotion batch as policies see it.
fn promotion_subject(rel: &ReleaseRecord) -> Option<Promotion> {
    let p = &rel.promotion;
    Some(Promotion {
        from: p.get("from")?.as_str()?.to_owned(),
        to: p.get("to")?.as_str()?.to_owned(),
        tenants: p
            .get("tenants")
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
            .filter_map(|t| t.as_str().map(str::to_owned))
            .collect(),
        batch: p.get("name").and_then(Json::as_str).map(str::to_owned),
    })
}

/// A rollback as policies see it.
fn rollback_subject(rel: &ReleaseRecord) -> Option<Rollback> {
    let to = rel.rollback.get("to")?.as_str()?.to_owned();
    let mode = match rel.rollback.get("mode").and_then(Json::as_str) {
        Some("service") => RollbackMode::Service,
        _ => RollbackMode::Full,
    };
    Some(Rollback {
        target_release: to,
        mode,
    })
}

/// One action per scope the release reaches, with facts read now.
fn release_actions(
    tx: &Tx<'_>,
    caller: &Caller,
    p: &Resource,
    rel: &ReleaseRecord,
    kind: ActionKind,
) -> ApiResult<Vec<Action>> {
    let facts = governance::facts(
        tx,
        &caller.org,
        About {
            release: Some(&rel.id),
            project: Some(&p.name),
        },
    )?;
    let mut facts = facts;
    facts
        .approval_policies
        .extend(super::promotions::edge_policy(p, &rel.promotion));
    let release = release_subject(tx, rel)?;
    let rollback = rollback_subject(rel);
    let promotion = promotion_subject(rel);
    let time = now();
    Ok(scopes(tx, caller, p, &rel.targets)?
        .into_iter()
        .map(|scope| {
            let mut a = action(caller, kind, scope, release.clone(), facts.clone(), &time);
            a.subject.rollback = rollback.clone();
            a.subject.promotion = promotion.clone();
            a
        })
        .collect())
}

fn action(
    caller: &Caller,
    kind: ActionKind,
    scope: Scope,
    release: Release,
    facts: Facts,
    time: &str,
) -> Action {
    Action {
        version: ACTION_VERSION,
        kind,
        id: None,
        time: Some(time.to_owned()),
        actor: caller.engine_actor(),
        scope,
        subject: Subject {
            release: Some(release),
            ..Subject::default()
        },
        facts,
        context: Default::default(),
    }
}

// ----- reading -----

fn view(tx: &Tx<'_>, project: &str, rel: ReleaseRecord, full: bool) -> ApiResult<ReleaseView> {
    let (approvals, timeline) = if full {
        let approvals = tx
            .approvals(&rel.id)?
            .into_iter()
            .map(|a| json!({"user": a.user_name, "comment": a.comment, "at": a.at, "decision": a.decision_id}))
            .collect();
        let timeline = tx
            .release_events(&rel.id)?
            .into_iter()
            .map(|e| {
                json!({
                    "seq": e.seq, "at": e.at, "actor": e.actor, "event": e.event,
                    "from": e.from_state, "to": e.to_state, "decisions": e.decision_ids,
                    "note": e.note,
                })
            })
            .collect();
        (approvals, timeline)
    } else {
        (Vec::new(), Vec::new())
    };
    Ok(ReleaseView {
        id: rel.id,
        number: rel.number,
        project: project.to_owned(),
        title: rel.title,
        description: rel.description,
        state: rel.state,
        requester: rel.requester,
        auto_deploy: rel.auto_deploy,
        changes: rel.changes,
        targets: rel.targets,
        gate: rel.gate,
        approvals,
        timeline,
        created_at: rel.created_at,
        updated_at: rel.updated_at,
        commit: rel.commit,
    })
}

fn load(
    tx: &Tx<'_>,
    caller: &Caller,
    project_name: &str,
    id: &str,
) -> ApiResult<(Resource, ReleaseRecord)> {
    let p = project(tx, &caller.org.id, project_name)?;
    let rel = tx.release(&caller.org.id, &p.id, id)?.ok_or_else(|| {
        ApiError::not_found(format!("release `{id}` in project `{project_name}`"))
    })?;
    Ok((p, rel))
}

async fn list(
    State(hub): State<Hub>,
    Extension(caller): Extension<Caller>,
    path: Params,
    Query(q): Query<ListQuery>,
) -> ApiResult<AxumJson<Json>> {
    let name = param(&path, "project");
    blocking(
        &hub,
        move |tx| {
            let p = project(tx, &caller.org.id, &name)?;
            let items = tx
                .releases(&caller.org.id, Some(&p.id), q.state.as_deref())?
                .into_iter()
                .map(|r| view(tx, &name, r, false))
                .collect::<ApiResult<Vec<_>>>()?;
            Ok(AxumJson(json!({ "items": items })))
        },
        false,
    )
    .await
}

async fn get(
    State(hub): State<Hub>,
    Extension(caller): Extension<Caller>,
    path: Params,
) -> ApiResult<AxumJson<ReleaseView>> {
    let (name, id) = (param(&path, "project"), param(&path, "release"));
    blocking(
        &hub,
        move |tx| {
            let (_, rel) = load(tx, &caller, &name, &id)?;
            Ok(AxumJson(view(tx, &name, rel, true)?))
        },
        false,
    )
    .await
}

async fn inbox(
    State(hub): State<Hub>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<AxumJson<Json>> {
    blocking(
        &hub,
        move |tx| {
            let mut items = Vec::new();
            for rel in tx.releases(&caller.org.id, None, Some(state::PENDING))? {
                let Some(p) = tx.resource_by_id(&caller.org.id, &rel.project_id)? else {
                    continue;
                };
                if caller
                    .check(
                        Need::Project(Grant::Approve),
                        "releases.approve",
                        Some(&p.name),
                    )
                    .is_err()
                {
                    continue;
                }
                let waiting: Vec<Json> = rel
                    .gate
                    .get("requirements")
                    .and_then(Json::as_array)
                    .into_iter()
                    .flatten()
                    .filter(|r| r.get("satisfied") == Some(&Json::Bool(false)))
                    .cloned()
                    .collect();
                let mine = caller.id() == rel.requester_id;
                items.push(json!({
                    "project": p.name,
                    "release": rel.id,
                    "number": rel.number,
                    "title": rel.title,
                    "requester": rel.requester,
                    "yours": mine,
                    "waitingFor": waiting,
                    "createdAt": rel.created_at,
                }));
            }
            Ok(AxumJson(json!({ "items": items })))
        },
        false,
    )
    .await
}

// ----- creating -----

async fn create(
    State(hub): State<Hub>,
    Extension(caller): Extension<Caller>,
    path: Params,
    bytes: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let req: CreateRelease = parse_typed(body_json(bytes)?)?;
    let name = param(&path, "project");
    let view = create_release(&hub, &caller, &name, req).await?;
    Ok((StatusCode::CREATED, AxumJson(view)).into_response())
}

/// Creates a release from the pending changes a request selects.
async fn create_release(
    hub: &Hub,
    caller: &Caller,
    name: &str,
    req: CreateRelease,
) -> ApiResult<ReleaseView> {
    if req.title.trim().is_empty() {
        return Err(ApiError::invalid("title", "a release needs a title"));
    }
    let name = name.to_owned();
    // One release at a time per project takes pending changes.
    let _queued = hub
        .targets
        .lock(format!("{}/{name}/releases", caller.org.id))
        .await;
    let (c, n, r) = (caller.clone(), name.clone(), req.clone());
    let (p, rel) = blocking(
        hub,
        move |tx| {
            let p = project(tx, &c.org.id, &n)?;
            let sel = Selection {
                environments: &r.environments,
                tenants: &r.tenants,
                workloads: &r.workloads,
            };
            sel.check(tx, &c.org.id, &p)?;
            let chosen: Vec<Pending> = pending(tx, &c.org.id, &p)?
                .into_iter()
                .filter(|l| sel.covers(&l.workload, &l.environment, &l.tenant))
                .collect();
            if chosen.is_empty() {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "nothing_to_release",
                    format!("Project `{n}` has no pending changes in this scope."),
                    "Change a workload's values first (PUT .../workloads/{name}/values), or widen the scope; GET .../changes lists what is pending.",
                ));
            }
            let changes: Vec<Change> = chosen.iter().flat_map(Pending::changes).collect();
            let at = now();
            let rel = ReleaseRecord {
                id: format!("rel_{}", new_id()),
                org_id: c.org.id.clone(),
                project_id: p.id.clone(),
                number: 0,
                title: r.title.trim().to_owned(),
                description: r.description.clone(),
                state: state::DRAFT.into(),
                requester_id: c.id().to_owned(),
                requester: c.actor(),
                auto_deploy: r.auto_deploy,
                changes: serde_json::to_value(changes).map_err(ApiError::internal)?,
                targets: Json::Array(chosen.iter().map(Pending::target).collect()),
                gate: json!({}),
                rollback: Json::Null,
                promotion: Json::Null,
                created_at: at.clone(),
                updated_at: at,
                deployed_at: None,
                commit: None,
            };
            Ok((p, rel))
        },
        false,
    )
    .await?;
    open_release(hub, caller, &name, &p, rel, req.submit).await
}

/// Stores a new release (or rollback) once the engine allows its creation, submits it when
/// asked, and answers with it. The create action is `release.create`, or `rollback`.
pub(super) async fn open_release(
    hub: &Hub,
    caller: &Caller,
    name: &str,
    p: &Resource,
    rel: ReleaseRecord,
    submit: bool,
) -> ApiResult<ReleaseView> {
    let kind = kind_of(&rel, ActionKind::ReleaseCreate);
    let (c, pp, rr) = (caller.clone(), p.clone(), rel.clone());
    let actions = blocking(
        hub,
        move |tx| release_actions(tx, &c, &pp, &rr, kind),
        false,
    )
    .await?;
    let verdict = governance::decide_each(hub, actions).await?;
    let (c, n) = (caller.clone(), name.to_owned());
    let v = verdict.clone();
    let what = if kind == ActionKind::Rollback {
        "rollback"
    } else {
        "release.create"
    };
    let stored = blocking(
        hub,
        move |tx| {
            let mut rel = rel;
            if v.outcome == Outcome::Deny {
                governance::record(tx, &c.org.id, &v, None)?;
                tx.audit_append(
                    &c.org.id,
                    &AuditEntry {
                        actor: c.actor(),
                        action: format!("{what}.deny"),
                        resource: format!("project/{n}/release"),
                        before: None,
                        after: Some(json!({"title": rel.title, "changes": rel.changes})),
                        decision_id: v.ids().first().cloned(),
                    },
                )?;
                return Ok(None);
            }
            rel.number = tx.release_insert(&rel)?;
            governance::record(tx, &c.org.id, &v, Some(&json!({"release": rel.id})))?;
            tx.release_event(&rel.id, &c.actor(), "created", None, &v.ids(), None)?;
            tx.audit_append(
                &c.org.id,
                &AuditEntry {
                    actor: c.actor(),
                    action: what.into(),
                    resource: format!("project/{n}/release/{}", rel.number),
                    before: None,
                    after: Some(json!({"id": rel.id, "title": rel.title, "changes": rel.changes, "rollback": rel.rollback})),
                    decision_id: v.ids().first().cloned(),
                },
            )?;
            Ok(Some(rel))
        },
        true,
    )
    .await?;
    let Some(rel) = stored else {
        return Err(denied(
            &verdict,
            &format!(
                "The {} cannot be created",
                if kind == ActionKind::Rollback {
                    "rollback"
                } else {
                    "release"
                }
            ),
        ));
    };
    let id = rel.id.clone();
    if submit {
        let _lock = hub.targets.lock(format!("release:{id}")).await;
        submit_locked(hub, caller, name, &id).await?;
    }
    reload(hub, caller, name, &id).await
}

async fn rollback(
    State(hub): State<Hub>,
    Extension(caller): Extension<Caller>,
    path: Params,
    bytes: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let req: CreateRollback = parse_typed(body_json(bytes)?)?;
    let name = param(&path, "project");
    let _queued = hub
        .targets
        .lock(format!("{}/{name}/releases", caller.org.id))
        .await;
    let (c, n, r) = (caller.clone(), name.clone(), req.clone());
    let (p, rel) = blocking(
        &hub,
        move |tx| {
            let p = project(tx, &c.org.id, &n)?;
            let sel = Selection {
                environments: &r.environments,
                tenants: &r.tenants,
                workloads: &r.workloads,
            };
            sel.check(tx, &c.org.id, &p)?;
            let target = tx.release(&c.org.id, &p.id, &r.to)?.ok_or_else(|| {
                ApiError::invalid(
                    "to",
                    format!("`{}` is not a release of project `{n}`", r.to),
                )
            })?;
            let Some(at) = target.deployed_at.clone() else {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "not_deployed",
                    format!(
                        "Release #{} was never deployed ({}); there is no state of it to restore.",
                        target.number,
                        target.state.replace('_', " ")
                    ),
                    "Pick a deployed release: GET .../releases?state=deployed.",
                ));
            };
            let restore = restore_levels(tx, &c.org.id, &p, &at, &sel)?;
            if restore.is_empty() {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "nothing_to_roll_back",
                    format!(
                        "What is deployed in this scope already matches release #{}.",
                        target.number
                    ),
                    "Nothing to do; widen the scope or pick another release.",
                ));
            }
            let changes: Vec<Change> = restore.iter().flat_map(Pending::changes).collect();
            let at = now();
            let mode = if r.workloads.is_empty() {
                "full"
            } else {
                "service"
            };
            let rel = ReleaseRecord {
                id: format!("rel_{}", new_id()),
                org_id: c.org.id.clone(),
                project_id: p.id.clone(),
                number: 0,
                title: r
                    .title
                    .clone()
                    .filter(|t| !t.trim().is_empty())
                    .unwrap_or_else(|| format!("Roll back to #{}", target.number)),
                description: r.description.clone(),
                state: state::DRAFT.into(),
                requester_id: c.id().to_owned(),
                requester: c.actor(),
                auto_deploy: r.auto_deploy,
                changes: serde_json::to_value(changes).map_err(ApiError::internal)?,
                targets: Json::Array(restore.iter().map(Pending::target).collect()),
                gate: json!({}),
                rollback: json!({"to": target.id, "number": target.number, "mode": mode}),
                promotion: Json::Null,
                created_at: at.clone(),
                updated_at: at,
                deployed_at: None,
                commit: None,
            };
            Ok((p, rel))
        },
        false,
    )
    .await?;
    if req.preview {
        return Ok(AxumJson(json!({
            "rollback": rel.rollback,
            "changes": rel.changes,
            "targets": rel.targets,
        }))
        .into_response());
    }
    let view = open_release(&hub, &caller, &name, &p, rel, req.submit).await?;
    Ok((StatusCode::CREATED, AxumJson(view)).into_response())
}

/// The levels in `sel` whose deployed values differ from what was deployed as of `at`, each
/// with the values to restore (a level first deployed after `at` is restored to empty).
fn restore_levels(
    tx: &Tx<'_>,
    org_id: &str,
    p: &Resource,
    at: &str,
    sel: &Selection<'_>,
) -> ApiResult<Vec<Pending>> {
    let mut history: Vec<ReleaseRecord> = tx
        .releases(org_id, Some(&p.id), Some(state::DEPLOYED))?
        .into_iter()
        .filter(|r| r.deployed_at.as_deref().is_some_and(|d| d <= at))
        .collect();
    history.sort_by(|a, b| b.deployed_at.cmp(&a.deployed_at));
    let mut out = Vec::new();
    for w in tx.resources(org_id, Some(&p.id), "workload")? {
        for (environment, tenant, _) in tx.values_levels(&w.id)? {
            if !sel.covers(&w.name, &environment, &tenant) {
                continue;
            }
            let Some((deployed, base)) = tx.deployed_values(&w.id, &environment, &tenant)? else {
                continue;
            };
            let then = history
                .iter()
                .flat_map(|r| r.targets.as_array().into_iter().flatten())
                .find(|t| {
                    t["workloadId"] == w.id.as_str()
                        && t["environment"] == environment.as_str()
                        && t["tenant"] == tenant.as_str()
                })
                .map_or_else(|| json!({}), |t| t["values"].clone());
            if then != deployed {
                out.push(Pending {
                    workload_id: w.id.clone(),
                    workload: w.name.clone(),
                    environment,
                    tenant,
                    staged: then,
                    deployed,
                    base_release: Some(base),
                });
            }
        }
    }
    Ok(out)
}

async fn set_value(
    State(hub): State<Hub>,
    Extension(caller): Extension<Caller>,
    path: Params,
    bytes: Result<Bytes, BytesRejection>,
) -> ApiResult<AxumJson<Json>> {
    let req: SetValue = parse_typed(body_json(bytes)?)?;
    let (name, workload) = (param(&path, "project"), param(&path, "name"));
    let level = Level {
        environment: req.environment.clone(),
        tenant: req.tenant.clone(),
    };
    let values = values::apply(
        &hub,
        &caller,
        name.clone(),
        workload.clone(),
        level,
        Edit::Set(req.path.clone(), req.value.clone()),
    )
    .await?;
    let (c, n) = (caller.clone(), name.clone());
    let auto = blocking(
        &hub,
        move |tx| {
            let p = project(tx, &c.org.id, &n)?;
            Ok(p.spec.get("autoRelease") == Some(&Json::Bool(true)))
        },
        false,
    )
    .await?;
    if !auto || values.decision.is_none() {
        return Ok(AxumJson(json!({ "values": values })));
    }
    let shown = match &req.value {
        Json::String(s) => s.clone(),
        other => other.to_string(),
    };
    let title = if req.path == "image.tag" {
        format!("Auto: image update to {shown}")
    } else {
        format!("Auto: {} set to {shown}", req.path)
    };
    let description = (!req.context.is_empty()).then(|| {
        req.context
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect::<Vec<_>>()
            .join("\n")
    });
    let request = CreateRelease {
        title,
        description,
        environments: req.environment.into_iter().collect(),
        tenants: req.tenant.into_iter().collect(),
        workloads: vec![workload],
        submit: true,
        auto_deploy: true,
    };
    // The value is staged either way; a release the gates refuse says why.
    match create_release(&hub, &caller, &name, request).await {
        Ok(release) => Ok(AxumJson(json!({ "values": values, "release": release }))),
        Err(e) => Ok(AxumJson(json!({
            "values": values,
            "release": null,
            "releaseRefused": {"code": e.code, "message": e.message, "hint": e.hint},
        }))),
    }
}

/// The error for a denied step: `frozen` when a freeze is among the reasons, naming the
/// break-glass path; `policy_denied` otherwise.
fn denied(v: &Verdict, what: &str) -> ApiError {
    let why: Vec<String> = v
        .violations()
        .iter()
        .map(|f| format!("{} ({})", f.message, f.policy))
        .collect();
    if v.frozen() {
        ApiError::gated(
            StatusCode::CONFLICT,
            "frozen",
            format!("{what}: {}", why.join("; ")),
            "Wait until the freeze window ends, or, for an incident, open a break-glass session covering this scope (POST /api/v2/breakglass with a justification and severity) and try again.".into(),
            json!({ "gate": v.summary() }),
        )
    } else {
        ApiError::gated(
            StatusCode::CONFLICT,
            "policy_denied",
            format!("{what}: {}", why.join("; ")),
            "Change what the policies object to (see detail.gate.violations), or ask the policy owners.".into(),
            json!({ "gate": v.summary() }),
        )
    }
}

/// Whether another release deployed one of this release's levels after it was created.
fn stale(tx: &Tx<'_>, rel: &ReleaseRecord) -> ApiResult<Option<ApiError>> {
    for t in rel.targets.as_array().into_iter().flatten() {
        let s = |k: &str| {
            t.get(k)
                .and_then(Json::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let now_base = tx
            .deployed_values(&s("workloadId"), &s("environment"), &s("tenant"))?
            .map(|(_, r)| r);
        let base = t.get("base").and_then(Json::as_str).map(str::to_owned);
        if now_base != base {
            let any = |v: String| if v.is_empty() { "*".to_owned() } else { v };
            return Ok(Some(ApiError::new(
                StatusCode::CONFLICT,
                "release_stale",
                format!(
                    "Another release deployed {} ({}/{}) after this one was created.",
                    s("workload"),
                    any(s("environment")),
                    any(s("tenant")),
                ),
                "Cancel this release and create a new one from the pending changes.",
            )));
        }
    }
    Ok(None)
}

/// A render of the release was blocked: the release fails, nothing is committed, and the error
/// names the target, the policy and the object.
async fn render_blocked(
    hub: &Hub,
    caller: &Caller,
    name: &str,
    rel: &ReleaseRecord,
    target: &str,
    decision: gatehouse_engine::Decision,
) -> ApiError {
    let findings: Vec<Json> = decision
        .violations
        .iter()
        .map(|f| json!({"policy": f.policy, "rule": f.rule, "object": f.object, "message": f.message}))
        .collect();
    let why: Vec<String> = decision
        .violations
        .iter()
        .map(|f| {
            format!(
                "{} ({} on {})",
                f.message,
                f.policy,
                f.object.as_deref().unwrap_or("the render")
            )
        })
        .collect();
    let (c, r, t, d) = (
        caller.clone(),
        rel.clone(),
        target.to_owned(),
        decision.clone(),
    );
    let resource = format!("project/{name}/release/{}", rel.number);
    let details = json!({"target": target, "violations": findings});
    let recorded = details.clone();
    let written = blocking(
        hub,
        move |tx| {
            let note = format!("render of {t} blocked");
            if tx.release_transition(&r.id, state::APPROVED, state::FAILED)? {
                tx.release_event(
                    &r.id,
                    &c.actor(),
                    "render_blocked",
                    Some((state::APPROVED, state::FAILED)),
                    std::slice::from_ref(&d.decision_id),
                    Some(&note),
                )?;
            }
            tx.audit_append(
                &c.org.id,
                &AuditEntry {
                    actor: c.actor(),
                    action: "release.deploy.render_blocked".into(),
                    resource,
                    before: Some(json!({"state": state::APPROVED})),
                    after: Some(json!({"state": state::FAILED, "render": recorded})),
                    decision_id: Some(d.decision_id.clone()),
                },
            )?;
            Ok(())
        },
        true,
    )
    .await;
    if let Err(e) = written {
        return e;
    }
    ApiError::gated(
        StatusCode::FORBIDDEN,
        "render_blocked",
        format!("The render of {target} was blocked: {}", why.join("; ")),
        "Nothing was committed and the release failed. Fix the values or the chart so the objects named in detail.violations pass, then create a new release.".into(),
        details,
    )
}

/// A transition found the release no longer in the state it was read in (a safety net: steps
/// hold the release's lock).
fn moved_meanwhile() -> ApiError {
    ApiError::conflict("The release changed meanwhile.", "Read it again and retry.")
}

fn wrong_state(rel: &ReleaseRecord, doing: &str) -> ApiError {
    let (code, hint) = match rel.state.as_str() {
        state::DRAFT => ("not_submitted", "Submit it first (POST .../submit)."),
        state::PENDING => (
            "not_approved",
            "It is waiting for approvals: see gate.requirements for who is still needed.",
        ),
        state::APPROVED => ("already_approved", "Deploy it (POST .../deploy)."),
        state::DEPLOYED => (
            "already_deployed",
            "Create a new release for further changes.",
        ),
        state::REJECTED | state::CANCELLED | state::FAILED => (
            "release_closed",
            "It is closed; create a new release from the pending changes.",
        ),
        _ => ("release_busy", "Try again in a moment."),
    };
    ApiError::new(
        StatusCode::CONFLICT,
        code,
        format!(
            "Release #{} is {}: it cannot {doing}.",
            rel.number,
            rel.state.replace('_', " ")
        ),
        hint,
    )
}

// ----- steps -----

fn note_of(bytes: Result<Bytes, BytesRejection>) -> ApiResult<StepNote> {
    let bytes = super::body_bytes(bytes)?;
    if bytes.is_empty() {
        return Ok(StepNote::default());
    }
    let value: Json = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::invalid(".", format!("the body is not JSON: {e}")))?;
    parse_typed(value)
}

async fn reload(hub: &Hub, caller: &Caller, project: &str, id: &str) -> ApiResult<ReleaseView> {
    let (c, n, i) = (caller.clone(), project.to_owned(), id.to_owned());
    blocking(
        hub,
        move |tx| {
            let (_, rel) = load(tx, &c, &n, &i)?;
            view(tx, &n, rel, true)
        },
        false,
    )
    .await
}

async fn submit(
    State(hub): State<Hub>,
    Extension(caller): Extension<Caller>,
    path: Params,
    bytes: Result<Bytes, BytesRejection>,
) -> ApiResult<AxumJson<ReleaseView>> {
    note_of(bytes)?;
    let (name, id) = (param(&path, "project"), param(&path, "release"));
    let _lock = hub.targets.lock(format!("release:{id}")).await;
    if let Err(e) = submit_locked(&hub, &caller, &name, &id).await {
        audit_refusal(&hub, &caller, &name, &id, "release.submit.refused", &e).await;
        return Err(e);
    }
    Ok(AxumJson(reload(&hub, &caller, &name, &id).await?))
}

/// Evaluates the deploy gate of a release (with the caller as actor): the requirements it
/// still has decide between pending_approval and approved.
async fn gate(
    hub: &Hub,
    caller: &Caller,
    name: &str,
    id: &str,
) -> ApiResult<(ReleaseRecord, Verdict)> {
    let (c, n, i) = (caller.clone(), name.to_owned(), id.to_owned());
    let (rel, actions) = blocking(
        hub,
        move |tx| {
            let (p, rel) = load(tx, &c, &n, &i)?;
            let kind = kind_of(&rel, ActionKind::ReleaseDeploy);
            let actions = release_actions(tx, &c, &p, &rel, kind)?;
            Ok((rel, actions))
        },
        false,
    )
    .await?;
    Ok((rel, governance::decide_each(hub, actions).await?))
}

/// Whether a gate verdict has approvals still missing (freezes are judged at deploy time).
fn needs_approval(v: &Verdict) -> bool {
    !v.waiting_for().is_empty()
}

async fn submit_locked(hub: &Hub, caller: &Caller, name: &str, id: &str) -> ApiResult<()> {
    let (rel, verdict) = gate(hub, caller, name, id).await?;
    if rel.state != state::DRAFT {
        return Err(wrong_state(&rel, "be submitted"));
    }
    let to = if needs_approval(&verdict) {
        state::PENDING
    } else {
        state::APPROVED
    };
    let (c, n) = (caller.clone(), name.to_owned());
    let v = verdict.clone();
    blocking(
        hub,
        move |tx| {
            if !tx.release_transition(&rel.id, state::DRAFT, to)? {
                return Err(moved_meanwhile());
            }
            governance::record(tx, &c.org.id, &v, None)?;
            tx.release_set_gate(&rel.id, &v.summary())?;
            tx.release_event(
                &rel.id,
                &c.actor(),
                "submitted",
                Some((state::DRAFT, to)),
                &v.ids(),
                None,
            )?;
            tx.audit_append(
                &c.org.id,
                &AuditEntry {
                    actor: c.actor(),
                    action: "release.submit".into(),
                    resource: format!("project/{n}/release/{}", rel.number),
                    before: Some(json!({"state": state::DRAFT})),
                    after: Some(json!({"state": to, "waitingFor": v.waiting_for()})),
                    decision_id: v.ids().first().cloned(),
                },
            )?;
            Ok(())
        },
        true,
    )
    .await?;
    if to == state::APPROVED && rel.auto_deploy {
        deploy_locked(hub, caller, name, id).await?;
    }
    Ok(())
}

async fn approve(
    State(hub): State<Hub>,
    Extension(caller): Extension<Caller>,
    path: Params,
    bytes: Result<Bytes, BytesRejection>,
) -> ApiResult<AxumJson<ReleaseView>> {
    let note = note_of(bytes)?;
    let (name, id) = (param(&path, "project"), param(&path, "release"));
    let Who::User {
        id: user_id,
        name: user_name,
        ..
    } = caller.principal.clone()
    else {
        return Err(ApiError::forbidden(
            "Service accounts cannot approve releases: approvals are a person's judgement.",
            "Approve with a personal token.",
        ));
    };
    let _lock = hub.targets.lock(format!("release:{id}")).await;
    let (c, n, i, me) = (caller.clone(), name.clone(), id.clone(), user_id.clone());
    let loaded = blocking(
        &hub,
        move |tx| {
            let (p, rel) = load(tx, &c, &n, &i)?;
            if rel.state != state::PENDING {
                return Err(wrong_state(&rel, "be approved"));
            }
            if tx.approvals(&rel.id)?.iter().any(|a| a.user_id == me) {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "already_approved_by_you",
                    format!(
                        "You already approved release #{}; one person counts once.",
                        rel.number
                    ),
                    "Ask another eligible approver: see gate.requirements.",
                ));
            }
            let actions = release_actions(tx, &c, &p, &rel, ActionKind::ReleaseApprove)?;
            Ok((rel, actions))
        },
        false,
    )
    .await;
    let (rel, actions) = match loaded {
        Ok(x) => x,
        Err(e) => {
            audit_refusal(&hub, &caller, &name, &id, "release.approve.refused", &e).await;
            return Err(e);
        }
    };
    let verdict = governance::decide_each(&hub, actions).await?;
    let (c, n) = (caller.clone(), name.clone());
    let v = verdict.clone();
    let comment = note.comment.clone();
    let admitted = blocking(
        &hub,
        move |tx| {
            let resource = format!("project/{n}/release/{}", rel.number);
            if v.outcome != Outcome::Allow {
                governance::record(tx, &c.org.id, &v, None)?;
                tx.audit_append(
                    &c.org.id,
                    &AuditEntry {
                        actor: c.actor(),
                        action: "release.approve.deny".into(),
                        resource,
                        before: None,
                        after: None,
                        decision_id: v.ids().first().cloned(),
                    },
                )?;
                return Ok(false);
            }
            let record = ApprovalRecord {
                user_id: user_id.clone(),
                user_name: user_name.clone(),
                comment: comment.clone(),
                at: now(),
                decision_id: v.ids().first().cloned().unwrap_or_default(),
            };
            if !tx.approval_insert(&rel.id, &record)? {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "already_approved_by_you",
                    format!(
                        "You already approved release #{}; one person counts once.",
                        rel.number
                    ),
                    "Ask another eligible approver: see gate.requirements.",
                ));
            }
            governance::record(tx, &c.org.id, &v, Some(&json!({"approval": rel.id})))?;
            tx.release_event(
                &rel.id,
                &c.actor(),
                "approval",
                None,
                &v.ids(),
                comment.as_deref(),
            )?;
            tx.audit_append(
                &c.org.id,
                &AuditEntry {
                    actor: c.actor(),
                    action: "release.approve".into(),
                    resource,
                    before: None,
                    after: Some(json!({"approver": user_name, "comment": comment})),
                    decision_id: v.ids().first().cloned(),
                },
            )?;
            Ok(true)
        },
        true,
    )
    .await?;
    if !admitted {
        let e = approval_refused(&verdict);
        return Err(e);
    }
    // The gate again, with this approval counted.
    let (rel, verdict) = gate(&hub, &caller, &name, &id).await?;
    let approved = !needs_approval(&verdict);
    let (c, n) = (caller.clone(), name.clone());
    let v = verdict.clone();
    let moved = blocking(
        &hub,
        move |tx| {
            tx.release_set_gate(&rel.id, &v.summary())?;
            if !approved || !tx.release_transition(&rel.id, state::PENDING, state::APPROVED)? {
                return Ok(false);
            }
            governance::record(tx, &c.org.id, &v, None)?;
            tx.release_event(
                &rel.id,
                &c.actor(),
                "approved",
                Some((state::PENDING, state::APPROVED)),
                &v.ids(),
                None,
            )?;
            tx.audit_append(
                &c.org.id,
                &AuditEntry {
                    actor: c.actor(),
                    action: "release.approved".into(),
                    resource: format!("project/{n}/release/{}", rel.number),
                    before: Some(json!({"state": state::PENDING})),
                    after: Some(json!({"state": state::APPROVED})),
                    decision_id: v.ids().first().cloned(),
                },
            )?;
            Ok(rel.auto_deploy)
        },
        true,
    )
    .await?;
    if moved {
        // An automatic deploy that a freeze blocks leaves the release approved; the approval
        // itself stands, so the caller still gets the release back.
        if let Err(e) = deploy_locked(&hub, &caller, &name, &id).await {
            tracing::info!(release = %id, error = %e.message, "automatic deploy did not happen");
        }
    }
    Ok(AxumJson(reload(&hub, &caller, &name, &id).await?))
}

fn approval_refused(v: &Verdict) -> ApiError {
    let why: Vec<String> = v.violations().iter().map(|f| f.message.clone()).collect();
    ApiError::gated(
        StatusCode::CONFLICT,
        "approval_refused",
        format!("The approval is refused: {}", why.join("; ")),
        "Another eligible approver must approve: see the release's gate.requirements.".into(),
        json!({ "decision": v.summary() }),
    )
}

/// Records a refused step in the audit log (best effort: the refusal itself is the answer).
async fn audit_refusal(
    hub: &Hub,
    caller: &Caller,
    name: &str,
    id: &str,
    action: &str,
    e: &ApiError,
) {
    if e.status == StatusCode::NOT_FOUND {
        return;
    }
    let (c, n, i, a, why) = (
        caller.clone(),
        name.to_owned(),
        id.to_owned(),
        action.to_owned(),
        json!({"code": e.code, "message": e.message}),
    );
    let _ = blocking(
        hub,
        move |tx| {
            tx.audit_append(
                &c.org.id,
                &AuditEntry {
                    actor: c.actor(),
                    action: a,
                    resource: format!("project/{n}/release/{i}"),
                    before: None,
                    after: Some(why),
                    decision_id: None,
                },
            )?;
            Ok(())
        },
        true,
    )
    .await;
}

/// A step that closes a release: where it may start, where it ends, what it is called.
struct Closing {
    from: &'static [&'static str],
    to: &'static str,
    doing: &'static str,
    audit: &'static str,
}

const REJECT: Closing = Closing {
    from: &[state::PENDING],
    to: state::REJECTED,
    doing: "be rejected",
    audit: "release.reject",
};

const CANCEL: Closing = Closing {
    from: &[state::DRAFT, state::PENDING, state::APPROVED],
    to: state::CANCELLED,
    doing: "be cancelled",
    audit: "release.cancel",
};

async fn reject(
    State(hub): State<Hub>,
    Extension(caller): Extension<Caller>,
    path: Params,
    bytes: Result<Bytes, BytesRejection>,
) -> ApiResult<AxumJson<ReleaseView>> {
    let note = note_of(bytes)?;
    close(hub, caller, path, note, &REJECT).await
}

async fn cancel(
    State(hub): State<Hub>,
    Extension(caller): Extension<Caller>,
    path: Params,
    bytes: Result<Bytes, BytesRejection>,
) -> ApiResult<AxumJson<ReleaseView>> {
    let note = note_of(bytes)?;
    close(hub, caller, path, note, &CANCEL).await
}

async fn close(
    hub: Hub,
    caller: Caller,
    path: Params,
    note: StepNote,
    step: &'static Closing,
) -> ApiResult<AxumJson<ReleaseView>> {
    let (name, id) = (param(&path, "project"), param(&path, "release"));
    let _lock = hub.targets.lock(format!("release:{id}")).await;
    let (c, n, i) = (caller.clone(), name.clone(), id.clone());
    let done = blocking(
        &hub,
        move |tx| {
            let (_, rel) = load(tx, &c, &n, &i)?;
            if !step.from.contains(&rel.state.as_str()) {
                return Err(wrong_state(&rel, step.doing));
            }
            if !tx.release_transition(&rel.id, &rel.state, step.to)? {
                return Err(moved_meanwhile());
            }
            tx.release_event(
                &rel.id,
                &c.actor(),
                step.to,
                Some((&rel.state, step.to)),
                &[],
                note.comment.as_deref(),
            )?;
            tx.audit_append(
                &c.org.id,
                &AuditEntry {
                    actor: c.actor(),
                    action: step.audit.into(),
                    resource: format!("project/{n}/release/{}", rel.number),
                    before: Some(json!({"state": rel.state})),
                    after: Some(json!({"state": step.to, "note": note.comment})),
                    decision_id: None,
                },
            )?;
            Ok(rel)
        },
        true,
    )
    .await;
    match done {
        Err(e) => {
            let refused = format!("{}.refused", step.audit);
            audit_refusal(&hub, &caller, &name, &id, &refused, &e).await;
            return Err(e);
        }
        Ok(rel) => super::promotions::closed(&hub, &caller, &name, &rel, step.to).await?,
    }
    Ok(AxumJson(reload(&hub, &caller, &name, &id).await?))
}

async fn deploy(
    State(hub): State<Hub>,
    Extension(caller): Extension<Caller>,
    path: Params,
    bytes: Result<Bytes, BytesRejection>,
) -> ApiResult<AxumJson<ReleaseView>> {
    note_of(bytes)?;
    let (name, id) = (param(&path, "project"), param(&path, "release"));
    let _lock = hub.targets.lock(format!("release:{id}")).await;
    if let Err(e) = deploy_locked(&hub, &caller, &name, &id).await {
        audit_refusal(&hub, &caller, &name, &id, "release.deploy.refused", &e).await;
        return Err(e);
    }
    Ok(AxumJson(reload(&hub, &caller, &name, &id).await?))
}

/// Deploys an approved release, the engine deciding again now. Call with the release's lock.
///
/// When the gate allows, the delivery generator renders every target the release touches and
/// puts each render through the render gate; only when all pass is the project's repository
/// committed (one commit) and the release marked deployed. Deploys of one project queue.
async fn deploy_locked(hub: &Hub, caller: &Caller, name: &str, id: &str) -> ApiResult<()> {
    let (rel, verdict) = gate(hub, caller, name, id).await?;
    if rel.state != state::APPROVED {
        return Err(wrong_state(&rel, "be deployed"));
    }
    let _project_lock = hub
        .targets
        .lock(format!("deploy:{}:{name}", caller.org.id))
        .await;
    let mut commit = None;
    if verdict.outcome == Outcome::Allow {
        let (h, c, n, r) = (hub.clone(), caller.clone(), name.to_owned(), rel.clone());
        let planned = blocking(
            hub,
            move |tx| {
                if let Some(e) = stale(tx, &r)? {
                    return Ok(Err(Ok(e)));
                }
                let p = project(tx, &c.org.id, &n)?;
                Ok(match delivery::plan(&h, tx, &c.org, &p, &r)? {
                    Ok(plan) => Ok((p, plan)),
                    Err(blocked) => Err(Err(blocked)),
                })
            },
            false,
        )
        .await?;
        let (p, plan) = match planned {
            Ok(ok) => ok,
            Err(Ok(stale)) => return Err(stale),
            Err(Err(delivery::Blocked::Denied(target, decision))) => {
                return Err(render_blocked(hub, caller, name, &rel, &target, *decision).await);
            }
            Err(Err(delivery::Blocked::Invalid(target, problems))) => {
                return Err(ApiError::gated(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "render_invalid",
                    format!(
                        "The render of {target} is not valid Kubernetes: {}",
                        problems.join("; ")
                    ),
                    "Nothing was committed. Fix the values or the chart so the objects match their schemas (each problem names the object and the field) in a new release, and cancel this one.".into(),
                    json!({"target": target, "problems": problems}),
                ));
            }
        };
        let (h, c, r) = (hub.clone(), caller.clone(), rel.clone());
        commit =
            tokio::task::spawn_blocking(move || delivery::commit(&h, &c.org, &p, &r, &c, &plan))
                .await
                .map_err(ApiError::internal)??;
        // The clusters' agents compare their live objects with the new commit.
        super::agents::desired::refresh(hub, &caller.org.id);
    }
    let (c, n) = (caller.clone(), name.to_owned());
    let v = verdict.clone();
    let done = rel.clone();
    let outcome = blocking(
        hub,
        move |tx| {
            let resource = format!("project/{n}/release/{}", rel.number);
            tx.release_set_gate(&rel.id, &v.summary())?;
            match v.outcome {
                Outcome::Allow => {}
                Outcome::Pending => {
                    // Approvals stopped counting (an approver left the team, a policy changed).
                    governance::record(tx, &c.org.id, &v, None)?;
                    if tx.release_transition(&rel.id, state::APPROVED, state::PENDING)? {
                        tx.release_event(&rel.id, &c.actor(), "approval_lapsed", Some((state::APPROVED, state::PENDING)), &v.ids(), None)?;
                    }
                    tx.audit_append(&c.org.id, &AuditEntry {
                        actor: c.actor(),
                        action: "release.deploy.pending".into(),
                        resource,
                        before: None,
                        after: Some(json!({"waitingFor": v.waiting_for()})),
                        decision_id: v.ids().first().cloned(),
                    })?;
                    return Ok(Err(ApiError::gated(
                        StatusCode::CONFLICT,
                        "not_approved",
                        format!("The release's approvals no longer suffice: {}.", v.waiting_for().join("; ")),
                        "Collect the approvals named in detail.gate.requirements; the release is waiting for approval again.".into(),
                        json!({"gate": v.summary()}),
                    )));
                }
                Outcome::Deny => {
                    governance::record(tx, &c.org.id, &v, None)?;
                    tx.release_event(&rel.id, &c.actor(), "deploy_blocked", None, &v.ids(), None)?;
                    tx.audit_append(&c.org.id, &AuditEntry {
                        actor: c.actor(),
                        action: "release.deploy.deny".into(),
                        resource,
                        before: None,
                        after: None,
                        decision_id: v.ids().first().cloned(),
                    })?;
                    return Ok(Err(denied(&v, "The release cannot be deployed")));
                }
            }
            // Each level must still be where the release found it.
            if let Some(e) = stale(tx, &rel)? {
                return Ok(Err(e));
            }
            let targets = rel.targets.as_array().cloned().unwrap_or_default();
            if !tx.release_transition(&rel.id, state::APPROVED, state::DEPLOYING)? {
                return Ok(Err(moved_meanwhile()));
            }
            let marked = if v.sessions.is_empty() {
                None
            } else {
                Some(format!("under break-glass {}", v.sessions.iter().cloned().collect::<Vec<_>>().join(", ")))
            };
            tx.release_event(&rel.id, &c.actor(), "deploying", Some((state::APPROVED, state::DEPLOYING)), &v.ids(), marked.as_deref())?;
            for t in &targets {
                let s = |k: &str| t.get(k).and_then(Json::as_str).unwrap_or_default().to_owned();
                let values = t.get("values").cloned().unwrap_or(json!({}));
                tx.deployed_put(&s("workloadId"), &s("environment"), &s("tenant"), &values, &rel.id)?;
            }
            if !rel.rollback.is_null() || !rel.promotion.is_null() {
                // A rollback or promotion sets the staged values too, so what it deployed is
                // not offered again as pending.
                for t in &targets {
                    let s = |k: &str| t.get(k).and_then(Json::as_str).unwrap_or_default().to_owned();
                    let values = t.get("values").cloned().unwrap_or(json!({}));
                    tx.values_put(&s("workloadId"), &s("environment"), &s("tenant"), &values, &c.actor())?;
                }
            }
            tx.release_deployed_at(&rel.id)?;
            if let Some(sha) = &commit {
                tx.release_commit(&rel.id, sha)?;
            }
            if !tx.release_transition(&rel.id, state::DEPLOYING, state::DEPLOYED)? {
                return Err(ApiError::internal("the release left deploying while it deployed"));
            }
            governance::record(tx, &c.org.id, &v, Some(&json!({"release": rel.id, "targets": targets})))?;
            tx.release_event(&rel.id, &c.actor(), "deployed", Some((state::DEPLOYING, state::DEPLOYED)), &v.ids(), marked.as_deref())?;
            tx.audit_append(&c.org.id, &AuditEntry {
                actor: c.actor(),
                action: "release.deploy".into(),
                resource,
                before: Some(json!({"state": state::APPROVED})),
                after: Some(json!({"state": state::DEPLOYED, "targets": targets, "breakglass": v.sessions, "commit": commit})),
                decision_id: v.ids().first().cloned(),
            })?;
            Ok(Ok(()))
        },
        true,
    )
    .await?;
    if outcome.is_ok() && !done.promotion.is_null() {
        super::promotions::deployed(hub.clone(), caller.clone(), name.to_owned(), done).await?;
    }
    outcome
}
