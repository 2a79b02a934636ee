//! The worker's share of forgetting: on each partition it holds, between landings, it deletes
//! the hours past the retention and carries out the erasure requests on file
//! ([`crate::rewrite`]).

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{CallBound, CallError, Worker};
use crate::erasure::ErasureRequest;
use crate::rewrite::Rewrite;

/// How often each partition's expired hours are looked for.
const EXPIRY_INTERVAL: Duration = Duration::from_secs(30);

/// What the worker remembers between sweeps.
#[derive(Default)]
pub(super) struct Forgetting {
    /// The requests on file as the process last read them, and that reading's number.
    requests: Arc<Vec<ErasureRequest>>,
    reading: Option<u64>,
    /// When each partition's expired hours were last looked for.
    expiry_checked: HashMap<i32, Instant>,
}

/// Which rewrite, for logs.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Expiry,
    Erasure,
}

impl Worker {
    /// Deletes the partition's expired hours when that is due, and carries out one erasure
    /// request due on it. Breaks when storage failed.
    pub(super) fn expire_and_erase(&mut self, partition: i32) -> ControlFlow<()> {
        let now = Instant::now();
        self.read_requests();
        let Some(held) = self.partitions.get(&partition).and_then(|s| s.held()) else {
            return ControlFlow::Continue(());
        };
        if let Some(limit) = self.shared.landing.retention_limit(chrono::Utc::now())
            && self
                .forgetting
                .expiry_checked
                .get(&partition)
                .is_none_or(|at| now.duration_since(*at) >= EXPIRY_INTERVAL)
        {
            let held = held.clone();
            self.forgetting.expiry_checked.insert(partition, now);
            let result = self.call(
                self.shared.landing.expire(partition, &held, limit),
                CallBound::UntilStopping,
            );
            return self.rewritten(partition, Kind::Expiry, None, result);
        }
        let Some(request) = self
            .forgetting
            .requests
            .iter()
            .find(|r| !held.has_erased(&r.id) && r.due(partition, held.last_offset))
            .cloned()
        else {
            return ControlFlow::Continue(());
        };
        let shared = Arc::clone(&self.shared);
        // An erasure holds a file's rows, as a merge does: one at a time in the process.
        let Ok(_merging) = shared.merging.try_lock() else {
            return ControlFlow::Continue(());
        };
        let held = held.clone();
        let result = self.call(
            self.shared.landing.erase(partition, &held, &request),
            CallBound::UntilStopping,
        );
        self.rewritten(partition, Kind::Erasure, Some(&request.id), result)
    }

    /// Takes the erasure requests the process last read, if that reading is new; the
    /// partitions then stop carrying the ones withdrawn. Never waits on storage.
    fn read_requests(&mut self) {
        let (reading, requests) = self.shared.erasures.last();
        if self.forgetting.reading == Some(reading) {
            return;
        }
        self.forgetting.reading = Some(reading);
        for state in self.partitions.values_mut() {
            state.keep_erasures(|id| requests.iter().any(|r| r.id == id));
        }
        self.forgetting.requests = requests;
    }

    fn rewritten(
        &mut self,
        partition: i32,
        kind: Kind,
        request: Option<&str>,
        result: Result<Rewrite, CallError>,
    ) -> ControlFlow<()> {
        let metrics = &self.shared.metrics;
        match result {
            Ok(Rewrite::Nothing) => {}
            Ok(Rewrite::Done {
                held,
                files,
                rows,
                dead_letters,
            }) => {
                match kind {
                    Kind::Expiry => {
                        metrics.expired_files.inc_by(files as u64);
                        tracing::info!(
                            worker = self.id,
                            partition,
                            files,
                            "deleted the files of hours past the retention"
                        );
                    }
                    Kind::Erasure => {
                        metrics.erasures.inc();
                        metrics.erased_records.inc_by(rows);
                        metrics.erased_dead_letters.inc_by(dead_letters);
                        tracing::info!(
                            worker = self.id,
                            partition,
                            request,
                            files,
                            rows,
                            dead_letters,
                            "carried out an erasure request"
                        );
                    }
                }
                if let Some(state) = self.partitions.get_mut(&partition) {
                    state.rewritten(held);
                }
            }
            Ok(Rewrite::Committed { held, reason }) => {
                metrics.storage_failures.inc();
                tracing::warn!(
                    worker = self.id,
                    partition,
                    ?kind,
                    request,
                    err = reason,
                    "published, but not finished; claiming the partition again finishes it"
                );
                if let Some(state) = self.partitions.get_mut(&partition) {
                    let landed = held.last_offset.unwrap_or(-1);
                    let effects = state.committed_unfinished(landed);
                    self.perform(partition, &effects);
                }
            }
            Ok(Rewrite::Refused { holder }) => self.refused(partition, holder),
            Err(CallError::Stopping | CallError::Deadline) => {}
            Err(CallError::Failed(err)) => {
                metrics.storage_failures.inc();
                tracing::error!(worker = self.id, partition, ?kind, request, %err, "could not rewrite the partition's files; tried again later");
                return ControlFlow::Break(());
            }
        }
        ControlFlow::Continue(())
    }
}
