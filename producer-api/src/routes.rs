//! The HTTP API: `fn app(state) -> Router`, driven by tests without a socket.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{FromRequest, FromRequestParts, MatchedPath, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use common::event::normalize_user_name;
use common::{ColorEvent, EventError, Palette};
use prometheus_client::registry::Registry;
use serde::{Deserialize, Serialize};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::timeout::TimeoutLayer;
use uuid::Uuid;

use crate::error::{ApiError, RejectionReason};
use crate::metrics::{ApiMetrics, ReasonLabel, RouteLabels};
use crate::publisher::{EnqueueError, EventPublisher};
use crate::user_agents::UserAgentCache;

/// Largest request body accepted, in bytes.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

#[derive(Clone)]
pub struct AppState {
    pub publisher: Arc<dyn EventPublisher>,
    pub palette: Arc<Palette>,
    pub metrics: Arc<ApiMetrics>,
    user_agents: Arc<UserAgentCache>,
    registry: Arc<Registry>,
}

impl AppState {
    pub fn new(publisher: Arc<dyn EventPublisher>, palette: Palette, metrics: ApiMetrics) -> Self {
        let registry = Arc::new(metrics.registry());
        AppState {
            publisher,
            palette: Arc::new(palette),
            metrics: Arc::new(metrics),
            user_agents: Arc::default(),
            registry,
        }
    }
}

/// HTTP behaviour that is configuration rather than state.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    pub cors_allowed_origins: Vec<axum::http::HeaderValue>,
    pub request_timeout: Duration,
}

pub fn app(state: AppState, settings: &HttpSettings) -> Router {
    let cors = CorsLayer::new()
        .allow_origin(AllowOrigin::list(settings.cors_allowed_origins.clone()))
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([header::CONTENT_TYPE])
        .max_age(Duration::from_secs(3600));
    Router::new()
        .route("/api/events", post(post_event))
        .route("/api/select", get(select_color))
        .route("/healthz", get(common::http::healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .fallback(|| async { ApiError::NotFound })
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn_with_state(
            state.metrics.clone(),
            track_requests,
        ))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            settings.request_timeout,
        ))
        .layer(cors)
        .with_state(state)
}

/// `POST /api/events` body.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClickRequest {
    pub user_name: String,
    pub color_name: String,
    /// When the page saw the click, RFC 3339.
    #[serde(default)]
    pub client_timestamp: Option<String>,
}

/// `GET /api/select` query, the reference design's endpoint.
#[derive(Debug, Deserialize)]
pub struct SelectQuery {
    pub color: String,
    pub user: String,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Accepted {
    pub event_id: Uuid,
}

/// JSON body extractor whose rejections are [`ApiError`]s.
#[derive(FromRequest)]
#[from_request(via(Json), rejection(ApiError))]
pub struct ApiJson<T>(pub T);

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

async fn post_event(
    State(state): State<AppState>,
    UserAgent(user_agent): UserAgent,
    ApiJson(click): ApiJson<ClickRequest>,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    let client_timestamp = click
        .client_timestamp
        .map(|raw| {
            DateTime::parse_from_rfc3339(raw.trim())
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| ApiError::InvalidClientTimestamp(raw))
        })
        .transpose()?;
    accept_click(
        &state,
        user_agent,
        &click.user_name,
        &click.color_name,
        client_timestamp,
    )
}

async fn select_color(
    State(state): State<AppState>,
    UserAgent(user_agent): UserAgent,
    ApiQuery(query): ApiQuery<SelectQuery>,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    accept_click(&state, user_agent, &query.user, &query.color, None)
}

fn accept_click(
    state: &AppState,
    user_agent: String,
    user_name: &str,
    color_name: &str,
    client_timestamp: Option<DateTime<Utc>>,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    let received_at = Utc::now();
    let user_name = normalize_user_name(user_name)?;
    let color_name = state
        .palette
        .canonical(color_name)
        .ok_or_else(|| EventError::UnknownColor {
            color: color_name.to_owned(),
            palette: state.palette.to_string(),
        })?
        .to_owned();
    let browser = state.user_agents.browser(&user_agent);
    let event = ColorEvent::new(
        user_name,
        color_name,
        user_agent,
        browser,
        received_at,
        client_timestamp,
    );
    state.publisher.enqueue(&event).map_err(|err| match err {
        EnqueueError::QueueFull => ApiError::QueueFull,
        EnqueueError::Producer(detail) => ApiError::ProducerUnavailable(detail),
    })?;
    state.metrics.accepted.inc();
    tracing::debug!(event_id = %event.event_id, color = %event.color_name, "event accepted");
    Ok((
        StatusCode::ACCEPTED,
        Json(Accepted {
            event_id: event.event_id,
        }),
    ))
}

async fn readyz(State(state): State<AppState>) -> Response {
    if state.publisher.is_ready() {
        Json(serde_json::json!({ "status": "ready" })).into_response()
    } else {
        let body = serde_json::json!({ "status": "not ready", "reason": "broker metadata not fetched recently" });
        (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
    }
}

async fn metrics(State(state): State<AppState>) -> Response {
    state.metrics.queue_depth.set(state.publisher.queue_depth());
    common::http::metrics_response(&state.registry)
}

/// Times every request and counts refusals by reason.
async fn track_requests(
    State(metrics): State<Arc<ApiMetrics>>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let route = route_label(request.extensions().get::<MatchedPath>());
    let response = next.run(request).await;
    if let Some(RejectionReason(reason)) = response.extensions().get::<RejectionReason>() {
        metrics
            .rejected
            .get_or_create(&ReasonLabel { reason })
            .inc();
    }
    metrics
        .request_duration
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
