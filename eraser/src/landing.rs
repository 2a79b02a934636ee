//! The landed files' part: the request is filed beside them (readable by the pipeline only),
//! each partition's holder carries it out through the partition's commit log, and the counts
//! are read back from each partition's latest entry. What the holders said is read beside the
//! request: the ids they erased, kept as tombstones before the request is withdrawn, and why
//! a partition failed, which an unfinished erasure reports.

use std::time::{Duration, Instant};

use lake::commit_log::{CommitLog, Found};
use lake::requests::{self as erasure, ErasureRequest};
use lake::{Storage, StorageError};
use serde::Serialize;
use url::Url;

use crate::error::Error;
use crate::outcome::Outcome;
use crate::tombstones::TombstoneWriter;

/// How often the partitions' logs are read while waiting.
const POLL: Duration = Duration::from_millis(250);

/// What the holders removed, over all partitions.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Rewritten {
    pub rows: u64,
    pub dead_letters: u64,
    pub files: u64,
    pub partitions: usize,
}

/// Files `request`, waits until every partition's holder carried it out (or `deadline`), keeps
/// the erased ids as tombstones, and withdraws it once all did.
pub async fn erase(
    url: &Url,
    topic: &str,
    request: &ErasureRequest,
    tombstones: &TombstoneWriter,
    deadline: Instant,
) -> Result<Outcome<Rewritten>, Error> {
    let storage = Storage::open(url)?;
    let log = CommitLog::new(storage.clone(), topic);
    // Earlier requests that were carried out after their command gave up: their ids are kept
    // and their names need not stay on file.
    for earlier in erasure::requests(&storage, topic).await? {
        if progress(&log, &earlier).await?.1.is_empty() {
            finish(&storage, topic, &earlier, tombstones).await?;
            tracing::info!(
                request = earlier.id,
                "withdrew an earlier request, carried out since"
            );
        }
    }
    erasure::file(&storage, topic, request).await?;
    loop {
        let (done, waiting) = progress(&log, request).await?;
        if waiting.is_empty() {
            finish(&storage, topic, request, tombstones).await?;
            return Ok(Outcome::Erased(done));
        }
        if Instant::now() >= deadline {
            let (failures, _) = erasure::notes(&storage, topic, &request.id).await?;
            let failing: Vec<String> = failures
                .iter()
                .filter(|f| waiting.contains(&f.partition))
                .map(|f| {
                    format!(
                        "partition {} failed {} time(s), last: {}",
                        f.partition, f.attempts, f.reason
                    )
                })
                .collect();
            let why = if failing.is_empty() {
                format!("partitions {waiting:?} have not landed every click before the request yet")
            } else {
                failing.join("; ")
            };
            return Ok(Outcome::Unfinished(format!(
                "{why}; the request stays on file and hdfs-consumer keeps trying"
            )));
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Keeps the ids the holders erased for `request` as tombstones, then withdraws it.
async fn finish(
    storage: &Storage,
    topic: &str,
    request: &ErasureRequest,
    tombstones: &TombstoneWriter,
) -> Result<(), Error> {
    let (_, ids) = erasure::notes(storage, topic, &request.id).await?;
    tombstones.keep(&ids, &request.id).await?;
    erasure::withdraw(storage, topic, &request.id).await?;
    Ok(())
}

/// What the partitions' holders removed for `request` so far, and the partitions that have not
/// carried it out yet.
async fn progress(
    log: &CommitLog,
    request: &ErasureRequest,
) -> Result<(Rewritten, Vec<i32>), StorageError> {
    let mut done = Rewritten::default();
    let mut waiting = Vec::new();
    for (&partition, &end) in &request.ends {
        let erased = match log.latest(partition).await? {
            Found::Entry {
                entry: Some(entry), ..
            } => entry.erasures.into_iter().find(|e| e.request == request.id),
            // Nothing ever landed there, and there is nothing to land.
            Found::Empty if end == 0 => Some(Default::default()),
            _ => None,
        };
        match erased {
            Some(erased) => {
                done.rows += erased.rows;
                done.dead_letters += erased.dead_letters;
                done.files += erased.files;
                done.partitions += 1;
            }
            None => waiting.push(partition),
        }
    }
    Ok((done, waiting))
}
