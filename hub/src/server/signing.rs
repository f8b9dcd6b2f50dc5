//! Signed requests: a registry or CI webhook that cannot hold a bearer token signs its call with
//! a service account's signing key instead.
//!
//! ```text
//! X-Gatehouse-Key:       sk_…
//! X-Gatehouse-Timestamp: <unix seconds>
//! X-Gatehouse-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<METHOD>.<path?query>.<body>")>
//! ```
//!
//! The hub checks the key (known, not revoked, its service account still there), the timestamp
//! (within five minutes), the signature (constant-time), and that the same signature was not
//! used before (replays within the window are refused). The request then acts as the service
//! account, with its allowed actions and projects. Only the routes in [`SIGNED_ACTIONS`] accept
//! signatures. A refused signature from a known key is recorded in its organization's audit
//! log.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json as AxumJson};
use hmac::{Hmac, Mac};
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::json;
use sha2::Sha256;

use super::access::{Caller, Need, service_account};
use super::error::{ApiError, ApiResult};
use super::routes::{Params, Route, json, param, route};
use super::store::{AuditEntry, SigningKey, Tx, new_id, now};
use super::{Hub, blocking};

/// Routes that accept a signature in place of a token.
pub const SIGNED_ACTIONS: [&str; 1] = ["values.set"];

/// How far a signed request's timestamp may be from the hub's clock.
pub const WINDOW: Duration = Duration::from_secs(300);

/// Signatures seen within the window (replay protection).
#[derive(Debug, Default)]
pub(crate) struct Seen(Mutex<HashMap<String, Instant>>);

impl Seen {
    /// Records a signature; false when it was already used.
    fn first(&self, signature: &str) -> bool {
        let mut seen = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        seen.retain(|_, at| now.duration_since(*at) < WINDOW * 2);
        seen.insert(signature.to_owned(), now).is_none()
    }
}

/// The signature of a request: `sha256=<hex>`.
pub fn sign(secret: &str, timestamp: &str, method: &str, path: &str, body: &[u8]) -> String {
    let mac = mac(secret, timestamp, method, path, body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// The MAC over `<timestamp>.<METHOD>.<path?query>.<body>`.
fn mac(secret: &str, timestamp: &str, method: &str, path: &str, body: &[u8]) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
    mac.update(format!("{timestamp}.{method}.{path}.").as_bytes());
    mac.update(body);
    mac
}

fn refused(message: String) -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "bad_signature",
        message,
        "Sign `<timestamp>.<METHOD>.<path?query>.<body>` with the key's secret (HMAC-SHA256), send it as `X-Gatehouse-Signature: sha256=<hex>` with X-Gatehouse-Key and X-Gatehouse-Timestamp (unix seconds), once per request.",
    )
}

/// Authenticates a signed request to a route whose action is `action`; the caller it acts as.
pub(crate) async fn authenticate(
    hub: &Hub,
    headers: &HeaderMap,
    method: &Method,
    path: &str,
    body: &Bytes,
    action: &str,
) -> Result<Caller, ApiError> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let (Some(key_id), Some(timestamp), Some(signature)) = (
        header("x-gatehouse-key"),
        header("x-gatehouse-timestamp"),
        header("x-gatehouse-signature"),
    ) else {
        return Err(refused(
            "A signed request needs X-Gatehouse-Key, X-Gatehouse-Timestamp and X-Gatehouse-Signature.".into(),
        ));
    };
    let key = {
        let id = key_id.clone();
        blocking(hub, move |tx| Ok(tx.signing_key(&id)?), false).await?
    };
    let Some(key) = key else {
        tracing::warn!(key = %key_id, "signed request refused: unknown key");
        return Err(refused(format!(
            "The signing key `{key_id}` is not known to this hub."
        )));
    };
    let check = || -> Result<(), String> {
        if key.revoked_at.is_some() {
            return Err(format!("The signing key `{key_id}` was revoked."));
        }
        let ts: i64 = timestamp
            .trim()
            .parse()
            .map_err(|_| "X-Gatehouse-Timestamp is not unix seconds.".to_owned())?;
        let skew = (chrono::Utc::now().timestamp() - ts).unsigned_abs();
        if skew > WINDOW.as_secs() {
            return Err(format!(
                "The request's timestamp is {skew} s away from the hub's clock (at most {} s).",
                WINDOW.as_secs()
            ));
        }
        if !verify(
            &key.secret,
            timestamp.trim(),
            method.as_str(),
            path,
            body,
            signature.trim(),
        ) {
            return Err("The signature does not match the request.".into());
        }
        if !hub.signatures.first(&signature) {
            return Err("This signature was already used; sign each request anew.".into());
        }
        Ok(())
    };
    if let Err(reason) = check() {
        let (k, r, a) = (key.clone(), reason.clone(), action.to_owned());
        let _ = blocking(
            hub,
            move |tx| {
                let actor = match service_account(tx, &k.org_id, &k.subject) {
                    Ok(super::access::Principal::ServiceAccount { name, .. }) => {
                        format!("service_account:{name}")
                    }
                    _ => "unknown".into(),
                };
                tx.audit_append(
                    &k.org_id,
                    &AuditEntry {
                        actor,
                        action: "auth.signature.rejected".into(),
                        resource: format!("signing_key/{}", k.id),
                        after: Some(json!({ "reason": r, "route": a })),
                        ..AuditEntry::default()
                    },
                )?;
                Ok(())
            },
            true,
        )
        .await;
        tracing::warn!(key = %key_id, %reason, "signed request refused");
        return Err(refused(reason));
    }
    blocking(
        hub,
        move |tx| {
            let org = tx.org(&key.org_id)?.ok_or_else(|| {
                ApiError::unauthenticated("The key's organization no longer exists.")
            })?;
            let principal = service_account(tx, &org.id, &key.subject)?;
            Ok(Caller {
                org,
                principal,
                token_id: key.id,
            })
        },
        false,
    )
    .await
}

/// Whether `signature` (`sha256=<hex>`) is the request's, compared in constant time.
fn verify(
    secret: &str,
    timestamp: &str,
    method: &str,
    path: &str,
    body: &[u8],
    signature: &str,
) -> bool {
    let Some(given) = signature
        .strip_prefix("sha256=")
        .and_then(|h| hex::decode(h).ok())
    else {
        return false;
    };
    mac(secret, timestamp, method, path, body)
        .verify_slice(&given)
        .is_ok()
}

/// A signing key as shown (the secret only once, at creation).
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct KeyView {
    /// `sk_…`: send it as X-Gatehouse-Key.
    pub id: String,
    /// The service account.
    pub service_account: String,
    /// The shared secret (at creation only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// Issued.
    pub created_at: String,
    /// By whom.
    pub created_by: String,
    /// Revoked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<String>,
}

fn view(k: &SigningKey, account: &str, secret: bool) -> KeyView {
    KeyView {
        id: k.id.clone(),
        service_account: account.to_owned(),
        secret: secret.then(|| k.secret.clone()),
        created_at: k.created_at.clone(),
        created_by: k.created_by.clone(),
        revoked_at: k.revoked_at.clone(),
    }
}

fn account(tx: &Tx<'_>, org: &str, name: &str) -> ApiResult<super::store::Resource> {
    tx.resource(org, None, "service_account", name)?
        .ok_or_else(|| ApiError::not_found(format!("service account `{name}`")))
}

/// The routes of this module.
pub(crate) fn routes() -> Vec<Route> {
    let base = "/api/v2/service-accounts/{name}/signing-keys";
    vec![
        route(
            Method::GET,
            base,
            "service-accounts.signing-keys.list",
            Need::OrgAdmin,
            "A service account's signing keys (without secrets)",
        )
        .handler(list),
        route(
            Method::POST,
            base,
            "service-accounts.signing-keys.create",
            Need::OrgAdmin,
            "Issue a signing key for signed webhook calls; the secret is shown once",
        )
        .response(201, json::<KeyView>())
        .handler(create),
        route(
            Method::DELETE,
            format!("{base}/{{key}}"),
            "service-accounts.signing-keys.delete",
            Need::OrgAdmin,
            "Revoke a signing key",
        )
        .response(204, None)
        .handler(revoke),
    ]
}

async fn list(
    State(hub): State<Hub>,
    Extension(caller): Extension<Caller>,
    path: Params,
) -> ApiResult<Response> {
    let name = param(&path, "name");
    let items = blocking(
        &hub,
        move |tx| {
            let sa = account(tx, &caller.org.id, &name)?;
            Ok(tx
                .signing_keys_of(&caller.org.id, &sa.id)?
                .iter()
                .map(|k| view(k, &name, false))
                .collect::<Vec<_>>())
        },
        false,
    )
    .await?;
    Ok(AxumJson(json!({ "items": items })).into_response())
}

async fn create(
    State(hub): State<Hub>,
    Extension(caller): Extension<Caller>,
    path: Params,
) -> ApiResult<Response> {
    let name = param(&path, "name");
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(ApiError::internal)?;
    let shown = blocking(
        &hub,
        move |tx| {
            let sa = account(tx, &caller.org.id, &name)?;
            let key = SigningKey {
                id: format!("sk_{}", new_id()),
                org_id: caller.org.id.clone(),
                subject: sa.id,
                secret: format!("ghqk_{}", hex::encode(bytes)),
                created_at: now(),
                created_by: caller.actor(),
                revoked_at: None,
            };
            tx.signing_key_insert(&key)?;
            tx.audit_append(
                &caller.org.id,
                &AuditEntry {
                    actor: caller.actor(),
                    action: "service-accounts.signing-keys.create".into(),
                    resource: format!("service_account/{name}/signing_key/{}", key.id),
                    after: Some(json!({ "id": key.id })),
                    ..AuditEntry::default()
                },
            )?;
            Ok(view(&key, &name, true))
        },
        true,
    )
    .await?;
    Ok((StatusCode::CREATED, AxumJson(shown)).into_response())
}

async fn revoke(
    State(hub): State<Hub>,
    Extension(caller): Extension<Caller>,
    path: Params,
) -> ApiResult<StatusCode> {
    let (name, id) = (param(&path, "name"), param(&path, "key"));
    blocking(
        &hub,
        move |tx| {
            let sa = account(tx, &caller.org.id, &name)?;
            let known = tx
                .signing_keys_of(&caller.org.id, &sa.id)?
                .iter()
                .any(|k| k.id == id);
            if !known || !tx.signing_key_revoke(&caller.org.id, &id, &now())? {
                return Err(ApiError::not_found(format!(
                    "live signing key `{id}` of `{name}`"
                )));
            }
            tx.audit_append(
                &caller.org.id,
                &AuditEntry {
                    actor: caller.actor(),
                    action: "service-accounts.signing-keys.delete".into(),
                    resource: format!("service_account/{name}/signing_key/{id}"),
                    ..AuditEntry::default()
                },
            )?;
            Ok(StatusCode::NO_CONTENT)
        },
        true,
    )
    .await
}
