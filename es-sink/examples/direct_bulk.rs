//! The benchmark's baseline: reads `count` records of a topic into memory, then posts them to
//! a cluster as `_bulk` requests of `docs_per_bulk` documents, one after another, with the same
//! index names and ids the sink uses. Only the posting is timed. Prints "documents seconds".
//!
//! cargo run --release -p es-sink --example direct_bulk -- \
//!     <bootstrap> <topic> <count> <es_url> <index_prefix> <docs_per_bulk>

use std::time::{Duration, Instant};

use common::kafka::consumer_config;
use es_sink::batch::{Entry, classify_record};
use es_sink::bulk::{BulkDoc, encode};
use es_sink::offsets::RecordRef;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

fn read_topic(
    bootstrap: &str,
    topic: &str,
    count: usize,
    prefix: &str,
) -> anyhow::Result<Vec<BulkDoc>> {
    let consumer: BaseConsumer =
        consumer_config(bootstrap, "direct-bulk", "direct-bulk").create()?;
    let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(10))?;
    let partitions = metadata.topics()[0].partitions().len() as i32;
    let mut assignment = TopicPartitionList::new();
    for p in 0..partitions {
        assignment.add_partition_offset(topic, p, Offset::Beginning)?;
    }
    consumer.assign(&assignment)?;
    let mut docs = Vec::with_capacity(count);
    let started = Instant::now();
    while docs.len() < count {
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(300),
            "topic holds fewer than {count} records"
        );
        if let Some(message) = consumer.poll(Duration::from_millis(200)) {
            let message = message?;
            let record = RecordRef {
                partition: message.partition(),
                offset: message.offset(),
                generation: 0,
            };
            match classify_record(prefix, record, None, message.payload(), |_| false) {
                Entry::Doc(doc) => docs.push(doc.doc),
                Entry::Dead(dead) => anyhow::bail!("not an event: {}", dead.reason),
                Entry::Erased(_) => unreachable!("no click is erased here"),
            }
        }
    }
    Ok(docs)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [bootstrap, topic, count, es_url, prefix, per_bulk] = args.as_slice() else {
        anyhow::bail!(
            "usage: direct_bulk <bootstrap> <topic> <count> <es_url> <index_prefix> <docs_per_bulk>"
        );
    };
    let (count, per_bulk): (usize, usize) = (count.parse()?, per_bulk.parse()?);
    let docs = {
        let (b, t, p) = (bootstrap.clone(), topic.clone(), prefix.clone());
        tokio::task::spawn_blocking(move || read_topic(&b, &t, count, &p)).await??
    };
    let client = reqwest::Client::new();
    let url = format!("{}/_bulk", es_url.trim_end_matches('/'));
    let started = Instant::now();
    for chunk in docs.chunks(per_bulk) {
        let answer: serde_json::Value = client
            .post(&url)
            .header("content-type", "application/x-ndjson")
            .body(encode(chunk))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        anyhow::ensure!(
            answer["errors"] == false,
            "bulk answer with errors: {answer}"
        );
    }
    println!("{} {:.3}", docs.len(), started.elapsed().as_secs_f64());
    Ok(())
}
