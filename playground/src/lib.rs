//! The Gatehouse playground: a web page where policy authors write Rego, edit input and data,
//! and see what the hub would decide, served with the small JSON API it calls.
//!
//! [`router`] returns an [`axum::Router`] holding the page, its embedded JavaScript and CSS
//! bundles and the API. Every path is relative, so the same router works at the root of its own
//! server (`gatehouse playground`) and nested under a prefix of the hub
//! (`Router::new().nest("/playground", gatehouse_playground::router(config))`).
//!
//! The crate owns:
//! - [`evaluate`]: turning the page's state into a bundle, compiling it with the engine the hub
//!   runs, and answering queries, decisions and test runs with coverage, rule values and
//!   located errors; one fresh engine per request, nothing shared;
//! - [`examples`]: the examples menu, built from the embedded policy library and the seed;
//! - `api`: the HTTP surface: body size limit, bounded concurrent evaluations, a deadline, and
//!   one mapping from errors to JSON responses;
//! - [`worker`]: evaluations in worker processes with a memory ceiling, so a policy that asks
//!   for unbounded memory costs one worker, not the server;
//! - `assets`: the page and the bundles `build.rs` made from `web/` with npm and esbuild.
//!
//! ```
//! use gatehouse_playground::{PlaygroundConfig, router};
//! let app: axum::Router = axum::Router::new().nest("/playground", router(PlaygroundConfig::default()));
//! # let _ = app;
//! ```

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::OriginalUri;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

mod api;
mod assets;
pub mod evaluate;
pub mod examples;
pub mod worker;

pub use api::ApiError;
pub use worker::Isolation;

/// Limits of a playground.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlaygroundConfig {
    /// The engine's time limit for one evaluation.
    pub timeout: Duration,
    /// The largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Evaluations running at once; further requests wait for a slot.
    pub max_concurrent: usize,
    /// How long a request waits for a slot before being told the playground is busy.
    pub queue_wait: Duration,
    /// Where evaluations run. Serve people you do not trust with [`Isolation::Worker`]: only a
    /// worker process bounds the memory a policy can take.
    pub isolation: Isolation,
}

impl Default for PlaygroundConfig {
    fn default() -> Self {
        PlaygroundConfig {
            timeout: Duration::from_secs(1),
            max_body_bytes: 2 * 1024 * 1024,
            max_concurrent: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2),
            queue_wait: Duration::from_secs(5),
            isolation: Isolation::InProcess,
        }
    }
}

impl PlaygroundConfig {
    /// The overall deadline of one request: a query evaluates its query and then each rule, a
    /// decision each policy and object, each under [`PlaygroundConfig::timeout`].
    pub fn deadline(&self) -> Duration {
        self.timeout.saturating_mul(8) + Duration::from_secs(2)
    }
}

/// The playground: its page, assets and API, with paths relative to where it is mounted.
pub fn router(config: PlaygroundConfig) -> Router {
    let permits = Arc::new(tokio::sync::Semaphore::new(config.max_concurrent.max(1)));
    let state = Arc::new(api::Shared { config, permits });
    Router::new()
        .route("/", get(index))
        .route(
            "/assets/app.js",
            get(|h: HeaderMap| async move { secure(assets::APP_JS.respond(&h)) }),
        )
        .route(
            "/assets/style.css",
            get(|h: HeaderMap| async move { secure(assets::STYLE_CSS.respond(&h)) }),
        )
        .route(
            "/assets/licenses.txt",
            get(|h: HeaderMap| async move { secure(assets::LICENSES.respond(&h)) }),
        )
        .route(
            "/assets/icon.svg",
            get(|h: HeaderMap| async move { secure(assets::ICON.respond(&h)) }),
        )
        .route("/api/config", get(api::config))
        .route("/api/examples", get(api::examples))
        .route("/api/evaluate", post(api::evaluate))
        .route("/api/test", post(api::test))
        .fallback(not_found)
        .with_state(state)
}

/// The page. Its asset and API URLs are relative to a `<base>` naming the directory the page
/// is served from: `/` standalone, `/playground/` when nested under `/playground`.
async fn index(OriginalUri(uri): OriginalUri, headers: HeaderMap) -> Response {
    let path = uri.path();
    let base = if path.ends_with('/') {
        path.to_owned()
    } else {
        format!("{path}/")
    };
    secure(assets::index(&base, &headers))
}

async fn not_found(OriginalUri(uri): OriginalUri) -> Response {
    (
        StatusCode::NOT_FOUND,
        axum::Json(serde_json::json!({"error": {
            "code": "not_found",
            "message": format!("Nothing is served at {}; the playground page is at its root.", uri.path()),
            "markers": [],
        }})),
    )
        .into_response()
}

/// Headers every page response carries: no framing by other sites, no content sniffing, and a
/// content security policy allowing only the page's own scripts (CodeMirror sets inline styles).
fn secure(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'",
        ),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}
