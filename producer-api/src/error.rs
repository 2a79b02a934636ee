//! Every way a request can fail, and the JSON answer each one gets:
//! `{"error": {"code": "...", "message": "..."}}`. A client's mistake is always a 4xx.

use axum::Json;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use common::EventError;
use serde_json::json;

use crate::intake::{IntakeError, MAX_BODY_BYTES};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    InvalidEvent(#[from] EventError),
    #[error("clientTimestamp {0:?} is not an RFC 3339 time")]
    InvalidClientTimestamp(String),
    #[error("clientTimestamp {time:?} is more than {} from the collector's clock", humantime::format_duration(*max_skew))]
    ClientTimestampTooFar {
        time: String,
        max_skew: std::time::Duration,
    },
    #[error(transparent)]
    Intake(#[from] IntakeError),
    #[error("{0}")]
    InvalidEventId(#[from] crate::dedup::EventIdError),
    #[error("origin {0} is not allowed to send clicks")]
    OriginNotAllowed(String),
    #[error(
        "this request must come from an allowed page: a POST must name its page (Origin or Referer), and a cross-site GET is refused"
    )]
    OriginRequired,
    #[error("cannot read the request body: {0}")]
    UnreadableBody(String),
    #[error("query string is invalid: {0}")]
    InvalidQuery(String),
    #[error("no such resource")]
    NotFound,
    #[error("method not allowed on this resource")]
    MethodNotAllowed,
    #[error("the request was not finished within the request timeout")]
    RequestTimeout,
    #[error(
        "this client sent more clicks than its share; retry after {} s",
        retry_after_seconds(*retry_after)
    )]
    PastFairShare { retry_after: std::time::Duration },
    #[error("the event queue is full; retry shortly")]
    QueueFull,
    #[error("events cannot be accepted right now")]
    ProducerUnavailable(String),
}

/// Set on every error response so the metrics layer can count rejections by reason.
#[derive(Debug, Clone, Copy)]
pub struct RejectionReason(pub &'static str);

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Intake(e) => e.status(),
            ApiError::InvalidEvent(_) | ApiError::InvalidClientTimestamp(_) => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            ApiError::UnreadableBody(_)
            | ApiError::ClientTimestampTooFar { .. }
            | ApiError::InvalidQuery(_)
            | ApiError::InvalidEventId(_) => StatusCode::BAD_REQUEST,
            ApiError::OriginNotAllowed(_) | ApiError::OriginRequired => StatusCode::FORBIDDEN,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::PastFairShare { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::QueueFull | ApiError::ProducerUnavailable(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
        }
    }

    /// When the client may come back, for `Retry-After`: past its share, when enough clicks
    /// are back; with the queue full, in a second.
    pub(crate) fn retry_after(&self) -> Option<HeaderValue> {
        match self {
            ApiError::PastFairShare { retry_after } => {
                Some(HeaderValue::from(retry_after_seconds(*retry_after)))
            }
            ApiError::QueueFull | ApiError::ProducerUnavailable(_) => {
                Some(HeaderValue::from_static("1"))
            }
            _ => None,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::InvalidEvent(e) => e.code(),
            ApiError::InvalidClientTimestamp(_) => "invalid_client_timestamp",
            ApiError::ClientTimestampTooFar { .. } => "client_timestamp_too_far",
            ApiError::Intake(e) => e.code(),
            ApiError::InvalidEventId(_) => "invalid_event_id",
            ApiError::OriginNotAllowed(_) => "origin_not_allowed",
            ApiError::OriginRequired => "origin_required",
            ApiError::UnreadableBody(_) => "unreadable_body",
            ApiError::InvalidQuery(_) => "invalid_query",
            ApiError::NotFound => "not_found",
            ApiError::RequestTimeout => "request_timeout",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::PastFairShare { .. } => "past_fair_share",
            ApiError::QueueFull => "queue_full",
            ApiError::ProducerUnavailable(_) => "producer_unavailable",
        }
    }

    /// What the client is told: `{"code": "...", "message": "..."}`, the value of the answer's
    /// `error` field (and of a refused click's in a batch). Logs what only operators need.
    pub fn body(&self) -> serde_json::Value {
        if let ApiError::ProducerUnavailable(detail) = self {
            // The detail is for operators; the client only learns to come back later.
            tracing::error!(%detail, "cannot enqueue event");
        }
        json!({ "code": self.code(), "message": self.to_string() })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = json!({ "error": self.body() });
        let mut response = (status, Json(body)).into_response();
        if let Some(retry_after) = self.retry_after() {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, retry_after);
        }
        response
            .extensions_mut()
            .insert(RejectionReason(self.code()));
        response
    }
}

/// Whole seconds, rounded up, and at least one: `Retry-After` takes no fractions, and a
/// client told 0 would come back at once.
fn retry_after_seconds(wait: std::time::Duration) -> u64 {
    wait.as_secs_f64().ceil().max(1.0) as u64
}

impl From<BytesRejection> for ApiError {
    fn from(rejection: BytesRejection) -> Self {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::Intake(IntakeError::PayloadTooLarge {
                limit: MAX_BODY_BYTES,
            })
        } else {
            ApiError::UnreadableBody(rejection.body_text())
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        ApiError::InvalidQuery(rejection.body_text())
    }
}
