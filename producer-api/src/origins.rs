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

/// Shortest time between two log lines about refused origins.
pub const LOG_EVERY: Duration = Duration::from_secs(10);

#[derive(Clone)]
pub struct OriginGuard {
    allowed: Arc<[HeaderValue]>,
    metrics: Arc<ApiMetrics>,
    log: Arc<Mutex<Throttle>>,
}

/// When the last line was logged, and how many refusals went unlogged since.
#[derive(Debug, Default)]
struct Throttle {
    last: Option<Instant>,
    unlogged: u64,
}

impl Throttle {
    /// Records one refusal at `now`; returns how many (this one included) to report if a line
    /// is due.
    fn record(&mut self, now: Instant, every: Duration) -> Option<u64> {
        self.unlogged += 1;
        if self.last.is_some_and(|at| now.duration_since(at) < every) {
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.unlogged))
    }
}

impl OriginGuard {
    pub fn new(allowed: Arc<[HeaderValue]>, metrics: Arc<ApiMetrics>) -> Self {
        OriginGuard {
            allowed,
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

    /// Counts and logs a request from an origin not allowed; a POST from one is refused.
    pub fn refusal(&self, request: &Request) -> Option<ApiError> {
        let origin = request.headers().get(header::ORIGIN)?;
        if self.allows(origin) {
            return None;
        }
        self.refused(origin, request.method(), request.uri().path());
        (request.method() == Method::POST).then(|| {
            ApiError::OriginNotAllowed(String::from_utf8_lossy(origin.as_bytes()).into_owned())
        })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_logged_at_most_once_per_interval_with_the_count_between() {
        let mut throttle = Throttle::default();
        let start = Instant::now();
        assert_eq!(throttle.record(start, LOG_EVERY), Some(1));
        assert_eq!(
            throttle.record(start + Duration::from_secs(1), LOG_EVERY),
            None
        );
        assert_eq!(
            throttle.record(start + Duration::from_secs(9), LOG_EVERY),
            None
        );
        assert_eq!(
            throttle.record(start + Duration::from_secs(10), LOG_EVERY),
            Some(3)
        );
        assert_eq!(
            throttle.record(start + Duration::from_secs(25), LOG_EVERY),
            Some(1)
        );
    }
}
