//! Opening releases: from pending changes, as a rollback to an earlier release, and from one
//! key set by CI (with the project's auto-release).

use super::*;

pub(crate) async fn create(
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
pub(crate) async fn create_release(
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
pub(crate) async fn open_release(
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

pub(crate) async fn rollback(
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
pub(crate) fn restore_levels(
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

pub(crate) async fn set_value(
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
