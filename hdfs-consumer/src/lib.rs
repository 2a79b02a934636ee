//! The HDFS consumer: Kafka records in, Hive-ready Parquet (or JSON-lines) files out, exactly
//! once, each closed hour merged into one file per partition.
//!
//! - [`config`] — settings;
//! - [`file_format`] — the landed files' formats, Parquet and JSON lines;
//! - [`compaction`] — when an hour is merged and into which files (pure);
//! - [`buffer`] — per-partition buffers and when to land them (pure);
//! - [`layout`] — file names and the Hive layout (pure);
//! - [`partition`] — an owned partition's states and transitions (pure);
//! - [`storage`] — the landing storage (a folder or HDFS) and what it must guarantee;
//! - [`commit_log`] — each partition's commit point, which an owner that lost it cannot pass;
//! - [`landing`] — claiming a partition and landing its batches through the commit log;
//! - [`rewrite`] — expiring old hours and carrying out [`erasure`] requests, through the same log;
//! - [`worker`] — one consumer of the group and its loop, run by `common::host`;
//! - [`admin`], [`metrics`] — what `/readyz` checks, and `/metrics`.

pub mod admin;
pub mod buffer;
pub mod commit_log;
pub mod compaction;
pub mod config;
pub mod erasure;
pub mod file_format;
pub mod landing;
pub mod layout;
pub mod metrics;
pub mod partition;
pub mod rewrite;
pub mod storage;
pub mod worker;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use common::kafka::{KafkaArgs, consumer_config};
use rdkafka::consumer::{BaseConsumer, Consumer};

pub use config::Config;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Storage(#[from] storage::StorageError),
    #[error("Kafka at {bootstrap}: {source}")]
    Kafka {
        bootstrap: String,
        source: rdkafka::error::KafkaError,
    },
    #[error("topic {0} not found or has no partitions")]
    NoSuchTopic(String),
    #[error("{0} stopped unexpectedly; restart the process (it resumes from storage)")]
    WorkerDied(String),
    #[error(
        "{records} records read from Kafka were not landed before the shutdown deadline ({storage}); they are read again on the next start"
    )]
    Unlanded { records: usize, storage: String },
    #[error(
        "{workers} workers did not finish landing before the shutdown deadline ({storage}); what they held is read again on the next start"
    )]
    LandingUnfinished { workers: usize, storage: String },
    #[error(transparent)]
    Bind(#[from] common::host::BindError),
}

/// How much longer than the group's session timeout a fenced partition waits for the
/// rebalance that moves it.
const RECLAIM_MARGIN: Duration = Duration::from_secs(5);

/// This process as its claims name it: `<host> pid <pid>`.
fn member_name() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown-host".to_owned());
    format!("{host} pid {}", std::process::id())
}

/// The topic's partition count, from broker metadata.
pub fn partition_count(args: &KafkaArgs) -> Result<usize, Error> {
    let kafka = |source| Error::Kafka {
        bootstrap: args.bootstrap_servers.clone(),
        source,
    };
    let mut config = consumer_config(
        &args.bootstrap_servers,
        "hdfs-consumer-metadata",
        "hdfs-consumer-metadata",
    );
    for (key, value) in &args.properties {
        config.set(key, value);
    }
    let consumer: BaseConsumer = config.create().map_err(kafka)?;
    let topic = args.topic.as_str();
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(15))
        .map_err(kafka)?;
    metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic && t.error().is_none())
        .map(|t| t.partitions().len())
        .filter(|n| *n > 0)
        .ok_or_else(|| Error::NoSuchTopic(topic.to_owned()))
}

/// Runs the workers, and the admin server on `listener`, until `shutdown` resolves; then lands
/// what is buffered, commits and leaves the group.
pub async fn serve(
    listener: tokio::net::TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    let landing = landing::Landing::open(
        &config.landing_url,
        &config.kafka.topic,
        config.landing_format,
    )?
    .merging(config.compaction_policy().after.is_some())
    .retaining(config.retention)
    .stopping_at(config.stop_at);
    let workers = match config.workers {
        Some(n) => usize::from(n),
        None => {
            let kafka = config.kafka.clone();
            tokio::task::spawn_blocking(move || partition_count(&kafka))
                .await
                .expect("metadata lookup does not panic")?
        }
    };
    let metrics = metrics::ConsumerMetrics::default();
    let failing = Arc::new(admin::FailingWrites::default());
    let probe = Arc::new(admin::StorageProbe::new(landing.storage()));
    let probing = tokio::spawn(admin::probe_storage(landing.clone(), Arc::clone(&probe)));
    let erasures = Arc::new(erasure::OnFile::default());
    let watching = tokio::spawn(erasure::watch(
        landing.storage_handle().clone(),
        config.kafka.topic.clone(),
        Arc::clone(&erasures),
    ));
    let names: Vec<String> = (0..workers).map(|id| format!("worker-{id}")).collect();
    let (loops, beats) = common::heartbeat::Heartbeats::new(names.clone());
    let readiness = admin::ConsumerReadiness {
        probe,
        failing: Arc::clone(&failing),
        halted_partitions: metrics.halted_partitions.clone(),
    };
    let admin = common::host::AdminServer::for_sink(
        listener,
        metrics.registry("hdfs_consumer"),
        loops,
        readiness,
    );

    tracing::info!(
        workers,
        topic = config.kafka.topic,
        group = config.sink.group_id,
        landing = landing.storage(),
        format = ?config.landing_format,
        kafka_properties = config.kafka.property_keys(),
        "hdfs-consumer starting"
    );
    let shared = Arc::new(worker::Shared {
        landing: landing.clone(),
        runtime: tokio::runtime::Handle::current(),
        kafka: config.kafka.clone(),
        group: config.sink.group_id.clone(),
        prefetch_bytes: config.sink.prefetch_bytes,
        policy: config.flush_policy(),
        compaction: config.compaction_policy(),
        merging: std::sync::Mutex::new(()),
        max_backoff: config.storage_retry_max_backoff,
        reclaim_after: config.kafka.session_timeout() + RECLAIM_MARGIN,
        member: member_name(),
        metrics,
        erasures,
        failing,
        log: Arc::default(),
    });
    let mut poll_loops = Vec::with_capacity(workers);
    for (id, name) in names.into_iter().enumerate() {
        let worker = match worker::Worker::new(id, Arc::clone(&shared)) {
            Ok(worker) => worker,
            Err(source) => {
                admin.stop().await;
                probing.abort();
                watching.abort();
                return Err(Error::Kafka {
                    bootstrap: config.kafka.bootstrap_servers.clone(),
                    source,
                });
            }
        };
        poll_loops.push(common::host::PollLoop::new(name, move |host| {
            worker.run(host)
        }));
    }
    let outcome = common::host::supervise(
        admin,
        poll_loops,
        beats,
        shutdown,
        config.sink.shutdown_timeout,
    )
    .await;
    probing.abort();
    watching.abort();
    tracing::info!("hdfs-consumer stopped");
    let storage = landing.storage().to_owned();
    match outcome {
        common::host::Outcome {
            died: Some(name), ..
        } => Err(Error::WorkerDied(name)),
        common::host::Outcome { unreported, .. } if unreported > 0 => {
            Err(Error::LandingUnfinished {
                workers: unreported,
                storage,
            })
        }
        common::host::Outcome { unfinished, .. } if unfinished > 0 => Err(Error::Unlanded {
            records: unfinished,
            storage,
        }),
        _ => Ok(()),
    }
}
