//! Command-line and environment configuration. `es-sink --help` is the reference.

use std::time::Duration;

use clap::Parser;
use common::config::{parse_duration, parse_positive_bytes, parse_positive_duration};
use common::kafka::{DEFAULT_DEAD_LETTER_TOPIC, KafkaArgs, SinkArgs};
use common::search::SearchArgs;
use common::telemetry::LogArgs;
use url::Url;

use crate::batch::BatchPolicy;

/// Who puts the index template ([`Config::template`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TemplateSetup {
    Install,
    Installed,
    InstallAndExit,
}

/// Indexes click events from Kafka into Elasticsearch: one document per event (`_id` is the
/// event id, so a replay overwrites), daily indices named from the event time, failed records
/// to a dead-letter topic with their reason.
#[derive(Debug, Clone, Parser)]
#[command(name = "es-sink", version, about, long_about)]
pub struct Config {
    /// Kafka settings; the extra properties apply to the consumer and the dead-letter producer.
    #[command(flatten)]
    pub kafka: KafkaArgs,

    /// Group, prefetch, shutdown and admin options, as every sink takes them.
    #[command(flatten)]
    pub sink: SinkArgs<EsSinkDefaults>,

    /// Topic that receives records which cannot be indexed, with their partition, offset
    /// and reason in headers.
    #[arg(long, env = "DEAD_LETTER_TOPIC", default_value = DEFAULT_DEAD_LETTER_TOPIC)]
    pub dead_letter_topic: String,

    /// The search cluster: URL, index prefix, credentials, CA, request timeout.
    #[command(flatten)]
    pub search: SearchArgs,

    /// Who puts the index template: `install`, this sink, at start and again when the cluster
    /// may have been replaced (its user needs `manage_index_templates`, a cluster-wide
    /// privilege); `installed`, a setup job did, so the sink's user needs no privilege beyond
    /// its indices; `install-and-exit`, put it and stop: that setup job.
    #[arg(long, env = "ES_TEMPLATE", value_enum, default_value = "install")]
    pub template: TemplateSetup,

    /// How long clicks are kept in the search cluster (a duration: 30d, 12h...). Every sink
    /// process deletes the daily indices whose whole day is older than it, and the older clicks
    /// of the day its limit falls in, every 30 s. Unset: kept until deleted by hand.
    #[arg(long, env = "RETENTION", value_parser = common::config::parse_retention)]
    pub retention: Option<Duration>,

    /// Send a bulk request when it holds this many documents.
    #[arg(long, env = "BULK_MAX_DOCS", default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..))]
    pub bulk_max_docs: u32,

    /// Send a bulk request when its body reaches this many bytes (B, KiB, MiB...). Memory: up to
    /// BULK_MAX_IN_FLIGHT + 1 batches of this size are held at once.
    #[arg(long, env = "BULK_MAX_BYTES", default_value = "5MiB", value_parser = parse_positive_bytes)]
    pub bulk_max_bytes: usize,

    /// Send a bulk request when its first document has waited this long.
    #[arg(long, env = "BULK_LINGER", default_value = "1s", value_parser = parse_duration)]
    pub bulk_linger: Duration,

    /// Bulk requests in flight at once; when all are busy, consumption pauses.
    #[arg(long, env = "BULK_MAX_IN_FLIGHT", default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub bulk_max_in_flight: u16,

    /// Longest wait between two attempts at documents Elasticsearch refused for now (429,
    /// 5xx) or could not be reached for. Such documents are retried until they are indexed.
    #[arg(long, env = "BULK_RETRY_MAX_BACKOFF", default_value = "30s", value_parser = parse_positive_duration)]
    pub bulk_retry_max_backoff: Duration,

    /// When partitions are revoked, how long to wait for their bulk requests in flight before
    /// handing them over uncommitted.
    #[arg(long, env = "REBALANCE_TIMEOUT", default_value = "10s", value_parser = parse_positive_duration)]
    pub rebalance_timeout: Duration,

    #[command(flatten)]
    pub log: LogArgs,
}

common::sink_defaults!(
    /// es-sink's defaults for the options every sink takes.
    pub EsSinkDefaults { group: "es-sink", admin: "127.0.0.1:9102", shutdown: "20s" }
);

impl Config {
    pub fn batch_policy(&self) -> BatchPolicy {
        BatchPolicy {
            max_docs: self.bulk_max_docs as usize,
            max_bytes: self.bulk_max_bytes.max(1),
            linger: self.bulk_linger,
        }
    }

    /// The defaults, pointed at the given brokers and cluster.
    pub fn for_brokers(bootstrap_servers: &str, es_url: Url) -> Self {
        let mut config = Config::parse_from(["es-sink"]);
        config.kafka.bootstrap_servers = bootstrap_servers.to_owned();
        config.search.es_url = es_url;
        config
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_work_on_one_machine() {
        let config = Config::try_parse_from(["es-sink"]).unwrap();
        assert_eq!(config.sink.group_id, "es-sink");
        assert_eq!(config.kafka.topic, "select-color");
        assert_eq!(config.dead_letter_topic, "select-color-dlq");
        assert_eq!(config.search.es_url.as_str(), "http://localhost:9200/");
        assert_eq!(config.search.es_index_prefix, "web-events");
        let policy = config.batch_policy();
        assert_eq!(policy.max_docs, 1000);
        assert_eq!(policy.max_bytes, 5 * 1024 * 1024);
        assert_eq!(policy.linger, Duration::from_secs(1));
    }

    #[test]
    fn every_duration_and_size_refuses_nothing_negatives_and_missing_units() {
        let wrong = [
            ("--retention", "0"),
            ("--retention", "1s"),
            ("--retention", "23h"),
            ("--retention", "-7d"),
            ("--retention", "7"),
            ("--bulk-max-docs", "0"),
            ("--bulk-max-bytes", "0"),
            ("--bulk-max-bytes", "-5MiB"),
            ("--bulk-max-bytes", "5 pages"),
            ("--bulk-linger", "-1s"),
            ("--bulk-linger", "1"),
            ("--bulk-retry-max-backoff", "0s"),
            ("--bulk-retry-max-backoff", "30"),
            ("--rebalance-timeout", "0s"),
            ("--rebalance-timeout", "-10s"),
            ("--es-request-timeout", "0s"),
            ("--es-request-timeout", "30"),
            ("--kafka-prefetch-bytes", "0"),
            ("--shutdown-timeout", "0s"),
        ];
        for (option, value) in wrong {
            let err = Config::try_parse_from(["es-sink", &format!("{option}={value}")])
                .map(|_| "taken".to_owned())
                .unwrap_or_else(|err| err.to_string());
            assert!(err.contains(option), "{option}={value}: {err}");
        }
        let err = Config::try_parse_from(["es-sink", "--retention=0"]).unwrap_err();
        assert!(
            err.to_string()
                .contains("RETENTION \"0\" is below its floor of 1 day")
        );
        let config =
            Config::try_parse_from(["es-sink", "--retention=1d", "--bulk-linger=0s"]).unwrap();
        assert_eq!(config.batch_policy().linger, Duration::ZERO, "send at once");
    }

    #[test]
    fn basic_authentication_needs_both_halves_and_excludes_an_api_key() {
        assert!(Config::try_parse_from(["es-sink", "--es-username", "elastic"]).is_err());
        assert!(
            Config::try_parse_from([
                "es-sink",
                "--es-username",
                "elastic",
                "--es-password",
                "p",
                "--es-api-key",
                "k"
            ])
            .is_err()
        );
        let config =
            Config::try_parse_from(["es-sink", "--es-username", "elastic", "--es-password", "p"])
                .unwrap();
        assert_eq!(config.search.es_password.as_deref(), Some("p"));
    }

    #[test]
    fn a_url_without_a_scheme_is_refused_at_start() {
        let err = Config::try_parse_from(["es-sink", "--es-url", "localhost:9200"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("--es-url") && err.contains("http://"), "{err}");
        let config = Config::try_parse_from([
            "es-sink",
            "--bulk-max-bytes",
            "2MiB",
            "--admin-addr",
            "localhost:19102",
        ])
        .unwrap();
        assert_eq!(config.bulk_max_bytes, 2 << 20);
        assert_eq!(config.sink.admin_addr.port(), 19102);
    }

    #[test]
    fn zero_sized_batches_are_refused_with_the_option_named() {
        let err = Config::try_parse_from(["es-sink", "--bulk-max-docs", "0"]).unwrap_err();
        assert!(err.to_string().contains("--bulk-max-docs"), "{err}");
    }
}
