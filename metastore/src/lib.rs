//! The Hive Metastore as the pipeline keeps it: the table over the landed files, its columns,
//! and a partition per landed hour.
//!
//! - [`thrift`] — Thrift's binary protocol over a value tree (pure);
//! - [`table`] — the table and its partitions as the metastore's structs (pure);
//! - [`client`] — a connection and the calls made on it, each bounded in time.
//!
//! A hand-written client of a few calls, rather than one generated from the metastore's whole
//! interface: the generated crates hold hundreds of calls and build for minutes, and reading
//! structs as value trees keeps the fields other engines write when a table is altered.

pub mod client;
pub mod table;
pub mod thrift;

pub use client::Client;
pub use table::{Column, Storage, TableSpec};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("no metastore URI is set")]
    NoUri,
    #[error("metastore URI {0} is not thrift://host:port")]
    BadUri(String),
    #[error("cannot connect to the metastore at {uri}: {reason}")]
    Connect { uri: String, reason: String },
    #[error("metastore {uri}: {method} failed: {reason}")]
    Call {
        uri: String,
        method: &'static str,
        reason: String,
    },
    #[error("the metastore refused {method}: {message}")]
    Refused {
        method: &'static str,
        message: String,
    },
    #[error("the metastore could not carry out {method}: {message}")]
    Application {
        method: &'static str,
        message: String,
    },
}
