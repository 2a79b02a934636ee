//! Helpers of the crash tests: when to kill, how to stop a process politely, and where its
//! log goes.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime};

use crate::collector::{RunningApi, post_bursts};

/// A pseudo-random duration in [min, max), from the clock: enough to vary kill moments.
pub fn random_between(min: Duration, max: Duration) -> Duration {
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64;
    let span = (max - min).as_millis() as u64;
    min + Duration::from_millis(nanos.wrapping_mul(2_654_435_761) % span.max(1))
}

/// One round of a crash test: `child`, whose admin server is `admin`, runs while 300 clicks
/// arrive in bursts, and dies by SIGKILL at a random moment below `window`. In the first round
/// the moment counts from its start, so it dies joining the group or recovering; in the others
/// from when `assigned_metric` says it owns partitions (a restart waits about two session
/// timeouts for the dead process's members to leave), so it dies among its real work. Returns
/// the ids of the clicks posted meanwhile.
pub async fn crash_round(
    api: &RunningApi,
    child: &mut Child,
    admin: SocketAddr,
    assigned_metric: &str,
    first_round: bool,
    window: Duration,
) -> Vec<uuid::Uuid> {
    let arriving = post_bursts(api, 300, 10, Duration::from_millis(100));
    let (posted, ()) = tokio::join!(arriving, async {
        if !first_round {
            let assigned = crate::wait::wait_until(Duration::from_secs(60), || async {
                crate::metrics::metric(admin, assigned_metric).await >= Some(1.0)
            })
            .await;
            assert!(
                assigned,
                "the restarted process owned no partition within 60 s"
            );
        }
        tokio::time::sleep(random_between(Duration::from_millis(200), window)).await;
    });
    child.kill().expect("SIGKILL delivered");
    child.wait().unwrap();
    posted
}

/// Lets `child` run for a random moment below `max` (at least half a second), then kills it
/// with SIGKILL and reaps it.
pub async fn kill_at_random_moment(child: &mut Child, max: Duration) {
    tokio::time::sleep(random_between(Duration::from_millis(500), max)).await;
    child.kill().expect("SIGKILL delivered");
    child.wait().unwrap();
}

/// Sends `signal` (`STOP`, `CONT`, `TERM`...) to the process.
pub fn signal(child: &Child, signal: &str) {
    if let Err(err) = send_signal(child.id(), signal) {
        panic!("SIG{signal} was not delivered: {err}");
    }
}

/// Sends `signal` (`TERM`, `STOP`, `CONT`, or `0` to ask whether the process exists) to `pid`,
/// a process this test did not start itself; `Err` says why it was not delivered.
pub fn send_signal(pid: u32, signal: &str) -> Result<(), String> {
    let output = Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| e.to_string())?;
    if output.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

/// Whether the process is stopped (by SIGSTOP, its own or another's), as `/proc` says.
pub fn is_stopped(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            let (_, after_name) = stat.rsplit_once(')')?;
            after_name
                .split_whitespace()
                .next()
                .map(|state| state == "T")
        })
        .unwrap_or(false)
}

/// Freezes the process (SIGSTOP): it keeps its sockets and memory, does nothing, and wakes up
/// on [`thaw`] believing no time has passed, as a paused VM or container does.
pub fn freeze(child: &Child) {
    signal(child, "STOP");
}

/// Lets a frozen process run again (SIGCONT).
pub fn thaw(child: &Child) {
    signal(child, "CONT");
}

/// Sends `signal` and waits up to `deadline` for the process to exit: its exit status (`None`
/// when it did not exit in time, and was then killed), and how long it took.
pub fn stop_within(
    child: &mut Child,
    signal: &str,
    deadline: Duration,
) -> (Option<std::process::ExitStatus>, Duration) {
    let started = std::time::Instant::now();
    self::signal(child, signal);
    let status = exit_within(child, deadline);
    (status, started.elapsed())
}

/// Waits up to `deadline` for the process to exit: its exit status, or `None` when it did not
/// exit in time, and was then killed.
pub fn exit_within(child: &mut Child, deadline: Duration) -> Option<std::process::ExitStatus> {
    let mut status = None;
    crate::wait::wait_until_blocking(deadline, || {
        status = child.try_wait().unwrap();
        status.is_some()
    });
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    status
}

/// Sends SIGTERM (if the process is still there) and waits up to a minute for it to exit:
/// longer than any sink's stop on its default `SHUTDOWN_TIMEOUT` and stop margin.
pub fn terminate(child: &mut Child) {
    let _ = send_signal(child.id(), "TERM");
    if exit_within(child, Duration::from_secs(60)).is_none() {
        panic!("pid {} still ran 60 s after SIGTERM; killed", child.id());
    }
}

/// Where a crash test writes a process's log: `dir`, or `CRASH_TEST_LOG_DIR` when set, so the
/// log outlives the test for a closer look.
pub fn log_path(dir: &Path, name: &str) -> std::path::PathBuf {
    match std::env::var_os("CRASH_TEST_LOG_DIR") {
        Some(kept) => Path::new(&kept).join(name),
        None => dir.join(name),
    }
}

/// A process a test started; killed when dropped, so a test that fails midway leaves nothing
/// running.
pub struct Process(Child);

impl std::ops::Deref for Process {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Process {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_none() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Starts `command` with its output appended to `log`, so a failing test can show what every
/// incarnation of the process said.
pub fn spawn_logged(command: &mut Command, log: &Path) -> Process {
    let file = || {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap()
    };
    Process(
        command
            .stdin(Stdio::null())
            .stdout(Stdio::from(file()))
            .stderr(Stdio::from(file()))
            .spawn()
            .expect("the binary starts"),
    )
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
