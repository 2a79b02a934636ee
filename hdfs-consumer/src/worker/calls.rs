//! How a worker makes a storage call from its polling thread: on the runtime, bounded in time,
//! and given up when the process starts stopping.

use std::time::{Duration, Instant};

use lake::StorageError;
use tokio::sync::watch;

use super::Worker;

/// Longest a single storage call may take. A hung call must not keep the worker from polling
/// past the group's rebalance timeout, or the partition would get a second owner while the
/// first is still writing.
const STORAGE_CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// First wait after a failed storage call; later waits double, up to STORAGE_RETRY_MAX_BACKOFF.
const BASE_BACKOFF: Duration = Duration::from_millis(200);

/// How long a storage call may run.
#[derive(Debug, Clone, Copy)]
pub(super) enum CallBound {
    /// While consuming: up to [`STORAGE_CALL_TIMEOUT`], and not past the moment the process
    /// starts stopping (a landing that matters is then made again, within the deadline).
    UntilStopping,
    /// While stopping: up to the shutdown deadline.
    Until(Instant),
}

/// Why a storage call brought no result.
#[derive(Debug)]
pub(super) enum CallError {
    /// The process started stopping; nothing failed.
    Stopping,
    /// The shutdown deadline passed first: what the call was for is left as it was, to be
    /// counted as not done.
    Deadline,
    Failed(StorageError),
}

impl Worker {
    /// How long a call may run: while consuming, or until the shutdown deadline.
    pub(super) fn bound(shutdown: Option<Instant>) -> CallBound {
        shutdown.map_or(CallBound::UntilStopping, CallBound::Until)
    }

    /// The wait before the retry after a number of failures in a row.
    pub(super) fn backoff(&self) -> impl Fn(u32) -> Duration + use<> {
        let max = self.shared.max_backoff;
        move |failures| common::backoff::retry_wait(failures, BASE_BACKOFF, max)
    }

    /// Runs a storage call on the runtime until it answers, [`STORAGE_CALL_TIMEOUT`] passes
    /// while consuming (a failure), the host says stop while consuming (`Stopping`), or the
    /// shutdown deadline passes while stopping (`Deadline`). A call given up is dropped: behind
    /// the commit log, whatever it did not finish is finished or removed by the next claim.
    pub(super) fn call<T>(
        &self,
        call: impl std::future::Future<Output = Result<T, StorageError>>,
        bound: CallBound,
    ) -> Result<T, CallError> {
        let no_answer = || StorageError::NoAnswer {
            storage: self.shared.lake.storage().name().to_owned(),
            within: STORAGE_CALL_TIMEOUT,
        };
        let mut stopping = self.stopping.clone();
        // Timers must be made inside the runtime, hence the async block.
        self.shared.runtime.block_on(async {
            match bound {
                CallBound::UntilStopping => tokio::select! {
                    result = call => result.map_err(CallError::Failed),
                    () = tokio::time::sleep(STORAGE_CALL_TIMEOUT) => Err(CallError::Failed(no_answer())),
                    () = stopped(&mut stopping) => Err(CallError::Stopping),
                },
                CallBound::Until(deadline) => tokio::select! {
                    result = call => result.map_err(CallError::Failed),
                    () = tokio::time::sleep_until(deadline.into()) => Err(CallError::Deadline),
                },
            }
        })
    }
}

/// Resolves when the host says stop (never, without a host).
async fn stopped(stopping: &mut Option<watch::Receiver<bool>>) {
    match stopping {
        Some(stopping) => {
            let _ = stopping.wait_for(|stop| *stop).await;
        }
        None => std::future::pending().await,
    }
}
