//! The steps of a release (submit, approve, reject, cancel, deploy), each decided again with
//! the facts read at that step, each transition a compare-and-set on the state.

use super::*;

/// The error for a denied step: `frozen` when a freeze is among the reasons, naming the
/// break-glass path; `policy_denied` otherwise.
pub(crate) fn denied(v: &Verdict, what: &str) -> ApiError {
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
pub(crate) fn stale(tx: &Tx<'_>, rel: &ReleaseRecord) -> ApiResult<Option<ApiError>> {
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
pub(crate) async fn render_blocked(
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
pub(crate) fn moved_meanwhile() -> ApiError {
    ApiError::conflict("The release changed meanwhile.", "Read it again and retry.")
}

pub(crate) fn wrong_state(rel: &ReleaseRecord, doing: &str) -> ApiError {
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

pub(crate) fn note_of(bytes: Result<Bytes, BytesRejection>) -> ApiResult<StepNote> {
    let bytes = crate::server::body_bytes(bytes)?;
    if bytes.is_empty() {
        return Ok(StepNote::default());
    }
    let value: Json = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::invalid(".", format!("the body is not JSON: {e}")))?;
    parse_typed(value)
}

pub(crate) async fn reload(
    hub: &Hub,
    caller: &Caller,
    project: &str,
    id: &str,
) -> ApiResult<ReleaseView> {
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

pub(crate) async fn submit(
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
pub(crate) async fn gate(
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
pub(crate) fn needs_approval(v: &Verdict) -> bool {
    !v.waiting_for().is_empty()
}

pub(crate) async fn submit_locked(
    hub: &Hub,
    caller: &Caller,
    name: &str,
    id: &str,
) -> ApiResult<()> {
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

pub(crate) async fn approve(
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

pub(crate) fn approval_refused(v: &Verdict) -> ApiError {
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
pub(crate) async fn audit_refusal(
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
pub(crate) struct Closing {
    from: &'static [&'static str],
    to: &'static str,
    doing: &'static str,
    audit: &'static str,
}

pub(crate) const REJECT: Closing = Closing {
    from: &[state::PENDING],
    to: state::REJECTED,
    doing: "be rejected",
    audit: "release.reject",
};

pub(crate) const CANCEL: Closing = Closing {
    from: &[state::DRAFT, state::PENDING, state::APPROVED],
    to: state::CANCELLED,
    doing: "be cancelled",
    audit: "release.cancel",
};

pub(crate) async fn reject(
    State(hub): State<Hub>,
    Extension(caller): Extension<Caller>,
    path: Params,
    bytes: Result<Bytes, BytesRejection>,
) -> ApiResult<AxumJson<ReleaseView>> {
    let note = note_of(bytes)?;
    close(hub, caller, path, note, &REJECT).await
}

pub(crate) async fn cancel(
    State(hub): State<Hub>,
    Extension(caller): Extension<Caller>,
    path: Params,
    bytes: Result<Bytes, BytesRejection>,
) -> ApiResult<AxumJson<ReleaseView>> {
    let note = note_of(bytes)?;
    close(hub, caller, path, note, &CANCEL).await
}

pub(crate) async fn close(
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
        Ok(rel) => crate::server::promotions::closed(&hub, &caller, &name, &rel, step.to).await?,
    }
    Ok(AxumJson(reload(&hub, &caller, &name, &id).await?))
}

pub(crate) async fn deploy(
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
pub(crate) async fn deploy_locked(
    hub: &Hub,
    caller: &Caller,
    name: &str,
    id: &str,
) -> ApiResult<()> {
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
        crate::server::agents::desired::refresh(hub, &caller.org.id);
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
        crate::server::promotions::deployed(hub.clone(), caller.clone(), name.to_owned(), done)
            .await?;
    }
    outcome
}
