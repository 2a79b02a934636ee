//! The dead-letter topic: records the sink will not index, as they were read, with where they
//! came from and why in headers. A dead letter counts as done only once Kafka acknowledged it.

use std::sync::Arc;
use std::time::Duration;

use common::backoff::retry_wait;
use common::kafka::{ClientLog, KafkaArgs, LoggedContext};
use rdkafka::ClientConfig;
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};

use crate::batch::RecordRef;
use crate::metrics::{ReasonLabel, SinkMetrics};

/// A record the sink will not index, on its way to the dead-letter topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    pub record: RecordRef,
    pub key: Option<Vec<u8>>,
    /// The record value exactly as read; `None` for a record without a value.
    pub payload: Option<Vec<u8>>,
    /// HTTP status of the refusal, when Elasticsearch refused it.
    pub status: Option<u16>,
    /// Short, stable kind of failure, used as a metric label (`invalid_event`,
    /// `mapper_parsing_exception`, ...).
    pub kind: String,
    /// Human-readable reason.
    pub reason: String,
}

/// Metric label and header value for records that are not valid events.
pub const INVALID_EVENT: &str = "invalid_event";

/// The error type of an Elasticsearch reason written as `type: detail`, else `http_<status>`-like
/// text as given; kept to label characters so it can be a metric label.
pub fn failure_kind(reason: &str) -> String {
    let head = reason.split(':').next().unwrap_or_default().trim();
    let kind: String = head
        .chars()
        .take(64)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if kind.is_empty() {
        "unknown".to_owned()
    } else {
        kind
    }
}

/// Header names of a dead letter.
pub mod header {
    pub const TOPIC: &str = "source.topic";
    pub const PARTITION: &str = "source.partition";
    pub const OFFSET: &str = "source.offset";
    pub const KIND: &str = "error.kind";
    pub const REASON: &str = "error.reason";
    pub const STATUS: &str = "error.status";
}

/// The headers of a dead letter read from `source_topic`.
pub fn headers(letter: &DeadLetter, source_topic: &str) -> Vec<(&'static str, String)> {
    let mut headers = vec![
        (header::TOPIC, source_topic.to_owned()),
        (header::PARTITION, letter.record.partition.to_string()),
        (header::OFFSET, letter.record.offset.to_string()),
        (header::KIND, letter.kind.clone()),
        (header::REASON, letter.reason.clone()),
    ];
    if let Some(status) = letter.status {
        headers.push((header::STATUS, status.to_string()));
    }
    headers
}

/// Properties of KAFKA_PROPERTIES meant for the consumer, which the producer would warn about.
fn is_consumer_only(key: &str) -> bool {
    const PREFIXES: [&str; 9] = [
        "session.",
        "heartbeat.",
        "group.",
        "max.poll.",
        "fetch.",
        "auto.",
        "enable.auto.",
        "partition.assignment.",
        "isolation.",
    ];
    PREFIXES.iter().any(|p| key.starts_with(p))
}

pub struct DeadLetterProducer {
    producer: FutureProducer<LoggedContext>,
    topic: String,
    source_topic: String,
    max_backoff: Duration,
    metrics: SinkMetrics,
}

impl DeadLetterProducer {
    pub fn new(
        kafka: &KafkaArgs,
        log: Arc<ClientLog>,
        topic: &str,
        max_backoff: Duration,
        metrics: SinkMetrics,
    ) -> Result<Self, KafkaError> {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &kafka.bootstrap_servers)
            .set("client.id", "es-sink-dead-letters")
            // A dead letter is the only trace of a record once its offset is committed.
            .set("acks", "all")
            .set("linger.ms", "5")
            .set("message.timeout.ms", "30000");
        for (key, value) in kafka
            .properties
            .iter()
            .filter(|(k, _)| !is_consumer_only(k))
        {
            config.set(key, value);
        }
        Ok(DeadLetterProducer {
            producer: config.create_with_context(LoggedContext(log))?,
            topic: topic.to_owned(),
            source_topic: kafka.topic.clone(),
            max_backoff,
            metrics,
        })
    }

    /// Writes every letter, trying again until each is acknowledged.
    pub async fn send_all(&self, letters: &[DeadLetter]) {
        let mut remaining: Vec<&DeadLetter> = letters.iter().collect();
        // In the order they were read, as far as one producer keeps order.
        remaining.sort_by_key(|l| (l.record.partition, l.record.offset));
        let mut attempt = 0;
        while !remaining.is_empty() {
            // Enqueue all, then wait for each acknowledgement: they travel together.
            let deliveries: Vec<_> = remaining
                .iter()
                .map(|letter| (*letter, self.enqueue(letter)))
                .collect();
            let mut failed = Vec::new();
            for (letter, delivery) in deliveries {
                let result = match delivery {
                    Ok(delivery) => match delivery.await {
                        Ok(Ok(_)) => Ok(()),
                        Ok(Err((err, _))) => Err(err.to_string()),
                        Err(_) => Err("producer dropped the record".to_owned()),
                    },
                    Err(err) => Err(err.to_string()),
                };
                match result {
                    Ok(()) => {
                        self.metrics
                            .dead_lettered
                            .get_or_create(&ReasonLabel::new(&letter.kind))
                            .inc();
                        tracing::warn!(
                            partition = letter.record.partition,
                            offset = letter.record.offset,
                            kind = letter.kind,
                            reason = letter.reason,
                            dead_letter_topic = self.topic,
                            "record dead-lettered"
                        );
                    }
                    Err(err) => {
                        self.metrics.dead_letter_failures.inc();
                        tracing::error!(
                            partition = letter.record.partition,
                            offset = letter.record.offset,
                            attempt = attempt + 1,
                            err,
                            dead_letter_topic = self.topic,
                            "cannot write to the dead-letter topic; the record's offset is held until it can"
                        );
                        failed.push(letter);
                    }
                }
            }
            remaining = failed;
            if !remaining.is_empty() {
                attempt += 1;
                let wait = retry_wait(attempt, Duration::from_millis(200), self.max_backoff);
                tokio::time::sleep(wait).await;
            }
        }
    }

    fn enqueue(
        &self,
        letter: &DeadLetter,
    ) -> Result<rdkafka::producer::DeliveryFuture, KafkaError> {
        let mut kafka_headers = OwnedHeaders::new();
        for (key, value) in headers(letter, &self.source_topic) {
            kafka_headers = kafka_headers.insert(Header {
                key,
                value: Some(value.as_bytes()),
            });
        }
        let mut record: FutureRecord<'_, [u8], [u8]> =
            FutureRecord::to(&self.topic).headers(kafka_headers);
        if let Some(key) = &letter.key {
            record = record.key(key.as_slice());
        }
        if let Some(payload) = &letter.payload {
            record = record.payload(payload.as_slice());
        }
        self.producer.send_result(record).map_err(|(err, _)| err)
    }

    /// Sends what is queued, for up to `timeout`.
    pub fn flush(&self, timeout: Duration) {
        let _ = self.producer.flush(timeout);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_say_where_the_record_came_from_and_why() {
        let letter = DeadLetter {
            record: RecordRef {
                partition: 2,
                offset: 41,
                generation: 7,
            },
            key: None,
            payload: Some(b"{}".to_vec()),
            status: Some(400),
            kind: "mapper_parsing_exception".into(),
            reason: "mapper_parsing_exception: failed to parse field [timestamp]".into(),
        };
        let headers = headers(&letter, "select-color");
        assert_eq!(
            headers,
            vec![
                ("source.topic", "select-color".to_owned()),
                ("source.partition", "2".to_owned()),
                ("source.offset", "41".to_owned()),
                ("error.kind", "mapper_parsing_exception".to_owned()),
                (
                    "error.reason",
                    "mapper_parsing_exception: failed to parse field [timestamp]".to_owned()
                ),
                ("error.status", "400".to_owned()),
            ]
        );
        let invalid = DeadLetter {
            status: None,
            ..letter
        };
        assert!(
            !super::headers(&invalid, "t")
                .iter()
                .any(|(k, _)| *k == header::STATUS)
        );
    }

    #[test]
    fn failure_kinds_are_safe_metric_labels() {
        assert_eq!(
            failure_kind("strict_dynamic_mapping_exception: mapping set to strict"),
            "strict_dynamic_mapping_exception"
        );
        assert_eq!(failure_kind("status 413 {weird}"), "status_413__weird_");
        assert_eq!(failure_kind(""), "unknown");
    }
}
