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
    /// The record value when it differs from the indexed source (a multi-line value); else the
    /// source is the original.
    pub original: Option<Vec<u8>>,
}

impl PendingDoc {
    /// The dead letter for this document, refused with `status` and `reason`.
    pub fn dead_letter(&self, status: u16, reason: &str) -> DeadLetter {
        DeadLetter {
            record: self.record,
            key: self.key.clone(),
            payload: Some(
                self.original
                    .clone()
                    .unwrap_or_else(|| self.doc.source.clone()),
            ),
            status: Some(status),
            kind: failure_kind(reason),
            reason: reason.to_owned(),
        }
    }
}

/// A record read: a document to index, or a dead letter when it is not an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    Doc(PendingDoc),
    Dead(DeadLetter),
}

/// Turns a Kafka record into a document to index, or a dead letter when it is not an event.
pub fn classify_record(
    index_prefix: &str,
    record: RecordRef,
    key: Option<&[u8]>,
    payload: Option<&[u8]>,
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
    let doc = BulkDoc::for_event(index_prefix, &event, raw);
    let original = (doc.source != raw).then(|| raw.to_vec());
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
        }
    }

    pub fn len(&self) -> usize {
        self.docs.len() + self.invalid.len()
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
    }

    /// Drops the records of partitions `keep` says no to (revoked ones); returns how many.
    pub fn retain_partitions(&mut self, keep: impl Fn(i32) -> bool) -> usize {
        let before = self.len();
        self.docs.retain(|d| keep(d.record.partition));
        self.invalid.retain(|d| keep(d.record.partition));
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

    impl Entry {
        fn doc(self) -> PendingDoc {
            match self {
                Entry::Doc(doc) => doc,
                Entry::Dead(dead) => panic!("dead letter: {dead:?}"),
            }
        }
        fn dead(self) -> DeadLetter {
            match self {
                Entry::Dead(dead) => dead,
                Entry::Doc(doc) => panic!("document: {doc:?}"),
            }
        }
    }

    fn event_bytes() -> Vec<u8> {
        ColorEvent::sample("민수", "blue", Utc::now()).to_json_bytes()
    }

    #[test]
    fn a_valid_record_becomes_a_document_under_its_event_id() {
        let raw = event_bytes();
        let doc = classify_record("web-events", at(0, 7), None, Some(&raw)).doc();
        let event = ColorEvent::from_json_slice(&raw).unwrap();
        assert_eq!(doc.doc.id, event.event_id.to_string());
        assert_eq!(doc.doc.source, raw);
        assert_eq!(doc.original, None, "the source is the record itself");
        let dead = doc.dead_letter(400, "mapper_parsing_exception: failed to parse [x]");
        assert_eq!(dead.payload.as_deref(), Some(raw.as_slice()));
        assert_eq!(dead.kind, "mapper_parsing_exception");
        assert_eq!(dead.record, at(0, 7));
    }

    #[test]
    fn a_record_that_is_not_an_event_is_a_dead_letter_with_its_bytes() {
        let dead = classify_record("p", at(2, 9), Some(b"k"), Some(b"\xff not json")).dead();
        assert_eq!(dead.kind, INVALID_EVENT);
        assert_eq!(dead.payload.as_deref(), Some(&b"\xff not json"[..]));
        assert_eq!(dead.key.as_deref(), Some(&b"k"[..]));
        assert_eq!(dead.status, None);
        assert!(!dead.reason.is_empty());
        let empty = classify_record("p", at(2, 10), None, None).dead();
        assert_eq!(empty.reason, "record has no value");
    }

    #[test]
    fn a_multi_line_record_keeps_its_original_bytes_for_the_dead_letter_topic() {
        let event = ColorEvent::from_json_slice(&event_bytes()).unwrap();
        let pretty = serde_json::to_vec_pretty(&event).unwrap();
        let doc = classify_record("p", at(0, 1), None, Some(&pretty)).doc();
        assert_eq!(doc.original.as_deref(), Some(pretty.as_slice()));
        assert_eq!(
            doc.dead_letter(400, "x: y").payload.as_deref(),
            Some(pretty.as_slice())
        );
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
            batch.push(classify_record("p", at(0, offset), None, Some(&raw)), t0);
        }
        assert!(!batch.is_due(&POLICY, t0));
        assert!(batch.is_due(&POLICY, t0 + Duration::from_secs(1)), "linger");
        batch.push(classify_record("p", at(0, 2), None, Some(b"x")), t0);
        assert!(batch.is_due(&POLICY, t0), "count, invalid records included");

        let mut small = Batch::default();
        let tiny = BatchPolicy {
            max_bytes: raw.len(),
            ..POLICY
        };
        small.push(classify_record("p", at(0, 0), None, Some(&raw)), t0);
        assert!(small.is_due(&tiny, t0), "bytes");
    }

    #[test]
    fn revoked_partitions_leave_the_batch() {
        let t0 = Instant::now();
        let raw = event_bytes();
        let mut batch = Batch::default();
        batch.push(classify_record("p", at(0, 0), None, Some(&raw)), t0);
        batch.push(classify_record("p", at(1, 0), None, Some(&raw)), t0);
        batch.push(classify_record("p", at(1, 1), None, Some(b"bad")), t0);
        assert_eq!(batch.retain_partitions(|p| p != 1), 2);
        assert_eq!(batch.records().collect::<Vec<_>>(), vec![at(0, 0)]);
        assert_eq!(batch.retain_partitions(|_| false), 1);
        assert!(batch.is_empty());
        assert_eq!(batch.bytes(), 0);
        assert_eq!(batch.due_at(&POLICY), None);
    }
}
