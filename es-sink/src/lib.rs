//! The Elasticsearch sink: Kafka records in, one document per event out, exactly once in
//! effect (the document id is the event id), failures to a dead-letter topic.
//!
//! - [`config`] — settings;
//! - [`bulk`], [`response`], [`template`], [`backoff`] — the pure core: encoding a `_bulk`
//!   request, reading its answer item by item, the index template, retry spacing;
//! - [`batch`], [`offsets`] — gathering records into batches, and which offset may be committed;
//! - [`elastic`] — the cluster client; [`indexer`] — one batch until every document is done;
//! - [`dead_letter`] — the dead-letter topic;
//! - [`consumer`] — the group member and its loop;
//! - [`admin`], [`metrics`] — `/healthz`, `/readyz`, `/metrics`.

pub mod admin;
pub mod backoff;
pub mod batch;
pub mod bulk;
pub mod config;
pub mod consumer;
pub mod dead_letter;
pub mod elastic;
pub mod indexer;
pub mod metrics;
pub mod offsets;
pub mod response;
pub mod template;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

pub use config::Config;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Config(String),
    #[error("Elasticsearch refused the index template: {0}")]
    TemplateRefused(String),
    #[error("Kafka at {bootstrap}: {source}")]
    Kafka {
        bootstrap: String,
        source: rdkafka::error::KafkaError,
    },
    #[error(
        "the consumer stopped unexpectedly; restart the process (it resumes from the committed offsets)"
    )]
    ConsumerDied,
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
}

/// Puts the index template, trying again while the cluster is unreachable. `Ok(false)` when
/// `shutdown` came first.
async fn install_template(
    elastic: &elastic::Elastic,
    max_backoff: Duration,
    shutdown: &mut Pin<Box<dyn Future<Output = ()> + Send>>,
) -> Result<bool, Error> {
    let mut attempt = 0;
    loop {
        match elastic.put_template().await {
            Ok(()) => {
                tracing::info!(template = elastic.index_prefix(), "index template in place");
                return Ok(true);
            }
            Err(elastic::TemplateError::Refused(reason)) => {
                return Err(Error::TemplateRefused(reason));
            }
            Err(elastic::TemplateError::Retry(reason)) => {
                attempt += 1;
                let wait = backoff::jittered(
                    attempt,
                    Duration::from_millis(200),
                    max_backoff,
                    fastrand::f64(),
                );
                tracing::warn!(attempt, reason, retry_in = ?wait, "Elasticsearch not reachable yet; waiting before consuming");
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    () = shutdown.as_mut() => return Ok(false),
                }
            }
        }
    }
}

/// Runs the sink and its admin server until `shutdown` resolves, then finishes or abandons the
/// batches in flight, commits what is done and leaves the group.
pub async fn run(
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    let mut shutdown: Pin<Box<dyn Future<Output = ()> + Send>> = Box::pin(shutdown);
    let metrics = metrics::SinkMetrics::default();
    let elastic = Arc::new(elastic::Elastic::connect(&config)?);
    let bootstrap = config.kafka_bootstrap_servers.clone();
    let kafka = |source| Error::Kafka {
        bootstrap: bootstrap.clone(),
        source,
    };

    let listener = tokio::net::TcpListener::bind(config.admin_addr)
        .await
        .map_err(|source| Error::Bind {
            addr: config.admin_addr,
            source,
        })?;
    let readiness = Arc::new(admin::Readiness::default());
    let probe = tokio::spawn(admin::probe_forever(
        Arc::clone(&elastic),
        Arc::clone(&readiness),
    ));
    let (admin_stop, admin_stopped) = tokio::sync::oneshot::channel::<()>();
    let admin_task = tokio::spawn(common::http::serve_admin(
        listener,
        admin::app(admin::AdminState::new(Arc::clone(&readiness), &metrics)),
        async {
            let _ = admin_stopped.await;
        },
    ));
    let stop_admin = || async {
        probe.abort();
        let _ = admin_stop.send(());
        let _ = admin_task.await;
    };

    tracing::info!(
        topic = config.kafka_topic,
        group = config.kafka_group_id,
        elasticsearch = %config.es_url,
        dead_letter_topic = config.dead_letter_topic,
        "es-sink starting"
    );
    // Documents indexed before the template would get guessed mappings, so it comes first.
    match install_template(&elastic, config.bulk_retry_max_backoff, &mut shutdown).await {
        Ok(true) => {}
        Ok(false) => {
            stop_admin().await;
            return Ok(());
        }
        Err(err) => {
            stop_admin().await;
            return Err(err);
        }
    }

    let dead_letters = dead_letter::DeadLetterProducer::new(
        &bootstrap,
        &config.kafka_properties,
        &config.dead_letter_topic,
        &config.kafka_topic,
        config.bulk_retry_max_backoff,
        metrics.clone(),
    )
    .map_err(kafka)?;
    let shared = Arc::new(consumer::Shared {
        runtime: tokio::runtime::Handle::current(),
        topic: config.kafka_topic.clone(),
        policy: config.batch_policy(),
        max_in_flight: usize::from(config.bulk_max_in_flight),
        rebalance_timeout: config.rebalance_timeout,
        indexer: Arc::new(indexer::Indexer::new(
            Arc::clone(&elastic),
            config.bulk_retry_max_backoff,
            metrics.clone(),
        )),
        dead_letters: Arc::new(dead_letters),
        metrics,
    });
    let sink = consumer::SinkConsumer::new(
        &bootstrap,
        &config.kafka_group_id,
        &config.kafka_properties,
        Arc::clone(&shared),
    )
    .map_err(kafka)?;

    let stop = Arc::new(AtomicBool::new(false));
    let (finished_tx, finished_rx) = tokio::sync::oneshot::channel::<()>();
    let (exited_tx, mut exited_rx) = tokio::sync::oneshot::channel::<()>();
    let guard = RunningGuard::new(Arc::clone(&readiness), exited_tx);
    let (thread_stop, timeout) = (Arc::clone(&stop), config.shutdown_timeout);
    // Detached: a consumer stuck leaving the group must not keep the process alive.
    std::thread::Builder::new()
        .name("consumer".into())
        .spawn(move || {
            let _guard = guard;
            sink.run(&thread_stop, timeout, || {
                let _ = finished_tx.send(());
            });
        })
        .expect("a thread starts");

    let died = tokio::select! {
        () = shutdown.as_mut() => false,
        _ = &mut exited_rx => true,
    };
    if died {
        tracing::error!("the consumer stopped unexpectedly");
    }
    stop.store(true, Ordering::SeqCst);
    // Batches in flight get SHUTDOWN_TIMEOUT; leaving the group needs the brokers, which may be
    // gone, so it gets a few seconds. Nothing unfinished is lost: it is uncommitted in Kafka.
    if tokio::time::timeout(
        config.shutdown_timeout + Duration::from_secs(5),
        finished_rx,
    )
    .await
    .is_err()
    {
        tracing::error!("the consumer did not finish before the shutdown deadline");
    }
    if tokio::time::timeout(Duration::from_secs(3), &mut exited_rx)
        .await
        .is_err()
    {
        tracing::warn!(
            "the consumer did not leave the group in time (brokers unreachable?); exiting without it"
        );
    }
    shared.dead_letters.flush(Duration::from_secs(1));
    stop_admin().await;
    tracing::info!("es-sink stopped");
    if died {
        Err(Error::ConsumerDied)
    } else {
        Ok(())
    }
}

/// Marks the consumer running while it lives, and reports its end, panic included.
struct RunningGuard {
    readiness: Arc<admin::Readiness>,
    exited: Option<tokio::sync::oneshot::Sender<()>>,
}

impl RunningGuard {
    fn new(readiness: Arc<admin::Readiness>, exited: tokio::sync::oneshot::Sender<()>) -> Self {
        readiness.consumer_running.store(true, Ordering::SeqCst);
        RunningGuard {
            readiness,
            exited: Some(exited),
        }
    }
}

impl Drop for RunningGuard {
    fn drop(&mut self) {
        self.readiness
            .consumer_running
            .store(false, Ordering::SeqCst);
        if let Some(exited) = self.exited.take() {
            let _ = exited.send(());
        }
    }
}
