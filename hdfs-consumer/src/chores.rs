//! A claim's chores between landings, and their clocks (pure): when the partition's expired
//! hours were last looked for, and an erasure that failed here, which waits longer after each
//! failure and is said in the log at most once a minute. They go with the claim: a partition
//! claimed again starts them afresh.

use std::time::{Duration, Instant};

/// When a failed storage call is made again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    /// Failed attempts in a row.
    pub failures: u32,
    pub at: Instant,
}

impl Retry {
    /// The retry after `failures` failures in a row, `backoff(failures)` from `now`.
    pub fn after(failures: u32, now: Instant, backoff: impl Fn(u32) -> Duration) -> Retry {
        Retry {
            failures,
            at: now + backoff(failures),
        }
    }
}

/// How often a partition's expired hours are looked for.
pub const EXPIRY_INTERVAL: Duration = Duration::from_secs(30);

/// The clocks of a claim's chores between landings.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Chores {
    /// When the partition's expired hours were last looked for.
    expiry_checked: Option<Instant>,
    /// An erasure request that failed here, and when it is tried again.
    erasure_retry: Option<ErasureRetry>,
}

/// An erasure that failed on the partition: it is tried again with growing waits, and said in
/// the log at most once a minute, while every other chore and landing goes on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErasureRetry {
    pub request: String,
    pub retry: Retry,
    /// When its failure was last logged.
    pub logged_at: Instant,
}

/// The longest wait between two attempts at an erasure that fails.
pub const ERASURE_MAX_BACKOFF: Duration = Duration::from_secs(300);

/// How often a failing erasure is said in the log, at most.
pub const ERASURE_LOG_EVERY: Duration = Duration::from_secs(60);

impl Chores {
    /// Whether the expired hours should be looked for at `now`: every [`EXPIRY_INTERVAL`].
    pub fn expiry_due(&self, now: Instant) -> bool {
        self.expiry_checked
            .is_none_or(|at| now.duration_since(at) >= EXPIRY_INTERVAL)
    }

    /// They were looked for at `now`.
    pub fn expiry_checked(&mut self, now: Instant) {
        self.expiry_checked = Some(now);
    }

    /// Whether `request` failed here and waits for its retry at `now`.
    pub fn erasure_waits(&self, request: &str, now: Instant) -> bool {
        self.erasure_retry
            .as_ref()
            .is_some_and(|r| r.request == request && now < r.retry.at)
    }

    /// An erasure of `request` failed at `now`: it waits `backoff(failures in a row)` before it
    /// is tried again. Returns the failures in a row, and whether to say so in the log (the
    /// first time, then at most once per [`ERASURE_LOG_EVERY`]).
    pub fn erasure_failed(
        &mut self,
        request: &str,
        now: Instant,
        backoff: impl Fn(u32) -> Duration,
    ) -> (u32, bool) {
        let earlier = self.erasure_retry.take().filter(|r| r.request == request);
        let failures = earlier.as_ref().map_or(1, |r| r.retry.failures + 1);
        let log = earlier
            .as_ref()
            .is_none_or(|r| now.duration_since(r.logged_at) >= ERASURE_LOG_EVERY);
        self.erasure_retry = Some(ErasureRetry {
            request: request.to_owned(),
            retry: Retry::after(failures, now, backoff),
            logged_at: if log {
                now
            } else {
                earlier.map_or(now, |r| r.logged_at)
            },
        });
        (failures, log)
    }

    /// An erasure of `request` was carried out: it is no longer retried.
    pub fn erasure_done(&mut self, request: &str) {
        if self
            .erasure_retry
            .as_ref()
            .is_some_and(|r| r.request == request)
        {
            self.erasure_retry = None;
        }
    }
}
