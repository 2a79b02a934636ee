//! The consumer: one member of the group, reading every partition it owns, gathering records
//! into batches, handing each batch to the runtime to index, and committing each partition up
//! to its first record that is not done yet.
//!
//! Everything that touches offsets runs on the polling thread, and librdkafka runs rebalances
//! inside `poll` on that same thread, so a rebalance always sees a consistent state.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use common::host::LoopContext;
use common::kafka::{
    ClientLog, Continuity, KafkaArgs, group_consumer, lag, partition_ends, report_gap,
};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext};
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use tokio::runtime::Handle;

use crate::batch::{Batch, BatchPolicy, RecordRef, classify_record};
use crate::dead_letter::DeadLetterProducer;
use crate::indexer::Indexer;
use crate::metrics::{PartitionLabel, SinkMetrics};
use crate::offsets::PartitionOffsets;

/// What the consumer thread and the indexing tasks share.
pub struct Shared {
    pub runtime: Handle,
    pub kafka: KafkaArgs,
    pub group: String,
    pub prefetch_bytes: usize,
    pub log: Arc<ClientLog>,
    pub policy: BatchPolicy,
    pub max_in_flight: usize,
    pub rebalance_timeout: Duration,
    pub indexer: Arc<Indexer>,
    pub dead_letters: Arc<DeadLetterProducer>,
    pub metrics: SinkMetrics,
}

/// Longest a poll waits; also how late a finished batch may be noticed while records flow.
const POLL_INTERVAL: Duration = Duration::from_millis(100);
/// How long every bulk slot may stay busy before fetching is paused. Shorter waits are
/// absorbed by not polling; pausing drops what librdkafka prefetched, to be fetched again.
const PAUSE_AFTER: Duration = Duration::from_secs(5);
/// How long an assignment waits for the group's committed offsets, which tell where reading
/// resumes and so whether the first record follows on.
const COMMITTED_TIMEOUT: Duration = Duration::from_secs(10);

struct PartitionState {
    generation: u64,
    offsets: PartitionOffsets,
    /// Records of this partition in batches being indexed.
    in_flight: usize,
}

#[derive(Default)]
struct State {
    partitions: HashMap<i32, PartitionState>,
    open: Batch,
    in_flight: usize,
    generations: u64,
    paused: bool,
}

/// The consumer's context: the state, and the rebalance handling that must see it.
pub struct SinkContext {
    shared: Arc<Shared>,
    state: Mutex<State>,
    done_tx: mpsc::Sender<Vec<RecordRef>>,
    done_rx: Mutex<mpsc::Receiver<Vec<RecordRef>>>,
}

impl ClientContext for SinkContext {
    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, fac: &str, log_message: &str) {
        self.shared.log.log(level, fac, log_message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.shared.log.error(&error, reason);
    }

    fn stats_raw(&self, statistics: &[u8]) {
        let state = self.state();
        for (partition, end) in partition_ends(statistics, &self.shared.kafka.topic) {
            let position = state
                .partitions
                .get(&partition)
                .and_then(|p| p.offsets.position());
            if let Some(position) = position {
                self.shared
                    .metrics
                    .lag
                    .get_or_create(&PartitionLabel { partition })
                    .set(lag(end, position));
            }
        }
    }
}

impl ConsumerContext for SinkContext {
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                let resume = self.committed(consumer, tpl);
                let mut state = self.state();
                for element in tpl.elements() {
                    state.generations += 1;
                    let generation = state.generations;
                    let fresh = PartitionState {
                        generation,
                        offsets: PartitionOffsets::resuming_at(
                            resume.get(&element.partition()).copied(),
                        ),
                        in_flight: 0,
                    };
                    if state
                        .partitions
                        .insert(element.partition(), fresh)
                        .is_none()
                    {
                        self.shared.metrics.assigned_partitions.inc();
                    }
                    tracing::info!(partition = element.partition(), "partition assigned");
                }
                drop(state);
                if let Err(err) = consumer.assign(tpl) {
                    tracing::error!(%err, "assign failed");
                }
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                let revoked: Vec<i32> = tpl.elements().iter().map(|e| e.partition()).collect();
                self.revoke(consumer, &revoked);
                if let Err(err) = consumer.unassign() {
                    tracing::error!(%err, "unassign failed");
                }
            }
            other => tracing::error!(error = ?other, "rebalance error"),
        }
    }

    fn commit_callback(&self, result: KafkaResult<()>, _offsets: &TopicPartitionList) {
        if let Err(err) = result {
            // The next commit carries the same or a later offset; a redelivery only overwrites.
            tracing::warn!(%err, "offset commit failed");
        }
    }
}

impl SinkContext {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("not poisoned")
    }

    /// The group's committed offsets of the partitions being assigned, made the explicit start
    /// of each, so the first record read can be checked against them. Empty when the lookup
    /// fails: librdkafka then looks them up itself, and the first record is not checked.
    fn committed(
        &self,
        consumer: &BaseConsumer<Self>,
        tpl: &mut TopicPartitionList,
    ) -> HashMap<i32, i64> {
        let committed = match consumer.committed_offsets(tpl.clone(), COMMITTED_TIMEOUT) {
            Ok(committed) => committed,
            Err(err) => {
                tracing::warn!(%err, "cannot read the committed offsets; resuming without checking the first records");
                return HashMap::new();
            }
        };
        let mut resume = HashMap::new();
        for element in committed.elements() {
            if let Offset::Offset(offset) = element.offset() {
                resume.insert(element.partition(), offset);
                let _ = tpl.set_partition_offset(
                    element.topic(),
                    element.partition(),
                    Offset::Offset(offset),
                );
            }
        }
        resume
    }

    /// Adds a record to the open batch (as a document or a dead letter).
    fn accept(&self, consumer: &BaseConsumer<Self>, message: &BorrowedMessage<'_>) {
        let partition = message.partition();
        let offset = message.offset();
        let mut state = self.state();
        let Some(owned) = state.partitions.get_mut(&partition) else {
            return; // revoked between fetch and here; the next owner reads it
        };
        let continuity = owned.offsets.read(offset);
        let record = RecordRef {
            partition,
            offset,
            generation: owned.generation,
        };
        let entry = classify_record(
            self.shared.indexer.elastic().index_prefix(),
            record,
            message.key(),
            message.payload(),
        );
        state.open.push(entry, Instant::now());
        drop(state);
        self.shared.metrics.consumed.inc();
        match continuity {
            Continuity::InOrder => {}
            Continuity::Gap { expected, missing } => report_gap(
                consumer,
                &self.shared.kafka.topic,
                partition,
                expected,
                missing,
                &self.shared.metrics.gaps,
            ),
            Continuity::Behind { expected } => {
                // Documents are keyed by event id, so reading the new log from its start
                // indexes what is new and only overwrites what is not.
                self.shared.metrics.committed_ahead.inc();
                tracing::error!(
                    partition,
                    committed = expected,
                    offset,
                    "the partition ends before its committed offset: the topic was recreated or lost records; indexing it from its start"
                );
            }
        }
    }

    /// Sends the open batch to be indexed if it is due (or `force`d and not empty) and a slot is
    /// free. True when the batch is full and waits for a slot.
    fn dispatch(&self, now: Instant, force: bool) -> bool {
        let mut state = self.state();
        if state.open.is_empty() || !(force || state.open.is_due(&self.shared.policy, now)) {
            return false;
        }
        if state.in_flight >= self.shared.max_in_flight {
            return state.open.is_full(&self.shared.policy);
        }
        let batch = std::mem::take(&mut state.open);
        for record in batch.records() {
            if let Some(owned) = state.partitions.get_mut(&record.partition) {
                owned.in_flight += 1;
            }
        }
        state.in_flight += 1;
        self.shared
            .metrics
            .bulks_in_flight
            .set(state.in_flight as i64);
        drop(state);
        let shared = Arc::clone(&self.shared);
        let done = self.done_tx.clone();
        self.shared.runtime.spawn(async move {
            let records: Vec<RecordRef> = batch.records().collect();
            let report = shared.indexer.index(&batch.docs).await;
            let mut letters = batch.invalid;
            letters.extend(
                report
                    .refused
                    .iter()
                    .map(|r| batch.docs[r.doc].dead_letter(r.status, &r.reason)),
            );
            shared.dead_letters.send_all(&letters).await;
            let _ = done.send(records);
        });
        false
    }

    /// Applies finished batches, waiting up to `wait` for one, and commits what moved.
    fn collect_done(&self, consumer: &BaseConsumer<Self>, wait: Duration) {
        let receiver = self.done_rx.lock().expect("not poisoned");
        let first = if wait.is_zero() {
            receiver.try_recv().ok()
        } else {
            receiver.recv_timeout(wait).ok()
        };
        let Some(first) = first else { return };
        let mut state = self.state();
        let mut finished = vec![first];
        finished.extend(receiver.try_iter());
        drop(receiver);
        for records in finished {
            state.in_flight -= 1;
            for record in records {
                if let Some(owned) = state.partitions.get_mut(&record.partition)
                    && owned.generation == record.generation
                {
                    owned.offsets.done(record.offset);
                    owned.in_flight -= 1;
                }
            }
        }
        self.shared
            .metrics
            .bulks_in_flight
            .set(state.in_flight as i64);
        self.commit(consumer, &mut state, None, CommitMode::Async);
    }

    /// Commits the partitions whose committable offset moved (only `only`, if given).
    fn commit(
        &self,
        consumer: &BaseConsumer<Self>,
        state: &mut State,
        only: Option<&[i32]>,
        mode: CommitMode,
    ) {
        let mut tpl = TopicPartitionList::new();
        for (partition, owned) in state.partitions.iter_mut() {
            if only.is_some_and(|p| !p.contains(partition)) {
                continue;
            }
            if let Some(offset) = owned.offsets.take_commit() {
                let _ = tpl.add_partition_offset(
                    &self.shared.kafka.topic,
                    *partition,
                    Offset::Offset(offset),
                );
            }
        }
        if tpl.count() > 0
            && let Err(err) = consumer.commit(&tpl, mode)
        {
            tracing::warn!(%err, "offset commit not sent");
        }
    }

    /// Gives up revoked partitions: their records not yet sent are dropped, their batches in
    /// flight get until the rebalance timeout, and only what is done is committed.
    fn revoke(&self, consumer: &BaseConsumer<Self>, revoked: &[i32]) {
        let dropped = self
            .state()
            .open
            .retain_partitions(|p| !revoked.contains(&p));
        self.shared.metrics.dropped_on_revoke.inc_by(dropped as u64);
        let deadline = Instant::now() + self.shared.rebalance_timeout;
        loop {
            let waiting: usize = {
                let state = self.state();
                revoked
                    .iter()
                    .filter_map(|p| state.partitions.get(p))
                    .map(|p| p.in_flight)
                    .sum()
            };
            if waiting == 0 {
                break;
            }
            let now = Instant::now();
            if now >= deadline {
                tracing::warn!(
                    records = waiting,
                    "revoked partitions still have records being indexed; they are left uncommitted for the next owner"
                );
                break;
            }
            self.collect_done(consumer, (deadline - now).min(Duration::from_millis(50)));
        }
        let mut state = self.state();
        self.commit(consumer, &mut state, Some(revoked), CommitMode::Sync);
        for partition in revoked {
            if state.partitions.remove(partition).is_some() {
                self.shared.metrics.assigned_partitions.dec();
                self.shared.metrics.lag.remove(&PartitionLabel {
                    partition: *partition,
                });
                tracing::info!(partition, "partition revoked");
            }
        }
        if dropped > 0 {
            tracing::info!(
                dropped,
                "records read but not yet sent were left to the next owner"
            );
        }
    }

    fn set_paused(&self, consumer: &BaseConsumer<Self>, paused: bool) {
        let mut state = self.state();
        if !paused && !state.paused {
            return;
        }
        let assignment = match consumer.assignment() {
            Ok(assignment) => assignment,
            Err(err) => {
                tracing::warn!(%err, "cannot read the assignment");
                return;
            }
        };
        let result = if paused {
            consumer.pause(&assignment)
        } else {
            consumer.resume(&assignment)
        };
        match result {
            Ok(()) => {
                if state.paused != paused {
                    tracing::debug!(paused, "every bulk slot busy: fetching paused or resumed");
                }
                state.paused = paused;
                self.shared.metrics.paused.set(i64::from(paused));
            }
            Err(err) => tracing::warn!(%err, paused, "cannot change fetch state"),
        }
    }

    fn poll_timeout(&self, now: Instant) -> Duration {
        match self.state().open.due_at(&self.shared.policy) {
            Some(at) => at.saturating_duration_since(now).min(POLL_INTERVAL),
            None => POLL_INTERVAL,
        }
    }

    fn idle(&self) -> bool {
        let state = self.state();
        state.open.is_empty() && state.in_flight == 0
    }
}

pub struct SinkConsumer {
    consumer: BaseConsumer<SinkContext>,
}

impl SinkConsumer {
    pub fn new(shared: Arc<Shared>) -> KafkaResult<Self> {
        let (done_tx, done_rx) = mpsc::channel();
        let context = SinkContext {
            shared: Arc::clone(&shared),
            state: Mutex::default(),
            done_tx,
            done_rx: Mutex::new(done_rx),
        };
        let consumer = group_consumer(
            &shared.kafka,
            &shared.group,
            "es-sink",
            shared.prefetch_bytes,
            context,
        )?;
        Ok(SinkConsumer { consumer })
    }

    /// Consumes and indexes until the host says stop; then sends what is gathered, waits for
    /// batches in flight until `shutdown_timeout`, commits what is done, says how many records
    /// are not done, and leaves the group.
    pub fn run(self, mut host: LoopContext, shutdown_timeout: Duration) {
        let consumer = &self.consumer;
        let context = consumer.context();
        let mut blocked_since = None;
        while !host.stopping() {
            host.beat();
            let now = Instant::now();
            context.collect_done(consumer, Duration::ZERO);
            if context.dispatch(now, false) {
                // Every slot is busy and the next batch is full. For a while, simply do not
                // poll: librdkafka's local queue takes what is fetched meanwhile and stops
                // fetching when full. When it lasts (the cluster is struggling or gone), pause
                // the partitions and poll again, so the group is still served.
                let since = *blocked_since.get_or_insert(now);
                if now.duration_since(since) >= PAUSE_AFTER {
                    context.set_paused(consumer, true);
                    context.collect_done(consumer, POLL_INTERVAL);
                    if let Some(Ok(message)) = consumer.poll(Duration::ZERO) {
                        context.accept(consumer, &message);
                    }
                } else {
                    context.collect_done(consumer, POLL_INTERVAL);
                }
                continue;
            }
            blocked_since = None;
            context.set_paused(consumer, false);
            match consumer.poll(context.poll_timeout(now)) {
                Some(Ok(message)) => context.accept(consumer, &message),
                Some(Err(err)) => tracing::warn!(%err, "consume error"),
                None => {}
            }
        }
        tracing::info!("stopping: indexing what was read");
        let deadline = Instant::now() + shutdown_timeout;
        loop {
            host.beat();
            context.collect_done(consumer, Duration::ZERO);
            context.dispatch(Instant::now(), true);
            if context.idle() {
                break;
            }
            if Instant::now() >= deadline {
                tracing::error!(
                    "shutdown deadline passed with batches unfinished; their records stay uncommitted and are read again"
                );
                break;
            }
            context.collect_done(consumer, Duration::from_millis(50));
        }
        let unfinished = {
            let mut state = context.state();
            context.commit(consumer, &mut state, None, CommitMode::Sync);
            state
                .partitions
                .values()
                .map(|p| p.offsets.outstanding())
                .sum()
        };
        host.drained(unfinished);
        consumer.unsubscribe();
        tracing::info!("left the group");
    }
}
