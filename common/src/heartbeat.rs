//! Progress of the loops a service runs, for readiness. A loop beats each time it goes round;
//! it is late when it has not beaten for longer than allowed (stuck in a call, deadlocked), and
//! gone when it ended without being asked to. Readiness is progress, not liveness.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A loop's last beat, in milliseconds since the set was made; [`ENDED`] once it ended,
/// [`NOT_STARTED`] before its first beat.
const ENDED: u64 = u64::MAX;
const NOT_STARTED: u64 = u64::MAX - 1;

/// The beats of a service's loops, read by its readiness.
#[derive(Debug, Clone)]
pub struct Heartbeats {
    started: Instant,
    names: Arc<[String]>,
    beats: Arc<[AtomicU64]>,
}

/// What one loop holds to beat.
#[derive(Debug)]
pub struct Heartbeat {
    started: Instant,
    index: usize,
    beats: Arc<[AtomicU64]>,
}

impl Heartbeat {
    /// The loop made progress now.
    pub fn beat(&self) {
        let millis = self.started.elapsed().as_millis() as u64;
        self.beats[self.index].store(millis.min(NOT_STARTED - 1), Ordering::Relaxed);
    }

    /// The loop ended; [`Heartbeats::check`] reports it gone.
    pub fn ended(&self) {
        self.beats[self.index].store(ENDED, Ordering::Relaxed);
    }
}

impl Heartbeats {
    /// A set of loops named `names`, none started yet.
    pub fn new(names: Vec<String>) -> (Heartbeats, Vec<Heartbeat>) {
        let started = Instant::now();
        let beats: Arc<[AtomicU64]> = names.iter().map(|_| AtomicU64::new(NOT_STARTED)).collect();
        let handles = (0..names.len())
            .map(|index| Heartbeat {
                started,
                index,
                beats: Arc::clone(&beats),
            })
            .collect();
        let set = Heartbeats {
            started,
            names: names.into(),
            beats,
        };
        (set, handles)
    }

    /// `Ok` while every loop beat within `allowed`; otherwise which did not, and for how long.
    pub fn check(&self, allowed: Duration) -> Result<(), String> {
        let now = self.started.elapsed().as_millis() as u64;
        let last: Vec<u64> = self
            .beats
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect();
        late_loops(&self.names, &last, now, allowed.as_millis() as u64)
    }
}

/// Which of `names` are gone or late at `now`, given their last beats (all in milliseconds).
fn late_loops(names: &[String], last: &[u64], now: u64, allowed: u64) -> Result<(), String> {
    let problems: Vec<String> = names
        .iter()
        .zip(last)
        .filter_map(|(name, &beat)| {
            if beat == ENDED {
                Some(format!("{name} stopped"))
            } else if beat == NOT_STARTED {
                Some(format!("{name} not started yet"))
            } else if now.saturating_sub(beat) > allowed {
                Some(format!(
                    "{name} made no progress for {:.1} s",
                    (now - beat) as f64 / 1000.0
                ))
            } else {
                None
            }
        })
        .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Vec<String> {
        vec!["worker-0".into(), "worker-1".into()]
    }

    #[test]
    fn loops_that_beat_in_time_are_on_time() {
        assert_eq!(late_loops(&names(), &[9_000, 9_500], 10_000, 5_000), Ok(()));
    }

    #[test]
    fn a_loop_that_stopped_beating_is_late() {
        let err = late_loops(&names(), &[9_000, 1_000], 10_000, 5_000).unwrap_err();
        assert_eq!(err, "worker-1 made no progress for 9.0 s");
    }

    #[test]
    fn a_loop_that_ended_is_gone() {
        let err = late_loops(&names(), &[ENDED, 9_000], 10_000, 5_000).unwrap_err();
        assert_eq!(err, "worker-0 stopped");
    }

    #[test]
    fn a_loop_not_started_yet_is_not_ready() {
        let err = late_loops(&names(), &[9_000, NOT_STARTED], 10_000, 5_000).unwrap_err();
        assert_eq!(err, "worker-1 not started yet");
    }

    #[test]
    fn beats_and_ends_are_seen_by_the_set() {
        let (set, handles) = Heartbeats::new(names());
        assert!(set.check(Duration::from_secs(60)).is_err(), "none started");
        handles[0].beat();
        handles[1].beat();
        assert_eq!(set.check(Duration::from_secs(60)), Ok(()));
        handles[1].ended();
        assert_eq!(
            set.check(Duration::from_secs(60)),
            Err("worker-1 stopped".into())
        );
        std::thread::sleep(Duration::from_millis(30));
        let late = set.check(Duration::from_millis(10)).unwrap_err();
        assert!(late.starts_with("worker-0 made no progress"), "{late}");
    }
}
