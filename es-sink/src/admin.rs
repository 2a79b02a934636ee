//! `/healthz` (process alive), `/readyz` (Elasticsearch reachable and the consumer running)
//! and `/metrics`.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use prometheus_client::registry::Registry;

use crate::elastic::Elastic;
use crate::metrics::SinkMetrics;

/// How often the cluster is probed for `/readyz`.
pub const PROBE_INTERVAL: Duration = Duration::from_secs(2);

/// What `/readyz` reports, kept fresh by [`probe_forever`].
#[derive(Default)]
pub struct Readiness {
    /// `None` when the last probe succeeded; else why it failed.
    elasticsearch: Mutex<Option<String>>,
    probed: AtomicBool,
    pub consumer_running: AtomicBool,
}

impl Readiness {
    pub fn record_probe(&self, result: Result<(), String>) {
        *self.elasticsearch.lock().expect("not poisoned") = result.err();
        self.probed.store(true, Ordering::SeqCst);
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

pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AdminState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    common::http::serve_admin(listener, app(state), shutdown).await;
}

async fn readyz(State(state): State<AdminState>) -> Response {
    let readiness = &state.readiness;
    let elasticsearch = if readiness.probed.load(Ordering::SeqCst) {
        readiness
            .elasticsearch
            .lock()
            .expect("not poisoned")
            .clone()
            .unwrap_or_else(|| "ok".into())
    } else {
        "not probed yet".into()
    };
    let consumer = readiness.consumer_running.load(Ordering::SeqCst);
    let ready = consumer && elasticsearch == "ok";
    let body = serde_json::json!({
        "status": if ready { "ready" } else { "not ready" },
        "elasticsearch": elasticsearch,
        "consumer": if consumer { "running" } else { "not running" },
    });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

async fn metrics(State(state): State<AdminState>) -> Response {
    common::http::metrics_response(&state.registry)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
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
