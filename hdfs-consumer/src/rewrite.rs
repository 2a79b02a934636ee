//! Forgetting landed clicks: hours past `RETENTION` deleted, and erasure requests carried out,
//! each through the partition's commit log as a compaction is.
//!
//! **Expire.** The holder lists the hours whose end is past the retention limit, publishes an
//! expiry entry naming its partition's files there (and its dead letters written before the
//! limit), and only then deletes them. It then removes the hour and day folders left empty:
//! only an empty folder is removed ([`Storage::remove_empty_dir`]), so a file another
//! partition lands there meanwhile stays, in a folder made again for it.
//!
//! **Erase.** Once the partition has landed everything produced before a request
//! ([`ErasureRequest::due`]), the holder rewrites each of its files that holds a named click
//! without it, under `_tmp/`, publishes an erasure entry naming the new files, the files they
//! replace and what was removed, then makes the new files visible and deletes the old. A file
//! left empty is only deleted.
//!
//! Either entry is refused like a landing when another member claimed the partition: a member
//! that lost it can neither delete nor bring back what the holder has since landed, merged or
//! erased. A claim that finds one of them as the latest entry finishes it.

use chrono::{DateTime, NaiveDate, Utc};

use crate::commit_log::{Erased, Held, PendingRename};
use crate::erasure::ErasureRequest;
use crate::file_format::LandingFormat;
use crate::landing::Landing;
use crate::layout::{self, HourPartition};
use crate::storage::StorageError;

/// What became of an expiry or an erasure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rewrite {
    /// Nothing of the partition was past the limit.
    Nothing,
    /// Published and done: `held` is the entry the partition holds now.
    Done {
        held: Held,
        /// Files deleted or replaced.
        files: usize,
        /// Clicks and dead letters removed (for an erasure).
        rows: u64,
        dead_letters: u64,
    },
    /// Published, but not finished: the next claim finishes it.
    Committed { held: Held, reason: String },
    /// Another member holds the partition: nothing changed.
    Refused { holder: String },
}

/// Whether an hour is past the retention limit: it ended at or before `limit`.
pub fn hour_expired(hour: &HourPartition, limit: DateTime<Utc>) -> bool {
    hour.end() <= limit
}

/// The day of a `dt=YYYY-MM-DD/` folder name.
fn day_of(dir: &str) -> Option<NaiveDate> {
    let name = dir.trim_end_matches('/').rsplit('/').next()?;
    NaiveDate::parse_from_str(name.strip_prefix("dt=")?, "%Y-%m-%d").ok()
}

impl Landing {
    /// The topic's hour folders, by hour, with their day folders; with `started_before`, only
    /// those of days that began before it (so an expiry lists the hours of a day or two, not
    /// of the whole retention).
    async fn hour_dirs(
        &self,
        started_before: Option<DateTime<Utc>>,
    ) -> Result<Vec<(HourPartition, String, String)>, StorageError> {
        let mut hours = Vec::new();
        for day in self.list_dirs(&layout::topic_dir(self.topic())).await? {
            let Some(date) = day_of(&day) else {
                continue;
            };
            let began = date.and_time(chrono::NaiveTime::MIN).and_utc();
            if started_before.is_some_and(|limit| began >= limit) {
                continue;
            }
            for dir in self.list_dirs(&day).await? {
                let name = dir.trim_end_matches('/');
                let relative = name.rsplitn(3, '/').take(2).collect::<Vec<_>>();
                let Some(hour) = (relative.len() == 2)
                    .then(|| format!("{}/{}", relative[1], relative[0]))
                    .and_then(|d| HourPartition::parse_dir(&d))
                else {
                    continue;
                };
                hours.push((hour, dir, day.clone()));
            }
        }
        hours.sort();
        Ok(hours)
    }

    /// The partition's files in a folder (landed data in any format, or dead letters).
    async fn partition_files(
        &self,
        dir: &str,
        partition: i32,
    ) -> Result<Vec<String>, StorageError> {
        Ok(self
            .list_files(dir)
            .await?
            .into_iter()
            .filter(|name| layout::parse_file_name(name, self.topic(), partition).is_some())
            .map(|name| format!("{dir}{name}"))
            .collect())
    }

    /// Deletes the partition's files in hours that ended at or before `limit`, and its dead
    /// letters last written before it; see the module's **Expire**.
    pub async fn expire(
        &self,
        partition: i32,
        held: &Held,
        limit: DateTime<Utc>,
    ) -> Result<Rewrite, StorageError> {
        let expired: Vec<(HourPartition, String, String)> = self
            .hour_dirs(Some(limit))
            .await?
            .into_iter()
            .filter(|(hour, _, _)| hour_expired(hour, limit))
            .collect();
        let mut inputs = Vec::new();
        for (_, dir, _) in &expired {
            inputs.extend(self.partition_files(dir, partition).await?);
        }
        let invalid = layout::invalid_path(self.topic(), "");
        for path in self.partition_files(&invalid, partition).await? {
            let written = self
                .storage_handle()
                .operator()
                .stat(&path)
                .await
                .map_err(self.storage_handle().failed("stat", &path))?
                .last_modified();
            let written = written.map(|at| at.into_inner().as_millisecond());
            if written.is_some_and(|at| at <= limit.timestamp_millis()) {
                inputs.push(path);
            }
        }
        let hours: Vec<HourPartition> = held
            .uncompacted
            .keys()
            .filter(|hour| hour_expired(hour, limit))
            .copied()
            .collect();
        if inputs.is_empty() && hours.is_empty() {
            self.remove_empty(&expired).await;
            return Ok(Rewrite::Nothing);
        }
        let files = inputs.len();
        let (seq, entry) = held.expiry(&hours, inputs);
        let entry = match self.publish_entry(partition, held, seq, entry).await? {
            Ok(published) => published,
            Err(holder) => return Ok(Rewrite::Refused { holder }),
        };
        let held = held.published(seq, &entry);
        if let Err(err) = self.delete_all(&entry.inputs).await {
            return Ok(Rewrite::Committed {
                held,
                reason: err.to_string(),
            });
        }
        self.log().expire_after(partition, seq).await;
        self.remove_empty(&expired).await;
        Ok(Rewrite::Done {
            held,
            files,
            rows: 0,
            dead_letters: 0,
        })
    }

    /// Removes expired hour folders, and then their days, where they are empty; a folder with
    /// a file in it stays (another partition's, or one landed meanwhile).
    async fn remove_empty(&self, expired: &[(HourPartition, String, String)]) {
        let mut days = Vec::new();
        for (_, dir, day) in expired {
            let _ = self.storage_handle().remove_empty_dir(dir).await;
            if !days.contains(day) {
                days.push(day.clone());
            }
        }
        for day in days {
            let _ = self.storage_handle().remove_empty_dir(&day).await;
        }
    }

    /// Carries out `request` on the partition: see the module's **Erase**.
    pub async fn erase(
        &self,
        partition: i32,
        held: &Held,
        request: &ErasureRequest,
    ) -> Result<Rewrite, StorageError> {
        let seq = held.seq + 1;
        let tag = held.owner.tag();
        let op = self.storage_handle().operator();
        let mut renames = Vec::new();
        let mut inputs = Vec::new();
        let (mut rows, mut dead_letters) = (0u64, 0u64);
        // Each file of the partition, and whether it holds dead letters.
        let mut candidates = Vec::new();
        for (_, dir, _) in self.hour_dirs(None).await? {
            let files = self.partition_files(&dir, partition).await?;
            candidates.extend(files.into_iter().map(|path| (path, false)));
        }
        let invalid = layout::invalid_path(self.topic(), "");
        let letters = self.partition_files(&invalid, partition).await?;
        candidates.extend(letters.into_iter().map(|path| (path, true)));
        for (path, is_letter) in candidates {
            let (dir, name) = path.rsplit_once('/').expect("a file has a folder");
            let Some((first, last)) = layout::parse_file_name(name, self.topic(), partition) else {
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
                    Err(err) => return Err(self.storage_handle().failed("read", &path)(err)),
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
                    let rows = crate::file_format::parquet::names_and_ids(op, &path)
                        .await
                        .map_err(|err| self.format_failed("read", &path, err))?;
                    if !rows.iter().any(|(name, id)| request.names(name, id)) {
                        continue;
                    }
                }
                let events = format
                    .read_events(op, &path)
                    .await
                    .map_err(|err| self.format_failed("read", &path, err))?;
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
            inputs.push(path.clone());
            if kept.is_empty() {
                continue;
            }
            let new_name = layout::rewritten_file_name(
                self.topic(),
                partition,
                first,
                last,
                seq,
                format.extension(),
            );
            let tmp = layout::tmp_path(self.topic(), partition, &tag, "erase", &new_name);
            // Dead letters are JSON lines whatever the landing format.
            let written = format.write(op, &tmp, kept.iter().map(Vec::as_slice)).await;
            if let Err(err) = written {
                self.discard(&renames).await;
                let _ = op.delete(&tmp).await;
                if self.taken_after(partition, held).await {
                    return Ok(Rewrite::Refused {
                        holder: self.holder(partition, Some(seq)).await,
                    });
                }
                return Err(self.format_failed("write", &tmp, err));
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
            files: inputs.len() as u64,
        };
        let files = inputs.len();
        let (seq, entry) = held.erasure(erased, renames, inputs);
        let entry = match self.publish_entry(partition, held, seq, entry).await? {
            Ok(published) => published,
            Err(holder) => return Ok(Rewrite::Refused { holder }),
        };
        let held = held.published(seq, &entry);
        let finished = match self.make_visible(&entry.files).await {
            Ok(()) => self.delete_all(&entry.inputs).await,
            Err(err) => Err(err),
        };
        if let Err(err) = finished {
            return Ok(Rewrite::Committed {
                held,
                reason: err.to_string(),
            });
        }
        self.log().expire_after(partition, seq).await;
        Ok(Rewrite::Done {
            held,
            files,
            rows,
            dead_letters,
        })
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

    #[test]
    fn only_day_folders_are_days() {
        assert_eq!(
            day_of("t/dt=2026-12-01/"),
            NaiveDate::from_ymd_opt(2026, 12, 1)
        );
        assert_eq!(day_of("t/_invalid/"), None);
        assert_eq!(day_of("t/dt=someday/"), None);
    }
}
