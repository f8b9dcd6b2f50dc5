//! Outbound notifications: release events posted to webhooks, with retries and a delivery log.
//!
//! A notification (`/api/v2/notifications`, admins) names a URL, a body format (`json`: the
//! event as Gatehouse describes it; `slack`: a Slack-compatible `{"text": ...}`), optionally the
//! events and projects it wants, and optionally a secret with which each body is signed
//! (`X-Gatehouse-Signature: sha256=<HMAC-SHA256 of the body>`). Events are queued in the
//! transaction that records them (the store's outbox), so none is lost to a crash; the worker
//! posts each, retrying with exponential backoff, and records every attempt, which
//! `GET /api/v2/notifications/{name}/deliveries` shows.

use std::time::Duration;

use axum::extract::State;
use axum::http::Method;
use axum::{Extension, Json as AxumJson};
use hmac::{Hmac, Mac};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value as Json, json};
use sha2::Sha256;

use super::access::{Caller, Need};
use super::error::{ApiError, ApiResult};
use super::routes::{Params, Route, param, route};
use super::store::{Delivery, now};
use super::{Hub, blocking};

/// Where and how to announce release events.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NotificationSpec {
    /// The webhook URL (`https://`, or `http://`).
    pub url: String,
    /// The body: `json` (default) or `slack`.
    #[serde(default)]
    pub format: Format,
    /// Events wanted, e.g. `release.deployed` or `release.*` (empty: all).
    #[serde(default)]
    pub events: Vec<String>,
    /// Projects wanted (empty: all).
    #[serde(default)]
    pub projects: Vec<String>,
    /// Signs each body with HMAC-SHA256 (never shown again once set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

/// A notification body format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// The event as JSON.
    #[default]
    Json,
    /// `{"text": "..."}` for Slack-compatible incoming webhooks.
    Slack,
}

impl NotificationSpec {
    /// Checks the URL.
    pub fn check(&self) -> ApiResult<()> {
        let Some(rest) = self
            .url
            .strip_prefix("https://")
            .or_else(|| self.url.strip_prefix("http://"))
        else {
            return Err(ApiError::invalid(
                "url",
                "the URL must start with https:// (or http://)",
            ));
        };
        if rest.split('/').next().is_none_or(str::is_empty) {
            return Err(ApiError::invalid("url", "the URL has no host"));
        }
        Ok(())
    }
}

/// How deliveries are retried.
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    /// The wait after the first failure; doubled after each further one.
    pub base: Duration,
    /// Attempts before a delivery fails for good.
    pub attempts: u32,
    /// The time limit of one attempt.
    pub timeout: Duration,
}

impl Default for Retry {
    fn default() -> Retry {
        Retry {
            base: Duration::from_secs(2),
            attempts: 8,
            timeout: Duration::from_secs(10),
        }
    }
}

/// The routes of this module (the notifications themselves are an ordinary object kind).
pub(crate) fn routes() -> Vec<Route> {
    vec![
        route(
            Method::GET,
            "/api/v2/notifications/{name}/deliveries",
            "notifications.deliveries",
            Need::OrgAdmin,
            "A notification's deliveries, newest first: event, state, attempts, last answer",
        )
        .response(200, None)
        .handler(deliveries),
    ]
}

async fn deliveries(
    State(hub): State<Hub>,
    Extension(caller): Extension<Caller>,
    path: Params,
) -> ApiResult<AxumJson<Json>> {
    let name = param(&path, "name");
    blocking(
        &hub,
        move |tx| {
            let n = tx
                .resource(&caller.org.id, None, "notification", &name)?
                .ok_or_else(|| ApiError::not_found(format!("notification `{name}`")))?;
            let items: Vec<Json> = tx
                .deliveries_of(&caller.org.id, &n.id, 200)?
                .into_iter()
                .map(|d| {
                    json!({
                        "id": d.id, "event": d.event, "state": d.state, "attempts": d.attempts,
                        "nextAt": d.next_at, "lastStatus": d.last_status, "lastError": d.last_error,
                        "createdAt": d.created_at, "deliveredAt": d.delivered_at, "payload": d.payload,
                    })
                })
                .collect();
            Ok(AxumJson(json!({ "items": items })))
        },
        false,
    )
    .await
}

/// The body a delivery sends.
fn body(d: &Delivery) -> Json {
    let format: Format = d
        .spec
        .get("format")
        .and_then(|f| serde_json::from_value(f.clone()).ok())
        .unwrap_or_default();
    match format {
        Format::Json => d.payload.clone(),
        Format::Slack => {
            let p = &d.payload;
            let what = d
                .event
                .strip_prefix("release.")
                .unwrap_or(&d.event)
                .replace('_', " ");
            let mut text = format!(
                "Release #{} \"{}\" in {}: {what} by {}",
                p["release"]["number"],
                p["release"]["title"].as_str().unwrap_or_default(),
                p["project"].as_str().unwrap_or_default(),
                p["actor"].as_str().unwrap_or_default(),
            );
            if let Some(note) = p["note"].as_str() {
                text.push_str(&format!(" ({note})"));
            }
            json!({ "text": text })
        }
    }
}

/// `sha256=<hex>` of the body under the secret.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Starts the delivery worker; it runs until the process ends.
pub fn spawn(hub: Hub, retry: Retry) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let tls = match tls_config(hub.config.notify_ca.as_deref()) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(
                    error = format!("{e:#}"),
                    "notifications are off: no TLS configuration"
                );
                return;
            }
        };
        let client = match reqwest::Client::builder()
            .timeout(retry.timeout)
            .tls_backend_preconfigured(tls)
            .build()
        {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "notifications are off: no HTTP client");
                return;
            }
        };
        loop {
            let due = blocking(&hub, |tx| Ok(tx.deliveries_due(&now(), 32)?), false).await;
            match due {
                Ok(batch) if !batch.is_empty() => {
                    for d in batch {
                        attempt(&hub, &client, retry, d).await;
                    }
                    continue;
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e.message, "cannot read the notification outbox"),
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
}

/// An error with its causes, outermost first (reqwest's own message hides them: a refused
/// certificate is only visible in a cause).
fn causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut next = e.source();
    while let Some(cause) = next {
        let more = cause.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        next = cause.source();
    }
    text
}

/// TLS for notification endpoints: rustls with ring, verifying against the system's roots
/// (`SSL_CERT_FILE` and `SSL_CERT_DIR` are honoured) and the CA certificates in `extra`.
pub fn tls_config(extra: Option<&std::path::Path>) -> anyhow::Result<rustls::ClientConfig> {
    use anyhow::Context;
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    if let Some(path) = extra {
        let certs = CertificateDer::pem_file_iter(path)
            .with_context(|| format!("--notify-ca: cannot read {}", path.display()))?
            .collect::<Result<Vec<_>, _>>()
            .with_context(|| format!("--notify-ca: {} is not PEM", path.display()))?;
        let (added, _) = roots.add_parsable_certificates(certs);
        anyhow::ensure!(
            added > 0,
            "--notify-ca: {} holds no usable certificate",
            path.display()
        );
    }
    let mut config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .context("TLS setup failed")?
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

async fn attempt(hub: &Hub, client: &reqwest::Client, retry: Retry, d: Delivery) {
    let url = d
        .spec
        .get("url")
        .and_then(Json::as_str)
        .unwrap_or_default()
        .to_owned();
    let text = body(&d).to_string();
    let mut req = client
        .post(&url)
        .header("content-type", "application/json")
        .header("x-gatehouse-event", &d.event)
        .header("x-gatehouse-delivery", &d.id);
    if let Some(secret) = d.spec.get("secret").and_then(Json::as_str) {
        req = req.header("x-gatehouse-signature", signature(secret, text.as_bytes()));
    }
    let (status, error) = match req.body(text).send().await {
        Ok(r) if r.status().is_success() => (Some(r.status().as_u16()), None),
        Ok(r) => (
            Some(r.status().as_u16()),
            Some(format!("the endpoint answered {}", r.status())),
        ),
        Err(e) => (
            None,
            Some(format!("cannot reach the endpoint: {}", causes(&e))),
        ),
    };
    let delivered = error.is_none();
    let tried = u32::try_from(d.attempts)
        .unwrap_or(u32::MAX)
        .saturating_add(1);
    let retry_at = (!delivered && tried < retry.attempts).then(|| {
        let wait = retry.base.saturating_mul(2u32.saturating_pow(tried - 1));
        let at = chrono::Utc::now() + chrono::Duration::from_std(wait).unwrap_or_default();
        at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
    });
    if let Some(e) = &error {
        tracing::info!(delivery = %d.id, attempt = tried, error = %e, "notification not delivered");
    }
    let id = d.id.clone();
    let result = blocking(
        hub,
        move |tx| {
            tx.delivery_attempted(
                &id,
                status,
                error.as_deref(),
                retry_at.as_deref(),
                delivered,
            )?;
            Ok(())
        },
        true,
    )
    .await;
    if let Err(e) = result {
        tracing::warn!(error = %e.message, "cannot record a notification attempt");
    }
}
