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

use opendal::ErrorKind;
use url::Url;

use crate::buffer::BufferedRecord;
use crate::commit_log::{CommitLog, Entry, EntryKind, Found, Held, Owner, PendingRename};
use crate::file_format;
use crate::layout::{self, Destination};
use crate::storage::{Publish, Storage, StorageError};

/// A file is written in chunks of about this size, so landing costs one chunk of memory beside
/// the buffer rather than a second copy of the whole file.
const WRITE_CHUNK_BYTES: usize = 256 * 1024;

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

/// Lands batches of one topic under one root.
#[derive(Clone)]
pub struct Landing {
    storage: Storage,
    log: CommitLog,
    topic: String,
}

impl Landing {
    /// Lands `topic` in `storage`.
    pub fn new(storage: Storage, topic: &str) -> Self {
        Landing {
            log: CommitLog::new(storage.clone(), topic),
            storage,
            topic: topic.to_owned(),
        }
    }

    /// Lands where a `LANDING_URL` says; errors name it (the namenode, for HDFS).
    pub fn open(url: &Url, topic: &str) -> Result<Self, StorageError> {
        Ok(Landing::new(Storage::open(url)?, topic))
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
            let (last_offset, previous) = match latest {
                None => (self.without_log(partition).await?, None),
                Some(seq) => match self.log.read(partition, seq).await? {
                    Some(entry) => {
                        let last = if self.finish(partition, &entry.files).await? {
                            entry.last_offset
                        } else {
                            self.scan_last_offset(partition).await?
                        };
                        (last, Some(entry.owner))
                    }
                    None => (self.scan_last_offset(partition).await?, None),
                },
            };
            let seq = latest.map_or(0, |s| s + 1);
            let claim = Entry {
                kind: EntryKind::Claim,
                owner: owner.clone(),
                last_offset,
                files: Vec::new(),
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
    ) -> Result<Landed, StorageError> {
        let plan: Vec<(i64, Destination)> =
            batch.iter().map(|r| (r.offset, r.destination)).collect();
        let tag = held.owner.tag();
        let mut renames = Vec::new();
        let mut files = Vec::new();
        let (mut bytes, mut invalid) = (0, 0);
        for file in layout::plan_files(&plan) {
            let name =
                layout::file_name(&self.topic, partition, file.first_offset, file.last_offset);
            let (kind, path) = match &file.destination {
                Destination::Hour(hour) => ("data", layout::data_path(&self.topic, hour, &name)),
                Destination::Invalid => {
                    invalid += file.records.len();
                    ("invalid", layout::invalid_path(&self.topic, &name))
                }
            };
            let tmp = layout::tmp_path(&self.topic, partition, &tag, kind, &name);
            let lines = file
                .records
                .iter()
                .map(|&index| batch[index].line.as_slice());
            match self.write_lines(&tmp, lines).await {
                Ok(written) => bytes += written,
                // A member that claimed the partition removes earlier owners' files, maybe
                // while they are written.
                Err(_)
                    if self
                        .log
                        .contains(partition, held.seq + 1)
                        .await
                        .unwrap_or(false) =>
                {
                    self.discard(&renames).await;
                    let _ = self.storage.operator().delete(&tmp).await;
                    return Ok(Landed::Refused {
                        holder: self.holder(partition, Some(held.seq + 1)).await,
                    });
                }
                Err(err) => return Err(self.storage.failed("write", &tmp)(err)),
            }
            files.push((path.clone(), file.records.len()));
            renames.push(PendingRename { tmp, path });
        }
        let last_offset = batch.last().map_or(-1, |r| r.offset);
        let (seq, entry) = held.commit(last_offset, renames);
        match self.log.publish(partition, seq, &entry).await {
            Ok(Publish::Published) => {}
            // Published by an earlier attempt of this very landing, whose answer was lost.
            Ok(Publish::TargetExists)
                if self.log.read(partition, seq).await.ok().flatten().as_ref() == Some(&entry) => {}
            // The number is taken by another member's claim.
            Ok(Publish::TargetExists) => {
                self.discard(&entry.files).await;
                return Ok(Landed::Refused {
                    holder: self.holder(partition, Some(seq)).await,
                });
            }
            // A new owner's clean-up removed the entry's copy before it was published.
            Ok(Publish::SourceMissing) => {
                self.discard(&entry.files).await;
                return Ok(Landed::Refused {
                    holder: self.holder(partition, None).await,
                });
            }
            Err(err) => return Err(err),
        }
        // The number was free. If the entry before it is gone, old entries were deleted past
        // it while this member was away: it no longer holds the partition.
        match self.log.contains(partition, held.seq).await {
            Ok(true) => {}
            Ok(false) => {
                self.discard(&entry.files).await;
                return Ok(Landed::Refused {
                    holder: self.holder(partition, None).await,
                });
            }
            Err(err) => return Err(err),
        }
        let landed = LandedBatch {
            last_offset,
            files,
            bytes,
            invalid,
            held: held.committed(seq, last_offset),
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

    /// Publishes a commit's files under their final names.
    async fn make_visible(&self, files: &[PendingRename]) -> Result<(), StorageError> {
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

    /// Finishes a commit's renames. False if a file is in neither place: the entry cannot be
    /// trusted, and the landed file names are read instead.
    async fn finish(&self, partition: i32, files: &[PendingRename]) -> Result<bool, StorageError> {
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
    async fn discard(&self, files: &[PendingRename]) {
        for rename in files {
            let _ = self.storage.operator().delete(&rename.tmp).await;
        }
    }

    /// Who holds the partition, for a refused landing's log: the owner of entry `seq`, or of
    /// the latest entry.
    async fn holder(&self, partition: i32, seq: Option<u64>) -> String {
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

    /// Writes `lines` in the landed files' [`file_format`] as the file at `path` (replacing it), in
    /// chunks of about [`WRITE_CHUNK_BYTES`]; returns the bytes written.
    async fn write_lines<'a>(
        &self,
        path: &str,
        lines: impl Iterator<Item = &'a [u8]>,
    ) -> Result<usize, opendal::Error> {
        let mut writer = self.storage.operator().writer(path).await?;
        let mut chunk = Vec::with_capacity(WRITE_CHUNK_BYTES);
        let mut written = 0;
        for line in lines {
            file_format::append(&mut chunk, line);
            if chunk.len() >= WRITE_CHUNK_BYTES {
                written += chunk.len();
                writer
                    .write(std::mem::replace(
                        &mut chunk,
                        Vec::with_capacity(WRITE_CHUNK_BYTES),
                    ))
                    .await?;
            }
        }
        written += chunk.len();
        if !chunk.is_empty() {
            writer.write(chunk).await?;
        }
        writer.close().await?;
        Ok(written)
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

    async fn exists(&self, path: &str) -> Result<bool, StorageError> {
        self.storage
            .operator()
            .exists(path)
            .await
            .map_err(self.storage.failed("stat", path))
    }

    /// Deletes a file; one that is gone, even while this runs (two members cleaning up), is
    /// not an error.
    async fn delete(&self, path: &str) -> Result<(), StorageError> {
        match self.storage.operator().delete(path).await {
            Err(err) if err.kind() != ErrorKind::NotFound => {
                Err(self.storage.failed("delete", path)(err))
            }
            _ => Ok(()),
        }
    }

    async fn list(&self, dir: &str) -> Result<Vec<opendal::Entry>, StorageError> {
        match self.storage.operator().list(dir).await {
            Ok(entries) => Ok(entries),
            Err(err) if err.kind() == ErrorKind::NotFound => Ok(Vec::new()),
            Err(err) => Err(self.storage.failed("list", dir)(err)),
        }
    }

    async fn list_dirs(&self, dir: &str) -> Result<Vec<String>, StorageError> {
        Ok(self
            .list(dir)
            .await?
            .into_iter()
            .filter(|e| e.metadata().is_dir() && e.path() != dir)
            .map(|e| e.path().to_owned())
            .collect())
    }

    async fn list_files(&self, dir: &str) -> Result<Vec<String>, StorageError> {
        Ok(self
            .list(dir)
            .await?
            .into_iter()
            .filter(|e| e.metadata().is_file())
            .map(|e| e.name().to_owned())
            .collect())
    }
}
