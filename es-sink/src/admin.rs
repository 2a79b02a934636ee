//! `/healthz` (process alive), `/readyz` (Elasticsearch reachable and the consumer running)
//! and `/metrics`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use prometheus_client::registry::Registry;

use crate::elastic::Elastic;
use crate::metrics::SinkMetrics;

/// How often the cluster is probed for `/readyz`.
pub const PROBE_INTERVAL: Duration = Duration::from_secs(2);

/// What `/readyz` reports, kept fresh by [`probe_forever`].
#[derive(Default)]
pub struct Readiness {
    /// The last probe's result; `None` before the first.
    last_probe: Mutex<Option<Result<(), String>>>,
    pub consumer_running: AtomicBool,
}

impl Readiness {
    pub fn record_probe(&self, result: Result<(), String>) {
        *self.last_probe.lock().expect("not poisoned") = Some(result);
    }
}

/// Probes the cluster every [`PROBE_INTERVAL`], for ever.
pub async fn probe_forever(elastic: Arc<Elastic>, readiness: Arc<Readiness>) {
    loop {
        let result = elastic.probe().await;
        if let Err(err) = &result {
            tracing::debug!(err, "Elasticsearch probe failed");
        }
        readiness.record_probe(result);
        tokio::time::sleep(PROBE_INTERVAL).await;
    }
}

#[derive(Clone)]
pub struct AdminState {
    readiness: Arc<Readiness>,
    registry: Arc<Registry>,
}

impl AdminState {
    pub fn new(readiness: Arc<Readiness>, metrics: &SinkMetrics) -> Self {
        AdminState {
            readiness,
            registry: Arc::new(metrics.registry()),
        }
    }
}

pub fn app(state: AdminState) -> Router {
    Router::new()
        .route("/healthz", get(common::http::healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(state)
}

async fn readyz(State(state): State<AdminState>) -> Response {
    let readiness = &state.readiness;
    let elasticsearch = match &*readiness.last_probe.lock().expect("not poisoned") {
        Some(Ok(())) => "ok".to_owned(),
        Some(Err(reason)) => reason.clone(),
        None => "not probed yet".to_owned(),
    };
    let consumer = readiness.consumer_running.load(Ordering::SeqCst);
    let ready = consumer && elasticsearch == "ok";
    common::http::readiness_response(
        ready,
        serde_json::json!({
            "elasticsearch": elasticsearch,
            "consumer": if consumer { "running" } else { "not running" },
        }),
    )
}

async fn metrics(State(state): State<AdminState>) -> Response {
    common::http::metrics_response(&state.registry)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use axum::http::StatusCode;
    use tower::ServiceExt;

    async fn get_json(state: AdminState, path: &str) -> (StatusCode, serde_json::Value) {
        let response = app(state)
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn ready_only_when_the_cluster_answers_and_the_consumer_runs() {
        let readiness = Arc::new(Readiness::default());
        let state = AdminState::new(Arc::clone(&readiness), &SinkMetrics::default());
        let (status, body) = get_json(state.clone(), "/readyz").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body["elasticsearch"], "not probed yet");

        readiness.record_probe(Ok(()));
        readiness.consumer_running.store(true, Ordering::SeqCst);
        let (status, body) = get_json(state.clone(), "/readyz").await;
        assert_eq!(status, StatusCode::OK, "{body}");

        readiness.record_probe(Err("connection refused".into()));
        let (status, body) = get_json(state.clone(), "/readyz").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body["elasticsearch"], "connection refused");

        let (status, body) = get_json(state, "/healthz").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["status"], "ok");
    }
}
