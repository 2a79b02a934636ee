//! What `/readyz` checks beyond the consumer's progress: Elasticsearch answering, its index
//! template in place, and documents not waiting to be retried. A background probe asks the
//! cluster, so the answer is immediate whatever the cluster does.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus_client::metrics::gauge::Gauge;

use crate::elastic::Elastic;

/// How often the cluster is probed for `/readyz`.
pub const PROBE_INTERVAL: Duration = Duration::from_secs(2);

/// What the sink knows of the cluster, kept fresh by [`probe_forever`].
#[derive(Default)]
pub struct ClusterState {
    /// The last probe's result; `None` before the first.
    last_probe: Mutex<Option<Result<(), String>>>,
    pub template_in_place: AtomicBool,
}

impl ClusterState {
    pub fn record_probe(&self, result: Result<(), String>) {
        *self.last_probe.lock().expect("not poisoned") = Some(result);
    }
}

/// Probes the cluster every [`PROBE_INTERVAL`], for ever.
pub async fn probe_forever(elastic: Arc<Elastic>, state: Arc<ClusterState>) {
    loop {
        let result = elastic.probe().await;
        if let Err(err) = &result {
            tracing::debug!(err, "Elasticsearch probe failed");
        }
        state.record_probe(result);
        tokio::time::sleep(PROBE_INTERVAL).await;
    }
}

/// The sink's own readiness checks.
pub struct SinkReadiness {
    pub cluster: Arc<ClusterState>,
    /// Documents waiting for another attempt: writes are failing while there are any.
    pub retrying_documents: Gauge,
}

impl common::admin::Readiness for SinkReadiness {
    fn checks(&self) -> Vec<(&'static str, Result<(), String>)> {
        let cluster = &self.cluster;
        let elasticsearch = match &*cluster.last_probe.lock().expect("not poisoned") {
            Some(result) => result.clone(),
            None => Err("not probed yet".to_owned()),
        };
        let template = if cluster.template_in_place.load(Ordering::SeqCst) {
            Ok(())
        } else {
            Err("the index template is not in place yet".to_owned())
        };
        let retrying = self.retrying_documents.get();
        let indexing = if retrying == 0 {
            Ok(())
        } else {
            Err(format!(
                "{retrying} documents wait for another attempt (see es_sink_retried_total)"
            ))
        };
        vec![
            ("elasticsearch", elasticsearch),
            ("template", template),
            ("indexing", indexing),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use axum::http::StatusCode;
    use common::heartbeat::Heartbeats;
    use tower::ServiceExt;

    async fn get_json(app: axum::Router, path: &str) -> (StatusCode, serde_json::Value) {
        let response = app
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
        let cluster = Arc::new(ClusterState::default());
        let retrying = Gauge::default();
        let (loops, beats) = Heartbeats::new(vec!["consumer".into()]);
        let app = common::admin::router(
            crate::metrics::SinkMetrics::default().registry("es_sink"),
            Some(common::admin::Progress {
                loops,
                allowed: Duration::from_secs(60),
            }),
            Arc::new(SinkReadiness {
                cluster: Arc::clone(&cluster),
                retrying_documents: retrying.clone(),
            }),
        );
        let (status, body) = get_json(app.clone(), "/readyz").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body["elasticsearch"], "not probed yet");

        cluster.record_probe(Ok(()));
        cluster.template_in_place.store(true, Ordering::SeqCst);
        beats[0].beat();
        let (status, body) = get_json(app.clone(), "/readyz").await;
        assert_eq!(status, StatusCode::OK, "{body}");

        retrying.set(40);
        let (status, body) = get_json(app.clone(), "/readyz").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(
            body["indexing"]
                .as_str()
                .unwrap()
                .starts_with("40 documents")
        );
        retrying.set(0);

        cluster.record_probe(Err("connection refused".into()));
        let (status, body) = get_json(app.clone(), "/readyz").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body["elasticsearch"], "connection refused");

        let (status, body) = get_json(app, "/healthz").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["status"], "ok");
    }
}
