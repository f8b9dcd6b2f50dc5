//! The audit log over HTTP (filter by actor, action, resource and time; page by sequence),
//! recorded decisions, and the chain check behind `gatehouse audit verify`.

use axum::extract::{Query, State};
use axum::http::Method;
use axum::{Extension, Json as AxumJson};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value as Json, json};

use super::access::{Caller, Need};
use super::error::{ApiError, ApiResult};
use super::routes::{Items, Params, Route, json, param, route};
use super::store::{AuditFilter, Store, StoreError, VerifyReport};
use super::{Hub, blocking};

/// Query parameters of `GET /api/v2/audit`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AuditQuery {
    /// Exact actor, e.g. `user:alice`.
    pub actor: Option<String>,
    /// Action id; a trailing `*` matches a prefix (`clusters.*`).
    pub action: Option<String>,
    /// Resource; a trailing `*` matches a prefix (`project/shop/*`).
    pub resource: Option<String>,
    /// Entries at or after this RFC 3339 time.
    pub since: Option<String>,
    /// Entries before this RFC 3339 time.
    pub until: Option<String>,
    /// Entries after this sequence number (the last `seq` of the previous page).
    pub after: Option<i64>,
    /// Page size, 1 to 1000 (default 100).
    pub limit: Option<i64>,
}

fn rfc3339(field: &str, v: &Option<String>) -> ApiResult<Option<String>> {
    match v {
        None => Ok(None),
        Some(s) => chrono::DateTime::parse_from_rfc3339(s)
            .map(|t| {
                Some(
                    t.with_timezone(&chrono::Utc)
                        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
                )
            })
            .map_err(|e| ApiError::invalid(field, format!("`{s}` is not an RFC 3339 time: {e}"))),
    }
}

/// The routes of this module.
pub(crate) fn routes() -> Vec<Route> {
    vec![
        route(Method::GET, "/api/v2/audit", "audit.list", Need::OrgAdmin, "The audit log, oldest first, filtered and paged")
            .response(200, json::<Items>())
            .handler(|State(hub): State<Hub>, Extension(caller): Extension<Caller>, q: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>| async move {
                let Query(q) = q.map_err(|e| ApiError::invalid("query", e.body_text()))?;
                let filter = AuditFilter {
                    actor: q.actor,
                    action: q.action,
                    resource: q.resource,
                    since: rfc3339("since", &q.since)?,
                    until: rfc3339("until", &q.until)?,
                    after_seq: q.after,
                    limit: q.limit.unwrap_or(100),
                };
                let items = blocking(&hub, move |tx| Ok(tx.audit_list(&caller.org.id, &filter)?), false).await?;
                Ok::<_, ApiError>(AxumJson(json!({ "items": items })))
            }),
        route(Method::GET, "/api/v2/decisions/{id}", "decisions.get", Need::OrgRead, "A recorded decision: the action, the decision and what it allowed")
            .handler(|State(hub): State<Hub>, Extension(caller): Extension<Caller>, path: Params| async move {
                let id = param(&path, "id");
                let found = blocking(&hub, move |tx| Ok(tx.decision(&caller.org.id, &id)?), false).await?;
                let (action, decision, effect) = found.ok_or_else(|| ApiError::not_found("such decision"))?;
                Ok::<_, ApiError>(AxumJson(json!({ "action": action, "decision": decision, "effect": effect.unwrap_or(Json::Null) })))
            }),
    ]
}

/// Checks every organization's chain in a store file.
pub fn verify(store: &Store) -> Result<Vec<VerifyReport>, StoreError> {
    store.read(|tx| {
        let mut out = Vec::new();
        for org in tx.org_ids()? {
            out.push(tx.audit_verify(&org.id, &org.name)?);
        }
        Ok(out)
    })
}
