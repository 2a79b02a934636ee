//! Kafka client settings shared by the collector and the sinks, so the topic contract and the
//! delivery semantics are written down once.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use rdkafka::ClientConfig;
use rdkafka::consumer::{Consumer, ConsumerContext};

/// Default bootstrap servers for a broker on this machine.
pub const DEFAULT_BOOTSTRAP_SERVERS: &str = "localhost:9092";
/// Default topic of click events.
pub const DEFAULT_TOPIC: &str = "select-color";
/// Default topic of records a sink could not take, with the reason in headers.
pub const DEFAULT_DEAD_LETTER_TOPIC: &str = "select-color-dlq";
/// Partitions the demo creates the topic with (`replication.factor` 2 on a real cluster).
pub const DEMO_PARTITIONS: i32 = 3;
pub const DEMO_REPLICATION_FACTOR: i32 = 2;

/// Settings of the click producer that are not the design's fixed choices.
#[derive(Debug, Clone)]
pub struct ProducerTuning {
    /// Records the local queue holds before `send` answers `QueueFull`.
    pub queue_max_messages: u32,
    /// How long librdkafka keeps trying to deliver a record before reporting it failed.
    pub message_timeout_ms: u64,
    /// How long a batch waits for more records before it is sent.
    pub linger_ms: u64,
    /// How long keyless records stick to one partition before another is picked.
    pub sticky_partitioning_linger_ms: u64,
}

impl Default for ProducerTuning {
    fn default() -> Self {
        ProducerTuning {
            queue_max_messages: 100_000,
            message_timeout_ms: 30_000,
            linger_ms: 5,
            sticky_partitioning_linger_ms: 10,
        }
    }
}

/// The click producer's configuration.
///
/// The design's choices, and the librdkafka settings that make them:
/// - `acks=1`: the partition leader's write is enough; speed over the last bit of safety;
/// - no message key, and `partitioner=consistent_random`: keyless records take librdkafka's
///   *sticky* path, which keeps sending to one partition for `sticky.partitioning.linger.ms`
///   (so records sent together share a batch) and then picks another at random (so over time
///   every partition receives records);
/// - `compression.type=none`;
/// - `enable.idempotence=false`, `retries` left at librdkafka's default: a retry may duplicate
///   or reorder a record, and the sinks deduplicate on `eventId`.
pub fn producer_config(
    bootstrap_servers: &str,
    client_id: &str,
    tuning: &ProducerTuning,
) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap_servers)
        .set("client.id", client_id)
        .set("acks", "1")
        .set("partitioner", "consistent_random")
        .set(
            "sticky.partitioning.linger.ms",
            tuning.sticky_partitioning_linger_ms.to_string(),
        )
        .set("linger.ms", tuning.linger_ms.to_string())
        .set("compression.type", "none")
        .set("enable.idempotence", "false")
        .set(
            "queue.buffering.max.messages",
            tuning.queue_max_messages.to_string(),
        )
        .set("message.timeout.ms", tuning.message_timeout_ms.to_string());
    config
}

/// A consumer that commits only what its caller says is durable downstream: auto-commit off,
/// offsets reset to the earliest record, so a new group reads the whole topic.
pub fn consumer_config(bootstrap_servers: &str, group_id: &str, client_id: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap_servers)
        .set("group.id", group_id)
        .set("client.id", client_id)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("enable.partition.eof", "false");
    config
}

/// Parses one `key=value` librdkafka property given on the command line; the value may itself
/// hold `=`.
pub fn parse_property(raw: &str) -> Result<(String, String), String> {
    let (key, value) = raw
        .split_once('=')
        .ok_or_else(|| format!("{raw:?} is not key=value"))?;
    let key = key.trim();
    if key.is_empty() {
        return Err(format!("{raw:?} has an empty key"));
    }
    Ok((key.to_owned(), value.trim().to_owned()))
}

/// Where a record's offset stands against the offset its consumer expected next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Continuity {
    /// The expected record, or the first one when nothing was expected.
    InOrder,
    /// `missing` records from `expected` on were never delivered.
    Gap { expected: i64, missing: i64 },
    /// The record is older than expected: the fetch position was reset backwards, which a
    /// broker does when the position is past the partition's end.
    Behind { expected: i64 },
}

impl Continuity {
    pub fn of(expected: Option<i64>, offset: i64) -> Continuity {
        match expected {
            Some(expected) if offset > expected => Continuity::Gap {
                expected,
                missing: offset - expected,
            },
            Some(expected) if offset < expected => Continuity::Behind { expected },
            _ => Continuity::InOrder,
        }
    }
}

/// Why records of a partition were never delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GapCause {
    /// The partition's log now starts after them: retention deleted them before they were
    /// read.
    Retention,
    /// They are still in the log, or were never in it: the broker skipped them. Compaction
    /// and transaction markers also leave such gaps; the click topic has neither.
    Broker,
    /// The log start could not be looked up.
    Unknown,
}

impl GapCause {
    /// The cause, told by the partition's log start offset as the broker reports it now.
    pub fn from_log_start(expected: i64, log_start: Option<i64>) -> GapCause {
        match log_start {
            Some(start) if start > expected => GapCause::Retention,
            Some(_) => GapCause::Broker,
            None => GapCause::Unknown,
        }
    }

    /// Metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            GapCause::Retention => "retention",
            GapCause::Broker => "broker",
            GapCause::Unknown => "unknown",
        }
    }
}

/// How long a consumer waits for a partition's watermarks when it needs them to explain an
/// offset it did not expect. It waits on its polling thread, so briefly.
pub const WATERMARK_TIMEOUT: Duration = Duration::from_secs(2);

/// The log start and end offsets of a partition, as the broker reports them now.
pub fn watermarks<C: ConsumerContext>(
    consumer: &impl Consumer<C>,
    topic: &str,
    partition: i32,
) -> Option<(i64, i64)> {
    match consumer.fetch_watermarks(topic, partition, WATERMARK_TIMEOUT) {
        Ok(marks) => Some(marks),
        Err(err) => {
            tracing::warn!(topic, partition, %err, "cannot look up the partition's watermarks");
            None
        }
    }
}

/// The offset gaps a consumer saw, by cause, as metrics.
#[derive(Debug, Clone, Default)]
pub struct GapMetrics {
    gaps: Family<CauseLabel, Counter>,
    skipped: Family<CauseLabel, Counter>,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CauseLabel {
    cause: &'static str,
}

impl GapMetrics {
    /// Adds `offset_gaps` and `skipped_offsets` (by `cause`) to a consumer's registry.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "offset_gaps",
            "Jumps over offsets that were never read, by cause: retention (deleted before they were read) or broker (skipped by it)",
            self.gaps.clone(),
        );
        registry.register(
            "skipped_offsets",
            "Offsets jumped over by those gaps, by cause: records lost to this consumer",
            self.skipped.clone(),
        );
    }

    fn record(&self, cause: GapCause, missing: i64) {
        let label = CauseLabel {
            cause: cause.as_str(),
        };
        self.gaps.get_or_create(&label).inc();
        self.skipped
            .get_or_create(&label)
            .inc_by(missing.max(0) as u64);
    }
}

/// Finds out why records `expected..expected + missing` of a partition never arrived, says so
/// as an ERROR (they are lost to this consumer), and counts it in `metrics`.
pub fn report_gap<C: ConsumerContext>(
    consumer: &impl Consumer<C>,
    topic: &str,
    partition: i32,
    expected: i64,
    missing: i64,
    metrics: &GapMetrics,
) {
    let log_start = watermarks(consumer, topic, partition).map(|(low, _)| low);
    let cause = GapCause::from_log_start(expected, log_start);
    metrics.record(cause, missing);
    match cause {
        GapCause::Retention => tracing::error!(
            topic,
            partition,
            expected,
            missing,
            log_start,
            "records were deleted by retention before they were read; they are lost"
        ),
        GapCause::Broker | GapCause::Unknown => tracing::error!(
            topic,
            partition,
            expected,
            missing,
            log_start,
            cause = cause.as_str(),
            "the broker skipped records: an offset gap in the partition"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continuity_compares_an_offset_with_the_one_expected() {
        assert_eq!(Continuity::of(None, 17), Continuity::InOrder);
        assert_eq!(Continuity::of(Some(17), 17), Continuity::InOrder);
        assert_eq!(
            Continuity::of(Some(30000), 30321),
            Continuity::Gap {
                expected: 30000,
                missing: 321
            }
        );
        assert_eq!(
            Continuity::of(Some(44), 0),
            Continuity::Behind { expected: 44 }
        );
    }

    #[test]
    fn gaps_are_counted_by_cause() {
        let metrics = GapMetrics::default();
        metrics.record(GapCause::Retention, 150);
        metrics.record(GapCause::Retention, 8);
        let mut registry = Registry::with_prefix("sink");
        metrics.register(&mut registry);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        assert!(
            text.contains(r#"sink_offset_gaps_total{cause="retention"} 2"#),
            "{text}"
        );
        assert!(
            text.contains(r#"sink_skipped_offsets_total{cause="retention"} 158"#),
            "{text}"
        );
    }

    #[test]
    fn a_gap_below_the_log_start_was_deleted_by_retention() {
        assert_eq!(
            GapCause::from_log_start(100, Some(250)),
            GapCause::Retention
        );
        assert_eq!(GapCause::from_log_start(100, Some(0)), GapCause::Broker);
        assert_eq!(GapCause::from_log_start(100, Some(100)), GapCause::Broker);
        assert_eq!(GapCause::from_log_start(100, None), GapCause::Unknown);
    }

    #[test]
    fn producer_config_carries_the_design_choices() {
        let config = producer_config("b:9092", "test", &ProducerTuning::default());
        for (key, value) in [
            ("acks", "1"),
            ("partitioner", "consistent_random"),
            ("sticky.partitioning.linger.ms", "10"),
            ("compression.type", "none"),
            ("enable.idempotence", "false"),
        ] {
            assert_eq!(config.get(key), Some(value), "{key}");
        }
    }

    #[test]
    fn consumer_config_never_commits_on_its_own() {
        let config = consumer_config("b:9092", "g", "c");
        assert_eq!(config.get("enable.auto.commit"), Some("false"));
        assert_eq!(config.get("auto.offset.reset"), Some("earliest"));
    }
}
