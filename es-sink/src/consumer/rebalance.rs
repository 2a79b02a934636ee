//! What the member does as its partitions move. An assignment only records; the polling
//! thread then looks up where each partition resumes and starts it. A revoke is the one
//! exception to a member that only records: it waits, within the rebalance timeout, for the
//! revoked partitions' bulks in flight and commits what they finished, since the partitions'
//! offsets can be committed only before they go.

use std::time::{Duration, Instant};

use common::kafka::{Member, Rebalancing};
use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};

use super::Sink;
use crate::flow::Flow;
use crate::ledger::LetterMark;
use crate::partition::{Effect, Partition};

/// How long a lookup of the group's committed offsets may take; they tell where reading of a
/// newly assigned partition resumes, and so whether its first record follows on.
const COMMITTED_TIMEOUT: Duration = Duration::from_secs(10);
/// Wait before asking again for the committed offsets after a lookup failed.
const COMMITTED_RETRY: Duration = Duration::from_secs(1);

impl Rebalancing for Sink {
    /// The group's committed offsets say where each partition resumes: see `start_assigned`.
    fn assigned(&self, partitions: &[i32]) {
        let mut state = self.state();
        for partition in partitions {
            state.partitions.entry(*partition).or_insert_with(|| {
                self.shared.metrics.member.assigned_partitions.inc();
                Partition::assigned()
            });
        }
    }

    fn revoking(&self, member: &Member<Self>, partitions: &[i32]) {
        self.revoke(member, partitions);
    }
}

impl Sink {
    /// Starts reading the partitions assigned since the last call: looks up the group's
    /// committed offset of each (and where its unsettled dead letters are, from the commit's
    /// metadata), seeks there, so the first record read can be checked against it, and resumes
    /// them. A failed lookup leaves them paused, to be asked again a little later.
    pub(super) fn start_assigned(&self, consumer: &Member<Self>, now: Instant) {
        let topic = &self.shared.kafka.topic;
        let mut lookup = TopicPartitionList::new();
        for (partition, state) in &self.state().partitions {
            if state.start_due(now) {
                let _ = lookup.add_partition(topic, *partition);
            }
        }
        if lookup.count() == 0 {
            return;
        }
        let committed = consumer.committed_offsets(lookup.clone(), COMMITTED_TIMEOUT);
        let mut state = self.state();
        let committed = match committed {
            Ok(committed) => committed,
            Err(err) => {
                tracing::warn!(%err, "cannot read the committed offsets yet; the assigned partitions wait");
                for element in lookup.elements() {
                    if let Some(partition) = state.partitions.get_mut(&element.partition()) {
                        partition.start_failed(Instant::now() + COMMITTED_RETRY);
                    }
                }
                return;
            }
        };
        let mut started = TopicPartitionList::new();
        for element in committed.elements() {
            let partition = element.partition();
            let (resume, mark) = match element.offset() {
                Offset::Offset(offset) => (
                    Some(offset),
                    LetterMark::from_metadata(element.metadata())
                        .filter(|mark| mark.topic == self.settler.topic()),
                ),
                // Nothing committed yet: the partition is read from its start.
                _ => (None, None),
            };
            state.generations += 1;
            let generation = state.generations;
            // Revoked while the lookup ran: no longer in the map.
            let Some(owned) = state.partitions.get_mut(&partition) else {
                continue;
            };
            for effect in owned.started(generation, resume, mark) {
                match effect {
                    Effect::Seek(from) => {
                        let from = from.map_or(Offset::Beginning, Offset::Offset);
                        if let Err(err) = consumer.seek(topic, partition, from, COMMITTED_TIMEOUT) {
                            tracing::warn!(partition, %err, "cannot seek to the committed offset yet; the partition waits");
                            owned.start_failed(Instant::now() + COMMITTED_RETRY);
                            break;
                        }
                    }
                    Effect::Resume => {
                        let _ = started.add_partition(topic, partition);
                        tracing::info!(partition, resume, "partition assigned");
                    }
                    Effect::Commit { .. } | Effect::WriteLetters { .. } => {}
                }
            }
        }
        // While every bulk slot is busy the whole assignment stays paused; the flow resumes it.
        if started.count() > 0
            && state.flow != Flow::Paused
            && let Err(err) = consumer.resume(&started)
        {
            tracing::warn!(%err, "cannot resume the assigned partitions");
        }
    }

    /// Gives up revoked partitions: their records not yet sent are dropped, their batches in
    /// flight get until the rebalance timeout, and only what is done is committed.
    fn revoke(&self, consumer: &Member<Self>, revoked: &[i32]) {
        let dropped = self
            .state()
            .open
            .retain_partitions(|p| !revoked.contains(&p));
        self.shared
            .metrics
            .member
            .dropped_on_revoke
            .inc_by(dropped as u64);
        // The callback's one wait: offsets can be committed only before the partitions go.
        let deadline = Instant::now() + self.shared.rebalance_timeout;
        loop {
            let waiting: usize = {
                let state = self.state();
                revoked
                    .iter()
                    .filter_map(|p| state.partitions.get(p))
                    .map(Partition::in_flight)
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
                let owed = owned.owed();
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
}
