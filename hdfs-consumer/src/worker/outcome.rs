//! The one handler of what became of a change the worker made ([`lake::Outcome`]): the
//! partition's state follows it, the consumer does what the state asks, and what the change did
//! is counted and logged. Only the counting differs by kind.

use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use lake::commit_log::Erased;
use lake::expire::Expired;
use lake::land::Landed;
use lake::merge::CompactedHour;
use lake::{HourPartition, Outcome};

use super::Worker;
use super::calls::{CallBound, CallError};
use crate::buffer::FlushReason;
use crate::chores::ERASURE_MAX_BACKOFF;
use crate::metrics::ReasonLabel;

/// Which change the worker made, with what it knows of it beside the lake's report.
#[derive(Debug, Clone)]
pub(super) enum Making {
    Landing { reason: FlushReason },
    Compaction { hour: HourPartition },
    Expiry,
    Erasure { request: String },
}

impl std::fmt::Display for Making {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Making::Landing { reason } => write!(f, "landing ({})", reason.as_str()),
            Making::Compaction { hour } => write!(f, "compaction of {}", hour.dir()),
            Making::Expiry => write!(f, "expiry"),
            Making::Erasure { request } => write!(f, "erasure request {request}"),
        }
    }
}

/// What a change did, as the lake reports it.
#[derive(Debug)]
pub(super) enum Report {
    Landed(Landed),
    Compacted(CompactedHour),
    Expired(Expired),
    Erased(Erased),
}

impl Worker {
    /// Follows what became of a change: see the module. Breaks when storage failed, so the
    /// worker is back polling within one call timeout rather than one per partition.
    pub(super) fn settle(
        &mut self,
        partition: i32,
        making: Making,
        started: Instant,
        result: Result<Outcome<Report>, CallError>,
    ) -> ControlFlow<()> {
        let metrics = &self.shared.metrics;
        match result {
            Ok(Outcome::Unchanged { held, skipped }) => {
                if let Some(reason) = skipped {
                    metrics.compactions_skipped.inc();
                    tracing::error!(
                        worker = self.id,
                        partition,
                        change = %making,
                        err = reason,
                        "cannot merge the hour: a file of it is not of the landed format; it is left as it is"
                    );
                }
                if let Some(state) = self.partitions.get_mut(&partition) {
                    state.rewritten(held);
                }
            }
            Ok(Outcome::Done { held, report }) => {
                self.count(partition, &making, &report, started);
                if let Making::Erasure { request } = &making {
                    self.erasure_done(partition, request);
                }
                let Some(state) = self.partitions.get_mut(&partition) else {
                    return ControlFlow::Continue(());
                };
                if matches!(report, Report::Landed(_)) {
                    let was_failing = state.failing().is_some();
                    let effects = state.landed(held);
                    if was_failing {
                        self.shared.failing.set(partition, None);
                        tracing::info!(worker = self.id, partition, "storage recovered");
                    }
                    self.perform(partition, &effects);
                } else {
                    state.rewritten(held);
                }
            }
            Ok(Outcome::Unfinished {
                held,
                report,
                reason,
            }) => {
                self.count(partition, &making, &report, started);
                self.shared.metrics.storage_failures.inc();
                tracing::warn!(
                    worker = self.id,
                    partition,
                    change = %making,
                    err = reason,
                    "published, but not finished; claiming the partition again finishes it"
                );
                if let Some(state) = self.partitions.get_mut(&partition) {
                    if state.failing().is_some() {
                        self.shared.failing.set(partition, None);
                    }
                    let effects = state.committed_unfinished(held.last_offset.unwrap_or(-1));
                    self.perform(partition, &effects);
                }
            }
            Ok(Outcome::Refused { holder }) => self.refused(partition, holder),
            // Stopping: the shutdown sweep lands the buffer again, within its deadline. Past
            // it, the buffer is kept and counted as not landed (it was never committed, so the
            // next owner reads it again).
            Err(CallError::Stopping | CallError::Deadline) => {}
            // A failing erasure backs off on its own partition: the sweep goes on to the others.
            Err(CallError::Failed(err)) if matches!(making, Making::Erasure { .. }) => {
                self.failed(partition, &making, err.to_string());
            }
            Err(CallError::Failed(err)) => {
                self.failed(partition, &making, err.to_string());
                return ControlFlow::Break(());
            }
        }
        ControlFlow::Continue(())
    }

    /// A change brought no answer. Nothing of a landing was published, or its commit was and
    /// its answer was lost: landing the same batch again under the same claim tells, and
    /// finishes it either way, so the partition pauses and keeps its buffer. Any other change
    /// is made again when it is next due.
    fn failed(&mut self, partition: i32, making: &Making, err: String) {
        self.shared.metrics.storage_failures.inc();
        if let Making::Landing { .. } = making {
            let backoff = self.backoff();
            let Some(state) = self.partitions.get_mut(&partition) else {
                return;
            };
            let effects = state.landing_failed(err.clone(), Instant::now(), backoff);
            self.shared.failing.set(partition, Some(&err));
            tracing::error!(
                worker = self.id,
                partition,
                err,
                "storage write failed; partition paused, data stays in Kafka"
            );
            self.perform(partition, &effects);
        } else if let Making::Erasure { request } = making {
            self.erasure_failed(partition, request, err);
        } else {
            tracing::error!(
                worker = self.id,
                partition,
                change = %making,
                err,
                "could not change the partition's files; tried again later"
            );
        }
    }

    /// An erasure failed on the partition: it waits before it is tried again; the log says so
    /// at most once a minute, and the asker reads why beside the request.
    fn erasure_failed(&mut self, partition: i32, request: &str, err: String) {
        let Some(state) = self.partitions.get_mut(&partition) else {
            return;
        };
        let backoff = |failures| {
            common::backoff::retry_wait(failures, Duration::from_secs(1), ERASURE_MAX_BACKOFF)
        };
        let now = Instant::now();
        let (attempts, log) = state.erasure_failed(request, now, backoff);
        if log {
            tracing::error!(
                worker = self.id,
                partition,
                request,
                attempts,
                err,
                "cannot carry out an erasure request on the partition; tried again with growing waits, landing goes on"
            );
        }
        let failure = lake::requests::Failure {
            partition,
            at: chrono::Utc::now(),
            reason: err,
            attempts,
        };
        let (storage, topic) = (self.shared.lake.storage(), self.shared.lake.topic());
        let noted = lake::requests::record_failure(storage, topic, request, &failure);
        if let Err(err) = self.call(noted, CallBound::UntilStopping) {
            tracing::debug!(
                partition,
                request,
                ?err,
                "cannot note why the erasure failed"
            );
        }
    }

    /// An erasure was carried out on the partition: it is no longer retried, and a failure
    /// noted for the asker is cleared.
    fn erasure_done(&mut self, partition: i32, request: &str) {
        let Some(state) = self.partitions.get_mut(&partition) else {
            return;
        };
        state.erasure_done(request);
        let (storage, topic) = (self.shared.lake.storage(), self.shared.lake.topic());
        let cleared = lake::requests::clear_failure(storage, topic, request, partition);
        if let Err(err) = self.call(cleared, CallBound::UntilStopping) {
            tracing::debug!(partition, request, ?err, "cannot clear a noted failure");
        }
    }

    /// Another member claimed the partition while this one still took it for its own: its
    /// change is refused, nothing of it is visible, and its records are the holder's to land.
    pub(super) fn refused(&mut self, partition: i32, holder: String) {
        let reclaim_at = Instant::now() + self.shared.reclaim_after;
        let Some(state) = self.partitions.get_mut(&partition) else {
            return;
        };
        let owner = state
            .landing()
            .map(|(held, _)| held.owner.to_string())
            .unwrap_or_default();
        let was_failing = state.failing().is_some();
        let (effects, dropped) = state.refused(holder.clone(), reclaim_at);
        let metrics = &self.shared.metrics;
        metrics.fenced_commits.inc();
        metrics.dropped_on_fence.inc_by(dropped as u64);
        metrics.member.forget(partition);
        if was_failing {
            self.shared.failing.set(partition, None);
        }
        tracing::warn!(
            worker = self.id,
            partition,
            owner,
            holder,
            dropped,
            "commit refused: another member claimed the partition; nothing of this landing is visible and its records are left to the holder"
        );
        self.perform(partition, &effects);
    }

    /// Counts and logs what a published change did.
    fn count(&self, partition: i32, making: &Making, report: &Report, started: Instant) {
        let metrics = &self.shared.metrics;
        match report {
            Report::Landed(landed) => {
                metrics
                    .flush_duration_seconds
                    .observe(started.elapsed().as_secs_f64());
                if let Making::Landing { reason } = making {
                    let reason = reason.as_str();
                    metrics.flushes.get_or_create(&ReasonLabel { reason }).inc();
                }
                let records: usize = landed.files.iter().map(|(_, records)| records).sum();
                metrics.files_landed.inc_by(landed.files.len() as u64);
                metrics.bytes_landed.inc_by(landed.bytes as u64);
                metrics.invalid_records.inc_by(landed.invalid as u64);
                metrics.expired_records.inc_by(landed.expired as u64);
                metrics.erased_skipped.inc_by(landed.erased as u64);
                metrics.duplicates_dropped.inc_by(landed.repeats as u64);
                metrics
                    .records_landed
                    .inc_by((records - landed.invalid) as u64);
                if let Some(catalog) = &self.shared.catalog {
                    catalog.landed(&landed.hours);
                }
                if landed.erased > 0 {
                    tracing::info!(
                        worker = self.id,
                        partition,
                        erased = landed.erased,
                        "clicks that were erased read again; landed past, not landed"
                    );
                }
                for (path, records) in &landed.files {
                    tracing::info!(worker = self.id, partition, records, path, "landed file");
                }
                if landed.invalid > 0 {
                    tracing::warn!(
                        worker = self.id,
                        partition,
                        invalid = landed.invalid,
                        "records that are not events landed under _invalid/"
                    );
                }
            }
            Report::Compacted(done) => {
                metrics.compactions.inc();
                metrics.compaction_files_in.inc_by(done.inputs as u64);
                metrics
                    .compaction_files_out
                    .inc_by(done.outputs.len() as u64);
                metrics.compaction_bytes_in.inc_by(done.merged.bytes_in);
                metrics.compaction_bytes_out.inc_by(done.merged.bytes_out);
                metrics.duplicates_dropped.inc_by(done.merged.repeats);
                tracing::info!(
                    worker = self.id,
                    partition,
                    hour = done.hour.dir(),
                    files_in = done.inputs,
                    files_out = done.outputs.len(),
                    bytes_in = done.merged.bytes_in,
                    bytes_out = done.merged.bytes_out,
                    rows = done.merged.rows,
                    ms = started.elapsed().as_millis() as u64,
                    "compacted an hour"
                );
            }
            Report::Expired(expired) => {
                metrics.expired_files.inc_by(expired.files as u64);
                if let Some(catalog) = &self.shared.catalog {
                    catalog.expired();
                }
                tracing::info!(
                    worker = self.id,
                    partition,
                    files = expired.files,
                    "deleted the files of hours past the retention"
                );
            }
            Report::Erased(erased) => {
                metrics.erasures.inc();
                metrics.erased_records.inc_by(erased.rows);
                metrics.erased_dead_letters.inc_by(erased.dead_letters);
                tracing::info!(
                    worker = self.id,
                    partition,
                    request = erased.request,
                    files = erased.files,
                    rows = erased.rows,
                    dead_letters = erased.dead_letters,
                    "carried out an erasure request"
                );
            }
        }
    }
}
