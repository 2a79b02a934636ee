//! What stops an erasure before it can report.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Config(String),
    #[error(transparent)]
    Kafka(#[from] common::kafka::ClientError),
    #[error(transparent)]
    Storage(#[from] lake::StorageError),
    #[error(
        "the topic of erased ids {0} does not exist: create it (cleanup.policy=compact,delete, the click topic's retention.ms), or erased clicks would come back on a replay"
    )]
    NoErasedTopic(String),
    #[error("cannot keep erased ids in {topic}: {reason}")]
    Tombstone { topic: String, reason: String },
    #[error("cannot append to the audit file {path}: {source}")]
    Audit {
        path: String,
        source: std::io::Error,
    },
}
