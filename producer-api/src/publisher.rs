//! Where accepted events go. The HTTP layer only sees [`EventPublisher`]; [`KafkaPublisher`]
//! is the real one.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::ColorEvent;
use common::kafka::{ClientLog, KafkaArgs, ProducerTuning, event_key, producer_config};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::{ClientContext, util::Timeout};

use crate::metrics::ApiMetrics;
use common::throttle::Throttle;

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
    /// `Ok` while the brokers answered recently, else why not.
    fn readiness(&self) -> Result<(), String>;
}

/// Why the topic's metadata could not be had; `/readyz` names it.
#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    #[error("brokers not reachable: {0}")]
    Unreachable(KafkaError),
    #[error("topic {0:?} does not exist on the brokers (check KAFKA_TOPIC)")]
    NoSuchTopic(String),
}

/// What the readiness probe last learnt of the topic's metadata.
#[derive(Debug, Default)]
struct MetadataProbe {
    last_ok: Option<Instant>,
    /// Why the latest probe failed; cleared by a success.
    last_error: Option<String>,
}

impl MetadataProbe {
    /// `Ok` while the last success is younger than `window`; else the latest probe's failure.
    fn check(&self, now: Instant, window: Duration) -> Result<(), String> {
        match self.last_ok {
            Some(at) if now.duration_since(at) < window => Ok(()),
            last_ok => Err(match (&self.last_error, last_ok) {
                (Some(why), _) => why.clone(),
                (None, None) => "broker metadata not fetched yet".into(),
                (None, Some(_)) => "broker metadata not fetched recently".into(),
            }),
        }
    }
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
    /// With the brokers away, every queued record fails at its timeout: one line now and then
    /// says how many, not one line each.
    failures_log: Mutex<Throttle>,
}

/// Shortest time between two log lines about failed deliveries.
const FAILURE_LOG_EVERY: Duration = Duration::from_secs(10);

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
                self.metrics.events_delivered.inc();
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
                let due = self
                    .failures_log
                    .lock()
                    .expect("not poisoned")
                    .record(Instant::now(), FAILURE_LOG_EVERY);
                if let Some(failed) = due {
                    tracing::error!(
                        %err,
                        failed,
                        latest_event_id = event_id,
                        topic = message.topic(),
                        "accepted events not delivered since the last report"
                    );
                }
            }
        }
    }
}

/// Produces events to one topic with the design's settings (see [`producer_config`]).
pub struct KafkaPublisher {
    producer: ThreadedProducer<DeliveryReporter>,
    topic: String,
    metadata: Mutex<MetadataProbe>,
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
        for (key, value) in kafka.producer_properties() {
            config.set(key, value);
        }
        let producer = config.create_with_context(DeliveryReporter {
            metrics,
            log: ClientLog::default(),
            health: Arc::clone(&health),
            failures_log: Mutex::default(),
        })?;
        Ok(KafkaPublisher {
            producer,
            topic: kafka.topic.clone(),
            metadata: Mutex::default(),
            ready_window: probe_interval * 3,
            health,
        })
    }

    /// Fetches the topic's metadata once (blocking, up to `timeout`) and records the outcome:
    /// the time of a success, or why it failed.
    pub fn probe_metadata(&self, timeout: Duration) -> Result<usize, MetadataError> {
        let outcome = self
            .producer
            .client()
            .fetch_metadata(Some(&self.topic), Timeout::After(timeout))
            .map_err(MetadataError::Unreachable)
            .and_then(|metadata| {
                metadata
                    .topics()
                    .iter()
                    .find(|t| t.name() == self.topic && t.error().is_none())
                    .map(|t| t.partitions().len())
                    .filter(|&partitions| partitions > 0)
                    .ok_or_else(|| MetadataError::NoSuchTopic(self.topic.clone()))
            });
        let mut metadata = self.metadata.lock().expect("not poisoned");
        match &outcome {
            Ok(_) => {
                metadata.last_ok = Some(Instant::now());
                metadata.last_error = None;
                self.health.lock().expect("not poisoned").away = None;
            }
            Err(err) => metadata.last_error = Some(err.to_string()),
        }
        outcome
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
        let key = event_key(&event.event_id);
        let record = BaseRecord::<[u8], [u8], ()>::to(&self.topic)
            .key(&key)
            .payload(&payload);
        self.producer.send(record).map_err(|(err, _)| match err {
            KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull) => EnqueueError::QueueFull,
            other => EnqueueError::Producer(other.to_string()),
        })
    }

    fn queue_depth(&self) -> i64 {
        i64::from(self.producer.in_flight_count())
    }

    fn readiness(&self) -> Result<(), String> {
        self.metadata
            .lock()
            .expect("not poisoned")
            .check(Instant::now(), self.ready_window)?;
        self.health.lock().expect("not poisoned").check()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_names_why_the_metadata_is_missing() {
        let window = Duration::from_secs(15);
        let now = Instant::now();
        let mut probe = MetadataProbe::default();
        assert_eq!(
            probe.check(now, window),
            Err("broker metadata not fetched yet".into())
        );
        probe.last_error = Some(MetadataError::NoSuchTopic("select-colr".into()).to_string());
        let err = probe.check(now, window).unwrap_err();
        assert!(err.contains("\"select-colr\" does not exist"), "{err}");
        probe.last_ok = Some(now);
        probe.last_error = None;
        assert_eq!(probe.check(now + Duration::from_secs(14), window), Ok(()));
        assert_eq!(
            probe.check(now + window, window),
            Err("broker metadata not fetched recently".into())
        );
        probe.last_error = Some(
            MetadataError::Unreachable(KafkaError::MetadataFetch(
                RDKafkaErrorCode::BrokerTransportFailure,
            ))
            .to_string(),
        );
        let err = probe.check(now + window, window).unwrap_err();
        assert!(err.starts_with("brokers not reachable"), "{err}");
    }

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
