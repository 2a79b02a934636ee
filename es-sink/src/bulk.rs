//! Encoding events as a `_bulk` request body (NDJSON).
//!
//! Each event is indexed under `_id` = its `eventId`, so a replayed record overwrites itself
//! instead of adding a duplicate, into a daily index named from the event's own timestamp, so
//! a replay lands in the same index as the first delivery. Each document also says where its
//! record was read (`kafkaPartition`, `kafkaOffset`): an erasure deletes the clicks made before
//! its request, the offsets below each partition's end, and keeps the ones made after.

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

/// The fields a document adds to its event: where its record was read.
pub const PARTITION_FIELD: &str = "kafkaPartition";
pub const OFFSET_FIELD: &str = "kafkaOffset";

/// One document to index: where it goes and its source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BulkDoc {
    pub index: String,
    pub id: String,
    /// The record value, one line of JSON, with [`PARTITION_FIELD`] and [`OFFSET_FIELD`] added
    /// before its closing brace.
    pub source: Vec<u8>,
    /// The bytes added (the two fields and their comma).
    added: usize,
    /// Whether `source` is the record value itself with the fields added (rather than the
    /// event written again, for a value spanning lines, which NDJSON cannot carry).
    pub verbatim: bool,
}

impl BulkDoc {
    /// The document for a valid event read at `offset` of `partition`. `raw` is the record
    /// value the event was read from; it is indexed as is, with where it was read added, unless
    /// it spans lines or does not end with its closing brace.
    pub fn for_event(
        prefix: &str,
        event: &ColorEvent,
        raw: &[u8],
        partition: i32,
        offset: i64,
    ) -> Self {
        let verbatim =
            raw.ends_with(b"}") && !raw.contains(&b'\n') && !raw.contains(&b'\r') && raw.len() > 2;
        let mut source = if verbatim {
            raw.to_vec()
        } else {
            event.to_json_bytes()
        };
        source.pop();
        let before = source.len();
        source.extend_from_slice(
            format!(",\"{PARTITION_FIELD}\":{partition},\"{OFFSET_FIELD}\":{offset}}}").as_bytes(),
        );
        BulkDoc {
            index: index_name(prefix, &event.timestamp),
            id: event.event_id.to_string(),
            added: source.len() - before - 1,
            source,
            verbatim,
        }
    }

    /// The record value this document was made from, as read when [`BulkDoc::verbatim`]:
    /// the source without the fields it added.
    pub fn value(&self) -> Vec<u8> {
        let end = self.source.len() - 1 - self.added;
        let mut value = self.source[..end].to_vec();
        value.push(b'}');
        value
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
        let doc = BulkDoc::for_event(DEFAULT_INDEX_PREFIX, &event, &raw, 2, 41);
        assert!(doc.verbatim);
        assert_eq!(doc.value(), raw, "the record value, as read");
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
        let source: serde_json::Value = serde_json::from_str(lines[1]).unwrap();
        let mut expected = serde_json::to_value(&event).unwrap();
        expected["kafkaPartition"] = 2.into();
        expected["kafkaOffset"] = 41.into();
        assert_eq!(source, expected, "the event and where it was read");
        assert!(lines[1].starts_with(&String::from_utf8(raw[..raw.len() - 1].to_vec()).unwrap()));
        assert_eq!(
            lines[2], lines[0],
            "the same event always gets the same index and id"
        );
    }

    #[test]
    fn a_multi_line_source_is_rewritten_on_one_line() {
        let event = event();
        let pretty = serde_json::to_vec_pretty(&event).unwrap();
        let doc = BulkDoc::for_event("p", &event, &pretty, 0, 7);
        assert!(!doc.source.contains(&b'\n'));
        assert!(!doc.verbatim);
        assert_eq!(ColorEvent::from_json_slice(&doc.source).unwrap(), event);
    }
}
