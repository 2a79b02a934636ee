//! What stops an erasure before it can report.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Config(String),
    #[error(transparent)]
    Kafka(#[from] common::kafka::ClientError),
    #[error(transparent)]
    Storage(#[from] lake::StorageError),
    #[error("cannot append to the audit file {path}: {source}")]
    Audit {
        path: String,
        source: std::io::Error,
    },
}
