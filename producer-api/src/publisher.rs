//! Where accepted events go. The HTTP layer only sees [`EventPublisher`]; [`KafkaPublisher`]
//! is the real one.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::ColorEvent;
use common::kafka::{ClientLog, KafkaArgs, ProducerTuning, producer_config};
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

/// What deliveries and librdkafka's errors say of the brokers: readiness follows it, so that
/// the collector reads unready as soon as the brokers are gone, not a probe window later.
#[derive(Debug, Default)]
struct BrokerHealth {
    /// Why the brokers are taken to be away, and since when; cleared by a delivery or a
    /// metadata answer.
    away: Option<(Instant, String)>,
    last_delivered: Option<Instant>,
    last_failed: Option<Instant>,
}

impl BrokerHealth {
    /// `Ok` unless the brokers are away or the latest delivery failed.
    fn check(&self) -> Result<(), String> {
        if let Some((_, why)) = &self.away {
            return Err(why.clone());
        }
        match (self.last_failed, self.last_delivered) {
            (Some(failed), delivered) if delivered.is_none_or(|d| d < failed) => {
                Err("the latest delivery failed".into())
            }
            _ => Ok(()),
        }
    }
}

/// Counts deliveries and logs failures; runs on the producer's polling thread, and only
/// records what it is told.
pub struct DeliveryReporter {
    metrics: ApiMetrics,
    log: ClientLog,
    health: Arc<Mutex<BrokerHealth>>,
}

impl ClientContext for DeliveryReporter {
    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, fac: &str, log_message: &str) {
        self.log.log(level, fac, log_message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        if error.rdkafka_error_code() == Some(RDKafkaErrorCode::AllBrokersDown) {
            self.health.lock().expect("not poisoned").away =
                Some((Instant::now(), format!("all brokers are down: {reason}")));
        }
        self.log.error(&error, reason);
    }
}

impl ProducerContext for DeliveryReporter {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => {
                self.metrics.delivered.inc();
                let mut health = self.health.lock().expect("not poisoned");
                health.away = None;
                health.last_delivered = Some(Instant::now());
            }
            Err((err, message)) => {
                self.metrics.delivery_failures.inc();
                self.health.lock().expect("not poisoned").last_failed = Some(Instant::now());
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
    health: Arc<Mutex<BrokerHealth>>,
}

impl KafkaPublisher {
    pub fn new(
        kafka: &KafkaArgs,
        tuning: &ProducerTuning,
        metrics: ApiMetrics,
        probe_interval: Duration,
    ) -> Result<Self, KafkaError> {
        let health = Arc::new(Mutex::new(BrokerHealth::default()));
        let mut config = producer_config(&kafka.bootstrap_servers, "producer-api", tuning);
        for (key, value) in &kafka.properties {
            config.set(key, value);
        }
        let producer = config.create_with_context(DeliveryReporter {
            metrics,
            log: ClientLog::default(),
            health: Arc::clone(&health),
        })?;
        Ok(KafkaPublisher {
            producer,
            topic: kafka.topic.clone(),
            last_metadata_ok: Mutex::new(None),
            ready_window: probe_interval * 3,
            health,
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
        self.health.lock().expect("not poisoned").away = None;
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
            && self.health.lock().expect("not poisoned").check().is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_follows_the_latest_delivery_and_the_brokers() {
        let mut health = BrokerHealth::default();
        assert_eq!(health.check(), Ok(()));
        let start = Instant::now();
        health.last_delivered = Some(start);
        health.last_failed = Some(start + Duration::from_secs(1));
        assert_eq!(health.check(), Err("the latest delivery failed".into()));
        health.last_delivered = Some(start + Duration::from_secs(2));
        assert_eq!(health.check(), Ok(()));
        health.away = Some((start, "all brokers are down".into()));
        assert_eq!(health.check(), Err("all brokers are down".into()));
    }
}
