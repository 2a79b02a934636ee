//! Log lines about a repeated event, held back so that a flood of them is one line now and
//! then, with the count of what it stands for.

use std::time::{Duration, Instant};

/// When the last line was logged, and how many occurrences went unlogged since.
#[derive(Debug, Default)]
pub struct Throttle {
    last: Option<Instant>,
    unlogged: u64,
}

impl Throttle {
    /// Records one occurrence at `now`; when a line is due (none logged in the last `every`),
    /// returns how many occurrences it reports, this one included.
    pub fn record(&mut self, now: Instant, every: Duration) -> Option<u64> {
        self.unlogged += 1;
        if self.last.is_some_and(|at| now.duration_since(at) < every) {
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.unlogged))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVERY: Duration = Duration::from_secs(10);

    #[test]
    fn a_line_at_most_once_per_interval_with_the_count_between() {
        let mut throttle = Throttle::default();
        let start = Instant::now();
        assert_eq!(throttle.record(start, EVERY), Some(1));
        assert_eq!(throttle.record(start + Duration::from_secs(1), EVERY), None);
        assert_eq!(throttle.record(start + Duration::from_secs(9), EVERY), None);
        assert_eq!(
            throttle.record(start + Duration::from_secs(10), EVERY),
            Some(3)
        );
        assert_eq!(
            throttle.record(start + Duration::from_secs(25), EVERY),
            Some(1)
        );
    }
}
