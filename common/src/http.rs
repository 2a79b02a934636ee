//! Answers every service's admin endpoints give the same way (feature `http`).

use axum::Json;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use prometheus_client::registry::Registry;

/// `/metrics`: the registry in the OpenMetrics text format.
pub fn metrics_response(registry: &Registry) -> Response {
    let mut text = String::new();
    if let Err(err) = prometheus_client::encoding::text::encode(&mut text, registry) {
        tracing::error!(%err, "cannot encode metrics");
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

/// `/healthz`: the process is alive and serving.
pub async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

/// Serves `app` on `listener` until `shutdown` resolves; a failure is logged, not returned,
/// since an admin server going away must not take the service with it.
pub async fn serve_admin(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) {
    if let Err(err) = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
    {
        tracing::error!(%err, "admin server failed");
    }
}

/// `/readyz`: 200 with `"status": "ready"` or 503 with `"status": "not ready"`, plus the
/// `details` object's fields saying what was checked.
pub fn readiness_response(ready: bool, details: serde_json::Value) -> Response {
    let mut body = match details {
        serde_json::Value::Object(fields) => fields,
        _ => serde_json::Map::new(),
    };
    body.insert(
        "status".into(),
        (if ready { "ready" } else { "not ready" }).into(),
    );
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(serde_json::Value::Object(body))).into_response()
}
