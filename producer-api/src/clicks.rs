//! Accepting clicks: `POST /api/events` (one click or a batch) and the reference design's
//! `GET /api/select`. Each click is validated, given its event id and parsed user agent, checked
//! against the ids accepted recently, and queued for Kafka.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{RawQuery, State};
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use common::event::normalize_user_name;
use common::{ColorEvent, EventError};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::clients::Crawlers;
use crate::dedup::{Claim, parse_client_event_id};
use crate::error::ApiError;
use crate::extract::{ApiQuery, BodyKind, ClientAddress, RequestAgent};
use crate::intake::{self, BodyEncoding, ClickRequest, Clicks, IntakeError};
use crate::metrics::ReasonLabel;
use crate::publisher::EnqueueError;
use crate::state::AppState;
use crate::user_agents::Agent;

/// `GET /api/select` query, the reference design's endpoint.
#[derive(Debug, Deserialize)]
pub struct SelectQuery {
    pub color: String,
    pub user: String,
}

/// The answer for an accepted click.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Accepted {
    pub event_id: Uuid,
    /// The click's `eventId` was accepted moments ago: it is not produced again.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub duplicate: bool,
    /// Why the click was answered but not produced (`crawler`), if it was not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_recorded: Option<&'static str>,
}

/// One entry of a batch's answer, in the order of the clicks.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum ClickOutcome {
    Accepted(Accepted),
    Refused { error: serde_json::Value },
}

pub async fn post_events(
    State(state): State<AppState>,
    ClientAddress(client): ClientAddress,
    RequestAgent(agent): RequestAgent,
    BodyKind { encoding }: BodyKind,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body?;
    let json = match encoding {
        BodyEncoding::Identity => Cow::Borrowed(&body[..]),
        BodyEncoding::Gzip => Cow::Owned(intake::inflate(&body)?),
    };
    let clicks = intake::parse_clicks(&json)?;
    state.admit(client, clicks.len())?;
    match clicks {
        Clicks::One(click) => {
            state.metrics.clicks_per_request.observe(1.0);
            let accepted = accept_request(&state, &agent, click)?;
            Ok((StatusCode::ACCEPTED, Json(accepted)).into_response())
        }
        Clicks::Batch(clicks) => {
            state
                .metrics
                .clicks_per_request
                .observe(clicks.len() as f64);
            Ok(accept_batch(&state, &agent, clicks))
        }
    }
}

/// Accepts each click of a batch on its own. The answer is 202 when any click was accepted;
/// when none was, it takes the status the first refusal would have alone (503 with
/// `Retry-After` when the queue was full). Either way the body lists every click's outcome.
fn accept_batch(
    state: &AppState,
    agent: &Agent,
    clicks: Vec<Result<ClickRequest, IntakeError>>,
) -> Response {
    let mut first_refusal = None;
    let mut any_accepted = false;
    let outcomes: Vec<ClickOutcome> = clicks
        .into_iter()
        .map(|click| {
            let accepted = click
                .map_err(ApiError::from)
                .and_then(|click| accept_request(state, agent, click));
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
    let (status, retry_after) = match (&first_refusal, any_accepted) {
        (Some(err), false) => (err.status(), err.retry_after()),
        _ => (StatusCode::ACCEPTED, None),
    };
    let mut response = (status, Json(serde_json::json!({ "results": outcomes }))).into_response();
    if let Some(retry_after) = retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, retry_after);
    }
    response
}

/// Reads what a posted click adds to the colour and name: its time and its own id.
fn accept_request(
    state: &AppState,
    agent: &Agent,
    click: ClickRequest,
) -> Result<Accepted, ApiError> {
    let received_at = Utc::now();
    let client_timestamp = click
        .client_timestamp
        .map(|raw| client_time(&raw, received_at, state.event_id_max_skew))
        .transpose()?;
    let client_event_id = click
        .event_id
        .map(|raw| parse_client_event_id(&raw, received_at, state.event_id_max_skew))
        .transpose()?;
    accept_click(
        state,
        agent,
        &click.user_name,
        &click.color_name,
        received_at,
        client_timestamp,
        client_event_id,
    )
}

/// A click's own time: RFC 3339, and as near the collector's clock as a click's own event id
/// must be (a page sends clicks it kept offline later, but not years later).
fn client_time(
    raw: &str,
    received_at: DateTime<Utc>,
    max_skew: std::time::Duration,
) -> Result<DateTime<Utc>, ApiError> {
    let time = DateTime::parse_from_rfc3339(raw.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| ApiError::InvalidClientTimestamp(raw.to_owned()))?;
    let skew = (time - received_at)
        .abs()
        .to_std()
        .unwrap_or(std::time::Duration::MAX);
    if skew > max_skew {
        return Err(ApiError::ClientTimestampTooFar {
            time: raw.to_owned(),
            max_skew,
        });
    }
    Ok(time)
}

pub async fn select_color(
    method: Method,
    State(state): State<AppState>,
    ClientAddress(client): ClientAddress,
    RequestAgent(agent): RequestAgent,
    RawQuery(raw): RawQuery,
    ApiQuery(query): ApiQuery<SelectQuery>,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    // axum routes HEAD to GET handlers; a HEAD must not make an event.
    if method == Method::HEAD {
        return Err(ApiError::MethodNotAllowed);
    }
    check_query_is_utf8(raw.as_deref().unwrap_or_default())?;
    state.admit(client, 1)?;
    let accepted = accept_click(
        &state,
        &agent,
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
    agent: &Agent,
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
    if agent.browser.category == crate::user_agents::CRAWLER_CATEGORY
        && state.clients.crawlers == Crawlers::Drop
    {
        // Answered as accepted, so the crawler does not come back to try again.
        state
            .metrics
            .events_not_recorded
            .get_or_create(&ReasonLabel { reason: "crawler" })
            .inc();
        return Ok(Accepted {
            event_id: client_event_id.unwrap_or_else(Uuid::now_v7),
            duplicate: false,
            not_recorded: Some("crawler"),
        });
    }
    let mut event = ColorEvent::new(
        user_name,
        color_name,
        agent.raw.clone(),
        Arc::clone(&agent.browser),
        received_at,
        client_timestamp,
    );
    event.do_not_track = agent.do_not_track;
    if let Some(id) = client_event_id {
        event.event_id = id;
        if state.recent_ids.claim(id, Instant::now()) == Claim::Duplicate {
            state.metrics.events_duplicate.inc();
            tracing::debug!(event_id = %id, "repeated click answered, not produced again");
            return Ok(Accepted {
                event_id: id,
                duplicate: true,
                not_recorded: None,
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
        not_recorded: None,
    })
}
