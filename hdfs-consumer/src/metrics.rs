//! Prometheus metrics of the consumer, served on `/metrics` as `hdfs_consumer_<name>`.

use common::kafka::MemberMetrics;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    pub reason: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabel {
    pub outcome: &'static str,
}

common::metric_set! {
    pub struct ConsumerMetrics {
        /// Valid events landed in data files
        pub records_landed: Counter = Counter::default(),
        /// Files made visible (data and invalid)
        pub files_landed: Counter = Counter::default(),
        /// Bytes written in landed files
        pub bytes_landed: Counter = Counter::default(),
        /// Records that were not valid events, landed under _invalid/
        pub invalid_records: Counter = Counter::default(),
        /// Landings, by what triggered them
        pub flushes: Family<ReasonLabel, Counter> = Family::default(),
        /// Time to land one partition's buffer
        pub flush_duration_seconds: Histogram = Histogram::new(exponential_buckets(0.001, 2.0, 16)),
        /// Hours whose files of one partition were merged
        pub compactions: Counter = Counter::default(),
        /// Files merged away by compactions
        pub compaction_files_in: Counter = Counter::default(),
        /// Files compactions wrote
        pub compaction_files_out: Counter = Counter::default(),
        /// Bytes of the files compactions merged
        pub compaction_bytes_in: Counter = Counter::default(),
        /// Bytes of the files compactions wrote
        pub compaction_bytes_out: Counter = Counter::default(),
        /// Hours left unmerged because one of their files could not be read as the landed format
        pub compactions_skipped: Counter = Counter::default(),
        /// Landed files deleted because their hour passed RETENTION
        pub expired_files: Counter = Counter::default(),
        /// Clicks not landed because their hour had passed RETENTION
        pub expired_records: Counter = Counter::default(),
        /// Erasure requests carried out on a partition
        pub erasures: Counter = Counter::default(),
        /// Landed clicks removed by erasure requests
        pub erased_records: Counter = Counter::default(),
        /// Dead letters removed by erasure requests
        pub erased_dead_letters: Counter = Counter::default(),
        /// Clicks read again (a replay) whose ids were erased: landed past, never landed
        pub erased_skipped: Counter = Counter::default(),
        /// Copies of a click received within DEDUPE_WINDOW of a landed one: landed past, or left out by a merge
        pub duplicates_dropped: Counter = Counter::default(),
        /// The Hive Metastore kept, by outcome: hours registered, partitions dropped because their hour left storage, attempts failed
        pub hive_registrations: Family<OutcomeLabel, Counter> = Family::default(),
        /// Hours landed in and not yet registered in the Hive Metastore
        pub hive_hours_waiting: Gauge = Gauge::default(),
        /// Columns added to the Hive Metastore's table for fields a newer event has
        pub hive_columns_added: Counter = Counter::default(),
        /// Storage calls that failed and will be retried
        pub storage_failures: Counter = Counter::default(),
        /// Partitions claimed in storage: taken over, at assignment or after a refusal
        pub claims: Counter = Counter::default(),
        /// Landings and compactions refused because another member had claimed the partition (nothing of them became visible)
        pub fenced_commits: Counter = Counter::default(),
        /// Buffered records dropped when a landing was refused or its outcome was unknown (landed by the partition's holder)
        pub dropped_on_fence: Counter = Counter::default(),
        /// Records read and waiting to be landed
        pub buffered_records: Gauge = Gauge::default(),
        /// Times a partition was found to end before its landed offset (topic recreated or records lost); the partition is halted
        pub checkpoint_ahead: Counter = Counter::default(),
        /// Partitions that end before their landed offset, where nothing is landed until a person acts
        pub halted_partitions: Gauge = Gauge::default(),
        /// What every group member counts (assigned_partitions, lag, dropped_on_revoke, offset_gaps, skipped_offsets)
        pub member: MemberMetrics = MemberMetrics::default(),
    }
}
