//! Serving HTTP/1.1 with bounds on what one client can hold: a request's headers must arrive
//! within a time, a connection with nothing to say is closed, at most so many connections are
//! open at once (so that accepting never runs out of file descriptors), and a stop waits for
//! requests in flight, never for a client that trickles its headers.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::{Instant, Sleep};

use common::throttle::Throttle;

/// What one client may hold.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// A request's headers must arrive whole within this, from their first byte.
    pub header_read_timeout: Duration,
    /// A connection that neither sends nor receives anything for this long is closed.
    pub idle_timeout: Duration,
    /// Connections open at once; one more is closed as soon as it is accepted.
    pub max_connections: usize,
    /// On stop, how long requests in flight may take to finish.
    pub drain_timeout: Duration,
}

/// Serves `router` on `listener` until `shutdown` resolves, then lets requests in flight
/// finish within `limits.drain_timeout` and closes every connection.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let open = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let in_flight = Arc::new(AtomicUsize::new(0));
    let mut connections = JoinSet::new();
    let refusals = Mutex::new(Throttle::default());
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    tokio::pin!(shutdown);
    loop {
        // Finished connections are reaped as new ones come, so the set stays as large as
        // what is open.
        while connections.try_join_next().is_some() {}
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of descriptors or a connection reset before it was taken: wait a
                    // moment rather than spin.
                    tracing::warn!(%err, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(slot) = Arc::clone(&open).try_acquire_owned() else {
            let due = refusals
                .lock()
                .expect("not poisoned")
                .record(std::time::Instant::now(), Duration::from_secs(10));
            if let Some(refused) = due {
                tracing::warn!(
                    refused,
                    limit = limits.max_connections,
                    "connections closed at once: HTTP_MAX_CONNECTIONS are open"
                );
            }
            continue;
        };
        let _ = stream.set_nodelay(true);
        let io = TokioIo::new(ClientStream::new(stream, limits.idle_timeout));
        let service = CountInFlight {
            router: router.clone(),
            in_flight: Arc::clone(&in_flight),
            peer,
        };
        let connection = graceful.watch(http.serve_connection(io, service));
        connections.spawn(async move {
            // A client that goes away or times out is no error of the collector's.
            if let Err(err) = connection.await {
                tracing::debug!(%err, "connection ended");
            }
            drop(slot);
        });
    }
    drop(listener);
    // Every connection is told to close after its current request (idle ones close at once).
    // The stop waits for requests being handled, not for clients that are still sending their
    // headers: those have no request yet, and are dropped with the rest.
    let requests_done = async {
        while in_flight.load(Ordering::Acquire) > 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // Their answers are a few hundred bytes, written as soon as they are made.
        tokio::time::sleep(ANSWER_WRITE_GRACE).await;
    };
    let drained = tokio::time::timeout(limits.drain_timeout, async {
        tokio::select! {
            () = graceful.shutdown() => {}
            () = requests_done => {}
        }
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            timeout = ?limits.drain_timeout,
            in_flight = in_flight.load(Ordering::Acquire),
            "requests still in flight when the drain timeout passed were dropped"
        );
    }
    connections.abort_all();
}

/// After the last request in flight is answered, how long its connection has to write it.
const ANSWER_WRITE_GRACE: Duration = Duration::from_millis(100);

/// The router as hyper calls it, counting the requests it is handling, and telling each one
/// the address of the peer that sent it (axum's `ConnectInfo`).
#[derive(Clone)]
struct CountInFlight {
    router: Router,
    in_flight: Arc<AtomicUsize>,
    peer: SocketAddr,
}

impl hyper::service::Service<hyper::Request<hyper::body::Incoming>> for CountInFlight {
    type Response = axum::response::Response;
    type Error = std::convert::Infallible;
    type Future = Counted<axum::routing::future::RouteFuture<std::convert::Infallible>>;

    fn call(&self, mut request: hyper::Request<hyper::body::Incoming>) -> Self::Future {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        request.extensions_mut().insert(ConnectInfo(self.peer));
        // A router is always ready, so it is called without waiting for it.
        let answer =
            tower::Service::call(&mut self.router.clone(), request.map(axum::body::Body::new));
        Counted {
            answer,
            in_flight: Arc::clone(&self.in_flight),
        }
    }
}

/// A request being handled: counted until its answer is made or it is dropped (its client
/// went away), so a stop never waits for a request that no longer exists. Not boxed: one
/// allocation less per request.
struct Counted<F> {
    answer: F,
    in_flight: Arc<AtomicUsize>,
}

impl<F: Future + Unpin> Future for Counted<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        Pin::new(&mut self.answer).poll(cx)
    }
}

impl<F> Drop for Counted<F> {
    fn drop(&mut self) {
        self.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// At most how long, and how many bytes, a closing connection takes from its client and drops.
const LINGER_TIME: Duration = Duration::from_secs(5);
const LINGER_BYTES: usize = 16 * 1024 * 1024;

/// A client's connection: reads fail once nothing was read or written for `idle`, and a close
/// lingers. The collector may answer before it read the whole body (a 413 on the declared
/// length); closing then with the rest unread resets the connection, and a client that sends
/// its whole body before reading fails its send and never reads the answer. So a close sends
/// its end of the stream after the answer, then takes and drops what the client still sends,
/// until the client closes or a bound passes.
struct ClientStream {
    stream: TcpStream,
    idle: Duration,
    deadline: Pin<Box<Sleep>>,
    closing: Closing,
}

enum Closing {
    Open,
    Lingering { discarded: usize },
    Closed,
}

impl ClientStream {
    fn new(stream: TcpStream, idle: Duration) -> Self {
        ClientStream {
            stream,
            idle,
            deadline: Box::pin(tokio::time::sleep(idle)),
            closing: Closing::Open,
        }
    }

    fn active(&mut self) {
        let next = Instant::now() + self.idle;
        self.deadline.as_mut().reset(next);
    }
}

impl AsyncRead for ClientStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.stream).poll_read(cx, buf) {
            Poll::Ready(result) => {
                this.active();
                Poll::Ready(result)
            }
            Poll::Pending => match this.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "connection idle past HTTP_IDLE_TIMEOUT",
                ))),
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

impl AsyncWrite for ClientStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = Pin::new(&mut this.stream).poll_write(cx, buf);
        if written.is_ready() {
            this.active();
        }
        written
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = Pin::new(&mut this.stream).poll_write_vectored(cx, bufs);
        if written.is_ready() {
            this.active();
        }
        written
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            match &mut this.closing {
                Closing::Open => {
                    std::task::ready!(Pin::new(&mut this.stream).poll_shutdown(cx))?;
                    this.deadline.as_mut().reset(Instant::now() + LINGER_TIME);
                    this.closing = Closing::Lingering { discarded: 0 };
                }
                Closing::Lingering { discarded } => {
                    if *discarded >= LINGER_BYTES || this.deadline.as_mut().poll(cx).is_ready() {
                        this.closing = Closing::Closed;
                        continue;
                    }
                    let mut scratch = [0u8; 8192];
                    let mut dropped = ReadBuf::new(&mut scratch);
                    match Pin::new(&mut this.stream).poll_read(cx, &mut dropped) {
                        Poll::Ready(Ok(())) if !dropped.filled().is_empty() => {
                            *discarded += dropped.filled().len();
                        }
                        // The client closed its end, or the connection is gone.
                        Poll::Ready(_) => this.closing = Closing::Closed,
                        Poll::Pending => return Poll::Pending,
                    }
                }
                Closing::Closed => return Poll::Ready(Ok(())),
            }
        }
    }
}
