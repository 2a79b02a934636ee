//! The benchmark's baseline: an axum server that answers `POST /api/events` with 202 and a
//! fresh event id, reading the body as JSON but doing no validation and no Kafka.
//!
//! cargo run --release -p producer-api --example bare_accept -- 127.0.0.1:8091

use axum::routing::post;
use axum::{Json, Router, http::StatusCode};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8091".to_owned());
    let app = Router::new().route(
        "/api/events",
        post(|Json(_): Json<serde_json::Value>| async {
            (
                StatusCode::ACCEPTED,
                Json(serde_json::json!({ "eventId": uuid::Uuid::now_v7() })),
            )
        }),
    );
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    eprintln!("bare handler on http://{addr}");
    axum::serve(listener, app)
        .with_graceful_shutdown(common::shutdown::shutdown_signal())
        .await?;
    Ok(())
}
