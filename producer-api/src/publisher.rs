//! Where accepted events go. The HTTP layer only sees [`EventPublisher`]; [`KafkaPublisher`]
//! is the real one.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::ColorEvent;
use common::kafka::{ProducerTuning, producer_config};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::{ClientContext, util::Timeout};

use crate::metrics::ApiMetrics;

/// Why an event could not be queued. Both mean "not accepted": the client gets a 503.
#[derive(Debug, thiserror::Error)]
pub enum EnqueueError {
    #[error("the producer queue is full")]
    QueueFull,
    #[error("producer error: {0}")]
    Producer(String),
}

/// Queues events for delivery without waiting for the broker.
pub trait EventPublisher: Send + Sync + 'static {
    /// Queues one event. Must not block: delivery is reported later, out of band.
    fn enqueue(&self, event: &ColorEvent) -> Result<(), EnqueueError>;
    /// Records queued or in flight.
    fn queue_depth(&self) -> i64;
    /// Whether the brokers answered recently.
    fn is_ready(&self) -> bool;
}

/// Counts deliveries and logs failures; runs on the producer's polling thread.
pub struct DeliveryReporter {
    metrics: ApiMetrics,
}

impl ClientContext for DeliveryReporter {}

impl ProducerContext for DeliveryReporter {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => {
                self.metrics.delivered.inc();
            }
            Err((err, message)) => {
                self.metrics.delivery_failures.inc();
                let event_id = message
                    .payload()
                    .and_then(|p| ColorEvent::from_json_slice(p).ok())
                    .map(|e| e.event_id.to_string())
                    .unwrap_or_default();
                tracing::error!(%err, event_id, topic = message.topic(), "event accepted but not delivered");
            }
        }
    }
}

/// Produces events to one topic with the design's settings (see [`producer_config`]).
pub struct KafkaPublisher {
    producer: ThreadedProducer<DeliveryReporter>,
    topic: String,
    last_metadata_ok: Mutex<Option<Instant>>,
    ready_window: Duration,
}

impl KafkaPublisher {
    pub fn new(
        bootstrap_servers: &str,
        topic: &str,
        tuning: &ProducerTuning,
        metrics: ApiMetrics,
        probe_interval: Duration,
    ) -> Result<Self, KafkaError> {
        let producer = producer_config(bootstrap_servers, "producer-api", tuning)
            .create_with_context(DeliveryReporter { metrics })?;
        Ok(KafkaPublisher {
            producer,
            topic: topic.to_owned(),
            last_metadata_ok: Mutex::new(None),
            ready_window: probe_interval * 3,
        })
    }

    /// Fetches the topic's metadata once (blocking, up to `timeout`) and records a success.
    pub fn probe_metadata(&self, timeout: Duration) -> Result<usize, KafkaError> {
        let metadata = self
            .producer
            .client()
            .fetch_metadata(Some(&self.topic), Timeout::After(timeout))?;
        let partitions = metadata
            .topics()
            .iter()
            .find(|t| t.name() == self.topic && t.error().is_none())
            .map(|t| t.partitions().len())
            .unwrap_or(0);
        if partitions == 0 {
            return Err(KafkaError::MetadataFetch(
                RDKafkaErrorCode::UnknownTopicOrPartition,
            ));
        }
        *self.last_metadata_ok.lock().expect("not poisoned") = Some(Instant::now());
        Ok(partitions)
    }

    /// Probes the brokers every `interval` until the returned task is aborted.
    pub fn spawn_readiness_probe(
        self: &Arc<Self>,
        interval: Duration,
    ) -> tokio::task::JoinHandle<()> {
        let publisher = Arc::clone(self);
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticker.tick().await;
                let probe = Arc::clone(&publisher);
                let timeout = interval.min(Duration::from_secs(5));
                match tokio::task::spawn_blocking(move || probe.probe_metadata(timeout)).await {
                    Ok(Ok(partitions)) => tracing::debug!(partitions, "broker metadata reachable"),
                    Ok(Err(err)) => {
                        tracing::warn!(%err, topic = %publisher.topic, "broker metadata not reachable")
                    }
                    Err(join) => tracing::warn!(%join, "readiness probe did not finish"),
                }
            }
        })
    }

    /// Waits up to `timeout` for every queued record to be delivered or to fail.
    /// Returns the number still queued when the deadline passed.
    pub fn flush(&self, timeout: Duration) -> i32 {
        if let Err(err) = self.producer.flush(Timeout::After(timeout)) {
            tracing::error!(%err, remaining = self.producer.in_flight_count(), "flush did not finish; queued events may be lost");
        }
        self.producer.in_flight_count()
    }
}

impl EventPublisher for KafkaPublisher {
    fn enqueue(&self, event: &ColorEvent) -> Result<(), EnqueueError> {
        let payload = event.to_json_bytes();
        // No key: keyless records take the sticky partitioner.
        let record = BaseRecord::<(), [u8], ()>::to(&self.topic).payload(&payload);
        self.producer.send(record).map_err(|(err, _)| match err {
            KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull) => EnqueueError::QueueFull,
            other => EnqueueError::Producer(other.to_string()),
        })
    }

    fn queue_depth(&self) -> i64 {
        i64::from(self.producer.in_flight_count())
    }

    fn is_ready(&self) -> bool {
        self.last_metadata_ok
            .lock()
            .expect("not poisoned")
            .is_some_and(|at| at.elapsed() < self.ready_window)
    }
}
