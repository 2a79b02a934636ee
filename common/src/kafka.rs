//! Kafka client settings shared by the collector and the sinks, so the topic contract and the
//! delivery semantics are written down once.

use rdkafka::ClientConfig;

/// Default bootstrap servers for a broker on this machine.
pub const DEFAULT_BOOTSTRAP_SERVERS: &str = "localhost:9092";
/// Default topic of click events.
pub const DEFAULT_TOPIC: &str = "select-color";
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

#[cfg(test)]
mod tests {
    use super::*;

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
