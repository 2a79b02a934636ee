//! The HDFS consumer: Kafka records in, Hive-ready Parquet (or JSON-lines) files out, exactly
//! once, each closed hour merged into one file per partition.
//!
//! This crate is the Kafka side: the group member, what it buffers and when it changes the
//! lake. How files are laid out, written, committed, merged, expired and erased is the
//! `lake` crate's.
//!
//! - [`config`] — settings;
//! - [`buffer`] — per-partition buffers and when to land them (pure);
//! - [`compaction`] — when an hour is merged (pure);
//! - [`chores`] — a claim's clocks for expiry, and for an erasure that fails (pure);
//! - [`partition`] — an owned partition's states and transitions, and when each change of its
//!   files is due (pure);
//! - [`worker`] — one consumer of the group and its loop, run by `common::host`;
//! - [`erasure_watch`] — the erasure requests on file, read in the background;
//! - [`catalog`] — the Hive Metastore's table and its hours, kept in the background;
//! - [`admin`], [`metrics`] — what `/readyz` checks, and `/metrics`.

pub mod admin;
pub mod buffer;
pub mod catalog;
pub mod chores;
pub mod compaction;
pub mod config;
pub mod erasure_watch;
pub mod metrics;
pub mod partition;
pub mod worker;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use common::kafka::{ClientError, KafkaArgs, Prefetch, Tombstones, lookup_consumer, partitions};
use lake::{Lake, StorageError};

pub use config::Config;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Config(String),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Kafka(#[from] ClientError),
    #[error(transparent)]
    Metastore(#[from] metastore::Error),
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
pub fn partition_count(args: &KafkaArgs) -> Result<usize, ClientError> {
    let consumer = lookup_consumer(args, "hdfs-consumer-metadata", "hdfs-consumer-metadata")?;
    Ok(partitions(&consumer, args)?.len())
}

/// Runs the workers, and the admin server on `listener`, until `shutdown` resolves; then lands
/// what is buffered, commits and leaves the group.
pub async fn serve(
    listener: tokio::net::TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    config.check().map_err(Error::Config)?;
    let lake = Lake::open(
        &config.landing_url,
        &config.kafka.topic,
        config.landing_format,
    )?
    .merging(config.compaction_policy().after.is_some())
    .retaining(config.retention)
    .dropping_repeats(config.dedupe_window)
    .stopping_at(config.stop_at.map(config::CompactionStep::stop_at));
    let kafka = config.kafka.clone();
    let tombstones = tokio::task::spawn_blocking(move || Tombstones::load(&kafka, "hdfs-consumer"))
        .await
        .expect("reading erased ids does not panic")?;
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
    let probe = Arc::new(admin::StorageProbe::new(lake.storage().name()));
    let probing = tokio::spawn(admin::probe_storage(
        lake.storage().clone(),
        Arc::clone(&probe),
    ));
    let erasures = Arc::new(erasure_watch::OnFile::default());
    let watching = tokio::spawn(erasure_watch::watch(
        lake.storage().clone(),
        config.kafka.topic.clone(),
        Arc::clone(&erasures),
    ));
    let catalog = catalog::start(
        config.hive_table(),
        &config.hive_metastore_uris,
        &lake,
        &metrics,
    );
    let (keeping, catalog) = catalog.unzip();
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
        landing = lake.storage().name(),
        format = ?config.landing_format,
        kafka_properties = config.kafka.property_keys(),
        "hdfs-consumer starting"
    );
    let shared = Arc::new(worker::Shared {
        lake: lake.clone(),
        runtime: tokio::runtime::Handle::current(),
        kafka: config.kafka.clone(),
        group: config.sink.group_id.clone(),
        prefetch: Prefetch::shared(config.sink.prefetch_bytes, workers),
        policy: config.flush_policy(),
        compaction: config.compaction_policy(),
        merging: std::sync::Mutex::new(()),
        max_backoff: config.storage_retry_max_backoff,
        reclaim_after: config.kafka.session_timeout() + RECLAIM_MARGIN,
        member: member_name(),
        metrics,
        erasures,
        tombstones,
        failing,
        catalog,
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
                keeping.iter().for_each(tokio::task::JoinHandle::abort);
                return Err(ClientError::of(&config.kafka)(source).into());
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
    keeping.iter().for_each(tokio::task::JoinHandle::abort);
    tracing::info!("hdfs-consumer stopped");
    let storage = lake.storage().name().to_owned();
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
