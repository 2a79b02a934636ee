//! The Kafka settings every binary takes, written once and flattened into each `--help`.

use clap::Args;

use super::{DEFAULT_BOOTSTRAP_SERVERS, DEFAULT_TOPIC, parse_property};

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
}

impl KafkaArgs {
    /// The defaults, pointed at `bootstrap_servers`.
    pub fn for_brokers(bootstrap_servers: &str) -> Self {
        KafkaArgs {
            bootstrap_servers: bootstrap_servers.to_owned(),
            topic: DEFAULT_TOPIC.to_owned(),
            properties: Vec::new(),
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
