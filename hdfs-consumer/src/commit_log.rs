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
//! - A member that is given the partition **claims** it: it finishes the latest entry's renames
//!   and publishes the next number, naming itself with a claim id of its own. It never waits for
//!   anyone.
//! - The holder **commits** a batch by publishing the number after the one it holds. If anyone
//!   published that number first (a new owner's claim), the commit is refused, and nothing of
//!   the batch becomes visible. This is how a process that was paused, cut from the brokers or
//!   replaced finds out, whatever its rebalance callbacks told it.
//! - The holder **compacts** an hour the same way: the merged file is written under `_tmp/`,
//!   the entry names it and the files it replaces (`inputs`), and only once the entry is
//!   published is the merged file made visible, then the inputs deleted. A refused compaction
//!   leaves the hour as it was.
//! - Every entry carries the hours this partition landed in and has not compacted since
//!   (`uncompacted`), with when it last landed there, so a new holder knows what to compact
//!   without listing the lake.
//! - The holder **expires** and **erases** the same way: an expiry entry names the files of
//!   hours past `RETENTION` it deletes (`inputs`); an erasure entry names the files it rewrote
//!   without a request's clicks (`files`) and the ones they replace (`inputs`). Every entry
//!   carries the erasure requests the partition has carried out (`erasures`, with what each
//!   removed), so whoever asked reads the answer from the latest entry.
//! - Old entries are deleted, keeping the latest [`KEPT_ENTRIES`]. A member paused for longer
//!   than that many landings may then publish into a freed number; so after publishing, a
//!   committer checks that the entry it held is still there (entries are deleted oldest first,
//!   so a freed number means its own is gone too) and treats a missing one as a refusal.
//!
//! Entry numbers only grow and an entry is never rewritten, so the landed offset never moves
//! backwards: an entry's `lastOffset` is at least its predecessor's. The one exception is a
//! repair: when a file the latest entry names is gone from storage (deleted by hand), a claim
//! resumes after the landed file names instead, so the missing records are landed again.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::layout::{self, HourPartition};
use crate::storage::{Publish, Storage, StorageError};

/// Entries kept per partition; older ones are deleted.
pub const KEPT_ENTRIES: u64 = 100;

/// A member's hold on a partition: one claim, from its publication until another member
/// claims the partition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owner {
    /// Unique to the claim: the same worker claiming again gets a new one.
    pub claim: Uuid,
    /// Who holds it, for people: host, process and worker.
    pub member: String,
}

impl Owner {
    /// A new claim by `member`.
    pub fn new(member: &str) -> Owner {
        Owner {
            claim: Uuid::now_v7(),
            member: member.to_owned(),
        }
    }

    /// The claim as temporary file names carry it.
    pub fn tag(&self) -> String {
        self.claim.simple().to_string()
    }
}

impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (claim {})", self.member, self.claim)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    /// A member took the partition over; nothing new landed.
    Claim,
    /// A batch landed.
    Commit,
    /// An hour's files were merged.
    Compaction,
    /// Files of hours past the retention were deleted.
    Expiry,
    /// Files were rewritten without the clicks an erasure request names.
    Erasure,
}

/// A file of a commit: where it was written, and its visible name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingRename {
    pub tmp: String,
    pub path: String,
}

/// One entry of a partition's commit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    pub kind: EntryKind,
    pub owner: Owner,
    /// Every record up to this offset is landed; `None` while nothing is.
    pub last_offset: Option<i64>,
    /// A commit's or a compaction's files, in the order they are made visible.
    #[serde(default)]
    pub files: Vec<PendingRename>,
    /// A compaction's input files, deleted once its files are visible.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<String>,
    /// The hours the partition landed in since they were last compacted.
    #[serde(default)]
    pub uncompacted: Vec<Uncompacted>,
    /// The erasure requests carried out on this partition and still on file.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub erasures: Vec<Erased>,
}

/// An erasure request carried out on one partition, and what it removed there.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Erased {
    /// The request's id.
    pub request: String,
    /// Landed clicks removed.
    pub rows: u64,
    /// Dead letters removed.
    pub dead_letters: u64,
    /// Files rewritten or deleted.
    pub files: u64,
}

/// An hour with files not yet merged, and when the partition last landed a file in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Uncompacted {
    /// `dt=YYYY-MM-DD/hour=HH`
    pub hour: String,
    pub last_landed: DateTime<Utc>,
}

/// The uncompacted hours as a holder keeps them: by hour, when it last landed there.
pub type UncompactedHours = BTreeMap<HourPartition, DateTime<Utc>>;

fn to_entry(hours: &UncompactedHours) -> Vec<Uncompacted> {
    hours
        .iter()
        .map(|(hour, at)| Uncompacted {
            hour: hour.dir(),
            last_landed: *at,
        })
        .collect()
}

impl Entry {
    /// Whether `other` publishes the same change: the same kind, claim, offset and files. The
    /// times in `uncompacted` may differ between two attempts of one landing.
    pub fn same_change(&self, other: &Entry) -> bool {
        (
            &self.kind,
            &self.owner,
            self.last_offset,
            &self.files,
            &self.inputs,
        ) == (
            &other.kind,
            &other.owner,
            other.last_offset,
            &other.files,
            &other.inputs,
        )
    }

    /// The entry's uncompacted hours; one whose name is not an hour is left out.
    pub fn uncompacted_hours(&self) -> UncompactedHours {
        self.uncompacted
            .iter()
            .filter_map(|u| Some((HourPartition::parse_dir(&u.hour)?, u.last_landed)))
            .collect()
    }
}

/// The latest entry of a partition's log, as its publisher knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    pub seq: u64,
    pub owner: Owner,
    pub last_offset: Option<i64>,
    pub uncompacted: UncompactedHours,
    pub erasures: Vec<Erased>,
}

impl Held {
    /// The entry a commit of a batch ending at `last_offset` publishes, with its number: its
    /// files, and the hours of its data files (`hours`) marked as landed in at `now`.
    pub fn commit(
        &self,
        last_offset: i64,
        files: Vec<PendingRename>,
        hours: impl IntoIterator<Item = HourPartition>,
        now: DateTime<Utc>,
    ) -> (u64, Entry) {
        let mut uncompacted = self.uncompacted.clone();
        for hour in hours {
            uncompacted.insert(hour, now);
        }
        (
            self.seq + 1,
            Entry {
                kind: EntryKind::Commit,
                owner: self.owner.clone(),
                last_offset: Some(last_offset),
                files,
                inputs: Vec::new(),
                uncompacted: to_entry(&uncompacted),
                erasures: self.erasures.clone(),
            },
        )
    }

    /// The entry a compaction of `hour` publishes, with its number: the merged `files` and the
    /// `inputs` they replace; the hour is no longer uncompacted.
    pub fn compaction(
        &self,
        hour: HourPartition,
        files: Vec<PendingRename>,
        inputs: Vec<String>,
    ) -> (u64, Entry) {
        (
            self.seq + 1,
            Entry {
                kind: EntryKind::Compaction,
                owner: self.owner.clone(),
                last_offset: self.last_offset,
                files,
                inputs,
                uncompacted: to_entry(&self.without(hour).uncompacted),
                erasures: self.erasures.clone(),
            },
        )
    }

    /// The entry an expiry publishes, with its number: the files of `hours` it deletes
    /// (`inputs`); those hours are no longer uncompacted.
    pub fn expiry(&self, hours: &[HourPartition], inputs: Vec<String>) -> (u64, Entry) {
        let mut uncompacted = self.uncompacted.clone();
        for hour in hours {
            uncompacted.remove(hour);
        }
        (
            self.seq + 1,
            Entry {
                kind: EntryKind::Expiry,
                owner: self.owner.clone(),
                last_offset: self.last_offset,
                files: Vec::new(),
                inputs,
                uncompacted: to_entry(&uncompacted),
                erasures: self.erasures.clone(),
            },
        )
    }

    /// The entry an erasure publishes, with its number: the rewritten `files`, the `inputs`
    /// they replace, and the request carried out (`erased`) among the partition's erasures.
    pub fn erasure(
        &self,
        erased: Erased,
        files: Vec<PendingRename>,
        inputs: Vec<String>,
    ) -> (u64, Entry) {
        let mut erasures = self.erasures.clone();
        erasures.retain(|e| e.request != erased.request);
        erasures.push(erased);
        (
            self.seq + 1,
            Entry {
                kind: EntryKind::Erasure,
                owner: self.owner.clone(),
                last_offset: self.last_offset,
                files,
                inputs,
                uncompacted: to_entry(&self.uncompacted),
                erasures,
            },
        )
    }

    /// Whether the erasure request `request` was carried out on the partition.
    pub fn has_erased(&self, request: &str) -> bool {
        self.erasures.iter().any(|e| e.request == request)
    }

    /// What its writer holds once `entry` is published as `seq`.
    pub fn published(&self, seq: u64, entry: &Entry) -> Held {
        Held {
            seq,
            owner: self.owner.clone(),
            last_offset: entry.last_offset,
            uncompacted: entry.uncompacted_hours(),
            erasures: entry.erasures.clone(),
        }
    }

    /// The same hold, with `hour` no longer to compact (it has nothing to merge).
    pub fn without(&self, hour: HourPartition) -> Held {
        let mut held = self.clone();
        held.uncompacted.remove(&hour);
        held
    }
}

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

    fn owner() -> Owner {
        Owner::new("host pid 7 worker 0")
    }

    #[test]
    fn an_entry_is_small_camel_case_json_and_reads_back() {
        let owner = owner();
        let held = Held {
            seq: 41,
            owner: owner.clone(),
            last_offset: Some(1196),
            uncompacted: UncompactedHours::new(),
            erasures: Vec::new(),
        };
        let hour = HourPartition::parse_dir("dt=2026-12-02/hour=18").unwrap();
        let now = "2026-12-02T18:59:58.5Z".parse().unwrap();
        let (seq, entry) = held.commit(
            1442,
            vec![PendingRename {
                tmp: "t/_tmp/2.x.data.f".into(),
                path: "t/dt=2026-12-02/hour=18/f".into(),
            }],
            [hour],
            now,
        );
        assert_eq!(seq, 42);
        let json = serde_json::to_value(&entry).unwrap();
        assert_eq!(json["kind"], "commit");
        assert_eq!(json["lastOffset"], 1442);
        assert_eq!(json["owner"]["member"], "host pid 7 worker 0");
        assert_eq!(json["files"][0]["tmp"], "t/_tmp/2.x.data.f");
        assert_eq!(json["uncompacted"][0]["hour"], "dt=2026-12-02/hour=18");
        assert_eq!(
            json["uncompacted"][0]["lastLanded"],
            "2026-12-02T18:59:58.500Z"
        );
        assert!(json.get("inputs").is_none(), "only compactions have inputs");
        let back: Entry = serde_json::from_value(json).unwrap();
        assert_eq!(back, entry);
        let committed = held.published(seq, &entry);
        assert_eq!(
            committed,
            Held {
                seq: 42,
                owner,
                last_offset: Some(1442),
                uncompacted: [(hour, now)].into(),
                erasures: Vec::new(),
            }
        );

        let (seq, compaction) =
            committed.compaction(hour, Vec::new(), vec!["t/dt=2026-12-02/hour=18/f".into()]);
        assert_eq!(seq, 43);
        assert_eq!(compaction.kind, EntryKind::Compaction);
        assert_eq!(compaction.last_offset, Some(1442), "nothing new landed");
        assert!(compaction.uncompacted.is_empty());
        let json = serde_json::to_value(&compaction).unwrap();
        assert_eq!(json["kind"], "compaction");
        assert_eq!(json["inputs"][0], "t/dt=2026-12-02/hour=18/f");
        assert!(committed.without(hour).uncompacted.is_empty());
    }

    #[test]
    fn a_claim_with_nothing_landed_has_no_offset_and_no_files() {
        let json = serde_json::json!({
            "kind": "claim",
            "owner": {"claim": Uuid::nil(), "member": "m"},
            "lastOffset": null
        });
        let entry: Entry = serde_json::from_value(json).unwrap();
        assert_eq!(entry.kind, EntryKind::Claim);
        assert_eq!(entry.last_offset, None);
        assert!(entry.files.is_empty());
        assert!(
            entry.uncompacted_hours().is_empty(),
            "earlier versions kept none"
        );
    }

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

    #[test]
    fn each_claim_is_its_own_and_named_for_people_and_files() {
        let (a, b) = (owner(), owner());
        assert_ne!(a.claim, b.claim);
        assert_eq!(a.tag().len(), 32);
        assert!(a.to_string().starts_with("host pid 7 worker 0 (claim "));
    }
}
