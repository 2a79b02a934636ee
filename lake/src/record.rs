//! A record of the topic as the lake takes it: its offset, where it goes, and its line.

use common::ColorEvent;

use crate::file_format::{self, json_lines};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::layout::{Destination, Dropped, HourPartition};

/// One record of the topic, ready to be landed: its line of JSON and where it goes. Both
/// formats start from the line: it is the record's smallest form, one allocation, and what
/// JSON lines write as it is; Parquet reads it into columns when the file is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicRecord {
    pub offset: i64,
    pub destination: Destination,
    /// The event's compact JSON, or a dead letter's, without the line break.
    pub line: Vec<u8>,
    /// The event's id and time, when the record is an event.
    pub event: Option<EventKey>,
}

/// What tells a click's copies apart from other clicks: its id, and when it was received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventKey {
    pub id: Uuid,
    pub received_at: DateTime<Utc>,
}

impl EventKey {
    /// The id and time of a record that is not a valid event but carries both, as a click
    /// the collector of another version produced and this one refuses does: its retries
    /// are dead letters alike, and land once too.
    pub fn of_invalid(value: &[u8]) -> Option<EventKey> {
        crate::repeats::carried(value).map(|(id, received_at)| EventKey { id, received_at })
    }
}

impl TopicRecord {
    /// Classifies a record value: a valid event keeps its bytes and goes to its hour; anything
    /// else becomes a dead-letter line naming its partition, offset and the reason.
    pub fn classify(topic: &str, partition: i32, offset: i64, value: Option<&[u8]>) -> Self {
        let checked = match value {
            None => Err("record has no value".to_owned()),
            Some(bytes) => ColorEvent::from_json_slice(bytes).map_err(|e| e.to_string()),
        };
        match checked {
            Ok(event) => TopicRecord {
                offset,
                destination: Destination::Hour(HourPartition::of(&event.timestamp)),
                line: json_lines::event_line(value.unwrap_or_default(), &event),
                event: Some(EventKey {
                    id: event.event_id,
                    received_at: event.timestamp,
                }),
            },
            Err(reason) => TopicRecord {
                offset,
                destination: Destination::Invalid,
                line: file_format::dead_letter_line(topic, partition, offset, &reason, value),
                event: value.and_then(EventKey::of_invalid),
            },
        }
    }

    /// The record is landed past, not landed, for `why`; its line is let go.
    pub fn drop_as(&mut self, why: Dropped) {
        self.destination = Destination::Dropped(why);
        self.line = Vec::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_records_keep_their_bytes() {
        let json = ColorEvent::sample("a", "red", chrono::Utc::now()).to_json_bytes();
        let record = TopicRecord::classify("t", 0, 9, Some(&json));
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
            let record = TopicRecord::classify("select-color", 2, 41, value);
            assert_eq!(record.destination, Destination::Invalid);
            let line: serde_json::Value = serde_json::from_slice(&record.line).unwrap();
            assert_eq!(line["partition"], 2);
            assert_eq!(line["offset"], 41);
            assert!(line["reason"].as_str().unwrap().contains(reason), "{line}");
        }
    }

    #[test]
    fn a_dead_letter_carrying_an_id_and_a_time_keeps_them() {
        let mut event =
            serde_json::to_value(ColorEvent::sample("a", "red", chrono::Utc::now())).unwrap();
        event["schemaVersion"] = 99.into();
        let value = serde_json::to_vec(&event).unwrap();
        let record = TopicRecord::classify("t", 0, 3, Some(&value));
        assert_eq!(record.destination, Destination::Invalid);
        let key = record.event.expect("the id and time it carries");
        assert_eq!(key.id.to_string(), event["eventId"].as_str().unwrap());
        let without_time = br#"{"eventId":"0190b6e0-0000-7000-8000-000000000000"}"#;
        assert_eq!(
            TopicRecord::classify("t", 0, 4, Some(without_time)).event,
            None
        );
    }

    #[test]
    fn a_pretty_printed_event_is_rewritten_on_one_line() {
        let event = ColorEvent::sample("a", "red", chrono::Utc::now());
        let pretty = serde_json::to_vec_pretty(&event).unwrap();
        let record = TopicRecord::classify("t", 0, 1, Some(&pretty));
        assert!(!record.line.contains(&b'\n'));
        assert_eq!(ColorEvent::from_json_slice(&record.line).unwrap(), event);
    }
}
