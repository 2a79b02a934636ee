//! Gathering records into bulk requests: when a batch is due (by documents, bytes or
//! linger), and what each entry remembers so its outcome can be traced to a Kafka offset.

use std::time::{Duration, Instant};

use common::ColorEvent;

use crate::bulk::BulkDoc;
use crate::dead_letter::{DeadLetter, INVALID_EVENT, failure_kind};
use crate::offsets::RecordRef;

/// When to send a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchPolicy {
    pub max_docs: usize,
    pub max_bytes: usize,
    pub linger: Duration,
}

/// A record ready to index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingDoc {
    pub record: RecordRef,
    pub key: Option<Vec<u8>>,
    pub doc: BulkDoc,
    /// The record value when the source was not made from it as it is (a multi-line value);
    /// else the source, without the fields it adds, is the original.
    pub original: Option<Vec<u8>>,
}

impl PendingDoc {
    /// The dead letter for this document, refused with `status` and `reason`.
    pub fn dead_letter(&self, status: u16, reason: &str) -> DeadLetter {
        DeadLetter {
            record: self.record,
            key: self.key.clone(),
            payload: Some(self.original.clone().unwrap_or_else(|| self.doc.value())),
            status: Some(status),
            kind: failure_kind(reason),
            reason: reason.to_owned(),
        }
    }
}

/// A record read: a document to index, a dead letter when it is not an event, or a click
/// that was erased (read again by a replay), done without being indexed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    Doc(PendingDoc),
    Dead(DeadLetter),
    Erased(RecordRef),
}

/// Turns a Kafka record into a document to index, a dead letter when it is not an event, or
/// an erased click when `erased` says its id is one.
pub fn classify_record(
    index_prefix: &str,
    record: RecordRef,
    key: Option<&[u8]>,
    payload: Option<&[u8]>,
    erased: impl Fn(&uuid::Uuid) -> bool,
) -> Entry {
    let invalid = |reason: String| DeadLetter {
        record,
        key: key.map(<[u8]>::to_vec),
        payload: payload.map(<[u8]>::to_vec),
        status: None,
        kind: INVALID_EVENT.to_owned(),
        reason,
    };
    let Some(raw) = payload else {
        return Entry::Dead(invalid("record has no value".to_owned()));
    };
    let event = match ColorEvent::from_json_slice(raw) {
        Ok(event) => event,
        Err(err) => return Entry::Dead(invalid(err.to_string())),
    };
    if erased(&event.event_id) {
        return Entry::Erased(record);
    }
    let doc = BulkDoc::for_event(index_prefix, &event, raw, record.partition, record.offset);
    let original = (!doc.verbatim).then(|| raw.to_vec());
    Entry::Doc(PendingDoc {
        record,
        key: key.map(<[u8]>::to_vec),
        doc,
        original,
    })
}

/// What a document adds to a bulk body: its source, and an action line about as long as the
/// index name and id plus 30 bytes.
fn doc_bytes(doc: &PendingDoc) -> usize {
    doc.doc.source.len() + doc.doc.index.len() + doc.doc.id.len() + 32
}

/// What a dead letter weighs while it waits in a batch.
fn dead_bytes(dead: &DeadLetter) -> usize {
    dead.payload.as_ref().map_or(0, Vec::len)
}

/// Records gathered for one bulk request.
#[derive(Debug, Default)]
pub struct Batch {
    pub docs: Vec<PendingDoc>,
    /// Records that are not events; they travel with the batch so that their offsets are
    /// resolved in order with their neighbours.
    pub invalid: Vec<DeadLetter>,
    /// Erased clicks read again, done as the batch is, without being indexed.
    pub erased: Vec<RecordRef>,
    bytes: usize,
    started: Option<Instant>,
}

impl Batch {
    pub fn push(&mut self, entry: Entry, now: Instant) {
        self.started.get_or_insert(now);
        match entry {
            Entry::Doc(doc) => {
                self.bytes += doc_bytes(&doc);
                self.docs.push(doc);
            }
            Entry::Dead(dead) => {
                self.bytes += dead_bytes(&dead);
                self.invalid.push(dead);
            }
            Entry::Erased(record) => self.erased.push(record),
        }
    }

    pub fn len(&self) -> usize {
        self.docs.len() + self.invalid.len() + self.erased.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Approximate size of the bulk body.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Whether the batch should be sent now.
    pub fn is_due(&self, policy: &BatchPolicy, now: Instant) -> bool {
        self.is_full(policy) || self.due_at(policy).is_some_and(|at| now >= at)
    }

    /// Full by count or bytes: no more records should be added.
    pub fn is_full(&self, policy: &BatchPolicy) -> bool {
        self.len() >= policy.max_docs || self.bytes >= policy.max_bytes
    }

    /// When linger makes the batch due; `None` while it is empty.
    pub fn due_at(&self, policy: &BatchPolicy) -> Option<Instant> {
        self.started.map(|s| s + policy.linger)
    }

    /// Every record of the batch.
    pub fn records(&self) -> impl Iterator<Item = RecordRef> + '_ {
        self.docs
            .iter()
            .map(|d| d.record)
            .chain(self.invalid.iter().map(|d| d.record))
            .chain(self.erased.iter().copied())
    }

    /// Drops the records of partitions `keep` says no to (revoked ones); returns how many.
    pub fn retain_partitions(&mut self, keep: impl Fn(i32) -> bool) -> usize {
        let before = self.len();
        self.docs.retain(|d| keep(d.record.partition));
        self.invalid.retain(|d| keep(d.record.partition));
        self.erased.retain(|r| keep(r.partition));
        self.bytes = self.docs.iter().map(doc_bytes).sum::<usize>()
            + self.invalid.iter().map(dead_bytes).sum::<usize>();
        if self.is_empty() {
            self.started = None;
        }
        before - self.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    const POLICY: BatchPolicy = BatchPolicy {
        max_docs: 3,
        max_bytes: 100_000,
        linger: Duration::from_secs(1),
    };

    fn at(partition: i32, offset: i64) -> RecordRef {
        RecordRef {
            partition,
            offset,
            generation: 1,
        }
    }

    /// A record classified where no click was erased.
    fn classify(
        prefix: &str,
        record: RecordRef,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
    ) -> Entry {
        classify_record(prefix, record, key, value, |_| false)
    }

    impl Entry {
        fn doc(self) -> PendingDoc {
            match self {
                Entry::Doc(doc) => doc,
                other => panic!("not a document: {other:?}"),
            }
        }
        fn dead(self) -> DeadLetter {
            match self {
                Entry::Dead(dead) => dead,
                other => panic!("not a dead letter: {other:?}"),
            }
        }
    }

    fn event_bytes() -> Vec<u8> {
        ColorEvent::sample("민수", "blue", Utc::now()).to_json_bytes()
    }

    #[test]
    fn a_valid_record_becomes_a_document_under_its_event_id() {
        let raw = event_bytes();
        let doc = classify("web-events", at(0, 7), None, Some(&raw)).doc();
        let event = ColorEvent::from_json_slice(&raw).unwrap();
        assert_eq!(doc.doc.id, event.event_id.to_string());
        assert!(doc.doc.verbatim);
        assert_eq!(
            doc.doc.value(),
            raw,
            "the source is the record itself, and where it was read"
        );
        assert_eq!(doc.original, None);
        let dead = doc.dead_letter(400, "mapper_parsing_exception: failed to parse [x]");
        assert_eq!(dead.payload.as_deref(), Some(raw.as_slice()));
        assert_eq!(dead.kind, "mapper_parsing_exception");
        assert_eq!(dead.record, at(0, 7));
    }

    #[test]
    fn a_record_that_is_not_an_event_is_a_dead_letter_with_its_bytes() {
        let dead = classify("p", at(2, 9), Some(b"k"), Some(b"\xff not json")).dead();
        assert_eq!(dead.kind, INVALID_EVENT);
        assert_eq!(dead.payload.as_deref(), Some(&b"\xff not json"[..]));
        assert_eq!(dead.key.as_deref(), Some(&b"k"[..]));
        assert_eq!(dead.status, None);
        assert!(!dead.reason.is_empty());
        let empty = classify("p", at(2, 10), None, None).dead();
        assert_eq!(empty.reason, "record has no value");
    }

    #[test]
    fn a_multi_line_record_keeps_its_original_bytes_for_the_dead_letter_topic() {
        let event = ColorEvent::from_json_slice(&event_bytes()).unwrap();
        let pretty = serde_json::to_vec_pretty(&event).unwrap();
        let doc = classify("p", at(0, 1), None, Some(&pretty)).doc();
        assert_eq!(doc.original.as_deref(), Some(pretty.as_slice()));
        assert_eq!(
            doc.dead_letter(400, "x: y").payload.as_deref(),
            Some(pretty.as_slice())
        );
    }

    #[test]
    fn an_erased_click_read_again_is_done_without_a_document_and_keeps_its_place() {
        let raw = event_bytes();
        let id = ColorEvent::from_json_slice(&raw).unwrap().event_id;
        let entry = classify_record("p", at(0, 3), None, Some(&raw), |erased| *erased == id);
        assert_eq!(entry, Entry::Erased(at(0, 3)));
        let mut batch = Batch::default();
        batch.push(entry, Instant::now());
        assert!(batch.docs.is_empty());
        assert_eq!(batch.records().collect::<Vec<_>>(), vec![at(0, 3)]);
        let other = classify_record("p", at(0, 4), None, Some(&event_bytes()), |erased| {
            *erased == id
        });
        assert!(matches!(other, Entry::Doc(_)));
    }

    #[test]
    fn a_batch_is_due_by_count_bytes_or_linger() {
        let t0 = Instant::now();
        let mut batch = Batch::default();
        assert!(
            !batch.is_due(&POLICY, t0 + Duration::from_secs(60)),
            "empty is never due"
        );
        let raw = event_bytes();
        for offset in 0..2 {
            batch.push(classify("p", at(0, offset), None, Some(&raw)), t0);
        }
        assert!(!batch.is_due(&POLICY, t0));
        assert!(batch.is_due(&POLICY, t0 + Duration::from_secs(1)), "linger");
        batch.push(classify("p", at(0, 2), None, Some(b"x")), t0);
        assert!(batch.is_due(&POLICY, t0), "count, invalid records included");

        let mut small = Batch::default();
        let tiny = BatchPolicy {
            max_bytes: raw.len(),
            ..POLICY
        };
        small.push(classify("p", at(0, 0), None, Some(&raw)), t0);
        assert!(small.is_due(&tiny, t0), "bytes");
    }

    #[test]
    fn revoked_partitions_leave_the_batch() {
        let t0 = Instant::now();
        let raw = event_bytes();
        let mut batch = Batch::default();
        batch.push(classify("p", at(0, 0), None, Some(&raw)), t0);
        batch.push(classify("p", at(1, 0), None, Some(&raw)), t0);
        batch.push(classify("p", at(1, 1), None, Some(b"bad")), t0);
        assert_eq!(batch.retain_partitions(|p| p != 1), 2);
        assert_eq!(batch.records().collect::<Vec<_>>(), vec![at(0, 0)]);
        assert_eq!(batch.retain_partitions(|_| false), 1);
        assert!(batch.is_empty());
        assert_eq!(batch.bytes(), 0);
        assert_eq!(batch.due_at(&POLICY), None);
    }
}
