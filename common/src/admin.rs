//! The admin endpoints every service serves the same way, from one router: `/healthz` (the
//! process answers), `/readyz` (its loops make progress and its own checks pass) and `/metrics`.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use prometheus_client::registry::Registry;

use crate::heartbeat::Heartbeats;

/// A service's own readiness checks.
pub trait Readiness: Send + Sync + 'static {
    /// Each check's name (a field of `/readyz`'s answer) and `Ok`, or why not.
    fn checks(&self) -> Vec<(&'static str, Result<(), String>)>;
}

/// The loops whose progress `/readyz` watches, and how long each may go without a beat.
#[derive(Debug, Clone)]
pub struct Progress {
    pub loops: Heartbeats,
    pub allowed: Duration,
}

#[derive(Clone)]
struct AdminState {
    registry: Arc<Registry>,
    progress: Option<Progress>,
    readiness: Arc<dyn Readiness>,
}

/// The admin router: `/metrics` from `registry`, `/readyz` from `progress` (as the field
/// `loops`) and `readiness`, and `/healthz`.
pub fn router(
    registry: Registry,
    progress: Option<Progress>,
    readiness: Arc<dyn Readiness>,
) -> Router {
    Router::new()
        .route("/healthz", get(crate::http::healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(AdminState {
            registry: Arc::new(registry),
            progress,
            readiness,
        })
}

async fn readyz(State(state): State<AdminState>) -> Response {
    let mut checks = Vec::new();
    if let Some(progress) = &state.progress {
        checks.push(("loops", progress.loops.check(progress.allowed)));
    }
    checks.extend(state.readiness.checks());
    let ready = checks.iter().all(|(_, result)| result.is_ok());
    let details: serde_json::Map<String, serde_json::Value> = checks
        .into_iter()
        .map(|(name, result)| {
            (
                name.to_owned(),
                result.err().unwrap_or_else(|| "ok".into()).into(),
            )
        })
        .collect();
    crate::http::readiness_response(ready, serde_json::Value::Object(details))
}

async fn metrics(State(state): State<AdminState>) -> Response {
    crate::http::metrics_response(&state.registry)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use std::sync::Mutex;
    use tower::ServiceExt;

    struct Storage(Mutex<Result<(), String>>);

    impl Readiness for Storage {
        fn checks(&self) -> Vec<(&'static str, Result<(), String>)> {
            vec![("storage", self.0.lock().unwrap().clone())]
        }
    }

    async fn readyz(app: Router) -> (StatusCode, serde_json::Value) {
        let response = app
            .oneshot(Request::get("/readyz").body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn ready_while_the_loops_beat_and_every_check_passes() {
        let (loops, beats) = Heartbeats::new(vec!["worker-0".into()]);
        let storage = Arc::new(Storage(Mutex::new(Ok(()))));
        let progress = Progress {
            loops,
            allowed: Duration::from_millis(200),
        };
        let app = router(Registry::default(), Some(progress), storage.clone());
        beats[0].beat();
        let (status, body) = readyz(app.clone()).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["loops"], "ok");
        assert_eq!(body["storage"], "ok");

        *storage.0.lock().unwrap() = Err("hdfs://nn:8020/x: write failed: denied".into());
        let (status, body) = readyz(app.clone()).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body["storage"], "hdfs://nn:8020/x: write failed: denied");
        *storage.0.lock().unwrap() = Ok(());

        // The loop stalls: no beat for longer than allowed.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let (status, body) = readyz(app).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(
            body["loops"]
                .as_str()
                .unwrap()
                .starts_with("worker-0 made no progress"),
            "{body}"
        );
    }
}
