//! The HTTP API: `fn app(state) -> Router`, driven by tests without a socket, and the one
//! middleware every request passes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::clicks::{post_events, select_color};
use crate::cors;
use crate::error::{ApiError, RejectionReason};
use crate::intake::MAX_BODY_BYTES;
use crate::metrics::{ReasonLabel, RouteLabels};
use crate::origins::OriginGuard;
use crate::state::AppState;

/// HTTP behaviour that is configuration rather than state.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    pub cors_allowed_origins: Vec<HeaderValue>,
    /// Whether a POST naming no page (neither `Origin` nor `Referer`) is taken.
    pub allow_no_origin: bool,
    pub request_timeout: Duration,
    /// Whether `/metrics` is served here; off when it has an address of its own.
    pub serve_metrics: bool,
}

pub fn app(state: AppState, settings: &HttpSettings) -> Router {
    // Shared, not copied: the middleware's state is cloned for every request.
    let allowed: Arc<[HeaderValue]> = settings.cors_allowed_origins.clone().into();
    let guard = RequestGuard {
        origins: OriginGuard::new(allowed, settings.allow_no_origin, state.metrics.clone()),
        timeout: settings.request_timeout,
    };
    let router = Router::new()
        .route("/api/events", post(post_events))
        .route("/api/select", get(select_color))
        .route("/healthz", get(common::http::healthz))
        .route("/readyz", get(readyz));
    let router = if settings.serve_metrics {
        router.route("/metrics", get(metrics))
    } else {
        router
    };
    router
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .fallback(|| async { ApiError::NotFound })
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn_with_state(guard, guard_requests))
        .with_state(state)
}

/// `/metrics` and `/readyz`, for an address of its own (`METRICS_ADDR`), off the public
/// listener: what a monitor (or the results page) reads in one place.
pub fn metrics_app(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/readyz", get(readyz))
        .fallback(|| async { ApiError::NotFound })
        .with_state(state)
}

async fn readyz(State(state): State<AppState>) -> Response {
    match state.publisher.readiness() {
        Ok(()) => common::http::readiness_response(true, serde_json::json!({})),
        Err(reason) => {
            common::http::readiness_response(false, serde_json::json!({ "reason": reason }))
        }
    }
}

async fn metrics(State(state): State<AppState>) -> Response {
    state
        .metrics
        .producer_queue_depth
        .set(state.publisher.queue_depth());
    common::http::metrics_response(&state.registry)
}

/// What every request is checked against: its origin, and the time it may take.
#[derive(Clone)]
struct RequestGuard {
    origins: OriginGuard,
    timeout: Duration,
}

/// Every request passes here once, outside every other layer (so refused preflights are seen
/// too): refused at once when its origin is not allowed, a CORS preflight answered, answered
/// 408 when it takes longer than the request timeout, an allowed page let read the answer,
/// timed, and a refusal counted by reason. One middleware rather than one per concern: each
/// costs a boxed future and a cloned service per request.
async fn guard_requests(
    State(guard): State<RequestGuard>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let route = route_label(request.extensions().get::<MatchedPath>());
    let allowed = request
        .headers()
        .get(header::ORIGIN)
        .filter(|origin| guard.origins.allows(origin))
        .cloned();
    let response = match guard.origins.refusal(&request) {
        Some(refusal) => refusal.into_response(),
        None if cors::is_preflight(&request) => cors::preflight_answer(allowed.as_ref()),
        None => {
            let mut response = tokio::time::timeout(guard.timeout, next.run(request))
                .await
                .unwrap_or_else(|_| ApiError::RequestTimeout.into_response());
            cors::expose(response.headers_mut(), allowed.as_ref());
            response
        }
    };
    let metrics = guard.origins.metrics();
    if let Some(RejectionReason(reason)) = response.extensions().get::<RejectionReason>() {
        metrics
            .events_rejected
            .get_or_create(&ReasonLabel { reason })
            .inc();
    }
    metrics
        .request_duration_seconds
        .get_or_create(&RouteLabels {
            route,
            status: response.status().as_u16(),
        })
        .observe(started.elapsed().as_secs_f64());
    response
}

/// The routes' own paths as labels, so recording a request allocates nothing.
fn route_label(matched: Option<&MatchedPath>) -> &'static str {
    const ROUTES: [&str; 5] = [
        "/api/events",
        "/api/select",
        "/healthz",
        "/readyz",
        "/metrics",
    ];
    matched
        .and_then(|m| ROUTES.iter().find(|r| **r == m.as_str()))
        .copied()
        .unwrap_or("unmatched")
}
