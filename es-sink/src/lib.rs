//! The Elasticsearch sink: Kafka records in, one document per event out, exactly once in
//! effect (the document id is the event id), failures to a dead-letter topic.
//!
//! - [`config`] — settings;
//! - [`bulk`], [`response`], [`template`] — the pure core: encoding a `_bulk` request, what
//!   each of the cluster's answers means (bulk items, template, probe), the index template;
//! - [`batch`], [`offsets`] — gathering records into batches, and where each record is in Kafka
//!   and which offset may be committed;
//! - [`partition`] — an owned partition's states, and the effects each transition asks for;
//! - [`ledger`] — a partition's dead letters: those owed, and those in the topic already, so
//!   none is written twice;
//! - [`elastic`] — the cluster client; [`indexer`] — one batch until every document is done;
//! - [`dead_letter`] — the dead-letter topic; [`settlement`] — reading it back and writing to
//!   it for the polling thread;
//! - [`consumer`] — the group member and its loop; [`flow`] — whether it reads while every
//!   bulk slot is busy;
//! - [`retention`] — deleting clicks older than `RETENTION`;
//! - [`admin`], [`metrics`] — `/healthz`, `/readyz`, `/metrics`.

pub mod admin;
pub mod batch;
pub mod bulk;
pub mod config;
pub mod consumer;
pub mod dead_letter;
pub mod elastic;
pub mod flow;
pub mod indexer;
pub mod ledger;
pub mod metrics;
pub mod offsets;
pub mod partition;
pub mod response;
pub mod retention;
pub mod settlement;
pub mod template;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

pub use config::Config;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Config(String),
    #[error("Elasticsearch refused the index template: {0}")]
    TemplateRefused(String),
    #[error(transparent)]
    Kafka(#[from] common::kafka::ClientError),
    #[error(
        "the consumer stopped unexpectedly; restart the process (it resumes from the committed offsets)"
    )]
    ConsumerDied,
    #[error(
        "{} were not indexed before the shutdown deadline; they stay uncommitted and are read again on the next start",
        records.map_or("some records".to_owned(), |n| format!("{n} records"))
    )]
    Unfinished { records: Option<usize> },
    #[error(transparent)]
    Bind(#[from] common::host::BindError),
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
            Err(response::TemplateError::Refused(reason)) => {
                return Err(Error::TemplateRefused(reason));
            }
            Err(response::TemplateError::Retry(reason)) => {
                attempt += 1;
                let wait =
                    common::backoff::retry_wait(attempt, Duration::from_millis(200), max_backoff);
                tracing::warn!(attempt, reason, retry_in = ?wait, "Elasticsearch not reachable yet; waiting before consuming");
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    () = shutdown.as_mut() => return Ok(false),
                }
            }
        }
    }
}

/// Runs the sink, and its admin server on `listener`, until `shutdown` resolves; then finishes
/// or abandons the batches in flight, commits what is done and leaves the group.
pub async fn serve(
    listener: tokio::net::TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    let mut shutdown: Pin<Box<dyn Future<Output = ()> + Send>> = Box::pin(shutdown);
    let metrics = metrics::SinkMetrics::default();
    let puts_template = config.template != config::TemplateSetup::Installed;
    let elastic =
        Arc::new(elastic::Elastic::connect(&config.search, puts_template).map_err(Error::Config)?);
    let kafka = |source| Error::from(common::kafka::ClientError::of(&config.kafka)(source));

    let cluster = Arc::new(admin::ClusterState::default());
    let probe = tokio::spawn(admin::probe_forever(
        Arc::clone(&elastic),
        Arc::clone(&cluster),
    ));
    let (loops, beats) = common::heartbeat::Heartbeats::new(vec!["consumer".into()]);
    let admin = common::host::AdminServer::for_sink(
        listener,
        metrics.registry("es_sink"),
        loops,
        admin::SinkReadiness {
            cluster: Arc::clone(&cluster),
            retrying_documents: metrics.retrying_documents.clone(),
        },
    );
    let stop_early = |admin: common::host::AdminServer| {
        probe.abort();
        admin.stop()
    };

    tracing::info!(
        topic = config.kafka.topic,
        group = config.sink.group_id,
        elasticsearch = common::config::redact_url(&config.search.es_url),
        dead_letter_topic = config.dead_letter_topic,
        kafka_properties = config.kafka.property_keys(),
        "es-sink starting"
    );
    // Documents indexed before the template would get guessed mappings, so it comes first
    // (unless a setup job put it).
    let installed = if puts_template {
        install_template(&elastic, config.bulk_retry_max_backoff, &mut shutdown).await
    } else {
        tracing::info!(
            template = elastic.index_prefix(),
            "index template put by the setup job"
        );
        Ok(true)
    };
    match installed {
        Ok(true) if config.template == config::TemplateSetup::InstallAndExit => {
            stop_early(admin).await;
            return Ok(());
        }
        Ok(true) => cluster
            .template_in_place
            .store(true, std::sync::atomic::Ordering::SeqCst),
        Ok(false) => {
            stop_early(admin).await;
            return Ok(());
        }
        Err(err) => {
            stop_early(admin).await;
            return Err(err);
        }
    }

    let log = Arc::new(common::kafka::ClientLog::default());
    let dead_letters = match dead_letter::DeadLetterProducer::new(
        &config.kafka,
        Arc::clone(&log),
        &config.dead_letter_topic,
        metrics.clone(),
    ) {
        Ok(producer) => producer,
        Err(err) => {
            stop_early(admin).await;
            return Err(kafka(err));
        }
    };
    let kafka_args = config.kafka.clone();
    let tombstones = match tokio::task::spawn_blocking(move || {
        common::kafka::Tombstones::load(&kafka_args, "es-sink")
    })
    .await
    .expect("reading erased ids does not panic")
    {
        Ok(tombstones) => tombstones,
        Err(err) => {
            stop_early(admin).await;
            return Err(err.into());
        }
    };
    let shared = Arc::new(consumer::Shared {
        runtime: tokio::runtime::Handle::current(),
        kafka: config.kafka.clone(),
        group: config.sink.group_id.clone(),
        prefetch: common::kafka::Prefetch::shared(config.sink.prefetch_bytes, 1),
        log,
        policy: config.batch_policy(),
        max_in_flight: usize::from(config.bulk_max_in_flight),
        rebalance_timeout: config.rebalance_timeout,
        indexer: Arc::new(indexer::Indexer::new(
            Arc::clone(&elastic),
            config.bulk_retry_max_backoff,
            metrics.clone(),
        )),
        dead_letters: Arc::new(dead_letters),
        tombstones,
        metrics: metrics.clone(),
    });
    let expiry = config.retention.map(|retention| {
        tracing::info!(retention = %humantime::format_duration(retention), "clicks older than RETENTION are deleted");
        tokio::spawn(retention::forget_forever(
            Arc::clone(&elastic),
            retention,
            metrics,
        ))
    });
    let sink = match consumer::SinkConsumer::new(Arc::clone(&shared)) {
        Ok(sink) => sink,
        Err(err) => {
            stop_early(admin).await;
            return Err(kafka(err));
        }
    };
    let consumer_loop = common::host::PollLoop::new("consumer", move |host| sink.run(host));
    // Batches in flight get SHUTDOWN_TIMEOUT; what is not done then is uncommitted in Kafka.
    let outcome = common::host::supervise(
        admin,
        vec![consumer_loop],
        beats,
        shutdown,
        config.sink.shutdown_timeout,
    )
    .await;
    shared.dead_letters.flush(Duration::from_secs(1));
    probe.abort();
    if let Some(expiry) = expiry {
        expiry.abort();
    }
    tracing::info!("es-sink stopped");
    match outcome {
        common::host::Outcome { died: Some(_), .. } => Err(Error::ConsumerDied),
        common::host::Outcome { unreported, .. } if unreported > 0 => {
            Err(Error::Unfinished { records: None })
        }
        common::host::Outcome { unfinished, .. } if unfinished > 0 => Err(Error::Unfinished {
            records: Some(unfinished),
        }),
        _ => Ok(()),
    }
}
