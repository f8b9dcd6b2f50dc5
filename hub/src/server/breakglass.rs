//! Break-glass sessions: an incident path around freezes and approval requirements.
//!
//! Opening one is itself a governed action (`breakglass.open`: the library's policy asks for a
//! justification of some length, a known severity and a bounded duration). A session belongs
//! to the person who opened it and covers a scope (project, environment, workload; absent
//! means any). While it is live — not closed, not expired; expiry needs no one — the engine
//! sees it among the facts of that person's actions, and the freeze and approval policies lift
//! their gates within its scope. Every decision a session lifted is noted on it, and closing it
//! takes a note and seals the session, with everything done under it, in the audit log; a
//! session that expires without a close is sealed the same way by the hub itself.

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json as AxumJson};
use gatehouse_engine::Outcome;
use gatehouse_engine::action::{
    ACTION_VERSION, Action, ActionKind, BreakglassRequest, Scope, SessionScope, Subject,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value as Json, json};

use super::access::{Caller, Need, Principal as Who, Role};
use super::error::{ApiError, ApiResult};
use super::governance::{self, About};
use super::routes::{Params, Route, json, param, route};
use super::store::{AuditEntry, SessionRecord, new_id, now};
use super::{Hub, blocking, body_json, parse_typed};

/// A request to open a session.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct OpenSession {
    /// The project it covers (absent: any).
    #[serde(default)]
    pub project: Option<String>,
    /// The environment it covers (absent: any).
    #[serde(default)]
    pub environment: Option<String>,
    /// The workload it covers (absent: any).
    #[serde(default)]
    pub workload: Option<String>,
    /// Why the normal path cannot be used: the incident, its impact, what you will do.
    #[serde(default)]
    pub justification: String,
    /// Incident severity (`P1` ... `P4` by default).
    #[serde(default)]
    pub severity: String,
    /// How long it lasts, in minutes (default 60; the policy sets the maximum).
    #[serde(default)]
    pub duration_minutes: Option<u32>,
}

/// Closing a session.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct CloseSession {
    /// What was done and how it ended.
    pub note: String,
}

/// A session as the API shows it.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SessionView {
    /// Session id.
    pub id: String,
    /// Whose.
    pub user: String,
    /// `live`, `expired` or `closed`.
    pub state: String,
    /// Project covered (absent: any).
    pub project: Option<String>,
    /// Environment covered (absent: any).
    pub environment: Option<String>,
    /// Workload covered (absent: any).
    pub workload: Option<String>,
    /// Why.
    pub justification: String,
    /// Severity.
    pub severity: String,
    /// Opened.
    pub opened_at: String,
    /// Ends by itself.
    pub expires_at: String,
    /// Closed by hand.
    pub closed_at: Option<String>,
    /// The closing note.
    pub close_note: Option<String>,
    /// The decision that opened it.
    pub decision: String,
    /// What was done under it.
    pub actions: Json,
}

fn view(s: SessionRecord) -> SessionView {
    let state = if s.closed_at.is_some() {
        "closed"
    } else if s.live(&now()) {
        "live"
    } else {
        "expired"
    };
    SessionView {
        id: s.id,
        user: s.user_name,
        state: state.into(),
        project: s.project,
        environment: s.environment,
        workload: s.workload,
        justification: s.justification,
        severity: s.severity,
        opened_at: s.opened_at,
        expires_at: s.expires_at,
        closed_at: s.closed_at,
        close_note: s.close_note,
        decision: s.decision_id,
        actions: s.actions,
    }
}

/// The routes of this module.
pub(crate) fn routes() -> Vec<Route> {
    vec![
        route(
            Method::POST,
            "/api/v2/breakglass",
            "breakglass.open",
            Need::Operate,
            "Open a break-glass session; decided by the engine (breakglass.open)",
        )
        .request(json::<OpenSession>())
        .response(201, json::<SessionView>())
        .handler(open),
        route(
            Method::GET,
            "/api/v2/breakglass",
            "breakglass.list",
            Need::OrgRead,
            "Break-glass sessions, newest first",
        )
        .response(200, None)
        .handler(list),
        route(
            Method::GET,
            "/api/v2/breakglass/{session}",
            "breakglass.get",
            Need::OrgRead,
            "One break-glass session with what was done under it",
        )
        .response(200, json::<SessionView>())
        .handler(get),
        route(
            Method::POST,
            "/api/v2/breakglass/{session}/close",
            "breakglass.close",
            Need::Operate,
            "Close a session with a note; seals it in the audit log",
        )
        .request(json::<CloseSession>())
        .response(200, json::<SessionView>())
        .handler(close),
    ]
}

async fn open(
    State(hub): State<Hub>,
    Extension(caller): Extension<Caller>,
    bytes: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let req: OpenSession = parse_typed(body_json(bytes)?)?;
    let Who::User {
        id: user_id,
        name: user_name,
        ..
    } = caller.principal.clone()
    else {
        return Err(ApiError::forbidden(
            "Service accounts cannot open break-glass sessions: a session is a person's responsibility.",
            "Open it with a personal token.",
        ));
    };
    let (c, r) = (caller.clone(), req.clone());
    let action = blocking(
        &hub,
        move |tx| {
            if let Some(p) = &r.project {
                let proj = super::resources::project(tx, &c.org.id, p)
                    .map_err(|_| ApiError::invalid("project", format!("`{p}` is not a project")))?;
                if let Some(e) = &r.environment
                    && tx
                        .resource(&c.org.id, Some(&proj.id), "project_environment", e)?
                        .is_none()
                {
                    return Err(ApiError::invalid(
                        "environment",
                        format!("`{e}` is not an environment of project `{p}`"),
                    ));
                }
                if let Some(w) = &r.workload
                    && tx
                        .resource(&c.org.id, Some(&proj.id), "workload", w)?
                        .is_none()
                {
                    return Err(ApiError::invalid(
                        "workload",
                        format!("`{w}` is not a workload of project `{p}`"),
                    ));
                }
            }
            let facts = governance::facts(
                tx,
                &c.org,
                About {
                    release: None,
                    project: r.project.as_deref(),
                },
            )?;
            Ok(Action {
                version: ACTION_VERSION,
                kind: ActionKind::BreakglassOpen,
                id: None,
                time: Some(now()),
                actor: c.engine_actor(),
                scope: Scope {
                    org: c.org.name.clone(),
                    project: r.project.clone(),
                    environment: r.environment.clone(),
                    tenant: None,
                    workload: r.workload.clone(),
                    cluster: None,
                },
                subject: Subject {
                    breakglass: Some(BreakglassRequest {
                        justification: r.justification.clone(),
                        severity: r.severity.clone(),
                        scope: SessionScope {
                            environment: r.environment.clone(),
                            workload: r.workload.clone(),
                        },
                        duration_minutes: r.duration_minutes,
                    }),
                    ..Subject::default()
                },
                facts,
                context: Default::default(),
            })
        },
        false,
    )
    .await?;
    let verdict = governance::decide_each(&hub, vec![action]).await?;
    let c = caller.clone();
    let v = verdict.clone();
    let minutes = i64::from(req.duration_minutes.unwrap_or(60));
    let session = blocking(
        &hub,
        move |tx| {
            if v.outcome != Outcome::Allow {
                governance::record(tx, &c.org.id, &v, None)?;
                tx.audit_append(
                    &c.org.id,
                    &AuditEntry {
                        actor: c.actor(),
                        action: "breakglass.open.deny".into(),
                        resource: "breakglass".into(),
                        before: None,
                        after: Some(
                            json!({"justification": req.justification, "severity": req.severity}),
                        ),
                        decision_id: v.ids().first().cloned(),
                    },
                )?;
                return Ok(None);
            }
            let opened = chrono::Utc::now();
            let expires = opened + chrono::Duration::minutes(minutes);
            let fmt = |t: chrono::DateTime<chrono::Utc>| {
                t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
            };
            let s = SessionRecord {
                id: format!("bg_{}", new_id()),
                org_id: c.org.id.clone(),
                user_id,
                user_name,
                project: req.project,
                environment: req.environment,
                workload: req.workload,
                justification: req.justification.trim().to_owned(),
                severity: req.severity,
                opened_at: fmt(opened),
                expires_at: fmt(expires),
                closed_at: None,
                close_note: None,
                decision_id: v.ids().first().cloned().unwrap_or_default(),
                actions: json!([]),
            };
            tx.session_insert(&s)?;
            governance::record(tx, &c.org.id, &v, Some(&json!({"session": s.id})))?;
            tx.audit_append(
                &c.org.id,
                &AuditEntry {
                    actor: c.actor(),
                    action: "breakglass.open".into(),
                    resource: format!("breakglass/{}", s.id),
                    before: None,
                    after: Some(json!({
                        "project": s.project, "environment": s.environment, "workload": s.workload,
                        "justification": s.justification, "severity": s.severity,
                        "expiresAt": s.expires_at,
                    })),
                    decision_id: Some(s.decision_id.clone()),
                },
            )?;
            Ok(Some(s))
        },
        true,
    )
    .await?;
    match session {
        Some(s) => Ok((StatusCode::CREATED, AxumJson(view(s))).into_response()),
        None => {
            let why: Vec<String> = verdict
                .violations()
                .iter()
                .map(|f| f.message.clone())
                .collect();
            Err(ApiError::gated(
                StatusCode::CONFLICT,
                "policy_denied",
                format!(
                    "The break-glass session cannot be opened: {}",
                    why.join(" ")
                ),
                "Give what the policy asks for (see detail.decision.violations) and open it again."
                    .into(),
                json!({ "decision": verdict.summary() }),
            ))
        }
    }
}

/// The audit entry that seals a closed session: its scope, why, when, the closing note and
/// everything done under it.
fn seal(s: &SessionRecord, actor: String, action: &str) -> AuditEntry {
    AuditEntry {
        actor,
        action: action.into(),
        resource: format!("breakglass/{}", s.id),
        before: None,
        after: Some(json!({
            "user": s.user_name,
            "scope": {"project": s.project, "environment": s.environment, "workload": s.workload},
            "justification": s.justification,
            "severity": s.severity,
            "openedAt": s.opened_at,
            "expiresAt": s.expires_at,
            "closedAt": s.closed_at,
            "note": s.close_note,
            "actions": s.actions,
        })),
        decision_id: Some(s.decision_id.clone()),
    }
}

/// Seals every session that expired without being closed, as of its expiry, in its
/// organization's audit log (actor `system`); returns how many.
pub fn seal_expired(hub: &Hub) -> ApiResult<usize> {
    hub.store.write(|tx| {
        let expired = tx.sessions_expired(&now())?;
        for s in &expired {
            tx.session_close_at(&s.id, &s.expires_at, "expired without a closing note")?;
            let sealed = tx
                .session(&s.org_id, &s.id)?
                .ok_or_else(|| ApiError::internal("the session vanished"))?;
            tx.audit_append(
                &s.org_id,
                &seal(&sealed, "system".into(), "breakglass.expired"),
            )?;
        }
        Ok(expired.len())
    })
}

/// Seals expired sessions every few seconds, until the process ends.
pub fn spawn_sealer(hub: Hub) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let h = hub.clone();
            match tokio::task::spawn_blocking(move || seal_expired(&h)).await {
                Ok(Err(e)) => {
                    tracing::warn!(error = %e.message, "cannot seal expired break-glass sessions")
                }
                Err(e) => tracing::warn!(error = %e, "the break-glass sealer failed"),
                Ok(Ok(_)) => {}
            }
            tokio::time::sleep(std::time::Duration::from_secs(5)).await;
        }
    })
}

async fn list(
    State(hub): State<Hub>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<AxumJson<Json>> {
    blocking(
        &hub,
        move |tx| {
            let items: Vec<SessionView> = tx
                .sessions(&caller.org.id, None)?
                .into_iter()
                .map(view)
                .collect();
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
) -> ApiResult<AxumJson<SessionView>> {
    let id = param(&path, "session");
    blocking(
        &hub,
        move |tx| {
            let s = tx
                .session(&caller.org.id, &id)?
                .ok_or_else(|| ApiError::not_found(format!("break-glass session `{id}`")))?;
            Ok(AxumJson(view(s)))
        },
        false,
    )
    .await
}

async fn close(
    State(hub): State<Hub>,
    Extension(caller): Extension<Caller>,
    path: Params,
    bytes: Result<Bytes, BytesRejection>,
) -> ApiResult<AxumJson<SessionView>> {
    let req: CloseSession = parse_typed(body_json(bytes)?)?;
    let id = param(&path, "session");
    blocking(
        &hub,
        move |tx| {
            let s = tx
                .session(&caller.org.id, &id)?
                .ok_or_else(|| ApiError::not_found(format!("break-glass session `{id}`")))?;
            let own = matches!(&caller.principal, Who::User { id, .. } if *id == s.user_id);
            let admin = matches!(caller.role(), Some(Role::Owner | Role::Admin));
            if !own && !admin {
                return Err(ApiError::forbidden(
                    format!(
                        "Session {id} is {}'s; only they or an admin can close it.",
                        s.user_name
                    ),
                    "Ask them, or an admin of the organization.",
                ));
            }
            if req.note.trim().is_empty() {
                return Err(ApiError::invalid(
                    "note",
                    "closing a session needs a note: what was done and how it ended",
                ));
            }
            if s.closed_at.is_some() {
                return Err(ApiError::conflict(
                    format!("Session {id} is already closed."),
                    "Nothing to do: it is sealed in the audit log.",
                ));
            }
            tx.session_close(&s.id, req.note.trim())?;
            let sealed = tx
                .session(&caller.org.id, &id)?
                .ok_or_else(|| ApiError::internal("the session vanished"))?;
            tx.audit_append(
                &caller.org.id,
                &seal(&sealed, caller.actor(), "breakglass.close"),
            )?;
            Ok(AxumJson(view(sealed)))
        },
        true,
    )
    .await
}
