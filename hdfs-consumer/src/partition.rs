//! One owned partition's state, and what the landing loop may do next in each. Transitions are
//! pure: they name the effects (seek, pause, resume, commit) the loop then performs on the
//! consumer, so they are tested here without a broker or storage.
//!
//! ```text
//!            assigned
//!               │
//!               ▼         recovery failed (retry later)
//!          Recovering ◀──────────────┐
//!               │ recovered: seek, resume
//!               ▼
//!   ┌────▶ Consuming ──── landing failed: pause ────▶ Failing ──┐ landing failed again
//!   │           │                                      │ ▲      │ (retry later)
//!   └── landed: commit         landed: commit, resume ◀┘ └──────┘
//!               │
//!               └── a record behind the checkpoint: pause ───▶ Halted
//! ```

use std::time::{Duration, Instant};

use common::kafka::Continuity;

use crate::buffer::{BufferedRecord, FlushPolicy, FlushReason, PartitionBuffer};

/// When a failed storage call is made again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    /// Failed attempts in a row.
    pub failures: u32,
    pub at: Instant,
}

impl Retry {
    /// The retry after `failures` failures in a row, `backoff(failures)` from `now`.
    fn after(failures: u32, now: Instant, backoff: impl Fn(u32) -> Duration) -> Retry {
        Retry {
            failures,
            at: now + backoff(failures),
        }
    }
}

/// Where an owned partition stands.
#[derive(Debug)]
pub enum Partition {
    /// Just assigned, its fetching paused until storage says where it resumes.
    Recovering { retry: Option<Retry> },
    /// Reading: `next` is the offset the next record should have (unknown until the first
    /// record when nothing of the partition was ever landed); records wait in `buffer`.
    Consuming {
        next: Option<i64>,
        buffer: PartitionBuffer,
    },
    /// A landing failed: fetching paused, the buffer kept and landed again at `retry`.
    Failing {
        next: Option<i64>,
        buffer: PartitionBuffer,
        retry: Retry,
        reason: String,
    },
    /// The partition ends before its checkpoint (the topic was recreated or lost records):
    /// nothing is taken or landed, so nothing lands under names the checkpoint already used.
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
    /// Not taken: the partition is not reading (recovering, failing, halted).
    Ignored,
    /// Not taken: older than the offset expected, so the broker moved the position back.
    Behind { expected: i64 },
}

impl Partition {
    /// A partition just assigned.
    pub fn assigned() -> Partition {
        Partition::Recovering { retry: None }
    }

    /// Offers a record read from the broker.
    pub fn take(&mut self, record: BufferedRecord, now: Instant, policy: &FlushPolicy) -> Intake {
        let Partition::Consuming { next, buffer } = self else {
            return Intake::Ignored;
        };
        let continuity = Continuity::of(*next, record.offset);
        if let Continuity::Behind { expected } = continuity {
            return Intake::Behind { expected };
        }
        *next = Some(record.offset + 1);
        buffer.push(record, now);
        let due = matches!(
            buffer.due(policy, now),
            Some(FlushReason::Records | FlushReason::Bytes)
        );
        Intake::Taken { due, continuity }
    }

    /// Whether recovery should be tried now.
    pub fn recovery_due(&self, now: Instant) -> bool {
        matches!(self, Partition::Recovering { retry } if retry.is_none_or(|r| now >= r.at))
    }

    /// Storage said the last landed offset (`None`: nothing landed yet).
    pub fn recovered(&mut self, last: Option<i64>) -> Vec<Effect> {
        let next = last.map(|l| l + 1);
        *self = Partition::Consuming {
            next,
            buffer: PartitionBuffer::default(),
        };
        vec![Effect::Seek(next), Effect::Resume]
    }

    /// Storage did not answer where to resume; it is asked again later.
    pub fn recovery_failed(&mut self, now: Instant, backoff: impl Fn(u32) -> Duration) {
        if let Partition::Recovering { retry } = self {
            let failures = retry.map_or(1, |r| r.failures + 1);
            *retry = Some(Retry::after(failures, now, backoff));
        }
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

    /// The buffered records, in offset order.
    pub fn buffered_records(&self) -> &[BufferedRecord] {
        match self {
            Partition::Consuming { buffer, .. } | Partition::Failing { buffer, .. } => {
                buffer.records()
            }
            _ => &[],
        }
    }

    /// How many records are buffered.
    pub fn buffered(&self) -> usize {
        self.buffered_records().len()
    }

    /// The buffer up to `last_offset` is landed.
    pub fn landed(&mut self, last_offset: i64) -> Vec<Effect> {
        let was_failing = matches!(self, Partition::Failing { .. });
        let next = match self {
            Partition::Consuming { next, .. } | Partition::Failing { next, .. } => *next,
            _ => return Vec::new(),
        };
        *self = Partition::Consuming {
            next,
            buffer: PartitionBuffer::default(),
        };
        let mut effects = vec![Effect::Commit(last_offset + 1)];
        if was_failing {
            effects.push(Effect::Resume);
        }
        effects
    }

    /// A landing failed for `reason`; the buffer is kept, fetching paused, and the landing
    /// tried again later.
    pub fn landing_failed(
        &mut self,
        reason: String,
        now: Instant,
        backoff: impl Fn(u32) -> Duration,
    ) -> Vec<Effect> {
        let current = std::mem::replace(self, Partition::Halted);
        let (next, buffer, failures, effects) = match current {
            Partition::Consuming { next, buffer } => (next, buffer, 1, vec![Effect::Pause]),
            Partition::Failing {
                next,
                buffer,
                retry,
                ..
            } => (next, buffer, retry.failures + 1, Vec::new()),
            other => {
                *self = other;
                return Vec::new();
            }
        };
        *self = Partition::Failing {
            next,
            buffer,
            retry: Retry::after(failures, now, backoff),
            reason,
        };
        effects
    }

    /// Stops taking and landing records for good; returns the effects and the records dropped.
    pub fn halt(&mut self) -> (Vec<Effect>, usize) {
        let dropped = self.buffered();
        let was_reading = matches!(self, Partition::Consuming { .. });
        *self = Partition::Halted;
        (
            if was_reading {
                vec![Effect::Pause]
            } else {
                Vec::new()
            },
            dropped,
        )
    }

    /// The offset before which everything is landed: the first buffered record's, or the next
    /// expected when nothing is buffered. Offsets may have gaps, so it is not counted back
    /// from `next`.
    pub fn landed_position(&self) -> Option<i64> {
        match self {
            Partition::Consuming { next, buffer } | Partition::Failing { next, buffer, .. } => {
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

    pub fn is_halted(&self) -> bool {
        matches!(self, Partition::Halted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::buffer::test_record as record;

    const POLICY: FlushPolicy = FlushPolicy {
        max_records: 3,
        max_bytes: 1 << 20,
        max_age: Duration::from_secs(5),
    };

    fn second(n: u32) -> Duration {
        Duration::from_secs(u64::from(n))
    }

    fn consuming_from(last: Option<i64>) -> Partition {
        let mut partition = Partition::assigned();
        partition.recovered(last);
        partition
    }

    #[test]
    fn an_assigned_partition_takes_nothing_until_recovered_then_seeks_and_resumes() {
        let now = Instant::now();
        let mut partition = Partition::assigned();
        assert!(partition.recovery_due(now));
        assert_eq!(partition.take(record(0), now, &POLICY), Intake::Ignored);

        partition.recovery_failed(now, second);
        assert!(!partition.recovery_due(now), "waits for its retry");
        assert!(partition.recovery_due(now + second(1)));
        partition.recovery_failed(now, second);
        assert!(!partition.recovery_due(now + second(1)), "waits longer");

        assert_eq!(
            partition.recovered(Some(41)),
            [Effect::Seek(Some(42)), Effect::Resume]
        );
        assert!(matches!(
            partition.take(record(42), now, &POLICY),
            Intake::Taken {
                due: false,
                continuity: Continuity::InOrder
            }
        ));
        assert_eq!(
            consuming_from(None).landed_position(),
            None,
            "nothing landed yet"
        );
    }

    #[test]
    fn a_full_buffer_is_due_and_landing_it_commits_after_its_last_record() {
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
        assert_eq!(partition.landed(12), [Effect::Commit(13)]);
        assert_eq!(partition.buffered(), 0);
        assert_eq!(partition.landed_position(), Some(13));
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
        assert_eq!(partition.landed(1), [Effect::Commit(2), Effect::Resume]);
        assert_eq!(partition.failing(), None);
    }

    #[test]
    fn a_record_behind_the_checkpoint_is_not_taken_and_halting_drops_the_buffer() {
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
