//! The one mapping from failures to HTTP responses.
//!
//! Every error body is `{"error": {"code", "message", "hint", ...}}` with a stable `code`.
//! 401 means "who are you?", 403 "you may not", 404 "no such thing here" (never revealing
//! another organization's objects), 409 "conflicts with the current state" — including
//! `policy_denied` and `frozen`, where the caller is permitted but the decision core blocked the
//! action — and 202 `pending_approval` when the action waits for requirements. Internal errors
//! are logged in full and reported without detail.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Value as Json, json};

use super::store::StoreError;

/// An API error: status, stable code, message, next step, optional detail.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable machine-readable code.
    pub code: &'static str,
    /// What went wrong, as a sentence.
    pub message: String,
    /// What to do next.
    pub hint: String,
    /// Extra structured detail (field path, decision, requirements).
    pub detail: Option<Json>,
}

/// The documented shape of every error response.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// The error object.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ErrorDetail {
    /// Stable code: `unauthenticated`, `forbidden`, `not_found`, `invalid_request`,
    /// `payload_too_large`, `conflict`, `version_conflict`, `policy_denied`,
    /// `pending_approval`, `internal`, ...
    pub code: String,
    /// What went wrong.
    pub message: String,
    /// What to do next.
    pub hint: String,
    /// Structured detail: the offending field's `path`, or the `decision`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<Json>,
}

impl ApiError {
    pub(crate) fn new(
        status: StatusCode,
        code: &'static str,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            hint: hint.into(),
            detail: None,
        }
    }

    /// 401: no credentials, or credentials that do not work.
    pub fn unauthenticated(message: impl Into<String>) -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            message,
            "Send `Authorization: Bearer <token>` with a current API token; an owner or admin can issue one.",
        )
    }

    /// 403: authenticated but not permitted.
    pub fn forbidden(message: impl Into<String>, hint: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", message, hint)
    }

    /// 404, phrased so as not to reveal whether the object exists elsewhere.
    pub fn not_found(what: impl std::fmt::Display) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("There is no {what} in this organization."),
            "Check the name; list the collection to see what exists.",
        )
    }

    /// 400 with the offending field's path.
    pub fn invalid(path: impl Into<String>, message: impl Into<String>) -> ApiError {
        let path = path.into();
        let message = message.into();
        let shown = if path.is_empty() || path == "." {
            message
        } else {
            format!("`{path}`: {message}")
        };
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", shown, "Fix the field and send the request again; the OpenAPI document at /api/v2/openapi.json describes every body.")
            .with_detail(json!({ "path": path }))
    }

    /// 409: conflicts with what is stored.
    pub fn conflict(message: impl Into<String>, hint: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, "conflict", message, hint)
    }

    /// 409: the caller's `If-Match` version is stale.
    pub fn version_conflict(current: i64) -> ApiError {
        ApiError::new(
            StatusCode::CONFLICT,
            "version_conflict",
            format!("The object changed since you read it; it is now at version {current}."),
            "Read it again, reapply your change and send it with the new version in If-Match.",
        )
        .with_detail(json!({ "version": current }))
    }

    /// 500 (details go to the log only).
    pub fn internal(err: impl std::fmt::Display) -> ApiError {
        tracing::error!(error = %err, "internal error");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "The hub failed to complete the request; nothing was changed.",
            "Retry later; if it persists, the hub's log has the cause.",
        )
    }

    /// A response with a different status and code (e.g. the gated 409/202).
    pub fn gated(
        status: StatusCode,
        code: &'static str,
        message: String,
        hint: String,
        detail: Json,
    ) -> ApiError {
        ApiError::new(status, code, message, hint).with_detail(detail)
    }

    /// Adds structured detail.
    pub fn with_detail(mut self, detail: Json) -> ApiError {
        self.detail = Some(detail);
        self
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> ApiError {
        match err {
            StoreError::Conflict(message) => ApiError::conflict(
                message,
                "Choose another name, or update the existing object.",
            ),
            other => ApiError::internal(other),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_owned(),
                message: self.message,
                hint: self.hint,
                detail: self.detail,
            },
        };
        (self.status, axum::Json(body)).into_response()
    }
}

/// Result of a handler.
pub type ApiResult<T> = Result<T, ApiError>;
