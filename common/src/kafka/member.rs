//! The consumer-group member both sinks run: one librdkafka context, written once. Its
//! callbacks run inside `poll`, on the sink's polling thread, and only record what happened
//! (log lines, partition ends from the statistics); what a rebalance means is the sink's,
//! through [`Rebalancing`].

use std::sync::{Arc, Mutex};

use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{ClientContext, TopicPartitionList};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;

use super::{ClientLog, GapMetrics, lag, partition_ends};
use crate::metrics::{Register, Registry};

/// A group member as the sinks build it.
pub type Member<R> = BaseConsumer<MemberContext<R>>;

/// What a sink does as its partitions move. Each call runs inside `poll` on the polling
/// thread, with the group waiting: between `revoking` and the next assignment, nobody owns
/// the partitions.
pub trait Rebalancing: Sized + Send + Sync + 'static {
    /// Partitions were assigned, paused: nothing of them is read until the sink, on its polling
    /// thread, has found where each resumes, seeked there and resumed it. Only records.
    fn assigned(&self, partitions: &[i32]);
    /// Partitions are about to be taken away: the last moment their offsets can be committed.
    fn revoking(&self, member: &Member<Self>, partitions: &[i32]);
}

/// The member's librdkafka context.
pub struct MemberContext<R> {
    log: Arc<ClientLog>,
    topic: String,
    /// Partition ends from the latest statistics, until the sink measures lag against them.
    ends: Mutex<Option<Vec<(i32, i64)>>>,
    pub rebalancing: R,
}

impl<R> MemberContext<R> {
    /// A context for a member reading `topic`, logging through `log`.
    pub fn new(log: Arc<ClientLog>, topic: &str, rebalancing: R) -> Self {
        MemberContext {
            log,
            topic: topic.to_owned(),
            ends: Mutex::default(),
            rebalancing,
        }
    }

    /// Each partition's end offset from statistics that came since the last call, if any.
    pub fn take_ends(&self) -> Option<Vec<(i32, i64)>> {
        self.ends.lock().expect("not poisoned").take()
    }
}

impl<R: Rebalancing> ClientContext for MemberContext<R> {
    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, fac: &str, log_message: &str) {
        self.log.log(level, fac, log_message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.log.error(&error, reason);
    }

    fn stats_raw(&self, statistics: &[u8]) {
        let ends = partition_ends(statistics, &self.topic);
        *self.ends.lock().expect("not poisoned") = Some(ends);
    }
}

impl<R: Rebalancing> ConsumerContext for MemberContext<R> {
    fn rebalance(&self, member: &Member<R>, err: RDKafkaRespErr, tpl: &mut TopicPartitionList) {
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                if let Err(err) = member.assign(tpl) {
                    tracing::error!(%err, "assign failed");
                }
                if let Err(err) = member.pause(tpl) {
                    tracing::error!(%err, "pause failed");
                }
                let partitions: Vec<i32> = tpl.elements().iter().map(|e| e.partition()).collect();
                self.rebalancing.assigned(&partitions);
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                let partitions: Vec<i32> = tpl.elements().iter().map(|e| e.partition()).collect();
                self.rebalancing.revoking(member, &partitions);
                if let Err(err) = member.unassign() {
                    tracing::error!(%err, "unassign failed");
                }
            }
            other => tracing::error!(error = ?other, "rebalance error"),
        }
    }

    fn commit_callback(&self, result: KafkaResult<()>, _offsets: &TopicPartitionList) {
        if let Err(err) = result {
            // The sinks commit the same or a later offset next time; Kafka's offsets only
            // say where a new owner starts, which each sink also checks on its own.
            tracing::warn!(%err, "offset commit failed");
        }
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet)]
pub struct PartitionLabel {
    pub partition: i32,
}

/// What every group member counts, registered beside its sink's own metrics under the sink's
/// prefix: `assigned_partitions`, `lag`, `dropped_on_revoke`, and the offset gaps.
#[derive(Debug, Clone, Default)]
pub struct MemberMetrics {
    pub assigned_partitions: Gauge,
    lag: Family<PartitionLabel, Gauge>,
    pub dropped_on_revoke: Counter,
    pub gaps: GapMetrics,
}

impl MemberMetrics {
    /// Sets the lag of each partition in `ends` (from [`MemberContext::take_ends`]) that has a
    /// durable `position` (landed, or committable): records from there to the partition's end.
    pub fn measure_lag(&self, ends: &[(i32, i64)], position: impl Fn(i32) -> Option<i64>) {
        for &(partition, end) in ends {
            if let Some(position) = position(partition) {
                self.lag
                    .get_or_create(&PartitionLabel { partition })
                    .set(lag(end, position));
            }
        }
    }

    /// A partition left the member: its lag is no longer this process's to say.
    pub fn forget(&self, partition: i32) {
        self.lag.remove(&PartitionLabel { partition });
    }
}

impl Register for MemberMetrics {
    /// Registers each metric under its own name, whatever the field holding the set is called.
    fn register_as(&self, registry: &mut Registry, _name: &str, _help: &str) {
        registry.register(
            "assigned_partitions",
            "Partitions this process owns",
            self.assigned_partitions.clone(),
        );
        registry.register(
            "lag",
            "Records between the partition's durable position (landed, or committable) and its end, from librdkafka's statistics",
            self.lag.clone(),
        );
        registry.register(
            "dropped_on_revoke",
            "Records read but not yet landed or indexed when their partition was revoked (read again by the next owner)",
            self.dropped_on_revoke.clone(),
        );
        self.gaps.register(registry);
    }
}
