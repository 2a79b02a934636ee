//! Expiry: the holder of a partition lists the hours whose end is past the retention limit,
//! and hands the protocol a change retiring its partition's files there, and its dead letters
//! written before the limit. Once it is carried out, the hour and day folders left empty are
//! removed: only an empty folder is ([`Storage::remove_empty_dir`]), so a file another
//! partition lands there meanwhile stays, in a folder made again for it.

use chrono::{DateTime, Utc};

use crate::Lake;
use crate::commit_log::{Held, Recorded};
use crate::layout::{self, HourPartition};
use crate::listing::{self, HourDir};
use crate::protocol::{Change, Written};
use crate::storage::{Storage, StorageError};

/// What one expiry deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expired {
    /// Files deleted.
    pub files: usize,
}

/// Whether an hour is past the retention limit: it ended at or before `limit`.
pub fn hour_expired(hour: &HourPartition, limit: DateTime<Utc>) -> bool {
    hour.end() <= limit
}

/// The expiry of the partition's files in hours that ended at or before `limit`, and the
/// expired hour folders, to remove once it is carried out.
pub(crate) async fn write(
    lake: &Lake,
    partition: i32,
    held: &Held,
    limit: DateTime<Utc>,
) -> Result<(Written<Expired>, Vec<HourDir>), StorageError> {
    let (topic, storage) = (lake.topic(), lake.storage());
    let expired: Vec<HourDir> = listing::hours(storage, topic, Some(limit))
        .await?
        .into_iter()
        .filter(|h| hour_expired(&h.hour, limit))
        .collect();
    let mut retired = Vec::new();
    for hour in &expired {
        retired.extend(listing::partition_files(storage, topic, &hour.dir, partition).await?);
    }
    let invalid = layout::invalid_path(topic, "");
    for path in listing::partition_files(storage, topic, &invalid, partition).await? {
        let written = storage
            .operator()
            .stat(&path)
            .await
            .map_err(storage.failed("stat", &path))?
            .last_modified();
        let written = written.map(|at| at.into_inner().as_millisecond());
        if written.is_some_and(|at| at <= limit.timestamp_millis()) {
            retired.push(path);
        }
    }
    let hours: Vec<HourPartition> = held
        .uncompacted
        .keys()
        .filter(|hour| hour_expired(hour, limit))
        .copied()
        .collect();
    if retired.is_empty() && hours.is_empty() {
        let unchanged = Written::Unchanged {
            held: held.clone(),
            skipped: None,
        };
        return Ok((unchanged, expired));
    }
    let change = Change {
        recorded: Recorded::Expiry { hours },
        files: Vec::new(),
        report: Expired {
            files: retired.len(),
        },
        retired,
    };
    Ok((Written::Change(change), expired))
}

/// Removes expired hour folders, and then their days, where they are empty; a folder with a
/// file in it stays (another partition's, or one landed meanwhile).
pub(crate) async fn remove_empty(storage: &Storage, expired: &[HourDir]) {
    let mut days = Vec::new();
    for hour in expired {
        let _ = storage.remove_empty_dir(&hour.dir).await;
        if !days.contains(&hour.day) {
            days.push(hour.day.clone());
        }
    }
    for day in days {
        let _ = storage.remove_empty_dir(&day).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_hour_expires_once_it_ended_at_or_before_the_limit() {
        let hour = HourPartition::parse_dir("dt=2026-12-01/hour=05").unwrap();
        let limit = |t: &str| t.parse::<DateTime<Utc>>().unwrap();
        assert!(!hour_expired(&hour, limit("2026-12-01T05:59:59Z")));
        assert!(hour_expired(&hour, limit("2026-12-01T06:00:00Z")));
        assert!(hour_expired(&hour, limit("2026-12-03T00:00:00Z")));
    }
}
