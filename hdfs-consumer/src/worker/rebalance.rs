//! What a worker does as partitions move: librdkafka runs rebalances inside `poll`, on the
//! loop's thread; the callback only records the change, and the loop applies it after `poll`.

use std::sync::Mutex;

use common::kafka::{Member, Rebalancing};
use rdkafka::consumer::Consumer;

use super::Worker;
use crate::partition::Partition;

/// A rebalance, as the callback saw it.
#[derive(Debug)]
pub(super) enum Rebalance {
    Assigned(Vec<i32>),
    Revoked(Vec<i32>),
}

/// A worker's rebalances, recorded inside `poll` for the loop to apply after it.
#[derive(Default)]
pub(super) struct RecordedRebalances {
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

    pub(super) fn take(&self) -> Vec<Rebalance> {
        std::mem::take(&mut *self.rebalances.lock().expect("not poisoned"))
    }
}

impl Worker {
    /// Makes the partition states follow what the rebalance callback recorded.
    pub(super) fn apply_rebalances(&mut self) {
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
