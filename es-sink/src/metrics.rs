//! Prometheus metrics of the sink, served on `/metrics`.

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
    pub reason: String,
}

impl ReasonLabel {
    pub fn new(reason: &str) -> Self {
        ReasonLabel {
            reason: reason.to_owned(),
        }
    }
}

#[derive(Clone)]
pub struct SinkMetrics {
    pub consumed: Counter,
    pub indexed: Counter,
    pub retried: Family<ReasonLabel, Counter>,
    pub retrying_documents: Gauge,
    pub dead_lettered: Family<ReasonLabel, Counter>,
    pub dead_letter_failures: Counter,
    pub bulk_duration: Histogram,
    pub bulk_documents: Histogram,
    pub bulks_in_flight: Gauge,
    pub paused: Gauge,
    pub dropped_on_revoke: Counter,
    pub gaps: GapMetrics,
    pub committed_ahead: Counter,
    pub assigned_partitions: Gauge,
    pub lag: Family<PartitionLabel, Gauge>,
}

impl Default for SinkMetrics {
    fn default() -> Self {
        SinkMetrics {
            consumed: Counter::default(),
            indexed: Counter::default(),
            retried: Family::default(),
            retrying_documents: Gauge::default(),
            dead_lettered: Family::default(),
            dead_letter_failures: Counter::default(),
            bulk_duration: Histogram::new(exponential_buckets(0.001, 2.0, 16)),
            bulk_documents: Histogram::new(exponential_buckets(1.0, 2.0, 14)),
            bulks_in_flight: Gauge::default(),
            paused: Gauge::default(),
            dropped_on_revoke: Counter::default(),
            gaps: GapMetrics::default(),
            committed_ahead: Counter::default(),
            assigned_partitions: Gauge::default(),
            lag: Family::default(),
        }
    }
}

impl SinkMetrics {
    pub fn registry(&self) -> Registry {
        let mut r = Registry::with_prefix("es_sink");
        r.register("consumed", "Records read from Kafka", self.consumed.clone());
        r.register(
            "indexed",
            "Documents Elasticsearch confirmed (created or overwritten)",
            self.indexed.clone(),
        );
        r.register(
            "retried",
            "Documents sent again, by why the previous attempt failed",
            self.retried.clone(),
        );
        r.register(
            "retrying_documents",
            "Documents waiting for their next attempt",
            self.retrying_documents.clone(),
        );
        r.register(
            "dead_lettered",
            "Records written to the dead-letter topic, by reason",
            self.dead_lettered.clone(),
        );
        r.register(
            "dead_letter_failures",
            "Failed attempts to write to the dead-letter topic (retried)",
            self.dead_letter_failures.clone(),
        );
        r.register(
            "bulk_duration_seconds",
            "Time of one _bulk request, answer read",
            self.bulk_duration.clone(),
        );
        r.register(
            "bulk_documents",
            "Documents per _bulk request",
            self.bulk_documents.clone(),
        );
        r.register(
            "bulks_in_flight",
            "Batches being indexed",
            self.bulks_in_flight.clone(),
        );
        r.register(
            "paused",
            "1 while consumption is paused because every bulk slot is busy",
            self.paused.clone(),
        );
        r.register(
            "dropped_on_revoke",
            "Records read but not indexed when their partition was revoked (read again by the next owner)",
            self.dropped_on_revoke.clone(),
        );
        self.gaps.register(&mut r);
        r.register(
            "committed_ahead",
            "Times a partition was found to end before its committed offset (topic recreated or records lost) and was read again from its start",
            self.committed_ahead.clone(),
        );
        r.register(
            "assigned_partitions",
            "Partitions this process owns",
            self.assigned_partitions.clone(),
        );
        r.register(
            "lag",
            "Records in the partition past the committed offset",
            self.lag.clone(),
        );
        r
    }
}
