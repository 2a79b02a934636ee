//! Spacing of retries, for both sinks: exponential, capped, with full jitter so that many
//! partitions retrying at once do not hit a recovering cluster or storage in step.

use std::time::Duration;

/// The wait before retry number `attempt`, jittered by a random draw.
pub fn retry_wait(attempt: u32, base: Duration, cap: Duration) -> Duration {
    jittered(attempt, base, cap, fastrand::f64())
}

/// The wait before retry number `attempt` (1 for the first retry): a point in
/// `[0, min(cap, base * 2^(attempt-1))]` chosen by `unit`, a number in `[0, 1)`.
pub fn jittered(attempt: u32, base: Duration, cap: Duration, unit: f64) -> Duration {
    let exponent = attempt.saturating_sub(1).min(30);
    let ceiling = base.saturating_mul(1 << exponent).min(cap);
    ceiling.mul_f64(unit.clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: Duration = Duration::from_millis(100);
    const CAP: Duration = Duration::from_secs(30);

    #[test]
    fn ceiling_doubles_until_the_cap() {
        assert_eq!(jittered(1, BASE, CAP, 1.0), Duration::from_millis(100));
        assert_eq!(jittered(2, BASE, CAP, 1.0), Duration::from_millis(200));
        assert_eq!(jittered(5, BASE, CAP, 1.0), Duration::from_millis(1600));
        assert_eq!(jittered(20, BASE, CAP, 1.0), CAP);
        assert_eq!(jittered(u32::MAX, BASE, CAP, 1.0), CAP);
    }

    #[test]
    fn jitter_spreads_waits_below_the_ceiling() {
        assert_eq!(jittered(3, BASE, CAP, 0.0), Duration::ZERO);
        assert_eq!(jittered(3, BASE, CAP, 0.5), Duration::from_millis(200));
        assert_eq!(
            jittered(3, BASE, CAP, 7.0),
            Duration::from_millis(400),
            "unit is clamped"
        );
    }
}
