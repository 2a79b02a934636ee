//! The colour page. `fn app(config) -> Router` serves the page, its script and style sheet;
//! the browser posts each click straight to the producer API.

pub mod config;

use std::future::Future;

use askama::Template;
use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;
use tower_http::set_header::SetResponseHeaderLayer;

pub use config::Config;

const APP_JS: &str = include_str!("../assets/app.js");
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

pub fn app(config: &Config) -> Router {
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

/// Serves the page on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    config: &Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let addr = listener.local_addr()?;
    tracing::info!(%addr, api = %config.api_base(), "page served at http://{addr}/");
    axum::serve(listener, app(config))
        .with_graceful_shutdown(shutdown)
        .await
}
