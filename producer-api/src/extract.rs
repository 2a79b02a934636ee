//! What handlers read from a request's headers and query before its body: the client, the user
//! agent, the body's framing and encoding, a query whose refusals are API errors.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header;

use crate::clients::PrivacySignals;
use crate::error::ApiError;
use crate::intake::{self, BodyEncoding, BodyFormat, IntakeError, MAX_BODY_BYTES};
use crate::state::AppState;
use crate::user_agents::Agent;

/// The client's address: the peer's, or what a trusted proxy forwarded
/// ([`crate::client_address`]). A request that came through no listener (a test's `oneshot`)
/// is from `0.0.0.0`.
pub struct ClientAddress(pub IpAddr);

impl FromRequestParts<AppState> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |info| info.0.ip());
        Ok(ClientAddress(
            state
                .clients
                .trusted_proxies
                .client_of(peer, &parts.headers),
        ))
    }
}

/// The request's user agent ([`Agent`]): the header cut to what events keep, and parsed, once
/// per request; none of it kept when the browser asks not to be tracked (`DNT: 1`, or Global
/// Privacy Control's `Sec-GPC: 1`) and `PRIVACY_SIGNALS` honours that.
pub struct RequestAgent(pub Agent);

/// Whether a request carries a privacy signal: `DNT: 1` or `Sec-GPC: 1`.
pub fn asks_not_to_be_tracked(headers: &axum::http::HeaderMap) -> bool {
    ["dnt", "sec-gpc"].iter().any(|name| {
        headers
            .get(*name)
            .is_some_and(|value| value.as_bytes().trim_ascii() == b"1")
    })
}

impl FromRequestParts<AppState> for RequestAgent {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(header::USER_AGENT)
            .map(|v| v.as_bytes())
            .unwrap_or_default();
        let do_not_track = state.clients.privacy_signals == PrivacySignals::Honour
            && asks_not_to_be_tracked(&parts.headers);
        Ok(RequestAgent(state.user_agents.agent(header, do_not_track)))
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
