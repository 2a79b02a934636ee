//! What a service asks Kafka outside a group's loop (the topic's partitions, where each ends,
//! how far a group committed), and how that fails: written once for every service.

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::{Offset, TopicPartitionList};

use super::{KafkaArgs, consumer_config};

/// Longest wait for one answer from the brokers.
pub const LOOKUP_TIMEOUT: Duration = Duration::from_secs(15);

/// A Kafka call that failed, naming the brokers asked.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("Kafka at {bootstrap}: {source}")]
    Kafka {
        bootstrap: String,
        source: KafkaError,
    },
    #[error("topic {0} not found or has no partitions")]
    NoSuchTopic(String),
}

impl ClientError {
    /// The failure of a call to the brokers `args` names.
    pub fn of(args: &KafkaArgs) -> impl Fn(KafkaError) -> ClientError + '_ {
        |source| ClientError::Kafka {
            bootstrap: args.bootstrap_servers.clone(),
            source,
        }
    }
}

/// A consumer for lookups, in group `group` (whose committed offsets it may read), with the
/// extra properties.
pub fn lookup_consumer(
    args: &KafkaArgs,
    group: &str,
    client_id: &str,
) -> Result<BaseConsumer, ClientError> {
    let mut config = consumer_config(&args.bootstrap_servers, group, client_id);
    for (key, value) in &args.properties {
        config.set(key, value);
    }
    config.create().map_err(ClientError::of(args))
}

/// The topic's partitions, from broker metadata; a topic that is missing or has none is an
/// error.
pub fn partitions(consumer: &BaseConsumer, args: &KafkaArgs) -> Result<Vec<i32>, ClientError> {
    let topic = args.topic.as_str();
    let metadata = consumer
        .fetch_metadata(Some(topic), LOOKUP_TIMEOUT)
        .map_err(ClientError::of(args))?;
    let partitions: Vec<i32> = metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic && t.error().is_none())
        .map(|t| t.partitions().iter().map(|p| p.id()).collect())
        .unwrap_or_default();
    if partitions.is_empty() {
        return Err(ClientError::NoSuchTopic(topic.to_owned()));
    }
    Ok(partitions)
}

/// Each partition's end offset: the offset the next record produced there will have.
pub fn end_offsets(
    consumer: &BaseConsumer,
    args: &KafkaArgs,
) -> Result<BTreeMap<i32, i64>, ClientError> {
    let mut ends = BTreeMap::new();
    for partition in partitions(consumer, args)? {
        let (_, end) = consumer
            .fetch_watermarks(&args.topic, partition, LOOKUP_TIMEOUT)
            .map_err(ClientError::of(args))?;
        ends.insert(partition, end);
    }
    Ok(ends)
}

/// The offsets the consumer's group committed on the partitions of `ends`; a partition with
/// none is left out.
pub fn committed(
    consumer: &BaseConsumer,
    args: &KafkaArgs,
    partitions: impl IntoIterator<Item = i32>,
) -> Result<BTreeMap<i32, i64>, ClientError> {
    let mut wanted = TopicPartitionList::new();
    for partition in partitions {
        wanted.add_partition(&args.topic, partition);
    }
    let committed = consumer
        .committed_offsets(wanted, LOOKUP_TIMEOUT)
        .map_err(ClientError::of(args))?;
    Ok(committed
        .elements()
        .iter()
        .filter_map(|e| match e.offset() {
            Offset::Offset(offset) => Some((e.partition(), offset)),
            _ => None,
        })
        .collect())
}
