//! How both sinks run: their admin server on a listener bound before they start, their Kafka
//! polling loops each on a thread of its own, and one way to stop. On the shutdown future, or
//! when a loop ends by itself, every loop is told to stop; each finishes what it holds within
//! a deadline and says how many records it could not finish, then leaves its group, which needs
//! the brokers and may therefore hang; the host waits a little for that, then returns.
//!
//! Loops are plain threads, not tasks: librdkafka's `poll` and the rebalance callbacks it runs
//! block. A loop that cannot leave its group in time is left behind, not waited for.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::admin::{Progress, Readiness};
use crate::heartbeat::{Heartbeat, Heartbeats};

/// How long a loop may take, past its drain deadline, to make its last commit and say how its
/// drain went (es-sink's commit is synchronous).
const REPORT_SECS: u64 = 5;
/// How long loops may take to leave their groups once they have reported.
const LEAVE_SECS: u64 = 3;

/// The one slack a stop has over `SHUTDOWN_TIMEOUT`, and the only place it is added: loops
/// drain until `SHUTDOWN_TIMEOUT` ([`LoopContext::drain_timeout`]), then have up to 5 s to
/// commit and report and 3 s to leave their groups. A sink's stop ends within
/// `SHUTDOWN_TIMEOUT + STOP_MARGIN`, whatever is in flight.
pub const STOP_MARGIN: Duration = Duration::from_secs(REPORT_SECS + LEAVE_SECS);

/// How long a loop may go without making progress before `/readyz` turns red: a call stuck
/// that long (storage, a search cluster), or a loop that stopped.
pub const STALL_ALLOWED: Duration = Duration::from_secs(20);

/// An address a service listens on could not be bound.
#[derive(Debug, thiserror::Error)]
#[error("cannot listen on {addr}: {source}")]
pub struct BindError {
    pub addr: SocketAddr,
    pub source: std::io::Error,
}

/// Binds an address a service listens on; a service's `run` binds, then hands the listener to
/// `serve`.
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, BindError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| BindError { addr, source })
}

/// How a sink process starts, before its own `serve`: logging at `default_filter` (unless
/// `RUST_LOG` says otherwise) and its admin address bound, so a port in use fails the start at
/// once. (The C allocator is set up before this, in `main`: see [`crate::allocator`].)
pub async fn start_sink(
    log: &crate::telemetry::LogArgs,
    default_filter: &str,
    admin_addr: SocketAddr,
) -> Result<TcpListener, BindError> {
    crate::telemetry::init(log, default_filter);
    bind(admin_addr).await
}

/// The admin server, serving from its start until the host stops it.
pub struct AdminServer {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl AdminServer {
    /// Serves a sink's admin endpoints on `listener`: `/metrics` from `registry`, `/readyz` from
    /// the `loops`' progress and the sink's own `readiness`.
    pub fn for_sink(
        listener: TcpListener,
        registry: Registry,
        loops: Heartbeats,
        readiness: impl Readiness,
    ) -> AdminServer {
        let progress = Progress {
            loops,
            allowed: STALL_ALLOWED,
        };
        let router = crate::admin::router(registry, Some(progress), Arc::new(readiness));
        AdminServer::start(listener, router)
    }

    /// Serves `router` on `listener` (bound by the caller, so a test can use port 0).
    pub fn start(listener: TcpListener, router: axum::Router) -> AdminServer {
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(crate::http::serve_admin(listener, router, async {
            let _ = stopped.await;
        }));
        AdminServer { stop, task }
    }

    /// Stops serving, after the requests being answered.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

/// One polling loop: its name (its thread's, and in readiness) and its body.
pub struct PollLoop {
    pub name: String,
    pub body: Box<dyn FnOnce(LoopContext) + Send>,
}

impl PollLoop {
    pub fn new(name: impl Into<String>, body: impl FnOnce(LoopContext) + Send + 'static) -> Self {
        PollLoop {
            name: name.into(),
            body: Box::new(body),
        }
    }
}

/// What a loop gets from its host.
pub struct LoopContext {
    name: String,
    stopping: watch::Receiver<bool>,
    heartbeat: Heartbeat,
    drained: Option<mpsc::UnboundedSender<usize>>,
    exited: mpsc::UnboundedSender<String>,
    drain_timeout: Duration,
}

impl LoopContext {
    /// How long, once asked to stop, the loop may spend finishing what it holds
    /// (`SHUTDOWN_TIMEOUT`); the host allows [`STOP_MARGIN`] beyond it, and nothing else does.
    pub fn drain_timeout(&self) -> Duration {
        self.drain_timeout
    }

    /// Whether the host has asked the loops to stop.
    pub fn stopping(&self) -> bool {
        *self.stopping.borrow()
    }

    /// A receiver that turns true when the host asks the loops to stop, to give up calls.
    pub fn stop_signal(&self) -> watch::Receiver<bool> {
        self.stopping.clone()
    }

    /// The loop made progress; readiness watches for it.
    pub fn beat(&self) {
        self.heartbeat.beat();
    }

    /// Says, once, how many records the loop could not finish before its deadline; the host
    /// waits for this from every loop, then gives them a moment to leave their groups.
    pub fn drained(&mut self, unfinished: usize) {
        if let Some(drained) = self.drained.take() {
            let _ = drained.send(unfinished);
        }
    }
}

impl Drop for LoopContext {
    // Runs when the loop's thread ends, panic included: its end is noticed.
    fn drop(&mut self) {
        self.heartbeat.ended();
        let _ = self.exited.send(self.name.clone());
    }
}

/// How a host's run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The loop that ended by itself, which stopped the others.
    pub died: Option<String>,
    /// Records the loops said they could not finish.
    pub unfinished: usize,
    /// Loops that did not say how their drain went before its deadline.
    pub unreported: usize,
}

/// Runs `loops` (each with its heartbeat, in order) until `shutdown` resolves or a loop ends by
/// itself; then stops them, waits up to `drain_timeout` and [`STOP_MARGIN`] for each to say how
/// its drain went and to leave its group, and stops `admin`.
pub async fn supervise(
    admin: AdminServer,
    loops: Vec<PollLoop>,
    heartbeats: Vec<Heartbeat>,
    shutdown: impl Future<Output = ()>,
    drain_timeout: Duration,
) -> Outcome {
    assert_eq!(loops.len(), heartbeats.len(), "a heartbeat for each loop");
    let (stop, stopping) = watch::channel(false);
    let (exited_tx, mut exited) = mpsc::unbounded_channel::<String>();
    let (drained_tx, mut drained) = mpsc::unbounded_channel::<usize>();
    let running = loops.len();
    for (poll_loop, heartbeat) in loops.into_iter().zip(heartbeats) {
        let context = LoopContext {
            name: poll_loop.name.clone(),
            stopping: stopping.clone(),
            heartbeat,
            drained: Some(drained_tx.clone()),
            exited: exited_tx.clone(),
            drain_timeout,
        };
        let body = poll_loop.body;
        // Detached: a loop stuck leaving its group must not keep the process alive.
        std::thread::Builder::new()
            .name(poll_loop.name)
            .spawn(move || body(context))
            .expect("a thread starts");
    }
    drop((drained_tx, exited_tx));

    let died = tokio::select! {
        () = shutdown => None,
        Some(name) = exited.recv() => Some(name),
    };
    if let Some(name) = &died {
        tracing::error!(
            r#loop = name,
            "a loop stopped by itself; stopping the others"
        );
    }
    let _ = stop.send(true);

    let mut ended = usize::from(died.is_some());
    let (mut reported, mut unfinished) = (0, 0);
    let collect = async {
        while let Some(records) = drained.recv().await {
            reported += 1;
            unfinished += records;
        }
    };
    // Every loop's calls are bounded by the drain deadline; past it, its last commit and report.
    let _ = tokio::time::timeout(drain_timeout + Duration::from_secs(REPORT_SECS), collect).await;
    let leaving = async {
        while ended < running {
            if exited.recv().await.is_none() {
                break;
            }
            ended += 1;
        }
    };
    if tokio::time::timeout(Duration::from_secs(LEAVE_SECS), leaving)
        .await
        .is_err()
    {
        tracing::warn!(
            "loops did not leave their groups in time (brokers unreachable?); exiting without them"
        );
    }
    admin.stop().await;
    let expected = running - usize::from(died.is_some());
    Outcome {
        died,
        unfinished,
        unreported: expected.saturating_sub(reported),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::heartbeat::Heartbeats;

    async fn admin() -> AdminServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        AdminServer::start(listener, axum::Router::new())
    }

    fn loops(bodies: Vec<Box<dyn FnOnce(LoopContext) + Send>>) -> (Vec<PollLoop>, Vec<Heartbeat>) {
        let names: Vec<String> = (0..bodies.len()).map(|n| format!("loop-{n}")).collect();
        let (_, beats) = Heartbeats::new(names.clone());
        let loops = names
            .into_iter()
            .zip(bodies)
            .map(|(name, body)| PollLoop { name, body })
            .collect();
        (loops, beats)
    }

    /// A loop that runs until told to stop, then reports `unfinished` records.
    fn polite(unfinished: usize) -> Box<dyn FnOnce(LoopContext) + Send> {
        Box::new(move |mut context: LoopContext| {
            while !context.stopping() {
                context.beat();
                std::thread::sleep(Duration::from_millis(5));
            }
            context.drained(unfinished);
        })
    }

    #[tokio::test]
    async fn a_shutdown_stops_every_loop_and_adds_up_what_they_could_not_finish() {
        let (loops, beats) = loops(vec![polite(0), polite(7), polite(2)]);
        let outcome = supervise(
            admin().await,
            loops,
            beats,
            tokio::time::sleep(Duration::from_millis(50)),
            Duration::from_secs(5),
        )
        .await;
        assert_eq!(
            outcome,
            Outcome {
                died: None,
                unfinished: 9,
                unreported: 0
            }
        );
    }

    #[tokio::test]
    async fn a_loop_that_ends_by_itself_stops_the_others() {
        let dies: Box<dyn FnOnce(LoopContext) + Send> = Box::new(|_| {});
        let (loops, beats) = loops(vec![polite(0), dies]);
        let outcome = supervise(
            admin().await,
            loops,
            beats,
            std::future::pending(),
            Duration::from_secs(5),
        )
        .await;
        assert_eq!(outcome.died.as_deref(), Some("loop-1"));
        assert_eq!(outcome.unreported, 0);
    }

    #[tokio::test]
    async fn a_loop_that_never_reports_is_waited_for_only_until_the_deadline() {
        let stuck: Box<dyn FnOnce(LoopContext) + Send> = Box::new(|context| {
            while !context.stopping() {
                std::thread::sleep(Duration::from_millis(5));
            }
            std::thread::sleep(Duration::from_secs(30));
        });
        let (loops, beats) = loops(vec![polite(1), stuck]);
        let started = std::time::Instant::now();
        let drain_timeout = Duration::from_millis(100);
        let outcome = supervise(
            admin().await,
            loops,
            beats,
            tokio::time::sleep(Duration::from_millis(20)),
            drain_timeout,
        )
        .await;
        assert_eq!(outcome.unreported, 1);
        assert_eq!(outcome.unfinished, 1);
        let took = started.elapsed();
        assert!(
            took < drain_timeout + STOP_MARGIN + Duration::from_secs(1),
            "the stop took {took:?}, past the drain timeout and the stop margin"
        );
    }
}
