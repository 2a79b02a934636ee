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
