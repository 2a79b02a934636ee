//! One owned partition's state, and what the landing loop may do next in each. Transitions are
//! pure: they name the effects (seek, pause, resume, commit) the loop then performs on the
//! consumer, so they are tested here without a broker or storage.
//!
//! ```text
//!            assigned                        recovery failed (retry later)
//!               │        ┌──────────────────────────────┐
//!               ▼        ▼                              │
//!          Recovering ───┴── claimed: seek, resume ──▶ Consuming ◀──── landed: commit ────┐
//!            ▲    ▲                                    │  │  │                          │
//!            │    └─ committed but not all visible ────┘  │  └─ no answer: pause ──▶ Failing
//!            │       yet: commit, pause                   │         (retried under the same
//!            │                                            │          claim; landed: commit,
//!            │                                            │          resume)
//!   no rebalance by                  refused (another member claimed): pause
//!   reclaim time ──── Fenced ◀────────────────────────────┘  (from Failing too)
//!
//!          Consuming ── a record behind the landed offset: pause ──▶ Halted
//!
//!          Consuming ── between landings, one change of the partition's files at a time,
//!              │        each holding its entry after ──▶ Consuming:
//!              ├─ an hour over for COMPACT_AFTER: merge it
//!              ├─ RETENTION set, and not looked for EXPIRY_INTERVAL: delete expired hours
//!              └─ an erasure request on file, everything before it landed: erase
//! ```
//!
//! A partition holds its claim ([`Held`]) while it consumes: landing publishes the next entry
//! of its commit log, which only succeeds while no other member claimed it. A refusal drops the
//! buffer (the holder lands those records) and waits for the rebalance that moves the partition;
//! if none comes, the partition is claimed again, as the assignment still stands.
//!
//! Merging, expiry and erasure are done under the same claim, between landings: one that is
//! refused or left unfinished takes the same paths as a landing that is. When each is due is
//! decided here, from the claim's entry and the clocks kept in [`Chores`], which go with the
//! claim: a partition claimed again starts them afresh.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use common::kafka::Continuity;

use lake::layout::{Destination, Dropped};
use lake::repeats::{RepeatWindow, Seen};
use lake::{ErasureRequest, Held, HourPartition, TopicRecord};

use crate::buffer::{FlushPolicy, FlushReason, PartitionBuffer};
use crate::chores::{Chores, Retry};
use crate::compaction::{self, CompactionPolicy};

/// Where an owned partition stands.
#[derive(Debug)]
pub enum Partition {
    /// Assigned, its fetching paused until a claim says where it resumes.
    Recovering { retry: Option<Retry> },
    /// Reading under the claim `held`: `next` is the offset the next record should have
    /// (unknown until the first record when nothing was ever landed); records wait in `buffer`.
    Consuming {
        held: Held,
        next: Option<i64>,
        buffer: PartitionBuffer,
        chores: Chores,
        repeats: RepeatWindow,
    },
    /// A landing brought no answer: fetching paused, the buffer kept and landed again at
    /// `retry`, under the same claim.
    Failing {
        held: Held,
        next: Option<i64>,
        buffer: PartitionBuffer,
        chores: Chores,
        repeats: RepeatWindow,
        retry: Retry,
        reason: String,
    },
    /// Another member claimed the partition: nothing is taken or landed. The rebalance that
    /// moves it normally follows at once; if none has come by `reclaim_at`, the assignment
    /// stands and the partition is claimed again.
    Fenced { holder: String, reclaim_at: Instant },
    /// The partition ends before its landed offset (the topic was recreated or lost records):
    /// nothing is taken or landed, so nothing lands under names already used.
    Halted,
}

/// What the loop does on the consumer after a transition, in this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Fetch from this offset (`None`: from the partition's beginning).
    Seek(Option<i64>),
    Pause,
    Resume,
    /// Commit this offset: everything before it is landed.
    Commit(i64),
}

/// What became of a record offered to the partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intake {
    /// Buffered; `due` when the buffer is now full by count or size.
    Taken { due: bool, continuity: Continuity },
    /// Not taken: the partition is not reading (recovering, failing, fenced, halted).
    Ignored,
    /// Not taken: older than the offset expected, so the broker moved the position back.
    Behind { expected: i64 },
}

impl Partition {
    /// A partition just assigned.
    pub fn assigned() -> Partition {
        Partition::Recovering { retry: None }
    }

    /// Offers a record read from the broker. A click the repeat window has seen within it is
    /// taken as landed past ([`Dropped::Repeat`]).
    pub fn take(&mut self, mut record: TopicRecord, now: Instant, policy: &FlushPolicy) -> Intake {
        let Partition::Consuming {
            next,
            buffer,
            repeats,
            ..
        } = self
        else {
            return Intake::Ignored;
        };
        let continuity = Continuity::of(*next, record.offset);
        if let Continuity::Behind { expected } = continuity {
            return Intake::Behind { expected };
        }
        *next = Some(record.offset + 1);
        let landed = matches!(
            record.destination,
            Destination::Hour(_) | Destination::Invalid
        );
        if let Some(event) = &record.event
            && landed
            && repeats.see(event.id, event.received_at) == Seen::Repeat
        {
            record.drop_as(Dropped::Repeat);
        }
        buffer.push(record, now);
        let due = matches!(
            buffer.due(policy, now),
            Some(FlushReason::Records | FlushReason::Bytes)
        );
        Intake::Taken { due, continuity }
    }

    /// Whether the partition should be claimed now: when it was assigned (or lost track of
    /// its claim) and its retry is due, or when it was fenced and no rebalance came.
    pub fn recovery_due(&self, now: Instant) -> bool {
        match self {
            Partition::Recovering { retry } => retry.is_none_or(|r| now >= r.at),
            Partition::Fenced { reclaim_at, .. } => now >= *reclaim_at,
            _ => false,
        }
    }

    /// The partition is claimed: it resumes after the claim's last offset, with the repeat
    /// window its landed files give.
    pub fn claimed(&mut self, held: Held, repeats: RepeatWindow) -> Vec<Effect> {
        let next = held.last_offset.map(|l| l + 1);
        *self = Partition::Consuming {
            held,
            next,
            buffer: PartitionBuffer::default(),
            chores: Chores::default(),
            repeats,
        };
        vec![Effect::Seek(next), Effect::Resume]
    }

    /// Storage did not answer the claim; it is tried again later.
    pub fn recovery_failed(&mut self, now: Instant, backoff: impl Fn(u32) -> Duration) {
        let failures = match self {
            Partition::Recovering { retry } => retry.map_or(1, |r| r.failures + 1),
            Partition::Fenced { .. } => 1,
            _ => return,
        };
        *self = Partition::Recovering {
            retry: Some(Retry::after(failures, now, backoff)),
        };
    }

    /// Whether the buffer should be landed now, and why: full or old enough while consuming,
    /// at its retry while failing, and anything buffered when stopping.
    pub fn landing_due(
        &self,
        policy: &FlushPolicy,
        now: Instant,
        stopping: bool,
    ) -> Option<FlushReason> {
        match self {
            Partition::Consuming { buffer, .. } if stopping && !buffer.is_empty() => {
                Some(FlushReason::Shutdown)
            }
            Partition::Consuming { buffer, .. } => buffer.due(policy, now),
            Partition::Failing { buffer, retry, .. } if stopping || now >= retry.at => {
                if buffer.is_empty() {
                    None
                } else if stopping {
                    Some(FlushReason::Shutdown)
                } else {
                    // A retry of a landing that failed.
                    Some(FlushReason::Age)
                }
            }
            _ => None,
        }
    }

    /// The hour to merge now, and the claim to merge it under: only while consuming, as a
    /// partition whose landing fails, or that another member holds, publishes nothing.
    pub fn compaction_due(
        &self,
        now: DateTime<Utc>,
        policy: &CompactionPolicy,
    ) -> Option<(HourPartition, &Held)> {
        match self {
            Partition::Consuming { held, .. } => {
                compaction::due_hour(&held.uncompacted, now, policy).map(|hour| (hour, held))
            }
            _ => None,
        }
    }

    /// A compaction, an expiry or an erasure was published, or a compaction's hour had nothing
    /// to merge: `held` is what the partition holds now. The buffer stays, to be landed under it.
    pub fn rewritten(&mut self, now_held: Held) {
        if let Partition::Consuming { held, .. } = self {
            *held = now_held;
        }
    }

    /// The claim to look for expired hours under, when that is due at `now`: only while
    /// consuming ([`Chores::expiry_due`]).
    pub fn expiry_due(&self, now: Instant) -> Option<&Held> {
        match self {
            Partition::Consuming { held, chores, .. } if chores.expiry_due(now) => Some(held),
            _ => None,
        }
    }

    /// The partition looked for expired hours at `now`.
    pub fn expiry_checked(&mut self, now: Instant) {
        if let Some(chores) = self.chores() {
            chores.expiry_checked(now);
        }
    }

    /// The first of `requests` due on the partition (number `partition`), and the claim to
    /// carry it out under: only while consuming, once everything produced before the request
    /// is landed, if it was not carried out here already and is not waiting after a failure.
    pub fn erasure_due<'r>(
        &self,
        partition: i32,
        requests: &'r [ErasureRequest],
        now: Instant,
    ) -> Option<(&'r ErasureRequest, &Held)> {
        let Partition::Consuming { held, chores, .. } = self else {
            return None;
        };
        requests
            .iter()
            .find(|r| {
                !held.has_erased(&r.id)
                    && r.due(partition, held.last_offset)
                    && !chores.erasure_waits(&r.id, now)
            })
            .map(|r| (r, held))
    }

    /// An erasure of `request` failed at `now` ([`Chores::erasure_failed`]): the failures in a
    /// row, and whether to say so in the log.
    pub fn erasure_failed(
        &mut self,
        request: &str,
        now: Instant,
        backoff: impl Fn(u32) -> Duration,
    ) -> (u32, bool) {
        match self.chores() {
            Some(chores) => chores.erasure_failed(request, now, backoff),
            None => (0, false),
        }
    }

    /// An erasure of `request` was carried out: it is no longer retried.
    pub fn erasure_done(&mut self, request: &str) {
        if let Some(chores) = self.chores() {
            chores.erasure_done(request);
        }
    }

    /// The chores' clocks, while consuming.
    fn chores(&mut self) -> Option<&mut Chores> {
        match self {
            Partition::Consuming { chores, .. } => Some(chores),
            _ => None,
        }
    }

    /// Drops the erasures no longer on file from what the next entry carries.
    pub fn keep_erasures(&mut self, on_file: impl Fn(&str) -> bool) {
        if let Partition::Consuming { held, .. } | Partition::Failing { held, .. } = self {
            held.erasures.retain(|e| on_file(&e.request));
        }
    }

    /// The claim a landing commits under, and the records it lands, in offset order.
    pub fn landing(&self) -> Option<(&Held, &[TopicRecord])> {
        match self {
            Partition::Consuming { held, buffer, .. } | Partition::Failing { held, buffer, .. } => {
                Some((held, buffer.records()))
            }
            _ => None,
        }
    }

    /// How many records are buffered.
    pub fn buffered(&self) -> usize {
        self.landing().map_or(0, |(_, records)| records.len())
    }

    /// The buffer is landed, and its commit `held` is now the partition's latest entry.
    pub fn landed(&mut self, held: Held) -> Vec<Effect> {
        let was_failing = matches!(self, Partition::Failing { .. });
        let current = std::mem::replace(self, Partition::Halted);
        let (next, chores, repeats) = match current {
            Partition::Consuming {
                next,
                chores,
                repeats,
                ..
            }
            | Partition::Failing {
                next,
                chores,
                repeats,
                ..
            } => (next, chores, repeats),
            other => {
                *self = other;
                return Vec::new();
            }
        };
        let commit = held.last_offset.map(|l| Effect::Commit(l + 1));
        *self = Partition::Consuming {
            held,
            next,
            buffer: PartitionBuffer::default(),
            chores,
            repeats,
        };
        let mut effects: Vec<Effect> = commit.into_iter().collect();
        if was_failing {
            effects.push(Effect::Resume);
        }
        effects
    }

    /// The buffer is committed up to `last_offset`, but not all its files are visible yet:
    /// claiming the partition again finishes them, and reading resumes after that.
    pub fn committed_unfinished(&mut self, last_offset: i64) -> Vec<Effect> {
        let (was_reading, _) = self.leave(Partition::Recovering { retry: None });
        let mut effects = vec![Effect::Commit(last_offset + 1)];
        if was_reading {
            effects.push(Effect::Pause);
        }
        effects
    }

    /// A landing brought no answer (nothing was published, or its commit was and the answer
    /// was lost); the buffer is kept, fetching paused, and the landing made again later under
    /// the same claim, which finishes it either way.
    pub fn landing_failed(
        &mut self,
        reason: String,
        now: Instant,
        backoff: impl Fn(u32) -> Duration,
    ) -> Vec<Effect> {
        let current = std::mem::replace(self, Partition::Halted);
        let (held, next, buffer, chores, repeats, failures, effects) = match current {
            Partition::Consuming {
                held,
                next,
                buffer,
                chores,
                repeats,
            } => (held, next, buffer, chores, repeats, 1, vec![Effect::Pause]),
            Partition::Failing {
                held,
                next,
                buffer,
                chores,
                repeats,
                retry,
                ..
            } => (
                held,
                next,
                buffer,
                chores,
                repeats,
                retry.failures + 1,
                Vec::new(),
            ),
            other => {
                *self = other;
                return Vec::new();
            }
        };
        *self = Partition::Failing {
            held,
            next,
            buffer,
            chores,
            repeats,
            retry: Retry::after(failures, now, backoff),
            reason,
        };
        effects
    }

    /// Another member, `holder`, claimed the partition and its landing was refused: the buffer
    /// is dropped and nothing is read until a rebalance, or `reclaim_at`.
    pub fn refused(&mut self, holder: String, reclaim_at: Instant) -> (Vec<Effect>, usize) {
        let (was_reading, dropped) = self.leave(Partition::Fenced { holder, reclaim_at });
        (pause_if(was_reading), dropped)
    }

    /// Stops taking and landing records for good; returns the effects and the records dropped.
    pub fn halt(&mut self) -> (Vec<Effect>, usize) {
        let (was_reading, dropped) = self.leave(Partition::Halted);
        (pause_if(was_reading), dropped)
    }

    /// Moves to `next`, which reads nothing; says whether fetching was on, and how many
    /// buffered records were dropped.
    fn leave(&mut self, next: Partition) -> (bool, usize) {
        let dropped = self.buffered();
        let was_reading = matches!(self, Partition::Consuming { .. });
        *self = next;
        (was_reading, dropped)
    }

    /// The offset before which everything is landed: the first buffered record's, or the next
    /// expected when nothing is buffered. Offsets may have gaps, so it is not counted back
    /// from `next`.
    pub fn landed_position(&self) -> Option<i64> {
        match self {
            Partition::Consuming { next, buffer, .. } | Partition::Failing { next, buffer, .. } => {
                buffer.records().first().map(|r| r.offset).or(*next)
            }
            _ => None,
        }
    }

    /// Why landing fails, while it does.
    pub fn failing(&self) -> Option<&str> {
        match self {
            Partition::Failing { reason, .. } => Some(reason),
            _ => None,
        }
    }

    /// Who holds the partition, while this member is fenced from it.
    pub fn fenced_by(&self) -> Option<&str> {
        match self {
            Partition::Fenced { holder, .. } => Some(holder),
            _ => None,
        }
    }

    pub fn is_halted(&self) -> bool {
        matches!(self, Partition::Halted)
    }
}

fn pause_if(was_reading: bool) -> Vec<Effect> {
    if was_reading {
        vec![Effect::Pause]
    } else {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lake::commit_log::{Owner, Recorded};

    use crate::buffer::test_record as record;
    use crate::chores::EXPIRY_INTERVAL;

    const POLICY: FlushPolicy = FlushPolicy {
        max_records: 3,
        max_bytes: 1 << 20,
        max_age: Duration::from_secs(5),
    };

    fn second(n: u32) -> Duration {
        Duration::from_secs(u64::from(n))
    }

    /// The claim a member publishes as entry `seq`, resuming after `last`.
    fn claim(seq: u64, last: Option<i64>) -> Held {
        Held {
            seq,
            owner: Owner::new("host pid 1 worker 0"),
            last_offset: last,
            uncompacted: Default::default(),
            erasures: Vec::new(),
        }
    }

    /// A window that finds no repeat.
    fn no_repeats() -> RepeatWindow {
        RepeatWindow::new(Duration::ZERO)
    }

    fn consuming_from(last: Option<i64>) -> Partition {
        let mut partition = Partition::assigned();
        partition.claimed(claim(0, last), no_repeats());
        partition
    }

    /// What the landing of the partition's buffer publishes: the next entry, under its claim.
    fn commit_of(partition: &Partition) -> Held {
        commit_in(partition, "dt=2026-12-03/hour=10")
    }

    /// What the landing of the partition's buffer into `hour` publishes.
    fn commit_in(partition: &Partition, hour: &str) -> Held {
        let (held, records) = partition.landing().expect("holds a claim");
        let hour = HourPartition::parse_dir(hour).unwrap();
        let landed_at = hour.end() - chrono::Duration::seconds(1);
        let landing = Recorded::Landing {
            last_offset: records.last().unwrap().offset,
            hours: vec![hour],
            at: landed_at,
        };
        let (seq, entry) = held.next(&landing, Vec::new(), Vec::new());
        held.published(seq, &entry)
    }

    const COMPACTION: CompactionPolicy = CompactionPolicy {
        after: Some(Duration::from_secs(600)),
        target_bytes: 1 << 20,
    };

    fn utc(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    #[test]
    fn a_copy_of_a_click_in_the_window_is_taken_as_landed_past() {
        let first = record(11);
        let event = first.event.expect("an event");
        let mut seen = RepeatWindow::new(Duration::from_secs(600));
        // The window a new holder rebuilt from the landed files holds the click at 11.
        seen.see(event.id, event.received_at);
        let mut partition = Partition::assigned();
        partition.claimed(claim(3, Some(11)), seen);
        let mut copy = first.clone();
        copy.offset = 12;
        let now = Instant::now();
        partition.take(copy.clone(), now, &POLICY);
        partition.take(record(13), now, &POLICY);
        copy.offset = 14;
        partition.take(copy, now, &POLICY);
        let (_, records) = partition.landing().unwrap();
        let destinations: Vec<_> = records.iter().map(|r| r.destination).collect();
        assert_eq!(destinations[0], Destination::Dropped(Dropped::Repeat));
        assert!(matches!(destinations[1], Destination::Hour(_)));
        assert_eq!(destinations[2], Destination::Dropped(Dropped::Repeat));
        assert_eq!(
            partition.landed_position(),
            Some(12),
            "a repeat is still read past"
        );
    }

    #[test]
    fn a_landed_hour_is_due_for_compaction_while_consuming_and_its_entry_is_then_held() {
        let now = Instant::now();
        let mut partition = consuming_from(Some(9));
        partition.take(record(10), now, &POLICY);
        let commit = commit_in(&partition, "dt=2026-12-03/hour=10");
        partition.landed(commit);
        assert_eq!(
            partition.compaction_due(utc("2026-12-03T11:09:00Z"), &COMPACTION),
            None
        );
        let (hour, held) = partition
            .compaction_due(utc("2026-12-03T11:10:00Z"), &COMPACTION)
            .expect("over for ten minutes");
        assert_eq!(hour.dir(), "dt=2026-12-03/hour=10");
        let compaction = Recorded::Compaction { hour };
        let (seq, entry) = held.next(&compaction, Vec::new(), Vec::new());
        let after = held.published(seq, &entry);
        partition.take(record(11), now, &POLICY);
        partition.rewritten(after);
        assert_eq!(
            partition.buffered(),
            1,
            "the buffer waits for the next landing"
        );
        assert_eq!(
            partition.landing().unwrap().0.seq,
            2,
            "which commits after the compaction"
        );
        assert_eq!(
            partition.compaction_due(utc("2026-12-03T12:00:00Z"), &COMPACTION),
            None
        );
    }

    #[test]
    fn expiry_is_looked_for_while_consuming_every_interval_and_afresh_after_a_new_claim() {
        let now = Instant::now();
        let mut partition = consuming_from(Some(9));
        assert!(partition.expiry_due(now).is_some(), "at once after a claim");
        partition.expiry_checked(now);
        assert!(partition.expiry_due(now + second(29)).is_none());
        assert!(partition.expiry_due(now + EXPIRY_INTERVAL).is_some());

        partition.take(record(10), now, &POLICY);
        partition.landing_failed("denied".into(), now, second);
        assert!(
            partition.expiry_due(now + EXPIRY_INTERVAL).is_none(),
            "a failing partition publishes nothing"
        );
        let commit = commit_of(&partition);
        partition.landed(commit);
        assert!(
            partition.expiry_due(now + second(29)).is_none(),
            "the clock stays with the claim through a failed landing"
        );

        partition.refused("b".into(), now);
        assert!(partition.expiry_due(now + EXPIRY_INTERVAL).is_none());
        partition.claimed(claim(5, Some(10)), no_repeats());
        assert!(
            partition.expiry_due(now + second(1)).is_some(),
            "a new claim looks again at once"
        );
    }

    #[test]
    fn an_erasure_is_due_once_everything_before_it_is_landed_and_only_once() {
        let now = Instant::now();
        let request = ErasureRequest::new([(0, 12), (1, 3)].into(), vec!["Ada".into()], vec![]);
        let requests = vec![request.clone()];
        let mut partition = consuming_from(Some(9));
        assert!(
            partition.erasure_due(0, &requests, now).is_none(),
            "offsets 10 and 11 are not landed yet"
        );
        let (due, held) = partition
            .erasure_due(1, &requests, now)
            .expect("partition 1 has all");
        assert_eq!((due.id.as_str(), held.seq), (request.id.as_str(), 0));
        for offset in 10..12 {
            partition.take(record(offset), now, &POLICY);
        }
        let commit = commit_of(&partition);
        partition.landed(commit);
        let (_, held) = partition
            .erasure_due(0, &requests, now)
            .expect("landed up to 11");
        let erased = lake::commit_log::Erased {
            request: request.id.clone(),
            ..Default::default()
        };
        let (seq, entry) = held.next(&Recorded::Erasure(erased), Vec::new(), Vec::new());
        let after = held.published(seq, &entry);
        partition.rewritten(after);
        assert!(
            partition.erasure_due(0, &requests, now).is_none(),
            "carried out on the partition"
        );
        partition.keep_erasures(|_| false);
        assert!(
            partition.erasure_due(0, &requests, now).is_some(),
            "a request filed again with the same id is carried out again"
        );
        partition.refused("b".into(), now);
        assert!(partition.erasure_due(0, &requests, now).is_none(), "fenced");
    }

    #[test]
    fn a_failing_erasure_waits_longer_each_time_is_logged_once_a_minute_and_stops_nothing() {
        let now = Instant::now();
        let request = ErasureRequest::new([(0, 5)].into(), vec!["Ada".into()], vec![]);
        let other = ErasureRequest::new([(0, 5)].into(), vec!["Bo".into()], vec![]);
        let requests = vec![request.clone(), other.clone()];
        let mut partition = consuming_from(Some(9));
        let backoff = |failures: u32| second(2u32.pow(failures - 1));
        assert_eq!(
            partition.erasure_failed(&request.id, now, backoff),
            (1, true)
        );
        let (due, _) = partition.erasure_due(0, &requests, now).unwrap();
        assert_eq!(due.id, other.id, "the next request goes ahead meanwhile");
        assert!(partition.erasure_due(0, &requests[..1], now).is_none());
        assert!(
            partition
                .erasure_due(0, &requests[..1], now + second(1))
                .is_some()
        );
        assert_eq!(
            partition.erasure_failed(&request.id, now + second(1), backoff),
            (2, false),
            "said a second ago"
        );
        assert!(
            partition
                .erasure_due(0, &requests[..1], now + second(2))
                .is_none()
        );
        assert!(
            partition
                .erasure_due(0, &requests[..1], now + second(3))
                .is_some()
        );
        assert_eq!(
            partition.erasure_failed(&request.id, now + second(61), backoff),
            (3, true),
            "a minute later, said again"
        );
        partition.take(record(10), now, &POLICY);
        assert_eq!(
            partition.landing_due(&POLICY, now + second(5), false),
            Some(FlushReason::Age),
            "landing goes on"
        );
        partition.erasure_done(&request.id);
        assert!(
            partition
                .erasure_due(0, &requests[..1], now + second(61))
                .is_some()
        );
    }

    #[test]
    fn a_failing_or_fenced_partition_compacts_nothing() {
        let now = Instant::now();
        let mut partition = consuming_from(Some(9));
        partition.take(record(10), now, &POLICY);
        let commit = commit_in(&partition, "dt=2026-12-03/hour=10");
        partition.landed(commit);
        let later = utc("2026-12-04T00:00:00Z");
        partition.take(record(11), now, &POLICY);
        partition.landing_failed("denied".into(), now, second);
        assert_eq!(partition.compaction_due(later, &COMPACTION), None);
        partition.refused("b".into(), now);
        assert_eq!(partition.compaction_due(later, &COMPACTION), None);
    }

    #[test]
    fn an_assigned_partition_takes_nothing_until_claimed_then_seeks_past_the_claim_and_resumes() {
        let now = Instant::now();
        let mut partition = Partition::assigned();
        assert!(partition.recovery_due(now));
        assert_eq!(partition.take(record(0), now, &POLICY), Intake::Ignored);
        assert!(
            partition.landing().is_none(),
            "no claim, nothing to land under"
        );

        partition.recovery_failed(now, second);
        assert!(!partition.recovery_due(now), "waits for its retry");
        assert!(partition.recovery_due(now + second(1)));
        partition.recovery_failed(now, second);
        assert!(!partition.recovery_due(now + second(1)), "waits longer");

        assert_eq!(
            partition.claimed(claim(7, Some(41)), no_repeats()),
            [Effect::Seek(Some(42)), Effect::Resume]
        );
        assert!(!partition.recovery_due(now + second(60)));
        assert!(matches!(
            partition.take(record(42), now, &POLICY),
            Intake::Taken {
                due: false,
                continuity: Continuity::InOrder
            }
        ));
        assert_eq!(
            partition.landing().unwrap().0.seq,
            7,
            "lands under its claim"
        );
        assert_eq!(
            consuming_from(None).landed_position(),
            None,
            "nothing landed yet"
        );
        assert_eq!(
            Partition::assigned().claimed(claim(0, None), no_repeats()),
            [Effect::Seek(None), Effect::Resume],
            "nothing ever landed: from the beginning"
        );
    }

    #[test]
    fn a_full_buffer_is_due_and_its_commit_becomes_the_claim_it_holds_next() {
        let now = Instant::now();
        let mut partition = consuming_from(Some(9));
        partition.take(record(10), now, &POLICY);
        partition.take(record(11), now, &POLICY);
        assert!(matches!(
            partition.take(record(12), now, &POLICY),
            Intake::Taken { due: true, .. }
        ));
        assert_eq!(
            partition.landing_due(&POLICY, now, false),
            Some(FlushReason::Records)
        );
        assert_eq!(partition.buffered(), 3);
        assert_eq!(partition.landed_position(), Some(10));
        let commit = commit_of(&partition);
        assert_eq!((commit.seq, commit.last_offset), (1, Some(12)));
        assert_eq!(partition.landed(commit), [Effect::Commit(13)]);
        assert_eq!(partition.buffered(), 0);
        assert_eq!(partition.landed_position(), Some(13));
        partition.take(record(13), now, &POLICY);
        assert_eq!(
            commit_of(&partition).seq,
            2,
            "the next landing publishes the entry after its own commit"
        );
    }

    #[test]
    fn a_refused_commit_drops_the_buffer_pauses_and_waits_for_the_rebalance_or_reclaims() {
        let now = Instant::now();
        let mut partition = consuming_from(Some(244));
        for offset in 245..=246 {
            partition.take(record(offset), now, &POLICY);
        }
        let reclaim_at = now + second(50);
        assert_eq!(
            partition.refused("host-b pid 9 worker 1 (claim x)".into(), reclaim_at),
            (vec![Effect::Pause], 2)
        );
        assert_eq!(
            partition.fenced_by(),
            Some("host-b pid 9 worker 1 (claim x)")
        );
        assert_eq!(partition.buffered(), 0);
        assert!(partition.landing().is_none(), "nothing left to land");
        assert_eq!(partition.landed_position(), None, "no lag counted for it");
        assert_eq!(partition.take(record(247), now, &POLICY), Intake::Ignored);
        assert_eq!(partition.landing_due(&POLICY, now + second(10), true), None);
        assert!(
            !partition.recovery_due(now + second(49)),
            "the rebalance comes first"
        );
        assert!(
            partition.recovery_due(reclaim_at),
            "no rebalance: claim again"
        );
        assert_eq!(
            partition.claimed(claim(9, Some(1196)), no_repeats()),
            [Effect::Seek(Some(1197)), Effect::Resume],
            "resumes after what the holder landed"
        );
    }

    #[test]
    fn a_fenced_partition_whose_claim_fails_retries_like_any_recovery() {
        let now = Instant::now();
        let mut partition = consuming_from(Some(1));
        partition.refused("b".into(), now);
        partition.recovery_failed(now, second);
        assert_eq!(partition.fenced_by(), None);
        assert!(!partition.recovery_due(now));
        assert!(partition.recovery_due(now + second(1)));
    }

    #[test]
    fn a_failing_partition_refused_at_its_retry_is_fenced_without_a_second_pause() {
        let now = Instant::now();
        let mut partition = consuming_from(Some(-1));
        partition.take(record(0), now, &POLICY);
        partition.landing_failed("denied".into(), now, second);
        assert_eq!(partition.refused("b".into(), now), (vec![], 1));
    }

    #[test]
    fn a_committed_batch_not_all_visible_is_counted_landed_and_finished_by_a_new_claim() {
        let now = Instant::now();
        let mut partition = consuming_from(Some(4));
        partition.take(record(5), now, &POLICY);
        assert_eq!(
            partition.committed_unfinished(5),
            [Effect::Commit(6), Effect::Pause]
        );
        assert!(partition.recovery_due(now), "claimed again at once");
        assert_eq!(partition.buffered(), 0);
    }

    #[test]
    fn a_failed_landing_pauses_keeps_the_buffer_and_retries_with_growing_waits() {
        let now = Instant::now();
        let mut partition = consuming_from(Some(-1));
        partition.take(record(0), now, &POLICY);
        partition.take(record(1), now, &POLICY);
        assert_eq!(
            partition.landing_failed("denied".into(), now, second),
            [Effect::Pause]
        );
        assert_eq!(partition.failing(), Some("denied"));
        assert_eq!(partition.take(record(2), now, &POLICY), Intake::Ignored);
        assert_eq!(partition.landing_due(&POLICY, now, false), None);
        assert_eq!(
            partition.landing_due(&POLICY, now + second(1), false),
            Some(FlushReason::Age)
        );
        assert_eq!(
            partition.landing_failed("denied".into(), now + second(1), second),
            [],
            "already paused"
        );
        assert_eq!(partition.landing_due(&POLICY, now + second(2), false), None);
        assert_eq!(
            partition.landing_due(&POLICY, now + second(3), false),
            Some(FlushReason::Age),
            "two failures: waits two seconds"
        );
        assert_eq!(
            partition.landing_due(&POLICY, now, true),
            Some(FlushReason::Shutdown),
            "stopping does not wait"
        );
        assert_eq!(partition.buffered(), 2);
        assert_eq!(
            partition.landing().unwrap().0.seq,
            0,
            "the retry commits under the same claim"
        );
        let commit = commit_of(&partition);
        assert_eq!(
            partition.landed(commit),
            [Effect::Commit(2), Effect::Resume]
        );
        assert_eq!(partition.failing(), None);
    }

    #[test]
    fn a_record_behind_the_landed_offset_is_not_taken_and_halting_drops_the_buffer() {
        let now = Instant::now();
        let mut partition = consuming_from(Some(43));
        partition.take(record(44), now, &POLICY);
        assert_eq!(
            partition.take(record(0), now, &POLICY),
            Intake::Behind { expected: 45 }
        );
        assert_eq!(partition.halt(), (vec![Effect::Pause], 1));
        assert!(partition.is_halted());
        assert_eq!(partition.take(record(1), now, &POLICY), Intake::Ignored);
        assert_eq!(partition.landing_due(&POLICY, now, true), None);
        assert!(
            !partition.recovery_due(now + second(3600)),
            "halted for good"
        );
    }

    #[test]
    fn a_gap_is_reported_and_the_record_still_taken() {
        let now = Instant::now();
        let mut partition = consuming_from(Some(99));
        assert_eq!(
            partition.take(record(250), now, &POLICY),
            Intake::Taken {
                due: false,
                continuity: Continuity::Gap {
                    expected: 100,
                    missing: 150
                }
            }
        );
        assert_eq!(partition.landed_position(), Some(250));
    }

    #[test]
    fn an_old_buffer_is_due_by_age_and_a_stop_lands_any() {
        let now = Instant::now();
        let mut partition = consuming_from(None);
        assert_eq!(partition.landing_due(&POLICY, now, true), None, "empty");
        partition.take(record(0), now, &POLICY);
        assert_eq!(partition.landing_due(&POLICY, now + second(4), false), None);
        assert_eq!(
            partition.landing_due(&POLICY, now + second(5), false),
            Some(FlushReason::Age)
        );
        assert_eq!(
            partition.landing_due(&POLICY, now, true),
            Some(FlushReason::Shutdown)
        );
    }
}
