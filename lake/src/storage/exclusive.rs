//! The calls OpenDAL has no exclusive form of, on each backend: publishing a file under a name
//! only if no file has it (see the rules in [`super`]), and how HDFS's errors read.

use std::path::Path;

use super::Publish;

/// How often a publish makes its target's parent folder before it gives up.
const PARENT_ATTEMPTS: usize = 3;

/// [`Storage::publish`] in a local folder: `link(2)` refuses an existing name, so the name
/// is taken atomically, with the file's whole content; the source name is removed after.
pub(super) fn publish_in_folder(from: &Path, to: &Path) -> std::io::Result<Publish> {
    use std::io::ErrorKind as Io;
    let mut linked = std::fs::hard_link(from, to);
    // The parent folder is missing (the source being there): make it and try again. An
    // expiry may remove it, empty, in between: then it is made once more.
    for _ in 0..PARENT_ATTEMPTS {
        match &linked {
            Err(err) if err.kind() == Io::NotFound && from.exists() => {
                if let Some(parent) = to.parent() {
                    std::fs::create_dir_all(parent)?;
                }
                linked = std::fs::hard_link(from, to);
            }
            _ => break,
        }
    }
    match linked {
        Ok(()) => match std::fs::remove_file(from) {
            Err(err) if err.kind() != Io::NotFound => Err(err),
            _ => Ok(Publish::Published),
        },
        Err(err) if err.kind() == Io::AlreadyExists => Ok(Publish::TargetExists),
        Err(err) if err.kind() == Io::NotFound => Ok(Publish::SourceMissing),
        Err(err) => Err(err),
    }
}

/// [`Storage::publish`] on HDFS: the NameNode's rename without `OVERWRITE` refuses an existing
/// target (`FileAlreadyExistsException`) and a missing parent folder, which is then made.
pub(super) async fn publish_on_hdfs(
    client: &hdfs_native::Client,
    from: &str,
    to: &str,
) -> Result<Publish, hdfs_native::HdfsError> {
    use hdfs_native::HdfsError;
    let mut parents_made = 0;
    loop {
        match client.rename(from, to, false).await {
            Ok(()) => return Ok(Publish::Published),
            Err(HdfsError::AlreadyExists(_)) => return Ok(Publish::TargetExists),
            Err(err) if hdfs_not_found(&err) => {
                // Either the source or the target's parent folder is missing.
                match client.get_file_info(from).await {
                    Err(err) if hdfs_not_found(&err) => return Ok(Publish::SourceMissing),
                    Err(err) => return Err(err),
                    Ok(_) if parents_made == PARENT_ATTEMPTS => return Err(err),
                    Ok(_) => {
                        let parent = to.rsplit_once('/').map_or("/", |(dir, _)| dir);
                        client.mkdirs(parent, 0o755, true).await?;
                        parents_made += 1;
                    }
                }
            }
            Err(err) => return Err(err),
        }
    }
}

pub(super) fn hdfs_not_found(err: &hdfs_native::HdfsError) -> bool {
    use hdfs_native::HdfsError;
    match err {
        HdfsError::FileNotFound(_) => true,
        HdfsError::RPCError(class, _) => class.ends_with("FileNotFoundException"),
        _ => false,
    }
}

/// An HDFS error in a few words: the I/O error, or the NameNode's exception and its first line.
pub(super) fn hdfs_reason(err: &hdfs_native::HdfsError) -> String {
    use hdfs_native::HdfsError;
    match err {
        HdfsError::IOError(io) => io.to_string(),
        HdfsError::RPCError(class, message) | HdfsError::FatalRPCError(class, message) => {
            let class = class.rsplit('.').next().unwrap_or(class);
            let first = message.lines().next().unwrap_or_default();
            format!("{class}: {first}")
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_namenodes_exception_is_named_by_its_class_and_first_line() {
        let err = hdfs_native::HdfsError::RPCError(
            "org.apache.hadoop.hdfs.server.namenode.SafeModeException".into(),
            "Cannot rename /a. Name node is in safe mode.\n\tat org.apache...".into(),
        );
        assert_eq!(
            hdfs_reason(&err),
            "SafeModeException: Cannot rename /a. Name node is in safe mode."
        );
    }
}
