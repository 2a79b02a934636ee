//! What handlers read from a request's headers and query before its body: the user agent, the
//! body's framing and encoding, a query whose refusals are API errors.

use axum::extract::FromRequestParts;
use axum::http::header;

use crate::error::ApiError;
use crate::intake::{self, BodyEncoding, BodyFormat, IntakeError, MAX_BODY_BYTES};

/// The raw `User-Agent` header, empty when absent; read without copying the other headers.
pub struct UserAgent(pub String);

impl<S: Send + Sync> FromRequestParts<S> for UserAgent {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        let raw = parts
            .headers
            .get(header::USER_AGENT)
            .map(|v| v.as_bytes())
            .unwrap_or_default();
        Ok(UserAgent(String::from_utf8_lossy(raw).into_owned()))
    }
}

/// Query extractor whose rejections are [`ApiError`]s.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct ApiQuery<T>(pub T);

/// How a POST body is framed and encoded, read from its headers without copying them; a beacon
/// must name its origin.
pub struct BodyKind {
    pub encoding: BodyEncoding,
}

impl<S: Send + Sync> FromRequestParts<S> for BodyKind {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        let headers = &parts.headers;
        // A declared length past the limit is refused before any of the body is awaited.
        let declared = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|length| length > MAX_BODY_BYTES as u64) {
            return Err(IntakeError::PayloadTooLarge {
                limit: MAX_BODY_BYTES,
            }
            .into());
        }
        let format = intake::body_format(headers.get(header::CONTENT_TYPE))?;
        let encoding = intake::body_encoding(headers.get(header::CONTENT_ENCODING))?;
        // A beacon is a simple request, which CORS does not guard; browsers always name its
        // origin, and one not allowed was refused before this.
        if format == BodyFormat::Beacon && !headers.contains_key(header::ORIGIN) {
            return Err(ApiError::OriginRequired);
        }
        Ok(BodyKind { encoding })
    }
}
