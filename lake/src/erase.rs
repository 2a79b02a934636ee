//! Erasure: once the partition has landed everything produced before a request
//! ([`ErasureRequest::due`]), its holder rewrites each of its files that holds a click the
//! request erases (named, and produced before the request: [`ErasureRequest::erases`]) without
//! it, under `_tmp/`, and hands the protocol a change naming the new files, the files they
//! replace and what was removed. A file left empty is only retired; a click made after the
//! request is kept, even by a file that also held an erased one.
//!
//! A file is read twice, never whole: once for the columns that tell (name, id, offset), then,
//! if it holds an erased click, a row group (or a chunk of lines) at a time into its rewrite.
//! So an erasure holds about what a merge holds, whatever the files' sizes.

use std::cell::RefCell;

use uuid::Uuid;

use crate::Lake;
use crate::commit_log::{Erased, Held, PendingRename, Recorded};
use crate::file_format::{FormatError, LandingFormat, RowKey, json_lines};
use crate::layout;
use crate::listing;
use crate::protocol::{Change, Written};
use crate::requests::{self, ErasureRequest};
use crate::storage::StorageError;

/// A file of the partition an erasure may rewrite.
struct Candidate {
    path: String,
    /// Dead letters, JSON lines whatever the landing format.
    letters: bool,
    format: LandingFormat,
    first: i64,
    last: i64,
}

/// The rewrite of the partition's files without the clicks `request` erases; see the module.
pub(crate) async fn write(
    lake: &Lake,
    partition: i32,
    held: &Held,
    request: &ErasureRequest,
) -> Result<Written<Erased>, StorageError> {
    let (topic, storage) = (lake.topic(), lake.storage());
    let op = storage.operator();
    // Rewritten files are named for the entry that publishes them, so their names are new.
    let seq = held.seq + 1;
    let tag = held.owner.tag();
    let mut renames: Vec<PendingRename> = Vec::new();
    let mut retired = Vec::new();
    let (mut rows, mut dead_letters) = (0u64, 0u64);
    let erases_row = |row: &RowKey| request.erases(partition, row);
    // The ids of the erased clicks, gathered as files are counted: the asker keeps them as
    // tombstones, so that a replay does not bring the clicks back.
    let erased_ids = RefCell::new(Vec::new());
    let count_row = |row: &RowKey| {
        let erased = erases_row(row);
        if erased && let Ok(id) = Uuid::parse_str(row.event_id) {
            erased_ids.borrow_mut().push(id);
        }
        erased
    };
    let erases_letter = |line: &[u8]| request.erases_dead_letter(partition, line);
    let abandon = |renames: Vec<PendingRename>, tmp: Option<String>, err: StorageError| {
        let mut tmp_files: Vec<String> = renames.into_iter().map(|r| r.tmp).collect();
        tmp_files.extend(tmp);
        Ok(Written::Abandoned {
            tmp: tmp_files,
            otherwise: Err(err),
        })
    };
    for file in candidates(lake, partition).await? {
        // Every click of a file that starts at the request's end was made after it.
        if file.first >= request.end(partition) {
            continue;
        }
        let counted = if file.letters {
            json_lines::count_named(op, &file.path, &erases_letter).await
        } else {
            file.format.count_named(op, &file.path, &count_row).await
        };
        let (total, erased) = match counted {
            Ok(counted) => counted,
            // Merged or expired away since the listing: nothing of it is left to erase.
            Err(FormatError::Storage(err)) if err.kind() == opendal::ErrorKind::NotFound => {
                continue;
            }
            Err(err) => return abandon(renames, None, err.on(storage, "read", &file.path)),
        };
        if erased == 0 {
            continue;
        }
        if file.letters {
            dead_letters += erased;
        } else {
            rows += erased;
        }
        retired.push(file.path.clone());
        if erased == total {
            continue;
        }
        let extension = file.format.extension();
        let (first, last) = (file.first, file.last);
        let new_name = layout::rewritten_file_name(topic, partition, first, last, seq, extension);
        let tmp = layout::tmp_path(topic, partition, &tag, "erase", &new_name);
        let rewritten = if file.letters {
            json_lines::rewrite_without(op, &file.path, &tmp, &erases_letter).await
        } else {
            file.format
                .rewrite_without(op, &file.path, &tmp, &erases_row)
                .await
        };
        if let Err(err) = rewritten {
            let err = err.on(storage, "rewrite", &file.path);
            return abandon(renames, Some(tmp), err);
        }
        let (dir, _) = file.path.rsplit_once('/').expect("a file has a folder");
        renames.push(PendingRename {
            tmp,
            path: format!("{dir}/{new_name}"),
        });
    }
    let mut ids = erased_ids.into_inner();
    ids.sort_unstable();
    ids.dedup();
    if let Err(err) =
        requests::record_erased_ids(storage, topic, &request.id, partition, &ids).await
    {
        return abandon(renames, None, err);
    }
    let erased = Erased {
        request: request.id.clone(),
        rows,
        dead_letters,
        files: retired.len() as u64,
    };
    Ok(Written::Change(Change {
        recorded: Recorded::Erasure(erased.clone()),
        files: renames,
        retired,
        report: erased,
    }))
}

/// The partition's landed files and dead letters, with their offsets.
async fn candidates(lake: &Lake, partition: i32) -> Result<Vec<Candidate>, StorageError> {
    let (topic, storage) = (lake.topic(), lake.storage());
    let mut found = Vec::new();
    for hour in listing::hours(storage, topic, None).await? {
        let files = listing::partition_files(storage, topic, &hour.dir, partition).await?;
        found.extend(files.into_iter().map(|path| (path, false)));
    }
    let invalid = layout::invalid_path(topic, "");
    let letters = listing::partition_files(storage, topic, &invalid, partition).await?;
    found.extend(letters.into_iter().map(|path| (path, true)));
    Ok(found
        .into_iter()
        .filter_map(|(path, letters)| {
            let name = path.rsplit('/').next()?;
            let (first, last) = layout::parse_file_name(name, topic, partition)?;
            let format = if letters {
                LandingFormat::Json
            } else {
                LandingFormat::of_path(name)?
            };
            Some(Candidate {
                path,
                letters,
                format,
                first,
                last,
            })
        })
        .collect())
}
