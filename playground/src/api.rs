//! The playground's small JSON API and its one error-to-response mapping.
//!
//! - `GET  api/config`: version, action kinds and limits, for the page.
//! - `GET  api/examples`: every example (see [`crate::examples`]).
//! - `POST api/evaluate`: an [`EvaluateRequest`] answered with an [`Evaluation`].
//! - `POST api/test`: a [`TestRequest`] answered with a [`TestRun`].
//!
//! Each evaluation runs on tokio's blocking pool, holding one of a bounded number of permits, so
//! a heavy policy occupies one slot and never the server's async workers; requests wait briefly
//! for a permit and are told to retry when none frees up. Bodies over the limit are refused
//! with `413` before they are read in full.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use gatehouse_engine::ActionKind;
use serde::de::DeserializeOwned;
use serde_json::json;
use tokio::sync::Semaphore;

use crate::PlaygroundConfig;
use crate::evaluate::{self, EvaluateRequest, Failure, TestRequest};

/// Shared by the handlers: the configuration and the evaluation permits. Nothing a request
/// sends is kept.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) config: PlaygroundConfig,
    pub(crate) permits: Arc<Semaphore>,
}

pub(crate) type AppState = Arc<Shared>;

/// Everything an API call can answer besides success.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The body is over the size limit (413).
    #[error(
        "The request is {} over the playground's limit of {}. Trim the input, data or policies, or run `gatehouse eval` or `gatehouse decide` on your machine for large documents.",
        .size.map(|s| format!("{} ({s} bytes),", human_bytes(s))).unwrap_or_else(|| "larger than allowed,".into()),
        human_bytes(*.limit as u64)
    )]
    TooLarge {
        /// The size, when announced.
        size: Option<u64>,
        /// The limit.
        limit: usize,
    },
    /// The body is not the JSON the endpoint takes (400).
    #[error("The request is not valid: {0}.")]
    BadRequest(String),
    /// Every evaluation slot stayed busy (503).
    #[error("The playground is busy evaluating other policies; try again in a moment.")]
    Busy,
    /// The evaluation overran its overall deadline (503).
    #[error(
        "The evaluation took longer than {} ms in all and was abandoned. Look for rules that iterate over large collections, then evaluate again.",
        .0.as_millis()
    )]
    Overrun(Duration),
    /// What was sent cannot be evaluated (422): the message and markers say why and where.
    #[error(transparent)]
    Failure(#[from] Failure),
    /// A bug (500).
    #[error("The playground failed unexpectedly ({0}); please report it.")]
    Internal(String),
}

fn human_bytes(n: u64) -> String {
    if n >= 1024 * 1024 {
        format!("{:.1} MiB", n as f64 / (1024.0 * 1024.0))
    } else if n >= 1024 {
        format!("{:.1} KiB", n as f64 / 1024.0)
    } else {
        format!("{n} bytes")
    }
}

impl ApiError {
    fn status(&self) -> StatusCode {
        match self {
            ApiError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Busy | ApiError::Overrun(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Failure(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            ApiError::TooLarge { .. } => "too_large",
            ApiError::BadRequest(_) => "bad_request",
            ApiError::Busy => "busy",
            ApiError::Overrun(_) => "overrun",
            ApiError::Failure(_) => "failure",
            ApiError::Internal(_) => "internal",
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = match &self {
            ApiError::Failure(f) => json!({"error": f}),
            other => {
                if let ApiError::Internal(e) = other {
                    tracing::error!(error = %e, "playground request failed");
                }
                json!({"error": {"code": other.code(), "message": other.to_string(), "markers": []}})
            }
        };
        (status, Json(body)).into_response()
    }
}

/// Reads a JSON body of at most `limit` bytes.
async fn read_json<T: DeserializeOwned>(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<T, ApiError> {
    let announced = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|n| n > limit as u64) {
        return Err(ApiError::TooLarge {
            size: announced,
            limit,
        });
    }
    let bytes = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| ApiError::TooLarge {
            size: announced,
            limit,
        })?;
    serde_json::from_slice(&bytes).map_err(|e| ApiError::BadRequest(e.to_string()))
}

/// Runs `work` on the blocking pool under a permit, within the overall deadline.
async fn run_blocking<T: Send + 'static>(
    state: &AppState,
    work: impl FnOnce() -> Result<T, Failure> + Send + 'static,
) -> Result<T, ApiError> {
    let config = &state.config;
    let permit = tokio::time::timeout(config.queue_wait, state.permits.clone().acquire_owned())
        .await
        .map_err(|_| ApiError::Busy)?
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    // The permit moves into the task: a runaway evaluation keeps its slot until it really ends,
    // so abandoned work cannot pile up beyond the limit.
    let task = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        work()
    });
    let deadline = config.deadline();
    match tokio::time::timeout(deadline, task).await {
        Err(_) => Err(ApiError::Overrun(deadline)),
        Ok(Err(join)) => Err(ApiError::Internal(join.to_string())),
        Ok(Ok(result)) => result.map_err(ApiError::Failure),
    }
}

pub(crate) async fn config(State(state): State<AppState>) -> Response {
    let kinds: Vec<&str> = ActionKind::ALL.iter().map(|k| k.as_str()).collect();
    Json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "kinds": kinds,
        "limits": {
            "timeout_ms": state.config.timeout.as_millis() as u64,
            "max_body_bytes": state.config.max_body_bytes,
        },
    }))
    .into_response()
}

pub(crate) async fn examples() -> Response {
    Json(json!({"examples": crate::examples::all()})).into_response()
}

pub(crate) async fn evaluate(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let request: EvaluateRequest = read_json(&headers, body, state.config.max_body_bytes).await?;
    let timeout = state.config.timeout;
    let evaluation = run_blocking(&state, move || {
        let _span = tracing::debug_span!(
            "playground.evaluate",
            mode = ?request.mode,
            files = request.workspace.files.len()
        )
        .entered();
        evaluate::evaluate(&request, timeout)
    })
    .await?;
    Ok(Json(evaluation).into_response())
}

pub(crate) async fn test(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let request: TestRequest = read_json(&headers, body, state.config.max_body_bytes).await?;
    let timeout = state.config.timeout;
    let run = run_blocking(&state, move || {
        let _span = tracing::debug_span!("playground.test", files = request.workspace.files.len())
            .entered();
        evaluate::test(&request, timeout)
    })
    .await?;
    Ok(Json(run).into_response())
}
