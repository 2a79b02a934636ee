//! Every way a request can fail, and the JSON answer each one gets:
//! `{"error": {"code": "...", "message": "..."}}`. A client's mistake is always a 4xx.

use axum::Json;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use common::EventError;
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    InvalidEvent(#[from] EventError),
    #[error("clientTimestamp {0:?} is not an RFC 3339 time")]
    InvalidClientTimestamp(String),
    #[error("request body is not valid JSON: {0}")]
    MalformedJson(String),
    #[error("request body does not match the expected fields: {0}")]
    InvalidBody(String),
    #[error(
        "expected a request with `Content-Type: application/json`, or `text/plain` holding JSON (a beacon), in UTF-8"
    )]
    UnsupportedMediaType,
    #[error("`Content-Encoding: {0}` is not taken; send gzip or no encoding")]
    UnsupportedEncoding(String),
    #[error("request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("request body is not a valid gzip stream: {0}")]
    MalformedGzip(String),
    #[error(
        "request body inflates to more than {limit} bytes or {ratio} times its compressed size"
    )]
    InflatesTooFar { limit: usize, ratio: usize },
    #[error("a batch holds at least one click")]
    EmptyBatch,
    #[error("a batch holds at most {limit} clicks; this one holds {sent}")]
    TooManyClicks { sent: usize, limit: usize },
    #[error("{0}")]
    InvalidEventId(#[from] crate::dedup::EventIdError),
    #[error("origin {0} is not allowed to send clicks")]
    OriginNotAllowed(String),
    #[error(
        "this request must come from an allowed page: a text/plain POST must name its Origin, and a cross-site GET is refused"
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
            ApiError::InvalidEvent(_)
            | ApiError::InvalidClientTimestamp(_)
            | ApiError::InvalidBody(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::MalformedJson(_)
            | ApiError::UnreadableBody(_)
            | ApiError::InvalidQuery(_)
            | ApiError::MalformedGzip(_)
            | ApiError::EmptyBatch
            | ApiError::InvalidEventId(_) => StatusCode::BAD_REQUEST,
            ApiError::UnsupportedMediaType | ApiError::UnsupportedEncoding(_) => {
                StatusCode::UNSUPPORTED_MEDIA_TYPE
            }
            ApiError::PayloadTooLarge { .. }
            | ApiError::InflatesTooFar { .. }
            | ApiError::TooManyClicks { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::OriginNotAllowed(_) | ApiError::OriginRequired => StatusCode::FORBIDDEN,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::QueueFull | ApiError::ProducerUnavailable(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::InvalidEvent(e) => e.code(),
            ApiError::InvalidClientTimestamp(_) => "invalid_client_timestamp",
            ApiError::MalformedJson(_) => "malformed_json",
            ApiError::InvalidBody(_) => "invalid_body",
            ApiError::UnsupportedMediaType => "unsupported_media_type",
            ApiError::UnsupportedEncoding(_) => "unsupported_encoding",
            ApiError::PayloadTooLarge { .. } => "payload_too_large",
            ApiError::MalformedGzip(_) => "malformed_gzip",
            ApiError::InflatesTooFar { .. } => "inflates_too_far",
            ApiError::EmptyBatch => "empty_batch",
            ApiError::TooManyClicks { .. } => "too_many_clicks",
            ApiError::InvalidEventId(_) => "invalid_event_id",
            ApiError::OriginNotAllowed(_) => "origin_not_allowed",
            ApiError::OriginRequired => "origin_required",
            ApiError::UnreadableBody(_) => "unreadable_body",
            ApiError::InvalidQuery(_) => "invalid_query",
            ApiError::NotFound => "not_found",
            ApiError::MethodNotAllowed => "method_not_allowed",
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
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
            .extensions_mut()
            .insert(RejectionReason(self.code()));
        response
    }
}

impl From<BytesRejection> for ApiError {
    fn from(rejection: BytesRejection) -> Self {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge {
                limit: crate::intake::MAX_BODY_BYTES,
            }
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
