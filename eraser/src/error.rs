//! What stops an erasure before it can report.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Config(String),
    #[error("Kafka at {bootstrap}: {source}")]
    Kafka {
        bootstrap: String,
        source: rdkafka::error::KafkaError,
    },
    #[error("topic {0} not found or has no partitions")]
    NoSuchTopic(String),
    #[error(transparent)]
    Storage(#[from] hdfs_consumer::storage::StorageError),
    #[error("cannot append to the audit file {path}: {source}")]
    Audit {
        path: String,
        source: std::io::Error,
    },
}
