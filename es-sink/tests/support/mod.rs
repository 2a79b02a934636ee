//! Helpers shared by the es-sink integration tests.
#![allow(dead_code, unused_imports)]

#[path = "../../../producer-api/tests/support/collector.rs"]
pub mod collector;
#[path = "../../../producer-api/tests/support/crash.rs"]
pub mod crash;
#[path = "../../../producer-api/tests/support/metrics.rs"]
pub mod metrics;
#[path = "../../../producer-api/tests/support/ports.rs"]
pub mod ports;
#[path = "../../../producer-api/tests/support/produce.rs"]
pub mod produce;
#[path = "../../../producer-api/tests/support/service.rs"]
pub mod service;
#[path = "../../../producer-api/tests/support/tansu.rs"]
pub mod tansu;
#[path = "../../../producer-api/tests/support/wait.rs"]
pub mod wait;

pub mod accepting_cluster;
pub mod osmem;

pub use produce::{produce, produce_in_background, produce_raw};
pub use wait::wait_until;

use std::time::Duration;

use es_sink::Config;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use uuid::Uuid;

/// A fresh in-memory cluster of three brokers holding `topic` (replication factor 2) and its
/// dead-letter topic `<topic>-dlq`.
pub fn broker(topic: &str, partitions: i32) -> dev_broker::DevBroker {
    let spec = |name: String, partitions| dev_broker::TopicSpec {
        name,
        partitions,
        replication_factor: 2,
    };
    dev_broker::DevBroker::start(
        3,
        &[
            spec(topic.to_owned(), partitions),
            spec(format!("{topic}-dlq"), 1),
        ],
    )
    .unwrap()
}

/// The sink's defaults for a test: its own group and index prefix, small quick batches.
pub fn config(bootstrap: &str, topic: &str, es_url: url::Url) -> Config {
    let mut config = Config::for_brokers(bootstrap, es_url);
    config.kafka_topic = topic.to_owned();
    config.dead_letter_topic = format!("{topic}-dlq");
    config.kafka_group_id = format!("es-sink-{}", Uuid::now_v7());
    config.es_index_prefix = format!("t{}", Uuid::now_v7().simple());
    config.bulk_max_docs = 50;
    config.bulk_linger = Duration::from_millis(100);
    config.bulk_retry_max_backoff = Duration::from_millis(500);
    // What the in-memory cluster's group coordinator needs, as the demo gives it.
    config.kafka_properties = dev_broker::client_properties();
    config
}

/// The sink's `run`, in this process, with its own shutdown trigger.
pub type RunningSink = service::RunningService<es_sink::Error>;

/// Starts `es_sink::run` in this process with its admin server on a free port.
pub fn spawn_sink(mut config: Config) -> RunningSink {
    config.admin_addr = service::free_admin_addr();
    RunningSink::spawn(config.admin_addr, |shutdown| es_sink::run(config, shutdown))
}

/// A record of the dead-letter topic.
#[derive(Debug)]
pub struct DeadLetterRecord {
    pub payload: Option<Vec<u8>>,
    pub headers: std::collections::HashMap<String, String>,
}

/// Reads partition 0 of `topic` from the start until `want` records arrived or `deadline`.
pub fn read_dead_letters(
    bootstrap: &str,
    topic: &str,
    want: usize,
    deadline: Duration,
) -> Vec<DeadLetterRecord> {
    let consumer: BaseConsumer = common::kafka::consumer_config(
        bootstrap,
        &format!("dlq-reader-{}", Uuid::now_v7()),
        "dlq-reader",
    )
    .create()
    .unwrap();
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(topic, 0, Offset::Beginning)
        .unwrap();
    consumer.assign(&assignment).unwrap();
    let started = std::time::Instant::now();
    let mut out = Vec::new();
    while out.len() < want && started.elapsed() < deadline {
        if let Some(Ok(message)) = consumer.poll(Duration::from_millis(200)) {
            let mut headers = std::collections::HashMap::new();
            if let Some(h) = message.headers() {
                for header in h.iter() {
                    headers.insert(
                        header.key.to_owned(),
                        String::from_utf8_lossy(header.value.unwrap_or_default()).into_owned(),
                    );
                }
            }
            out.push(DeadLetterRecord {
                payload: message.payload().map(<[u8]>::to_vec),
                headers,
            });
        }
    }
    out
}
