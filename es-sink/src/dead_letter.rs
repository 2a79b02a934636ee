//! The dead-letter topic: records the sink will not index, as they were read, with where they
//! came from and why in headers. A dead letter counts as done only once Kafka acknowledged it.
//! The letters of one source partition all go to one partition of the topic
//! ([`crate::ledger::letter_partition`]), so the letters a partition's earlier owner wrote can
//! be read back ([`DeadLetterProducer::read_written`]) and are not written twice.

use std::sync::Arc;
use std::time::Duration;

use common::kafka::{ClientLog, KafkaArgs, LoggedContext};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};

use crate::metrics::{ReasonLabel, SinkMetrics};
use crate::offsets::RecordRef;

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

/// How long the dead-letter topic may take to acknowledge a letter before the attempt is
/// reported failed: the consumer's loop waits for the answer.
const LETTER_TIMEOUT: Duration = Duration::from_secs(10);

/// Writes dead letters, and reads back the ones already written.
pub struct DeadLetterProducer {
    producer: FutureProducer<LoggedContext>,
    kafka: KafkaArgs,
    topic: String,
    source_topic: String,
    metrics: SinkMetrics,
}

impl DeadLetterProducer {
    pub fn new(
        kafka: &KafkaArgs,
        log: Arc<ClientLog>,
        topic: &str,
        metrics: SinkMetrics,
    ) -> Result<Self, KafkaError> {
        let config = common::kafka::record_keeping_producer_config(
            kafka,
            "es-sink-dead-letters",
            LETTER_TIMEOUT,
        );
        Ok(DeadLetterProducer {
            producer: config.create_with_context(LoggedContext(log))?,
            kafka: kafka.clone(),
            topic: topic.to_owned(),
            source_topic: kafka.topic.clone(),
            metrics,
        })
    }

    /// The dead-letter topic.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The dead-letter topic's partition count (blocking, up to `timeout`).
    pub fn partitions(&self, timeout: Duration) -> Result<i32, KafkaError> {
        let metadata = self
            .producer
            .client()
            .fetch_metadata(Some(&self.topic), timeout)?;
        metadata
            .topics()
            .iter()
            .find(|t| t.name() == self.topic && t.error().is_none() && !t.partitions().is_empty())
            .map(|t| t.partitions().len() as i32)
            .ok_or(KafkaError::MetadataFetch(
                rdkafka::types::RDKafkaErrorCode::UnknownTopicOrPartition,
            ))
    }

    /// Writes `letters` to partition `partition` of the dead-letter topic, once: for each, the
    /// offset it was acknowledged at, or why not. A letter reported failed may still have been
    /// written (its acknowledgement lost): read the topic before writing it again.
    pub async fn write(&self, letters: &[DeadLetter], partition: i32) -> Vec<Result<i64, String>> {
        // Enqueue all, then wait for each acknowledgement: they travel together.
        let deliveries: Vec<_> = letters
            .iter()
            .map(|letter| self.enqueue(letter, partition))
            .collect();
        let mut outcomes = Vec::with_capacity(letters.len());
        for (letter, delivery) in letters.iter().zip(deliveries) {
            let outcome = match delivery {
                Ok(delivery) => match delivery.await {
                    Ok(Ok(delivered)) => Ok(delivered.offset),
                    Ok(Err((err, _))) => Err(err.to_string()),
                    Err(_) => Err("producer dropped the record".to_owned()),
                },
                Err(err) => Err(err.to_string()),
            };
            match &outcome {
                Ok(at) => {
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
                        dead_letter_offset = at,
                        "record dead-lettered"
                    );
                }
                Err(err) => {
                    self.metrics.dead_letter_failures.inc();
                    tracing::error!(
                        partition = letter.record.partition,
                        offset = letter.record.offset,
                        err,
                        dead_letter_topic = self.topic,
                        "cannot write to the dead-letter topic; the record's offset is held until it can"
                    );
                }
            }
            outcomes.push(outcome);
        }
        outcomes
    }

    fn enqueue(
        &self,
        letter: &DeadLetter,
        partition: i32,
    ) -> Result<rdkafka::producer::DeliveryFuture, KafkaError> {
        let mut kafka_headers = OwnedHeaders::new();
        for (key, value) in headers(letter, &self.source_topic) {
            kafka_headers = kafka_headers.insert(Header {
                key,
                value: Some(value.as_bytes()),
            });
        }
        let mut record: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(&self.topic)
            .partition(partition)
            .headers(kafka_headers);
        if let Some(key) = &letter.key {
            record = record.key(key.as_slice());
        }
        if let Some(payload) = &letter.payload {
            record = record.payload(payload.as_slice());
        }
        self.producer.send_result(record).map_err(|(err, _)| err)
    }

    /// Reads partition `partition` of the dead-letter topic from `from` (its start if `None` or
    /// deleted) to its end now (blocking, up to `timeout`): the letters of partition
    /// `source_partition` of the source topic, as (record offset, letter offset), and the end.
    pub fn read_written(
        &self,
        partition: i32,
        from: Option<i64>,
        source_partition: i32,
        timeout: Duration,
    ) -> Result<(Vec<(i64, i64)>, i64), KafkaError> {
        let deadline = std::time::Instant::now() + timeout;
        let mut config = common::kafka::consumer_config(
            &self.kafka.bootstrap_servers,
            &format!("{}-reader", self.topic),
            "es-sink-dead-letter-reader",
        );
        for (key, value) in &self.kafka.properties {
            config.set(key, value);
        }
        let reader: BaseConsumer = config.create()?;
        let (low, end) = reader.fetch_watermarks(&self.topic, partition, timeout)?;
        let start = from.map_or(low, |from| from.max(low));
        let mut found = Vec::new();
        if start >= end {
            return Ok((found, end));
        }
        let mut assignment = TopicPartitionList::new();
        assignment.add_partition_offset(&self.topic, partition, Offset::Offset(start))?;
        reader.assign(&assignment)?;
        let source_partition = source_partition.to_string();
        loop {
            let now = std::time::Instant::now();
            if now >= deadline {
                return Err(KafkaError::MessageConsumption(
                    rdkafka::types::RDKafkaErrorCode::OperationTimedOut,
                ));
            }
            match reader.poll((deadline - now).min(Duration::from_millis(200))) {
                Some(Ok(message)) => {
                    let header = |name: &str| {
                        message.headers().and_then(|headers| {
                            headers
                                .iter()
                                .find(|h| h.key == name)
                                .and_then(|h| h.value)
                                .map(|v| String::from_utf8_lossy(v).into_owned())
                        })
                    };
                    if header(header::TOPIC).as_deref() == Some(self.source_topic.as_str())
                        && header(header::PARTITION).as_deref() == Some(source_partition.as_str())
                        && let Some(offset) = header(header::OFFSET).and_then(|o| o.parse().ok())
                    {
                        found.push((offset, message.offset()));
                    }
                    if message.offset() + 1 >= end {
                        return Ok((found, end));
                    }
                }
                Some(Err(err)) => return Err(err),
                // Nothing more to read, though the last offset never came (a record deleted
                // meanwhile, or a transaction marker): the position tells.
                None => {
                    let position = reader.position()?;
                    if let Some(Offset::Offset(at)) = position
                        .find_partition(&self.topic, partition)
                        .map(|p| p.offset())
                        && at >= end
                    {
                        return Ok((found, end));
                    }
                }
            }
        }
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
