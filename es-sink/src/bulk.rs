//! Encoding events as a `_bulk` request body (NDJSON).
//!
//! Each event is indexed under `_id` = its `eventId`, so a replayed record overwrites itself
//! instead of adding a duplicate, into a daily index named from the event's own timestamp, so
//! a replay lands in the same index as the first delivery.

use chrono::{DateTime, Datelike, Utc};
use common::ColorEvent;

/// Default prefix of the daily indices (`web-events-YYYY.MM.DD`).
pub use common::search::DEFAULT_INDEX_PREFIX;

/// The daily index an event belongs to.
pub fn index_name(prefix: &str, timestamp: &DateTime<Utc>) -> String {
    format!(
        "{prefix}-{:04}.{:02}.{:02}",
        timestamp.year(),
        timestamp.month(),
        timestamp.day()
    )
}

/// One document to index: where it goes and its source, as read from Kafka.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BulkDoc {
    pub index: String,
    pub id: String,
    /// The record value, one line of JSON.
    pub source: Vec<u8>,
}

impl BulkDoc {
    /// The document for a valid event. `raw` is the record value the event was read from;
    /// it is indexed as is unless it spans lines, which NDJSON cannot carry.
    pub fn for_event(prefix: &str, event: &ColorEvent, raw: &[u8]) -> Self {
        let source = if raw.contains(&b'\n') || raw.contains(&b'\r') {
            event.to_json_bytes()
        } else {
            raw.to_vec()
        };
        BulkDoc {
            index: index_name(prefix, &event.timestamp),
            id: event.event_id.to_string(),
            source,
        }
    }
}

/// The `_bulk` body for `docs`: an `index` action line and a source line per document.
pub fn encode<'a>(docs: impl IntoIterator<Item = &'a BulkDoc> + Clone) -> Vec<u8> {
    let mut body = Vec::with_capacity(
        docs.clone()
            .into_iter()
            .map(|d| d.source.len() + d.index.len() + 80)
            .sum(),
    );
    for doc in docs {
        let action = serde_json::json!({ "index": { "_index": doc.index, "_id": doc.id } });
        serde_json::to_writer(&mut body, &action).expect("a JSON value serializes");
        body.push(b'\n');
        body.extend_from_slice(&doc.source);
        body.push(b'\n');
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn event() -> ColorEvent {
        let at = Utc.with_ymd_and_hms(2026, 11, 22, 23, 59, 59).unwrap();
        ColorEvent::sample("민수", "blue", at)
    }

    #[test]
    fn daily_index_comes_from_the_event_time_in_utc() {
        let at = DateTime::parse_from_rfc3339("2026-11-23T08:00:00+09:00")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(index_name("web-events", &at), "web-events-2026.11.22");
    }

    #[test]
    fn bulk_body_is_action_then_source_per_document() {
        let event = event();
        let raw = event.to_json_bytes();
        let doc = BulkDoc::for_event(DEFAULT_INDEX_PREFIX, &event, &raw);
        let body = encode(&[doc.clone(), doc]);
        let text = String::from_utf8(body).unwrap();
        let lines: Vec<&str> = text.split_terminator('\n').collect();
        assert_eq!(lines.len(), 4);
        assert!(text.ends_with('\n'), "a bulk body ends with a newline");
        let action: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
        assert_eq!(
            action,
            serde_json::json!({ "index": { "_index": "web-events-2026.11.22", "_id": event.event_id.to_string() } })
        );
        assert_eq!(lines[1].as_bytes(), raw.as_slice());
        assert_eq!(
            lines[2], lines[0],
            "the same event always gets the same index and id"
        );
    }

    #[test]
    fn a_multi_line_source_is_rewritten_on_one_line() {
        let event = event();
        let pretty = serde_json::to_vec_pretty(&event).unwrap();
        let doc = BulkDoc::for_event("p", &event, &pretty);
        assert!(!doc.source.contains(&b'\n'));
        assert_eq!(ColorEvent::from_json_slice(&doc.source).unwrap(), event);
    }
}
