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
//! deploy. Deploying renders every target the release touches through the render gate and
//! commits the result to the project's repository ([`super::delivery`]); `GET .../diff` shows
//! that commit's diff beforehand.

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

mod actions;
mod changes;
mod create;
mod preview;
mod steps;

use actions::*;
use changes::*;
use create::*;
use preview::preview;
use steps::*;

pub(crate) use changes::Pending;
pub(crate) use create::open_release;

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
            Method::GET,
            format!("{one}/diff"),
            "releases.diff",
            Need::Project(Grant::Read),
            "What deploying the release would change in the project's repository: each file's unified diff, rendered, validated and gated as the deploy does it; nothing is written",
        )
        .response(200, json::<preview::Preview>())
        .handler(preview),
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
