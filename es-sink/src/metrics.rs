//! Prometheus metrics of the sink, served on `/metrics` as `es_sink_<name>`.

use common::kafka::MemberMetrics;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    pub reason: String,
}

impl ReasonLabel {
    pub fn new(reason: &str) -> Self {
        ReasonLabel {
            reason: reason.to_owned(),
        }
    }
}

common::metric_set! {
    pub struct SinkMetrics {
        /// Records read from Kafka
        pub consumed: Counter = Counter::default(),
        /// Documents Elasticsearch confirmed (created or overwritten)
        pub indexed: Counter = Counter::default(),
        /// Clicks read again (a replay) whose ids were erased: not indexed
        pub erased_skipped: Counter = Counter::default(),
        /// Documents sent again, by why the previous attempt failed
        pub retried: Family<ReasonLabel, Counter> = Family::default(),
        /// Documents waiting for their next attempt
        pub retrying_documents: Gauge = Gauge::default(),
        /// Records written to the dead-letter topic, by reason
        pub dead_lettered: Family<ReasonLabel, Counter> = Family::default(),
        /// Failed attempts to write to the dead-letter topic (retried)
        pub dead_letter_failures: Counter = Counter::default(),
        /// Dead letters found in the topic already, written by the partition's earlier owner, and not written again
        pub dead_letters_found: Counter = Counter::default(),
        /// Synchronous commits the group refused before dead letters were written (the member no longer held the partition, or the group was rebalancing); the letters were not written
        pub refused_commits: Counter = Counter::default(),
        /// Time of one _bulk request, answer read
        pub bulk_duration_seconds: Histogram = Histogram::new(exponential_buckets(0.001, 2.0, 16)),
        /// Documents per _bulk request
        pub bulk_documents: Histogram = Histogram::new(exponential_buckets(1.0, 2.0, 14)),
        /// Batches being indexed
        pub bulks_in_flight: Gauge = Gauge::default(),
        /// 1 while consumption is paused because every bulk slot is busy
        pub paused: Gauge = Gauge::default(),
        /// Times a partition was found to end before its committed offset (topic recreated or records lost) and was read again from its start
        pub committed_ahead: Counter = Counter::default(),
        /// Daily indices deleted because their whole day was older than RETENTION
        pub expired_indices: Counter = Counter::default(),
        /// Documents deleted from the day RETENTION's limit falls in, as older than it
        pub expired_documents: Counter = Counter::default(),
        /// Sweeps for expired clicks that failed (tried again at the next)
        pub expiry_failures: Counter = Counter::default(),
        /// What every group member counts (assigned_partitions, lag, dropped_on_revoke, offset_gaps, skipped_offsets)
        pub member: MemberMetrics = MemberMetrics::default(),
    }
}
