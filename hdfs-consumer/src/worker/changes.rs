//! The changes a worker makes to the files of the partitions it owns, each when the partition
//! says it is due ([`crate::partition`]): a claim, then landings, and between them merges,
//! expiries and erasures. Every change's outcome goes to the one handler in
//! [`super::outcome`].

use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Instant;

use super::Worker;
use super::calls::{CallBound, CallError};
use super::outcome::{Making, Report};

impl Worker {
    /// Claims a partition in storage, if that is due: it then resumes where the log says.
    /// Breaks when storage failed.
    pub(super) fn claim(&mut self, partition: i32, now: Instant) -> ControlFlow<()> {
        if !self
            .partitions
            .get(&partition)
            .is_some_and(|s| s.recovery_due(now))
        {
            return ControlFlow::Continue(());
        }
        // The window is read once the claim has finished what was left unfinished, so it
        // holds every click landed before the partition's resume point.
        let lake = &self.shared.lake;
        let claim_and_read = async {
            let claimed = lake.claim(partition, &self.member).await?;
            let rebuilt = lake.repeat_window(partition).await?;
            Ok((claimed, rebuilt))
        };
        let result = self.call(claim_and_read, CallBound::UntilStopping);
        let backoff = self.backoff();
        let Some(state) = self.partitions.get_mut(&partition) else {
            return ControlFlow::Continue(());
        };
        match result {
            Ok((claimed, rebuilt)) => {
                let resume = claimed.held.last_offset.map(|l| l + 1);
                let previous = claimed.previous.as_ref().map(ToString::to_string);
                let window_ids = rebuilt.window.len();
                let effects = state.claimed(claimed.held, rebuilt.window);
                self.shared.metrics.claims.inc();
                tracing::info!(
                    worker = self.id,
                    partition,
                    resume,
                    previous,
                    removed = claimed.removed,
                    window_ids,
                    window_files = rebuilt.files,
                    "partition claimed"
                );
                if !rebuilt.unreadable.is_empty() {
                    tracing::warn!(
                        worker = self.id,
                        partition,
                        files = ?rebuilt.unreadable,
                        "landed files not readable for the repeat window: a repeat of their clicks may land"
                    );
                }
                self.perform(partition, &effects);
                ControlFlow::Continue(())
            }
            Err(CallError::Stopping | CallError::Deadline) => ControlFlow::Continue(()),
            Err(CallError::Failed(err)) => {
                state.recovery_failed(now, backoff);
                self.shared.metrics.storage_failures.inc();
                tracing::error!(
                    worker = self.id,
                    partition,
                    %err,
                    "cannot claim the partition in storage; it waits for storage"
                );
                ControlFlow::Break(())
            }
        }
    }

    /// Lands the partition's buffer if it is due. Breaks when storage failed.
    pub(super) fn land(
        &mut self,
        partition: i32,
        now: Instant,
        shutdown: Option<Instant>,
    ) -> ControlFlow<()> {
        let Some(reason) = self
            .partitions
            .get(&partition)
            .and_then(|s| s.landing_due(&self.shared.policy, now, shutdown.is_some()))
        else {
            return ControlFlow::Continue(());
        };
        let started = Instant::now();
        let Some((held, batch)) = self.partitions[&partition].landing() else {
            return ControlFlow::Continue(());
        };
        let landing = self
            .shared
            .lake
            .land(partition, held, batch, chrono::Utc::now());
        let result = self.call(landing, Self::bound(shutdown));
        let result = result.map(|outcome| outcome.map(Report::Landed));
        self.settle(partition, Making::Landing { reason }, started, result)
    }

    /// Merges the partition's next due hour, if one is due and no other worker of the process
    /// is merging. Breaks when storage failed: nothing is lost, the hour stays to merge.
    pub(super) fn compact(&mut self, partition: i32) -> ControlFlow<()> {
        let now = chrono::Utc::now();
        let Some((hour, held)) = self
            .partitions
            .get(&partition)
            .and_then(|s| s.compaction_due(now, &self.shared.compaction))
        else {
            return ControlFlow::Continue(());
        };
        let shared = Arc::clone(&self.shared);
        let Ok(_merging) = shared.merging.try_lock() else {
            return ControlFlow::Continue(());
        };
        let started = Instant::now();
        let target = self.shared.compaction.target_bytes;
        let merge = self.shared.lake.compact(partition, held, hour, target);
        let result = self.call(merge, CallBound::UntilStopping);
        let result = result.map(|outcome| outcome.map(Report::Compacted));
        self.settle(partition, Making::Compaction { hour }, started, result)
    }

    /// Deletes the partition's expired hours, when the partition says that is due.
    pub(super) fn expire(&mut self, partition: i32, now: Instant) -> ControlFlow<()> {
        let Some(limit) = self.shared.lake.retention_limit(chrono::Utc::now()) else {
            return ControlFlow::Continue(());
        };
        let Some(state) = self.partitions.get_mut(&partition) else {
            return ControlFlow::Continue(());
        };
        let Some(held) = state.expiry_due(now).cloned() else {
            return ControlFlow::Continue(());
        };
        state.expiry_checked(now);
        let expiry = self.shared.lake.expire(partition, &held, limit);
        let result = self.call(expiry, CallBound::UntilStopping);
        let result = result.map(|outcome| outcome.map(Report::Expired));
        self.settle(partition, Making::Expiry, now, result)
    }

    /// Carries out one erasure request due on the partition, if no other worker of the process
    /// is merging or erasing (an erasure holds a row group, as a merge does). One that fails
    /// waits, growing, before it is tried again, and holds nothing else up meanwhile.
    pub(super) fn erase(&mut self, partition: i32) -> ControlFlow<()> {
        self.read_requests();
        let requests = Arc::clone(&self.requests);
        let Some((request, held)) = self
            .partitions
            .get(&partition)
            .and_then(|s| s.erasure_due(partition, &requests, Instant::now()))
        else {
            return ControlFlow::Continue(());
        };
        let shared = Arc::clone(&self.shared);
        let Ok(_merging) = shared.merging.try_lock() else {
            return ControlFlow::Continue(());
        };
        let started = Instant::now();
        let erasure = self.shared.lake.erase(partition, held, request);
        let result = self.call(erasure, CallBound::UntilStopping);
        let result = result.map(|outcome| outcome.map(Report::Erased));
        let making = Making::Erasure {
            request: request.id.clone(),
        };
        self.settle(partition, making, started, result)
    }

    /// Takes the erasure requests the process last read, if that reading is new; the
    /// partitions then stop carrying the ones withdrawn. Never waits on storage.
    fn read_requests(&mut self) {
        let (reading, requests) = self.shared.erasures.last();
        if self.reading == Some(reading) {
            return;
        }
        self.reading = Some(reading);
        for state in self.partitions.values_mut() {
            state.keep_erasures(|id| requests.iter().any(|r| r.id == id));
        }
        self.requests = requests;
    }
}
