//! Waiting for a condition with a deadline, instead of sleeping a fixed time.

use std::time::{Duration, Instant};

/// Polls `condition` every 50 ms until it holds (true) or `deadline` passes (false).
pub async fn wait_until<F, Fut>(deadline: Duration, mut condition: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    loop {
        if condition().await {
            return true;
        }
        if started.elapsed() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
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
pub async fn pick_one<T, F, Fut>(deadline: Duration, mut candidates: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Vec<T>>,
{
    let started = Instant::now();
    loop {
        let mut offered = candidates().await;
        if !offered.is_empty() {
            return Some(offered.swap_remove(fastrand::usize(..offered.len())));
        }
        if started.elapsed() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
