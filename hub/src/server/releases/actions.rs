//! The scopes a release reaches and the actions the engine decides for each.

use super::*;

/// The scopes a release reaches: each (environment, tenant, workload) its levels touch, a
/// workload-wide level reaching every environment of the project.
pub(crate) fn scopes(
    tx: &Tx<'_>,
    caller: &Caller,
    p: &Resource,
    targets: &Json,
) -> ApiResult<Vec<Scope>> {
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
pub(crate) fn release_subject(tx: &Tx<'_>, rel: &ReleaseRecord) -> ApiResult<Release> {
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
pub(crate) fn kind_of(rel: &ReleaseRecord, plain: ActionKind) -> ActionKind {
    if !rel.rollback.is_null() {
        ActionKind::Rollback
    } else if !rel.promotion.is_null() {
        ActionKind::Promotion
    } else {
        plain
    }
}

/// A promotion batch as policies see it.
pub(crate) fn promotion_subject(rel: &ReleaseRecord) -> Option<Promotion> {
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
pub(crate) fn rollback_subject(rel: &ReleaseRecord) -> Option<Rollback> {
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
pub(crate) fn release_actions(
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
        .extend(crate::server::promotions::edge_policy(p, &rel.promotion));
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

pub(crate) fn action(
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
