//! What the erasure asks Kafka: where each partition ends now, and how far es-sink's group has
//! committed.

use std::collections::BTreeMap;
use std::time::Duration;

use common::kafka::{KafkaArgs, consumer_config};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};

use crate::error::Error;

/// Longest wait for one answer from the brokers.
const KAFKA_TIMEOUT: Duration = Duration::from_secs(15);

fn consumer(args: &KafkaArgs, group: &str) -> Result<BaseConsumer, Error> {
    let mut config = consumer_config(&args.bootstrap_servers, group, "erase");
    for (key, value) in &args.properties {
        config.set(key, value);
    }
    config.create().map_err(|source| kafka_error(args, source))
}

fn kafka_error(args: &KafkaArgs, source: rdkafka::error::KafkaError) -> Error {
    Error::Kafka {
        bootstrap: args.bootstrap_servers.clone(),
        source,
    }
}

/// Each partition's end offset: the offset the next click produced there will have.
pub fn end_offsets(args: &KafkaArgs) -> Result<BTreeMap<i32, i64>, Error> {
    let consumer = consumer(args, "erase")?;
    let topic = args.topic.as_str();
    let metadata = consumer
        .fetch_metadata(Some(topic), KAFKA_TIMEOUT)
        .map_err(|e| kafka_error(args, e))?;
    let partitions: Vec<i32> = metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic && t.error().is_none())
        .map(|t| t.partitions().iter().map(|p| p.id()).collect())
        .unwrap_or_default();
    if partitions.is_empty() {
        return Err(Error::NoSuchTopic(topic.to_owned()));
    }
    let mut ends = BTreeMap::new();
    for partition in partitions {
        let (_, end) = consumer
            .fetch_watermarks(topic, partition, KAFKA_TIMEOUT)
            .map_err(|e| kafka_error(args, e))?;
        ends.insert(partition, end);
    }
    Ok(ends)
}

/// The partitions whose committed offset in `group` is still before their end in `ends`.
pub fn behind(args: &KafkaArgs, group: &str, ends: &BTreeMap<i32, i64>) -> Result<Vec<i32>, Error> {
    let consumer = consumer(args, group)?;
    let mut wanted = TopicPartitionList::new();
    for partition in ends.keys() {
        wanted.add_partition(&args.topic, *partition);
    }
    let committed = consumer
        .committed_offsets(wanted, KAFKA_TIMEOUT)
        .map_err(|e| kafka_error(args, e))?;
    let committed: BTreeMap<i32, i64> = committed
        .elements()
        .iter()
        .filter_map(|e| match e.offset() {
            Offset::Offset(offset) => Some((e.partition(), offset)),
            _ => None,
        })
        .collect();
    Ok(ends
        .iter()
        .filter(|(partition, end)| **end > committed.get(partition).copied().unwrap_or(0))
        .map(|(partition, _)| *partition)
        .collect())
}
