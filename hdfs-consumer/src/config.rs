//! Command-line and environment configuration. `hdfs-consumer --help` is the reference.

use std::time::Duration;

use clap::Parser;
use common::config::parse_bytes;
use common::kafka::{KafkaArgs, SinkArgs};
use common::telemetry::LogArgs;
use url::Url;

use crate::buffer::FlushPolicy;

/// Lands click events from Kafka as Hive-ready JSON-lines files, exactly once.
///
/// Defaults suit the demo: files every few seconds. In production, land bigger, rarer files
/// (for example FLUSH_MAX_RECORDS=500000, FLUSH_MAX_BYTES=128MiB, FLUSH_MAX_AGE=10m), so HDFS
/// is not filled with small files.
#[derive(Debug, Clone, Parser)]
#[command(name = "hdfs-consumer", version, about, long_about)]
pub struct Config {
    #[command(flatten)]
    pub kafka: KafkaArgs,

    /// Group, prefetch, shutdown and admin options, as every sink takes them.
    #[command(flatten)]
    pub sink: SinkArgs<HdfsConsumerDefaults>,

    /// Worker threads, each a consumer in the group; default: the topic's partition count.
    #[arg(long, env = "WORKERS", value_parser = clap::value_parser!(u16).range(1..=256))]
    pub workers: Option<u16>,

    /// Where files land: file:///some/dir (or just /some/dir) or hdfs://namenode:8020/some/dir.
    #[arg(
        long,
        env = "LANDING_URL",
        default_value = "file:///tmp/web-events/landing",
        value_parser = crate::storage::parse_landing_url
    )]
    pub landing_url: Url,

    /// Land a partition's buffer when it holds this many records.
    #[arg(long, env = "FLUSH_MAX_RECORDS", default_value_t = 10_000)]
    pub flush_max_records: usize,

    /// Land a partition's buffer when it holds this many bytes (B, KiB, MiB...). Memory: each
    /// owned partition buffers up to this much (or FLUSH_MAX_RECORDS lines); landing writes it
    /// in chunks of 256 KiB.
    #[arg(long, env = "FLUSH_MAX_BYTES", default_value = "8MiB", value_parser = parse_bytes)]
    pub flush_max_bytes: usize,

    /// Land a partition's buffer when its oldest record has waited this long, even if no more
    /// records arrive.
    #[arg(long, env = "FLUSH_MAX_AGE", default_value = "5s", value_parser = humantime::parse_duration)]
    pub flush_max_age: Duration,

    /// Longest wait between two attempts to write to unavailable storage.
    #[arg(long, env = "STORAGE_RETRY_MAX_BACKOFF", default_value = "30s", value_parser = humantime::parse_duration)]
    pub storage_retry_max_backoff: Duration,

    #[command(flatten)]
    pub log: LogArgs,
}

common::sink_defaults!(
    /// hdfs-consumer's defaults for the options every sink takes: the reference design's group.
    pub HdfsConsumerDefaults { group: "color-hdfs-save-consumer-group", admin: "127.0.0.1:9101", shutdown: "30s" }
);

impl Config {
    pub fn flush_policy(&self) -> FlushPolicy {
        FlushPolicy {
            max_records: self.flush_max_records.max(1),
            max_bytes: self.flush_max_bytes.max(1),
            max_age: self.flush_max_age,
        }
    }

    /// The defaults, pointed at the given brokers and landing URL.
    pub fn for_brokers(bootstrap_servers: &str, landing_url: Url) -> Self {
        let mut config = Config::parse_from(["hdfs-consumer"]);
        config.kafka.bootstrap_servers = bootstrap_servers.to_owned();
        config.landing_url = landing_url;
        config
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_work_on_one_machine() {
        let config = Config::try_parse_from(["hdfs-consumer"]).unwrap();
        assert_eq!(config.sink.group_id, "color-hdfs-save-consumer-group");
        assert_eq!(config.kafka.topic, "select-color");
        assert_eq!(config.landing_url.scheme(), "file");
        assert_eq!(config.workers, None);
        assert_eq!(config.flush_max_age, Duration::from_secs(5));
    }

    #[test]
    fn kafka_properties_are_key_value_pairs() {
        let config = Config::try_parse_from([
            "hdfs-consumer",
            "--kafka-properties",
            "session.timeout.ms=6000,a=b=c",
        ])
        .unwrap();
        assert_eq!(
            config.kafka.properties,
            [
                ("session.timeout.ms".into(), "6000".into()),
                ("a".into(), "b=c".into())
            ]
        );
        assert!(
            Config::try_parse_from(["hdfs-consumer", "--kafka-properties", "novalue"]).is_err()
        );
    }

    #[test]
    fn sizes_take_units_and_addresses_take_host_names() {
        let config = Config::try_parse_from([
            "hdfs-consumer",
            "--flush-max-bytes",
            "128MiB",
            "--admin-addr",
            "localhost:18180",
        ])
        .unwrap();
        assert_eq!(config.flush_max_bytes, 128 << 20);
        assert_eq!(config.sink.admin_addr.port(), 18180);
        assert_eq!(config.sink.prefetch_bytes, 4 << 20);
        let err = Config::try_parse_from(["hdfs-consumer", "--flush-max-bytes", "lots"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("--flush-max-bytes"), "{err}");
    }

    #[test]
    fn zero_workers_is_refused_with_the_option_named() {
        let err = Config::try_parse_from(["hdfs-consumer", "--workers", "0"]).unwrap_err();
        assert!(err.to_string().contains("--workers"), "{err}");
    }
}
