//! The benchmark's baselines: axum servers that answer `POST /api/events` with 202 and do no
//! validation and no Kafka.
//!
//! - `with-id` (the default): reads the body as JSON and answers a fresh event id as JSON, as
//!   the collector's answer looks;
//! - `minimal`: reads the body as the click it is (its fields, typed) and answers 202 with
//!   nothing more: the least a handler of the same request can do.
//!
//! cargo run --release -p producer-api --example bare_accept -- 127.0.0.1:8091 [with-id|minimal]

use axum::routing::post;
use axum::{Json, Router, http::StatusCode};

/// The click as the page posts it, read and dropped.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct Click {
    user_name: String,
    color_name: String,
    #[serde(default)]
    client_timestamp: Option<String>,
    #[serde(default)]
    event_id: Option<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:8091".to_owned());
    let app = match args.next().as_deref() {
        None | Some("with-id") => Router::new().route(
            "/api/events",
            post(|Json(_): Json<serde_json::Value>| async {
                (
                    StatusCode::ACCEPTED,
                    Json(serde_json::json!({ "eventId": uuid::Uuid::now_v7() })),
                )
            }),
        ),
        Some("minimal") => Router::new().route(
            "/api/events",
            post(|Json(_): Json<Click>| async { StatusCode::ACCEPTED }),
        ),
        Some(other) => anyhow::bail!("unknown baseline {other:?}: with-id or minimal"),
    };
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    eprintln!("bare handler on http://{addr}");
    axum::serve(listener, app)
        .with_graceful_shutdown(common::shutdown::shutdown_signal())
        .await?;
    Ok(())
}
