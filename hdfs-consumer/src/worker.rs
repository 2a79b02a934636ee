//! One worker: a member of the group, the partitions it owns ([`Partition`]) and the loop that
//! lands them. librdkafka runs rebalances inside `poll`, on the loop's thread; the callback only
//! assigns or unassigns, pauses what it assigned and records the change. The loop then claims
//! each new partition in storage, which says where it resumes, and lands, so a rebalance never
//! happens in the middle of either. A worker may still be told late that it lost a partition
//! (its process was paused, or cut from the brokers): storage tells it first, by refusing its
//! next commit.

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::host::LoopContext;
use common::kafka::{
    ClientLog, Continuity, KafkaArgs, Member, MemberContext, Rebalancing, group_consumer,
    report_gap,
};
use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::error::KafkaResult;
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use tokio::runtime::Handle;
use tokio::sync::watch;

use crate::admin::FailingWrites;
use crate::buffer::{BufferedRecord, FlushPolicy, FlushReason};
use crate::compaction::CompactionPolicy;
use crate::landing::{Compaction, Landed, LandedBatch, Landing};
use crate::metrics::{ConsumerMetrics, ReasonLabel};
use crate::partition::{Effect, Intake, Partition};
use crate::storage::StorageError;

mod rewrites;

/// What every worker of the process shares.
pub struct Shared {
    pub landing: Landing,
    pub runtime: Handle,
    pub kafka: KafkaArgs,
    pub group: String,
    pub prefetch_bytes: usize,
    pub policy: FlushPolicy,
    pub compaction: CompactionPolicy,
    /// Held by the one worker of the process that is merging: a merge holds a row group of its
    /// input and one of its output, and one at a time keeps the process within its memory.
    pub merging: Mutex<()>,
    pub max_backoff: Duration,
    /// How long a fenced partition waits for the rebalance that moves it before it is claimed
    /// again: longer than the group's session timeout, within which a member that lost the
    /// partition hears of it.
    pub reclaim_after: Duration,
    /// This process as claims name it (host and process id); each worker adds its number.
    pub member: String,
    pub metrics: ConsumerMetrics,
    /// The erasure requests on file, as a background task last read them.
    pub erasures: Arc<crate::erasure::OnFile>,
    /// Partitions whose landing fails, and why: readiness reports them.
    pub failing: Arc<FailingWrites>,
    pub log: Arc<ClientLog>,
}

/// Longest a single storage call may take. A hung call must not keep the worker from polling
/// past the group's rebalance timeout, or the partition would get a second owner while the
/// first is still writing.
const STORAGE_CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a poll waits, and how often every owned partition is looked at.
const SWEEP_INTERVAL: Duration = Duration::from_millis(100);

/// First wait after a failed storage call; later waits double, up to STORAGE_RETRY_MAX_BACKOFF.
const BASE_BACKOFF: Duration = Duration::from_millis(200);

/// A rebalance, as the callback saw it.
#[derive(Debug)]
enum Rebalance {
    Assigned(Vec<i32>),
    Revoked(Vec<i32>),
}

/// A worker's rebalances, recorded inside `poll` for the loop to apply after it.
#[derive(Default)]
struct RecordedRebalances {
    rebalances: Mutex<Vec<Rebalance>>,
}

impl Rebalancing for RecordedRebalances {
    /// Storage says where each partition resumes: the loop claims it there.
    fn assigned(&self, partitions: &[i32]) {
        self.record(Rebalance::Assigned(partitions.to_vec()));
    }

    fn revoking(&self, _member: &Member<Self>, partitions: &[i32]) {
        self.record(Rebalance::Revoked(partitions.to_vec()));
    }
}

impl RecordedRebalances {
    fn record(&self, rebalance: Rebalance) {
        self.rebalances
            .lock()
            .expect("not poisoned")
            .push(rebalance);
    }

    fn take(&self) -> Vec<Rebalance> {
        std::mem::take(&mut *self.rebalances.lock().expect("not poisoned"))
    }
}

/// How long a storage call may run.
#[derive(Debug, Clone, Copy)]
enum CallBound {
    /// While consuming: up to [`STORAGE_CALL_TIMEOUT`], and not past the moment the process
    /// starts stopping (a landing that matters is then made again, within the deadline).
    UntilStopping,
    /// While stopping: up to the shutdown deadline.
    Until(Instant),
}

/// Why a storage call brought no result.
#[derive(Debug)]
enum CallError {
    /// The process started stopping; nothing failed.
    Stopping,
    /// The shutdown deadline passed first: what the call was for is left as it was, to be
    /// counted as not done.
    Deadline,
    Failed(StorageError),
}

/// What one worker adds to the process's partition gauges, which sum the workers' shares.
#[derive(Debug, Default, Clone, Copy)]
struct GaugeShare {
    assigned: i64,
    buffered: i64,
    halted: i64,
}

pub struct Worker {
    id: usize,
    /// The share last added to the gauges.
    published: GaugeShare,
    /// The worker as its claims name it.
    member: String,
    consumer: Member<RecordedRebalances>,
    shared: Arc<Shared>,
    partitions: HashMap<i32, Partition>,
    stopping: Option<watch::Receiver<bool>>,
    forgetting: rewrites::Forgetting,
}

impl Worker {
    pub fn new(id: usize, shared: Arc<Shared>) -> KafkaResult<Self> {
        let context = MemberContext::new(
            Arc::clone(&shared.log),
            &shared.kafka.topic,
            RecordedRebalances::default(),
        );
        let consumer = group_consumer(
            &shared.kafka,
            &shared.group,
            &format!("hdfs-consumer-{id}"),
            shared.prefetch_bytes,
            context,
        )?;
        Ok(Worker {
            id,
            published: GaugeShare::default(),
            member: format!("{} worker {id}", shared.member),
            consumer,
            shared,
            partitions: HashMap::new(),
            stopping: None,
            forgetting: rewrites::Forgetting::default(),
        })
    }

    /// Consumes and lands until the host says stop, then lands what is buffered (trying for the
    /// host's drain timeout, `SHUTDOWN_TIMEOUT`), says how many records it could not land,
    /// commits and leaves the group.
    pub fn run(mut self, mut host: LoopContext) {
        self.stopping = Some(host.stop_signal());
        let mut last_sweep = Instant::now();
        while !host.stopping() {
            host.beat();
            let polled = self.consumer.poll(SWEEP_INTERVAL).map(|result| {
                result.map(|message| {
                    let partition = message.partition();
                    let record = BufferedRecord::classify(
                        message.topic(),
                        partition,
                        message.offset(),
                        message.payload(),
                    );
                    (partition, record)
                })
            });
            // A rebalance runs inside poll: its record is applied before what poll returned.
            self.apply_rebalances();
            match polled {
                Some(Ok((partition, record))) => {
                    let due = self.take(partition, record);
                    if due {
                        let _ = self.land(partition, Instant::now(), None);
                        self.publish_gauges();
                    }
                }
                Some(Err(err)) => tracing::warn!(worker = self.id, %err, "consume error"),
                None => {}
            }
            // Ages, retries and recoveries need no finer clock than this; checking them after
            // every record would put a walk over all partitions on the hot path.
            let now = Instant::now();
            if now.duration_since(last_sweep) >= SWEEP_INTERVAL {
                last_sweep = now;
                self.sweep(now);
                self.measure_lag();
            }
        }
        let deadline = Instant::now() + host.drain_timeout();
        tracing::info!(worker = self.id, "stopping: landing buffered records");
        let unlanded = loop {
            host.beat();
            // Only what is buffered is landed: a partition still to be claimed holds nothing,
            // and its next owner claims it.
            self.land_all(Instant::now(), Some(deadline));
            self.publish_gauges();
            let unlanded: usize = self.partitions.values().map(Partition::buffered).sum();
            if unlanded == 0 || Instant::now() >= deadline {
                if unlanded > 0 {
                    tracing::error!(
                        worker = self.id,
                        unlanded,
                        "shutdown deadline passed; unlanded records stay in Kafka"
                    );
                }
                break unlanded;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        self.commit_landed();
        host.drained(unlanded);
        self.consumer.unsubscribe();
        tracing::info!(worker = self.id, "left the group");
    }

    /// Sets this worker's share of the partition gauges from its partitions' states. Called
    /// after each change of them but a record taken, which the next sweep catches up with: a
    /// walk over the partitions per record would be on the hot path.
    fn publish_gauges(&mut self) {
        let share = GaugeShare {
            assigned: self.partitions.len() as i64,
            buffered: self
                .partitions
                .values()
                .map(Partition::buffered)
                .sum::<usize>() as i64,
            halted: self.partitions.values().filter(|p| p.is_halted()).count() as i64,
        };
        let metrics = &self.shared.metrics;
        metrics
            .member
            .assigned_partitions
            .inc_by(share.assigned - self.published.assigned);
        metrics
            .buffered_records
            .inc_by(share.buffered - self.published.buffered);
        metrics
            .halted_partitions
            .inc_by(share.halted - self.published.halted);
        self.published = share;
    }

    /// Makes the partition states follow what the rebalance callback recorded.
    fn apply_rebalances(&mut self) {
        let rebalances = self.consumer.context().rebalancing.take();
        if rebalances.is_empty() {
            return;
        }
        for rebalance in rebalances {
            match rebalance {
                Rebalance::Assigned(partitions) => {
                    for partition in partitions {
                        self.partitions.insert(partition, Partition::assigned());
                    }
                }
                Rebalance::Revoked(partitions) => {
                    for partition in partitions {
                        if let Some(state) = self.partitions.remove(&partition) {
                            self.forget(partition, &state);
                        }
                    }
                }
            }
        }
        self.publish_gauges();
    }

    /// A partition left this worker: its buffer is dropped, not landed. Nothing in it was
    /// landed or committed, and its next owner resumes from storage, so it reads those records
    /// again; landing them would race the next owner.
    fn forget(&self, partition: i32, state: &Partition) {
        let metrics = &self.shared.metrics;
        metrics.member.forget(partition);
        let dropped = state.buffered();
        metrics.member.dropped_on_revoke.inc_by(dropped as u64);
        self.shared.failing.set(partition, None);
        tracing::info!(
            worker = self.id,
            partition,
            dropped,
            "partition revoked; its buffer is left to the next owner"
        );
    }

    /// Offers a record to its partition. True when the partition is due for landing.
    fn take(&mut self, partition: i32, record: BufferedRecord) -> bool {
        let offset = record.offset;
        let Some(state) = self.partitions.get_mut(&partition) else {
            return false; // revoked between fetch and here
        };
        match state.take(record, Instant::now(), &self.shared.policy) {
            Intake::Taken { due, continuity } => {
                if let Continuity::Gap { expected, missing } = continuity {
                    report_gap(
                        &self.consumer,
                        &self.shared.kafka.topic,
                        partition,
                        expected,
                        missing,
                        &self.shared.metrics.member.gaps,
                    );
                }
                due
            }
            Intake::Ignored => false,
            Intake::Behind { expected } => {
                self.halt_if_ahead(partition, expected, offset);
                false
            }
        }
    }

    /// A record older than the resume point means the broker reset the fetch position back,
    /// which it does when the position is past the partition's end: the topic was recreated
    /// or lost records, and the commit log describes another log. Landing would reuse file
    /// names already used, and skipping would drop the new records, so the
    /// partition is halted until a person moves the landed files aside.
    fn halt_if_ahead(&mut self, partition: i32, expected: i64, offset: i64) {
        let log = common::kafka::watermarks(&self.consumer, &self.shared.kafka.topic, partition);
        if let Some((_, end)) = log
            && end >= expected
        {
            // The log does reach the landed offset: a record fetched before a seek, already landed.
            tracing::warn!(
                worker = self.id,
                partition,
                expected,
                offset,
                log_end = end,
                "a record below the resume point arrived; it is already landed, so it is dropped"
            );
            return;
        }
        let Some(state) = self.partitions.get_mut(&partition) else {
            return;
        };
        let (effects, dropped) = state.halt();
        self.shared.metrics.checkpoint_ahead.inc();
        self.perform(partition, &effects);
        self.publish_gauges();
        tracing::error!(
            worker = self.id,
            partition,
            landed_up_to = expected - 1,
            log_end = log.map(|(_, end)| end),
            dropped,
            "the partition ends before its landed offset: the topic was recreated or lost records. \
             Nothing more is landed from it; move the topic's landed files aside (or set another \
             LANDING_URL) and restart"
        );
    }

    /// Sets each owned partition's lag from the latest statistics, if new ones came: records
    /// from its landed position (buffered records count, as they are not landed) to its end.
    fn measure_lag(&self) {
        let Some(ends) = self.consumer.context().take_ends() else {
            return;
        };
        self.shared.metrics.member.measure_lag(&ends, |partition| {
            self.partitions
                .get(&partition)
                .and_then(Partition::landed_position)
        });
    }

    /// Claims, lands and retries what is due on every owned partition.
    fn sweep(&mut self, now: Instant) {
        let owned: Vec<i32> = self.partitions.keys().copied().collect();
        for partition in owned {
            // One call that failed says storage is down: the other partitions wait for the
            // next sweep (the failed one backs off), so the worker is back polling within one
            // call timeout rather than one per partition, and its group can rebalance.
            if self.claim(partition, now).is_break()
                || self.land(partition, now, None).is_break()
                || self.compact(partition).is_break()
                || self.expire_and_erase(partition).is_break()
            {
                break;
            }
        }
        self.publish_gauges();
    }

    /// Lands what is due on every owned partition.
    fn land_all(&mut self, now: Instant, shutdown: Option<Instant>) {
        let owned: Vec<i32> = self.partitions.keys().copied().collect();
        for partition in owned {
            let _ = self.land(partition, now, shutdown);
        }
    }

    fn bound(shutdown: Option<Instant>) -> CallBound {
        shutdown.map_or(CallBound::UntilStopping, CallBound::Until)
    }

    /// Claims a partition in storage, if that is due: it then resumes where the log says.
    /// Breaks when storage failed.
    fn claim(&mut self, partition: i32, now: Instant) -> ControlFlow<()> {
        if !self
            .partitions
            .get(&partition)
            .is_some_and(|s| s.recovery_due(now))
        {
            return ControlFlow::Continue(());
        }
        let result = self.call(
            self.shared.landing.claim(partition, &self.member),
            CallBound::UntilStopping,
        );
        let backoff = self.backoff();
        let Some(state) = self.partitions.get_mut(&partition) else {
            return ControlFlow::Continue(());
        };
        match result {
            Ok(claimed) => {
                let resume = claimed.held.last_offset.map(|l| l + 1);
                let previous = claimed.previous.as_ref().map(ToString::to_string);
                let effects = state.claimed(claimed.held);
                self.shared.metrics.claims.inc();
                tracing::info!(
                    worker = self.id,
                    partition,
                    resume,
                    previous,
                    removed = claimed.removed,
                    "partition claimed"
                );
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
    fn land(&mut self, partition: i32, now: Instant, shutdown: Option<Instant>) -> ControlFlow<()> {
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
        let result = self.call(
            self.shared
                .landing
                .land(partition, held, batch, chrono::Utc::now()),
            Self::bound(shutdown),
        );
        match result {
            Ok(Landed::Visible(landed)) => {
                self.landed(partition, reason, &landed, started);
                ControlFlow::Continue(())
            }
            Ok(Landed::Committed { batch, reason: why }) => {
                self.landed(partition, reason, &batch, started);
                self.shared.metrics.storage_failures.inc();
                tracing::warn!(
                    worker = self.id,
                    partition,
                    err = why,
                    "landed, but not every file is visible yet; claiming the partition again finishes them"
                );
                if let Some(state) = self.partitions.get_mut(&partition) {
                    let effects = state.committed_unfinished(batch.last_offset);
                    self.perform(partition, &effects);
                }
                ControlFlow::Continue(())
            }
            Ok(Landed::Refused { holder }) => {
                self.refused(partition, holder);
                ControlFlow::Continue(())
            }
            // Stopping: the shutdown sweep lands the buffer again, within its deadline. Past
            // it, the buffer is kept and counted as not landed (it was never committed, so the
            // next owner reads it again).
            Err(CallError::Stopping | CallError::Deadline) => ControlFlow::Continue(()),
            Err(CallError::Failed(err)) => {
                // Nothing was published, or the commit was and its answer lost: landing the
                // same batch again under the same claim tells, and finishes it either way.
                let err = err.to_string();
                let backoff = self.backoff();
                let Some(state) = self.partitions.get_mut(&partition) else {
                    return ControlFlow::Break(());
                };
                let effects = state.landing_failed(err.clone(), now, backoff);
                self.shared.metrics.storage_failures.inc();
                self.shared.failing.set(partition, Some(&err));
                tracing::error!(
                    worker = self.id,
                    partition,
                    err,
                    "storage write failed; partition paused, data stays in Kafka"
                );
                self.perform(partition, &effects);
                ControlFlow::Break(())
            }
        }
    }

    /// Merges the partition's next due hour, if one is due and no other worker of the process
    /// is merging. Breaks when storage failed.
    fn compact(&mut self, partition: i32) -> ControlFlow<()> {
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
        let result = self.call(
            self.shared
                .landing
                .compact(partition, held, hour, self.shared.compaction.target_bytes),
            CallBound::UntilStopping,
        );
        let metrics = &self.shared.metrics;
        let hour_dir = hour.dir();
        match result {
            Ok(Compaction::NothingToMerge { held }) => {
                if let Some(state) = self.partitions.get_mut(&partition) {
                    state.rewritten(held);
                }
            }
            Ok(Compaction::Visible(done)) => {
                self.compacted(partition, &done, started);
                if let Some(state) = self.partitions.get_mut(&partition) {
                    state.rewritten(done.held);
                }
            }
            Ok(Compaction::Committed { hour: done, reason }) => {
                self.compacted(partition, &done, started);
                metrics.storage_failures.inc();
                tracing::warn!(
                    worker = self.id,
                    partition,
                    hour = hour_dir,
                    err = reason,
                    "compacted, but not finished; claiming the partition again finishes it"
                );
                if let Some(state) = self.partitions.get_mut(&partition) {
                    let landed = done.held.last_offset.unwrap_or(-1);
                    let effects = state.committed_unfinished(landed);
                    self.perform(partition, &effects);
                }
            }
            Ok(Compaction::Refused { holder }) => self.refused(partition, holder),
            Ok(Compaction::Unreadable { reason, held }) => {
                metrics.compactions_skipped.inc();
                tracing::error!(
                    worker = self.id,
                    partition,
                    hour = hour_dir,
                    err = reason,
                    "cannot merge the hour: a file of it is not of the landed format; it is left as it is"
                );
                if let Some(state) = self.partitions.get_mut(&partition) {
                    state.rewritten(held);
                }
            }
            Err(CallError::Stopping | CallError::Deadline) => {}
            Err(CallError::Failed(err)) => {
                // Nothing is lost: the hour stays to merge, and is tried at the next sweep
                // that finds storage answering (a landing's backoff pauses the partition).
                metrics.storage_failures.inc();
                tracing::error!(
                    worker = self.id,
                    partition,
                    hour = hour_dir,
                    %err,
                    "compaction failed; the hour is merged later"
                );
                return ControlFlow::Break(());
            }
        }
        ControlFlow::Continue(())
    }

    fn compacted(&self, partition: i32, done: &crate::landing::CompactedHour, started: Instant) {
        let metrics = &self.shared.metrics;
        metrics.compactions.inc();
        metrics.compaction_files_in.inc_by(done.inputs as u64);
        metrics
            .compaction_files_out
            .inc_by(done.outputs.len() as u64);
        metrics.compaction_bytes_in.inc_by(done.merged.bytes_in);
        metrics.compaction_bytes_out.inc_by(done.merged.bytes_out);
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

    /// Another member claimed the partition while this one still took it for its own: its
    /// landing is refused, nothing of it is visible, and its records are the holder's to land.
    fn refused(&mut self, partition: i32, holder: String) {
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

    fn landed(
        &mut self,
        partition: i32,
        reason: FlushReason,
        landed: &LandedBatch,
        started: Instant,
    ) {
        let Some(state) = self.partitions.get_mut(&partition) else {
            return;
        };
        let records = state.buffered();
        let was_failing = state.failing().is_some();
        let effects = state.landed(landed.held.clone());
        let metrics = &self.shared.metrics;
        metrics
            .flush_duration_seconds
            .observe(started.elapsed().as_secs_f64());
        metrics
            .flushes
            .get_or_create(&ReasonLabel {
                reason: reason.as_str(),
            })
            .inc();
        metrics.files_landed.inc_by(landed.files.len() as u64);
        metrics.bytes_landed.inc_by(landed.bytes as u64);
        metrics.invalid_records.inc_by(landed.invalid as u64);
        metrics.expired_records.inc_by(landed.expired as u64);
        metrics
            .records_landed
            .inc_by((records - landed.invalid - landed.expired) as u64);
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
        if was_failing {
            self.shared.failing.set(partition, None);
            tracing::info!(worker = self.id, partition, "storage recovered");
        }
        self.perform(partition, &effects);
    }

    /// Does on the consumer what a partition's transition asks.
    fn perform(&self, partition: i32, effects: &[Effect]) {
        let topic = &self.shared.kafka.topic;
        let mut tpl = TopicPartitionList::new();
        let _ = tpl.add_partition(topic, partition);
        for effect in effects {
            let result = match *effect {
                Effect::Seek(next) => {
                    let offset = next.map_or(Offset::Beginning, Offset::Offset);
                    self.consumer
                        .seek(topic, partition, offset, Duration::from_secs(10))
                }
                Effect::Pause => self.consumer.pause(&tpl),
                Effect::Resume => self.consumer.resume(&tpl),
                Effect::Commit(next) => {
                    let mut offsets = TopicPartitionList::new();
                    let _ = offsets.add_partition_offset(topic, partition, Offset::Offset(next));
                    self.consumer.commit(&offsets, CommitMode::Async)
                }
            };
            if let Err(err) = result {
                tracing::warn!(worker = self.id, partition, ?effect, %err, "the consumer refused");
            }
        }
    }

    /// Commits, for every owned partition, the offset before which everything is landed.
    fn commit_landed(&self) {
        let mut tpl = TopicPartitionList::new();
        for (partition, state) in &self.partitions {
            if let Some(position) = state.landed_position() {
                let _ = tpl.add_partition_offset(
                    &self.shared.kafka.topic,
                    *partition,
                    Offset::Offset(position),
                );
            }
        }
        // Async: with the brokers gone a synchronous commit would never return; librdkafka
        // sends it while the consumer closes.
        if tpl.count() > 0
            && let Err(err) = self.consumer.commit(&tpl, CommitMode::Async)
        {
            tracing::warn!(worker = self.id, %err, "final offset commit failed");
        }
    }

    fn backoff(&self) -> impl Fn(u32) -> Duration + use<> {
        let max = self.shared.max_backoff;
        move |failures| common::backoff::retry_wait(failures, BASE_BACKOFF, max)
    }

    /// Runs a storage call on the runtime until it answers, [`STORAGE_CALL_TIMEOUT`] passes
    /// while consuming (a failure), the host says stop while consuming (`Stopping`), or the
    /// shutdown deadline passes while stopping (`Deadline`). A call given up is dropped: behind
    /// the commit log, whatever it did not finish is finished or removed by the next claim.
    fn call<T>(
        &self,
        call: impl std::future::Future<Output = Result<T, StorageError>>,
        bound: CallBound,
    ) -> Result<T, CallError> {
        let no_answer = || StorageError::NoAnswer {
            storage: self.shared.landing.storage().to_owned(),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rebalances_are_applied_in_the_order_they_came_and_once() {
        let recorded = RecordedRebalances::default();
        recorded.record(Rebalance::Assigned(vec![0, 1, 2]));
        recorded.record(Rebalance::Revoked(vec![0, 1, 2]));
        recorded.record(Rebalance::Assigned(vec![1]));
        let taken = recorded.take();
        assert!(
            matches!(
                taken.as_slice(),
                [
                    Rebalance::Assigned(a),
                    Rebalance::Revoked(r),
                    Rebalance::Assigned(b)
                ] if a == &[0, 1, 2] && r == &[0, 1, 2] && b == &[1]
            ),
            "{taken:?}"
        );
        assert!(recorded.take().is_empty());
    }
}
