//! Whether the consumer reads while every bulk slot is busy. For a while it simply stops
//! polling: librdkafka's local queue takes what is fetched meanwhile and stops fetching when
//! full. When that lasts (the cluster is struggling or gone), the partitions are paused and
//! polling goes on, so the group is still served and the member keeps its partitions.

use std::time::{Duration, Instant};

/// How long every bulk slot may stay busy before fetching is paused. Shorter waits are
/// absorbed by not polling; pausing drops what librdkafka prefetched, to be fetched again.
pub const PAUSE_AFTER: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Flow {
    /// A slot is free: poll and gather.
    #[default]
    Reading,
    /// Every slot busy since then: wait for a batch to finish, without polling.
    Held { since: Instant },
    /// Every slot busy for [`PAUSE_AFTER`]: the partitions are paused, and polling goes on.
    Paused,
}

impl Flow {
    /// The flow after the loop found every slot `busy`, or not, at `now`.
    pub fn next(self, busy: bool, now: Instant) -> Flow {
        match (self, busy) {
            (_, false) => Flow::Reading,
            (Flow::Reading, true) => Flow::Held { since: now },
            (Flow::Held { since }, true) if now.duration_since(since) >= PAUSE_AFTER => {
                Flow::Paused
            }
            (held @ Flow::Held { .. }, true) => held,
            (Flow::Paused, true) => Flow::Paused,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_slots_hold_reading_then_pause_it_and_a_free_slot_resumes_it() {
        let start = Instant::now();
        let second = Duration::from_secs(1);
        let held = Flow::Reading.next(true, start);
        assert_eq!(held, Flow::Held { since: start });
        assert_eq!(held.next(true, start + 4 * second), held, "not yet");
        let paused = held.next(true, start + PAUSE_AFTER);
        assert_eq!(paused, Flow::Paused);
        assert_eq!(paused.next(true, start + 60 * second), Flow::Paused);
        assert_eq!(paused.next(false, start + 61 * second), Flow::Reading);
    }

    #[test]
    fn a_slot_freed_while_held_starts_the_wait_afresh() {
        let start = Instant::now();
        let held = Flow::Reading.next(true, start);
        let reading = held.next(false, start + Duration::from_secs(4));
        assert_eq!(reading, Flow::Reading);
        let again = reading.next(true, start + Duration::from_secs(6));
        assert_eq!(
            again,
            Flow::Held {
                since: start + Duration::from_secs(6)
            }
        );
        assert_eq!(again.next(true, start + Duration::from_secs(10)), again);
    }

    #[test]
    fn reading_goes_on_while_a_slot_is_free() {
        let start = Instant::now();
        assert_eq!(Flow::Reading.next(false, start), Flow::Reading);
        assert_eq!(
            Flow::Reading.next(false, start + PAUSE_AFTER * 2),
            Flow::Reading
        );
    }
}
