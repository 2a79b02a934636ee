//! Helpers of the es-sink integration tests; what every suite shares is in `test-support`.
//! Each test binary uses some of these.
#![allow(dead_code)]

#[allow(unused_imports)]
pub use test_support::*;

pub mod accepting_cluster;

use std::time::Duration;

use es_sink::Config;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{Offset, TopicPartitionList};
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
    config.kafka.topic = topic.to_owned();
    config.dead_letter_topic = format!("{topic}-dlq");
    config.sink.group_id = format!("es-sink-{}", Uuid::now_v7());
    config.search.es_index_prefix = format!("t{}", Uuid::now_v7().simple());
    config.bulk_max_docs = 50;
    config.bulk_linger = Duration::from_millis(100);
    config.bulk_retry_max_backoff = Duration::from_millis(500);
    // What the in-memory cluster's group coordinator needs, as the demo gives it.
    config.kafka.properties = dev_broker::client_properties();
    config
}

/// The sink's `serve`, in this process, with its own shutdown trigger.
pub type RunningSink = service::RunningService<es_sink::Error>;

/// Starts `es_sink::serve` in this process, its admin server on a port of its own.
pub async fn spawn_sink(config: Config) -> RunningSink {
    RunningSink::start(|listener, shutdown| es_sink::serve(listener, config, shutdown)).await
}

/// The sink binary as `scripts/demo.sh` starts it: the in-memory cluster's client properties,
/// the search server and an admin port, with `extra` settings; everything else at its default
/// (the group, the dead-letter topic). Its output goes to `log`.
pub fn start_sink(
    bootstrap: &str,
    es_url: &str,
    log: &std::path::Path,
    extra: &[(&str, &str)],
) -> (crash::Process, std::net::SocketAddr) {
    let admin = std::net::SocketAddr::from(([127, 0, 0, 1], ports::free_port()));
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_es-sink"));
    command
        .env_clear()
        .env("KAFKA_BOOTSTRAP_SERVERS", bootstrap)
        .env("KAFKA_PROPERTIES", dev_broker::CLIENT_PROPERTIES)
        .env("ES_URL", es_url)
        .env("ADMIN_ADDR", admin.to_string())
        .envs(extra.iter().copied());
    (crash::spawn_logged(&mut command, log), admin)
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
