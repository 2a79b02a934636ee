//! Where landed files live, a local folder or HDFS, and the one storage call the commit protocol
//! cannot take from OpenDAL.
//!
//! Reads, writes, listings and deletes go through [OpenDAL](opendal), so the same landing code
//! runs on both backends. What the commit protocol ([`crate::commit_log`]) relies on from a
//! backend, each tested on a folder and on a real NameNode (`tests/storage.rs`):
//!
//! 1. **[`Storage::publish`] is atomic and exclusive.** It renames a file to a name only if no
//!    file has that name: of several members racing to publish one name exactly one succeeds,
//!    the others are told [`Publish::TargetExists`] and the target keeps the winner's content.
//!    The name appears with the file's whole content, never part of it. A folder does it with
//!    `link(2)`, which refuses an existing name, then `unlink(2)` of the source; HDFS with the
//!    NameNode's `rename2` without `OVERWRITE`. Both make missing parent folders first.
//! 2. **Publishing a missing file changes nothing**: [`Publish::SourceMissing`], and the target,
//!    if any, is left as it was.
//! 3. **A file written and closed is read back whole** by any later reader.
//! 4. **A listing shows every name published before it began** (a folder, and the NameNode,
//!    are strongly consistent).
//! 5. **Deleting a missing file succeeds**, so clean-ups can be repeated. (Two members deleting
//!    the same file at once may see `NotFound` on a folder, which OpenDAL stats first; the
//!    landing takes it as done.)
//! 6. **[`Storage::remove_empty_dir`] removes a folder only while it is empty**, so an expired
//!    hour's folder goes without taking a file landed in it meanwhile; and a publish whose
//!    parent folder is removed while it makes it makes it again.
//!
//! OpenDAL's `delete` of a folder removes what is in it on HDFS (a recursive delete) and only
//! an empty one on a folder, so it is not used on folders.
//!
//! OpenDAL's own `rename` replaces an existing target on both backends (on HDFS it first
//! deletes the target, or creates an empty one to make the parent folders, then renames over
//! it), and its `write` replaces an existing file: neither may publish, so neither is used to.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use opendal::{ErrorKind, Operator};
use url::Url;

mod exclusive;
mod private;

use exclusive::{hdfs_not_found, hdfs_reason, publish_in_folder, publish_on_hdfs};

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error(
        "LANDING_URL {0:?} is not a place to land: give file:///absolute/dir, /absolute/dir or hdfs://namenode:port/dir"
    )]
    UnsupportedUrl(String),
    #[error("cannot use LANDING_URL {url}: {reason}")]
    Open { url: String, reason: String },
    /// The storage did not answer in time; `storage` names it.
    #[error("{storage}: no answer within {within:?}")]
    NoAnswer {
        storage: String,
        within: std::time::Duration,
    },
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

impl StorageError {
    /// Whether the operation failed because its path does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(
            self,
            StorageError::Io {
                kind: ErrorKind::NotFound,
                ..
            }
        )
    }
}

/// What became of a [`Storage::publish`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Publish {
    /// The file now has the new name, and no longer the old one.
    Published,
    /// Another file has the name; nothing changed.
    TargetExists,
    /// There is no file to publish; nothing changed.
    SourceMissing,
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

/// The NameNode of an `hdfs://` URL, as HDFS clients take it.
fn name_node(url: &Url) -> Option<String> {
    let host = url.host_str().filter(|h| !h.is_empty())?;
    Some(match url.port() {
        Some(port) => format!("hdfs://{host}:{port}"),
        None => format!("hdfs://{host}"),
    })
}

/// A folder path with the trailing slash OpenDAL's roots have.
fn dir_path(path: &str) -> String {
    if path.ends_with('/') {
        path.to_owned()
    } else {
        format!("{path}/")
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
            let builder = opendal::services::HdfsNative::default()
                .name_node(&name_node(url).ok_or_else(unsupported)?)
                .root(url.path());
            Operator::new(builder).map_err(|err| StorageError::Open {
                url: url.to_string(),
                reason: reason(&err),
            })
        }
        _ => Err(unsupported()),
    }
}

/// How a backend publishes: the call OpenDAL has no exclusive form of.
#[derive(Clone)]
enum Publisher {
    Folder {
        root: PathBuf,
    },
    Hdfs {
        client: Arc<hdfs_native::Client>,
        /// The landing root, absolute, with a trailing slash.
        root: String,
    },
}

/// The landing storage: OpenDAL for most calls, and [`Storage::publish`].
#[derive(Clone)]
pub struct Storage {
    op: Operator,
    publisher: Publisher,
    /// The storage as errors name it: `hdfs://namenode:port/root` or the local folder.
    name: String,
}

impl Storage {
    /// The storage a `LANDING_URL` names; errors name it (without a password).
    pub fn open(url: &Url) -> Result<Self, StorageError> {
        let op = operator_for(url)?;
        let publisher = match url.scheme() {
            "hdfs" => {
                let name_node =
                    name_node(url).ok_or_else(|| StorageError::UnsupportedUrl(url.to_string()))?;
                let client = hdfs_native::ClientBuilder::new()
                    .with_url(&name_node)
                    .build()
                    .map_err(|err| StorageError::Open {
                        url: url.to_string(),
                        reason: hdfs_reason(&err),
                    })?;
                Publisher::Hdfs {
                    client: Arc::new(client),
                    root: dir_path(url.path()),
                }
            }
            _ => Publisher::Folder {
                root: url
                    .to_file_path()
                    .map_err(|()| StorageError::UnsupportedUrl(url.to_string()))?,
            },
        };
        let mut named = url.clone();
        // Errors are logged: never a password.
        let _ = named.set_password(None);
        Ok(Storage {
            op,
            publisher,
            name: named.to_string(),
        })
    }

    /// A local folder, for tests and tools.
    pub fn folder(root: &Path) -> Result<Self, StorageError> {
        let url = Url::from_directory_path(root)
            .map_err(|()| StorageError::UnsupportedUrl(root.display().to_string()))?;
        Storage::open(&url)
    }

    /// OpenDAL's operator, for every call but publishing.
    pub fn operator(&self) -> &Operator {
        &self.op
    }

    /// The storage as errors name it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// How a failed OpenDAL call is reported: which storage, which operation, on what.
    pub fn failed<'a>(
        &'a self,
        operation: &'static str,
        path: &'a str,
    ) -> impl FnOnce(opendal::Error) -> StorageError + 'a {
        move |err| StorageError::Io {
            storage: self.name.clone(),
            operation,
            path: path.to_owned(),
            reason: reason(&err),
            kind: err.kind(),
        }
    }

    /// Whether the storage answers: its root is listed (a root not made yet is an answer too).
    pub async fn answers(&self) -> Result<(), String> {
        match self.op.list("/").await {
            Ok(_) => Ok(()),
            Err(err) if err.kind() == ErrorKind::NotFound => Ok(()),
            Err(err) => Err(format!("{}: list / failed: {}", self.name, reason(&err))),
        }
    }

    /// Whether a file is there.
    pub async fn exists(&self, path: &str) -> Result<bool, StorageError> {
        self.op
            .exists(path)
            .await
            .map_err(self.failed("stat", path))
    }

    /// Deletes a file; one that is gone, even while this runs (two members cleaning up), is
    /// not an error.
    pub async fn delete(&self, path: &str) -> Result<(), StorageError> {
        match self.op.delete(path).await {
            Err(err) if err.kind() != ErrorKind::NotFound => Err(self.failed("delete", path)(err)),
            _ => Ok(()),
        }
    }

    /// What is in the folder `dir`; nothing when it is missing.
    pub async fn list(&self, dir: &str) -> Result<Vec<opendal::Entry>, StorageError> {
        match self.op.list(dir).await {
            Ok(entries) => Ok(entries),
            Err(err) if err.kind() == ErrorKind::NotFound => Ok(Vec::new()),
            Err(err) => Err(self.failed("list", dir)(err)),
        }
    }

    /// The folders in `dir`, as paths with a trailing slash.
    pub async fn list_dirs(&self, dir: &str) -> Result<Vec<String>, StorageError> {
        Ok(self
            .list(dir)
            .await?
            .into_iter()
            .filter(|e| e.metadata().is_dir() && e.path() != dir)
            .map(|e| e.path().to_owned())
            .collect())
    }

    /// The names of the files in `dir`.
    pub async fn list_files(&self, dir: &str) -> Result<Vec<String>, StorageError> {
        Ok(self
            .list(dir)
            .await?
            .into_iter()
            .filter(|e| e.metadata().is_file())
            .map(|e| e.name().to_owned())
            .collect())
    }

    /// Removes the folder `dir` (relative to the root) if it is empty; true if it was removed.
    /// A folder with anything in it, or a missing one, is left as it is.
    pub async fn remove_empty_dir(&self, dir: &str) -> Result<bool, StorageError> {
        let failed = |reason: String| StorageError::Io {
            storage: self.name.clone(),
            operation: "remove folder",
            path: dir.to_owned(),
            reason,
            kind: ErrorKind::Unexpected,
        };
        match &self.publisher {
            Publisher::Folder { root } => {
                let path = root.join(dir.trim_end_matches('/'));
                match tokio::fs::remove_dir(&path).await {
                    Ok(()) => Ok(true),
                    Err(err)
                        if matches!(
                            err.kind(),
                            std::io::ErrorKind::NotFound | std::io::ErrorKind::DirectoryNotEmpty
                        ) =>
                    {
                        Ok(false)
                    }
                    Err(err) => Err(failed(err.to_string())),
                }
            }
            Publisher::Hdfs { client, root } => {
                let path = format!("{root}{}", dir.trim_end_matches('/'));
                // Not recursive: the NameNode refuses a folder that is not empty.
                match client.delete(&path, false).await {
                    Ok(removed) => Ok(removed),
                    Err(err) if hdfs_not_found(&err) => Ok(false),
                    Err(err) if hdfs_reason(&err).contains("PathIsNotEmptyDirectory") => Ok(false),
                    Err(err) => Err(failed(hdfs_reason(&err))),
                }
            }
        }
    }

    /// Gives the file `from` the name `to` if no file has that name (both relative to the
    /// root), making `to`'s parent folders as needed. See the module's first two rules.
    pub async fn publish(&self, from: &str, to: &str) -> Result<Publish, StorageError> {
        let failed = |reason: String, kind| StorageError::Io {
            storage: self.name.clone(),
            operation: "publish",
            path: format!("{from} as {to}"),
            reason,
            kind,
        };
        match &self.publisher {
            Publisher::Folder { root } => {
                let (from, to) = (root.join(from), root.join(to));
                tokio::task::spawn_blocking(move || publish_in_folder(&from, &to))
                    .await
                    .map_err(|err| failed(err.to_string(), ErrorKind::Unexpected))?
                    .map_err(|err| {
                        let kind = match err.kind() {
                            std::io::ErrorKind::NotFound => ErrorKind::NotFound,
                            std::io::ErrorKind::PermissionDenied => ErrorKind::PermissionDenied,
                            _ => ErrorKind::Unexpected,
                        };
                        failed(err.to_string(), kind)
                    })
            }
            Publisher::Hdfs { client, root } => {
                let (from, to) = (format!("{root}{from}"), format!("{root}{to}"));
                publish_on_hdfs(client, &from, &to)
                    .await
                    .map_err(|err| failed(hdfs_reason(&err), ErrorKind::Unexpected))
            }
        }
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

    #[test]
    fn an_hdfs_storage_is_opened_without_asking_the_namenode_and_named_without_a_password() {
        let url = Url::parse("hdfs://user:secret@namenode:8020/data/web-events").unwrap();
        let storage = Storage::open(&url).expect("no call to the namenode yet");
        assert_eq!(storage.name(), "hdfs://user@namenode:8020/data/web-events");
        assert_eq!(storage.operator().info().root(), "/data/web-events/");
        assert!(
            matches!(&storage.publisher, Publisher::Hdfs { root, .. } if root == "/data/web-events/")
        );
    }
}
