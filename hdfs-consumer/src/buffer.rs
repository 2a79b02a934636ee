//! Per-partition buffering and the decision to land: by record count, byte size or age.

use std::time::{Duration, Instant};

use lake::TopicRecord;
use lake::file_format::json_lines;

/// When a partition's buffer is landed.
#[derive(Debug, Clone, Copy)]
pub struct FlushPolicy {
    pub max_records: usize,
    pub max_bytes: usize,
    pub max_age: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlushReason {
    Records,
    Bytes,
    Age,
    Shutdown,
}

impl FlushReason {
    pub fn as_str(self) -> &'static str {
        match self {
            FlushReason::Records => "records",
            FlushReason::Bytes => "bytes",
            FlushReason::Age => "age",
            FlushReason::Shutdown => "shutdown",
        }
    }
}

/// Records of one partition waiting to be landed, in offset order.
#[derive(Debug, Default)]
pub struct PartitionBuffer {
    records: Vec<TopicRecord>,
    bytes: usize,
    first_at: Option<Instant>,
}

impl PartitionBuffer {
    pub fn push(&mut self, record: TopicRecord, now: Instant) {
        self.bytes += json_lines::encoded_len(&record.line);
        self.first_at.get_or_insert(now);
        self.records.push(record);
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn records(&self) -> &[TopicRecord] {
        &self.records
    }

    /// Whether the buffer is due, and why. Age counts from the first buffered record, so an
    /// idle partition still lands its last records.
    pub fn due(&self, policy: &FlushPolicy, now: Instant) -> Option<FlushReason> {
        if self.records.is_empty() {
            None
        } else if self.records.len() >= policy.max_records {
            Some(FlushReason::Records)
        } else if self.bytes >= policy.max_bytes {
            Some(FlushReason::Bytes)
        } else if self
            .first_at
            .is_some_and(|at| now.duration_since(at) >= policy.max_age)
        {
            Some(FlushReason::Age)
        } else {
            None
        }
    }

    pub fn clear(&mut self) {
        self.records.clear();
        self.bytes = 0;
        self.first_at = None;
    }
}

/// A valid event's record at `offset` of partition 0, for tests.
#[cfg(test)]
pub(crate) fn test_record(offset: i64) -> TopicRecord {
    let event = common::ColorEvent::sample("a", "red", chrono::Utc::now());
    TopicRecord::classify("t", 0, offset, Some(&event.to_json_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: FlushPolicy = FlushPolicy {
        max_records: 3,
        max_bytes: 1000,
        max_age: Duration::from_secs(5),
    };

    fn record(offset: i64) -> TopicRecord {
        test_record(offset)
    }

    #[test]
    fn flushes_on_count() {
        let (mut buffer, now) = (PartitionBuffer::default(), Instant::now());
        for offset in 0..2 {
            buffer.push(record(offset), now);
        }
        assert_eq!(buffer.due(&POLICY, now), None);
        buffer.push(record(2), now);
        assert_eq!(buffer.due(&POLICY, now), Some(FlushReason::Records));
    }

    #[test]
    fn flushes_on_bytes() {
        let (mut buffer, now) = (PartitionBuffer::default(), Instant::now());
        let policy = FlushPolicy {
            max_records: 100,
            max_bytes: 300,
            ..POLICY
        };
        buffer.push(record(0), now);
        buffer.push(record(1), now);
        assert!(buffer.bytes() > 300);
        assert_eq!(buffer.due(&policy, now), Some(FlushReason::Bytes));
    }

    #[test]
    fn flushes_on_age_without_new_records() {
        let (mut buffer, now) = (PartitionBuffer::default(), Instant::now());
        buffer.push(record(0), now);
        assert_eq!(buffer.due(&POLICY, now + Duration::from_secs(4)), None);
        assert_eq!(
            buffer.due(&POLICY, now + Duration::from_secs(5)),
            Some(FlushReason::Age)
        );
        buffer.clear();
        assert_eq!(buffer.due(&POLICY, now + Duration::from_secs(60)), None);
    }
}
