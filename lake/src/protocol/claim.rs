//! Claiming a partition: the new holder finishes what the latest entry left undone, publishes
//! a claim of its own, and removes the temporary files of the owners it fenced. Without a log
//! it reads the checkpoint of earlier versions; without either, or when the log names a file
//! that is gone, the landed file names are the truth.

use opendal::ErrorKind;

use super::Protocol;
use crate::commit_log::{Entry, EntryKind, Held, Owner, PendingRename};
use crate::layout;
use crate::storage::{Publish, StorageError};

/// How often a claim reads the log again when other members keep publishing first.
const CLAIM_ATTEMPTS: usize = 10;

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

impl Protocol {
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
            if self.storage.exists(&rename.tmp).await? {
                self.storage
                    .operator()
                    .rename(&rename.tmp, &rename.path)
                    .await
                    .map_err(self.storage.failed("rename", &rename.tmp))?;
            } else if !self.storage.exists(&rename.path).await? {
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
        for day in self.storage.list_dirs(&topic_dir).await? {
            if day.ends_with("_invalid/") {
                for name in self.storage.list_files(&day).await? {
                    note(&name);
                }
            } else if day.rsplit('/').nth(1).is_some_and(|d| d.starts_with("dt=")) {
                for hour in self.storage.list_dirs(&day).await? {
                    for name in self.storage.list_files(&hour).await? {
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
            .storage
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
            self.storage.delete(&path).await?;
            tracing::info!(
                partition,
                path,
                "removed a file of a landing that never committed"
            );
        }
        Ok(leftovers.len())
    }
}
