//! The HDFS consumer: Kafka records in, Hive-ready JSON-lines files out, exactly once.
//!
//! - [`config`] — settings;
//! - [`buffer`] — per-partition buffers and when to land them (pure);
//! - [`layout`] — file names and the Hive layout (pure);
//! - [`landing`] — writing through OpenDAL, and recovering where a partition left off;
//! - [`worker`] — one consumer of the group and its loop;
//! - [`admin`] — `/healthz`, `/readyz`, `/metrics`.

pub mod admin;
pub mod buffer;
pub mod config;
pub mod landing;
pub mod layout;
pub mod metrics;
pub mod worker;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::kafka::consumer_config;
use rdkafka::consumer::{BaseConsumer, Consumer};

pub use config::Config;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Storage(#[from] landing::StorageError),
    #[error("Kafka at {bootstrap}: {source}")]
    Kafka {
        bootstrap: String,
        source: rdkafka::error::KafkaError,
    },
    #[error("topic {0} not found or has no partitions")]
    NoSuchTopic(String),
    #[error("worker {0} stopped unexpectedly; restart the process (it resumes from storage)")]
    WorkerDied(usize),
    #[error(
        "{records} records read from Kafka were not landed before the shutdown deadline ({storage}); they are read again on the next start"
    )]
    Unlanded { records: usize, storage: String },
    #[error(
        "{workers} workers did not finish landing before the shutdown deadline ({storage}); what they held is read again on the next start"
    )]
    LandingUnfinished { workers: usize, storage: String },
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
}

/// The topic's partition count, from broker metadata.
pub fn partition_count(bootstrap: &str, topic: &str) -> Result<usize, Error> {
    let kafka = |source| Error::Kafka {
        bootstrap: bootstrap.to_owned(),
        source,
    };
    let consumer: BaseConsumer = consumer_config(
        bootstrap,
        "hdfs-consumer-metadata",
        "hdfs-consumer-metadata",
    )
    .create()
    .map_err(kafka)?;
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

/// Runs the workers and the admin server until `shutdown` resolves, then lands what is
/// buffered, commits and leaves the group.
pub async fn run(
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    let landing = landing::Landing::open(&config.landing_url, &config.kafka_topic)?;
    let bootstrap = config.kafka_bootstrap_servers.clone();
    let topic = config.kafka_topic.clone();
    let workers = match config.workers {
        Some(n) => usize::from(n),
        None => {
            let (b, t) = (bootstrap.clone(), topic.clone());
            tokio::task::spawn_blocking(move || partition_count(&b, &t))
                .await
                .expect("metadata lookup does not panic")?
        }
    };
    let metrics = metrics::ConsumerMetrics::default();
    let (stopping_tx, stopping) = tokio::sync::watch::channel(false);
    let shared = Arc::new(worker::Shared {
        landing: landing.clone(),
        runtime: tokio::runtime::Handle::current(),
        topic: topic.clone(),
        policy: config.flush_policy(),
        max_backoff: config.storage_retry_max_backoff,
        metrics: metrics.clone(),
        stopping,
    });

    let listener = tokio::net::TcpListener::bind(config.admin_addr)
        .await
        .map_err(|source| Error::Bind {
            addr: config.admin_addr,
            source,
        })?;
    let running = Arc::new(AtomicUsize::new(0));
    let storage_probe = Arc::new(admin::StorageProbe::new(landing.storage()));
    let probe = tokio::spawn(admin::probe_storage(
        landing.clone(),
        Arc::clone(&storage_probe),
    ));
    let admin_state = admin::AdminState::new(storage_probe, metrics, Arc::clone(&running), workers);
    let (admin_stop, admin_stopped) = tokio::sync::oneshot::channel::<()>();
    let admin_task = tokio::spawn(common::http::serve_admin(
        listener,
        admin::app(admin_state),
        async {
            let _ = admin_stopped.await;
        },
    ));

    tracing::info!(
        workers,
        topic,
        group = config.kafka_group_id,
        landing = %config.landing_url,
        "hdfs-consumer starting"
    );
    let (exited_tx, mut exited_rx) = tokio::sync::mpsc::unbounded_channel::<usize>();
    // Each worker reports how many records it could not land.
    let (landed_tx, mut landed_rx) = tokio::sync::mpsc::unbounded_channel::<usize>();
    for id in 0..workers {
        let worker = worker::Worker::new(
            id,
            &bootstrap,
            &config.kafka_group_id,
            &config.kafka_properties,
            Arc::clone(&shared),
        )
        .map_err(|source| Error::Kafka {
            bootstrap: bootstrap.clone(),
            source,
        })?;
        let timeout = config.shutdown_timeout;
        let guard = WorkerGuard::new(id, Arc::clone(&running), exited_tx.clone());
        let landed = landed_tx.clone();
        // Detached: a worker stuck leaving the group must not keep the process alive.
        std::thread::Builder::new()
            .name(format!("worker-{id}"))
            .spawn(move || {
                let _guard = guard;
                worker.run(timeout, |unlanded| {
                    let _ = landed.send(unlanded);
                });
            })
            .expect("a thread starts");
    }

    let died = tokio::select! {
        () = shutdown => None,
        Some(id) = exited_rx.recv() => Some(id),
    };
    if let Some(id) = died {
        tracing::error!(
            worker = id,
            "a worker stopped unexpectedly; stopping the others"
        );
    }
    // Storage calls in flight give up at once; the workers land what they hold within
    // SHUTDOWN_TIMEOUT, each call bounded by it, then leave the group, which needs the brokers;
    // they may be gone. Wait for the landing, give leaving a few seconds, then exit: nothing
    // unlanded is lost, it is still in Kafka and read again on the next start.
    let _ = stopping_tx.send(true);
    let alive = running.load(Ordering::SeqCst);
    let (mut reported, mut unlanded) = (0, 0);
    let collect = async {
        while reported < alive {
            match landed_rx.recv().await {
                Some(records) => {
                    reported += 1;
                    unlanded += records;
                }
                None => break,
            }
        }
    };
    let _ = tokio::time::timeout(config.shutdown_timeout + Duration::from_secs(2), collect).await;
    probe.abort();
    let leaving = async {
        while running.load(Ordering::SeqCst) > 0 {
            if exited_rx.recv().await.is_none() {
                break;
            }
        }
    };
    if tokio::time::timeout(Duration::from_secs(3), leaving)
        .await
        .is_err()
    {
        tracing::warn!(
            "workers did not leave the group in time (brokers unreachable?); exiting without them"
        );
    }
    let _ = admin_stop.send(());
    let _ = admin_task.await;
    tracing::info!("hdfs-consumer stopped");
    let storage = landing.storage().to_owned();
    match died {
        Some(id) => Err(Error::WorkerDied(id)),
        None if reported < alive => Err(Error::LandingUnfinished {
            workers: alive - reported,
            storage,
        }),
        None if unlanded > 0 => Err(Error::Unlanded {
            records: unlanded,
            storage,
        }),
        None => Ok(()),
    }
}

/// Counts a worker as running while it lives, and reports its end, panic included.
struct WorkerGuard {
    id: usize,
    running: Arc<AtomicUsize>,
    exited: tokio::sync::mpsc::UnboundedSender<usize>,
}

impl WorkerGuard {
    fn new(
        id: usize,
        running: Arc<AtomicUsize>,
        exited: tokio::sync::mpsc::UnboundedSender<usize>,
    ) -> Self {
        running.fetch_add(1, Ordering::SeqCst);
        WorkerGuard {
            id,
            running,
            exited,
        }
    }
}

impl Drop for WorkerGuard {
    fn drop(&mut self) {
        self.running.fetch_sub(1, Ordering::SeqCst);
        let _ = self.exited.send(self.id);
    }
}
