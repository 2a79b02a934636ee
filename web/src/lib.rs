//! The colour page and the results page. `fn app(config, results) -> Router` serves both
//! pages, their scripts and style sheet; the browser posts each click straight to the producer
//! API, and the results page asks this server (never the search cluster) for what the clicks
//! became.

pub mod config;
pub mod forget;
pub mod results;

use std::future::Future;

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use tokio::net::TcpListener;
use tower_http::set_header::SetResponseHeaderLayer;

pub use config::Config;
pub use results::Results;
use uuid::Uuid;

const APP_JS: &str = include_str!("../assets/app.js");
const RESULTS_HTML: &str = include_str!("../assets/results.html");
const RESULTS_JS: &str = include_str!("../assets/results.js");
const STYLE_CSS: &str = include_str!("../assets/style.css");
const FAVICON_SVG: &str = include_str!("../assets/favicon.svg");

/// The page. Every value is escaped by askama; the script reads them from `data-` attributes
/// and writes text with `textContent`, so nothing a person types is ever parsed as markup.
#[derive(Template)]
#[template(path = "index.html")]
pub struct IndexPage<'a> {
    pub api_base: &'a str,
    pub colors: &'a [String],
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Config(String),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

pub fn app(config: &Config, results: Results) -> Router {
    let page = IndexPage {
        api_base: &config.api_base(),
        colors: config.color_palette.colors(),
    }
    .render()
    .expect("the page template renders with any valid configuration");
    let csp = format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
         connect-src 'self' {}; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        config.api_origin()
    );
    let csp = HeaderValue::from_str(&csp).expect("an origin is a valid header value");
    Router::new()
        .route("/", get(move || async move { Html(page) }))
        .route(
            "/app.js",
            get(|| async { asset("text/javascript; charset=utf-8", APP_JS) }),
        )
        .route(
            "/style.css",
            get(|| async { asset("text/css; charset=utf-8", STYLE_CSS) }),
        )
        .route(
            "/favicon.svg",
            get(|| async { asset("image/svg+xml", FAVICON_SVG) }),
        )
        .route(
            "/favicon.ico",
            get(|| async { asset("image/svg+xml", FAVICON_SVG) }),
        )
        .route("/results", get(|| async { Html(RESULTS_HTML) }))
        .route(
            "/results/data",
            get(results_data).with_state(results.clone()),
        )
        .merge(forget::route(results, config.forget_token.as_deref()))
        .route(
            "/results.js",
            get(|| async { asset("text/javascript; charset=utf-8", RESULTS_JS) }),
        )
        .route("/healthz", get(|| async { "ok" }))
        .fallback(|| async { (StatusCode::NOT_FOUND, "not found") })
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            csp,
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct ResultsQuery {
    /// The person's own clicks, comma-separated event ids.
    #[serde(default)]
    event_ids: String,
}

/// `/results/data?eventIds=a,b`: the shared snapshot and the person's indexed clicks. The ids
/// are the only input; anything but up to 20 UUIDs is a 400.
async fn results_data(
    State(results): State<Results>,
    query: Result<Query<ResultsQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let raw = match query {
        Ok(Query(query)) => query.event_ids,
        Err(rejection) => return bad_request("invalid_query", &rejection.body_text()),
    };
    let ids = match parse_event_ids(&raw) {
        Ok(ids) => ids,
        Err(why) => return bad_request("invalid_event_id", &why),
    };
    let data = results.page_data(&ids).await;
    ([(header::CACHE_CONTROL, "no-store")], Json(data)).into_response()
}

/// Comma-separated event ids: at most [`results::MAX_OWN_CLICKS`], each a UUID.
pub fn parse_event_ids(raw: &str) -> Result<Vec<Uuid>, String> {
    let ids: Vec<&str> = raw.split(',').filter(|id| !id.is_empty()).collect();
    if ids.len() > results::MAX_OWN_CLICKS {
        return Err(format!(
            "at most {} event ids, not {}",
            results::MAX_OWN_CLICKS,
            ids.len()
        ));
    }
    ids.into_iter()
        .map(|id| {
            Uuid::parse_str(id).map_err(|_| {
                let shown: String = id.chars().take(40).collect();
                format!("{shown:?} is not an event id (a UUID)")
            })
        })
        .collect()
}

fn bad_request(code: &str, message: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(serde_json::json!({ "error": { "code": code, "message": message } })),
    )
        .into_response()
}

/// Serves the pages on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    config: &Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    let results = Results::new(config).map_err(Error::Config)?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, api = %config.api_base(), "page served at http://{addr}/, results at http://{addr}/results");
    axum::serve(listener, app(config, results))
        .with_graceful_shutdown(shutdown)
        .await?;
    Ok(())
}
