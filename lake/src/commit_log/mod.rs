//! Each partition's commit log: the one commit point of its landing, which an owner that lost
//! the partition cannot pass.
//!
//! ```text
//! <topic>/_commits/<partition>/00000000000000000041.json  {"kind":"claim","owner":{..},"lastOffset":1196,"files":[]}
//! <topic>/_commits/<partition>/00000000000000000042.json  {"kind":"commit","owner":{..},"lastOffset":1442,"files":[..],"uncompacted":[..]}
//! <topic>/_commits/<partition>/00000000000000000043.json  {"kind":"compaction","owner":{..},"lastOffset":1442,"files":[..],"inputs":[..],"uncompacted":[..]}
//! ```
//!
//! Entries are numbered, and each is published only if its number is free
//! ([`Storage::publish`], a rename that refuses an existing name). The entry with the highest
//! number is the partition's state: every record up to its `lastOffset` is landed, and a
//! commit's `files` are visible or about to be (renamed from `_tmp/` after the entry).
//!
//! Every entry is published through [`crate::protocol`]: a member given the partition
//! **claims** it by publishing the next number; a holder publishes each **change** (a landing, a
//! merge, an expiry, an erasure) as the number after the one it holds, and is refused when
//! anyone published that number first. Each entry carries what the partition's holder must know
//! without listing the lake: the last offset landed, the hours landed in and not merged since
//! (`uncompacted`, with when each was last landed in), and the erasure requests carried out and
//! still on file (`erasures`, with what each removed, so whoever asked reads the answer from the
//! latest entry). A change's `files` are made visible, and its `inputs` deleted, only after its
//! entry is published.
//! - Old entries are deleted, keeping the latest [`KEPT_ENTRIES`]. A member paused for longer
//!   than that many landings may then publish into a freed number; so after publishing, a
//!   committer checks that the entry it held is still there (entries are deleted oldest first,
//!   so a freed number means its own is gone too) and treats a missing one as a refusal.
//!
//! Entry numbers only grow and an entry is never rewritten, so the landed offset never moves
//! backwards: an entry's `lastOffset` is at least its predecessor's. The one exception is a
//! repair: when a file the latest entry names is gone from storage (deleted by hand), a claim
//! resumes after the landed file names instead, so the missing records are landed again.

mod entry;

pub use entry::{
    Entry, EntryKind, Erased, Held, Owner, PendingRename, Recorded, Uncompacted, UncompactedHours,
};

use crate::layout;
use crate::storage::{Publish, Storage, StorageError};

/// Entries kept per partition; older ones are deleted.
pub const KEPT_ENTRIES: u64 = 100;

/// The highest entry number among a log folder's file names.
pub fn latest_seq<'a>(names: impl IntoIterator<Item = &'a str>) -> Option<u64> {
    names
        .into_iter()
        .filter_map(layout::parse_commit_entry_name)
        .max()
}

/// The entries to delete once `latest` is published: those more than `kept` behind it.
pub fn expired(seqs: impl IntoIterator<Item = u64>, latest: u64, kept: u64) -> Vec<u64> {
    let oldest_kept = latest.saturating_sub(kept.saturating_sub(1));
    let mut expired: Vec<u64> = seqs.into_iter().filter(|s| *s < oldest_kept).collect();
    expired.sort_unstable();
    expired
}

/// What is in a log entry's place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// Nothing: the log is empty.
    Empty,
    /// The entry, or `None` when it cannot be read as one.
    Entry { seq: u64, entry: Option<Entry> },
}

/// One topic's commit logs.
#[derive(Clone)]
pub struct CommitLog {
    storage: Storage,
    topic: String,
    kept: u64,
}

impl CommitLog {
    pub fn new(storage: Storage, topic: &str) -> Self {
        CommitLog {
            storage,
            topic: topic.to_owned(),
            kept: KEPT_ENTRIES,
        }
    }

    /// Keeps `kept` entries per partition rather than [`KEPT_ENTRIES`] (at least two: the
    /// latest and the one before it, which a committer checks).
    pub fn keeping(mut self, kept: u64) -> Self {
        self.kept = kept.max(2);
        self
    }

    /// The numbers of a partition's entries, in no order.
    pub async fn seqs(&self, partition: i32) -> Result<Vec<u64>, StorageError> {
        let dir = layout::commit_dir(&self.topic, partition);
        let entries = match self.storage.operator().list(&dir).await {
            Ok(entries) => entries,
            Err(err) if err.kind() == opendal::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(err) => return Err(self.storage.failed("list", &dir)(err)),
        };
        Ok(entries
            .iter()
            .filter(|e| e.metadata().is_file())
            .filter_map(|e| layout::parse_commit_entry_name(e.name()))
            .collect())
    }

    /// The latest entry of a partition's log.
    pub async fn latest(&self, partition: i32) -> Result<Found, StorageError> {
        let seqs = self.seqs(partition).await?;
        let Some(seq) = seqs.iter().copied().max() else {
            return Ok(Found::Empty);
        };
        Ok(Found::Entry {
            seq,
            entry: self.read(partition, seq).await?,
        })
    }

    /// Entry `seq`, or `None` if it is missing or unreadable.
    pub async fn read(&self, partition: i32, seq: u64) -> Result<Option<Entry>, StorageError> {
        let path = layout::commit_entry_path(&self.topic, partition, seq);
        match self.storage.operator().read(&path).await {
            Ok(bytes) => match serde_json::from_slice(&bytes.to_vec()) {
                Ok(entry) => Ok(Some(entry)),
                Err(err) => {
                    tracing::warn!(partition, seq, path, %err, "unreadable commit log entry");
                    Ok(None)
                }
            },
            Err(err) if err.kind() == opendal::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(self.storage.failed("read", &path)(err)),
        }
    }

    /// Whether entry `seq` is there.
    pub async fn contains(&self, partition: i32, seq: u64) -> Result<bool, StorageError> {
        let path = layout::commit_entry_path(&self.topic, partition, seq);
        self.storage
            .operator()
            .exists(&path)
            .await
            .map_err(self.storage.failed("stat", &path))
    }

    /// Publishes `entry` as number `seq` if that number is free. It is written in full under
    /// `_tmp/` first, so it appears whole or not at all.
    pub async fn publish(
        &self,
        partition: i32,
        seq: u64,
        entry: &Entry,
    ) -> Result<Publish, StorageError> {
        let name = format!("entry.{seq}");
        let tmp = layout::tmp_path(&self.topic, partition, &entry.owner.tag(), "log", &name);
        let body = serde_json::to_vec(entry).expect("an entry serializes");
        let op = self.storage.operator();
        if let Err(err) = op.write(&tmp, body).await {
            // A member that claimed the partition meanwhile may have removed the copy while it
            // was written, as a leftover: then the number is taken.
            if self.contains(partition, seq).await.unwrap_or(false) {
                return Ok(Publish::TargetExists);
            }
            return Err(self.storage.failed("write", &tmp)(err));
        }
        let path = layout::commit_entry_path(&self.topic, partition, seq);
        let published = self.storage.publish(&tmp, &path).await;
        if !matches!(published, Ok(Publish::Published)) {
            // Refused or failed: the copy is of no use. If a failed call did publish after
            // all, this finds nothing to delete.
            let _ = op.delete(&tmp).await;
        }
        published
    }

    /// Deletes the entries that `latest` leaves more than the kept number behind; a failure
    /// only leaves them for the next claim to delete.
    pub async fn expire(&self, partition: i32, seqs: impl IntoIterator<Item = u64>, latest: u64) {
        for seq in expired(seqs, latest, self.kept) {
            let path = layout::commit_entry_path(&self.topic, partition, seq);
            match self.storage.operator().delete(&path).await {
                Err(err) if err.kind() != opendal::ErrorKind::NotFound => {
                    tracing::debug!(partition, path, %err, "could not delete an old commit log entry");
                    return;
                }
                _ => {}
            }
        }
    }

    /// After a commit published as `seq`: deletes the one entry it takes out of the kept ones.
    pub async fn expire_after(&self, partition: i32, seq: u64) {
        if let Some(old) = seq.checked_sub(self.kept) {
            self.expire(partition, [old], seq).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_latest_entry_is_the_highest_number_among_entry_names() {
        let names = [
            "00000000000000000009.json",
            "00000000000000000010.json",
            "notes.txt",
            "00000000000000000002.json",
        ];
        assert_eq!(latest_seq(names), Some(10));
        assert_eq!(latest_seq(["x"]), None);
        assert_eq!(latest_seq([]), None);
    }

    #[test]
    fn entries_more_than_the_kept_number_behind_the_latest_expire_oldest_first() {
        assert_eq!(expired([7, 3, 9, 10, 8], 10, 3), [3, 7]);
        assert_eq!(expired(0..=4, 4, 100), Vec::<u64>::new());
        assert_eq!(
            expired([0, 1], 1, 2),
            Vec::<u64>::new(),
            "latest and one before"
        );
        assert_eq!(
            expired([5], 5, 0),
            Vec::<u64>::new(),
            "the latest never expires"
        );
    }
}
