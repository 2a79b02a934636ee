//! Whether a partition's records follow each other, and why some never arrived: a gap counted
//! by cause, and logged as data lost to the consumer.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use rdkafka::consumer::{Consumer, ConsumerContext};

/// Where a record's offset stands against the offset its consumer expected next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Continuity {
    /// The expected record, or the first one when nothing was expected.
    InOrder,
    /// `missing` records from `expected` on were never delivered.
    Gap { expected: i64, missing: i64 },
    /// The record is older than expected: the fetch position was reset backwards, which a
    /// broker does when the position is past the partition's end.
    Behind { expected: i64 },
}

impl Continuity {
    pub fn of(expected: Option<i64>, offset: i64) -> Continuity {
        match expected {
            Some(expected) if offset > expected => Continuity::Gap {
                expected,
                missing: offset - expected,
            },
            Some(expected) if offset < expected => Continuity::Behind { expected },
            _ => Continuity::InOrder,
        }
    }
}

/// Why records of a partition were never delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GapCause {
    /// The partition's log now starts after them: retention deleted them before they were
    /// read.
    Retention,
    /// They are still in the log, or were never in it: the broker skipped them. Compaction
    /// and transaction markers also leave such gaps; the click topic has neither.
    Broker,
    /// The log start could not be looked up.
    Unknown,
}

impl GapCause {
    /// The cause, told by the partition's log start offset as the broker reports it now.
    pub fn from_log_start(expected: i64, log_start: Option<i64>) -> GapCause {
        match log_start {
            Some(start) if start > expected => GapCause::Retention,
            Some(_) => GapCause::Broker,
            None => GapCause::Unknown,
        }
    }

    /// Metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            GapCause::Retention => "retention",
            GapCause::Broker => "broker",
            GapCause::Unknown => "unknown",
        }
    }
}

/// How long a consumer waits for a partition's watermarks when it needs them to explain an
/// offset it did not expect. It waits on its polling thread, so briefly.
pub const WATERMARK_TIMEOUT: Duration = Duration::from_secs(2);

/// The log start and end offsets of a partition, as the broker reports them now.
pub fn watermarks<C: ConsumerContext>(
    consumer: &impl Consumer<C>,
    topic: &str,
    partition: i32,
) -> Option<(i64, i64)> {
    match consumer.fetch_watermarks(topic, partition, WATERMARK_TIMEOUT) {
        Ok(marks) => Some(marks),
        Err(err) => {
            tracing::warn!(topic, partition, %err, "cannot look up the partition's watermarks");
            None
        }
    }
}

/// The offset gaps a consumer saw, by cause, as metrics.
#[derive(Debug, Clone, Default)]
pub struct GapMetrics {
    gaps: Family<CauseLabel, Counter>,
    skipped: Family<CauseLabel, Counter>,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CauseLabel {
    cause: &'static str,
}

impl GapMetrics {
    /// Adds `offset_gaps` and `skipped_offsets` (by `cause`) to a consumer's registry.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "offset_gaps",
            "Jumps over offsets that were never read, by cause: retention (deleted before they were read) or broker (skipped by it)",
            self.gaps.clone(),
        );
        registry.register(
            "skipped_offsets",
            "Offsets jumped over by those gaps, by cause: records lost to this consumer",
            self.skipped.clone(),
        );
    }

    fn record(&self, cause: GapCause, missing: i64) {
        let label = CauseLabel {
            cause: cause.as_str(),
        };
        self.gaps.get_or_create(&label).inc();
        self.skipped
            .get_or_create(&label)
            .inc_by(missing.max(0) as u64);
    }
}

impl crate::metrics::Register for GapMetrics {
    /// Registers `offset_gaps` and `skipped_offsets`, whatever the field is called.
    fn register_as(&self, registry: &mut Registry, _name: &str, _help: &str) {
        self.register(registry);
    }
}

/// Finds out why records `expected..expected + missing` of a partition never arrived, says so
/// as an ERROR (they are lost to this consumer), and counts it in `metrics`.
pub fn report_gap<C: ConsumerContext>(
    consumer: &impl Consumer<C>,
    topic: &str,
    partition: i32,
    expected: i64,
    missing: i64,
    metrics: &GapMetrics,
) {
    let log_start = watermarks(consumer, topic, partition).map(|(low, _)| low);
    let cause = GapCause::from_log_start(expected, log_start);
    metrics.record(cause, missing);
    match cause {
        GapCause::Retention => tracing::error!(
            topic,
            partition,
            expected,
            missing,
            log_start,
            "records were deleted by retention before they were read; they are lost"
        ),
        GapCause::Broker | GapCause::Unknown => tracing::error!(
            topic,
            partition,
            expected,
            missing,
            log_start,
            cause = cause.as_str(),
            "the broker skipped records: an offset gap in the partition"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continuity_compares_an_offset_with_the_one_expected() {
        assert_eq!(Continuity::of(None, 17), Continuity::InOrder);
        assert_eq!(Continuity::of(Some(17), 17), Continuity::InOrder);
        assert_eq!(
            Continuity::of(Some(30000), 30321),
            Continuity::Gap {
                expected: 30000,
                missing: 321
            }
        );
        assert_eq!(
            Continuity::of(Some(44), 0),
            Continuity::Behind { expected: 44 }
        );
    }

    #[test]
    fn gaps_are_counted_by_cause() {
        let metrics = GapMetrics::default();
        metrics.record(GapCause::Retention, 150);
        metrics.record(GapCause::Retention, 8);
        let mut registry = Registry::with_prefix("sink");
        metrics.register(&mut registry);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        assert!(
            text.contains(r#"sink_offset_gaps_total{cause="retention"} 2"#),
            "{text}"
        );
        assert!(
            text.contains(r#"sink_skipped_offsets_total{cause="retention"} 158"#),
            "{text}"
        );
    }

    #[test]
    fn a_gap_below_the_log_start_was_deleted_by_retention() {
        assert_eq!(
            GapCause::from_log_start(100, Some(250)),
            GapCause::Retention
        );
        assert_eq!(GapCause::from_log_start(100, Some(0)), GapCause::Broker);
        assert_eq!(GapCause::from_log_start(100, Some(100)), GapCause::Broker);
        assert_eq!(GapCause::from_log_start(100, None), GapCause::Unknown);
    }
}
