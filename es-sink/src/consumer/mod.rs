//! The consumer: one member of the group, reading every partition it owns, gathering records
//! into batches, handing each batch to the runtime to index, writing dead letters, and
//! committing each partition up to its first record that is not done yet.
//!
//! Everything that touches offsets or dead letters runs on the polling thread, and librdkafka
//! runs rebalances inside `poll` on that same thread, so a rebalance always sees a consistent
//! state.
//!
//! A member may go on believing it owns a partition after the group gave it away (its process
//! was paused past its session, or cut off from the brokers). Documents are keyed by event id,
//! so what it indexes then only overwrites; its offset commits are refused by the group
//! coordinator, which checks the member and its generation. Dead letters are the one thing it
//! could write twice, so they are written only on this thread, each batch right after a
//! synchronous commit the coordinator accepted; and a new owner first reads what its
//! predecessors already wrote ([`crate::ledger`]).

mod rebalance;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use common::host::LoopContext;
use common::kafka::{
    ClientLog, Continuity, KafkaArgs, Member, MemberContext, Prefetch, group_consumer, report_gap,
};
use rdkafka::TopicPartitionList;
use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::error::KafkaResult;
use rdkafka::message::{BorrowedMessage, Message};
use tokio::runtime::Handle;

use crate::batch::{Batch, BatchPolicy, classify_record};
use crate::dead_letter::DeadLetterProducer;
use crate::flow::Flow;
use crate::indexer::{Finished, Indexer};
use crate::metrics::SinkMetrics;
use crate::partition::{Effect, Partition};
use crate::settlement::{Settler, add_commit};

/// What the consumer thread and the indexing tasks share.
pub struct Shared {
    pub runtime: Handle,
    pub kafka: KafkaArgs,
    pub group: String,
    pub prefetch: Prefetch,
    pub log: Arc<ClientLog>,
    pub policy: BatchPolicy,
    pub max_in_flight: usize,
    pub rebalance_timeout: Duration,
    pub indexer: Arc<Indexer>,
    pub dead_letters: Arc<DeadLetterProducer>,
    /// The ids of erased clicks, which are not indexed again.
    pub tombstones: Arc<common::kafka::Tombstones>,
    pub metrics: SinkMetrics,
}

/// Longest a poll waits; also how late a finished batch may be noticed while records flow.
const POLL_INTERVAL: Duration = Duration::from_millis(100);

#[derive(Default)]
struct State {
    partitions: HashMap<i32, Partition>,
    open: Batch,
    in_flight: usize,
    generations: u64,
    flow: Flow,
}

/// The sink's side of its group member: the state, and the rebalance handling that must see
/// it.
pub struct Sink {
    shared: Arc<Shared>,
    state: Mutex<State>,
    done_tx: mpsc::Sender<Finished>,
    done_rx: Mutex<mpsc::Receiver<Finished>>,
    settler: Settler,
}

impl Sink {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("not poisoned")
    }

    /// Adds a record to the open batch (as a document or a dead letter).
    fn accept(&self, consumer: &Member<Self>, message: &BorrowedMessage<'_>) {
        let (partition, offset) = (message.partition(), message.offset());
        let mut state = self.state();
        let Some((record, continuity)) = state
            .partitions
            .get_mut(&partition)
            .and_then(|owned| owned.read(partition, offset))
        else {
            return; // revoked (or not started) between fetch and here; the owner reads it
        };
        let entry = classify_record(
            self.shared.indexer.elastic().index_prefix(),
            record,
            message.key(),
            message.payload(),
            |id| self.shared.tombstones.contains(id),
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
                &self.shared.metrics.member.gaps,
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
                owned.sent();
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
            // Letters are written by the polling thread, which checks that the partition is
            // still this member's first.
            let _ = done.send(shared.indexer.index_batch(batch).await);
        });
        false
    }

    /// Applies finished batches, waiting up to `wait` for one, and commits what moved.
    fn collect_done(&self, consumer: &Member<Self>, wait: Duration) {
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
        for batch in finished {
            state.in_flight -= 1;
            for record in batch.indexed {
                if let Some(owned) = state.partitions.get_mut(&record.partition) {
                    owned.indexed(record);
                }
            }
            for letter in batch.letters {
                if let Some(owned) = state.partitions.get_mut(&letter.record.partition) {
                    owned.dead_lettered(letter);
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
        consumer: &Member<Self>,
        state: &mut State,
        only: Option<&[i32]>,
        mode: CommitMode,
    ) {
        let topic = &self.shared.kafka.topic;
        let mut tpl = TopicPartitionList::new();
        for (partition, owned) in state.partitions.iter_mut() {
            if only.is_some_and(|p| !p.contains(partition)) {
                continue;
            }
            if let Some(Effect::Commit { offset, mark }) = owned.take_commit() {
                add_commit(&mut tpl, topic, *partition, offset, mark);
            }
        }
        if tpl.count() > 0
            && let Err(err) = consumer.commit(&tpl, mode)
        {
            tracing::warn!(%err, "offset commit not sent");
        }
    }

    /// Applies finished batches, waiting up to `wait` for one, and writes the dead letters
    /// they brought before anything else happens on this thread (a poll may run a rebalance).
    fn finish_batches(&self, consumer: &Member<Self>, wait: Duration) {
        self.collect_done(consumer, wait);
        self.settle_letters(consumer);
    }

    /// Writes the dead letters that are due, partition by partition ([`Settler::settle`]),
    /// then commits the offsets the letters written let move.
    fn settle_letters(&self, consumer: &Member<Self>) {
        let now = Instant::now();
        let mut state = self.state();
        let due: Vec<i32> = state
            .partitions
            .iter()
            .filter(|(_, owned)| owned.letters_due(now))
            .map(|(partition, _)| *partition)
            .collect();
        if due.is_empty() {
            return;
        }
        let topic = &self.shared.kafka.topic;
        for partition in &due {
            let Some(owned) = state.partitions.get_mut(partition) else {
                continue;
            };
            if let Err(err) = self.settler.settle(consumer, topic, *partition, owned) {
                owned.letters_failed(now);
                tracing::warn!(
                    partition,
                    letters = owned.owed(),
                    attempt = owned.letter_failures(),
                    err,
                    "dead letters not written yet; their offsets are held"
                );
            }
        }
        self.commit(consumer, &mut state, Some(&due), CommitMode::Async);
    }

    /// Moves the flow on, given whether every slot is `busy`, and does on the consumer what
    /// the new flow asks: while paused, the whole assignment is paused (a partition assigned
    /// meanwhile included); leaving it, resumed. Returns the new flow.
    fn follow_flow(&self, consumer: &Member<Self>, busy: bool, now: Instant) -> Flow {
        let mut state = self.state();
        let (was, flow) = (state.flow, state.flow.next(busy, now));
        state.flow = flow;
        let paused = flow == Flow::Paused;
        if paused || was == Flow::Paused {
            let result = consumer.assignment().and_then(|assignment| {
                if paused {
                    consumer.pause(&assignment)
                } else {
                    // Partitions still starting stay paused until they know where to resume.
                    let mut started = TopicPartitionList::new();
                    for element in assignment.elements() {
                        let starting = state
                            .partitions
                            .get(&element.partition())
                            .is_none_or(Partition::is_starting);
                        if !starting {
                            let _ = started.add_partition(element.topic(), element.partition());
                        }
                    }
                    consumer.resume(&started)
                }
            });
            if let Err(err) = result {
                tracing::warn!(%err, paused, "cannot change fetch state");
            }
        }
        if paused != (was == Flow::Paused) {
            tracing::debug!(paused, "every bulk slot busy: fetching paused or resumed");
            self.shared.metrics.paused.set(i64::from(paused));
        }
        flow
    }

    /// How long a poll may wait: until the open batch is due. A batch already due waits for a
    /// bulk slot, so polling with no wait would only spin while the cluster is slow.
    fn poll_timeout(&self, now: Instant) -> Duration {
        match self.state().open.due_at(&self.shared.policy) {
            Some(at) if at > now => (at - now).min(POLL_INTERVAL),
            _ => POLL_INTERVAL,
        }
    }

    /// Sets each owned partition's lag from the partition ends of the latest statistics:
    /// records from its first record not done to its end.
    fn measure_lag(&self, ends: &[(i32, i64)]) {
        let state = self.state();
        self.shared.metrics.member.measure_lag(ends, |partition| {
            state
                .partitions
                .get(&partition)
                .and_then(Partition::position)
        });
    }

    /// Nothing gathered, in flight, or owed to the dead-letter topic.
    fn idle(&self) -> bool {
        let state = self.state();
        state.open.is_empty()
            && state.in_flight == 0
            && state.partitions.values().all(|p| p.owed() == 0)
    }
}

pub struct SinkConsumer {
    consumer: Member<Sink>,
}

impl SinkConsumer {
    pub fn new(shared: Arc<Shared>) -> KafkaResult<Self> {
        let (done_tx, done_rx) = mpsc::channel();
        let sink = Sink {
            shared: Arc::clone(&shared),
            state: Mutex::default(),
            done_tx,
            done_rx: Mutex::new(done_rx),
            settler: Settler::new(
                Arc::clone(&shared.dead_letters),
                shared.runtime.clone(),
                shared.metrics.clone(),
            ),
        };
        let context = MemberContext::new(Arc::clone(&shared.log), &shared.kafka.topic, sink);
        let consumer = group_consumer(
            &shared.kafka,
            &shared.group,
            "es-sink",
            shared.prefetch,
            context,
        )?;
        Ok(SinkConsumer { consumer })
    }

    /// Consumes and indexes until the host says stop; then sends what is gathered, waits for
    /// batches in flight for the host's drain timeout (`SHUTDOWN_TIMEOUT`), commits what is
    /// done, says how many records are not done, and leaves the group.
    pub fn run(self, mut host: LoopContext) {
        let consumer = &self.consumer;
        let sink = &consumer.context().rebalancing;
        while !host.stopping() {
            host.beat();
            let now = Instant::now();
            if let Some(ends) = consumer.context().take_ends() {
                sink.measure_lag(&ends);
            }
            sink.finish_batches(consumer, Duration::ZERO);
            sink.start_assigned(consumer, now);
            // Busy: every slot is taken and the next batch is full.
            let busy = sink.dispatch(now, false);
            match sink.follow_flow(consumer, busy, now) {
                Flow::Reading => match consumer.poll(sink.poll_timeout(now)) {
                    Some(Ok(message)) => sink.accept(consumer, &message),
                    Some(Err(err)) => tracing::warn!(%err, "consume error"),
                    None => {}
                },
                Flow::Held { .. } => sink.finish_batches(consumer, POLL_INTERVAL),
                Flow::Paused => {
                    sink.finish_batches(consumer, POLL_INTERVAL);
                    if let Some(Ok(message)) = consumer.poll(Duration::ZERO) {
                        sink.accept(consumer, &message);
                    }
                }
            }
        }
        tracing::info!("stopping: indexing what was read");
        let deadline = Instant::now() + host.drain_timeout();
        loop {
            host.beat();
            sink.finish_batches(consumer, Duration::ZERO);
            sink.dispatch(Instant::now(), true);
            if sink.idle() {
                break;
            }
            if Instant::now() >= deadline {
                tracing::error!(
                    "shutdown deadline passed with batches unfinished; their records stay uncommitted and are read again"
                );
                break;
            }
            sink.finish_batches(consumer, Duration::from_millis(50));
        }
        let unfinished = {
            let mut state = sink.state();
            sink.commit(consumer, &mut state, None, CommitMode::Sync);
            state.partitions.values().map(Partition::outstanding).sum()
        };
        host.drained(unfinished);
        consumer.unsubscribe();
        tracing::info!("left the group");
    }
}
