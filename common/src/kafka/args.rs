//! The Kafka settings every binary takes, and the options every sink takes, written once and
//! flattened into each `--help`.

use std::marker::PhantomData;
use std::net::SocketAddr;
use std::time::Duration;

use clap::Args;

use crate::config::{parse_listen_addr, parse_positive_bytes, parse_positive_duration};

use super::{DEFAULT_BOOTSTRAP_SERVERS, DEFAULT_ERASED_TOPIC, DEFAULT_TOPIC, parse_property};

/// Where Kafka is and which topic carries the clicks.
#[derive(Debug, Clone, Args)]
pub struct KafkaArgs {
    /// Kafka bootstrap servers, comma-separated host:port.
    #[arg(long = "kafka-bootstrap-servers", env = "KAFKA_BOOTSTRAP_SERVERS", default_value = DEFAULT_BOOTSTRAP_SERVERS)]
    pub bootstrap_servers: String,

    /// Topic of click events.
    #[arg(long = "kafka-topic", env = "KAFKA_TOPIC", default_value = DEFAULT_TOPIC)]
    pub topic: String,

    /// Extra librdkafka properties, comma-separated key=value, applied last (for example
    /// security.protocol=SASL_SSL,sasl.mechanism=PLAIN,sasl.username=u,sasl.password=p). Their
    /// values are never printed: they may hold secrets.
    #[arg(
        long = "kafka-properties",
        env = "KAFKA_PROPERTIES",
        value_delimiter = ',',
        value_parser = parse_property,
        hide_env_values = true
    )]
    pub properties: Vec<(String, String)>,

    /// Compacted topic of erased click ids, which `erase` writes and both sinks skip on any
    /// replay; it keeps them as long as the click topic keeps clicks.
    #[arg(long = "erased-topic", env = "ERASED_TOPIC", default_value = DEFAULT_ERASED_TOPIC)]
    pub erased_topic: String,
}

impl KafkaArgs {
    /// The defaults, pointed at `bootstrap_servers`.
    pub fn for_brokers(bootstrap_servers: &str) -> Self {
        KafkaArgs {
            bootstrap_servers: bootstrap_servers.to_owned(),
            topic: DEFAULT_TOPIC.to_owned(),
            properties: Vec::new(),
            erased_topic: DEFAULT_ERASED_TOPIC.to_owned(),
        }
    }

    /// The group session timeout the consumers run with: `session.timeout.ms` from the extra
    /// properties, or librdkafka's default of 45 s.
    pub fn session_timeout(&self) -> std::time::Duration {
        let ms = self
            .properties
            .iter()
            .rev()
            .find(|(key, _)| key == "session.timeout.ms")
            .and_then(|(_, value)| value.parse::<u64>().ok())
            .unwrap_or(45_000);
        std::time::Duration::from_millis(ms)
    }

    /// The extra properties a producer takes: those meant only for a group member, which
    /// librdkafka would warn about in a producer, are left out, so one KAFKA_PROPERTIES can
    /// serve every service.
    pub fn producer_properties(&self) -> impl Iterator<Item = (&str, &str)> {
        const CONSUMER_ONLY: [&str; 9] = [
            "session.",
            "heartbeat.",
            "group.",
            "max.poll.",
            "fetch.",
            "auto.",
            "enable.auto.",
            "partition.assignment.",
            "isolation.",
        ];
        self.properties
            .iter()
            .filter(|(key, _)| !CONSUMER_ONLY.iter().any(|p| key.starts_with(p)))
            .map(|(key, value)| (key.as_str(), value.as_str()))
    }

    /// The extra properties' keys, for logs: the values may be secrets.
    pub fn property_keys(&self) -> String {
        self.properties
            .iter()
            .map(|(key, _)| key.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, Parser};

    #[derive(Debug, Parser)]
    struct Binary {
        #[command(flatten)]
        kafka: KafkaArgs,
    }

    crate::sink_defaults!(Landing {
        group: "landing-group",
        admin: "127.0.0.1:9101",
        shutdown: "30s"
    });
    crate::sink_defaults!(Indexing {
        group: "indexing-group",
        admin: "127.0.0.1:9102",
        shutdown: "20s"
    });
    #[derive(Debug, Parser)]
    struct Sink<D: SinkDefaults + Clone + Send + Sync + 'static> {
        #[command(flatten)]
        sink: SinkArgs<D>,
    }

    #[test]
    fn every_sink_takes_the_same_options_with_its_own_defaults() {
        let landing = Sink::<Landing>::try_parse_from(["sink"]).unwrap().sink;
        let indexing = Sink::<Indexing>::try_parse_from(["sink"]).unwrap().sink;
        assert_eq!(
            (landing.group_id.as_str(), landing.admin_addr.port()),
            ("landing-group", 9101)
        );
        assert_eq!(
            (indexing.group_id.as_str(), indexing.admin_addr.port()),
            ("indexing-group", 9102)
        );
        assert_eq!(landing.shutdown_timeout.as_secs(), 30);
        assert_eq!(indexing.shutdown_timeout.as_secs(), 20);
        assert_eq!(landing.prefetch_bytes, 4 << 20);
        let given = Sink::<Indexing>::try_parse_from([
            "sink",
            "--kafka-group-id",
            "g",
            "--shutdown-timeout",
            "5s",
            "--kafka-prefetch-bytes",
            "1MiB",
            "--admin-addr",
            "127.0.0.1:1",
        ])
        .unwrap()
        .sink;
        assert_eq!(given.group_id, "g");
        assert_eq!(given.shutdown_timeout.as_secs(), 5);
        assert_eq!(given.prefetch_bytes, 1 << 20);
        assert_eq!(given.admin_addr.port(), 1);
        let help = Sink::<Landing>::command().render_long_help().to_string();
        for variable in [
            "KAFKA_GROUP_ID",
            "KAFKA_PREFETCH_BYTES",
            "SHUTDOWN_TIMEOUT",
            "ADMIN_ADDR",
        ] {
            assert!(help.contains(&format!("[env: {variable}")), "{help}");
        }
        assert!(help.contains("[default: landing-group]"), "{help}");
    }

    #[test]
    fn properties_are_key_value_pairs_and_logs_name_only_their_keys() {
        let parsed = Binary::try_parse_from([
            "binary",
            "--kafka-properties",
            "sasl.password=hunter2,a=b=c",
        ])
        .unwrap();
        assert_eq!(
            parsed.kafka.properties,
            [
                ("sasl.password".into(), "hunter2".into()),
                ("a".into(), "b=c".into())
            ]
        );
        assert_eq!(parsed.kafka.property_keys(), "sasl.password,a");
        assert_eq!(
            parsed.kafka.session_timeout().as_secs(),
            45,
            "librdkafka's default"
        );
        let short =
            Binary::try_parse_from(["binary", "--kafka-properties", "session.timeout.ms=6000"])
                .unwrap();
        assert_eq!(short.kafka.session_timeout().as_millis(), 6000);
        let help = Binary::command().render_long_help().to_string();
        assert!(help.contains("KAFKA_PROPERTIES"), "{help}");
    }

    #[test]
    fn a_producer_takes_every_property_but_a_group_members() {
        let parsed = Binary::try_parse_from([
            "binary",
            "--kafka-properties",
            "security.protocol=SASL_SSL,session.timeout.ms=6000,heartbeat.interval.ms=500,\
             enable.auto.commit=true,linger.ms=20",
        ])
        .unwrap();
        let taken: Vec<_> = parsed.kafka.producer_properties().collect();
        assert_eq!(
            taken,
            [("security.protocol", "SASL_SSL"), ("linger.ms", "20")]
        );
    }
}

/// What differs between the sinks in the options they share: each names its defaults here.
pub trait SinkDefaults {
    /// The consumer group the sink's processes share.
    const GROUP_ID: &'static str;
    /// Where its admin server listens.
    const ADMIN_ADDR: &'static str;
    /// How long a stop may spend writing what the sink holds.
    const SHUTDOWN_TIMEOUT: &'static str;
}

/// Declares a sink's defaults for [`SinkArgs`]: a type named `$name` whose group, admin address
/// and shutdown timeout are the given ones.
#[macro_export]
macro_rules! sink_defaults {
    ($(#[$meta:meta])* $vis:vis $name:ident { group: $group:literal, admin: $admin:literal, shutdown: $shutdown:literal $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone)]
        $vis struct $name;

        impl $crate::kafka::SinkDefaults for $name {
            const GROUP_ID: &'static str = $group;
            const ADMIN_ADDR: &'static str = $admin;
            const SHUTDOWN_TIMEOUT: &'static str = $shutdown;
        }
    };
}

/// The options of a sink's group member and process, the same flags and variables for every
/// sink, each with the sink's own defaults (`D`).
#[derive(Debug, Clone, Args)]
pub struct SinkArgs<D: SinkDefaults + Clone + Send + Sync + 'static> {
    /// Consumer group the sink's processes (and workers) share.
    #[arg(long = "kafka-group-id", env = "KAFKA_GROUP_ID", value_name = "KAFKA_GROUP_ID", default_value = D::GROUP_ID)]
    pub group_id: String,

    /// How much the sink's Kafka consumers together may fetch ahead of what it has written (B,
    /// KiB, MiB...); hdfs-consumer shares it evenly among its workers' queues. Each fetch response
    /// is at most this much too (1 MiB at the least). Memory: two to three times this in all
    /// (the client keeps a few hundred bytes beside each queued record, and each queued
    /// record's whole response).
    #[arg(long = "kafka-prefetch-bytes", env = "KAFKA_PREFETCH_BYTES", value_name = "KAFKA_PREFETCH_BYTES", default_value = "4MiB", value_parser = parse_positive_bytes)]
    pub prefetch_bytes: usize,

    /// On SIGINT/SIGTERM, how long to try writing what the sink holds (landing its buffers,
    /// finishing its bulk requests) before leaving.
    #[arg(long = "shutdown-timeout", env = "SHUTDOWN_TIMEOUT", default_value = D::SHUTDOWN_TIMEOUT, value_parser = parse_positive_duration)]
    pub shutdown_timeout: Duration,

    /// Address of /healthz, /readyz and /metrics (host:port; a host name is resolved at start).
    #[arg(long = "admin-addr", env = "ADMIN_ADDR", default_value = D::ADMIN_ADDR, value_parser = parse_listen_addr)]
    pub admin_addr: SocketAddr,

    #[arg(skip)]
    defaults: PhantomData<D>,
}
