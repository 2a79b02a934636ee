//! `/healthz` (process alive), `/readyz` (every worker running, storage answering, no
//! partition halted) and `/metrics`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use opendal::Operator;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::metrics::ConsumerMetrics;

#[derive(Clone)]
pub struct AdminState {
    storage: Operator,
    registry: Arc<Registry>,
    running: Arc<AtomicUsize>,
    workers: usize,
    halted_partitions: Gauge,
}

impl AdminState {
    pub fn new(
        storage: Operator,
        metrics: ConsumerMetrics,
        running: Arc<AtomicUsize>,
        workers: usize,
    ) -> Self {
        AdminState {
            storage,
            registry: Arc::new(metrics.registry()),
            running,
            workers,
            halted_partitions: metrics.halted_partitions.clone(),
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
    let running = state.running.load(Ordering::SeqCst);
    let storage = state
        .storage
        .list("/")
        .await
        .map(|_| ())
        .map_err(|e| e.to_string());
    let halted = state.halted_partitions.get();
    let ready = running == state.workers && storage.is_ok() && halted == 0;
    common::http::readiness_response(
        ready,
        serde_json::json!({
            "workersRunning": running,
            "workers": state.workers,
            "storage": storage.err().unwrap_or_else(|| "ok".into()),
            "haltedPartitions": halted,
        }),
    )
}

async fn metrics(State(state): State<AdminState>) -> Response {
    common::http::metrics_response(&state.registry)
}
