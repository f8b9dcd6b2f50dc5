//! Cluster commands (sync, rollback, restart, scale): decided by the engine as `command`
//! actions (cluster approval policies, freezes, break-glass), sealed with an expiry and a
//! digest, sent to the cluster's agent, and followed to the end the agent reports. A command
//! waiting for approvals stays `pending` until enough people approve it; an approved one
//! waits for the agent if it is not connected and is sent when it connects, unless it expired
//! by then.
//!
//! States: `pending` → `executing` (the agent accepted it) → `completed` | `failed`; and
//! `rejected`, by the hub's decision or by the agent (digest, expiry, capability, or its local
//! policy).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json as AxumJson};
use chrono::{SecondsFormat, Utc};
use gatehouse_agent_proto::v1::hub_message::Body as Down;
use gatehouse_agent_proto::v1::{CommandAck, CommandResult, RotateToken, TokenRotated};
use gatehouse_agent_proto::{CommandKind, CommandSpec, Target};
use gatehouse_engine::action::{ACTION_VERSION, ClusterRef, Command, ObjectRef, Scope, Subject};
use gatehouse_engine::{Action, ActionKind, Outcome};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value as Json, json};

use super::Session;
use crate::server::access::{Caller, Principal as Who, mint};
use crate::server::error::{ApiError, ApiResult};
use crate::server::governance::{self, About};
use crate::server::resources::{self, ClusterSpec, kind};
use crate::server::routes::{Params, param};
use crate::server::store::{
    ApprovalRecord, AuditEntry, CommandRecord, Resource, TokenKind, Tx, new_id, now,
};
use crate::server::{Hub, blocking, body_json, parse_typed};

/// A command as asked for.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct NewCommand {
    /// `sync`, `rollback` (Argo CD Applications), `restart`, `scale` (Deployments).
    #[serde(rename = "type")]
    pub kind: String,
    /// The object: namespace and name (the kind follows from the type).
    pub target: NewTarget,
    /// `replicas` for scale; `id` (the Argo CD history id) for rollback.
    #[serde(default)]
    pub params: BTreeMap<String, Json>,
    /// Why (recorded with the command).
    #[serde(default)]
    pub reason: Option<String>,
}

/// The object a new command acts on.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewTarget {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
}

/// An approval of a command.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ApproveCommand {
    /// A comment for the record.
    #[serde(default)]
    pub comment: Option<String>,
}

/// A command as the API shows it.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CommandView {
    pub id: String,
    pub cluster: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub target: Json,
    pub params: Json,
    pub reason: Option<String>,
    pub requested_by: String,
    /// pending, executing, completed, failed, rejected.
    pub state: String,
    /// Whether the hub's policies allowed it (false while it waits for approvals).
    pub approved: bool,
    pub approvals: Vec<Json>,
    pub decision_ids: Vec<String>,
    /// SHA-256 of the spec sent to the agent.
    pub spec_sha256: Option<String>,
    pub expires_at: String,
    pub output: Option<String>,
    pub created_at: String,
    pub sent_at: Option<String>,
    pub finished_at: Option<String>,
}

fn view(tx: &Tx<'_>, cluster: &str, c: &CommandRecord) -> ApiResult<CommandView> {
    let approvals = tx
        .command_approvals(&c.id)?
        .into_iter()
        .map(|a| json!({ "user": a.user_name, "at": a.at, "comment": a.comment }))
        .collect();
    Ok(CommandView {
        id: c.id.clone(),
        cluster: cluster.to_owned(),
        kind: c.kind.clone(),
        target: c.target.clone(),
        params: c.params.clone(),
        reason: c.reason.clone(),
        requested_by: c.requested_by.clone(),
        state: c.state.clone(),
        approved: c.approved,
        approvals,
        decision_ids: c.decision_ids.clone(),
        spec_sha256: c.spec_sha256.clone(),
        expires_at: c.expires_at.clone(),
        output: c.output.clone(),
        created_at: c.created_at.clone(),
        sent_at: c.sent_at.clone(),
        finished_at: c.finished_at.clone(),
    })
}

fn cluster_of(tx: &Tx<'_>, caller: &Caller, name: &str) -> ApiResult<Resource> {
    let def = kind("cluster").ok_or_else(|| ApiError::internal("the cluster kind is missing"))?;
    resources::existing(tx, def, &caller.org.id, None, name)
}

/// The `command` action for a stored command, decided as its requester.
fn action(
    tx: &Tx<'_>,
    caller: &Caller,
    cluster: &Resource,
    c: &CommandRecord,
) -> ApiResult<Action> {
    let spec: ClusterSpec = serde_json::from_value(cluster.spec.clone()).unwrap_or_default();
    let mut facts = governance::facts(
        tx,
        &caller.org,
        About {
            release: None,
            project: None,
        },
    )?;
    for a in tx.command_approvals(&c.id)? {
        if let Some(actor) = governance::actor_now(tx, &caller.org.id, &a.user_id)? {
            facts.approvals.push(gatehouse_engine::action::Approval {
                actor,
                at: Some(a.at.clone()),
                comment: a.comment.clone(),
            });
        }
    }
    // The requester is the actor, whoever re-decides (an approver, or the hub at dispatch).
    let actor = if c.requester_id == caller.id() {
        caller.engine_actor()
    } else {
        governance::actor_now(tx, &caller.org.id, &c.requester_id)?.unwrap_or_else(|| {
            gatehouse_engine::action::Actor {
                id: c.requester_id.clone(),
                kind: gatehouse_engine::action::ActorKind::User,
                name: None,
                role: None,
                teams: Vec::new(),
            }
        })
    };
    Ok(Action {
        version: ACTION_VERSION,
        kind: ActionKind::Command,
        id: Some(c.id.clone()),
        time: Some(now()),
        actor,
        scope: Scope {
            org: caller.org.name.clone(),
            environment: spec.environment.clone(),
            cluster: Some(ClusterRef {
                name: cluster.name.clone(),
                labels: spec.labels.clone(),
            }),
            ..Scope::default()
        },
        subject: Subject {
            command: Some(Command {
                kind: c.kind.clone(),
                target: ObjectRef {
                    kind: c
                        .target
                        .get("kind")
                        .and_then(Json::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                    namespace: c
                        .target
                        .get("namespace")
                        .and_then(Json::as_str)
                        .map(str::to_owned),
                    name: c
                        .target
                        .get("name")
                        .and_then(Json::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                },
                params: serde_json::from_value(c.params.clone()).unwrap_or_default(),
            }),
            ..Subject::default()
        },
        facts,
        context: Default::default(),
    })
}

/// Seals a command for its cluster: the spec the agent will check and act on.
fn seal(c: &mut CommandRecord, cluster: &Resource) -> ApiResult<()> {
    let kind = CommandKind::parse(&c.kind)
        .ok_or_else(|| ApiError::internal("a stored command kind is unknown"))?;
    let s = |k: &str| {
        c.target
            .get(k)
            .and_then(Json::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let spec = CommandSpec {
        id: c.id.clone(),
        cluster_id: cluster.id.clone(),
        cluster: cluster.name.clone(),
        kind,
        target: Target {
            kind: s("kind"),
            namespace: s("namespace"),
            name: s("name"),
        },
        params: serde_json::from_value(c.params.clone()).unwrap_or_default(),
        requested_by: c.requested_by.clone(),
        decision_id: c.decision_ids.last().cloned().unwrap_or_default(),
        issued_at: c.created_at.clone(),
        expires_at: c.expires_at.clone(),
    };
    let sealed = spec.seal();
    c.spec = Some(sealed.spec);
    c.spec_sha256 = Some(sealed.spec_sha256);
    Ok(())
}

/// Sends an approved, sealed command over `session`, marking when.
fn send(session: &Session, c: &mut CommandRecord) -> bool {
    let (Some(spec), Some(sha)) = (c.spec.clone(), c.spec_sha256.clone()) else {
        return false;
    };
    let sent = session.send(Down::Execute(gatehouse_agent_proto::v1::ExecuteCommand {
        spec,
        spec_sha256: sha,
    }));
    if sent {
        c.sent_at = Some(now());
    }
    sent
}

fn audit(
    tx: &Tx<'_>,
    org_id: &str,
    actor: &str,
    action: &str,
    cluster: &str,
    c: &CommandRecord,
    decision: Option<String>,
) -> ApiResult<()> {
    tx.audit_append(
        org_id,
        &AuditEntry {
            actor: actor.to_owned(),
            action: action.into(),
            resource: format!("cluster/{cluster}/command/{}", c.id),
            after: Some(json!({
                "type": c.kind, "target": c.target, "params": c.params, "state": c.state,
                "output": c.output, "specSha256": c.spec_sha256,
            })),
            decision_id: decision,
            ..AuditEntry::default()
        },
    )?;
    Ok(())
}

/// `POST /api/v2/clusters/{name}/commands`
pub(crate) async fn create(
    State(hub): State<Hub>,
    Extension(caller): Extension<Caller>,
    path: Params,
    bytes: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let name = param(&path, "name");
    let req: NewCommand = parse_typed(body_json(bytes)?)?;
    let kind = CommandKind::parse(&req.kind).ok_or_else(|| {
        ApiError::invalid(
            "type",
            format!(
                "`{}` is not a command; use sync, rollback, restart or scale",
                req.kind
            ),
        )
    })?;
    let target = json!({ "kind": kind.target_kind(), "namespace": req.target.namespace, "name": req.target.name });
    let created = now();
    let expires =
        (Utc::now() + hub.config.agents.command_ttl).to_rfc3339_opts(SecondsFormat::Micros, true);
    let mut record = CommandRecord {
        id: format!("cmd_{}", new_id()),
        org_id: caller.org.id.clone(),
        cluster_id: String::new(),
        kind: kind.as_str().to_owned(),
        target,
        params: serde_json::to_value(&req.params).map_err(ApiError::internal)?,
        reason: req.reason.clone(),
        requester_id: caller.id().to_owned(),
        requested_by: caller.actor(),
        state: "pending".into(),
        approved: false,
        decision_ids: Vec::new(),
        spec: None,
        spec_sha256: None,
        expires_at: expires,
        output: None,
        created_at: created.clone(),
        sent_at: None,
        finished_at: None,
        updated_at: created,
    };
    // The shape rules the agent applies, checked here first so a bad request is a 400.
    let probe = CommandSpec {
        id: record.id.clone(),
        cluster_id: String::new(),
        cluster: name.clone(),
        kind,
        target: Target {
            kind: kind.target_kind().into(),
            namespace: req.target.namespace.clone(),
            name: req.target.name.clone(),
        },
        params: req.params.clone(),
        requested_by: String::new(),
        decision_id: String::new(),
        issued_at: String::new(),
        expires_at: String::new(),
    };
    probe
        .check()
        .map_err(|e| ApiError::invalid("params", e.to_string()))?;

    let (c, n, r) = (caller.clone(), name.clone(), record.clone());
    let (cluster, act) = blocking(
        &hub,
        move |tx| {
            let cluster = cluster_of(tx, &c, &n)?;
            let mut r = r;
            r.cluster_id = cluster.id.clone();
            let a = action(tx, &c, &cluster, &r)?;
            Ok((cluster, a))
        },
        false,
    )
    .await?;
    record.cluster_id = cluster.id.clone();
    let verdict = governance::decide_each(&hub, vec![act]).await?;
    record.decision_ids = verdict.ids();
    match verdict.outcome {
        Outcome::Deny => {
            record.state = "rejected".into();
            record.output = Some(
                verdict
                    .violations()
                    .iter()
                    .map(|v| v.message.clone())
                    .collect::<Vec<_>>()
                    .join("; "),
            );
            record.finished_at = Some(now());
        }
        Outcome::Pending => {}
        Outcome::Allow => {
            record.approved = true;
            seal(&mut record, &cluster)?;
        }
    }
    let session = hub.agents.get(&cluster.id);
    if record.approved
        && let Some(s) = &session
    {
        send(s, &mut record);
    }
    let (c, v, rec, cl) = (
        caller.clone(),
        verdict.clone(),
        record.clone(),
        cluster.clone(),
    );
    let shown = blocking(
        &hub,
        move |tx| {
            governance::record(tx, &c.org.id, &v, None)?;
            tx.command_insert(&rec)?;
            let action = if rec.state == "rejected" {
                "clusters.command.rejected"
            } else {
                "clusters.command"
            };
            audit(
                tx,
                &c.org.id,
                &c.actor(),
                action,
                &cl.name,
                &rec,
                rec.decision_ids.last().cloned(),
            )?;
            view(tx, &cl.name, &rec)
        },
        true,
    )
    .await?;
    if record.state == "rejected" {
        return Err(ApiError::gated(
            StatusCode::FORBIDDEN,
            "command_denied",
            format!(
                "The policies deny this command: {}",
                record.output.clone().unwrap_or_default()
            ),
            "Change the command, or ask for a break-glass session if this is an emergency.".into(),
            json!({ "command": shown, "decision": verdict.summary() }),
        ));
    }
    let mut body = serde_json::to_value(&shown).map_err(ApiError::internal)?;
    body["waitingFor"] = json!(verdict.waiting_for());
    body["agentConnected"] = json!(session.is_some());
    Ok((StatusCode::ACCEPTED, AxumJson(body)).into_response())
}

/// `POST /api/v2/clusters/{name}/commands/{command}/approve`
pub(crate) async fn approve(
    State(hub): State<Hub>,
    Extension(caller): Extension<Caller>,
    path: Params,
    bytes: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let (name, id) = (param(&path, "name"), param(&path, "command"));
    let req: ApproveCommand = match body_json(bytes) {
        Ok(v) => parse_typed(v)?,
        Err(_) => ApproveCommand::default(),
    };
    let Who::User {
        id: user_id,
        name: user_name,
        ..
    } = caller.principal.clone()
    else {
        return Err(ApiError::forbidden(
            "Service accounts cannot approve commands.",
            "Approve with a personal token.",
        ));
    };
    let (c, n, i) = (caller.clone(), name.clone(), id.clone());
    let (cluster, record) = blocking(
        &hub,
        move |tx| {
            let cluster = cluster_of(tx, &c, &n)?;
            let record = tx
                .command(&c.org.id, &i)?
                .filter(|r| r.cluster_id == cluster.id)
                .ok_or_else(|| {
                    ApiError::not_found(format_args!("command `{i}` on cluster `{n}`"))
                })?;
            Ok((cluster, record))
        },
        false,
    )
    .await?;
    if record.state != "pending" || record.approved {
        return Err(ApiError::conflict(
            format!(
                "Command `{id}` is {}{}; there is nothing to approve.",
                record.state,
                if record.approved {
                    " and already approved"
                } else {
                    ""
                }
            ),
            "Only pending commands waiting for approvals can be approved.",
        ));
    }
    if record.requester_id == user_id {
        return Err(ApiError::forbidden(
            "You requested this command; your own approval does not count towards it.",
            "Ask another eligible approver.",
        ));
    }
    let approval = ApprovalRecord {
        user_id,
        user_name,
        comment: req.comment,
        at: now(),
        decision_id: String::new(),
    };
    let (c, cl, rec, a) = (
        caller.clone(),
        cluster.clone(),
        record.clone(),
        approval.clone(),
    );
    let act = blocking(
        &hub,
        move |tx| {
            if !tx.command_approve(&rec.id, &a)? {
                return Err(ApiError::conflict(
                    "You have already approved this command.",
                    "One approval per person counts.",
                ));
            }
            action(tx, &c, &cl, &rec)
        },
        true,
    )
    .await?;
    let verdict = governance::decide_each(&hub, vec![act]).await?;
    let mut record = record;
    record.decision_ids.extend(verdict.ids());
    match verdict.outcome {
        Outcome::Allow => {
            record.approved = true;
            seal(&mut record, &cluster)?;
            if let Some(s) = hub.agents.get(&cluster.id) {
                send(&s, &mut record);
            }
        }
        Outcome::Deny => {
            record.state = "rejected".into();
            record.output = Some(
                verdict
                    .violations()
                    .iter()
                    .map(|v| v.message.clone())
                    .collect::<Vec<_>>()
                    .join("; "),
            );
            record.finished_at = Some(now());
        }
        Outcome::Pending => {}
    }
    let (c, v, rec, cl) = (
        caller.clone(),
        verdict.clone(),
        record.clone(),
        cluster.clone(),
    );
    let shown = blocking(
        &hub,
        move |tx| {
            governance::record(tx, &c.org.id, &v, None)?;
            tx.command_update(&rec)?;
            audit(
                tx,
                &c.org.id,
                &c.actor(),
                "clusters.command.approve",
                &cl.name,
                &rec,
                rec.decision_ids.last().cloned(),
            )?;
            view(tx, &cl.name, &rec)
        },
        true,
    )
    .await?;
    let mut body = serde_json::to_value(&shown).map_err(ApiError::internal)?;
    body["waitingFor"] = json!(verdict.waiting_for());
    Ok((StatusCode::OK, AxumJson(body)).into_response())
}

/// Query of the command history.
#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct CommandQuery {
    /// Only commands in this state.
    pub state: Option<String>,
    /// At most this many, newest first (default 100, at most 1000).
    pub limit: Option<i64>,
}

/// `GET /api/v2/clusters/{name}/commands`
pub(crate) async fn list(
    State(hub): State<Hub>,
    Extension(caller): Extension<Caller>,
    path: Params,
    Query(q): Query<CommandQuery>,
) -> ApiResult<Response> {
    let name = param(&path, "name");
    let items = blocking(
        &hub,
        move |tx| {
            let cluster = cluster_of(tx, &caller, &name)?;
            tx.commands(
                &caller.org.id,
                &cluster.id,
                q.state.as_deref(),
                q.limit.unwrap_or(100).clamp(1, 1000),
            )?
            .iter()
            .map(|c| view(tx, &cluster.name, c))
            .collect::<ApiResult<Vec<_>>>()
        },
        false,
    )
    .await?;
    Ok(AxumJson(json!({ "items": items })).into_response())
}

/// `GET /api/v2/clusters/{name}/commands/{command}`
pub(crate) async fn get(
    State(hub): State<Hub>,
    Extension(caller): Extension<Caller>,
    path: Params,
) -> ApiResult<Response> {
    let (name, id) = (param(&path, "name"), param(&path, "command"));
    let shown = blocking(
        &hub,
        move |tx| {
            let cluster = cluster_of(tx, &caller, &name)?;
            let c = tx
                .command(&caller.org.id, &id)?
                .filter(|r| r.cluster_id == cluster.id)
                .ok_or_else(|| {
                    ApiError::not_found(format_args!("command `{id}` on cluster `{name}`"))
                })?;
            view(tx, &cluster.name, &c)
        },
        false,
    )
    .await?;
    Ok(AxumJson(shown).into_response())
}

// ----- the agent's side -----

/// Sends a newly connected agent the approved commands that waited for it; those that expired
/// meanwhile fail. A command sent on an earlier connection and never acknowledged is not sent
/// again (the agent may have run it and lost the ack); it fails once it expires.
pub(crate) async fn dispatch_due(hub: &Hub, session: &Arc<Session>) {
    let (cluster_id, name) = (session.cluster_id.clone(), session.cluster_name.clone());
    let s = session.clone();
    let result = blocking(
        hub,
        move |tx| {
            let at = now();
            for mut c in tx.commands_due(&cluster_id)? {
                let expired = c.expires_at.as_str() <= at.as_str();
                if expired {
                    c.state = "failed".into();
                    c.output = Some(if c.sent_at.is_some() {
                        "the agent did not acknowledge the command before it expired".into()
                    } else {
                        "the command expired before the agent was connected to receive it".into()
                    });
                    c.finished_at = Some(at.clone());
                    tx.command_update(&c)?;
                    audit(
                        tx,
                        &c.org_id,
                        "system",
                        "clusters.command.expired",
                        &name,
                        &c,
                        None,
                    )?;
                } else if c.sent_at.is_none() && send(&s, &mut c) {
                    tx.command_update(&c)?;
                }
            }
            Ok(())
        },
        true,
    )
    .await;
    if let Err(e) = result {
        tracing::error!(cluster = %session.cluster_name, error = %e.message, "cannot send the commands waiting for the agent");
    }
}

fn agent_update(
    hub: &Hub,
    session: &Arc<Session>,
    id: String,
    change: impl FnOnce(&mut CommandRecord) -> Option<&'static str> + Send + 'static,
) -> impl std::future::Future<Output = ()> + Send + 'static {
    let (org, cluster_id, name) = (
        session.org_id.clone(),
        session.cluster_id.clone(),
        session.cluster_name.clone(),
    );
    let hub = hub.clone();
    async move {
        let result = blocking(&hub, move |tx| {
            let Some(mut c) = tx.command(&org, &id)?.filter(|c| c.cluster_id == cluster_id) else {
                tracing::warn!(cluster = %name, command = %id, "the agent reported on a command it was not sent");
                return Ok(());
            };
            if let Some(action) = change(&mut c) {
                tx.command_update(&c)?;
                audit(tx, &org, &format!("agent:{name}"), action, &name, &c, None)?;
            }
            Ok(())
        }, true)
        .await;
        if let Err(e) = result {
            tracing::error!(error = %e.message, "cannot record the agent's report on a command");
        }
    }
}

/// The agent accepted (executing) or refused (rejected) a command.
pub(crate) async fn acknowledged(hub: &Hub, session: &Arc<Session>, ack: CommandAck) {
    let reason = ack.reason.clone();
    agent_update(hub, session, ack.command_id, move |c| {
        if c.state != "pending" {
            return None;
        }
        if ack.accepted {
            c.state = "executing".into();
            Some("clusters.command.executing")
        } else {
            c.state = "rejected".into();
            c.output = Some(format!("refused by the agent: {reason}"));
            c.finished_at = Some(now());
            Some("clusters.command.rejected")
        }
    })
    .await;
}

/// The agent finished a command.
pub(crate) async fn finished(hub: &Hub, session: &Arc<Session>, result: CommandResult) {
    agent_update(hub, session, result.command_id, move |c| {
        if c.state != "executing" && c.state != "pending" {
            return None;
        }
        c.state = if result.succeeded {
            "completed"
        } else {
            "failed"
        }
        .into();
        c.output = Some(result.output);
        c.finished_at = Some(now());
        Some(if result.succeeded {
            "clusters.command.completed"
        } else {
            "clusters.command.failed"
        })
    })
    .await;
}

/// Asks a connected agent to switch to a new token; the old ones keep working for the grace
/// period, or until the agent confirms.
pub(crate) async fn rotate(hub: &Hub, caller: &Caller, cluster: &Resource) -> ApiResult<Json> {
    let session = hub.agents.get(&cluster.id).ok_or_else(|| {
        ApiError::conflict(
            format!(
                "Cluster `{}`'s agent is not connected, so it cannot receive a new token.",
                cluster.name
            ),
            "Retry when the cluster shows Connected; the agent's current token keeps working.",
        )
    })?;
    if !session.capabilities.iter().any(|c| c == "token.rotate") {
        return Err(ApiError::conflict(
            format!(
                "Cluster `{}`'s agent was installed without the token.rotate capability.",
                cluster.name
            ),
            "Enable capabilities.tokenRotate in the agent's chart, or re-register it with a join token.",
        ));
    }
    let grace_until = (Utc::now() + hub.config.agents.rotation_grace)
        .to_rfc3339_opts(SecondsFormat::Micros, true);
    let (c, cl, g) = (caller.clone(), cluster.clone(), grace_until.clone());
    let minted = blocking(
        hub,
        move |tx| {
            let at = now();
            for t in tx.tokens_of(&c.org.id, TokenKind::Agent, &cl.id)? {
                if t.usable(&at) {
                    tx.token_expire(&t.id, &g)?;
                }
            }
            let minted = mint(
                &c.org.id,
                TokenKind::Agent,
                &cl.id,
                "agent",
                &c.actor(),
                None,
            )?;
            tx.token_insert(&minted.record)?;
            tx.audit_append(
                &c.org.id,
                &AuditEntry {
                    actor: c.actor(),
                    action: "clusters.rotate-token".into(),
                    resource: format!("cluster/{}", cl.name),
                    after: Some(json!({ "tokenId": minted.record.id, "oldTokensValidUntil": g })),
                    ..AuditEntry::default()
                },
            )?;
            Ok(minted)
        },
        true,
    )
    .await?;
    if !session.send(Down::RotateToken(RotateToken {
        token_id: minted.record.id.clone(),
        agent_token: minted.secret,
        old_token_valid_until: grace_until.clone(),
    })) {
        return Err(ApiError::conflict(
            "The agent's connection dropped before it received the new token.",
            "Retry; the old token keeps working until the grace period ends.",
        ));
    }
    Ok(json!({ "tokenId": minted.record.id, "oldTokenValidUntil": grace_until }))
}

/// The agent stored its new token: every other agent token of the cluster is revoked now.
pub(crate) async fn token_rotated(hub: &Hub, session: &Arc<Session>, r: TokenRotated) {
    let (org, cluster_id, name) = (
        session.org_id.clone(),
        session.cluster_id.clone(),
        session.cluster_name.clone(),
    );
    let result = blocking(hub, move |tx| {
        let at = now();
        let tokens = tx.tokens_of(&org, TokenKind::Agent, &cluster_id)?;
        if !tokens.iter().any(|t| t.id == r.token_id && t.usable(&at)) {
            tracing::warn!(cluster = %name, token = %r.token_id, "the agent confirmed a token rotation the hub did not ask for");
            return Ok(());
        }
        for t in tokens.iter().filter(|t| t.id != r.token_id && t.usable(&at)) {
            tx.token_revoke(&t.id, &at)?;
        }
        tx.audit_append(&org, &AuditEntry {
            actor: format!("agent:{name}"),
            action: "agents.token-rotated".into(),
            resource: format!("cluster/{name}"),
            after: Some(json!({ "tokenId": r.token_id })),
            ..AuditEntry::default()
        })?;
        Ok(())
    }, true)
    .await;
    if let Err(e) = result {
        tracing::error!(error = %e.message, "cannot record the token rotation");
    }
}
