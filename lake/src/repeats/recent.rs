//! A partition's repeat window rebuilt from its landed files, as a holder does when it claims
//! the partition: the newest hour with files of the partition, and the hours before it back to
//! the window's start, read for their ids and times only (Parquet's id, time and offset
//! columns), and the dead letters that carry an id from the first click read back on, then
//! seen in offset order, as the clicks were first landed.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{LandedClick, RepeatWindow};
use crate::Lake;
use crate::file_format::{FormatError, LandingFormat, json_lines};
use crate::listing;
use crate::storage::{Storage, StorageError};

/// What a rebuild found.
#[derive(Debug)]
pub struct Rebuilt {
    pub window: RepeatWindow,
    /// Files read.
    pub files: usize,
    /// Files that could not be read as a landed format: their clicks are not in the window,
    /// so a repeat of one of them lands (named, to be looked at).
    pub unreadable: Vec<String>,
}

impl Rebuilt {
    /// Counts the reading of the file at `path`: read, or not readable as a landed file (named,
    /// and passed over). Storage failing is an error: the rebuild is tried again.
    fn count_read(
        &mut self,
        read: Result<(), FormatError>,
        path: String,
        storage: &Storage,
    ) -> Result<(), StorageError> {
        match read {
            Ok(()) => self.files += 1,
            Err(err) if err.storage_kind().is_none() => self.unreadable.push(path),
            Err(err) => return Err(err.on(storage, "read", &path)),
        }
        Ok(())
    }
}

/// The window of `span` for `partition`, as its landed files leave it; see the module.
pub async fn window(lake: &Lake, partition: i32, span: Duration) -> Result<Rebuilt, StorageError> {
    let mut rebuilt = Rebuilt {
        window: RepeatWindow::new(span),
        files: 0,
        unreadable: Vec::new(),
    };
    if span.is_zero() {
        return Ok(rebuilt);
    }
    let (storage, topic) = (lake.storage(), lake.topic());
    let span = chrono::Duration::from_std(span).unwrap_or(chrono::Duration::MAX);
    let mut clicks: Vec<(i64, LandedClick)> = Vec::new();
    let mut newest: Option<DateTime<Utc>> = None;
    for hour in listing::hours(storage, topic, None)
        .await?
        .into_iter()
        .rev()
    {
        // An hour ends before the window starts: nothing older matters.
        if newest.is_some_and(|newest| hour.hour.end() < newest - span) {
            break;
        }
        for path in listing::partition_files(storage, topic, &hour.dir, partition).await? {
            let Some(format) = LandingFormat::of_path(&path) else {
                continue;
            };
            let first_offset = file_offsets(&path, topic, partition).map_or(i64::MIN, |(f, _)| f);
            let mut newest_here = newest;
            let mut keep = |click: LandedClick| {
                newest_here = Some(newest_here.map_or(click.at, |n| n.max(click.at)));
                // Older than the window before the newest time so far: older still before the
                // newest of all.
                if newest_here.is_some_and(|n| click.at >= n - span) {
                    clicks.push((click.offset.unwrap_or(first_offset), click));
                }
            };
            let read = format
                .read_clicks(storage.operator(), &path, &mut keep)
                .await;
            rebuilt.count_read(read, path, storage)?;
            newest = newest_here;
        }
    }
    // Dead letters that carry an id land once too: those of files that end after the first
    // click read back (dead letters are not in hours, and a partition's offsets follow time).
    let first_offset = clicks.iter().map(|(offset, _)| *offset).min();
    let invalid_dir = crate::layout::invalid_path(topic, "");
    for path in listing::partition_files(storage, topic, &invalid_dir, partition).await? {
        let ends_after = file_offsets(&path, topic, partition)
            .is_some_and(|(_, last)| first_offset.is_none_or(|first| last >= first));
        if !ends_after {
            continue;
        }
        let operator = storage.operator();
        let mut keep = |click: LandedClick| {
            newest = Some(newest.map_or(click.at, |n| n.max(click.at)));
            clicks.push((click.offset.unwrap_or(i64::MIN), click));
        };
        let read = json_lines::read_dead_letter_clicks(operator, &path, &mut keep).await;
        rebuilt.count_read(read, path, storage)?;
    }
    if let Some(newest) = newest {
        clicks.retain(|(_, click)| click.at >= newest - span);
    }
    // Clicks in offset order, those of a file without offsets in the file's order.
    clicks.sort_by_key(|(offset, _)| *offset);
    for (_, click) in clicks {
        rebuilt.window.see(click.id, click.at);
    }
    Ok(rebuilt)
}

/// The first and last offsets a landed file's name gives.
fn file_offsets(path: &str, topic: &str, partition: i32) -> Option<(i64, i64)> {
    let name = path.rsplit('/').next()?;
    crate::layout::parse_file_name(name, topic, partition)
}
