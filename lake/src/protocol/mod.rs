//! The one way the lake changes. Landing, merging, expiry and erasure are its writers: each
//! writes its new files under `_tmp/` and hands over a [`Change`] naming them, the files it
//! retires and what its entry records. Only this module publishes, makes visible and deletes.
//!
//! **Commit.** A change is carried out in three steps, so that a crash at any moment leaves
//! either the previous state or one the next claim completes:
//! 1. its entry is published in the partition's commit log as the number after the one its
//!    writer holds. That fails if another member claimed the partition in between: the change
//!    is refused, and its files are deleted without ever being visible;
//! 2. its files are published under their final names, in order;
//! 3. the files it retires are deleted.
//!
//! A change whose answer was lost may be made again under the same claim: it writes the same
//! files, finds its own entry already published, and finishes.
//!
//! **Claim** ([`claim`]). A member given a partition finishes what the latest entry left undone
//! (its renames, then its deletes), and publishes the next entry as a claim of its own: from
//! then on any change by an earlier owner is refused. It never waits for anyone.
//!
//! **Abandon.** A writer that fails half-way hands over what it wrote: it is deleted, and the
//! writer learns whether it failed because another member took the partition (whose clean-up
//! removes an earlier owner's files, maybe while they are written).

pub mod claim;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures::StreamExt;
use opendal::ErrorKind;

use crate::commit_log::{CommitLog, Entry, EntryKind, Found, Held, PendingRename, Recorded};
use crate::storage::{Publish, Storage, StorageError};

/// Files a change deletes at once, so the time a query can see both a merged file and its
/// inputs is a few round trips rather than one per input.
const DELETE_CONCURRENCY: usize = 16;

/// A change of one partition's files, as a writer hands it over.
#[derive(Debug)]
pub struct Change<R> {
    /// What its entry records.
    pub recorded: Recorded,
    /// Its new files, written under `_tmp/`, in the order they are made visible.
    pub files: Vec<PendingRename>,
    /// The files it replaces or deletes.
    pub retired: Vec<String>,
    /// What the writer tells its caller of it.
    pub report: R,
}

/// What a writer made.
#[derive(Debug)]
pub enum Written<R> {
    /// A change to commit.
    Change(Change<R>),
    /// Nothing to commit: the partition holds `held` now (a writer may drop an hour from what
    /// is left to merge), and `skipped` says why a change that was due was not made.
    Unchanged { held: Held, skipped: Option<String> },
    /// Writing failed after writing the temporary files `tmp`. Unless another member took the
    /// partition meanwhile, the answer is `otherwise`.
    Abandoned {
        tmp: Vec<String>,
        otherwise: Result<Outcome<R>, StorageError>,
    },
}

/// What became of a change: the one answer of every writer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome<R> {
    /// Nothing was published (see [`Written::Unchanged`]).
    Unchanged { held: Held, skipped: Option<String> },
    /// Published and carried out: `held` is the entry the partition holds now.
    Done { held: Held, report: R },
    /// Published, but not carried out in full (a file not visible or not deleted yet): the
    /// next claim finishes it.
    Unfinished {
        held: Held,
        report: R,
        reason: String,
    },
    /// Another member holds the partition: nothing of the change is kept.
    Refused { holder: String },
}

impl<R> Outcome<R> {
    /// The same outcome with its report turned into another type.
    pub fn map<S>(self, f: impl FnOnce(R) -> S) -> Outcome<S> {
        match self {
            Outcome::Unchanged { held, skipped } => Outcome::Unchanged { held, skipped },
            Outcome::Done { held, report } => Outcome::Done {
                held,
                report: f(report),
            },
            Outcome::Unfinished {
                held,
                report,
                reason,
            } => Outcome::Unfinished {
                held,
                report: f(report),
                reason,
            },
            Outcome::Refused { holder } => Outcome::Refused { holder },
        }
    }
}

/// The steps of a change at which a crash leaves something for the next claim to finish.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Its files are written under `_tmp/`; no entry names them yet.
    Written,
    /// Its entry is published; its files are not visible yet.
    Published,
    /// Its files are visible beside those it retires.
    Visible,
    /// Half the files it retires are deleted.
    HalfRetired,
}

/// Where the process stops itself (SIGSTOP), once, as if the machine paused there: a fault
/// test then kills it, or wakes it after its session expired.
#[derive(Debug, Clone)]
pub struct StopAt {
    pub kind: EntryKind,
    pub step: Step,
    done: Arc<AtomicBool>,
}

impl StopAt {
    /// The first time a change of `kind` reaches `step`.
    pub fn new(kind: EntryKind, step: Step) -> Self {
        StopAt {
            kind,
            step,
            done: Arc::default(),
        }
    }
}

/// The protocol over one topic's storage and commit logs.
#[derive(Clone)]
pub struct Protocol {
    storage: Storage,
    log: CommitLog,
    topic: String,
    stop_at: Option<StopAt>,
}

impl Protocol {
    pub fn new(storage: Storage, topic: &str) -> Self {
        Protocol {
            log: CommitLog::new(storage.clone(), topic),
            storage,
            topic: topic.to_owned(),
            stop_at: None,
        }
    }

    pub fn stopping_at(mut self, stop_at: Option<StopAt>) -> Self {
        self.stop_at = stop_at;
        self
    }

    pub fn keeping(mut self, kept: u64) -> Self {
        self.log = self.log.keeping(kept);
        self
    }

    pub fn storage(&self) -> &Storage {
        &self.storage
    }

    pub fn log(&self) -> &CommitLog {
        &self.log
    }

    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Commits what a writer made under `held`, or abandons it.
    pub async fn settle<R>(
        &self,
        partition: i32,
        held: &Held,
        written: Written<R>,
    ) -> Result<Outcome<R>, StorageError> {
        match written {
            Written::Change(change) => self.commit(partition, held, change).await,
            Written::Unchanged { held, skipped } => Ok(Outcome::Unchanged { held, skipped }),
            Written::Abandoned { tmp, otherwise } => {
                for path in &tmp {
                    let _ = self.storage.operator().delete(path).await;
                }
                if self
                    .log
                    .contains(partition, held.seq + 1)
                    .await
                    .unwrap_or(false)
                {
                    return Ok(Outcome::Refused {
                        holder: self.holder(partition, Some(held.seq + 1)).await,
                    });
                }
                otherwise
            }
        }
    }

    /// Publishes `change`'s entry right after `held`, then makes its files visible and deletes
    /// what it retires; see the module's **Commit**.
    async fn commit<R>(
        &self,
        partition: i32,
        held: &Held,
        change: Change<R>,
    ) -> Result<Outcome<R>, StorageError> {
        let Change {
            recorded,
            files,
            retired,
            report,
        } = change;
        let (seq, entry) = held.next(&recorded, files, retired);
        let kind = entry.kind;
        self.reached(kind, Step::Written);
        let entry = match self.publish_entry(partition, held, seq, entry).await? {
            Ok(published) => published,
            Err(holder) => return Ok(Outcome::Refused { holder }),
        };
        self.reached(kind, Step::Published);
        let held = held.published(seq, &entry);
        if let Err(err) = self.carry_out(&entry).await {
            return Ok(Outcome::Unfinished {
                held,
                report,
                reason: err.to_string(),
            });
        }
        self.log.expire_after(partition, seq).await;
        Ok(Outcome::Done { held, report })
    }

    /// Makes a published entry's files visible, then deletes what it retires.
    async fn carry_out(&self, entry: &Entry) -> Result<(), StorageError> {
        self.make_visible(&entry.files).await?;
        self.reached(entry.kind, Step::Visible);
        let (first, rest) = entry.inputs.split_at(entry.inputs.len() / 2);
        self.delete_all(first).await?;
        self.reached(entry.kind, Step::HalfRetired);
        self.delete_all(rest).await
    }

    /// Stops the process if a fault test asked for it at this step of this kind of change.
    fn reached(&self, kind: EntryKind, step: Step) {
        if let Some(stop) = &self.stop_at
            && (stop.kind, stop.step) == (kind, step)
            && !stop.done.swap(true, Ordering::SeqCst)
        {
            tracing::warn!(?kind, ?step, "stopping at a step of a change, as asked");
            let me = rustix::process::getpid();
            if let Err(err) = rustix::process::kill_process(me, rustix::process::Signal::STOP) {
                tracing::warn!(%err, "could not stop");
            }
        }
    }

    /// Publishes `entry` as number `seq`, right after the entry `held`; answers the entry as
    /// published, or `Err(holder)` when another member holds the partition instead (then
    /// nothing the entry names is kept).
    async fn publish_entry(
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

    /// Publishes an entry's files under their final names.
    async fn make_visible(&self, files: &[PendingRename]) -> Result<(), StorageError> {
        for rename in files {
            match self.storage.publish(&rename.tmp, &rename.path).await? {
                Publish::Published => {}
                // Published before, by a member finishing this change.
                Publish::TargetExists => self.storage.delete(&rename.tmp).await?,
                Publish::SourceMissing if self.storage.exists(&rename.path).await? => {}
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

    /// Deletes files, several at a time.
    async fn delete_all(&self, paths: &[String]) -> Result<(), StorageError> {
        let results: Vec<Result<(), StorageError>> = futures::stream::iter(paths)
            .map(|path| self.storage.delete(path))
            .buffer_unordered(DELETE_CONCURRENCY)
            .collect()
            .await;
        results.into_iter().collect()
    }

    /// Finishes what an entry left undone: its renames, then its deletes. False if a file is
    /// in neither place: the entry cannot be trusted, nothing is deleted, and the landed file
    /// names are read instead.
    async fn finish(&self, partition: i32, entry: &Entry) -> Result<bool, StorageError> {
        if !self.finish_renames(partition, &entry.files).await? {
            return Ok(false);
        }
        if !entry.inputs.is_empty() {
            let mut left = 0;
            for input in &entry.inputs {
                if self.storage.exists(input).await? {
                    left += 1;
                }
            }
            if left > 0 {
                self.delete_all(&entry.inputs).await?;
                tracing::info!(
                    partition,
                    deleted = left,
                    kind = ?entry.kind,
                    "finished an interrupted change"
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
                        "finished an interrupted change"
                    );
                }
                Publish::TargetExists => self.storage.delete(&rename.tmp).await?,
                Publish::SourceMissing if self.storage.exists(&rename.path).await? => {}
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

    /// Removes files a refused change wrote; the next claim removes any this misses.
    async fn discard(&self, files: &[PendingRename]) {
        for rename in files {
            let _ = self.storage.operator().delete(&rename.tmp).await;
        }
    }

    /// Who holds the partition, for a refused change's log: the owner of entry `seq`, or of
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
}
