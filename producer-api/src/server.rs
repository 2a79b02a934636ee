//! Start-up and graceful shutdown.

use std::future::Future;
use std::sync::Arc;

use tokio::net::TcpListener;

use crate::config::Config;
use crate::metrics::ApiMetrics;
use crate::publisher::{EventPublisher, KafkaPublisher};
use crate::routes::{HttpSettings, app, metrics_app};
use crate::state::AppState;

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot create the Kafka producer for {bootstrap}: {source}")]
    Producer {
        bootstrap: String,
        source: rdkafka::error::KafkaError,
    },
    #[error(transparent)]
    Bind(#[from] common::host::BindError),
    #[error("HTTP server failed: {0}")]
    Serve(std::io::Error),
}

/// Binds `config.listen_addr` and serves until `shutdown` resolves.
pub async fn run(
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let listener = common::host::bind(config.listen_addr).await?;
    serve(listener, config, shutdown).await
}

/// Serves on `listener` until `shutdown` resolves, then stops accepting, lets in-flight
/// requests finish, and flushes the producer within `shutdown_flush_timeout`, so every event
/// answered 202 is in the topic when this returns (unless the brokers stayed unreachable).
pub async fn serve(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let metrics = ApiMetrics::default();
    let outcomes = metrics.clone();
    let publisher = Arc::new(
        KafkaPublisher::new(
            &config.kafka,
            &config.producer_tuning(),
            metrics.clone(),
            config.readiness_probe_interval,
        )
        .map_err(|source| ServerError::Producer {
            bootstrap: config.kafka.bootstrap_servers.clone(),
            source,
        })?,
    );
    let probe = publisher.spawn_readiness_probe(config.readiness_probe_interval);
    let state = AppState::new(
        publisher.clone(),
        config.color_palette.clone(),
        metrics,
        &config.event_ids(),
    )
    .with_clients(config.client_settings());
    let settings = HttpSettings {
        cors_allowed_origins: config.cors_allowed_origins.clone(),
        allow_no_origin: config.allow_no_origin,
        request_timeout: config.request_timeout,
        serve_metrics: config.metrics_addr.is_none(),
    };
    let metrics_server = match config.metrics_addr {
        Some(addr) => {
            let listener = common::host::bind(addr).await?;
            tracing::info!(%addr, "metrics listening");
            Some(common::host::AdminServer::start(
                listener,
                metrics_app(state.clone()),
            ))
        }
        None => None,
    };
    let addr = listener.local_addr().map_err(ServerError::Serve)?;
    tracing::info!(
        %addr,
        topic = %config.kafka.topic,
        bootstrap = %config.kafka.bootstrap_servers,
        kafka_properties = config.kafka.property_keys(),
        palette = %config.color_palette,
        "producer-api listening"
    );
    crate::listener::serve(
        listener,
        app(state, &settings),
        config.connection_limits(),
        shutdown,
    )
    .await;
    probe.abort();
    if let Some(metrics_server) = metrics_server {
        metrics_server.stop().await;
    }
    let flush_timeout = config.shutdown_flush_timeout;
    let queued = publisher.queue_depth();
    tracing::info!(queued, timeout = ?flush_timeout, "HTTP stopped; flushing producer");
    let remaining = tokio::task::spawn_blocking(move || publisher.flush(flush_timeout))
        .await
        .unwrap_or(-1);
    let (delivered, failed) = (
        outcomes.events_delivered.get(),
        outcomes.delivery_failures.get(),
    );
    match (remaining, failed) {
        (0, 0) => tracing::info!(
            delivered,
            "producer flushed; every accepted event was delivered"
        ),
        (0, _) => tracing::warn!(
            delivered,
            failed,
            "producer flushed; some accepted events were not delivered (see the ERROR lines)"
        ),
        _ => tracing::error!(
            delivered,
            failed,
            remaining,
            "producer not flushed; events still queued are lost"
        ),
    }
    Ok(())
}
