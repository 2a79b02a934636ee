//! Landing a partition's batches, fenced by its commit log ([`crate::commit_log`]).
//!
//! **Claim.** A member given a partition reads the latest entry of its log, finishes that
//! entry's renames (a landing interrupted after its commit), and publishes the next entry as a
//! claim of its own: from then on, any commit by an earlier owner is refused. It then removes the
//! temporary files earlier owners left, and resumes after the entry's last offset. Without a log
//! it reads the checkpoint of earlier versions; without either, or when the log names a file
//! that is gone, the landed file names are the truth.
//!
//! **Land.** A batch is landed in three steps, so that a crash at any moment leaves either the
//! previous state or one the next claim completes:
//! 1. its files are written under `_tmp/`, named for the claim that writes them;
//! 2. its commit entry (last offset, file pairs) is published as the number after the one its
//!    writer holds, which fails if another member claimed the partition in between: the
//!    landing is refused, and its files are deleted without ever being visible;
//! 3. its files are published under their final names, in offset order.
//!
//! A landing whose answer was lost may be made again with the same batch under the same
//! claim: it writes the same files, finds its own entry already published, and finishes.
//!
//! **Compact.** The holder merges an hour's files of its partition the same way: the merged
//! files are written under `_tmp/`, a compaction entry naming them and their inputs is
//! published as the next number, and only then are the merged files made visible and, after
//! them, the inputs deleted. A claim that finds a compaction as the latest entry finishes it:
//! it makes the merged files visible and deletes the inputs, but deletes nothing while a merged
//! file is missing.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{DateTime, Utc};
use futures::StreamExt;
use opendal::ErrorKind;
use url::Url;

use crate::buffer::BufferedRecord;
use crate::commit_log::{CommitLog, Entry, EntryKind, Found, Held, Owner, PendingRename};
use crate::compaction::{self, HourFile};
use crate::file_format::{self, FormatError, LandingFormat, Merged, json_lines};
use crate::layout::{self, Destination, HourPartition};
use crate::storage::{Publish, Storage, StorageError};

/// Input files a compaction deletes at once, so the time a query can see both the merged file
/// and its inputs is a few round trips rather than one per input.
const DELETE_CONCURRENCY: usize = 16;

/// How often a claim reads the log again when other members keep publishing first.
const CLAIM_ATTEMPTS: usize = 10;

/// What one landing wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LandedBatch {
    pub last_offset: i64,
    /// Final paths, relative to the landing root, with their record counts.
    pub files: Vec<(String, usize)>,
    pub bytes: usize,
    pub invalid: usize,
    /// Clicks not landed because their hour is past the retention.
    pub expired: usize,
    /// The landing's commit entry, which its writer now holds.
    pub held: Held,
}

/// What became of a landing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Landed {
    /// Committed and visible.
    Visible(LandedBatch),
    /// Committed, but not every file could be published yet: the next claim finishes them.
    Committed { batch: LandedBatch, reason: String },
    /// Another member holds the partition: nothing of the batch is visible.
    Refused { holder: String },
}

/// What one compaction merged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompactedHour {
    pub hour: HourPartition,
    /// The merged files, relative to the landing root.
    pub outputs: Vec<String>,
    pub inputs: usize,
    pub merged: Merged,
    /// The compaction's entry, which its writer now holds.
    pub held: Held,
}

/// What became of a compaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Compaction {
    /// The hour has nothing to merge (one file, or none); `held` no longer lists it.
    NothingToMerge { held: Held },
    /// Merged: the merged files are visible and the inputs gone.
    Visible(CompactedHour),
    /// Committed, but not finished: the next claim finishes it.
    Committed { hour: CompactedHour, reason: String },
    /// Another member holds the partition: nothing changed.
    Refused { holder: String },
    /// A file of the hour cannot be read as the format: the hour is left as it is, and `held`
    /// no longer lists it.
    Unreadable { reason: String, held: Held },
}

/// What a claim took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claimed {
    pub held: Held,
    /// Whose entry it claimed over, if any.
    pub previous: Option<Owner>,
    /// Temporary files of earlier owners it removed.
    pub removed: usize,
}

/// The checkpoint of earlier versions: the last offset of the latest batch and its files.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct LegacyCheckpoint {
    last_offset: i64,
    files: Vec<PendingRename>,
}

/// The steps of a compaction at which a crash leaves something for the next claim to finish.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CompactionStep {
    /// The merged files are written under `_tmp/`; no entry names them yet.
    MergedWritten,
    /// The compaction's entry is published; its files are not visible yet.
    EntryPublished,
    /// The merged files are visible beside their inputs.
    MergedVisible,
    /// Half the inputs are deleted.
    HalfDeleted,
}

/// Lands batches of one topic under one root, in one format.
#[derive(Clone)]
pub struct Landing {
    storage: Storage,
    log: CommitLog,
    topic: String,
    format: LandingFormat,
    /// Where the process stops itself, once, for fault tests.
    stop_at: Option<(CompactionStep, Arc<AtomicBool>)>,
    /// Whether landings note their hours for compaction; off, entries do not grow with them.
    noting_hours: bool,
    /// How long landed clicks are kept; `None`: until deleted by hand.
    retention: Option<std::time::Duration>,
}

impl Landing {
    /// Lands `topic` in `storage`, as `format`.
    pub fn new(storage: Storage, topic: &str, format: LandingFormat) -> Self {
        Landing {
            log: CommitLog::new(storage.clone(), topic),
            storage,
            topic: topic.to_owned(),
            format,
            stop_at: None,
            noting_hours: true,
            retention: None,
        }
    }

    /// Keeps landed clicks for `retention` (`RETENTION`): a click older is not landed, and
    /// [`Landing::expire`] deletes the hours that pass it.
    pub fn retaining(mut self, retention: Option<std::time::Duration>) -> Self {
        self.retention = retention;
        self
    }

    /// The retention limit at `now`: hours that ended at or before it are expired.
    pub fn retention_limit(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let retention = chrono::Duration::from_std(self.retention?).ok()?;
        now.checked_sub_signed(retention)
    }

    /// Whether hours are merged at all: when not, landings do not note the hours they land in
    /// (so hours landed meanwhile are not merged later either).
    pub fn merging(mut self, merging: bool) -> Self {
        self.noting_hours = merging;
        self
    }

    /// Stops the process with SIGSTOP the first time a compaction reaches `step`, as if the
    /// machine paused there: a fault test then kills it, or wakes it after its session expired.
    pub fn stopping_at(mut self, step: Option<CompactionStep>) -> Self {
        self.stop_at = step.map(|step| (step, Arc::default()));
        self
    }

    pub(crate) fn reached(&self, step: CompactionStep) {
        if let Some((at, done)) = &self.stop_at
            && *at == step
            && !done.swap(true, Ordering::SeqCst)
        {
            tracing::warn!(?step, "stopping at a compaction step, as asked");
            let me = rustix::process::getpid();
            if let Err(err) = rustix::process::kill_process(me, rustix::process::Signal::STOP) {
                tracing::warn!(%err, "could not stop");
            }
        }
    }

    /// Lands where a `LANDING_URL` says; errors name it (the namenode, for HDFS).
    pub fn open(url: &Url, topic: &str, format: LandingFormat) -> Result<Self, StorageError> {
        Ok(Landing::new(Storage::open(url)?, topic, format))
    }

    /// The format of landed event files.
    pub fn format(&self) -> LandingFormat {
        self.format
    }

    /// Keeps `kept` commit log entries per partition (see [`CommitLog::keeping`]).
    pub fn keeping(mut self, kept: u64) -> Self {
        self.log = self.log.keeping(kept);
        self
    }

    /// The storage itself, for probes.
    pub fn operator(&self) -> &opendal::Operator {
        self.storage.operator()
    }

    /// The topic whose files these are.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The storage, for calls outside the commit log (erasure requests).
    pub fn storage_handle(&self) -> &Storage {
        &self.storage
    }

    /// The storage as errors name it.
    pub fn storage(&self) -> &str {
        self.storage.name()
    }

    /// The partitions' commit logs.
    pub fn log(&self) -> &CommitLog {
        &self.log
    }

    /// Takes `partition` over for `member`: finishes what its latest entry left undone, claims
    /// it, and removes earlier owners' temporary files. Never waits for another member.
    pub async fn claim(&self, partition: i32, member: &str) -> Result<Claimed, StorageError> {
        let owner = Owner::new(member);
        for _ in 0..CLAIM_ATTEMPTS {
            let seqs = self.log.seqs(partition).await?;
            let latest = seqs.iter().copied().max();
            let (last_offset, previous, uncompacted, erasures) = match latest {
                None => (
                    self.without_log(partition).await?,
                    None,
                    Vec::new(),
                    Vec::new(),
                ),
                Some(seq) => match self.log.read(partition, seq).await? {
                    Some(entry) => {
                        let last = if self.finish(partition, &entry).await? {
                            entry.last_offset
                        } else {
                            self.scan_last_offset(partition).await?
                        };
                        (last, Some(entry.owner), entry.uncompacted, entry.erasures)
                    }
                    None => (
                        self.scan_last_offset(partition).await?,
                        None,
                        Vec::new(),
                        Vec::new(),
                    ),
                },
            };
            let seq = latest.map_or(0, |s| s + 1);
            let claim = Entry {
                kind: EntryKind::Claim,
                owner: owner.clone(),
                last_offset,
                files: Vec::new(),
                inputs: Vec::new(),
                uncompacted,
                erasures,
            };
            match self.log.publish(partition, seq, &claim).await? {
                Publish::Published => {
                    self.log.expire(partition, seqs, seq).await;
                    let removed = self.remove_leftovers(partition, &owner, seq).await?;
                    return Ok(Claimed {
                        held: Held {
                            seq,
                            owner,
                            last_offset,
                            uncompacted: claim.uncompacted_hours(),
                            erasures: claim.erasures.clone(),
                        },
                        previous,
                        removed,
                    });
                }
                // Another member published first: read again.
                Publish::TargetExists | Publish::SourceMissing => continue,
            }
        }
        Err(StorageError::Io {
            storage: self.storage.name().to_owned(),
            operation: "claim",
            path: layout::commit_dir(&self.topic, partition),
            reason: format!("other members published first {CLAIM_ATTEMPTS} times in a row"),
            kind: ErrorKind::Unexpected,
        })
    }

    /// Lands a non-empty batch (records of one partition in offset order, after `held`'s last
    /// offset) if `held` is still the partition's latest entry. An error leaves the commit
    /// published or not; either way the same batch may be landed again under the same claim.
    pub async fn land(
        &self,
        partition: i32,
        held: &Held,
        batch: &[BufferedRecord],
        now: DateTime<Utc>,
    ) -> Result<Landed, StorageError> {
        // A click already past the retention is not landed: it would only be deleted.
        let limit = self.retention_limit(now);
        let kept: Vec<&BufferedRecord> = batch
            .iter()
            .filter(|r| match (&r.destination, limit) {
                (Destination::Hour(hour), Some(limit)) => {
                    !crate::rewrite::hour_expired(hour, limit)
                }
                _ => true,
            })
            .collect();
        let expired = batch.len() - kept.len();
        let last_offset = batch.last().map_or(-1, |r| r.offset);
        let batch = kept;
        let plan: Vec<(i64, Destination)> =
            batch.iter().map(|r| (r.offset, r.destination)).collect();
        let tag = held.owner.tag();
        let mut renames = Vec::new();
        let mut files = Vec::new();
        let mut hours = Vec::new();
        let (mut bytes, mut invalid) = (0, 0);
        for file in layout::plan_files(&plan) {
            let lines = file
                .records
                .iter()
                .map(|&index| batch[index].line.as_slice());
            let (first, last) = (file.first_offset, file.last_offset);
            let (tmp, path, written) = match &file.destination {
                Destination::Hour(hour) => {
                    let name = layout::file_name(
                        &self.topic,
                        partition,
                        first,
                        last,
                        self.format.extension(),
                    );
                    let tmp = layout::tmp_path(&self.topic, partition, &tag, "data", &name);
                    if self.noting_hours {
                        hours.push(*hour);
                    }
                    let written = self
                        .format
                        .write(self.storage.operator(), &tmp, lines)
                        .await;
                    (tmp, layout::data_path(&self.topic, hour, &name), written)
                }
                Destination::Invalid => {
                    invalid += file.records.len();
                    let name = layout::file_name(
                        &self.topic,
                        partition,
                        first,
                        last,
                        file_format::DEAD_LETTER_EXTENSION,
                    );
                    let tmp = layout::tmp_path(&self.topic, partition, &tag, "invalid", &name);
                    let written = json_lines::write(self.storage.operator(), &tmp, lines).await;
                    (tmp, layout::invalid_path(&self.topic, &name), written)
                }
            };
            match written {
                Ok(written) => bytes += written as usize,
                // A member that claimed the partition removes earlier owners' files, maybe
                // while they are written.
                Err(_) if self.taken_after(partition, held).await => {
                    self.discard(&renames).await;
                    let _ = self.storage.operator().delete(&tmp).await;
                    return Ok(Landed::Refused {
                        holder: self.holder(partition, Some(held.seq + 1)).await,
                    });
                }
                Err(err) => return Err(self.format_failed("write", &tmp, err)),
            }
            files.push((path.clone(), file.records.len()));
            renames.push(PendingRename { tmp, path });
        }
        let (seq, entry) = held.commit(last_offset, renames, hours, now);
        let entry = match self.publish_entry(partition, held, seq, entry).await? {
            Ok(published) => published,
            Err(holder) => return Ok(Landed::Refused { holder }),
        };
        let landed = LandedBatch {
            last_offset,
            files,
            bytes,
            invalid,
            expired,
            held: held.published(seq, &entry),
        };
        if let Err(err) = self.make_visible(&entry.files).await {
            return Ok(Landed::Committed {
                batch: landed,
                reason: err.to_string(),
            });
        }
        self.log.expire_after(partition, seq).await;
        Ok(Landed::Visible(landed))
    }

    /// Merges `hour`'s files of `partition` if `held` is still the partition's latest entry;
    /// see the module's **Compact**.
    pub async fn compact(
        &self,
        partition: i32,
        held: &Held,
        hour: HourPartition,
        target_bytes: u64,
    ) -> Result<Compaction, StorageError> {
        let files = self.hour_files(partition, &hour).await?;
        let groups = compaction::plan_merges(files, target_bytes);
        if groups.is_empty() {
            return Ok(Compaction::NothingToMerge {
                held: held.without(hour),
            });
        }
        let tag = held.owner.tag();
        let mut renames = Vec::new();
        let mut inputs = Vec::new();
        let mut merged = Merged::default();
        for group in groups {
            let first = group.first().map_or(0, |f| f.first_offset);
            let last = group.iter().map(|f| f.last_offset).max().unwrap_or(first);
            let name =
                layout::file_name(&self.topic, partition, first, last, self.format.extension());
            let tmp = layout::tmp_path(&self.topic, partition, &tag, "compact", &name);
            let paths: Vec<String> = group.into_iter().map(|f| f.path).collect();
            match self
                .format
                .merge(self.storage.operator(), &paths, &tmp)
                .await
            {
                Ok(done) => {
                    merged.rows += done.rows;
                    merged.bytes_in += done.bytes_in;
                    merged.bytes_out += done.bytes_out;
                }
                Err(err) => {
                    self.discard(&renames).await;
                    let _ = self.storage.operator().delete(&tmp).await;
                    if self.taken_after(partition, held).await {
                        return Ok(Compaction::Refused {
                            holder: self.holder(partition, Some(held.seq + 1)).await,
                        });
                    }
                    if err.storage_kind().is_some() {
                        return Err(self.format_failed("merge into", &tmp, err));
                    }
                    return Ok(Compaction::Unreadable {
                        reason: err.to_string(),
                        held: held.without(hour),
                    });
                }
            }
            renames.push(PendingRename {
                tmp,
                path: layout::data_path(&self.topic, &hour, &name),
            });
            inputs.extend(paths);
        }
        self.reached(CompactionStep::MergedWritten);
        let outputs = renames.iter().map(|r| r.path.clone()).collect();
        let input_count = inputs.len();
        let (seq, entry) = held.compaction(hour, renames, inputs);
        let entry = match self.publish_entry(partition, held, seq, entry).await? {
            Ok(published) => published,
            Err(holder) => return Ok(Compaction::Refused { holder }),
        };
        self.reached(CompactionStep::EntryPublished);
        let compacted = CompactedHour {
            hour,
            outputs,
            inputs: input_count,
            merged,
            held: held.published(seq, &entry),
        };
        let finished = match self.make_visible(&entry.files).await {
            Ok(()) => {
                self.reached(CompactionStep::MergedVisible);
                let (first, rest) = entry.inputs.split_at(entry.inputs.len() / 2);
                match self.delete_all(first).await {
                    Ok(()) => {
                        self.reached(CompactionStep::HalfDeleted);
                        self.delete_all(rest).await
                    }
                    Err(err) => Err(err),
                }
            }
            Err(err) => Err(err),
        };
        if let Err(err) = finished {
            return Ok(Compaction::Committed {
                hour: compacted,
                reason: err.to_string(),
            });
        }
        self.log.expire_after(partition, seq).await;
        Ok(Compaction::Visible(compacted))
    }

    /// Publishes `entry` as number `seq`, right after the entry `held`; answers the entry as
    /// published, or `Err(holder)` when another member holds the partition instead (then
    /// nothing the entry names is kept).
    pub(crate) async fn publish_entry(
        &self,
        partition: i32,
        held: &Held,
        seq: u64,
        entry: Entry,
    ) -> Result<Result<Entry, String>, StorageError> {
        let entry = match self.log.publish(partition, seq, &entry).await? {
            Publish::Published => entry,
            Publish::TargetExists => match self.log.read(partition, seq).await.ok().flatten() {
                // Published by an earlier attempt of this very change, whose answer was lost.
                Some(published) if published.same_change(&entry) => published,
                // The number is taken by another member's claim.
                _ => {
                    self.discard(&entry.files).await;
                    return Ok(Err(self.holder(partition, Some(seq)).await));
                }
            },
            // A new owner's clean-up removed the entry's copy before it was published.
            Publish::SourceMissing => {
                self.discard(&entry.files).await;
                return Ok(Err(self.holder(partition, None).await));
            }
        };
        // The number was free. If the entry before it is gone, old entries were deleted past
        // it while this member was away: it no longer holds the partition.
        if !self.log.contains(partition, held.seq).await? {
            self.discard(&entry.files).await;
            return Ok(Err(self.holder(partition, None).await));
        }
        Ok(Ok(entry))
    }

    /// Whether another member published the entry after `held`.
    pub(crate) async fn taken_after(&self, partition: i32, held: &Held) -> bool {
        self.log
            .contains(partition, held.seq + 1)
            .await
            .unwrap_or(false)
    }

    /// This partition's files of the landing format in `hour`, with their sizes.
    async fn hour_files(
        &self,
        partition: i32,
        hour: &HourPartition,
    ) -> Result<Vec<HourFile>, StorageError> {
        let dir = layout::hour_dir(&self.topic, hour);
        let extension = format!(".{}", self.format.extension());
        let mut files = Vec::new();
        for entry in self.list(&dir).await? {
            let name = entry.name();
            if !entry.metadata().is_file() || !name.ends_with(&extension) {
                continue;
            }
            let Some((first, last)) = layout::parse_file_name(name, &self.topic, partition) else {
                continue;
            };
            let path = entry.path().to_owned();
            let bytes = match entry.metadata().content_length() {
                0 => self
                    .storage
                    .operator()
                    .stat(&path)
                    .await
                    .map_err(self.storage.failed("stat", &path))?
                    .content_length(),
                known => known,
            };
            files.push(HourFile {
                path,
                first_offset: first,
                last_offset: last,
                bytes,
            });
        }
        Ok(files)
    }

    /// Deletes files, several at a time.
    pub(crate) async fn delete_all(&self, paths: &[String]) -> Result<(), StorageError> {
        let results: Vec<Result<(), StorageError>> = futures::stream::iter(paths)
            .map(|path| self.delete(path))
            .buffer_unordered(DELETE_CONCURRENCY)
            .collect()
            .await;
        results.into_iter().collect()
    }

    pub(crate) fn format_failed(
        &self,
        operation: &'static str,
        path: &str,
        err: FormatError,
    ) -> StorageError {
        match err {
            FormatError::Storage(err) => self.storage.failed(operation, path)(err),
            other => StorageError::Io {
                storage: self.storage.name().to_owned(),
                operation,
                path: path.to_owned(),
                kind: other.storage_kind().unwrap_or(ErrorKind::Unexpected),
                reason: other.to_string(),
            },
        }
    }

    /// Publishes a commit's files under their final names.
    pub(crate) async fn make_visible(&self, files: &[PendingRename]) -> Result<(), StorageError> {
        for rename in files {
            match self.storage.publish(&rename.tmp, &rename.path).await? {
                Publish::Published => {}
                // Published before, by a member finishing this commit.
                Publish::TargetExists => self.delete(&rename.tmp).await?,
                Publish::SourceMissing if self.exists(&rename.path).await? => {}
                Publish::SourceMissing => {
                    return Err(StorageError::Io {
                        storage: self.storage.name().to_owned(),
                        operation: "publish",
                        path: rename.tmp.clone(),
                        reason: "the written file is gone".to_owned(),
                        kind: ErrorKind::NotFound,
                    });
                }
            }
        }
        Ok(())
    }

    /// Finishes what an entry left undone: a commit's or a compaction's renames, then a
    /// compaction's deletes. False if a file is in neither place: the entry cannot be trusted,
    /// nothing is deleted, and the landed file names are read instead.
    async fn finish(&self, partition: i32, entry: &Entry) -> Result<bool, StorageError> {
        if !self.finish_renames(partition, &entry.files).await? {
            return Ok(false);
        }
        if !entry.inputs.is_empty() {
            let mut left = 0;
            for input in &entry.inputs {
                if self.exists(input).await? {
                    left += 1;
                }
            }
            if left > 0 {
                self.delete_all(&entry.inputs).await?;
                tracing::info!(
                    partition,
                    deleted = left,
                    kind = ?entry.kind,
                    "finished an interrupted rewrite"
                );
            }
        }
        Ok(true)
    }

    /// Publishes an entry's files. False if a file is in neither place.
    async fn finish_renames(
        &self,
        partition: i32,
        files: &[PendingRename],
    ) -> Result<bool, StorageError> {
        for rename in files {
            match self.storage.publish(&rename.tmp, &rename.path).await? {
                Publish::Published => {
                    tracing::info!(
                        partition,
                        path = rename.path,
                        "finished an interrupted landing"
                    );
                }
                Publish::TargetExists => self.delete(&rename.tmp).await?,
                Publish::SourceMissing if self.exists(&rename.path).await? => {}
                Publish::SourceMissing => {
                    tracing::warn!(
                        partition,
                        path = rename.path,
                        "the commit log names a file that is missing; reading the landed file names"
                    );
                    return Ok(false);
                }
            }
        }
        Ok(true)
    }

    /// Removes files a refused landing wrote; the next claim removes any this misses.
    pub(crate) async fn discard(&self, files: &[PendingRename]) {
        for rename in files {
            let _ = self.storage.operator().delete(&rename.tmp).await;
        }
    }

    /// Who holds the partition, for a refused landing's log: the owner of entry `seq`, or of
    /// the latest entry.
    pub(crate) async fn holder(&self, partition: i32, seq: Option<u64>) -> String {
        let entry = match seq {
            Some(seq) => self.log.read(partition, seq).await,
            None => match self.log.latest(partition).await {
                Ok(Found::Entry { entry, .. }) => Ok(entry),
                Ok(Found::Empty) => Ok(None),
                Err(err) => Err(err),
            },
        };
        match entry {
            Ok(Some(entry)) => entry.owner.to_string(),
            _ => "another member".to_owned(),
        }
    }

    /// Where a partition without a commit log resumes: after the checkpoint of earlier
    /// versions, once its renames are finished, or else after the landed file names.
    async fn without_log(&self, partition: i32) -> Result<Option<i64>, StorageError> {
        let path = layout::legacy_checkpoint_path(&self.topic, partition);
        let checkpoint = match self.storage.operator().read(&path).await {
            Ok(bytes) => serde_json::from_slice::<LegacyCheckpoint>(&bytes.to_vec()).ok(),
            Err(err) if err.kind() == ErrorKind::NotFound => None,
            Err(err) => return Err(self.storage.failed("read", &path)(err)),
        };
        let Some(checkpoint) = checkpoint else {
            return self.scan_last_offset(partition).await;
        };
        for rename in &checkpoint.files {
            // Earlier versions renamed with OpenDAL, which on HDFS may leave an empty file at
            // the target: a temporary copy still present is always the one to keep.
            if self.exists(&rename.tmp).await? {
                self.storage
                    .operator()
                    .rename(&rename.tmp, &rename.path)
                    .await
                    .map_err(self.storage.failed("rename", &rename.tmp))?;
            } else if !self.exists(&rename.path).await? {
                return self.scan_last_offset(partition).await;
            }
        }
        Ok(Some(checkpoint.last_offset))
    }

    /// The highest last offset in the names of this partition's landed files.
    async fn scan_last_offset(&self, partition: i32) -> Result<Option<i64>, StorageError> {
        let mut last: Option<i64> = None;
        let mut note = |name: &str| {
            if let Some((_, l)) = layout::parse_file_name(name, &self.topic, partition) {
                last = Some(last.map_or(l, |m| m.max(l)));
            }
        };
        let topic_dir = layout::topic_dir(&self.topic);
        for day in self.list_dirs(&topic_dir).await? {
            if day.ends_with("_invalid/") {
                for name in self.list_files(&day).await? {
                    note(&name);
                }
            } else if day.rsplit('/').nth(1).is_some_and(|d| d.starts_with("dt=")) {
                for hour in self.list_dirs(&day).await? {
                    for name in self.list_files(&hour).await? {
                        note(&name);
                    }
                }
            }
        }
        Ok(last)
    }

    /// Removes the partition's temporary files that are not `owner`'s, once its claim `seq`
    /// is the latest entry: files written before that claim belong to owners it fenced, whose
    /// landings can no longer commit. A member that claimed since does its own clean-up.
    async fn remove_leftovers(
        &self,
        partition: i32,
        owner: &Owner,
        seq: u64,
    ) -> Result<usize, StorageError> {
        let dir = layout::tmp_dir(&self.topic);
        let prefix = layout::tmp_prefix(partition);
        let tag = owner.tag();
        let leftovers: Vec<String> = self
            .list_files(&dir)
            .await?
            .into_iter()
            .filter(|name| name.starts_with(&prefix) && !name.contains(&tag))
            .collect();
        if leftovers.is_empty() || self.log.seqs(partition).await?.into_iter().max() != Some(seq) {
            return Ok(0);
        }
        for name in &leftovers {
            let path = format!("{dir}{name}");
            self.delete(&path).await?;
            tracing::info!(
                partition,
                path,
                "removed a file of a landing that never committed"
            );
        }
        Ok(leftovers.len())
    }

    pub(crate) async fn exists(&self, path: &str) -> Result<bool, StorageError> {
        self.storage
            .operator()
            .exists(path)
            .await
            .map_err(self.storage.failed("stat", path))
    }

    /// Deletes a file; one that is gone, even while this runs (two members cleaning up), is
    /// not an error.
    pub(crate) async fn delete(&self, path: &str) -> Result<(), StorageError> {
        match self.storage.operator().delete(path).await {
            Err(err) if err.kind() != ErrorKind::NotFound => {
                Err(self.storage.failed("delete", path)(err))
            }
            _ => Ok(()),
        }
    }

    pub(crate) async fn list(&self, dir: &str) -> Result<Vec<opendal::Entry>, StorageError> {
        match self.storage.operator().list(dir).await {
            Ok(entries) => Ok(entries),
            Err(err) if err.kind() == ErrorKind::NotFound => Ok(Vec::new()),
            Err(err) => Err(self.storage.failed("list", dir)(err)),
        }
    }

    pub(crate) async fn list_dirs(&self, dir: &str) -> Result<Vec<String>, StorageError> {
        Ok(self
            .list(dir)
            .await?
            .into_iter()
            .filter(|e| e.metadata().is_dir() && e.path() != dir)
            .map(|e| e.path().to_owned())
            .collect())
    }

    pub(crate) async fn list_files(&self, dir: &str) -> Result<Vec<String>, StorageError> {
        Ok(self
            .list(dir)
            .await?
            .into_iter()
            .filter(|e| e.metadata().is_file())
            .map(|e| e.name().to_owned())
            .collect())
    }
}
