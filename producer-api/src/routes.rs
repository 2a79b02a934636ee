//! The HTTP API: `fn app(state) -> Router`, driven by tests without a socket.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequestParts, MatchedPath, RawQuery, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
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

use crate::dedup::{Claim, RecentIds, parse_client_event_id};
use crate::error::{ApiError, RejectionReason};
use crate::intake::{
    self, BodyEncoding, BodyFormat, ClickRequest, Clicks, IntakeError, MAX_BODY_BYTES,
};
use crate::metrics::{ApiMetrics, ReasonLabel, RouteLabels};
use crate::origins::OriginGuard;
use crate::publisher::{EnqueueError, EventPublisher};
use crate::user_agents::UserAgentCache;

#[derive(Clone)]
pub struct AppState {
    pub publisher: Arc<dyn EventPublisher>,
    pub palette: Arc<Palette>,
    pub metrics: Arc<ApiMetrics>,
    user_agents: Arc<UserAgentCache>,
    recent_ids: Arc<RecentIds>,
    event_id_max_skew: Duration,
    registry: Arc<Registry>,
}

impl AppState {
    pub fn new(
        publisher: Arc<dyn EventPublisher>,
        palette: Palette,
        metrics: ApiMetrics,
        event_ids: &EventIdSettings,
    ) -> Self {
        let registry = Arc::new(metrics.registry("producer_api"));
        AppState {
            publisher,
            palette: Arc::new(palette),
            metrics: Arc::new(metrics),
            user_agents: Arc::default(),
            recent_ids: Arc::new(RecentIds::new(
                event_ids.dedup_window,
                event_ids.dedup_max_ids,
            )),
            event_id_max_skew: event_ids.max_skew,
            registry,
        }
    }
}

/// How clicks that carry their own `eventId` are checked and remembered.
#[derive(Debug, Clone)]
pub struct EventIdSettings {
    /// How far a client's id may be from the collector's clock.
    pub max_skew: Duration,
    /// How long an accepted id is remembered, so a retry is not produced again.
    pub dedup_window: Duration,
    /// Most ids remembered at once; the oldest are forgotten first.
    pub dedup_max_ids: usize,
}

impl Default for EventIdSettings {
    fn default() -> Self {
        EventIdSettings {
            max_skew: Duration::from_secs(24 * 3600),
            dedup_window: Duration::from_secs(600),
            dedup_max_ids: 100_000,
        }
    }
}

/// HTTP behaviour that is configuration rather than state.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    pub cors_allowed_origins: Vec<HeaderValue>,
    pub request_timeout: Duration,
    /// Whether `/metrics` is served here; off when it has an address of its own.
    pub serve_metrics: bool,
}

pub fn app(state: AppState, settings: &HttpSettings) -> Router {
    // Shared, not copied: the layers are cloned for every request.
    let allowed: Arc<[HeaderValue]> = settings.cors_allowed_origins.clone().into();
    let cors = CorsLayer::new()
        .allow_origin(AllowOrigin::predicate({
            let allowed = Arc::clone(&allowed);
            move |origin, _| allowed.contains(origin)
        }))
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([header::CONTENT_TYPE, header::CONTENT_ENCODING])
        .max_age(Duration::from_secs(3600));
    let origins = OriginGuard::new(allowed, state.metrics.clone());
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
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            settings.request_timeout,
        ))
        .layer(cors)
        .layer(middleware::from_fn_with_state(origins, guard_requests))
        .with_state(state)
}

/// `/metrics` alone, for an address of its own (`METRICS_ADDR`), off the public listener.
pub fn metrics_app(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .fallback(|| async { ApiError::NotFound })
        .with_state(state)
}

/// `GET /api/select` query, the reference design's endpoint.
#[derive(Debug, Deserialize)]
pub struct SelectQuery {
    pub color: String,
    pub user: String,
}

/// The answer for an accepted click.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Accepted {
    pub event_id: Uuid,
    /// The click's `eventId` was accepted moments ago: it is not produced again.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub duplicate: bool,
}

/// One entry of a batch's answer, in the order of the clicks.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum ClickOutcome {
    Accepted(Accepted),
    Refused { error: serde_json::Value },
}

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

async fn post_events(
    State(state): State<AppState>,
    UserAgent(user_agent): UserAgent,
    BodyKind { encoding }: BodyKind,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body?;
    let json = match encoding {
        BodyEncoding::Identity => Cow::Borrowed(&body[..]),
        BodyEncoding::Gzip => Cow::Owned(intake::inflate(&body)?),
    };
    match intake::parse_clicks(&json)? {
        Clicks::One(click) => {
            state.metrics.clicks_per_request.observe(1.0);
            let accepted = accept_request(&state, user_agent, click)?;
            Ok((StatusCode::ACCEPTED, Json(accepted)).into_response())
        }
        Clicks::Batch(clicks) => {
            state
                .metrics
                .clicks_per_request
                .observe(clicks.len() as f64);
            Ok(accept_batch(&state, &user_agent, clicks))
        }
    }
}

/// Accepts each click of a batch on its own. The answer is 202 when any click was accepted;
/// when none was, it takes the status the first refusal would have alone (503 with
/// `Retry-After` when the queue was full). Either way the body lists every click's outcome.
fn accept_batch(
    state: &AppState,
    user_agent: &str,
    clicks: Vec<Result<ClickRequest, IntakeError>>,
) -> Response {
    let mut first_refusal = None;
    let mut any_accepted = false;
    let outcomes: Vec<ClickOutcome> = clicks
        .into_iter()
        .map(|click| {
            let accepted = click
                .map_err(ApiError::from)
                .and_then(|click| accept_request(state, user_agent.to_owned(), click));
            match accepted {
                Ok(accepted) => {
                    any_accepted = true;
                    ClickOutcome::Accepted(accepted)
                }
                Err(err) => {
                    state
                        .metrics
                        .events_rejected
                        .get_or_create(&ReasonLabel { reason: err.code() })
                        .inc();
                    let error = err.body();
                    first_refusal.get_or_insert(err);
                    ClickOutcome::Refused { error }
                }
            }
        })
        .collect();
    let status = match (&first_refusal, any_accepted) {
        (Some(err), false) => err.status(),
        _ => StatusCode::ACCEPTED,
    };
    let mut response = (status, Json(serde_json::json!({ "results": outcomes }))).into_response();
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    response
}

/// Reads what a posted click adds to the colour and name: its time and its own id.
fn accept_request(
    state: &AppState,
    user_agent: String,
    click: ClickRequest,
) -> Result<Accepted, ApiError> {
    let received_at = Utc::now();
    let client_timestamp = click
        .client_timestamp
        .map(|raw| {
            DateTime::parse_from_rfc3339(raw.trim())
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| ApiError::InvalidClientTimestamp(raw))
        })
        .transpose()?;
    let client_event_id = click
        .event_id
        .map(|raw| parse_client_event_id(&raw, received_at, state.event_id_max_skew))
        .transpose()?;
    accept_click(
        state,
        user_agent,
        &click.user_name,
        &click.color_name,
        received_at,
        client_timestamp,
        client_event_id,
    )
}

async fn select_color(
    method: Method,
    State(state): State<AppState>,
    UserAgent(user_agent): UserAgent,
    RawQuery(raw): RawQuery,
    ApiQuery(query): ApiQuery<SelectQuery>,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    // axum routes HEAD to GET handlers; a HEAD must not make an event.
    if method == Method::HEAD {
        return Err(ApiError::MethodNotAllowed);
    }
    check_query_is_utf8(raw.as_deref().unwrap_or_default())?;
    let accepted = accept_click(
        &state,
        user_agent,
        &query.user,
        &query.color,
        Utc::now(),
        None,
        None,
    )?;
    Ok((StatusCode::ACCEPTED, Json(accepted)))
}

/// Refuses a query whose values are not UTF-8 once percent-decoded (`user=%FF`): the query
/// parser would put U+FFFD in their place, where a POST body with the same bytes is refused.
fn check_query_is_utf8(raw: &str) -> Result<(), ApiError> {
    for part in raw.split(['&', '=']) {
        let spaced = part.replace('+', " ");
        if percent_encoding::percent_decode_str(&spaced)
            .decode_utf8()
            .is_err()
        {
            return Err(ApiError::InvalidQuery(format!(
                "{part:?} is not UTF-8 once decoded"
            )));
        }
    }
    Ok(())
}

/// Validates a click, makes its event and queues it, unless its own id was accepted within
/// the dedup window: then it is answered as accepted again and not produced.
fn accept_click(
    state: &AppState,
    user_agent: String,
    user_name: &str,
    color_name: &str,
    received_at: DateTime<Utc>,
    client_timestamp: Option<DateTime<Utc>>,
    client_event_id: Option<Uuid>,
) -> Result<Accepted, ApiError> {
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
    let mut event = ColorEvent::new(
        user_name,
        color_name,
        user_agent,
        browser,
        received_at,
        client_timestamp,
    );
    if let Some(id) = client_event_id {
        event.event_id = id;
        if state.recent_ids.claim(id, Instant::now()) == Claim::Duplicate {
            state.metrics.events_duplicate.inc();
            tracing::debug!(event_id = %id, "repeated click answered, not produced again");
            return Ok(Accepted {
                event_id: id,
                duplicate: true,
            });
        }
    }
    if let Err(err) = state.publisher.enqueue(&event) {
        if let Some(id) = client_event_id {
            state.recent_ids.release(id);
        }
        return Err(match err {
            EnqueueError::QueueFull => ApiError::QueueFull,
            EnqueueError::Producer(detail) => ApiError::ProducerUnavailable(detail),
        });
    }
    state.metrics.events_accepted.inc();
    tracing::debug!(event_id = %event.event_id, color = %event.color_name, "event accepted");
    Ok(Accepted {
        event_id: event.event_id,
        duplicate: false,
    })
}

async fn readyz(State(state): State<AppState>) -> Response {
    match state.publisher.readiness() {
        Ok(()) => Json(serde_json::json!({ "status": "ready" })).into_response(),
        Err(reason) => {
            let body = serde_json::json!({ "status": "not ready", "reason": reason });
            (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
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

/// Every request passes here once, outside every other layer (so refused preflights are seen
/// too): refused at once when its origin is not allowed, then timed, and a refusal counted by
/// reason. One middleware rather than one per concern: each costs a boxed future and a cloned
/// service per request.
async fn guard_requests(
    State(origins): State<OriginGuard>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let route = route_label(request.extensions().get::<MatchedPath>());
    let response = match origins.refusal(&request) {
        Some(refusal) => refusal.into_response(),
        None => next.run(request).await,
    };
    let metrics = origins.metrics();
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
