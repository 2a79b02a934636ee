//! Landing a batch: one file per run of records in the same hour, and one of dead letters,
//! written under `_tmp/` named for the claim that writes them, then handed to the protocol as
//! a change that records the batch's last offset.

use chrono::{DateTime, Utc};

use crate::Lake;
use crate::commit_log::{Held, PendingRename, Recorded};
use crate::expire::hour_expired;
use crate::file_format::{self, json_lines};
use crate::layout::{self, Destination, Dropped, FileDestination, HourPartition};
use crate::protocol::{Change, Written};
use crate::record::TopicRecord;
use crate::storage::StorageError;

/// What one landing wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Landed {
    pub last_offset: i64,
    /// Final paths, relative to the landing root, with their record counts.
    pub files: Vec<(String, usize)>,
    pub bytes: usize,
    pub invalid: usize,
    /// Clicks not landed because their hour is past the retention.
    pub expired: usize,
    /// Clicks not landed because they were erased.
    pub erased: usize,
    /// Clicks not landed because they repeat one landed within the repeat window.
    pub repeats: usize,
    /// The hours it landed data files in, each once.
    pub hours: Vec<HourPartition>,
}

/// Writes a batch's files; see the module.
pub(crate) async fn write(
    lake: &Lake,
    partition: i32,
    held: &Held,
    batch: &[TopicRecord],
    now: DateTime<Utc>,
) -> Result<Written<Landed>, StorageError> {
    let topic = lake.topic();
    let storage = lake.storage();
    // A click already past the retention is not landed: it would only be deleted.
    let limit = lake.retention_limit(now);
    let dropped_as = |why: Dropped| {
        batch
            .iter()
            .filter(|r| r.destination == Destination::Dropped(why))
            .count()
    };
    let (erased, repeats) = (dropped_as(Dropped::Erased), dropped_as(Dropped::Repeat));
    let kept: Vec<&TopicRecord> = batch
        .iter()
        .filter(|r| match (&r.destination, limit) {
            (Destination::Hour(hour), Some(limit)) => !hour_expired(hour, limit),
            (Destination::Dropped(_), _) => false,
            _ => true,
        })
        .collect();
    let expired = batch.len() - kept.len() - erased - repeats;
    let last_offset = batch.last().map_or(-1, |r| r.offset);
    let plan: Vec<(i64, Destination)> = kept.iter().map(|r| (r.offset, r.destination)).collect();
    let tag = held.owner.tag();
    let mut renames: Vec<PendingRename> = Vec::new();
    let mut files = Vec::new();
    let mut hours = Vec::new();
    let mut data_hours: Vec<HourPartition> = Vec::new();
    let (mut bytes, mut invalid) = (0, 0);
    for file in layout::plan_files(&plan) {
        let records = file.records.iter().map(|&index| kept[index]);
        let (first, last) = (file.first_offset, file.last_offset);
        let (tmp, path, written) = match &file.destination {
            FileDestination::Hour(hour) => {
                let extension = lake.format().extension();
                let name = layout::file_name(topic, partition, first, last, extension);
                let tmp = layout::tmp_path(topic, partition, &tag, "data", &name);
                if lake.noting_hours {
                    hours.push(*hour);
                }
                if !data_hours.contains(hour) {
                    data_hours.push(*hour);
                }
                let records = records.map(|r| (r.offset, r.line.as_slice()));
                let written = lake.format().write(storage.operator(), &tmp, records).await;
                (tmp, layout::data_path(topic, hour, &name), written)
            }
            FileDestination::Invalid => {
                invalid += file.records.len();
                let extension = file_format::DEAD_LETTER_EXTENSION;
                let name = layout::file_name(topic, partition, first, last, extension);
                let tmp = layout::tmp_path(topic, partition, &tag, "invalid", &name);
                let lines = records.map(|r| r.line.as_slice());
                let written = json_lines::write(storage.operator(), &tmp, lines).await;
                (tmp, layout::invalid_path(topic, &name), written)
            }
        };
        match written {
            Ok(written) => bytes += written as usize,
            Err(err) => {
                let mut tmp_files: Vec<String> = renames.into_iter().map(|r| r.tmp).collect();
                tmp_files.push(tmp.clone());
                return Ok(Written::Abandoned {
                    tmp: tmp_files,
                    otherwise: Err(err.on(storage, "write", &tmp)),
                });
            }
        }
        files.push((path.clone(), file.records.len()));
        renames.push(PendingRename { tmp, path });
    }
    Ok(Written::Change(Change {
        recorded: Recorded::Landing {
            last_offset,
            hours,
            at: now,
        },
        files: renames,
        retired: Vec::new(),
        report: Landed {
            last_offset,
            files,
            bytes,
            invalid,
            expired,
            erased,
            repeats,
            hours: data_hours,
        },
    }))
}
