//! Landing batches in storage through OpenDAL, and finding where a partition left off.
//!
//! A batch is landed in three steps, so that a crash at any moment leaves either the previous
//! state or one that recovery completes:
//! 1. each file is written under `_tmp/`;
//! 2. a per-partition checkpoint naming the batch's last offset and its (temporary, final)
//!    file pairs replaces the previous one;
//! 3. the files are renamed into place, in offset order.
//!
//! Recovery reads the checkpoint and finishes any rename still pending; the partition resumes
//! after the checkpoint's offset. Without a readable checkpoint it falls back to the truth, the
//! landed file names, and lists the topic's directories. Temporary files the checkpoint does
//! not name are leftovers of a batch that never reached step 2 and are removed.

use opendal::{ErrorKind, Operator};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::buffer::BufferedRecord;
use crate::layout::{self, Destination};

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error(
        "LANDING_URL {0:?} is not a place to land: give file:///absolute/dir, /absolute/dir or hdfs://namenode:port/dir"
    )]
    UnsupportedUrl(String),
    #[error("cannot use LANDING_URL {url}: {reason}")]
    Open { url: String, reason: String },
    /// An operation on the storage failed; `storage` names it (the namenode, or the folder).
    #[error("{storage}: {operation} {path} failed: {reason}")]
    Io {
        storage: String,
        operation: &'static str,
        path: String,
        reason: String,
        kind: ErrorKind,
    },
}

/// What went wrong, in the words of the deepest cause (`Connection refused (os error 111)`)
/// rather than the storage library's whole context.
pub fn reason(err: &opendal::Error) -> String {
    let mut cause: &dyn std::error::Error = err;
    while let Some(source) = cause.source() {
        cause = source;
    }
    let innermost = cause.to_string();
    // hdfs-native wraps I/O errors in a Debug rendering: keep its message.
    match innermost.split_once("message: \"") {
        Some((_, rest)) => rest.split('"').next().unwrap_or(&innermost).to_owned(),
        None => innermost,
    }
}

/// Reads a `LANDING_URL`: `file:///dir`, an absolute path, or `hdfs://namenode:port/dir`.
pub fn parse_landing_url(raw: &str) -> Result<Url, String> {
    let unsupported = || StorageError::UnsupportedUrl(raw.to_owned()).to_string();
    if raw.starts_with('/') {
        return Url::from_directory_path(raw).map_err(|()| unsupported());
    }
    let url = Url::parse(raw).map_err(|_| unsupported())?;
    match url.scheme() {
        "file" if url.to_file_path().is_ok() => Ok(url),
        "hdfs" if url.host_str().is_some_and(|h| !h.is_empty()) => Ok(url),
        _ => Err(unsupported()),
    }
}

/// Opens the storage a `LANDING_URL` names: `file:///dir` or `hdfs://namenode:8020/dir`. A
/// local folder is made if missing; HDFS is only contacted by the first operation.
pub fn operator_for(url: &Url) -> Result<Operator, StorageError> {
    let unsupported = || StorageError::UnsupportedUrl(url.to_string());
    match url.scheme() {
        "file" => {
            let root = url.to_file_path().map_err(|_| unsupported())?;
            let builder = opendal::services::Fs::default().root(&root.to_string_lossy());
            Operator::new(builder).map_err(|err| StorageError::Open {
                url: url.to_string(),
                reason: format!(
                    "cannot make the folder {}: {}",
                    root.display(),
                    reason(&err)
                ),
            })
        }
        "hdfs" => {
            let host = url.host_str().ok_or_else(unsupported)?;
            let name_node = match url.port() {
                Some(port) => format!("hdfs://{host}:{port}"),
                None => format!("hdfs://{host}"),
            };
            let builder = opendal::services::HdfsNative::default()
                .name_node(&name_node)
                .root(url.path());
            Operator::new(builder).map_err(|err| StorageError::Open {
                url: url.to_string(),
                reason: reason(&err),
            })
        }
        _ => Err(unsupported()),
    }
}

/// A file is written in chunks of about this size, so landing costs one chunk of memory beside
/// the buffer rather than a second copy of the whole file.
const WRITE_CHUNK_BYTES: usize = 256 * 1024;

/// How a failed operation is reported: which storage, which operation, on what.
fn io<'a>(
    storage: &'a str,
    operation: &'static str,
    path: &'a str,
) -> impl FnOnce(opendal::Error) -> StorageError + 'a {
    move |err| StorageError::Io {
        storage: storage.to_owned(),
        operation,
        path: path.to_owned(),
        reason: reason(&err),
        kind: err.kind(),
    }
}

/// The checkpoint: the last offset of the latest batch and the files it consists of.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Checkpoint {
    last_offset: i64,
    files: Vec<PendingRename>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct PendingRename {
    tmp: String,
    path: String,
}

/// What one landing wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LandedBatch {
    pub last_offset: i64,
    /// Final paths, relative to the landing root, with their record counts.
    pub files: Vec<(String, usize)>,
    pub bytes: usize,
    pub invalid: usize,
}

/// Lands batches of one topic under one root.
#[derive(Clone)]
pub struct Landing {
    op: Operator,
    topic: String,
    /// The storage as errors name it: `hdfs://namenode:port/root` or the local folder.
    storage: String,
}

impl Landing {
    /// Lands under the storage `op` reaches; errors name its root.
    pub fn new(op: Operator, topic: &str) -> Self {
        let storage = op.info().root().to_owned();
        Landing {
            op,
            topic: topic.to_owned(),
            storage,
        }
    }

    /// Lands where a `LANDING_URL` says; errors name it (the namenode, for HDFS).
    pub fn open(url: &Url, topic: &str) -> Result<Self, StorageError> {
        let mut named = url.clone();
        // Errors are logged: never a password.
        let _ = named.set_password(None);
        Ok(Landing {
            storage: named.to_string(),
            ..Landing::new(operator_for(url)?, topic)
        })
    }

    /// The storage itself, for probes.
    pub fn operator(&self) -> &Operator {
        &self.op
    }

    /// The storage as errors name it.
    pub fn storage(&self) -> &str {
        &self.storage
    }

    /// Writes a non-empty batch (records of one partition in offset order) and makes it
    /// visible. Safe to call again with the same or an overlapping batch after a failure.
    pub async fn land(
        &self,
        partition: i32,
        batch: &[BufferedRecord],
    ) -> Result<LandedBatch, StorageError> {
        let plan: Vec<(i64, Destination)> =
            batch.iter().map(|r| (r.offset, r.destination)).collect();
        let files = layout::plan_files(&plan);
        let mut renames = Vec::with_capacity(files.len());
        let mut landed = LandedBatch {
            last_offset: batch.last().map_or(-1, |r| r.offset),
            files: Vec::new(),
            bytes: 0,
            invalid: 0,
        };
        for file in &files {
            let name =
                layout::file_name(&self.topic, partition, file.first_offset, file.last_offset);
            let (kind, path) = match &file.destination {
                Destination::Hour(hour) => ("data", layout::data_path(&self.topic, hour, &name)),
                Destination::Invalid => {
                    landed.invalid += file.records.len();
                    ("invalid", layout::invalid_path(&self.topic, &name))
                }
            };
            let tmp = layout::tmp_path(&self.topic, partition, kind, &name);
            let lines = file
                .records
                .iter()
                .map(|&index| batch[index].line.as_slice());
            landed.bytes +=
                self.write_lines(&tmp, lines)
                    .await
                    .map_err(io(&self.storage, "write", &tmp))?;
            landed.files.push((path.clone(), file.records.len()));
            renames.push(PendingRename { tmp, path });
        }
        let checkpoint = Checkpoint {
            last_offset: landed.last_offset,
            files: renames,
        };
        self.write_checkpoint(partition, &checkpoint).await?;
        for rename in &checkpoint.files {
            self.op.rename(&rename.tmp, &rename.path).await.map_err(io(
                &self.storage,
                "rename",
                &rename.tmp,
            ))?;
        }
        Ok(landed)
    }

    /// Writes `lines`, each followed by a newline, as the file at `path` (replacing it), in
    /// chunks of about [`WRITE_CHUNK_BYTES`]; returns the bytes written.
    async fn write_lines<'a>(
        &self,
        path: &str,
        lines: impl Iterator<Item = &'a [u8]>,
    ) -> Result<usize, opendal::Error> {
        let mut writer = self.op.writer(path).await?;
        let mut chunk = Vec::with_capacity(WRITE_CHUNK_BYTES);
        let mut written = 0;
        for line in lines {
            chunk.extend_from_slice(line);
            chunk.push(b'\n');
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

    /// The last offset landed for `partition`, finishing an interrupted landing first.
    /// `None` when nothing was ever landed.
    pub async fn recover(&self, partition: i32) -> Result<Option<i64>, StorageError> {
        let last = match self.read_checkpoint(partition).await? {
            Some(checkpoint) if self.complete(&checkpoint).await? => Some(checkpoint.last_offset),
            _ => self.scan_last_offset(partition).await?,
        };
        self.remove_leftovers(partition).await?;
        Ok(last)
    }

    async fn write_checkpoint(
        &self,
        partition: i32,
        checkpoint: &Checkpoint,
    ) -> Result<(), StorageError> {
        let path = layout::checkpoint_path(&self.topic, partition);
        // A name of its own, so two writers (a partition's old and new owner during a
        // rebalance) never rename each other's checkpoint.
        let tmp = format!(
            "{}/_tmp/{partition}.checkpoint.{}",
            self.topic,
            uuid::Uuid::now_v7()
        );
        let body = serde_json::to_vec(checkpoint).expect("a checkpoint serializes");
        self.op
            .write(&tmp, body)
            .await
            .map_err(io(&self.storage, "write", &tmp))?;
        self.op
            .rename(&tmp, &path)
            .await
            .map_err(io(&self.storage, "rename", &tmp))
    }

    async fn read_checkpoint(&self, partition: i32) -> Result<Option<Checkpoint>, StorageError> {
        let path = layout::checkpoint_path(&self.topic, partition);
        match self.op.read(&path).await {
            Ok(bytes) => match serde_json::from_slice(&bytes.to_vec()) {
                Ok(checkpoint) => Ok(Some(checkpoint)),
                Err(err) => {
                    tracing::warn!(partition, %err, path, "unreadable checkpoint; scanning landed files");
                    Ok(None)
                }
            },
            Err(err) if err.kind() == ErrorKind::NotFound => Ok(None),
            Err(err) => Err(io(&self.storage, "read", &path)(err)),
        }
    }

    /// Finishes the checkpoint's renames. False if a file is in neither place, which means
    /// the checkpoint cannot be trusted.
    async fn complete(&self, checkpoint: &Checkpoint) -> Result<bool, StorageError> {
        for rename in &checkpoint.files {
            // A temporary file still present means its rename did not happen (HDFS may even
            // have created an empty target first), so renaming it now is always right.
            if self
                .op
                .exists(&rename.tmp)
                .await
                .map_err(io(&self.storage, "stat", &rename.tmp))?
            {
                self.op.rename(&rename.tmp, &rename.path).await.map_err(io(
                    &self.storage,
                    "rename",
                    &rename.tmp,
                ))?;
                tracing::info!(path = rename.path, "finished an interrupted landing");
            } else if !self.op.exists(&rename.path).await.map_err(io(
                &self.storage,
                "stat",
                &rename.path,
            ))? {
                tracing::warn!(
                    path = rename.path,
                    "checkpoint names a file that is missing; scanning landed files"
                );
                return Ok(false);
            }
        }
        Ok(true)
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

    async fn remove_leftovers(&self, partition: i32) -> Result<(), StorageError> {
        let dir = layout::tmp_dir(&self.topic);
        let prefix = layout::tmp_prefix(partition);
        for name in self.list_files(&dir).await? {
            if name.starts_with(&prefix) {
                let path = format!("{dir}{name}");
                self.op
                    .delete(&path)
                    .await
                    .map_err(io(&self.storage, "delete", &path))?;
                tracing::info!(
                    partition,
                    path,
                    "removed a file of a batch that never landed"
                );
            }
        }
        Ok(())
    }

    async fn list(&self, dir: &str) -> Result<Vec<opendal::Entry>, StorageError> {
        match self.op.list(dir).await {
            Ok(entries) => Ok(entries),
            Err(err) if err.kind() == ErrorKind::NotFound => Ok(Vec::new()),
            Err(err) => Err(io(&self.storage, "list", dir)(err)),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_landing_url_is_a_file_url_an_absolute_path_or_an_hdfs_url() {
        assert_eq!(
            parse_landing_url("/tmp/landing").unwrap().as_str(),
            "file:///tmp/landing/"
        );
        assert_eq!(
            parse_landing_url("file:///tmp/landing").unwrap().as_str(),
            "file:///tmp/landing"
        );
        assert_eq!(
            parse_landing_url("hdfs://namenode:8020/data/web-events")
                .unwrap()
                .host_str(),
            Some("namenode")
        );
        for wrong in ["relative/dir", "s3://bucket/x", "hdfs:///no-namenode", ""] {
            let err = parse_landing_url(wrong).unwrap_err();
            assert!(err.contains("file:///absolute/dir"), "{wrong}: {err}");
        }
    }

    #[test]
    fn a_folder_that_cannot_be_made_is_said_once_in_plain_words() {
        let url = parse_landing_url("file:///proc/forbidden/landing").unwrap();
        let err = operator_for(&url).expect_err("refused").to_string();
        assert!(
            err.starts_with("cannot use LANDING_URL file:///proc/forbidden/landing: cannot make the folder /proc/forbidden/landing:"),
            "{err}"
        );
        assert!(
            !err.contains("Builder::build"),
            "library context leaked: {err}"
        );
        assert_eq!(err.matches("No such file").count(), 1, "{err}");
    }
}
