//! `/healthz` (process alive), `/readyz` (every worker running, storage answering, no
//! partition halted) and `/metrics`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::landing::Landing;
use crate::metrics::ConsumerMetrics;

/// How often the storage is asked whether it answers, and how long it may take.
const PROBE_INTERVAL: Duration = Duration::from_secs(2);
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// The storage's last answer to a probe, kept so that `/readyz` answers at once whatever the
/// storage does.
#[derive(Debug)]
pub struct StorageProbe {
    storage: String,
    last: Mutex<Option<Result<(), String>>>,
}

impl StorageProbe {
    /// A probe of the storage errors name `storage`, not asked yet.
    pub fn new(storage: &str) -> Self {
        StorageProbe {
            storage: storage.to_owned(),
            last: Mutex::new(None),
        }
    }

    fn status(&self) -> Result<(), String> {
        self.last
            .lock()
            .expect("not poisoned")
            .clone()
            .unwrap_or_else(|| Err(format!("{}: not asked yet", self.storage)))
    }

    /// Keeps the answer, and says so in the log when the storage stops or starts answering.
    fn record(&self, result: Result<(), String>) {
        let mut last = self.last.lock().expect("not poisoned");
        match (last.as_ref(), &result) {
            (Some(Ok(())) | None, Err(reason)) => tracing::error!(
                reason,
                "storage does not answer; landing waits for it, and the records stay in Kafka"
            ),
            (Some(Err(_)), Ok(())) => tracing::info!("storage answers again"),
            _ => {}
        }
        *last = Some(result);
    }
}

/// Asks the storage every [`PROBE_INTERVAL`] to list its root, each ask bounded by
/// [`PROBE_TIMEOUT`]; runs until aborted.
pub async fn probe_storage(landing: Landing, probe: Arc<StorageProbe>) {
    loop {
        let answer = tokio::time::timeout(PROBE_TIMEOUT, landing.operator().list("/")).await;
        probe.record(match answer {
            Ok(Ok(_)) => Ok(()),
            // A root not made yet still means the storage answered.
            Ok(Err(err)) if err.kind() == opendal::ErrorKind::NotFound => Ok(()),
            Ok(Err(err)) => Err(format!(
                "{}: list / failed: {}",
                landing.storage(),
                crate::landing::reason(&err)
            )),
            Err(_) => Err(format!(
                "{}: list / brought no answer within {PROBE_TIMEOUT:?}",
                landing.storage()
            )),
        });
        tokio::time::sleep(PROBE_INTERVAL).await;
    }
}

#[derive(Clone)]
pub struct AdminState {
    storage: Arc<StorageProbe>,
    registry: Arc<Registry>,
    running: Arc<AtomicUsize>,
    workers: usize,
    halted_partitions: Gauge,
}

impl AdminState {
    pub fn new(
        storage: Arc<StorageProbe>,
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
    let storage = state.storage.status();
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
