//! Which offset of a partition may be committed: the first record that is neither indexed nor
//! dead-lettered. Bulk requests finish out of order, so a record done early waits for its
//! elders before the committed offset moves past it.

use std::collections::VecDeque;

use common::kafka::Continuity;

/// A record's place in Kafka, and the assignment of its partition that read it: an outcome
/// that arrives after the partition was revoked (and maybe assigned again) belongs to an
/// older generation and is ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RecordRef {
    pub partition: i32,
    pub offset: i64,
    pub generation: u64,
}

/// Offsets read from one partition and not yet committed past.
#[derive(Debug, Default)]
pub struct PartitionOffsets {
    /// Read records in offset order, with whether each is done.
    pending: VecDeque<(i64, bool)>,
    /// The offset after the last record read.
    next: Option<i64>,
    /// Where reading resumed (the committed offset), until the first record is read.
    resume: Option<i64>,
    /// The offset last committed (or handed to a commit).
    committed: Option<i64>,
}

impl PartitionOffsets {
    /// A partition whose reading resumes at `resume` (its committed offset), or from wherever
    /// the consumer starts when nothing was committed.
    pub fn resuming_at(resume: Option<i64>) -> Self {
        PartitionOffsets {
            resume,
            ..PartitionOffsets::default()
        }
    }

    /// Notes a record read, and says how its offset follows the previous one (or the resume
    /// point). A record behind them means the broker moved the position back past the log's
    /// end: what was pending belongs to a log that is gone, and tracking starts again here.
    pub fn read(&mut self, offset: i64) -> Continuity {
        let continuity = Continuity::of(self.next.or(self.resume), offset);
        if let Continuity::Behind { .. } = continuity {
            self.pending.clear();
            self.committed = None;
        }
        self.pending.push_back((offset, false));
        self.next = Some(offset + 1);
        continuity
    }

    /// Notes a record done (indexed or dead-lettered). False if it was not pending.
    pub fn done(&mut self, offset: i64) -> bool {
        let found = match self.pending.binary_search_by_key(&offset, |(o, _)| *o) {
            Ok(i) => {
                self.pending[i].1 = true;
                true
            }
            Err(_) => false,
        };
        while self.pending.front().is_some_and(|(_, done)| *done) {
            self.pending.pop_front();
        }
        found
    }

    /// The offset to commit: everything before it is done.
    pub fn committable(&self) -> Option<i64> {
        self.pending.front().map(|(o, _)| *o).or(self.next)
    }

    /// Where the partition stands for lag: before this offset everything is done, or was
    /// committed before reading resumed. `None` when nothing was ever committed or read.
    pub fn position(&self) -> Option<i64> {
        self.committable().or(self.resume)
    }

    /// The committable offset if it moved since the last call, which records it as committed.
    pub fn take_commit(&mut self) -> Option<i64> {
        let offset = self.committable()?;
        if self.committed == Some(offset) {
            return None;
        }
        self.committed = Some(offset);
        Some(offset)
    }

    /// Records read and not done.
    pub fn outstanding(&self) -> usize {
        self.pending.iter().filter(|(_, done)| !done).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_read_means_nothing_to_commit() {
        let mut offsets = PartitionOffsets::default();
        assert_eq!(offsets.committable(), None);
        assert_eq!(offsets.take_commit(), None);
    }

    #[test]
    fn the_position_is_the_resume_point_until_records_are_read() {
        assert_eq!(PartitionOffsets::default().position(), None);
        let mut offsets = PartitionOffsets::resuming_at(Some(40));
        assert_eq!(offsets.position(), Some(40));
        offsets.read(40);
        offsets.read(41);
        assert_eq!(offsets.position(), Some(40));
        offsets.done(40);
        assert_eq!(offsets.position(), Some(41));
        offsets.done(41);
        assert_eq!(offsets.position(), Some(42));
    }

    #[test]
    fn commit_stops_at_the_first_record_not_done() {
        let mut offsets = PartitionOffsets::default();
        for o in [10, 11, 12, 15] {
            offsets.read(o); // 13 and 14 are a gap
        }
        assert_eq!(offsets.committable(), Some(10));
        assert!(offsets.done(11));
        assert!(offsets.done(15));
        assert_eq!(offsets.committable(), Some(10), "11 and 15 wait for 10");
        assert_eq!(offsets.outstanding(), 2);
        assert!(offsets.done(10));
        assert_eq!(offsets.committable(), Some(12));
        assert!(offsets.done(12));
        assert_eq!(offsets.committable(), Some(16), "past the last record read");
        assert_eq!(offsets.outstanding(), 0);
    }

    #[test]
    fn a_gap_is_told_from_the_resume_point_then_from_the_last_record() {
        let mut offsets = PartitionOffsets::resuming_at(Some(100));
        assert_eq!(
            offsets.read(250),
            Continuity::Gap {
                expected: 100,
                missing: 150
            },
            "deleted by retention while the sink was away"
        );
        assert_eq!(offsets.read(251), Continuity::InOrder);
        assert_eq!(
            offsets.read(260),
            Continuity::Gap {
                expected: 252,
                missing: 8
            }
        );
        let mut fresh = PartitionOffsets::resuming_at(None);
        assert_eq!(fresh.read(7), Continuity::InOrder, "nothing expected yet");
    }

    #[test]
    fn a_position_moved_back_starts_tracking_again() {
        let mut offsets = PartitionOffsets::resuming_at(Some(44));
        assert_eq!(offsets.read(0), Continuity::Behind { expected: 44 });
        assert_eq!(offsets.take_commit(), Some(0), "nothing before 0 is done");
        offsets.done(0);
        assert_eq!(offsets.take_commit(), Some(1));
    }

    #[test]
    fn unknown_offsets_are_ignored() {
        let mut offsets = PartitionOffsets::default();
        offsets.read(5);
        assert!(!offsets.done(4));
        assert!(!offsets.done(6));
        assert_eq!(offsets.committable(), Some(5));
    }

    #[test]
    fn a_commit_is_taken_once_per_move() {
        let mut offsets = PartitionOffsets::default();
        offsets.read(0);
        offsets.read(1);
        assert_eq!(offsets.take_commit(), Some(0));
        assert_eq!(offsets.take_commit(), None);
        offsets.done(0);
        assert_eq!(offsets.take_commit(), Some(1));
        offsets.done(1);
        assert_eq!(offsets.take_commit(), Some(2));
        assert_eq!(offsets.take_commit(), None);
    }
}
