//! Merging an hour: a partition's files of one closed hour, in offset order, packed into groups
//! of up to `COMPACT_TARGET_BYTES`; each group of two files or more becomes one file, written
//! under `_tmp/` a row group at a time, and handed to the protocol as a change that retires its
//! inputs. A file already that large stays as it is, so late files in a merged hour merge with
//! the small ones only. Clicks the repeat window finds repeats of, in the order the hour's
//! files are merged, are left out ([`crate::repeats`]).

use crate::Lake;
use crate::commit_log::{Held, PendingRename, Recorded};
use crate::file_format::Merged;
use crate::layout::{self, HourPartition};
use crate::protocol::{Change, Outcome, Written};
use crate::repeats::RepeatWindow;
use crate::storage::StorageError;

/// What one merge of an hour did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompactedHour {
    pub hour: HourPartition,
    /// The merged files, relative to the landing root.
    pub outputs: Vec<String>,
    pub inputs: usize,
    pub merged: Merged,
}

/// Writes the merged files of `hour`'s files of `partition`; see the module.
pub(crate) async fn write(
    lake: &Lake,
    partition: i32,
    held: &Held,
    hour: HourPartition,
    target_bytes: u64,
) -> Result<Written<CompactedHour>, StorageError> {
    let (topic, storage) = (lake.topic(), lake.storage());
    let files = hour_files(lake, partition, &hour).await?;
    let groups = plan_merges(files, target_bytes);
    if groups.is_empty() {
        return Ok(Written::Unchanged {
            held: held.without(hour),
            skipped: None,
        });
    }
    let tag = held.owner.tag();
    let mut renames: Vec<PendingRename> = Vec::new();
    let mut inputs = Vec::new();
    let mut merged = Merged::default();
    // One window over the hour's groups, in offset order.
    let mut repeats = RepeatWindow::new(lake.repeat_span());
    for group in groups {
        let first = group.first().map_or(0, |f| f.first_offset);
        let last = group.iter().map(|f| f.last_offset).max().unwrap_or(first);
        let name = layout::file_name(topic, partition, first, last, lake.format().extension());
        let tmp = layout::tmp_path(topic, partition, &tag, "compact", &name);
        let paths: Vec<String> = group.into_iter().map(|f| f.path).collect();
        match lake
            .format()
            .merge(storage.operator(), &paths, &tmp, &mut repeats)
            .await
        {
            Ok(done) => {
                merged.rows += done.rows;
                merged.repeats += done.repeats;
                merged.bytes_in += done.bytes_in;
                merged.bytes_out += done.bytes_out;
            }
            Err(err) => {
                let mut tmp_files: Vec<String> = renames.into_iter().map(|r| r.tmp).collect();
                tmp_files.push(tmp.clone());
                // Storage failing is worth trying again; a file that is not of the format is
                // not, and the hour is left as it is.
                let otherwise = if err.storage_kind().is_some() {
                    Err(err.on(storage, "merge into", &tmp))
                } else {
                    Ok(Outcome::Unchanged {
                        held: held.without(hour),
                        skipped: Some(err.to_string()),
                    })
                };
                return Ok(Written::Abandoned {
                    tmp: tmp_files,
                    otherwise,
                });
            }
        }
        renames.push(PendingRename {
            tmp,
            path: layout::data_path(topic, &hour, &name),
        });
        inputs.extend(paths);
    }
    let report = CompactedHour {
        hour,
        outputs: renames.iter().map(|r| r.path.clone()).collect(),
        inputs: inputs.len(),
        merged,
    };
    Ok(Written::Change(Change {
        recorded: Recorded::Compaction { hour },
        files: renames,
        retired: inputs,
        report,
    }))
}

/// This partition's files of the landing format in `hour`, with their sizes.
async fn hour_files(
    lake: &Lake,
    partition: i32,
    hour: &HourPartition,
) -> Result<Vec<HourFile>, StorageError> {
    let (topic, storage) = (lake.topic(), lake.storage());
    let dir = layout::hour_dir(topic, hour);
    let extension = format!(".{}", lake.format().extension());
    let mut files = Vec::new();
    for entry in storage.list(&dir).await? {
        let name = entry.name();
        if !entry.metadata().is_file() || !name.ends_with(&extension) {
            continue;
        }
        let Some((first, last)) = layout::parse_file_name(name, topic, partition) else {
            continue;
        };
        let path = entry.path().to_owned();
        let bytes = match entry.metadata().content_length() {
            0 => storage
                .operator()
                .stat(&path)
                .await
                .map_err(storage.failed("stat", &path))?
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

/// A landed file of one partition in one hour.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HourFile {
    /// Relative to the landing root.
    pub path: String,
    pub first_offset: i64,
    pub last_offset: i64,
    pub bytes: u64,
}

/// The merges of one partition's files in one hour: groups of files, in offset order, each
/// of two files or more and of at most `target_bytes` in all (a single file may be larger).
pub fn plan_merges(mut files: Vec<HourFile>, target_bytes: u64) -> Vec<Vec<HourFile>> {
    files.sort_by_key(|f| f.first_offset);
    let mut groups: Vec<Vec<HourFile>> = Vec::new();
    let mut current: Vec<HourFile> = Vec::new();
    let mut bytes = 0u64;
    for file in files {
        if !current.is_empty() && bytes.saturating_add(file.bytes) > target_bytes {
            groups.push(std::mem::take(&mut current));
            bytes = 0;
        }
        bytes = bytes.saturating_add(file.bytes);
        current.push(file);
    }
    groups.push(current);
    groups.retain(|group| group.len() > 1);
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(first: i64, last: i64, bytes: u64) -> HourFile {
        HourFile {
            path: format!("t/dt=2026-12-03/hour=10/t+0+{first}+{last}.parquet"),
            first_offset: first,
            last_offset: last,
            bytes,
        }
    }

    fn ranges(groups: &[Vec<HourFile>]) -> Vec<Vec<(i64, i64)>> {
        groups
            .iter()
            .map(|g| g.iter().map(|f| (f.first_offset, f.last_offset)).collect())
            .collect()
    }

    #[test]
    fn files_are_merged_in_offset_order_up_to_the_target() {
        let files = vec![
            file(20, 29, 40),
            file(0, 9, 40),
            file(10, 19, 40),
            file(30, 39, 10),
        ];
        assert_eq!(
            ranges(&plan_merges(files, 100)),
            [vec![(0, 9), (10, 19)], vec![(20, 29), (30, 39)]]
        );
    }

    #[test]
    fn one_file_or_a_file_past_the_target_is_left_alone() {
        assert!(plan_merges(vec![file(0, 9, 10)], 100).is_empty());
        assert!(plan_merges(Vec::new(), 100).is_empty());
        let files = vec![file(0, 9, 150), file(10, 19, 30), file(20, 29, 30)];
        assert_eq!(
            ranges(&plan_merges(files, 100)),
            [vec![(10, 19), (20, 29)]],
            "the big one is not rewritten; late small files merge beside it"
        );
    }
}
