//! Settling a partition's dead letters: reading back what earlier owners wrote, writing the
//! rest after a commit the group accepted, and backing off after a failure.
//!
//! What one owned partition knows and owes is [`crate::ledger::Letters`], changed only through
//! [`Partition`]'s pure transitions. [`Settler`] does the reading and writing for the polling
//! thread, in order: read the topic when the letters there are not known, then commit with a
//! mark (synchronously, so a member that lost the partition is refused before it writes), then
//! write.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::kafka::{Member, Rebalancing};
use rdkafka::TopicPartitionList;
use rdkafka::consumer::{CommitMode, Consumer};
use tokio::runtime::Handle;

use crate::dead_letter::DeadLetterProducer;
use crate::ledger::LetterMark;
use crate::metrics::SinkMetrics;
use crate::partition::{Effect, Partition};

/// How long reading the dead-letter topic, or asking its partition count, may take.
const LETTER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Reads and writes dead letters for the polling thread.
pub struct Settler {
    letters: Arc<DeadLetterProducer>,
    runtime: Handle,
    metrics: SinkMetrics,
    /// The dead-letter topic's partition count, once asked.
    letter_partitions: Mutex<Option<i32>>,
}

impl Settler {
    pub fn new(letters: Arc<DeadLetterProducer>, runtime: Handle, metrics: SinkMetrics) -> Self {
        Settler {
            letters,
            runtime,
            metrics,
            letter_partitions: Mutex::default(),
        }
    }

    pub fn topic(&self) -> &str {
        self.letters.topic()
    }

    /// The dead-letter topic's partition count, asked once.
    fn letter_partition_count(&self) -> Result<i32, String> {
        let mut known = self.letter_partitions.lock().expect("not poisoned");
        if let Some(count) = *known {
            return Ok(count);
        }
        let count = self
            .letters
            .partitions(LETTER_READ_TIMEOUT)
            .map_err(|err| format!("{}: {err}", self.letters.topic()))?;
        *known = Some(count);
        Ok(count)
    }

    /// Writes `partition`'s dead letters that are due: after reading what is already in the
    /// topic when that is not known, and after a synchronous commit the group coordinator
    /// accepted, which shows the partition is still this member's. A commit refused leaves the
    /// letters unwritten; the rebalance that follows drops them with the partition.
    pub fn settle<R: Rebalancing>(
        &self,
        consumer: &Member<R>,
        topic: &str,
        partition: i32,
        state: &mut Partition,
    ) -> Result<(), String> {
        let count = self.letter_partition_count()?;
        if let Some(read) = state.letters_to_read(partition, count) {
            let (found, end) = self
                .letters
                .read_written(
                    read.letter_partition,
                    read.from,
                    partition,
                    LETTER_READ_TIMEOUT,
                )
                .map_err(|err| format!("reading {} failed: {err}", self.letters.topic()))?;
            tracing::debug!(
                partition,
                from = read.from,
                end,
                found = found.len(),
                "read the dead-letter topic"
            );
            state.letters_read(self.letters.topic(), &read, found, end);
        }
        let settling = state.settle();
        if settling.found > 0 {
            self.metrics
                .dead_letters_found
                .inc_by(settling.found as u64);
            tracing::info!(
                partition,
                letters = settling.found,
                "dead letters an earlier owner wrote are in the topic already; not written again"
            );
        }
        let mut effects = settling.effects.into_iter();
        while let Some(effect) = effects.next() {
            match effect {
                Effect::Commit { offset, mark } => {
                    let commit = commit_list(topic, partition, offset, mark);
                    if let Err(err) = consumer.commit(&commit, CommitMode::Sync) {
                        self.metrics.refused_commits.inc();
                        let unwritten = effects.flat_map(|effect| match effect {
                            Effect::WriteLetters { letters, .. } => letters,
                            _ => Vec::new(),
                        });
                        state.letters_unwritten(unwritten.collect());
                        return Err(format!(
                            "the group refused this member's commit ({err}): the partition may have a new owner, which writes them"
                        ));
                    }
                }
                Effect::WriteLetters { letters, to } => {
                    let outcomes = self.runtime.block_on(self.letters.write(&letters, to));
                    state.letters_written(letters, outcomes)?;
                }
                Effect::Seek(_) | Effect::Resume => {}
            }
        }
        Ok(())
    }
}

/// An offset commit of one partition, with where its unsettled letters are.
pub fn commit_list(
    topic: &str,
    partition: i32,
    offset: i64,
    mark: Option<LetterMark>,
) -> TopicPartitionList {
    let mut tpl = TopicPartitionList::new();
    add_commit(&mut tpl, topic, partition, offset, mark);
    tpl
}

/// Adds `offset` of `partition` to a commit, with `mark` as its metadata.
pub fn add_commit(
    tpl: &mut TopicPartitionList,
    topic: &str,
    partition: i32,
    offset: i64,
    mark: Option<LetterMark>,
) {
    if tpl
        .add_partition_offset(topic, partition, rdkafka::Offset::Offset(offset))
        .is_ok()
        && let Some(mark) = mark
        && let Some(mut element) = tpl.find_partition(topic, partition)
    {
        element.set_metadata(mark.to_metadata());
    }
}
