//! Erasure: once the partition has landed everything produced before a request
//! ([`ErasureRequest::due`]), its holder rewrites each of its files that holds a named click
//! without it, under `_tmp/`, and hands the protocol a change naming the new files, the files
//! they replace and what was removed. A file left empty is only retired.

use crate::Lake;
use crate::commit_log::{Erased, Held, PendingRename, Recorded};
use crate::file_format::{self, LandingFormat};
use crate::layout;
use crate::listing;
use crate::protocol::{Change, Written};
use crate::requests::ErasureRequest;
use crate::storage::StorageError;

/// The rewrite of the partition's files without the clicks `request` names; see the module.
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
    // Each file of the partition, and whether it holds dead letters.
    let mut candidates = Vec::new();
    for hour in listing::hours(storage, topic, None).await? {
        let files = listing::partition_files(storage, topic, &hour.dir, partition).await?;
        candidates.extend(files.into_iter().map(|path| (path, false)));
    }
    let invalid = layout::invalid_path(topic, "");
    let letters = listing::partition_files(storage, topic, &invalid, partition).await?;
    candidates.extend(letters.into_iter().map(|path| (path, true)));
    let abandon = |renames: Vec<PendingRename>, tmp: Option<String>, err: StorageError| {
        let mut tmp_files: Vec<String> = renames.into_iter().map(|r| r.tmp).collect();
        tmp_files.extend(tmp);
        Ok(Written::Abandoned {
            tmp: tmp_files,
            otherwise: Err(err),
        })
    };
    for (path, is_letter) in candidates {
        let (dir, name) = path.rsplit_once('/').expect("a file has a folder");
        let Some((first, last)) = layout::parse_file_name(name, topic, partition) else {
            continue;
        };
        let format = if is_letter {
            LandingFormat::Json
        } else {
            match LandingFormat::of_path(name) {
                Some(format) => format,
                None => continue,
            }
        };
        // The lines to keep, and how many were named.
        let (kept, named): (Vec<Vec<u8>>, u64) = if is_letter {
            let bytes = match op.read(&path).await {
                Ok(bytes) => bytes.to_vec(),
                Err(err) if err.kind() == opendal::ErrorKind::NotFound => continue,
                Err(err) => return abandon(renames, None, storage.failed("read", &path)(err)),
            };
            let lines: Vec<&[u8]> = bytes
                .split(|b| *b == b'\n')
                .filter(|l| !l.is_empty())
                .collect();
            let kept: Vec<Vec<u8>> = lines
                .iter()
                .filter(|l| !request.names_dead_letter(l))
                .map(|l| l.to_vec())
                .collect();
            let named = (lines.len() - kept.len()) as u64;
            (kept, named)
        } else {
            // Most files hold none of the person's clicks: two columns tell, for Parquet.
            if format == LandingFormat::Parquet {
                let rows = match file_format::parquet::names_and_ids(op, &path).await {
                    Ok(rows) => rows,
                    Err(err) => return abandon(renames, None, err.on(storage, "read", &path)),
                };
                if !rows.iter().any(|(name, id)| request.names(name, id)) {
                    continue;
                }
            }
            let events = match format.read_events(op, &path).await {
                Ok(events) => events,
                Err(err) => return abandon(renames, None, err.on(storage, "read", &path)),
            };
            let total = events.len();
            let kept: Vec<Vec<u8>> = events
                .iter()
                .filter(|e| !request.names_event(e))
                .map(|e| serde_json::to_vec(e).expect("an event serializes"))
                .collect();
            let named = (total - kept.len()) as u64;
            (kept, named)
        };
        if named == 0 {
            continue;
        }
        if is_letter {
            dead_letters += named;
        } else {
            rows += named;
        }
        retired.push(path.clone());
        if kept.is_empty() {
            continue;
        }
        let extension = format.extension();
        let new_name = layout::rewritten_file_name(topic, partition, first, last, seq, extension);
        let tmp = layout::tmp_path(topic, partition, &tag, "erase", &new_name);
        // Dead letters are JSON lines whatever the landing format.
        let written = format.write(op, &tmp, kept.iter().map(Vec::as_slice)).await;
        if let Err(err) = written {
            let err = err.on(storage, "write", &tmp);
            return abandon(renames, Some(tmp), err);
        }
        renames.push(PendingRename {
            tmp,
            path: format!("{dir}/{new_name}"),
        });
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
