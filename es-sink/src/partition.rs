//! One partition this member owns, and what the polling loop does next in each state.
//! Transitions are pure: they name the effects (seek, resume, commit with a mark, write
//! letters) the loop then performs on the consumer and the dead-letter topic, so they are
//! tested here without a broker.
//!
//! ```text
//!   assigned, paused                     lookup or seek failed: looked up again later
//!          │                             ┌──────────────────────────────────────┐
//!          ▼                             ▼                                      │
//!      Starting ── committed offset known: seek, resume ──▶ Owned, letters to read (from
//!                                                                │  ▲    the commit's mark)
//!                                                    topic read  │  │ a write not
//!                                                                ▼  │ acknowledged
//!      Owned, letters known ── letters owed: commit with a mark ──▶ write letters
//!          │   ▲   (synchronous; refused: kept, tried again later)        │
//!          │   └──────────────────────── written ────────────────────────┘
//!          │
//!          └─ a record behind the committed offset (the log was recreated) ──▶ letters to
//!             read from the topic's end
//!
//!   revoked, from any state: records in flight are waited for within the rebalance timeout
//!   (the callback's one wait), what is done is committed, and the rest is left to the next
//!   owner
//! ```
//!
//! Records are indexed in batches that finish out of order ([`PartitionOffsets`] says which
//! offset may be committed); an outcome from an earlier assignment of the partition carries an
//! older generation and is ignored.

use std::time::Instant;

use common::kafka::Continuity;

use crate::dead_letter::DeadLetter;
use crate::ledger::{LetterBook, LetterMark, LetterRead, Letters};
use crate::offsets::{PartitionOffsets, RecordRef};

/// Where an owned partition stands.
#[derive(Debug)]
pub enum Partition {
    /// Assigned, its fetching paused until the group's committed offset says where it
    /// resumes; looked up again at `retry_at` after a failure.
    Starting { retry_at: Option<Instant> },
    /// Read from where it resumed, its records indexed or dead-lettered.
    Owned(Box<Owned>),
}

#[derive(Debug)]
pub struct Owned {
    generation: u64,
    offsets: PartitionOffsets,
    /// Records of this partition in batches being indexed.
    in_flight: usize,
    /// Where reading resumed: the committed offset at assignment.
    resume: Option<i64>,
    letters: Letters,
}

/// What the loop does after a transition, in this order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Fetch from this offset (`None`: from the partition's beginning).
    Seek(Option<i64>),
    Resume,
    /// Commit this offset (everything before it is done), with where the partition's letters
    /// not settled yet are in the dead-letter topic.
    Commit {
        offset: i64,
        mark: Option<LetterMark>,
    },
    /// Write these letters to partition `to` of the dead-letter topic.
    WriteLetters {
        letters: Vec<DeadLetter>,
        to: i32,
    },
}

/// What settling a partition's owed letters asks for.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Settling {
    /// Letters owed that an earlier owner had written already: now done.
    pub found: usize,
    /// A synchronous commit, then the write; empty when nothing is left to write.
    pub effects: Vec<Effect>,
}

impl Partition {
    /// A partition just assigned.
    pub fn assigned() -> Partition {
        Partition::Starting { retry_at: None }
    }

    /// Whether its committed offset should be looked up now.
    pub fn start_due(&self, now: Instant) -> bool {
        matches!(self, Partition::Starting { retry_at } if retry_at.is_none_or(|at| now >= at))
    }

    pub fn is_starting(&self) -> bool {
        matches!(self, Partition::Starting { .. })
    }

    /// The group's committed offset is known (`None`: nothing was committed), with the mark
    /// it carried: reading resumes there, as assignment `generation`.
    pub fn started(
        &mut self,
        generation: u64,
        committed: Option<i64>,
        mark: Option<LetterMark>,
    ) -> Vec<Effect> {
        if !self.is_starting() {
            return Vec::new();
        }
        *self = Partition::Owned(Box::new(Owned {
            generation,
            offsets: PartitionOffsets::resuming_at(committed),
            in_flight: 0,
            resume: committed,
            letters: Letters::new(mark),
        }));
        vec![Effect::Seek(committed), Effect::Resume]
    }

    /// The lookup of the committed offset, or the seek there, failed: tried again at
    /// `retry_at`. Nothing was read yet.
    pub fn start_failed(&mut self, retry_at: Instant) {
        *self = Partition::Starting {
            retry_at: Some(retry_at),
        };
    }

    fn owned(&self) -> Option<&Owned> {
        match self {
            Partition::Owned(owned) => Some(owned),
            Partition::Starting { .. } => None,
        }
    }

    fn owned_mut(&mut self) -> Option<&mut Owned> {
        match self {
            Partition::Owned(owned) => Some(owned),
            Partition::Starting { .. } => None,
        }
    }

    /// A record at `offset` was read: where it is, and how it follows the one before. A
    /// record behind the committed offset means the log was recreated: letters in the topic
    /// are of the old log's offsets, so only those written from now on count. `None` while
    /// starting (a fetch that was in flight).
    pub fn read(&mut self, partition: i32, offset: i64) -> Option<(RecordRef, Continuity)> {
        let owned = self.owned_mut()?;
        let continuity = owned.offsets.read(offset);
        if let Continuity::Behind { .. } = continuity {
            owned.letters.book = LetterBook::FromEnd;
        }
        let record = RecordRef {
            partition,
            offset,
            generation: owned.generation,
        };
        Some((record, continuity))
    }

    /// A record of this partition was sent to be indexed.
    pub fn sent(&mut self) {
        if let Some(owned) = self.owned_mut() {
            owned.in_flight += 1;
        }
    }

    /// `record` was indexed. False when it was read under another assignment.
    pub fn indexed(&mut self, record: RecordRef) -> bool {
        match self.owned_mut() {
            Some(owned) if owned.generation == record.generation => {
                owned.offsets.done(record.offset);
                owned.in_flight -= 1;
                true
            }
            _ => false,
        }
    }

    /// A record came back as a dead letter, now owed to the topic. False (and dropped) when
    /// it was read under another assignment.
    pub fn dead_lettered(&mut self, letter: DeadLetter) -> bool {
        match self.owned_mut() {
            Some(owned) if owned.generation == letter.record.generation => {
                owned.letters.owed.push(letter);
                owned.in_flight -= 1;
                true
            }
            _ => false,
        }
    }

    /// The commit to send when the committable offset moved since the last one.
    pub fn take_commit(&mut self) -> Option<Effect> {
        let owned = self.owned_mut()?;
        let offset = owned.offsets.take_commit()?;
        let mark = owned.letters.mark(offset);
        Some(Effect::Commit { offset, mark })
    }

    /// Records being indexed.
    pub fn in_flight(&self) -> usize {
        self.owned().map_or(0, |owned| owned.in_flight)
    }

    /// Letters owed to the dead-letter topic.
    pub fn owed(&self) -> usize {
        self.owned().map_or(0, |owned| owned.letters.owed.len())
    }

    /// Where the partition stands for lag (see [`PartitionOffsets::position`]).
    pub fn position(&self) -> Option<i64> {
        self.owned().and_then(|owned| owned.offsets.position())
    }

    /// Records read and not yet done.
    pub fn outstanding(&self) -> usize {
        self.owned().map_or(0, |owned| owned.offsets.outstanding())
    }

    /// Whether owed letters should be settled now.
    pub fn letters_due(&self, now: Instant) -> bool {
        self.owned().is_some_and(|owned| owned.letters.due(now))
    }

    /// Failed attempts in a row at settling the letters.
    pub fn letter_failures(&self) -> u32 {
        self.owned().map_or(0, |owned| owned.letters.failures())
    }

    /// Where the dead-letter topic must be read before a letter of `partition` is written,
    /// given its partition count; `None` when the letters there are known.
    pub fn letters_to_read(&self, partition: i32, letter_partitions: i32) -> Option<LetterRead> {
        let owned = self.owned()?;
        owned
            .letters
            .to_read(partition, letter_partitions, owned.resume)
    }

    /// The topic was read as `read` asked, up to `end`, and held `found` (record offset,
    /// letter offset).
    pub fn letters_read(
        &mut self,
        topic: &str,
        read: &LetterRead,
        found: Vec<(i64, i64)>,
        end: i64,
    ) {
        if let Some(owned) = self.owned_mut() {
            owned.letters.read(topic, read, found, end);
        }
    }

    /// Settles the owed letters as far as the letters in the topic are known: those an
    /// earlier owner wrote are done; the rest are written after a commit, up to the first
    /// record not done, that says where they will be.
    pub fn settle(&mut self) -> Settling {
        let Some(owned) = self.owned_mut() else {
            return Settling::default();
        };
        let LetterBook::Known(ledger) = &owned.letters.book else {
            return Settling::default();
        };
        let to = ledger.partition();
        let (written, letters): (Vec<DeadLetter>, Vec<DeadLetter>) =
            std::mem::take(&mut owned.letters.owed)
                .into_iter()
                .partition(|letter| ledger.has(letter.record.offset));
        for letter in &written {
            owned.offsets.done(letter.record.offset);
        }
        let found = written.len();
        let Some(first) = letters.first() else {
            owned.letters.succeeded();
            return Settling {
                found,
                effects: Vec::new(),
            };
        };
        let offset = owned
            .offsets
            .committable()
            .or(owned.resume)
            .unwrap_or(first.record.offset);
        let mark = owned.letters.mark(offset);
        Settling {
            found,
            effects: vec![
                Effect::Commit { offset, mark },
                Effect::WriteLetters { letters, to },
            ],
        }
    }

    /// The commit before a write was refused: `letters` stay owed (dropped with the partition
    /// by the rebalance that follows).
    pub fn letters_unwritten(&mut self, letters: Vec<DeadLetter>) {
        if let Some(owned) = self.owned_mut() {
            owned.letters.owed.extend(letters);
        }
    }

    /// A settling attempt failed: the next waits a while, longer after each failure in a row.
    pub fn letters_failed(&mut self, now: Instant) {
        if let Some(owned) = self.owned_mut() {
            owned.letters.failed(now);
        }
    }

    /// `letters` were written, with an outcome each: those acknowledged are done; the others
    /// stay owed, and as a letter reported failed may have been written all the same, the
    /// topic is read again before they are.
    pub fn letters_written(
        &mut self,
        letters: Vec<DeadLetter>,
        outcomes: Vec<Result<i64, String>>,
    ) -> Result<(), String> {
        let Some(owned) = self.owned_mut() else {
            return Ok(());
        };
        let LetterBook::Known(ledger) = &mut owned.letters.book else {
            return Ok(());
        };
        let mut failed = false;
        for (letter, outcome) in letters.into_iter().zip(outcomes) {
            match outcome {
                Ok(at) => {
                    ledger.wrote(letter.record.offset, at);
                    owned.offsets.done(letter.record.offset);
                }
                Err(_) => {
                    failed = true;
                    owned.letters.owed.push(letter);
                }
            }
        }
        if failed {
            let mark = Some(ledger.mark());
            owned.letters.book = LetterBook::ToRead { mark };
            return Err("the dead-letter topic did not acknowledge every letter".to_owned());
        }
        owned.letters.succeeded();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn mark(from: i64) -> LetterMark {
        LetterMark {
            topic: "dlq".into(),
            partition: 1,
            from,
        }
    }

    /// A commit of `offset`, its mark saying letters are from `from` on.
    fn commit(offset: i64, from: Option<i64>) -> Option<Effect> {
        Some(Effect::Commit {
            offset,
            mark: from.map(mark),
        })
    }

    fn record(offset: i64, generation: u64) -> RecordRef {
        RecordRef {
            partition: 1,
            offset,
            generation,
        }
    }

    fn letter(offset: i64, generation: u64) -> DeadLetter {
        DeadLetter {
            record: record(offset, generation),
            key: None,
            payload: Some(b"not json".to_vec()),
            status: None,
            kind: "invalid_event".into(),
            reason: "not an event".into(),
        }
    }

    /// A partition owned under generation 1, resumed at `committed`, its letters in the topic
    /// known: `found` (record offset, letter offset), the topic's partition read up to `end`.
    fn known(committed: i64, found: Vec<(i64, i64)>, end: i64) -> Partition {
        let mut partition = Partition::assigned();
        partition.started(1, Some(committed), Some(mark(40)));
        let read = partition.letters_to_read(1, 3).expect("not read yet");
        partition.letters_read("dlq", &read, found, end);
        partition
    }

    #[test]
    fn a_partition_starts_where_the_group_committed_and_retries_a_failed_lookup() {
        let now = Instant::now();
        let mut partition = Partition::assigned();
        assert!(partition.start_due(now));
        assert_eq!(partition.read(1, 0), None, "nothing is read while starting");
        partition.start_failed(now + Duration::from_secs(1));
        assert!(!partition.start_due(now), "waits after a failed lookup");
        assert!(partition.start_due(now + Duration::from_secs(1)));

        assert_eq!(
            partition.started(7, Some(120), None),
            vec![Effect::Seek(Some(120)), Effect::Resume]
        );
        assert!(!partition.start_due(now + Duration::from_secs(5)));
        assert_eq!(
            partition.started(8, Some(0), None),
            Vec::new(),
            "started once per assignment"
        );
        assert_eq!(
            partition.read(1, 120),
            Some((
                RecordRef {
                    partition: 1,
                    offset: 120,
                    generation: 7
                },
                Continuity::InOrder
            ))
        );
        let mut fresh = Partition::assigned();
        assert_eq!(
            fresh.started(1, None, None),
            vec![Effect::Seek(None), Effect::Resume],
            "nothing committed: from the beginning"
        );
    }

    #[test]
    fn commits_move_to_the_first_record_not_done_and_ignore_outcomes_of_an_older_assignment() {
        let mut partition = known(10, Vec::new(), 50);
        for offset in 10..14 {
            partition.read(1, offset);
            partition.sent();
        }
        assert_eq!(partition.in_flight(), 4);
        assert!(partition.indexed(record(11, 1)));
        assert_eq!(
            partition.take_commit(),
            commit(10, Some(50)),
            "10 is not done: where reading resumed, with the mark"
        );
        assert_eq!(partition.take_commit(), None, "not moved since");
        assert!(!partition.indexed(record(10, 0)), "an earlier assignment's");
        assert!(partition.indexed(record(10, 1)));
        assert_eq!(
            partition.take_commit(),
            commit(12, Some(50)),
            "the mark: from where the read ended"
        );
        assert!(partition.dead_lettered(letter(12, 1)));
        assert!(
            !partition.dead_lettered(letter(13, 2)),
            "a later assignment's"
        );
        assert_eq!((partition.in_flight(), partition.owed()), (1, 1));
        assert_eq!(
            partition.outstanding(),
            2,
            "12 is owed to the topic, 13 in flight"
        );
    }

    #[test]
    fn letters_are_read_from_the_commits_mark_then_written_after_a_commit_that_says_where() {
        let mut partition = Partition::assigned();
        partition.started(1, Some(10), Some(mark(40)));
        assert_eq!(
            partition.letters_to_read(1, 3),
            Some(LetterRead {
                letter_partition: 1,
                from: Some(40),
                resume: Some(10)
            })
        );
        assert_eq!(
            partition.letters_to_read(5, 3).map(|read| read.from),
            Some(None),
            "a mark of another letter partition: all of it is read"
        );
        // An earlier owner wrote the letter of 11 (at 41) and of 8, committed past already.
        partition.letters_read(
            "dlq",
            &partition.letters_to_read(1, 3).unwrap(),
            vec![(8, 39), (11, 41)],
            42,
        );
        assert_eq!(partition.letters_to_read(1, 3), None, "known now");
        for offset in 10..14 {
            partition.read(1, offset);
            partition.sent();
        }
        partition.indexed(record(10, 1));
        partition.dead_lettered(letter(11, 1));
        partition.dead_lettered(letter(12, 1));
        let settling = partition.settle();
        assert_eq!(settling.found, 1, "11's letter is in the topic");
        assert_eq!(
            settling.effects,
            vec![
                commit(12, Some(42)).unwrap(),
                Effect::WriteLetters {
                    letters: vec![letter(12, 1)],
                    to: 1
                }
            ]
        );
        assert_eq!(
            partition.letters_written(vec![letter(12, 1)], vec![Ok(42)]),
            Ok(())
        );
        assert_eq!(partition.owed(), 0);
        partition.indexed(record(13, 1));
        assert_eq!(
            partition.take_commit(),
            commit(14, Some(43)),
            "past this member's last letter"
        );
    }

    #[test]
    fn a_letter_not_acknowledged_sends_the_owner_back_to_read_the_topic() {
        let mut partition = known(0, Vec::new(), 5);
        partition.read(1, 0);
        partition.sent();
        partition.dead_lettered(letter(0, 1));
        let written = match partition.settle().effects.pop() {
            Some(Effect::WriteLetters { letters, .. }) => letters,
            other => panic!("a write, not {other:?}"),
        };
        assert!(
            partition
                .letters_written(written, vec![Err("timed out".into())])
                .is_err()
        );
        assert_eq!(partition.owed(), 1, "still owed");
        assert_eq!(
            partition.letters_to_read(1, 3).map(|read| read.from),
            Some(Some(5)),
            "it may be there: read from the mark before writing again"
        );
        assert_eq!(
            partition.settle(),
            Settling::default(),
            "nothing until read"
        );
    }

    #[test]
    fn a_refused_commit_keeps_the_letters_and_backs_off() {
        let now = Instant::now();
        let mut partition = known(0, Vec::new(), 5);
        partition.read(1, 0);
        partition.sent();
        partition.dead_lettered(letter(0, 1));
        assert!(partition.letters_due(now));
        let Some(Effect::WriteLetters { letters, .. }) = partition.settle().effects.pop() else {
            panic!("a write");
        };
        partition.letters_unwritten(letters);
        partition.letters_failed(now);
        assert_eq!((partition.owed(), partition.letter_failures()), (1, 1));
        assert!(
            partition.letters_due(now + Duration::from_secs(11)),
            "after the backoff"
        );
    }

    #[test]
    fn a_record_behind_the_committed_offset_counts_only_letters_written_from_now_on() {
        let mut partition = known(100, vec![(100, 7)], 8);
        assert_eq!(
            partition.read(1, 3).map(|(_, continuity)| continuity),
            Some(Continuity::Behind { expected: 100 })
        );
        assert_eq!(
            partition.letters_to_read(1, 3),
            Some(LetterRead {
                letter_partition: 1,
                from: Some(i64::MAX),
                resume: None
            }),
            "read past the end, to learn where it is"
        );
        partition.sent();
        partition.indexed(record(3, 1));
        assert_eq!(
            partition.take_commit(),
            commit(4, None),
            "no mark: the topic's letters are of the old log"
        );
    }
}
