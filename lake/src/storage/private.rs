//! Files only the pipeline may read, for what people asked to forget (erasure requests and what
//! the holders note of them): 0600 files in 0700 folders, on a folder by the file system's
//! modes, on HDFS by the permission bits, which the NameNode enforces where
//! `dfs.permissions.enabled` is on, as on a production one.

use opendal::ErrorKind;

use super::exclusive::hdfs_reason;
use super::{Publisher, Storage, StorageError};

impl Storage {
    /// Makes the file or folder at `path` (relative to the root) readable by its owner only:
    /// 0600 for a file, 0700 for a folder. On HDFS, its permission bits; they hold where the
    /// NameNode checks permissions (`dfs.permissions.enabled`), as a production one does.
    pub async fn restrict(&self, path: &str, folder: bool) -> Result<(), StorageError> {
        let mode = if folder { 0o700 } else { 0o600 };
        let failed = |reason: String| StorageError::Io {
            storage: self.name.clone(),
            operation: "restrict",
            path: path.to_owned(),
            reason,
            kind: ErrorKind::Unexpected,
        };
        match &self.publisher {
            Publisher::Folder { root } => {
                use std::os::unix::fs::PermissionsExt;
                let local = root.join(path.trim_end_matches('/'));
                tokio::fs::set_permissions(&local, std::fs::Permissions::from_mode(mode))
                    .await
                    .map_err(|err| failed(err.to_string()))
            }
            Publisher::Hdfs { client, root } => {
                let absolute = format!("{root}{}", path.trim_end_matches('/'));
                client
                    .set_permission(&absolute, mode)
                    .await
                    .map_err(|err| failed(hdfs_reason(&err)))
            }
        }
    }

    /// The permission bits of the file or folder at `path` (relative to the root).
    pub async fn mode(&self, path: &str) -> Result<u32, StorageError> {
        let failed = |reason: String| StorageError::Io {
            storage: self.name.clone(),
            operation: "stat",
            path: path.to_owned(),
            reason,
            kind: ErrorKind::Unexpected,
        };
        match &self.publisher {
            Publisher::Folder { root } => {
                use std::os::unix::fs::PermissionsExt;
                let local = root.join(path.trim_end_matches('/'));
                let metadata = tokio::fs::metadata(&local)
                    .await
                    .map_err(|err| failed(err.to_string()))?;
                Ok(metadata.permissions().mode() & 0o7777)
            }
            Publisher::Hdfs { client, root } => {
                let absolute = format!("{root}{}", path.trim_end_matches('/'));
                let status = client
                    .get_file_info(&absolute)
                    .await
                    .map_err(|err| failed(hdfs_reason(&err)))?;
                Ok(u32::from(status.permission))
            }
        }
    }

    /// Writes `body` as the file at `path`, readable by its owner only, in a folder readable
    /// by its owner only (made as needed): for files that hold what people asked to forget.
    pub async fn write_private(&self, path: &str, body: Vec<u8>) -> Result<(), StorageError> {
        let dir = match path.rsplit_once('/') {
            Some((dir, _)) => format!("{dir}/"),
            None => String::new(),
        };
        if !dir.is_empty() {
            self.op
                .create_dir(&dir)
                .await
                .map_err(self.failed("make folder", &dir))?;
            self.restrict(&dir, true).await?;
        }
        self.op
            .write(path, body)
            .await
            .map_err(self.failed("write", path))?;
        self.restrict(path, false).await
    }
}
