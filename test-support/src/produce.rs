//! Writing test records into a topic.

use std::time::Duration;

use common::ColorEvent;
use common::kafka::{ProducerTuning, producer_config};
use rdkafka::ClientConfig;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use uuid::Uuid;

/// Produces `count` events spread over `partitions` partitions the way the collector produces
/// them (its producer settings, so records sent together share multi-record batches); returns
/// their ids.
pub fn produce(bootstrap: &str, topic: &str, partitions: i32, count: usize) -> Vec<Uuid> {
    let producer: ThreadedProducer<DefaultProducerContext> =
        producer_config(bootstrap, "test-producer", &ProducerTuning::default())
            .create()
            .unwrap();
    let mut ids = Vec::with_capacity(count);
    for n in 0..count {
        let event = ColorEvent::sample(&format!("user-{n}"), "green", chrono::Utc::now());
        let payload = event.to_json_bytes();
        let record = BaseRecord::<(), [u8]>::to(topic)
            .payload(&payload)
            .partition(n as i32 % partitions);
        let mut pending = Some(record);
        while let Some(record) = pending.take() {
            if let Err((_, back)) = producer.send(record) {
                std::thread::sleep(Duration::from_millis(10));
                pending = Some(back);
            }
        }
        ids.push(event.event_id);
    }
    producer
        .flush(Duration::from_secs(60))
        .expect("every test record delivered");
    ids
}

/// [`produce`] on a blocking thread, so a test can do something else meanwhile.
pub fn produce_in_background(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    count: usize,
) -> tokio::task::JoinHandle<Vec<Uuid>> {
    let (bootstrap, topic) = (bootstrap.to_owned(), topic.to_owned());
    tokio::task::spawn_blocking(move || produce(&bootstrap, &topic, partitions, count))
}

/// Produces raw record values to one partition.
pub fn produce_raw(bootstrap: &str, topic: &str, partition: i32, values: &[&[u8]]) {
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .unwrap();
    for value in values {
        producer
            .send(
                BaseRecord::<(), [u8]>::to(topic)
                    .payload(*value)
                    .partition(partition),
            )
            .map_err(|(e, _)| e)
            .unwrap();
    }
    producer.flush(Duration::from_secs(30)).unwrap();
}
