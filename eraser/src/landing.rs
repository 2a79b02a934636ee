//! The landed files' part: the request is filed beside them, each partition's holder carries it
//! out through the partition's commit log, and the counts are read back from each partition's
//! latest entry.

use std::time::{Duration, Instant};

use lake::commit_log::{CommitLog, Found};
use lake::requests::{self as erasure, ErasureRequest};
use lake::{Storage, StorageError};
use serde::Serialize;
use url::Url;

use crate::outcome::Outcome;

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

/// Files `request`, waits until every partition's holder carried it out (or `deadline`), and
/// withdraws it once all did.
pub async fn erase(
    url: &Url,
    topic: &str,
    request: &ErasureRequest,
    deadline: Instant,
) -> Result<Outcome<Rewritten>, StorageError> {
    let storage = Storage::open(url)?;
    let log = CommitLog::new(storage.clone(), topic);
    // Earlier requests that were carried out after their command gave up: their names need
    // not stay on file.
    for earlier in erasure::requests(&storage, topic).await? {
        if progress(&log, &earlier).await?.1.is_empty() {
            erasure::withdraw(&storage, topic, &earlier.id).await?;
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
            erasure::withdraw(&storage, topic, &request.id).await?;
            return Ok(Outcome::Erased(done));
        }
        if Instant::now() >= deadline {
            return Ok(Outcome::Unfinished(format!(
                "partitions {waiting:?} have not landed every click before the request yet; \
                 the request stays on file and hdfs-consumer carries it out when they have"
            )));
        }
        tokio::time::sleep(POLL).await;
    }
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
