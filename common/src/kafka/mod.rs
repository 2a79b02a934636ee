//! Kafka client settings shared by the collector and the sinks, so the topic contract and the
//! delivery semantics are written down once; the group member both sinks run
//! ([`MemberContext`], [`MemberMetrics`]); and the lookups every service makes outside a
//! group's loop, with their one error ([`ClientError`]).

use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaResult;

mod args;
mod continuity;
mod log;
mod lookup;
mod member;
pub mod tombstones;

pub use args::{KafkaArgs, SinkArgs, SinkDefaults};
pub use continuity::{Continuity, GapCause, GapMetrics, WATERMARK_TIMEOUT, report_gap, watermarks};
pub use log::{ClientLog, LoggedContext};
pub use lookup::{
    ClientError, LOOKUP_TIMEOUT, committed, end_offsets, lookup_consumer, partitions,
};
pub use member::{Member, MemberContext, MemberMetrics, PartitionLabel, Rebalancing};
pub use tombstones::{DEFAULT_ERASED_TOPIC, Tombstones};

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
    /// How long a batch waits for more records before it is sent. 15 ms: records keyed by
    /// their ids spread over every partition, so each partition's batch fills a third as fast
    /// as the sticky partitioner's one; three times the design's 5 ms keeps the records per
    /// batch. The click's answer does not wait for it.
    pub linger_ms: u64,
}

impl Default for ProducerTuning {
    fn default() -> Self {
        ProducerTuning {
            queue_max_messages: 100_000,
            message_timeout_ms: 30_000,
            linger_ms: 15,
        }
    }
}

/// The click producer's configuration.
///
/// The design's choices, and the librdkafka settings that make them:
/// - `acks=1`: the partition leader's write is enough; speed over the last bit of safety;
/// - each record keyed by its `eventId` ([`event_key`]), and `partitioner=murmur2_random`: the
///   partition is murmur2 of the key modulo the partition count, as Java's producer picks it,
///   so every copy of a click (a browser's retry through any collector) is in one partition,
///   where the lake's repeat window finds it. The design chose no key and librdkafka's sticky
///   partitioner, so that the partition count can grow with the traffic; that is still
///   possible, but a retry in flight while partitions are added may land in another
///   partition than its first copy, and land twice;
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
        .set("partitioner", "murmur2_random")
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

/// The key of a click's record: its `eventId` as text, which picks its partition.
pub fn event_key(id: &uuid::Uuid) -> [u8; uuid::fmt::Hyphenated::LENGTH] {
    let mut key = [0; uuid::fmt::Hyphenated::LENGTH];
    id.hyphenated().encode_lower(&mut key);
    key
}

/// A producer of records that are the only trace of something once an offset moves past it
/// (dead letters): every in-sync replica acknowledges a record (`acks=all`), and an
/// acknowledgement that does not come within `message_timeout` is reported as a failure; then
/// the extra properties a producer takes.
pub fn record_keeping_producer_config(
    kafka: &KafkaArgs,
    client_id: &str,
    message_timeout: std::time::Duration,
) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", &kafka.bootstrap_servers)
        .set("client.id", client_id)
        .set("acks", "all")
        .set("linger.ms", "5")
        .set(
            "message.timeout.ms",
            message_timeout.as_millis().to_string(),
        );
    for (key, value) in kafka.producer_properties() {
        config.set(key, value);
    }
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

/// How often librdkafka reports its statistics, which the sinks read their lag from: every
/// second, so that lag shown beside a click (the results page) is about as fresh as the click.
/// Each report is a few kilobytes of JSON per consumer.
pub const STATISTICS_INTERVAL_MS: u32 = 1_000;

/// A member of consumer group `group`, subscribed to the topic, with what both sinks share:
/// - it commits only what its caller says is durable ([`consumer_config`]);
/// - eager assignors: a rebalance revokes everything, then assigns, which the sinks' rebalance
///   handling relies on;
/// - statistics every [`STATISTICS_INTERVAL_MS`], for lag;
/// - at most `prefetch.queued_bytes` queued ahead of the sink (librdkafka's default is 64 MiB
///   per consumer, most of a sink's memory). A queue this small fills whenever the sink writes,
///   so the next fetch waits 10 ms once it drains rather than librdkafka's 1 s, which would cut
///   the sink's rate several times over;
/// - fetch responses of at most `prefetch.response_bytes` ([`Prefetch`]);
/// - then the extra properties, which may override any of these.
pub fn group_consumer<C: ConsumerContext>(
    kafka: &KafkaArgs,
    group: &str,
    client_id: &str,
    prefetch: Prefetch,
    context: C,
) -> KafkaResult<BaseConsumer<C>> {
    let kib = (prefetch.queued_bytes / 1024).max(1);
    let mut config = consumer_config(&kafka.bootstrap_servers, group, client_id);
    config
        .set("partition.assignment.strategy", "range,roundrobin")
        .set("statistics.interval.ms", STATISTICS_INTERVAL_MS.to_string())
        .set("queued.max.messages.kbytes", kib.to_string())
        .set("fetch.max.bytes", prefetch.response_bytes.to_string())
        .set("fetch.queue.backoff.ms", "10");
    for (key, value) in &kafka.properties {
        config.set(key, value);
    }
    let consumer: BaseConsumer<C> = config.create_with_context(context)?;
    consumer.subscribe(&[&kafka.topic])?;
    Ok(consumer)
}

/// How far a consumer reads ahead of its sink: what it queues, and how large a fetch response
/// it asks for. A record stays queued until the sink takes it and keeps its whole response in
/// memory meanwhile, so a response is as much memory as the queue, and librdkafka's default
/// (50 MiB) would dwarf it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Prefetch {
    /// Records queued ahead of the sink (`queued.max.messages.kbytes`).
    pub queued_bytes: usize,
    /// The largest fetch response asked for (`fetch.max.bytes`).
    pub response_bytes: usize,
}

impl Prefetch {
    /// One of `consumers` consumers of a process that may read `total` ahead: its queue is an
    /// even share, and its responses may be as large as `total`, and never below 1 MiB (the
    /// largest record a broker sends by default, which a response must be able to carry).
    ///
    /// Responses are not cut to the share: a broker answers a fetch once it has data or its
    /// wait ends, so smaller responses mean more round trips for the same records, and on a
    /// broker that pauses between answers (tansu 0.6.0 sleeps up to half the fetch wait after
    /// every answer) they cut the rate by as much. `KAFKA_PROPERTIES=fetch.max.bytes=...`
    /// trades that rate for memory where the broker answers at once.
    pub fn shared(total: usize, consumers: usize) -> Self {
        Prefetch {
            queued_bytes: total / consumers.max(1),
            response_bytes: total.max(1 << 20),
        }
    }
}

/// Each partition's end offset in `topic` (where the next record will be written), from a
/// librdkafka statistics document; partitions whose end is not known yet are left out.
///
/// The end is the last stable offset, the end a consumer reading committed records sees
/// (librdkafka's default); it equals the high watermark on a topic without transactions. Lag
/// is measured from it to the sink's own durable position rather than taken from librdkafka's
/// `consumer_lag`, which stays unknown until this member commits: a caught-up sink after a
/// restart would show no lag at all.
pub fn partition_ends(statistics: &[u8], topic: &str) -> Vec<(i32, i64)> {
    let Ok(document) = serde_json::from_slice::<serde_json::Value>(statistics) else {
        return Vec::new();
    };
    let Some(partitions) = document["topics"][topic]["partitions"].as_object() else {
        return Vec::new();
    };
    let mut ends: Vec<(i32, i64)> = partitions
        .iter()
        .filter_map(|(id, partition)| {
            let id: i32 = id.parse().ok().filter(|p| *p >= 0)?;
            let known = |field: &str| partition[field].as_i64().filter(|o| *o >= 0);
            Some((id, known("ls_offset").or_else(|| known("hi_offset"))?))
        })
        .collect();
    ends.sort_unstable();
    ends
}

/// Records between a partition's durable position and its end.
pub fn lag(end: i64, position: i64) -> i64 {
    (end - position).max(0)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_process_prefetch_is_shared_by_its_consumers_queues_not_by_their_responses() {
        let mib = 1 << 20;
        assert_eq!(
            Prefetch::shared(4 * mib, 4),
            Prefetch {
                queued_bytes: mib,
                response_bytes: 4 * mib
            }
        );
        assert_eq!(
            Prefetch::shared(4 * mib, 1),
            Prefetch {
                queued_bytes: 4 * mib,
                response_bytes: 4 * mib
            }
        );
        // A response must carry the largest record a broker sends by default.
        assert_eq!(Prefetch::shared(256 << 10, 2).response_bytes, mib);
        assert_eq!(Prefetch::shared(256 << 10, 2).queued_bytes, 128 << 10);
    }

    #[test]
    fn producer_config_carries_the_design_choices() {
        let config = producer_config("b:9092", "test", &ProducerTuning::default());
        for (key, value) in [
            ("acks", "1"),
            ("partitioner", "murmur2_random"),
            ("compression.type", "none"),
            ("enable.idempotence", "false"),
        ] {
            assert_eq!(config.get(key), Some(value), "{key}");
        }
    }

    #[test]
    fn ends_come_from_the_statistics_of_known_partitions() {
        let statistics = br#"{"topics": {"select-color": {"partitions": {
            "0": {"hi_offset": 12, "ls_offset": 12},
            "1": {"hi_offset": -1001, "ls_offset": -1001},
            "2": {"hi_offset": 9, "ls_offset": 7},
            "3": {"hi_offset": 5, "ls_offset": -1001},
            "-1": {"hi_offset": -1001, "ls_offset": -1001}
        }}, "other": {"partitions": {"0": {"hi_offset": 5}}}}}"#;
        assert_eq!(
            partition_ends(statistics, "select-color"),
            [(0, 12), (2, 7), (3, 5)]
        );
        assert_eq!(partition_ends(b"not json", "select-color"), []);
        assert_eq!(partition_ends(statistics, "missing"), []);
    }

    #[test]
    fn lag_counts_from_the_position_and_is_never_negative() {
        assert_eq!(lag(12, 4), 8);
        assert_eq!(lag(12, 12), 0);
        // Statistics are up to 5 s old, so a position may be past the end they report.
        assert_eq!(lag(12, 15), 0);
    }

    #[test]
    fn consumer_config_never_commits_on_its_own() {
        let config = consumer_config("b:9092", "g", "c");
        assert_eq!(config.get("enable.auto.commit"), Some("false"));
        assert_eq!(config.get("auto.offset.reset"), Some("earliest"));
    }
}
