//! The origins the collector takes clicks from. Browsers enforce CORS for `fetch`, but a beacon
//! (`text/plain`) is a simple request that any site can make, so the collector checks `Origin`
//! itself: a POST naming an origin `CORS_ALLOWED_ORIGINS` does not list is refused. Every request
//! from such an origin, preflights included, is counted and logged, at most once per
//! [`LOG_EVERY`], so a misconfigured page shows up in the collector's log rather than only as
//! "cannot be reached" in the browser.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::Request;
use axum::http::{HeaderValue, Method, header};

use crate::error::ApiError;
use crate::metrics::ApiMetrics;
use common::throttle::Throttle;

/// The reference design's click endpoint, a simple GET.
const SELECT_PATH: &str = "/api/select";

/// The origin (`scheme://host:port`) of a `Referer`; an unreadable one stands for itself, which
/// no allow-list holds.
fn origin_of_referer(referer: &HeaderValue) -> HeaderValue {
    referer
        .to_str()
        .ok()
        .and_then(|text| url::Url::parse(text).ok())
        .map(|url| url.origin().ascii_serialization())
        .and_then(|origin| HeaderValue::from_str(&origin).ok())
        .unwrap_or_else(|| referer.clone())
}

/// Shortest time between two log lines about refused origins.
pub const LOG_EVERY: Duration = Duration::from_secs(10);

#[derive(Clone)]
pub struct OriginGuard {
    allowed: Arc<[HeaderValue]>,
    allow_no_origin: bool,
    metrics: Arc<ApiMetrics>,
    log: Arc<Mutex<Throttle>>,
}

impl OriginGuard {
    /// A guard taking pages from `allowed`, and POSTs that name no page only when
    /// `allow_no_origin`.
    pub fn new(
        allowed: Arc<[HeaderValue]>,
        allow_no_origin: bool,
        metrics: Arc<ApiMetrics>,
    ) -> Self {
        OriginGuard {
            allowed,
            allow_no_origin,
            metrics,
            log: Arc::default(),
        }
    }

    pub fn allows(&self, origin: &HeaderValue) -> bool {
        self.allowed.contains(origin)
    }

    pub fn metrics(&self) -> &ApiMetrics {
        &self.metrics
    }

    /// Counts and logs a request from an origin not allowed, and says why it is refused: a
    /// POST from such an origin, and a click by `GET /api/select` from one.
    ///
    /// A page is known by its `Origin`, which browsers send with every POST; without one, by
    /// its `Referer`. A POST that names neither comes from a script or a server, not a
    /// browser, and is refused unless `ALLOW_NO_ORIGIN` is set.
    ///
    /// `GET /api/select` is a simple request that any page can make with an `<img>`, which
    /// names no `Origin`: there the page is known by its `Referer`. A click by GET that names
    /// no page is held to the POST's rule (refused unless `ALLOW_NO_ORIGIN`); with it, a
    /// browser that sends no `Referer` (a `no-referrer` policy) still says
    /// `Sec-Fetch-Site: cross-site` from another site's page, which is refused.
    pub fn refusal(&self, request: &Request) -> Option<ApiError> {
        let headers = request.headers();
        let is_post = request.method() == Method::POST;
        let is_click =
            is_post || (request.method() == Method::GET && request.uri().path() == SELECT_PATH);
        let page = match headers.get(header::ORIGIN) {
            Some(origin) => Some(origin.clone()),
            None if is_click => headers.get(header::REFERER).map(origin_of_referer),
            None => None,
        };
        match page {
            Some(page) if !self.allows(&page) => {
                self.refused(&page, request.method(), request.uri().path());
                is_click.then(|| {
                    ApiError::OriginNotAllowed(
                        String::from_utf8_lossy(page.as_bytes()).into_owned(),
                    )
                })
            }
            Some(_) => None,
            None if is_click && !self.allow_no_origin => {
                self.refused(
                    &HeaderValue::from_static("no page (neither Origin nor Referer)"),
                    request.method(),
                    request.uri().path(),
                );
                Some(ApiError::OriginRequired)
            }
            None if is_click
                && request.method() == Method::GET
                && headers
                    .get("sec-fetch-site")
                    .is_some_and(|site| site == "cross-site") =>
            {
                self.refused(
                    &HeaderValue::from_static("a cross-site page"),
                    request.method(),
                    request.uri().path(),
                );
                Some(ApiError::OriginRequired)
            }
            None => None,
        }
    }

    fn refused(&self, origin: &HeaderValue, method: &Method, path: &str) {
        self.metrics.origins_refused.inc();
        let due = self
            .log
            .lock()
            .expect("not poisoned")
            .record(Instant::now(), LOG_EVERY);
        if let Some(requests) = due {
            tracing::warn!(
                origin = %String::from_utf8_lossy(origin.as_bytes()),
                %method,
                path,
                requests,
                allowed = ?self.allowed,
                "request from an origin CORS_ALLOWED_ORIGINS does not list"
            );
        }
    }
}
