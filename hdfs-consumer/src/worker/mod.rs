//! One worker: a member of the group, the partitions it owns ([`Partition`]) and the loop that
//! lands them. librdkafka runs rebalances inside `poll`, on the loop's thread; the callback only
//! records the change ([`rebalance`]). The loop then claims each new partition in storage, which
//! says where it resumes, and lands, so a rebalance never happens in the middle of either. A
//! worker may still be told late that it lost a partition (its process was paused, or cut from
//! the brokers): storage tells it first, by refusing its next change ([`outcome`]).
//!
//! - [`changes`] — what the worker does on each partition, when the partition says it is due;
//! - [`outcome`] — the one handler of what became of a change;
//! - [`calls`] — storage calls from the polling thread, bounded in time;
//! - [`rebalance`] — partitions assigned and revoked.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::host::LoopContext;
use common::kafka::{
    ClientLog, Continuity, KafkaArgs, Member, MemberContext, Prefetch, Tombstones, group_consumer,
    report_gap,
};
use lake::layout::Dropped;
use lake::{ErasureRequest, Lake, TopicRecord};
use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::error::KafkaResult;
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use tokio::runtime::Handle;
use tokio::sync::watch;

use crate::admin::FailingWrites;
use crate::buffer::FlushPolicy;
use crate::compaction::CompactionPolicy;
use crate::metrics::ConsumerMetrics;
use crate::partition::{Effect, Intake, Partition};

mod calls;
mod changes;
mod outcome;
mod rebalance;

use rebalance::RecordedRebalances;

/// What every worker of the process shares.
pub struct Shared {
    pub lake: Lake,
    pub runtime: Handle,
    pub kafka: KafkaArgs,
    pub group: String,
    pub prefetch: Prefetch,
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
    pub erasures: Arc<crate::erasure_watch::OnFile>,
    /// The ids of erased clicks, which are landed past, never landed.
    pub tombstones: Arc<Tombstones>,
    /// Partitions whose landing fails, and why: readiness reports them.
    pub failing: Arc<FailingWrites>,
    /// Where landed and expired hours are told, when a metastore is kept.
    pub catalog: Option<crate::catalog::Nudges>,
    pub log: Arc<ClientLog>,
}

/// How long a poll waits, and how often every owned partition is looked at.
const SWEEP_INTERVAL: Duration = Duration::from_millis(100);

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
    /// The erasure requests on file as the process last read them, and that reading's number.
    requests: Arc<Vec<ErasureRequest>>,
    reading: Option<u64>,
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
            shared.prefetch,
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
            requests: Arc::default(),
            reading: None,
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
                    let mut record = TopicRecord::classify(
                        message.topic(),
                        partition,
                        message.offset(),
                        message.payload(),
                    );
                    if record
                        .event
                        .is_some_and(|event| self.shared.tombstones.contains(&event.id))
                    {
                        record.drop_as(Dropped::Erased);
                    }
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

    /// Offers a record to its partition. True when the partition is due for landing.
    fn take(&mut self, partition: i32, record: TopicRecord) -> bool {
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
                || self.expire(partition, now).is_break()
                || self.erase(partition).is_break()
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
}
