//! The consumer-group member both sinks run: one librdkafka context, written once. Its
//! callbacks run inside `poll`, on the sink's polling thread, and only record what happened
//! (log lines, partition ends from the statistics); what a rebalance means is the sink's,
//! through [`Rebalancing`].

use std::sync::{Arc, Mutex};

use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{ClientContext, TopicPartitionList};

use super::{ClientLog, partition_ends};

/// A group member as the sinks build it.
pub type Member<R> = BaseConsumer<MemberContext<R>>;

/// What a sink does as its partitions move. Each call runs inside `poll` on the polling
/// thread, with the group waiting: between `revoking` and the next assignment, nobody owns
/// the partitions.
pub trait Rebalancing: Sized + Send + Sync + 'static {
    /// Partitions are about to be assigned; `tpl` may be given explicit start offsets.
    fn assigning(&self, _member: &Member<Self>, _tpl: &mut TopicPartitionList) {}
    /// Partitions were assigned.
    fn assigned(&self, member: &Member<Self>, tpl: &TopicPartitionList);
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
                self.rebalancing.assigning(member, tpl);
                if let Err(err) = member.assign(tpl) {
                    tracing::error!(%err, "assign failed");
                }
                self.rebalancing.assigned(member, tpl);
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
