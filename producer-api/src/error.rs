//! Every way a request can fail, and the JSON answer each one gets:
//! `{"error": {"code": "...", "message": "..."}}`. A client's mistake is always a 4xx.

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
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
    #[error("expected a request with `Content-Type: application/json`")]
    UnsupportedMediaType,
    #[error("request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
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
            | ApiError::InvalidQuery(_) => StatusCode::BAD_REQUEST,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
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
            ApiError::PayloadTooLarge { .. } => "payload_too_large",
            ApiError::UnreadableBody(_) => "unreadable_body",
            ApiError::InvalidQuery(_) => "invalid_query",
            ApiError::NotFound => "not_found",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::QueueFull => "queue_full",
            ApiError::ProducerUnavailable(_) => "producer_unavailable",
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if let ApiError::ProducerUnavailable(detail) = &self {
            // The detail is for operators; the client only learns to come back later.
            tracing::error!(%detail, "cannot enqueue event");
        }
        let body = json!({ "error": { "code": self.code(), "message": self.to_string() } });
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

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection {
            JsonRejection::JsonDataError(e) => ApiError::InvalidBody(e.body_text()),
            JsonRejection::JsonSyntaxError(e) => ApiError::MalformedJson(e.body_text()),
            JsonRejection::MissingJsonContentType(_) => ApiError::UnsupportedMediaType,
            JsonRejection::BytesRejection(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                ApiError::PayloadTooLarge {
                    limit: crate::routes::MAX_BODY_BYTES,
                }
            }
            other => ApiError::UnreadableBody(other.body_text()),
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        ApiError::InvalidQuery(rejection.body_text())
    }
}
