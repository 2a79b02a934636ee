//! Which of a partition's dead letters are already in the dead-letter topic, so that none is
//! written twice when the partition changes hands.
//!
//! A member that owned the partition may have written dead letters and then lost it before its
//! offsets were committed: killed, paused past its session, or cut off from the brokers. The
//! next owner reads those records again. So each commit carries, as its metadata, where in the
//! dead-letter topic the letters of not-yet-committed records can be: the next owner reads the
//! topic from there and skips the letters it finds.
//!
//! All of a partition's letters go to one partition of the dead-letter topic (its number
//! modulo the topic's partition count), and one member writes them one batch at a time, each
//! acknowledged before the next: a letter written later has a higher offset there.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
