//! Erased stays erased: the ids of erased clicks, kept in a compacted topic (`ERASED_TOPIC`,
//! default `select-color-erased`) that the `erase` command writes and both sinks read. A sink
//! skips a click whose id is there on any replay: a new group, offsets reset, a fresh landing
//! folder. A record's key is the event id; its value says which request erased it and when,
//! never whose click it was. The topic keeps them as long as the click topic keeps clicks
//! (`cleanup.policy=compact,delete`, the same `retention.ms`): by then no replay can bring the
//! click back.
//!
//! [`Tombstones::load`] reads the topic to its end before a sink consumes anything, then follows
//! it on a thread of its own; a topic that does not exist yet is empty, and is looked for again.

use std::collections::HashSet;
use std::sync::{Arc, RwLock, Weak};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{ClientError, KafkaArgs, LOOKUP_TIMEOUT, lookup_consumer};

/// Default topic of erased click ids.
pub const DEFAULT_ERASED_TOPIC: &str = "select-color-erased";

/// How long a sink may take to read the erased ids before it consumes.
pub const LOAD_TIMEOUT: Duration = Duration::from_secs(60);

/// How often a missing topic is looked for again.
const LOOK_AGAIN: Duration = Duration::from_secs(5);

/// The value of an erased id's record: which request, and when. Never a name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Erased {
    pub request: String,
    pub erased_at: chrono::DateTime<chrono::Utc>,
}

/// The key of an erased id's record: the event id as text.
pub fn key(id: &Uuid) -> String {
    id.hyphenated().to_string()
}

/// The erased ids a sink has read; a thread keeps reading new ones while this is alive.
#[derive(Default)]
pub struct Tombstones {
    ids: RwLock<HashSet<Uuid>>,
}

impl Tombstones {
    /// Whether `id` was erased.
    pub fn contains(&self, id: &Uuid) -> bool {
        self.ids.read().expect("not poisoned").contains(id)
    }

    /// How many erased ids are known.
    pub fn len(&self) -> usize {
        self.ids.read().expect("not poisoned").len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Reads the topic of erased ids to its end (within [`LOAD_TIMEOUT`]), then follows it on a
    /// thread until dropped.
    pub fn load(args: &KafkaArgs, client_id: &str) -> Result<Arc<Tombstones>, ClientError> {
        let consumer = lookup_consumer(args, &format!("{client_id}-erased-ids"), client_id)?;
        let tombstones = Arc::new(Tombstones::default());
        let topic = args.erased_topic.clone();
        let deadline = Instant::now() + LOAD_TIMEOUT;
        let mut reader = Reader {
            consumer,
            topic,
            ends: None,
        };
        reader.assign(args)?;
        while !reader.at_end() {
            if Instant::now() >= deadline {
                return Err(ClientError::Kafka {
                    bootstrap: args.bootstrap_servers.clone(),
                    source: rdkafka::error::KafkaError::MessageConsumption(
                        rdkafka::types::RDKafkaErrorCode::OperationTimedOut,
                    ),
                });
            }
            reader.read_into(&tombstones, Duration::from_millis(100));
        }
        tracing::info!(
            topic = reader.topic,
            erased_ids = tombstones.len(),
            "erased click ids read; clicks with these ids are skipped on any replay"
        );
        let following = Arc::downgrade(&tombstones);
        let args = args.clone();
        std::thread::Builder::new()
            .name("erased-ids".into())
            .spawn(move || reader.follow(&following, &args))
            .expect("a thread starts");
        Ok(tombstones)
    }
}

/// The consumer of the erased ids' topic, assigned every partition from its start.
struct Reader {
    consumer: BaseConsumer,
    topic: String,
    /// Each partition's end when loading began; `None` while the topic does not exist.
    ends: Option<Vec<(i32, i64)>>,
}

impl Reader {
    /// Assigns every partition of the topic from its start, if the topic exists.
    fn assign(&mut self, args: &KafkaArgs) -> Result<(), ClientError> {
        let metadata = self
            .consumer
            .fetch_metadata(Some(&self.topic), LOOKUP_TIMEOUT)
            .map_err(ClientError::of(args))?;
        let partitions: Vec<i32> = metadata
            .topics()
            .iter()
            .find(|t| t.name() == self.topic && t.error().is_none())
            .map(|t| t.partitions().iter().map(|p| p.id()).collect())
            .unwrap_or_default();
        if partitions.is_empty() {
            return Ok(());
        }
        let mut assignment = TopicPartitionList::new();
        let mut ends = Vec::new();
        for partition in partitions {
            let (start, end) = self
                .consumer
                .fetch_watermarks(&self.topic, partition, LOOKUP_TIMEOUT)
                .map_err(ClientError::of(args))?;
            assignment
                .add_partition_offset(&self.topic, partition, Offset::Beginning)
                .map_err(ClientError::of(args))?;
            // A partition whose records were all deleted has nothing to read.
            ends.push((partition, if start == end { 0 } else { end }));
        }
        self.consumer
            .assign(&assignment)
            .map_err(ClientError::of(args))?;
        self.ends = Some(ends);
        Ok(())
    }

    /// Whether every partition was read up to where it ended when loading began (a missing
    /// topic has nothing to read).
    fn at_end(&self) -> bool {
        let Some(ends) = &self.ends else {
            return true;
        };
        let positions = self.consumer.position().ok();
        ends.iter().all(|(partition, end)| {
            let position = positions
                .as_ref()
                .and_then(|p| p.find_partition(&self.topic, *partition))
                .and_then(|e| match e.offset() {
                    Offset::Offset(o) => Some(o),
                    _ => None,
                });
            *end == 0 || position.is_some_and(|p| p >= *end)
        })
    }

    /// Reads what arrives within `wait` into `tombstones`.
    fn read_into(&self, tombstones: &Tombstones, wait: Duration) {
        let deadline = Instant::now() + wait;
        while let Some(result) = self
            .consumer
            .poll(deadline.saturating_duration_since(Instant::now()))
        {
            match result {
                Ok(message) => {
                    let id = message
                        .key()
                        .and_then(|k| std::str::from_utf8(k).ok())
                        .and_then(|k| Uuid::parse_str(k).ok());
                    match id {
                        Some(id) => {
                            tombstones.ids.write().expect("not poisoned").insert(id);
                        }
                        None => tracing::warn!(
                            topic = self.topic,
                            partition = message.partition(),
                            offset = message.offset(),
                            "a record of the erased ids' topic has no event id as its key; skipped"
                        ),
                    }
                }
                Err(err) => tracing::warn!(topic = self.topic, %err, "reading erased ids"),
            }
            if Instant::now() >= deadline {
                break;
            }
        }
    }

    /// Keeps reading new erased ids until `tombstones` is dropped; looks for a missing topic
    /// again now and then.
    fn follow(mut self, tombstones: &Weak<Tombstones>, args: &KafkaArgs) {
        let mut looked = Instant::now();
        while let Some(tombstones) = tombstones.upgrade() {
            if self.ends.is_none() {
                if looked.elapsed() >= LOOK_AGAIN {
                    looked = Instant::now();
                    if let Err(err) = self.assign(args) {
                        tracing::debug!(%err, "looking for the erased ids' topic");
                    }
                }
                std::thread::sleep(Duration::from_millis(200));
                continue;
            }
            self.read_into(&tombstones, Duration::from_millis(500));
        }
    }
}
