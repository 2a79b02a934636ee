//! Per-partition buffering and the decision to land: by record count, byte size or age.

use std::time::{Duration, Instant};

use common::ColorEvent;

use crate::file_format::{self, json_lines};
use crate::layout::{Destination, HourPartition};

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

/// One consumed record, ready to be written: its line of JSON and where it goes. Both formats
/// buffer the line: it is the record's smallest form, one allocation, and what JSON lines
/// write as it is; Parquet reads it into columns when the file is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BufferedRecord {
    pub offset: i64,
    pub destination: Destination,
    /// The event's compact JSON, or a dead letter's, without the line break.
    pub line: Vec<u8>,
}

impl BufferedRecord {
    /// Classifies a record value: a valid event keeps its bytes and goes to its hour; anything
    /// else becomes a dead-letter line naming its partition, offset and the reason.
    pub fn classify(topic: &str, partition: i32, offset: i64, value: Option<&[u8]>) -> Self {
        let checked = match value {
            None => Err("record has no value".to_owned()),
            Some(bytes) => ColorEvent::from_json_slice(bytes).map_err(|e| e.to_string()),
        };
        match checked {
            Ok(event) => BufferedRecord {
                offset,
                destination: Destination::Hour(HourPartition::of(&event.timestamp)),
                line: json_lines::event_line(value.unwrap_or_default(), &event),
            },
            Err(reason) => BufferedRecord {
                offset,
                destination: Destination::Invalid,
                line: file_format::dead_letter_line(topic, partition, offset, &reason, value),
            },
        }
    }
}

/// Records of one partition waiting to be landed, in offset order.
#[derive(Debug, Default)]
pub struct PartitionBuffer {
    records: Vec<BufferedRecord>,
    bytes: usize,
    first_at: Option<Instant>,
}

impl PartitionBuffer {
    pub fn push(&mut self, record: BufferedRecord, now: Instant) {
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

    pub fn records(&self) -> &[BufferedRecord] {
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
pub(crate) fn test_record(offset: i64) -> BufferedRecord {
    let event = ColorEvent::sample("a", "red", chrono::Utc::now());
    BufferedRecord::classify("t", 0, offset, Some(&event.to_json_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: FlushPolicy = FlushPolicy {
        max_records: 3,
        max_bytes: 1000,
        max_age: Duration::from_secs(5),
    };

    fn event_json() -> Vec<u8> {
        ColorEvent::sample("a", "red", chrono::Utc::now()).to_json_bytes()
    }

    fn record(offset: i64) -> BufferedRecord {
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

    #[test]
    fn valid_records_keep_their_bytes() {
        let json = event_json();
        let record = BufferedRecord::classify("t", 0, 9, Some(&json));
        assert_eq!(record.line, json);
        assert!(matches!(record.destination, Destination::Hour(_)));
    }

    #[test]
    fn invalid_records_become_dead_letter_lines() {
        for (value, reason) in [
            (Some(&b"not json"[..]), "not a JSON event"),
            (Some(&b"{\"eventId\":1}"[..]), "not a JSON event"),
            (None, "no value"),
        ] {
            let record = BufferedRecord::classify("select-color", 2, 41, value);
            assert_eq!(record.destination, Destination::Invalid);
            let line: serde_json::Value = serde_json::from_slice(&record.line).unwrap();
            assert_eq!(line["partition"], 2);
            assert_eq!(line["offset"], 41);
            assert!(line["reason"].as_str().unwrap().contains(reason), "{line}");
        }
    }

    #[test]
    fn a_pretty_printed_event_is_rewritten_on_one_line() {
        let event = ColorEvent::sample("a", "red", chrono::Utc::now());
        let pretty = serde_json::to_vec_pretty(&event).unwrap();
        let record = BufferedRecord::classify("t", 0, 1, Some(&pretty));
        assert!(!record.line.contains(&b'\n'));
        assert_eq!(ColorEvent::from_json_slice(&record.line).unwrap(), event);
    }
}
