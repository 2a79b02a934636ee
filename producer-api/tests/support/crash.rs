//! Helpers of the crash tests: when to kill, and how to stop a process politely.

use std::process::{Child, Command};
use std::time::{Duration, SystemTime};

/// A pseudo-random duration in [min, max), from the clock: enough to vary kill moments.
pub fn random_between(min: Duration, max: Duration) -> Duration {
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64;
    let span = (max - min).as_millis() as u64;
    min + Duration::from_millis(nanos.wrapping_mul(2_654_435_761) % span.max(1))
}

/// Lets `child` run for a random moment below `max` (at least half a second), then kills it
/// with SIGKILL and reaps it.
pub async fn kill_at_random_moment(child: &mut Child, max: Duration) {
    tokio::time::sleep(random_between(Duration::from_millis(500), max)).await;
    child.kill().expect("SIGKILL delivered");
    child.wait().unwrap();
}

/// Sends SIGTERM and waits for the process to exit.
pub fn terminate(child: &mut Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    child.wait().unwrap();
}
