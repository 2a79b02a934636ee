//! Which of a partition's dead letters are already in the dead-letter topic, so that none is
//! written twice when the partition changes hands.
//!
//! A member that owned the partition may have written dead letters and then lost it before its
//! offsets were committed: killed, paused past its session, or cut off from the brokers. The
//! next owner reads those records again. So each commit carries, as its metadata, where in the
//! dead-letter topic the letters of not-yet-committed records can be: the next owner reads the
//! topic from there and skips the letters it finds.
//!
//! [`Letters`] is what an owner knows and owes of one partition's letters: those done indexing
//! and not yet written, where the topic's are known ([`LetterBook`]), and the backoff after a
//! failed attempt.
//!
//! All of a partition's letters go to one partition of the dead-letter topic (its number
//! modulo the topic's partition count), and one member writes them one batch at a time, each
//! acknowledged before the next: a letter written later has a higher offset there.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::dead_letter::DeadLetter;

/// Where a commit says a partition's unsettled letters can be found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LetterMark {
    pub topic: String,
    pub partition: i32,
    /// Letters of records at or after the committed offset are at or after this offset.
    pub from: i64,
}

impl LetterMark {
    /// The mark as offset commit metadata.
    pub fn to_metadata(&self) -> String {
        serde_json::json!({ "deadLetters": self }).to_string()
    }

    /// The mark in offset commit metadata; `None` for metadata of another kind (earlier
    /// versions committed none).
    pub fn from_metadata(metadata: &str) -> Option<LetterMark> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Metadata {
            dead_letters: LetterMark,
        }
        serde_json::from_str::<Metadata>(metadata)
            .ok()
            .map(|m| m.dead_letters)
    }
}

/// The dead-letter partition a source partition's letters go to.
pub fn letter_partition(source_partition: i32, letter_partitions: i32) -> i32 {
    source_partition.rem_euclid(letter_partitions.max(1))
}

/// One source partition's letters in the dead-letter topic, as this member knows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ledger {
    topic: String,
    partition: i32,
    /// Letters of records at or after the committed offset that are in the topic: the
    /// record's offset, and the letter's.
    written: BTreeMap<i64, i64>,
    /// Letters not in `written` are at or after this offset of the dead-letter partition.
    floor: i64,
}

impl Ledger {
    /// What a read of dead-letter partition `partition` of `topic`, up to `end`, found for a
    /// source partition that resumes at `resume`: `found` holds (record offset, letter offset).
    pub fn read(
        topic: &str,
        partition: i32,
        found: impl IntoIterator<Item = (i64, i64)>,
        resume: Option<i64>,
        end: i64,
    ) -> Ledger {
        Ledger {
            topic: topic.to_owned(),
            partition,
            written: found
                .into_iter()
                .filter(|(record, _)| resume.is_none_or(|r| *record >= r))
                .collect(),
            floor: end,
        }
    }

    /// The dead-letter partition this ledger is of.
    pub fn partition(&self) -> i32 {
        self.partition
    }

    /// Whether the letter of the record at `offset` is already in the topic.
    pub fn has(&self, offset: i64) -> bool {
        self.written.contains_key(&offset)
    }

    /// The letter of the record at `offset` was acknowledged at `letter_offset`.
    pub fn wrote(&mut self, offset: i64, letter_offset: i64) {
        self.written.insert(offset, letter_offset);
        self.floor = self.floor.max(letter_offset + 1);
    }

    /// The partition's offset `committed` was committed: letters of earlier records no longer
    /// need finding.
    pub fn committed(&mut self, committed: i64) {
        self.written = self.written.split_off(&committed);
    }

    /// What a commit records: letters of records not yet committed are at or after `from`.
    pub fn mark(&self) -> LetterMark {
        let from = self
            .written
            .values()
            .copied()
            .min()
            .map_or(self.floor, |first| first.min(self.floor));
        LetterMark {
            topic: self.topic.clone(),
            partition: self.partition,
            from,
        }
    }
}

/// Waits between attempts to settle a partition's dead letters, after a failure.
const LETTER_RETRY_BASE: Duration = Duration::from_millis(200);
const LETTER_RETRY_MAX: Duration = Duration::from_secs(10);

/// What a partition's owner knows of its letters already in the dead-letter topic.
#[derive(Debug)]
pub enum LetterBook {
    /// The topic must be read before any letter is written: at assignment (letters an earlier
    /// owner wrote), and after a write whose outcome is unknown. `mark` says where from.
    ToRead {
        mark: Option<LetterMark>,
    },
    /// The partition's log was recreated: letters in the topic are of the old log's offsets,
    /// so only letters written from now on count.
    FromEnd,
    Known(Ledger),
}

/// Where to read a partition's letters from, and what the read then knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LetterRead {
    pub letter_partition: i32,
    /// The first letter offset to read; `None`: from the partition's start.
    pub from: Option<i64>,
    /// Letters of records before this offset are settled (the partition's committed offset).
    pub resume: Option<i64>,
}

/// A partition's dead letters.
#[derive(Debug)]
pub struct Letters {
    /// Letters of records done indexing, not yet in the topic.
    pub owed: Vec<DeadLetter>,
    pub book: LetterBook,
    /// Failed attempts in a row, and when to try again.
    failures: u32,
    retry_at: Option<Instant>,
}

impl Letters {
    /// The letters of a partition just assigned: those in the topic are read from `mark`.
    pub fn new(mark: Option<LetterMark>) -> Self {
        Letters {
            owed: Vec::new(),
            book: LetterBook::ToRead { mark },
            failures: 0,
            retry_at: None,
        }
    }

    pub fn due(&self, now: Instant) -> bool {
        !self.owed.is_empty() && self.retry_at.is_none_or(|at| now >= at)
    }

    /// An attempt failed: the next waits a random while under a ceiling that doubles.
    pub fn failed(&mut self, now: Instant) {
        self.failures += 1;
        self.retry_at = Some(
            now + common::backoff::retry_wait(self.failures, LETTER_RETRY_BASE, LETTER_RETRY_MAX),
        );
    }

    pub fn failures(&self) -> u32 {
        self.failures
    }

    pub fn succeeded(&mut self) {
        self.failures = 0;
        self.retry_at = None;
    }

    /// What a commit of offset `committed` says about where the partition's letters are:
    /// known ones are forgotten below it.
    pub fn mark(&mut self, committed: i64) -> Option<LetterMark> {
        match &mut self.book {
            LetterBook::Known(ledger) => {
                ledger.committed(committed);
                Some(ledger.mark())
            }
            LetterBook::ToRead { mark } => mark.clone(),
            LetterBook::FromEnd => None,
        }
    }

    /// Where the topic must be read before a letter of `source_partition` is written, given
    /// the dead-letter topic's partition count and where the partition resumed; `None` when its
    /// letters there are known.
    pub fn to_read(
        &self,
        source_partition: i32,
        letter_partitions: i32,
        resume: Option<i64>,
    ) -> Option<LetterRead> {
        let letter_partition = letter_partition(source_partition, letter_partitions);
        match &self.book {
            LetterBook::Known(_) => None,
            LetterBook::ToRead { mark } => Some(LetterRead {
                letter_partition,
                // A mark of another partition (the topic's partition count changed) says
                // nothing of this one: read it all.
                from: mark
                    .as_ref()
                    .filter(|m| m.partition == letter_partition)
                    .map(|m| m.from),
                resume,
            }),
            // Nothing before the end counts: read past it, to learn where it is.
            LetterBook::FromEnd => Some(LetterRead {
                letter_partition,
                from: Some(i64::MAX),
                resume: None,
            }),
        }
    }

    /// The topic was read as `read` asked, up to `end`: `found` holds (record offset, letter
    /// offset) of the letters there.
    pub fn read(&mut self, topic: &str, read: &LetterRead, found: Vec<(i64, i64)>, end: i64) {
        self.book = LetterBook::Known(Ledger::read(
            topic,
            read.letter_partition,
            found,
            read.resume,
            end,
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::offsets::RecordRef;

    #[test]
    fn a_mark_is_json_metadata_and_reads_back() {
        let mark = LetterMark {
            topic: "select-color-dlq".into(),
            partition: 0,
            from: 41,
        };
        let metadata = mark.to_metadata();
        assert_eq!(
            metadata,
            r#"{"deadLetters":{"from":41,"partition":0,"topic":"select-color-dlq"}}"#
        );
        assert_eq!(LetterMark::from_metadata(&metadata), Some(mark));
        assert_eq!(LetterMark::from_metadata(""), None, "earlier versions");
        assert_eq!(LetterMark::from_metadata("{\"other\":1}"), None);
    }

    #[test]
    fn letters_of_a_partition_go_to_one_partition_of_the_letter_topic() {
        assert_eq!(letter_partition(5, 1), 0);
        assert_eq!(letter_partition(5, 3), 2);
        assert_eq!(letter_partition(5, 0), 0, "a count not known yet");
    }

    #[test]
    fn letters_found_before_the_resume_point_are_settled_already() {
        let ledger = Ledger::read("dlq", 0, [(8, 100), (12, 101), (15, 104)], Some(12), 110);
        assert!(!ledger.has(8), "committed past: never read again");
        assert!(ledger.has(12) && ledger.has(15));
        assert!(!ledger.has(13));
        assert_eq!(
            ledger.mark().from,
            101,
            "the first letter not committed past"
        );
    }

    #[test]
    fn the_mark_follows_the_commits_and_never_passes_a_letter_still_needed() {
        let mut ledger = Ledger::read("dlq", 0, [], Some(0), 50);
        assert_eq!(
            ledger.mark().from,
            50,
            "nothing found: from where the read ended"
        );
        ledger.wrote(7, 63);
        ledger.wrote(9, 64);
        assert_eq!(ledger.mark().from, 63);
        ledger.committed(8);
        assert_eq!(ledger.mark().from, 64);
        ledger.committed(10);
        assert_eq!(ledger.mark().from, 65, "past this member's last letter");
        assert!(!ledger.has(9));
    }

    fn mark(from: i64) -> LetterMark {
        LetterMark {
            topic: "dlq".into(),
            partition: 0,
            from,
        }
    }

    fn letter(offset: i64) -> DeadLetter {
        DeadLetter {
            record: RecordRef {
                partition: 0,
                offset,
                generation: 1,
            },
            key: None,
            payload: Some(b"x".to_vec()),
            status: None,
            kind: "invalid_event".into(),
            reason: "not an event".into(),
        }
    }

    #[test]
    fn letters_are_due_when_owed_and_back_off_after_each_failure_until_one_succeeds() {
        let start = Instant::now();
        let mut letters = Letters::new(None);
        assert!(!letters.due(start), "nothing owed");
        letters.owed.push(letter(5));
        assert!(letters.due(start));
        // Each wait is a random point below a ceiling that doubles, up to the cap.
        letters.failed(start);
        let first = letters.retry_at.unwrap();
        assert!(first <= start + LETTER_RETRY_BASE);
        assert_eq!(
            letters.due(start),
            first == start,
            "due again only once the wait is over"
        );
        assert!(letters.due(first));
        letters.failed(first);
        assert!(letters.retry_at.unwrap() <= first + 2 * LETTER_RETRY_BASE);
        for _ in 0..30 {
            letters.failed(start);
            assert!(letters.retry_at.unwrap() <= start + LETTER_RETRY_MAX);
        }
        letters.succeeded();
        assert_eq!(letters.failures, 0);
        assert!(letters.due(start), "a success ends the backoff");
    }

    #[test]
    fn a_commit_carries_where_the_letters_are_as_far_as_they_are_known() {
        // Not read yet: the mark the partition was assigned with is carried on.
        let mut unread = Letters::new(Some(mark(7)));
        assert_eq!(unread.mark(10), Some(mark(7)));
        // Read: letters of committed records are forgotten, the first one still owed marks.
        let mut known = Letters::new(None);
        let mut ledger = Ledger::read("dlq", 0, [(3, 20), (12, 21)], None, 22);
        ledger.wrote(15, 22);
        known.book = LetterBook::Known(ledger);
        assert_eq!(known.mark(10), Some(mark(21)));
        assert_eq!(known.mark(13), Some(mark(22)));
        assert_eq!(
            known.mark(16),
            Some(mark(23)),
            "none left: after the last written"
        );
        // A recreated log: no mark, as the topic's letters are of the old offsets.
        let mut fresh = Letters::new(Some(mark(7)));
        fresh.book = LetterBook::FromEnd;
        assert_eq!(fresh.mark(10), None);
    }
}
