//! Keeping erased click ids as tombstones: each id becomes a record of the compacted topic of
//! erased ids (`ERASED_TOPIC`), its key the id, its value the request and when, never a name.
//! Both sinks skip a click whose id is there on any replay (`common::kafka::tombstones`). Every
//! record is acknowledged by the topic's in-sync replicas before the store it came from is
//! erased, so a store is never erased while its clicks could still come back.

use std::time::Duration;

use common::kafka::tombstones::{Erased, key};
use common::kafka::{ClientError, KafkaArgs, lookup_consumer, partitions};
use rdkafka::producer::{FutureProducer, FutureRecord};
use uuid::Uuid;

use crate::error::Error;

/// Longest wait for the topic to acknowledge one record.
const ACKNOWLEDGED_WITHIN: Duration = Duration::from_secs(30);

/// A producer of the topic of erased ids.
pub struct TombstoneWriter {
    producer: FutureProducer,
    topic: String,
}

impl TombstoneWriter {
    /// A writer of the topic `args` name, which must exist: a missing one is an error that
    /// says how to make it, since without it erased clicks would come back on a replay.
    pub fn connect(args: &KafkaArgs) -> Result<Self, Error> {
        let mut exists = args.clone();
        exists.topic = args.erased_topic.clone();
        let consumer = lookup_consumer(&exists, "erase-tombstones", "erase")?;
        match partitions(&consumer, &exists) {
            Ok(_) => {}
            Err(ClientError::NoSuchTopic(topic)) => return Err(Error::NoErasedTopic(topic)),
            Err(err) => return Err(err.into()),
        }
        let producer =
            common::kafka::record_keeping_producer_config(args, "erase", ACKNOWLEDGED_WITHIN)
                .create()
                .map_err(ClientError::of(args))?;
        Ok(TombstoneWriter {
            producer,
            topic: args.erased_topic.clone(),
        })
    }

    /// Keeps `ids` as erased by `request`, each acknowledged before this returns.
    pub async fn keep(&self, ids: &[Uuid], request: &str) -> Result<(), Error> {
        let value = serde_json::to_vec(&Erased {
            request: request.to_owned(),
            erased_at: chrono::Utc::now(),
        })
        .expect("a tombstone serializes");
        let sends = ids.iter().map(|id| {
            let key = key(id);
            let value = value.clone();
            async move {
                let record = FutureRecord::to(&self.topic).key(&key).payload(&value);
                self.producer
                    .send(record, ACKNOWLEDGED_WITHIN)
                    .await
                    .map_err(|(err, _)| Error::Tombstone {
                        topic: self.topic.clone(),
                        reason: err.to_string(),
                    })
            }
        });
        for sent in futures::future::join_all(sends).await {
            sent?;
        }
        tracing::info!(
            request,
            ids = ids.len(),
            topic = self.topic,
            "erased ids kept as tombstones"
        );
        Ok(())
    }
}
