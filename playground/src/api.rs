//! The playground's small JSON API and its one error-to-response mapping.
//!
//! - `GET  api/config`: version, action kinds and limits, for the page.
//! - `GET  api/examples`: every example (see [`crate::examples`]).
//! - `POST api/evaluate`: an [`EvaluateRequest`] answered with an [`Evaluation`].
//! - `POST api/test`: a [`TestRequest`] answered with a [`TestRun`].
//!
//! Each evaluation holds one of a bounded number of permits and runs in a worker process (see
//! [`crate::worker`]) or on tokio's blocking pool, so a heavy policy occupies one slot and never
//! the server's async workers; requests wait briefly for a permit and are told to retry when
//! none frees up. Bodies over the limit are refused with `413` before they are read in full.

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

use tracing::Instrument;

use crate::PlaygroundConfig;
use crate::evaluate::{EvaluateRequest, Failure, TestRequest};
use crate::worker::{self, Isolation, Job};

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
    /// A [`Failure`] as a worker process answered it (422).
    #[error("{}", .0.get("message").and_then(serde_json::Value::as_str).unwrap_or("The evaluation failed."))]
    FailureJson(serde_json::Value),
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
            ApiError::Failure(_) | ApiError::FailureJson(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            ApiError::TooLarge { .. } => "too_large",
            ApiError::BadRequest(_) => "bad_request",
            ApiError::Busy => "busy",
            ApiError::Overrun(_) => "overrun",
            ApiError::Failure(_) | ApiError::FailureJson(_) => "failure",
            ApiError::Internal(_) => "internal",
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = match &self {
            ApiError::Failure(f) => json!({"error": f}),
            ApiError::FailureJson(f) => json!({"error": f}),
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

/// Runs `job` under a permit, in a worker process or on the blocking pool as configured,
/// within the overall deadline.
async fn run_job(state: &AppState, job: Job) -> Result<Json<serde_json::Value>, ApiError> {
    let config = &state.config;
    let permit = tokio::time::timeout(config.queue_wait, state.permits.clone().acquire_owned())
        .await
        .map_err(|_| ApiError::Busy)?
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let deadline = config.deadline();
    match &config.isolation {
        Isolation::Worker {
            program,
            args,
            memory_bytes,
        } => {
            let answer = worker::run(program, args, *memory_bytes, &job, deadline).await;
            drop(permit);
            answer.map(Json)
        }
        Isolation::InProcess => {
            // The permit moves into the task: a runaway evaluation keeps its slot until it
            // really ends, so abandoned work cannot pile up beyond the limit.
            let task = tokio::task::spawn_blocking(move || {
                let _permit = permit;
                job.run()
            });
            let mut answer = match tokio::time::timeout(deadline, task).await {
                Err(_) => return Err(ApiError::Overrun(deadline)),
                Ok(Err(join)) => return Err(ApiError::Internal(join.to_string())),
                Ok(Ok(answer)) => answer,
            };
            if let Some(ok) = answer.get_mut("ok") {
                return Ok(Json(ok.take()));
            }
            Err(ApiError::FailureJson(
                answer
                    .get_mut("failure")
                    .map(serde_json::Value::take)
                    .unwrap_or_default(),
            ))
        }
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
    let span = tracing::debug_span!(
        "playground.evaluate",
        mode = ?request.mode,
        files = request.workspace.files.len()
    );
    let job = Job::Evaluate {
        timeout_ms: millis(state.config.timeout),
        request,
    };
    Ok(run_job(&state, job).instrument(span).await?.into_response())
}

pub(crate) async fn test(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let request: TestRequest = read_json(&headers, body, state.config.max_body_bytes).await?;
    let span = tracing::debug_span!("playground.test", files = request.workspace.files.len());
    let job = Job::Test {
        timeout_ms: millis(state.config.timeout),
        request,
    };
    Ok(run_job(&state, job).instrument(span).await?.into_response())
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
