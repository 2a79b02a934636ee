//! An in-memory Kafka cluster for development and tests: librdkafka's mock cluster
//! (`rdkafka::mocking::MockCluster`), which speaks the Kafka protocol over TCP on loopback, so
//! other processes and Kafka tools reach it. It has several brokers, partitions with replicas,
//! consumer groups and offset commits, and keeps everything in memory. It is librdkafka's
//! test broker, not a Kafka for production.
//!
//! Its limits, set inside librdkafka:
//! - each partition keeps at most 5 MiB or 100,000 record batches; older batches are deleted
//!   and the log start offset moves up, so a consumer stopped long enough loses records;
//! - its group coordinator waits up to the session timeout for members during a rebalance, so
//!   consumer groups use the shorter timeouts in [`CLIENT_PROPERTIES`].

use std::fmt;
use std::str::FromStr;

use clap::Parser;
use common::kafka::{
    DEFAULT_DEAD_LETTER_TOPIC, DEFAULT_TOPIC, DEMO_PARTITIONS, DEMO_REPLICATION_FACTOR,
};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;

/// Settings a consumer group needs against this broker, as `key=value,...` for
/// `KAFKA_PROPERTIES`. The mock coordinator waits a session timeout for members that do not
/// rejoin (a killed process), and librdkafka's default of 45 s makes every restart a long
/// pause; Kafka itself defaulted to 10 s until 3.0.
pub const CLIENT_PROPERTIES: &str = "session.timeout.ms=6000,heartbeat.interval.ms=500";

/// [`CLIENT_PROPERTIES`] as key-value pairs, the shape the services' `KAFKA_PROPERTIES` parse to.
pub fn client_properties() -> Vec<(String, String)> {
    CLIENT_PROPERTIES
        .split(',')
        .map(|pair| common::kafka::parse_property(pair).expect("CLIENT_PROPERTIES is key=value"))
        .collect()
}

/// What the limits of librdkafka's mock cluster mean for a user; shown by `--help`.
const ABOUT: &str = "\
An in-memory Kafka cluster for development and tests: librdkafka's mock cluster, served over \
TCP on 127.0.0.1. Not for production: real Kafka comes from docker compose, or from any \
cluster the services are given in KAFKA_BOOTSTRAP_SERVERS.

It writes the bootstrap list as the first line of its standard output, logs to standard \
error, and stops on SIGINT, SIGTERM, or when its standard input closes, so a script that \
started it cannot leave it behind.

Everything is in memory and gone when it stops. Each partition keeps at most 5 MiB or \
100,000 record batches (fixed inside librdkafka); older records are deleted, so a consumer \
stopped for long enough loses what was deleted meanwhile (the sinks count and log that). \
Consumer groups need a short session timeout here: see --print-client-properties.";

/// A topic to create: `name:partitions:replication-factor`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicSpec {
    pub name: String,
    pub partitions: i32,
    pub replication_factor: i32,
}

impl TopicSpec {
    /// The click topic as the demo and compose create it.
    pub fn clicks() -> TopicSpec {
        TopicSpec {
            name: DEFAULT_TOPIC.to_owned(),
            partitions: DEMO_PARTITIONS,
            replication_factor: DEMO_REPLICATION_FACTOR,
        }
    }

    /// The dead-letter topic as the demo and compose create it.
    pub fn dead_letters() -> TopicSpec {
        TopicSpec {
            name: DEFAULT_DEAD_LETTER_TOPIC.to_owned(),
            partitions: 1,
            replication_factor: DEMO_REPLICATION_FACTOR,
        }
    }

    /// The topic of erased click ids as the demo and compose create it (compacted on a real
    /// cluster; the mock cluster keeps every record).
    pub fn erased() -> TopicSpec {
        TopicSpec {
            name: common::kafka::DEFAULT_ERASED_TOPIC.to_owned(),
            partitions: 1,
            replication_factor: DEMO_REPLICATION_FACTOR,
        }
    }
}

impl FromStr for TopicSpec {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let expected = || format!("{raw:?} is not name:partitions:replication-factor");
        let mut parts = raw.split(':');
        let (Some(name), Some(partitions), Some(replication_factor), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(expected());
        };
        let count = |text: &str| text.trim().parse::<i32>().ok().filter(|n| *n >= 1);
        let (Some(partitions), Some(replication_factor)) =
            (count(partitions), count(replication_factor))
        else {
            return Err(expected());
        };
        let name = name.trim();
        let legal = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
        if name.is_empty() || name.len() > 249 || !name.chars().all(legal) {
            return Err(format!(
                "{name:?} is not a Kafka topic name (letters, digits, '.', '_', '-')"
            ));
        }
        Ok(TopicSpec {
            name: name.to_owned(),
            partitions,
            replication_factor,
        })
    }
}

impl fmt::Display for TopicSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}",
            self.name, self.partitions, self.replication_factor
        )
    }
}

#[derive(Debug, Clone, Parser)]
#[command(name = "dev-broker", version, about = "An in-memory Kafka cluster for development and tests (librdkafka's mock cluster); not for production.", long_about = ABOUT)]
pub struct Config {
    /// Brokers in the cluster, each on its own loopback port.
    #[arg(long, env = "DEV_BROKER_BROKERS", default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=32))]
    pub brokers: u16,

    /// Topics to create, comma-separated name:partitions:replication-factor.
    #[arg(
        long = "topic",
        env = "DEV_BROKER_TOPICS",
        value_delimiter = ',',
        default_values_t = [TopicSpec::clicks(), TopicSpec::dead_letters()]
    )]
    pub topics: Vec<TopicSpec>,

    /// Keep running when standard input closes (stop only on a signal).
    #[arg(long, env = "DEV_BROKER_IGNORE_STDIN")]
    pub ignore_stdin: bool,

    /// Print the consumer settings this broker needs (for KAFKA_PROPERTIES) and exit.
    #[arg(long)]
    pub print_client_properties: bool,

    #[command(flatten)]
    pub log: common::telemetry::LogArgs,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot start {brokers} mock brokers: {source}")]
    Start {
        brokers: u16,
        source: rdkafka::error::KafkaError,
    },
    #[error("topic {topic}: {reason}")]
    Topic { topic: TopicSpec, reason: String },
}

/// A running cluster; it stops when dropped.
pub struct DevBroker {
    cluster: MockCluster<'static, DefaultProducerContext>,
}

impl DevBroker {
    /// Starts `brokers` brokers on loopback and creates `topics`.
    pub fn start(brokers: u16, topics: &[TopicSpec]) -> Result<DevBroker, Error> {
        let cluster = MockCluster::new(i32::from(brokers))
            .map_err(|source| Error::Start { brokers, source })?;
        for topic in topics {
            if topic.replication_factor > i32::from(brokers) {
                return Err(Error::Topic {
                    topic: topic.clone(),
                    reason: format!(
                        "replication factor {} is more than the {brokers} brokers",
                        topic.replication_factor
                    ),
                });
            }
            cluster
                .create_topic(&topic.name, topic.partitions, topic.replication_factor)
                .map_err(|err| Error::Topic {
                    topic: topic.clone(),
                    reason: err.to_string(),
                })?;
        }
        Ok(DevBroker { cluster })
    }

    /// Starts the cluster a configuration describes.
    pub fn from_config(config: &Config) -> Result<DevBroker, Error> {
        DevBroker::start(config.brokers, &config.topics)
    }

    /// `host:port,...` of every broker.
    pub fn bootstrap_servers(&self) -> String {
        self.cluster.bootstrap_servers()
    }

    /// The mock cluster itself, for fault injection in tests (a broker down, a slow link).
    pub fn cluster(&self) -> &MockCluster<'static, DefaultProducerContext> {
        &self.cluster
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_default_to_the_click_topic_and_its_dead_letters() {
        let config = Config::try_parse_from(["dev-broker"]).unwrap();
        assert_eq!(config.brokers, 3);
        assert_eq!(
            config.topics,
            [
                "select-color:3:2".parse().unwrap(),
                "select-color-dlq:1:2".parse::<TopicSpec>().unwrap()
            ]
        );
    }

    #[test]
    fn a_topic_is_name_partitions_and_replication_factor() {
        let spec: TopicSpec = "clicks.v2:12:3".parse().unwrap();
        assert_eq!(
            (spec.name.as_str(), spec.partitions, spec.replication_factor),
            ("clicks.v2", 12, 3)
        );
        assert_eq!(spec.to_string(), "clicks.v2:12:3");
        for bad in [
            "clicks",
            "clicks:3",
            "clicks:0:1",
            "clicks:3:x",
            "a b:1:1",
            ":1:1",
            "c:1:1:1",
        ] {
            assert!(bad.parse::<TopicSpec>().is_err(), "{bad} was accepted");
        }
        let err = Config::try_parse_from(["dev-broker", "--topic", "clicks:three:2"]).unwrap_err();
        assert!(err.to_string().contains("--topic"), "{err}");
    }

    #[test]
    fn client_properties_are_key_value_pairs() {
        let properties = client_properties();
        assert!(
            properties
                .iter()
                .any(|(key, value)| key == "session.timeout.ms" && value.parse::<u32>().is_ok())
        );
    }

    #[test]
    fn a_replication_factor_above_the_broker_count_is_refused() {
        let err = DevBroker::start(1, &["clicks:1:2".parse().unwrap()])
            .err()
            .expect("refused");
        assert!(err.to_string().contains("more than the 1 brokers"), "{err}");
    }
}
