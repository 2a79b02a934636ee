//! Prometheus metrics of the consumer, served on `/metrics`.

use common::kafka::GapMetrics;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PartitionLabel {
    pub partition: i32,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    pub reason: &'static str,
}

#[derive(Clone)]
pub struct ConsumerMetrics {
    pub records_landed: Counter,
    pub files_landed: Counter,
    pub bytes_landed: Counter,
    pub invalid_records: Counter,
    pub flushes: Family<ReasonLabel, Counter>,
    pub flush_duration: Histogram,
    pub storage_failures: Counter,
    pub dropped_on_revoke: Counter,
    pub gaps: GapMetrics,
    pub checkpoint_ahead: Counter,
    pub halted_partitions: Gauge,
    pub buffered_records: Gauge,
    pub lag: Family<PartitionLabel, Gauge>,
    pub assigned_partitions: Gauge,
}

impl Default for ConsumerMetrics {
    fn default() -> Self {
        ConsumerMetrics {
            records_landed: Counter::default(),
            files_landed: Counter::default(),
            bytes_landed: Counter::default(),
            invalid_records: Counter::default(),
            flushes: Family::default(),
            flush_duration: Histogram::new(exponential_buckets(0.001, 2.0, 16)),
            storage_failures: Counter::default(),
            dropped_on_revoke: Counter::default(),
            gaps: GapMetrics::default(),
            checkpoint_ahead: Counter::default(),
            halted_partitions: Gauge::default(),
            buffered_records: Gauge::default(),
            lag: Family::default(),
            assigned_partitions: Gauge::default(),
        }
    }
}

impl ConsumerMetrics {
    pub fn registry(&self) -> Registry {
        let mut r = Registry::with_prefix("hdfs_consumer");
        r.register(
            "records_landed",
            "Valid events landed in data files",
            self.records_landed.clone(),
        );
        r.register(
            "files_landed",
            "Files made visible (data and invalid)",
            self.files_landed.clone(),
        );
        r.register(
            "bytes_landed",
            "Bytes written in landed files",
            self.bytes_landed.clone(),
        );
        r.register(
            "invalid_records",
            "Records that were not valid events, landed under _invalid/",
            self.invalid_records.clone(),
        );
        r.register(
            "flushes",
            "Landings, by what triggered them",
            self.flushes.clone(),
        );
        r.register(
            "flush_duration_seconds",
            "Time to land one partition's buffer",
            self.flush_duration.clone(),
        );
        r.register(
            "storage_failures",
            "Landing attempts that failed and will be retried",
            self.storage_failures.clone(),
        );
        r.register(
            "dropped_on_revoke",
            "Buffered records dropped when their partition was revoked (re-read by the next owner)",
            self.dropped_on_revoke.clone(),
        );
        self.gaps.register(&mut r);
        r.register(
            "checkpoint_ahead",
            "Times a partition was found to end before its checkpoint (topic recreated or records lost); the partition is halted",
            self.checkpoint_ahead.clone(),
        );
        r.register(
            "halted_partitions",
            "Partitions that end before their checkpoint, where nothing is landed until a person acts",
            self.halted_partitions.clone(),
        );
        r.register(
            "buffered_records",
            "Records read and waiting to be landed",
            self.buffered_records.clone(),
        );
        r.register(
            "assigned_partitions",
            "Partitions this process owns",
            self.assigned_partitions.clone(),
        );
        r.register(
            "lag",
            "Records in the partition not yet landed",
            self.lag.clone(),
        );
        r
    }
}
