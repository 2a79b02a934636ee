//! Waiting for a condition with a deadline, instead of sleeping a fixed time.

use std::future::Future;
use std::time::{Duration, Instant};

/// Polls `condition` every 50 ms until it holds (true) or `deadline` passes (false).
pub async fn wait_until<F, Fut>(deadline: Duration, condition: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    poll_until(deadline, condition, |held| *held).await
}

/// Calls `probe` every 50 ms until what it answers is `done`, or `deadline` passes; returns its
/// last answer, so a caller that needs the value does not ask again.
pub async fn poll_until<T, F, Fut>(deadline: Duration, probe: F, done: impl Fn(&T) -> bool) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = T>,
{
    poll(deadline, Duration::from_millis(50), probe, done).await
}

async fn poll<T, F, Fut>(
    deadline: Duration,
    every: Duration,
    mut probe: F,
    done: impl Fn(&T) -> bool,
) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = T>,
{
    let started = Instant::now();
    loop {
        let answer = probe().await;
        if done(&answer) || started.elapsed() > deadline {
            return answer;
        }
        tokio::time::sleep(every).await;
    }
}

/// [`wait_until`] for a test that has no runtime: polls `condition` every 50 ms, blocking the
/// thread, until it holds (true) or `deadline` passes (false).
pub fn wait_until_blocking(deadline: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let started = Instant::now();
    loop {
        if condition() {
            return true;
        }
        if started.elapsed() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Polls `candidates` every 20 ms until it offers any, then picks one of them at random;
/// `None` when `deadline` passes first.
pub async fn pick_one<T, F, Fut>(deadline: Duration, candidates: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Vec<T>>,
{
    let mut offered = poll(
        deadline,
        Duration::from_millis(20),
        candidates,
        |offered: &Vec<T>| !offered.is_empty(),
    )
    .await;
    (!offered.is_empty()).then(|| offered.swap_remove(fastrand::usize(..offered.len())))
}
