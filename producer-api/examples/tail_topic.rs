//! Prints the click events in a topic as they arrive, from the beginning of every partition:
//! `partition/offset  event-json`. Reads without a consumer group, so it commits nothing.
//!
//! cargo run -q -p producer-api --example tail_topic -- [bootstrap] [topic] [max-records]
//!
//! With `max-records`, stops after printing that many (scripts use it to check a topic).

use std::time::Duration;

use common::kafka::{DEFAULT_BOOTSTRAP_SERVERS, DEFAULT_TOPIC, consumer_config};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let bootstrap = args
        .next()
        .unwrap_or_else(|| DEFAULT_BOOTSTRAP_SERVERS.to_owned());
    let topic = args.next().unwrap_or_else(|| DEFAULT_TOPIC.to_owned());
    let max_records: Option<usize> = args.next().map(|n| n.parse()).transpose()?;
    let consumer: BaseConsumer =
        consumer_config(&bootstrap, "tail-topic", "tail-topic").create()?;
    let metadata = consumer.fetch_metadata(Some(&topic), Duration::from_secs(10))?;
    let partitions = metadata
        .topics()
        .first()
        .map(|t| t.partitions().len())
        .filter(|n| *n > 0)
        .ok_or_else(|| anyhow::anyhow!("topic {topic} not found on {bootstrap}"))?;
    let mut assignment = TopicPartitionList::new();
    for partition in 0..partitions as i32 {
        assignment.add_partition_offset(&topic, partition, Offset::Beginning)?;
    }
    consumer.assign(&assignment)?;
    eprintln!("reading {topic} ({partitions} partitions) on {bootstrap}; Ctrl-C to stop");
    let mut printed = 0;
    while max_records.is_none_or(|max| printed < max) {
        match consumer.poll(Duration::from_millis(500)) {
            Some(Ok(message)) => {
                let value = message
                    .payload()
                    .map(String::from_utf8_lossy)
                    .unwrap_or_default();
                println!("{}/{}\t{value}", message.partition(), message.offset());
                printed += 1;
            }
            Some(Err(err)) => eprintln!("{err}"),
            None => {}
        }
    }
    Ok(())
}
