//! The lake: one topic's clicks as Hive-ready files on a folder or HDFS, and the one way they
//! change. Nothing here knows Kafka: a record comes in as an offset and a value, and every
//! change names the partition it belongs to.
//!
//! - [`storage`] — a folder or HDFS through OpenDAL, and what the protocol needs from either;
//! - [`layout`] — file names and the Hive layout (pure);
//! - [`file_format`] — the landed files' formats, Parquet and JSON lines;
//! - [`record`] — a record of the topic as the lake takes it;
//! - [`commit_log`] — each partition's numbered entries, the commit point;
//! - [`protocol`] — the one change protocol: publish the entry, make files visible, delete what
//!   is retired, finish an interrupted change on the next claim, refuse a holder that lost the
//!   partition; [`protocol::claim`] takes a partition over;
//! - its four writers, each building a [`protocol::Change`] and handing it over: [`land`]
//!   (a batch), [`merge`] (an hour's files into one), [`expire`] (hours past the retention),
//!   [`erase`] (an erasure request's clicks);
//! - [`listing`] — what the lake holds: its hours, a partition's files;
//! - [`repeats`] — a retried click landed once: the window of recent ids, rebuilt from the
//!   landed files;
//! - [`requests`] — erasure requests, filed beside the files and read by every holder.
//!
//! [`Lake`] is the handle the Kafka side holds: one topic in one storage, in one format.

pub mod commit_log;
pub mod erase;
pub mod expire;
pub mod file_format;
pub mod land;
pub mod layout;
pub mod listing;
pub mod merge;
pub mod protocol;
pub mod record;
pub mod repeats;
pub mod requests;
pub mod storage;

use std::time::Duration;

use chrono::{DateTime, Utc};
use url::Url;

pub use commit_log::{CommitLog, Held};
pub use file_format::LandingFormat;
pub use layout::HourPartition;
/// The storage library the lake is written against, for its callers' own calls.
pub use opendal;
pub use protocol::claim::Claimed;
pub use protocol::{Outcome, StopAt};
pub use record::TopicRecord;
pub use requests::ErasureRequest;
pub use storage::{Storage, StorageError};

/// One topic's files in one storage, in one format, and the changes its holders make.
#[derive(Clone)]
pub struct Lake {
    protocol: protocol::Protocol,
    format: LandingFormat,
    /// Whether landings note their hours for merging; off, entries do not grow with them.
    noting_hours: bool,
    /// How long landed clicks are kept; `None`: until deleted by hand.
    retention: Option<Duration>,
    /// How far apart two copies of a click may be received and still land once
    /// ([`repeats`]); zero: every copy lands.
    repeat_span: Duration,
}

impl Lake {
    /// Lands `topic` in `storage`, as `format`.
    pub fn new(storage: Storage, topic: &str, format: LandingFormat) -> Self {
        Lake {
            protocol: protocol::Protocol::new(storage, topic),
            format,
            noting_hours: true,
            retention: None,
            repeat_span: Duration::ZERO,
        }
    }

    /// Lands where a `LANDING_URL` says; errors name it (the namenode, for HDFS).
    pub fn open(url: &Url, topic: &str, format: LandingFormat) -> Result<Self, StorageError> {
        Ok(Lake::new(Storage::open(url)?, topic, format))
    }

    /// Keeps landed clicks for `retention` (`RETENTION`): a click older is not landed, and
    /// [`Lake::expire`] deletes the hours that pass it.
    pub fn retaining(mut self, retention: Option<Duration>) -> Self {
        self.retention = retention;
        self
    }

    /// Lands a click once when its copies are received within `span` of each other
    /// (`DEDUPE_WINDOW`): a merge leaves repeats out, and [`Lake::repeat_window`] gives a holder
    /// its window.
    pub fn dropping_repeats(mut self, span: Duration) -> Self {
        self.repeat_span = span;
        self
    }

    /// The repeat window's span; zero when repeats land.
    pub fn repeat_span(&self) -> Duration {
        self.repeat_span
    }

    /// The repeat window of `partition` as its landed files leave it ([`repeats::recent`]):
    /// a holder builds it when it claims the partition, after the claim finished what was
    /// left unfinished.
    pub async fn repeat_window(
        &self,
        partition: i32,
    ) -> Result<repeats::recent::Rebuilt, StorageError> {
        repeats::recent::window(self, partition, self.repeat_span).await
    }

    /// Whether hours are merged at all: when not, landings do not note the hours they land in
    /// (so hours landed meanwhile are not merged later either).
    pub fn merging(mut self, merging: bool) -> Self {
        self.noting_hours = merging;
        self
    }

    /// Stops the process with SIGSTOP the first time a change reaches a step, for fault tests.
    pub fn stopping_at(mut self, stop_at: Option<StopAt>) -> Self {
        self.protocol = self.protocol.stopping_at(stop_at);
        self
    }

    /// Keeps `kept` commit log entries per partition (see [`CommitLog::keeping`]).
    pub fn keeping(mut self, kept: u64) -> Self {
        self.protocol = self.protocol.keeping(kept);
        self
    }

    /// The retention limit at `now`: hours that ended at or before it are expired.
    pub fn retention_limit(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let retention = chrono::Duration::from_std(self.retention?).ok()?;
        now.checked_sub_signed(retention)
    }

    /// The format of landed event files.
    pub fn format(&self) -> LandingFormat {
        self.format
    }

    /// The topic whose files these are.
    pub fn topic(&self) -> &str {
        self.protocol.topic()
    }

    /// The storage, for calls outside the protocol (probes, erasure requests).
    pub fn storage(&self) -> &Storage {
        self.protocol.storage()
    }

    /// OpenDAL's operator, for probes and tools.
    pub fn operator(&self) -> &opendal::Operator {
        self.storage().operator()
    }

    /// The partitions' commit logs.
    pub fn log(&self) -> &CommitLog {
        self.protocol.log()
    }

    /// Takes `partition` over for `member` ([`protocol::claim`]).
    pub async fn claim(&self, partition: i32, member: &str) -> Result<Claimed, StorageError> {
        self.protocol.claim(partition, member).await
    }

    /// Lands a non-empty batch of one partition's records, in offset order, after `held`'s
    /// last offset ([`land`]). An error leaves the commit published or not; either way the
    /// same batch may be landed again under the same claim.
    pub async fn land(
        &self,
        partition: i32,
        held: &Held,
        batch: &[TopicRecord],
        now: DateTime<Utc>,
    ) -> Result<Outcome<land::Landed>, StorageError> {
        let written = land::write(self, partition, held, batch, now).await?;
        self.protocol.settle(partition, held, written).await
    }

    /// Merges `hour`'s files of `partition` into files of up to `target_bytes` ([`merge`]).
    pub async fn compact(
        &self,
        partition: i32,
        held: &Held,
        hour: HourPartition,
        target_bytes: u64,
    ) -> Result<Outcome<merge::CompactedHour>, StorageError> {
        let written = merge::write(self, partition, held, hour, target_bytes).await?;
        self.protocol.settle(partition, held, written).await
    }

    /// Deletes the partition's files of hours that ended at or before `limit` ([`expire`]).
    pub async fn expire(
        &self,
        partition: i32,
        held: &Held,
        limit: DateTime<Utc>,
    ) -> Result<Outcome<expire::Expired>, StorageError> {
        let (written, hours) = expire::write(self, partition, held, limit).await?;
        let outcome = self.protocol.settle(partition, held, written).await?;
        if matches!(outcome, Outcome::Done { .. } | Outcome::Unchanged { .. }) {
            expire::remove_empty(self.storage(), &hours).await;
        }
        Ok(outcome)
    }

    /// Carries out an erasure request on the partition ([`erase`]).
    pub async fn erase(
        &self,
        partition: i32,
        held: &Held,
        request: &ErasureRequest,
    ) -> Result<Outcome<commit_log::Erased>, StorageError> {
        let written = erase::write(self, partition, held, request).await?;
        self.protocol.settle(partition, held, written).await
    }
}
