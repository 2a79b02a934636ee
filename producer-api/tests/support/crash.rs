//! Helpers of the crash tests: when to kill, how to stop a process politely, and where its
//! log goes.

use std::path::Path;
use std::process::{Child, Command, Stdio};
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

/// Where a crash test writes a process's log: `dir`, or `CRASH_TEST_LOG_DIR` when set, so the
/// log outlives the test for a closer look.
pub fn log_path(dir: &Path, name: &str) -> std::path::PathBuf {
    match std::env::var_os("CRASH_TEST_LOG_DIR") {
        Some(kept) => Path::new(&kept).join(name),
        None => dir.join(name),
    }
}

/// Starts `command` with its output appended to `log`, so a failing test can show what every
/// incarnation of the process said.
pub fn spawn_logged(command: &mut Command, log: &Path) -> Child {
    let file = || {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap()
    };
    command
        .stdin(Stdio::null())
        .stdout(Stdio::from(file()))
        .stderr(Stdio::from(file()))
        .spawn()
        .expect("the binary starts")
}

/// Prints the lines of `log` at WARN or ERROR (at most `max`), to explain a failure.
pub fn print_problems(log: &Path, max: usize) {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let problems: Vec<&str> = text
        .lines()
        .filter(|l| l.contains(" ERROR ") || l.contains(" WARN "))
        .collect();
    eprintln!("{} WARN/ERROR lines in {}:", problems.len(), log.display());
    for line in problems.iter().take(max) {
        eprintln!("  {line}");
    }
}
