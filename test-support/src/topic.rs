//! Reading a topic back from the beginning of every partition, without a consumer group.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::ColorEvent;
use common::kafka::consumer_config;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

/// A record read back from the topic.
#[derive(Debug, Clone)]
pub struct Landed {
    pub partition: i32,
    pub offset: i64,
    /// The record's key, as text.
    pub key: Option<String>,
    pub event: ColorEvent,
}

/// Reads `topic` from the beginning of every partition until `want` records arrived or
/// `deadline` passed; blocking, so call it from `spawn_blocking`.
pub fn read_topic(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    want: usize,
    deadline: Duration,
) -> Vec<Landed> {
    let consumer: BaseConsumer = consumer_config(
        bootstrap,
        &format!("reader-{}", uuid::Uuid::now_v7()),
        "test-reader",
    )
    .create()
    .unwrap();
    let mut assignment = TopicPartitionList::new();
    for p in 0..partitions {
        assignment
            .add_partition_offset(topic, p, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&assignment).unwrap();
    let started = Instant::now();
    let mut out = Vec::new();
    while out.len() < want && started.elapsed() < deadline {
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(message)) => out.push(Landed {
                partition: message.partition(),
                offset: message.offset(),
                key: message
                    .key()
                    .map(|key| String::from_utf8_lossy(key).into_owned()),
                event: ColorEvent::from_json_slice(message.payload().expect("record has a value"))
                    .expect("record is a valid event"),
            }),
            Some(Err(err)) => eprintln!("reader: {err}"),
            None => {}
        }
    }
    out
}

pub async fn read_topic_async(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    want: usize,
    deadline: Duration,
) -> Vec<Landed> {
    let (bootstrap, topic) = (bootstrap.to_owned(), topic.to_owned());
    tokio::task::spawn_blocking(move || read_topic(&bootstrap, &topic, partitions, want, deadline))
        .await
        .unwrap()
}

/// Records in `topic` now, from the watermarks of its first `partitions` partitions: with
/// [`read_topic`] it tells "each record once" from "these records and more".
pub fn topic_size(bootstrap: &str, topic: &str, partitions: i32) -> usize {
    watermarks(bootstrap, topic, partitions)
        .into_iter()
        .map(|(low, high)| usize::try_from(high - low).unwrap())
        .sum()
}

/// The end (high watermark) of each of `topic`'s first `partitions` partitions.
pub fn end_offsets(bootstrap: &str, topic: &str, partitions: i32) -> Vec<i64> {
    watermarks(bootstrap, topic, partitions)
        .into_iter()
        .map(|(_, high)| high)
        .collect()
}

/// The low and high watermarks of each of `topic`'s first `partitions` partitions.
fn watermarks(bootstrap: &str, topic: &str, partitions: i32) -> Vec<(i64, i64)> {
    let reader: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .unwrap();
    (0..partitions)
        .map(|p| {
            reader
                .fetch_watermarks(topic, p, Duration::from_secs(10))
                .unwrap()
        })
        .collect()
}

/// Events per partition.
pub fn partition_counts(landed: &[Landed]) -> HashMap<i32, usize> {
    let mut counts = HashMap::new();
    for record in landed {
        *counts.entry(record.partition).or_default() += 1;
    }
    counts
}
