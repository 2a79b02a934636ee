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

use std::collections::HashMap;
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use common::host::LoopContext;
use common::kafka::{
    ClientLog, Continuity, KafkaArgs, Member, MemberContext, Rebalancing, group_consumer,
    report_gap,
};
use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::error::KafkaResult;
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::{Offset, TopicPartitionList};
use tokio::runtime::Handle;

use crate::batch::{Batch, BatchPolicy, classify_record};
use crate::dead_letter::{DeadLetter, DeadLetterProducer};
use crate::flow::Flow;
use crate::indexer::Indexer;
use crate::ledger::{Ledger, LetterMark, letter_partition};
use crate::metrics::SinkMetrics;
use crate::offsets::{PartitionOffsets, RecordRef};

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
/// How long a lookup of the group's committed offsets may take; they tell where reading of a
/// newly assigned partition resumes, and so whether its first record follows on.
const COMMITTED_TIMEOUT: Duration = Duration::from_secs(10);
/// Wait before asking again for the committed offsets after a lookup failed.
const COMMITTED_RETRY: Duration = Duration::from_secs(1);
/// How long reading the dead-letter topic, or asking its partition count, may take.
const LETTER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Waits between attempts to settle a partition's dead letters, after a failure.
const LETTER_RETRY_BASE: Duration = Duration::from_millis(200);
const LETTER_RETRY_MAX: Duration = Duration::from_secs(10);

/// What a partition's owner knows of its letters already in the dead-letter topic.
#[derive(Debug)]
enum LetterBook {
    /// The topic must be read before any letter is written: at assignment (letters an earlier
    /// owner wrote), and after a write whose outcome is unknown. `mark` says where from.
    ToRead {
        mark: Option<LetterMark>,
    },
    /// The partition's log was recreated: letters in the topic are of the old log's offsets,
    /// so only letters written from now on count.
    FromEnd,
    Known(Ledger),
}

/// A partition's dead letters.
#[derive(Debug)]
struct Letters {
    /// Letters of records done indexing, not yet in the topic.
    owed: Vec<DeadLetter>,
    book: LetterBook,
    /// Failed attempts in a row, and when to try again.
    failures: u32,
    retry_at: Option<Instant>,
}

impl Letters {
    fn new(mark: Option<LetterMark>) -> Self {
        Letters {
            owed: Vec::new(),
            book: LetterBook::ToRead { mark },
            failures: 0,
            retry_at: None,
        }
    }

    fn due(&self, now: Instant) -> bool {
        !self.owed.is_empty() && self.retry_at.is_none_or(|at| now >= at)
    }

    fn failed(&mut self, now: Instant) {
        self.failures += 1;
        self.retry_at = Some(
            now + common::backoff::retry_wait(self.failures, LETTER_RETRY_BASE, LETTER_RETRY_MAX),
        );
    }

    fn succeeded(&mut self) {
        self.failures = 0;
        self.retry_at = None;
    }

    /// What a commit of offset `committed` says about where the partition's letters are:
    /// known ones are forgotten below it.
    fn mark(&mut self, committed: i64) -> Option<LetterMark> {
        match &mut self.book {
            LetterBook::Known(ledger) => {
                ledger.committed(committed);
                Some(ledger.mark())
            }
            LetterBook::ToRead { mark } => mark.clone(),
            LetterBook::FromEnd => None,
        }
    }
}

struct PartitionState {
    generation: u64,
    offsets: PartitionOffsets,
    /// Records of this partition in batches being indexed.
    in_flight: usize,
    /// Where reading resumed: the committed offset at assignment.
    resume: Option<i64>,
    letters: Letters,
}

/// What a batch came back with: records done, and letters to write.
struct Finished {
    indexed: Vec<RecordRef>,
    letters: Vec<DeadLetter>,
}

#[derive(Default)]
struct State {
    partitions: HashMap<i32, PartitionState>,
    /// Partitions assigned and paused, not read until the polling thread has looked up where
    /// each resumes; and when it may next try, after a failed lookup.
    starting: Vec<i32>,
    start_retry_at: Option<Instant>,
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
    /// The dead-letter topic's partition count, once asked.
    letter_partitions: Mutex<Option<i32>>,
}

/// The one exception to a member that only records: a revoke waits, within the rebalance
/// timeout, for the revoked partitions' bulks in flight and commits what they finished, since
/// the partitions' offsets can be committed only before they go. An assignment only records;
/// [`Sink::start_assigned`] does the rest on the polling thread.
impl Rebalancing for Sink {
    /// The group's committed offsets say where each partition resumes: see `start_assigned`.
    fn assigned(&self, partitions: &[i32]) {
        let mut state = self.state();
        for partition in partitions {
            if !state.starting.contains(partition) {
                state.starting.push(*partition);
            }
        }
        state.start_retry_at = None;
    }

    fn revoking(&self, member: &Member<Self>, partitions: &[i32]) {
        self.revoke(member, partitions);
    }
}

impl Sink {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("not poisoned")
    }

    /// Starts reading the partitions assigned since the last call: looks up the group's
    /// committed offset of each (and where its unsettled dead letters are, from the commit's
    /// metadata), seeks there, so the first record read can be checked against it, and resumes
    /// them. A failed lookup leaves them paused, to be asked again a little later.
    fn start_assigned(&self, consumer: &Member<Self>, now: Instant) {
        let starting = {
            let state = self.state();
            if state.starting.is_empty() || state.start_retry_at.is_some_and(|at| now < at) {
                return;
            }
            state.starting.clone()
        };
        let topic = &self.shared.kafka.topic;
        let mut tpl = TopicPartitionList::new();
        for partition in &starting {
            let _ = tpl.add_partition(topic, *partition);
        }
        let committed = match consumer.committed_offsets(tpl, COMMITTED_TIMEOUT) {
            Ok(committed) => committed,
            Err(err) => {
                tracing::warn!(%err, partitions = ?starting, "cannot read the committed offsets yet; the assigned partitions wait");
                self.state().start_retry_at = Some(Instant::now() + COMMITTED_RETRY);
                return;
            }
        };
        let mut state = self.state();
        let mut started = TopicPartitionList::new();
        for element in committed.elements() {
            let partition = element.partition();
            if !state.starting.contains(&partition) {
                continue; // revoked while the lookup ran
            }
            let (resume, mark) = match element.offset() {
                Offset::Offset(offset) => (
                    Some(offset),
                    LetterMark::from_metadata(element.metadata())
                        .filter(|mark| mark.topic == self.shared.dead_letters.topic()),
                ),
                // Nothing committed yet: the partition is read from its start.
                _ => (None, None),
            };
            let from = resume.map_or(Offset::Beginning, Offset::Offset);
            if let Err(err) = consumer.seek(topic, partition, from, COMMITTED_TIMEOUT) {
                tracing::warn!(partition, %err, "cannot seek to the committed offset yet; the partition waits");
                state.start_retry_at = Some(Instant::now() + COMMITTED_RETRY);
                continue;
            }
            state.starting.retain(|p| *p != partition);
            state.generations += 1;
            let fresh = PartitionState {
                generation: state.generations,
                offsets: PartitionOffsets::resuming_at(resume),
                in_flight: 0,
                resume,
                letters: Letters::new(mark),
            };
            if state.partitions.insert(partition, fresh).is_none() {
                self.shared.metrics.member.assigned_partitions.inc();
            }
            let _ = started.add_partition(topic, partition);
            tracing::info!(partition, resume, "partition assigned");
        }
        // While every bulk slot is busy the whole assignment stays paused; the flow resumes it.
        if started.count() > 0
            && state.flow != Flow::Paused
            && let Err(err) = consumer.resume(&started)
        {
            tracing::warn!(%err, "cannot resume the assigned partitions");
        }
    }

    /// Adds a record to the open batch (as a document or a dead letter).
    fn accept(&self, consumer: &Member<Self>, message: &BorrowedMessage<'_>) {
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
                &self.shared.metrics.member.gaps,
            ),
            Continuity::Behind { expected } => {
                // Documents are keyed by event id, so reading the new log from its start
                // indexes what is new and only overwrites what is not. Letters written for the
                // old log's offsets say nothing of the new one's.
                if let Some(owned) = self.state().partitions.get_mut(&partition) {
                    owned.letters.book = LetterBook::FromEnd;
                }
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
            let report = shared.indexer.index(&batch.docs).await;
            let mut letters = batch.invalid;
            letters.extend(
                report
                    .refused
                    .iter()
                    .map(|r| batch.docs[r.doc].dead_letter(r.status, &r.reason)),
            );
            let refused: std::collections::HashSet<usize> =
                report.refused.iter().map(|r| r.doc).collect();
            let indexed = batch
                .docs
                .iter()
                .enumerate()
                .filter(|(i, _)| !refused.contains(i))
                .map(|(_, d)| d.record)
                .collect();
            // Letters are written by the polling thread, which checks that the partition is
            // still this member's first.
            let _ = done.send(Finished { indexed, letters });
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
                if let Some(owned) = state.partitions.get_mut(&record.partition)
                    && owned.generation == record.generation
                {
                    owned.offsets.done(record.offset);
                    owned.in_flight -= 1;
                }
            }
            for letter in batch.letters {
                let record = letter.record;
                if let Some(owned) = state.partitions.get_mut(&record.partition)
                    && owned.generation == record.generation
                {
                    owned.letters.owed.push(letter);
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
        consumer: &Member<Self>,
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
                self.add_commit(&mut tpl, *partition, offset, &mut owned.letters);
            }
        }
        if tpl.count() > 0
            && let Err(err) = consumer.commit(&tpl, mode)
        {
            tracing::warn!(%err, "offset commit not sent");
        }
    }

    /// Adds `offset` of `partition` to a commit, with where its unsettled letters are.
    fn add_commit(
        &self,
        tpl: &mut TopicPartitionList,
        partition: i32,
        offset: i64,
        letters: &mut Letters,
    ) {
        let topic = &self.shared.kafka.topic;
        if tpl
            .add_partition_offset(topic, partition, Offset::Offset(offset))
            .is_ok()
            && let Some(mark) = letters.mark(offset)
            && let Some(mut element) = tpl.find_partition(topic, partition)
        {
            element.set_metadata(mark.to_metadata());
        }
    }

    /// Applies finished batches, waiting up to `wait` for one, and writes the dead letters
    /// they brought before anything else happens on this thread (a poll may run a rebalance).
    fn finish_batches(&self, consumer: &Member<Self>, wait: Duration) {
        self.collect_done(consumer, wait);
        self.settle_letters(consumer);
    }

    /// Writes the dead letters that are due, partition by partition: after reading what is
    /// already in the topic when that is not known, and after a synchronous commit the group
    /// coordinator accepted, which shows the partition is still this member's. A commit refused
    /// leaves the letters unwritten; the rebalance that follows drops them with the partition.
    fn settle_letters(&self, consumer: &Member<Self>) {
        let now = Instant::now();
        let due: Vec<i32> = self
            .state()
            .partitions
            .iter()
            .filter(|(_, owned)| owned.letters.due(now))
            .map(|(partition, _)| *partition)
            .collect();
        if due.is_empty() {
            return;
        }
        for partition in &due {
            let partition = *partition;
            if let Err(err) = self.settle_partition(consumer, partition) {
                let mut state = self.state();
                if let Some(owned) = state.partitions.get_mut(&partition) {
                    owned.letters.failed(now);
                    tracing::warn!(
                        partition,
                        letters = owned.letters.owed.len(),
                        attempt = owned.letters.failures,
                        err,
                        "dead letters not written yet; their offsets are held"
                    );
                }
            }
        }
        // Letters written are done: their offsets may now be committed.
        let mut state = self.state();
        self.commit(consumer, &mut state, Some(&due), CommitMode::Async);
    }

    fn settle_partition(&self, consumer: &Member<Self>, partition: i32) -> Result<(), String> {
        self.read_letters(partition)?;
        // Letters an earlier owner wrote are done.
        let (to_write, commit, letter_partition) = {
            let mut state = self.state();
            let Some(owned) = state.partitions.get_mut(&partition) else {
                return Ok(());
            };
            let LetterBook::Known(ledger) = &owned.letters.book else {
                return Ok(());
            };
            let letter_partition = ledger.partition();
            let (written, to_write): (Vec<DeadLetter>, Vec<DeadLetter>) =
                std::mem::take(&mut owned.letters.owed)
                    .into_iter()
                    .partition(|l| ledger.has(l.record.offset));
            for letter in &written {
                owned.offsets.done(letter.record.offset);
            }
            if !written.is_empty() {
                self.shared
                    .metrics
                    .dead_letters_found
                    .inc_by(written.len() as u64);
                tracing::info!(
                    partition,
                    letters = written.len(),
                    "dead letters an earlier owner wrote are in the topic already; not written again"
                );
            }
            if to_write.is_empty() {
                owned.letters.succeeded();
                return Ok(());
            }
            let mut tpl = TopicPartitionList::new();
            let offset = owned
                .offsets
                .committable()
                .or(owned.resume)
                .unwrap_or(to_write[0].record.offset);
            self.add_commit(&mut tpl, partition, offset, &mut owned.letters);
            (to_write, tpl, letter_partition)
        };
        let give_back = |letters: Vec<DeadLetter>| {
            if let Some(owned) = self.state().partitions.get_mut(&partition) {
                owned.letters.owed.extend(letters);
            }
        };
        if let Err(err) = consumer.commit(&commit, CommitMode::Sync) {
            self.shared.metrics.refused_commits.inc();
            give_back(to_write);
            return Err(format!(
                "the group refused this member's commit ({err}): the partition may have a new owner, which writes them"
            ));
        }
        let outcomes = self
            .shared
            .runtime
            .block_on(self.shared.dead_letters.write(&to_write, letter_partition));
        let mut state = self.state();
        let Some(owned) = state.partitions.get_mut(&partition) else {
            return Ok(());
        };
        let LetterBook::Known(ledger) = &mut owned.letters.book else {
            return Ok(());
        };
        let mut failed = false;
        for (letter, outcome) in to_write.into_iter().zip(outcomes) {
            match outcome {
                Ok(at) => {
                    ledger.wrote(letter.record.offset, at);
                    owned.offsets.done(letter.record.offset);
                }
                Err(_) => {
                    failed = true;
                    owned.letters.owed.push(letter);
                }
            }
        }
        if failed {
            // A letter reported failed may have been written all the same: read the topic
            // before writing it again.
            let mark = Some(ledger.mark());
            owned.letters.book = LetterBook::ToRead { mark };
            return Err("the dead-letter topic did not acknowledge every letter".to_owned());
        }
        owned.letters.succeeded();
        Ok(())
    }

    /// The dead-letter topic's partition count, asked once.
    fn letter_partition_count(&self) -> Result<i32, String> {
        let mut known = self.letter_partitions.lock().expect("not poisoned");
        if let Some(count) = *known {
            return Ok(count);
        }
        let letters = &self.shared.dead_letters;
        let count = letters
            .partitions(LETTER_READ_TIMEOUT)
            .map_err(|err| format!("{}: {err}", letters.topic()))?;
        *known = Some(count);
        Ok(count)
    }

    /// Reads the dead-letter topic for a partition whose letters there are not known.
    fn read_letters(&self, partition: i32) -> Result<(), String> {
        let (mark, resume) = {
            let state = self.state();
            let Some(owned) = state.partitions.get(&partition) else {
                return Ok(());
            };
            match &owned.letters.book {
                LetterBook::Known(_) => return Ok(()),
                LetterBook::ToRead { mark } => (mark.clone(), owned.resume),
                // Past the end: nothing found, and the end learnt.
                LetterBook::FromEnd => (
                    Some(LetterMark {
                        topic: self.shared.dead_letters.topic().to_owned(),
                        partition: letter_partition(partition, self.letter_partition_count()?),
                        from: i64::MAX,
                    }),
                    None,
                ),
            }
        };
        let letters = &self.shared.dead_letters;
        let letter_partition = letter_partition(partition, self.letter_partition_count()?);
        let from = mark
            .filter(|m| m.partition == letter_partition)
            .map(|m| m.from);
        let (found, end) = letters
            .read_written(letter_partition, from, partition, LETTER_READ_TIMEOUT)
            .map_err(|err| format!("reading {} failed: {err}", letters.topic()))?;
        tracing::debug!(
            partition,
            from,
            end,
            found = found.len(),
            "read the dead-letter topic"
        );
        if let Some(owned) = self.state().partitions.get_mut(&partition) {
            owned.letters.book = LetterBook::Known(Ledger::read(
                letters.topic(),
                letter_partition,
                found,
                resume,
                end,
            ));
        }
        Ok(())
    }

    /// Gives up revoked partitions: their records not yet sent are dropped, their batches in
    /// flight get until the rebalance timeout, and only what is done is committed.
    fn revoke(&self, consumer: &Member<Self>, revoked: &[i32]) {
        self.state().starting.retain(|p| !revoked.contains(p));
        let dropped = self
            .state()
            .open
            .retain_partitions(|p| !revoked.contains(&p));
        self.shared
            .metrics
            .member
            .dropped_on_revoke
            .inc_by(dropped as u64);
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
            if let Some(owned) = state.partitions.remove(partition) {
                let owed = owned.letters.owed.len();
                if owed > 0 {
                    self.shared
                        .metrics
                        .member
                        .dropped_on_revoke
                        .inc_by(owed as u64);
                    tracing::info!(
                        partition,
                        letters = owed,
                        "dead letters not written are left to the next owner"
                    );
                }
                self.shared.metrics.member.assigned_partitions.dec();
                self.shared.metrics.member.forget(*partition);
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
                        if !state.starting.contains(&element.partition()) {
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
                .and_then(|p| p.offsets.position())
        });
    }

    /// Nothing gathered, in flight, or owed to the dead-letter topic.
    fn idle(&self) -> bool {
        let state = self.state();
        state.open.is_empty()
            && state.in_flight == 0
            && state.partitions.values().all(|p| p.letters.owed.is_empty())
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
            letter_partitions: Mutex::default(),
        };
        let context = MemberContext::new(Arc::clone(&shared.log), &shared.kafka.topic, sink);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn mark(from: i64) -> LetterMark {
        LetterMark {
            topic: "dlq".into(),
            partition: 0,
            from,
        }
    }

    fn letter(offset: i64) -> DeadLetter {
        DeadLetter {
            record: RecordRef {
                partition: 0,
                offset,
                generation: 1,
            },
            key: None,
            payload: Some(b"x".to_vec()),
            status: None,
            kind: "invalid_event".into(),
            reason: "not an event".into(),
        }
    }

    #[test]
    fn letters_are_due_when_owed_and_back_off_after_each_failure_until_one_succeeds() {
        let start = Instant::now();
        let mut letters = Letters::new(None);
        assert!(!letters.due(start), "nothing owed");
        letters.owed.push(letter(5));
        assert!(letters.due(start));
        // Each wait is a random point below a ceiling that doubles, up to the cap.
        letters.failed(start);
        let first = letters.retry_at.unwrap();
        assert!(first <= start + LETTER_RETRY_BASE);
        assert_eq!(
            letters.due(start),
            first == start,
            "due again only once the wait is over"
        );
        assert!(letters.due(first));
        letters.failed(first);
        assert!(letters.retry_at.unwrap() <= first + 2 * LETTER_RETRY_BASE);
        for _ in 0..30 {
            letters.failed(start);
            assert!(letters.retry_at.unwrap() <= start + LETTER_RETRY_MAX);
        }
        letters.succeeded();
        assert_eq!(letters.failures, 0);
        assert!(letters.due(start), "a success ends the backoff");
    }

    #[test]
    fn a_commit_carries_where_the_letters_are_as_far_as_they_are_known() {
        // Not read yet: the mark the partition was assigned with is carried on.
        let mut unread = Letters::new(Some(mark(7)));
        assert_eq!(unread.mark(10), Some(mark(7)));
        // Read: letters of committed records are forgotten, the first one still owed marks.
        let mut known = Letters::new(None);
        let mut ledger = Ledger::read("dlq", 0, [(3, 20), (12, 21)], None, 22);
        ledger.wrote(15, 22);
        known.book = LetterBook::Known(ledger);
        assert_eq!(known.mark(10), Some(mark(21)));
        assert_eq!(known.mark(13), Some(mark(22)));
        assert_eq!(
            known.mark(16),
            Some(mark(23)),
            "none left: after the last written"
        );
        // A recreated log: no mark, as the topic's letters are of the old offsets.
        let mut fresh = Letters::new(Some(mark(7)));
        fresh.book = LetterBook::FromEnd;
        assert_eq!(fresh.mark(10), None);
    }
}
