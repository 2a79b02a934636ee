//! One worker: a consumer in the group, the buffers of the partitions it owns, and the loop
//! that lands them. Landing runs on the polling thread, so a rebalance (which librdkafka runs
//! inside `poll`) never happens in the middle of one.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::kafka::{Continuity, consumer_config, report_gap, watermarks};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext};
use rdkafka::error::KafkaResult;
use rdkafka::message::Message;
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use tokio::runtime::Handle;
use tokio::sync::watch;

use crate::buffer::{BufferedRecord, FlushPolicy, FlushReason, PartitionBuffer};
use crate::landing::Landing;
use crate::metrics::{ConsumerMetrics, PartitionLabel, ReasonLabel};

/// What every worker of the process shares.
pub struct Shared {
    pub landing: Landing,
    pub runtime: Handle,
    pub topic: String,
    pub policy: FlushPolicy,
    pub max_backoff: Duration,
    pub metrics: ConsumerMetrics,
    /// Turns true when the process starts stopping.
    pub stopping: watch::Receiver<bool>,
}

/// Where an owned partition's reading stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Position {
    /// Storage did not answer at assignment: where to resume is unknown, so nothing is taken.
    Unrecovered,
    /// Taking records; `next` is the offset the next one should have, unknown until the first
    /// record when nothing of the partition was ever landed.
    Reading { next: Option<i64> },
    /// The partition ends before its checkpoint: the topic was recreated or lost records.
    /// Nothing is taken or landed, so nothing lands under names the checkpoint already used.
    Halted,
}

/// State of one owned partition.
struct PartitionState {
    position: Position,
    buffer: PartitionBuffer,
    /// Failed attempts in a row (landing or recovery) and when to try again.
    failures: u32,
    retry_at: Option<Instant>,
    paused: bool,
}

impl PartitionState {
    fn new(position: Position) -> Self {
        PartitionState {
            position,
            buffer: PartitionBuffer::default(),
            failures: 0,
            retry_at: None,
            paused: false,
        }
    }
}

type Partitions = Arc<Mutex<HashMap<i32, PartitionState>>>;

/// Handles rebalances: on assignment, each partition resumes right after its last landed
/// offset, found in storage; on revocation, its buffer is dropped.
///
/// Dropping is safe: nothing in a buffer was landed or committed, and the next owner resumes
/// from storage, so it reads those records again. Landing instead would write from a consumer
/// that no longer owns the partition, racing its next owner.
pub struct WorkerContext {
    worker: usize,
    shared: Arc<Shared>,
    partitions: Partitions,
}

impl ClientContext for WorkerContext {}

impl ConsumerContext for WorkerContext {
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                let mut unrecovered = TopicPartitionList::new();
                let mut partitions = self.partitions.lock().expect("not poisoned");
                let assigned: Vec<(String, i32)> = tpl
                    .elements()
                    .iter()
                    .map(|e| (e.topic().to_owned(), e.partition()))
                    .collect();
                for (topic, partition) in assigned {
                    let recovered = self.shared.recover(partition, CallBound::UntilStopping);
                    let state = match recovered {
                        Ok(last) => {
                            let offset = last.map_or(Offset::Beginning, |l| Offset::Offset(l + 1));
                            tracing::info!(worker = self.worker, partition, resume = ?offset, "partition assigned");
                            let _ = tpl.set_partition_offset(&topic, partition, offset);
                            PartitionState::new(Position::Reading {
                                next: last.map(|l| l + 1),
                            })
                        }
                        Err(err) => {
                            if let CallError::Failed(err) = err {
                                tracing::error!(
                                    worker = self.worker,
                                    partition,
                                    err,
                                    "cannot read landed state; partition paused until storage answers"
                                );
                                self.shared.metrics.storage_failures.inc();
                            }
                            unrecovered.add_partition(&topic, partition);
                            let mut state = PartitionState::new(Position::Unrecovered);
                            state.paused = true;
                            state.failures = 1;
                            state.retry_at =
                                Some(Instant::now() + backoff(1, self.shared.max_backoff));
                            state
                        }
                    };
                    if partitions.insert(partition, state).is_none() {
                        self.shared.metrics.assigned_partitions.inc();
                    }
                }
                drop(partitions);
                if let Err(err) = consumer.assign(tpl) {
                    tracing::error!(worker = self.worker, %err, "assign failed");
                }
                if unrecovered.count() > 0 {
                    let _ = consumer.pause(&unrecovered);
                }
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                let mut partitions = self.partitions.lock().expect("not poisoned");
                for element in tpl.elements() {
                    if let Some(state) = partitions.remove(&element.partition()) {
                        self.shared.metrics.assigned_partitions.dec();
                        if state.position == Position::Halted {
                            self.shared.metrics.halted_partitions.dec();
                        }
                        let dropped = state.buffer.len();
                        self.shared.metrics.dropped_on_revoke.inc_by(dropped as u64);
                        self.shared.metrics.buffered_records.dec_by(dropped as i64);
                        tracing::info!(
                            worker = self.worker,
                            partition = element.partition(),
                            dropped,
                            "partition revoked; its buffer is left to the next owner"
                        );
                    }
                }
                drop(partitions);
                if let Err(err) = consumer.unassign() {
                    tracing::error!(worker = self.worker, %err, "unassign failed");
                }
            }
            other => tracing::error!(worker = self.worker, error = ?other, "rebalance error"),
        }
    }

    fn commit_callback(&self, result: KafkaResult<()>, _offsets: &TopicPartitionList) {
        if let Err(err) = result {
            // Offsets in Kafka are only for lag monitoring; storage is the truth.
            tracing::warn!(worker = self.worker, %err, "offset commit failed");
        }
    }
}

/// Longest a single storage call may take. A hung call must not keep the worker from polling
/// past the group's rebalance timeout, or the partition would get a second owner while the
/// first is still writing.
const STORAGE_CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a poll waits, and how often every owned partition is looked at.
const SWEEP_INTERVAL: Duration = Duration::from_millis(100);

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
    Failed(String),
}

impl Shared {
    fn recover(&self, partition: i32, bound: CallBound) -> Result<Option<i64>, CallError> {
        self.bounded(self.landing.recover(partition), bound)
    }

    fn land(
        &self,
        partition: i32,
        batch: &[BufferedRecord],
        bound: CallBound,
    ) -> Result<crate::landing::LandedBatch, CallError> {
        self.bounded(self.landing.land(partition, batch), bound)
    }

    fn bounded<T>(
        &self,
        call: impl std::future::Future<Output = Result<T, crate::landing::StorageError>>,
        bound: CallBound,
    ) -> Result<T, CallError> {
        let failed = |e: crate::landing::StorageError| CallError::Failed(e.to_string());
        let mut stopping = self.stopping.clone();
        // Timers must be made inside the runtime, hence the async blocks.
        self.runtime.block_on(async {
            match bound {
                CallBound::UntilStopping => tokio::select! {
                    result = call => result.map_err(failed),
                    () = tokio::time::sleep(STORAGE_CALL_TIMEOUT) => Err(CallError::Failed(format!(
                        "{}: no answer within {STORAGE_CALL_TIMEOUT:?}",
                        self.landing.storage()
                    ))),
                    _ = stopping.wait_for(|stop| *stop) => Err(CallError::Stopping),
                },
                CallBound::Until(deadline) => tokio::select! {
                    result = call => result.map_err(failed),
                    () = tokio::time::sleep_until(deadline.into()) => Err(CallError::Failed(format!(
                        "{}: no answer before the shutdown deadline",
                        self.landing.storage()
                    ))),
                },
            }
        })
    }
}

fn backoff(failures: u32, max: Duration) -> Duration {
    let exp = Duration::from_millis(100).saturating_mul(1 << failures.min(16));
    exp.min(max)
}

pub struct Worker {
    id: usize,
    consumer: BaseConsumer<WorkerContext>,
    shared: Arc<Shared>,
    partitions: Partitions,
    last_lag_check: Instant,
}

impl Worker {
    pub fn new(
        id: usize,
        bootstrap: &str,
        group: &str,
        properties: &[(String, String)],
        shared: Arc<Shared>,
    ) -> KafkaResult<Self> {
        let partitions: Partitions = Arc::default();
        let context = WorkerContext {
            worker: id,
            shared: Arc::clone(&shared),
            partitions: Arc::clone(&partitions),
        };
        let mut config = consumer_config(bootstrap, group, &format!("hdfs-consumer-{id}"));
        // Eager assignors: a rebalance revokes everything, then assigns; the callback relies on it.
        config.set("partition.assignment.strategy", "range,roundrobin");
        for (key, value) in properties {
            config.set(key, value);
        }
        let consumer: BaseConsumer<WorkerContext> = config.create_with_context(context)?;
        consumer.subscribe(&[&shared.topic])?;
        Ok(Worker {
            id,
            consumer,
            shared,
            partitions,
            last_lag_check: Instant::now(),
        })
    }

    /// Consumes and lands until the process starts stopping, then lands what is buffered
    /// (trying until `shutdown_timeout` passes), commits and leaves the group.
    /// `landed` is called with the records still unlanded once the buffers are landed (or the
    /// deadline passed), before the worker leaves the group, which may take long when the
    /// brokers are gone.
    pub fn run(mut self, shutdown_timeout: Duration, landed: impl FnOnce(usize)) {
        let mut last_sweep = Instant::now();
        while !*self.shared.stopping.borrow() {
            if let Some(result) = self.consumer.poll(SWEEP_INTERVAL) {
                match result {
                    Ok(message) => {
                        let partition = message.partition();
                        let record = BufferedRecord::classify(
                            message.topic(),
                            partition,
                            message.offset(),
                            message.payload(),
                        );
                        if self.accept(partition, record) {
                            self.service_partition(partition, Instant::now(), None);
                        }
                    }
                    Err(err) => tracing::warn!(worker = self.id, %err, "consume error"),
                }
            }
            // Ages, retries, recoveries and lag need no finer clock than this; checking them
            // after every record would put a walk over all partitions on the hot path.
            let now = Instant::now();
            if now.duration_since(last_sweep) >= SWEEP_INTERVAL {
                last_sweep = now;
                self.service_partitions(now, None);
            }
        }
        let deadline = Instant::now() + shutdown_timeout;
        tracing::info!(worker = self.id, "stopping: landing buffered records");
        let pending = loop {
            let pending = self.service_partitions(Instant::now(), Some(deadline));
            if pending == 0 || Instant::now() >= deadline {
                if pending > 0 {
                    tracing::error!(
                        worker = self.id,
                        pending,
                        "shutdown deadline passed; unlanded records stay in Kafka"
                    );
                }
                break pending;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        self.commit_landed();
        landed(pending);
        self.consumer.unsubscribe();
        tracing::info!(worker = self.id, "left the group");
    }

    /// Buffers a record of `partition`. True when the buffer is now due by count or size.
    fn accept(&self, partition: i32, record: BufferedRecord) -> bool {
        let expected = match self.position(partition) {
            Some(Position::Reading { next }) => next,
            // Revoked between fetch and here, or not recovered yet (read again from the right
            // place once it is), or halted.
            _ => return false,
        };
        match Continuity::of(expected, record.offset) {
            Continuity::InOrder => {}
            Continuity::Gap { expected, missing } => report_gap(
                &self.consumer,
                &self.shared.topic,
                partition,
                expected,
                missing,
                &self.shared.metrics.gaps,
            ),
            Continuity::Behind { expected } => {
                self.halt_if_ahead(partition, expected);
                return false;
            }
        }
        let now = Instant::now();
        let mut partitions = self.partitions.lock().expect("not poisoned");
        let Some(state) = partitions.get_mut(&partition) else {
            return false;
        };
        state.position = Position::Reading {
            next: Some(record.offset + 1),
        };
        state.buffer.push(record, now);
        self.shared.metrics.buffered_records.inc();
        state.retry_at.is_none()
            && matches!(
                state.buffer.due(&self.shared.policy, now),
                Some(FlushReason::Records | FlushReason::Bytes)
            )
    }

    fn position(&self, partition: i32) -> Option<Position> {
        self.partitions
            .lock()
            .expect("not poisoned")
            .get(&partition)
            .map(|s| s.position)
    }

    /// A record older than the resume point means the broker reset the fetch position back,
    /// which it does when the position is past the partition's end: the topic was recreated
    /// or lost records, and the checkpoint describes another log. Landing would reuse file
    /// names the checkpoint already used, and skipping would drop the new records, so the
    /// partition is halted until a person moves the landed files aside.
    fn halt_if_ahead(&self, partition: i32, expected: i64) {
        let log = watermarks(&self.consumer, &self.shared.topic, partition);
        if let Some((_, end)) = log
            && end >= expected
        {
            // The log does reach the checkpoint: a record fetched before a seek, already landed.
            tracing::warn!(
                worker = self.id,
                partition,
                expected,
                log_end = end,
                "a record below the resume point arrived; it is already landed, so it is dropped"
            );
            return;
        }
        {
            let mut partitions = self.partitions.lock().expect("not poisoned");
            let Some(state) = partitions.get_mut(&partition) else {
                return;
            };
            state.position = Position::Halted;
            self.shared
                .metrics
                .buffered_records
                .dec_by(state.buffer.len() as i64);
            state.buffer.clear();
        }
        self.set_paused(partition, true);
        let metrics = &self.shared.metrics;
        metrics.checkpoint_ahead.inc();
        metrics.halted_partitions.inc();
        tracing::error!(
            worker = self.id,
            partition,
            landed_up_to = expected - 1,
            log_end = log.map(|(_, end)| end),
            "the partition ends before its checkpoint: the topic was recreated or lost records. \
             Nothing more is landed from it; move the topic's landed files aside (or set another \
             LANDING_URL) and restart"
        );
    }

    /// Lands due buffers, retries failed ones and recoveries, and updates lag. With a shutdown
    /// deadline, every non-empty buffer is due. Returns how many records are still buffered.
    fn service_partitions(&mut self, now: Instant, shutdown: Option<Instant>) -> usize {
        let owned: Vec<i32> = self
            .partitions
            .lock()
            .expect("not poisoned")
            .keys()
            .copied()
            .collect();
        let mut pending = 0;
        for partition in owned {
            self.service_partition(partition, now, shutdown);
            pending += self
                .partitions
                .lock()
                .expect("not poisoned")
                .get(&partition)
                .map_or(0, |s| s.buffer.len());
        }
        if now.duration_since(self.last_lag_check) >= Duration::from_secs(5) {
            self.last_lag_check = now;
            self.update_lag();
        }
        pending
    }

    fn service_partition(&mut self, partition: i32, now: Instant, shutdown: Option<Instant>) {
        let bound = shutdown.map_or(CallBound::UntilStopping, CallBound::Until);
        let mut partitions = self.partitions.lock().expect("not poisoned");
        let Some(state) = partitions.get_mut(&partition) else {
            return;
        };
        if state.retry_at.is_some_and(|at| now < at) {
            return;
        }
        if state.position == Position::Halted {
            return;
        }
        if state.position == Position::Unrecovered {
            // Assignment found storage unavailable: try again, then read from the right place.
            match self.shared.recover(partition, bound) {
                Ok(last) => {
                    let offset = last.map_or(Offset::Beginning, |l| Offset::Offset(l + 1));
                    state.position = Position::Reading {
                        next: last.map(|l| l + 1),
                    };
                    state.failures = 0;
                    state.retry_at = None;
                    drop(partitions);
                    tracing::info!(worker = self.id, partition, resume = ?offset, "storage answered; partition resumes");
                    if let Err(err) = self.consumer.seek(
                        &self.shared.topic,
                        partition,
                        offset,
                        Duration::from_secs(10),
                    ) {
                        tracing::warn!(worker = self.id, partition, %err, "seek failed");
                    }
                    self.set_paused(partition, false);
                }
                Err(CallError::Stopping) => {}
                Err(CallError::Failed(err)) => self.note_failure(state, partition, &err),
            }
            return;
        }
        let reason = if shutdown.is_some() && !state.buffer.is_empty() {
            Some(FlushReason::Shutdown)
        } else if state.retry_at.is_some() {
            Some(FlushReason::Age) // a retry of a landing that failed
        } else {
            state.buffer.due(&self.shared.policy, now)
        };
        let Some(reason) = reason else { return };
        if state.buffer.is_empty() {
            return;
        }
        let started = Instant::now();
        match self.shared.land(partition, state.buffer.records(), bound) {
            Ok(landed) => {
                let metrics = &self.shared.metrics;
                metrics
                    .flush_duration
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
                metrics
                    .records_landed
                    .inc_by((state.buffer.len() - landed.invalid) as u64);
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
                metrics.buffered_records.dec_by(state.buffer.len() as i64);
                state.buffer.clear();
                let was_failing = state.failures > 0;
                state.failures = 0;
                state.retry_at = None;
                let paused = state.paused;
                drop(partitions);
                if was_failing {
                    tracing::info!(worker = self.id, partition, "storage recovered");
                }
                self.commit(partition, landed.last_offset + 1);
                if paused {
                    self.set_paused(partition, false);
                }
            }
            // Stopping: the shutdown loop lands the buffer again, within its deadline.
            Err(CallError::Stopping) => {}
            Err(CallError::Failed(err)) => {
                let paused = state.paused;
                self.note_failure(state, partition, &err);
                drop(partitions);
                if !paused {
                    self.set_paused(partition, true);
                }
            }
        }
    }

    fn note_failure(&self, state: &mut PartitionState, partition: i32, err: &str) {
        state.failures += 1;
        let wait = backoff(state.failures, self.shared.max_backoff);
        state.retry_at = Some(Instant::now() + wait);
        self.shared.metrics.storage_failures.inc();
        tracing::error!(worker = self.id, partition, failures = state.failures, retry_in = ?wait, err, "storage write failed; partition paused, data stays in Kafka");
    }

    fn set_paused(&self, partition: i32, paused: bool) {
        let mut tpl = TopicPartitionList::new();
        let _ = tpl.add_partition(&self.shared.topic, partition);
        let result = if paused {
            self.consumer.pause(&tpl)
        } else {
            self.consumer.resume(&tpl)
        };
        match result {
            Ok(()) => {
                if let Some(state) = self
                    .partitions
                    .lock()
                    .expect("not poisoned")
                    .get_mut(&partition)
                {
                    state.paused = paused;
                }
            }
            Err(err) => {
                tracing::warn!(worker = self.id, partition, paused, %err, "cannot change fetch state")
            }
        }
    }

    fn commit(&self, partition: i32, next_offset: i64) {
        let mut tpl = TopicPartitionList::new();
        let _ =
            tpl.add_partition_offset(&self.shared.topic, partition, Offset::Offset(next_offset));
        if let Err(err) = self.consumer.commit(&tpl, CommitMode::Async) {
            tracing::warn!(worker = self.id, partition, %err, "offset commit not sent");
        }
    }

    /// Commits the offset after the last landed record of every owned partition.
    fn commit_landed(&self) {
        let mut tpl = TopicPartitionList::new();
        for (partition, state) in self.partitions.lock().expect("not poisoned").iter() {
            if let Position::Reading { next: Some(next) } = state.position {
                let landed_next = next - state.buffer.len() as i64;
                let _ = tpl.add_partition_offset(
                    &self.shared.topic,
                    *partition,
                    Offset::Offset(landed_next),
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

    fn update_lag(&self) {
        let owned: Vec<(i32, i64, usize)> = self
            .partitions
            .lock()
            .expect("not poisoned")
            .iter()
            .filter_map(|(p, s)| match s.position {
                Position::Reading { next: Some(next) } => Some((*p, next, s.buffer.len())),
                _ => None,
            })
            .collect();
        for (partition, next, buffered) in owned {
            if let Ok((_, high)) = self.consumer.fetch_watermarks(
                &self.shared.topic,
                partition,
                Duration::from_millis(500),
            ) {
                let landed_next = next - buffered as i64;
                self.shared
                    .metrics
                    .lag
                    .get_or_create(&PartitionLabel { partition })
                    .set((high - landed_next).max(0));
            }
        }
    }
}
