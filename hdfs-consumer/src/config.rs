//! Command-line and environment configuration. `hdfs-consumer --help` is the reference.

use std::time::Duration;

use clap::Parser;
use common::config::{
    RETENTION_FLOOR, parse_duration, parse_positive_bytes, parse_positive_duration, parse_retention,
};
use common::kafka::{KafkaArgs, SinkArgs};
use common::telemetry::LogArgs;
use url::Url;

use lake::LandingFormat;
use lake::commit_log::EntryKind;
use lake::protocol::Step;

use crate::buffer::FlushPolicy;
use crate::compaction::CompactionPolicy;

/// Lands click events from Kafka as Hive-ready Parquet (or JSON-lines) files, exactly once, and
/// merges each closed hour into one file per partition.
///
/// Defaults suit the demo: a click is in a file within seconds. The files of an hour are merged
/// once it has been over for COMPACT_AFTER, so HDFS keeps one file per partition and hour.
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
        value_parser = lake::storage::parse_landing_url
    )]
    pub landing_url: Url,

    /// The landed files' format: parquet (columns, zstd) or json (one event per line). Records
    /// that are not events go to _invalid/ as JSON lines either way.
    #[arg(long, env = "LANDING_FORMAT", value_enum, default_value_t = LandingFormat::Parquet)]
    pub landing_format: LandingFormat,

    /// Merge an hour's files of each partition once the hour has been over, and nothing has
    /// landed in it, for this long; "never" turns merging off.
    #[arg(long, env = "COMPACT_AFTER", default_value = "10m", value_parser = parse_compact_after)]
    pub compact_after: CompactAfter,

    /// A merged file holds files of up to this many bytes in all (B, KiB, MiB, GiB); an hour
    /// with more becomes several files.
    #[arg(long, env = "COMPACT_TARGET_BYTES", default_value = "128MiB", value_parser = parse_positive_bytes)]
    pub compact_target_bytes: usize,

    /// How long landed clicks are kept (a duration: 30d, 12h...). The holder of each partition
    /// deletes its files of every hour that ended longer ago than this, and its dead letters
    /// written before then, through the partition's commit log, every 30 s; a click that old
    /// is not landed. Unset: kept until deleted by hand.
    #[arg(long, env = "RETENTION", value_parser = parse_retention)]
    pub retention: Option<std::time::Duration>,

    /// A click received again within this long of a landed copy (the same `eventId`, in the
    /// same partition, as the collector keys records by it) is landed past, and merges leave
    /// such copies out. Pages retry a click whose answer they lost at most 30 s apart, and the
    /// collector remembers ids for its own DEDUP_WINDOW of 10 minutes; 10 minutes here too
    /// covers the retries of a page left open. Memory: about 55 bytes per click in the window, per
    /// partition held: 31 MiB for a partition taking 1,000 clicks a second. 0 lands every copy.
    #[arg(long, env = "DEDUPE_WINDOW", default_value = "10m", value_parser = parse_duration)]
    pub dedupe_window: std::time::Duration,

    /// For fault tests: the process stops itself (SIGSTOP) the first time a compaction reaches
    /// this step.
    #[arg(long, env = "HDFS_CONSUMER_STOP_AT", value_enum, hide = true)]
    pub stop_at: Option<CompactionStep>,

    /// Land a partition's buffer when it holds this many records.
    #[arg(long, env = "FLUSH_MAX_RECORDS", default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..))]
    pub flush_max_records: u32,

    /// Land a partition's buffer when it holds this many bytes (B, KiB, MiB...). Memory: each
    /// owned partition buffers up to this much (or FLUSH_MAX_RECORDS lines); landing writes it
    /// in chunks of 256 KiB.
    #[arg(long, env = "FLUSH_MAX_BYTES", default_value = "8MiB", value_parser = parse_positive_bytes)]
    pub flush_max_bytes: usize,

    /// Land a partition's buffer when its oldest record has waited this long, even if no more
    /// records arrive.
    #[arg(long, env = "FLUSH_MAX_AGE", default_value = "5s", value_parser = parse_positive_duration)]
    pub flush_max_age: Duration,

    /// Longest wait between two attempts to write to unavailable storage.
    #[arg(long, env = "STORAGE_RETRY_MAX_BACKOFF", default_value = "30s", value_parser = parse_positive_duration)]
    pub storage_retry_max_backoff: Duration,

    /// The Hive Metastore(s) the consumer keeps the table in, comma-separated
    /// (thrift://metastore:9083): it makes the table if it is missing, adds the columns a newer
    /// event has, registers each hour once its first file is visible, and drops the hours
    /// expiry deleted. Registration runs beside landing and never holds it up. Unset: no
    /// metastore is kept.
    #[arg(long, env = "HIVE_METASTORE_URIS", value_delimiter = ',', value_parser = parse_metastore_uri)]
    pub hive_metastore_uris: Vec<Url>,

    /// The metastore database of the table; made if it is missing.
    #[arg(long, env = "HIVE_DATABASE", default_value = "default")]
    pub hive_database: String,

    /// The table's name; default: the topic's, with `-` as `_` (select_color).
    #[arg(long, env = "HIVE_TABLE")]
    pub hive_table: Option<String>,

    #[command(flatten)]
    pub log: LogArgs,
}

fn parse_metastore_uri(text: &str) -> Result<Url, String> {
    let url = Url::parse(text.trim()).map_err(|e| format!("{text}: {e}"))?;
    if url.scheme() != "thrift" || url.host_str().is_none() || url.port().is_none() {
        return Err(format!("{text} is not thrift://host:port"));
    }
    Ok(url)
}

/// The steps of a compaction at which a crash leaves something for the next claim to finish,
/// where a fault test may stop the process (`HDFS_CONSUMER_STOP_AT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CompactionStep {
    /// The merged files are written under `_tmp/`; no entry names them yet.
    MergedWritten,
    /// The compaction's entry is published; its files are not visible yet.
    EntryPublished,
    /// The merged files are visible beside their inputs.
    MergedVisible,
    /// Half the inputs are deleted.
    HalfDeleted,
}

impl CompactionStep {
    /// Where the lake stops the process for this step.
    pub fn stop_at(self) -> lake::StopAt {
        let step = match self {
            CompactionStep::MergedWritten => Step::Written,
            CompactionStep::EntryPublished => Step::Published,
            CompactionStep::MergedVisible => Step::Visible,
            CompactionStep::HalfDeleted => Step::HalfRetired,
        };
        lake::StopAt::new(EntryKind::Compaction, step)
    }
}

/// `COMPACT_AFTER`: a wait, or never.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompactAfter(pub Option<Duration>);

fn parse_compact_after(raw: &str) -> Result<CompactAfter, String> {
    if raw.trim().eq_ignore_ascii_case("never") {
        return Ok(CompactAfter(None));
    }
    parse_duration(raw)
        .map(|wait| CompactAfter(Some(wait)))
        .map_err(|err| format!("{err}, or never"))
}

common::sink_defaults!(
    /// hdfs-consumer's defaults for the options every sink takes: the reference design's group.
    pub HdfsConsumerDefaults { group: "color-hdfs-save-consumer-group", admin: "127.0.0.1:9101", shutdown: "30s" }
);

impl Config {
    pub fn flush_policy(&self) -> FlushPolicy {
        FlushPolicy {
            max_records: self.flush_max_records as usize,
            max_bytes: self.flush_max_bytes,
            max_age: self.flush_max_age,
        }
    }

    pub fn compaction_policy(&self) -> CompactionPolicy {
        CompactionPolicy {
            after: self.compact_after.0,
            target_bytes: self.compact_target_bytes as u64,
        }
    }

    /// Why these settings must not run, if so: a `RETENTION` that would expire an hour before
    /// its last landing and its merge are done. An hour may be expired once it has ended, its
    /// late clicks have landed (within `FLUSH_MAX_AGE`) and it has been merged (`COMPACT_AFTER`
    /// after its last landing); with an hour of margin for a consumer that was away, RETENTION
    /// must be longer than all of that (and never shorter than its floor, one day).
    pub fn check(&self) -> Result<(), String> {
        let Some(retention) = self.retention else {
            return Ok(());
        };
        let window = self.compact_after.0.unwrap_or_default()
            + self.flush_max_age
            + std::time::Duration::from_secs(3600);
        if retention <= window {
            return Err(format!(
                "RETENTION {} is not longer than an hour's merge window ({}: COMPACT_AFTER plus \
                 FLUSH_MAX_AGE plus an hour): hours would be deleted before they are merged; give a \
                 longer RETENTION (at least {}) or a shorter COMPACT_AFTER",
                humantime::format_duration(retention),
                humantime::format_duration(window),
                humantime::format_duration(window.max(RETENTION_FLOOR)),
            ));
        }
        Ok(())
    }

    /// The table the metastore keeps, when one is set.
    pub fn hive_table(&self) -> Option<metastore::TableSpec> {
        if self.hive_metastore_uris.is_empty() {
            return None;
        }
        let root = self.landing_url.as_str().trim_end_matches('/');
        Some(metastore::TableSpec {
            database: self.hive_database.clone(),
            table: self
                .hive_table
                .clone()
                .unwrap_or_else(|| self.kafka.topic.replace(['-', '.'], "_")),
            location: format!("{root}/{}", self.kafka.topic),
            storage: match self.landing_format {
                LandingFormat::Parquet => metastore::Storage::Parquet,
                LandingFormat::Json => metastore::Storage::JsonLines,
            },
            columns: lake::file_format::hive_columns::hive_columns(self.landing_format)
                .into_iter()
                .map(|(name, hive_type)| metastore::Column { name, hive_type })
                .collect(),
        })
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
        assert_eq!(config.landing_format, LandingFormat::Parquet);
        assert_eq!(
            config.compaction_policy(),
            CompactionPolicy {
                after: Some(Duration::from_secs(600)),
                target_bytes: 128 << 20
            }
        );
    }

    #[test]
    fn a_metastore_is_kept_only_when_named_and_its_table_is_the_landing() {
        let config = Config::try_parse_from(["hdfs-consumer"]).unwrap();
        assert_eq!(config.hive_table(), None);
        let config = Config::try_parse_from([
            "hdfs-consumer",
            "--landing-url",
            "hdfs://namenode:8020/data/web-events/",
            "--hive-metastore-uris",
            "thrift://metastore:9083,thrift://standby:9083",
        ])
        .unwrap();
        assert_eq!(config.hive_metastore_uris.len(), 2);
        let table = config.hive_table().unwrap();
        assert_eq!(
            (table.database.as_str(), table.table.as_str()),
            ("default", "select_color")
        );
        assert_eq!(
            table.location,
            "hdfs://namenode:8020/data/web-events/select-color"
        );
        assert_eq!(table.storage, metastore::Storage::Parquet);
        assert!(table.columns.iter().any(|c| c.name == "doNotTrack"));
        for wrong in [
            "http://metastore:9083",
            "thrift://metastore",
            "metastore:9083",
        ] {
            let err = Config::try_parse_from(["hdfs-consumer", "--hive-metastore-uris", wrong])
                .unwrap_err();
            assert!(err.to_string().contains("--hive-metastore-uris"), "{err}");
        }
    }

    #[test]
    fn the_format_and_compaction_take_their_words() {
        let config = Config::try_parse_from([
            "hdfs-consumer",
            "--landing-format",
            "json",
            "--compact-after",
            "never",
        ])
        .unwrap();
        assert_eq!(config.landing_format, LandingFormat::Json);
        assert_eq!(config.compaction_policy().after, None);
        for (option, wrong) in [("--landing-format", "csv"), ("--compact-after", "soon")] {
            let err = Config::try_parse_from(["hdfs-consumer", option, wrong]).unwrap_err();
            assert!(err.to_string().contains(option), "{err}");
        }
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
    fn every_duration_and_size_refuses_nothing_negatives_and_missing_units() {
        let wrong = [
            ("--flush-max-age", "0s"),
            ("--flush-max-age", "-5s"),
            ("--flush-max-age", "5"),
            ("--flush-max-bytes", "0"),
            ("--flush-max-bytes", "-1MiB"),
            ("--flush-max-bytes", "8 parsecs"),
            ("--flush-max-records", "0"),
            ("--flush-max-records", "-1"),
            ("--compact-after", "-1m"),
            ("--compact-after", "10"),
            ("--compact-target-bytes", "0"),
            ("--compact-target-bytes", "-5"),
            ("--storage-retry-max-backoff", "0s"),
            ("--storage-retry-max-backoff", "30"),
            ("--retention", "0"),
            ("--retention", "0s"),
            ("--retention", "1s"),
            ("--retention", "12h"),
            ("--retention", "-30d"),
            ("--retention", "30"),
            ("--kafka-prefetch-bytes", "0"),
            ("--shutdown-timeout", "0s"),
            ("--shutdown-timeout", "-1s"),
        ];
        for (option, value) in wrong {
            let err = Config::try_parse_from(["hdfs-consumer", &format!("{option}={value}")])
                .map(|_| "taken".to_owned())
                .unwrap_or_else(|err| err.to_string());
            assert!(err.contains(option), "{option}={value}: {err}");
        }
        let err = Config::try_parse_from(["hdfs-consumer", "--retention=1s"]).unwrap_err();
        assert!(
            err.to_string()
                .contains("RETENTION \"1s\" is below its floor of 1 day")
        );
        let taken = Config::try_parse_from([
            "hdfs-consumer",
            "--compact-after=0s",
            "--retention=30d",
            "--flush-max-records=1",
        ])
        .unwrap();
        assert_eq!(taken.compact_after, CompactAfter(Some(Duration::ZERO)));
        taken.check().unwrap();
    }

    #[test]
    fn a_retention_shorter_than_an_hours_merge_window_is_refused_at_start() {
        let config =
            Config::try_parse_from(["hdfs-consumer", "--retention=1d", "--compact-after=23h"])
                .unwrap();
        let err = config.check().unwrap_err();
        assert!(err.starts_with("RETENTION 1day is not longer"), "{err}");
        assert!(err.contains("COMPACT_AFTER"), "{err}");
        let config =
            Config::try_parse_from(["hdfs-consumer", "--retention=1d", "--compact-after=never"])
                .unwrap();
        config.check().unwrap();
    }

    #[test]
    fn zero_workers_is_refused_with_the_option_named() {
        let err = Config::try_parse_from(["hdfs-consumer", "--workers", "0"]).unwrap_err();
        assert!(err.to_string().contains("--workers"), "{err}");
    }
}
