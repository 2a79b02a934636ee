//! What the lake holds, as its writers find it: the topic's hour folders, and one partition's
//! files in a folder.

use chrono::{DateTime, NaiveDate, Utc};

use crate::layout::{self, HourPartition};
use crate::storage::{Storage, StorageError};

/// An hour folder of the topic.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct HourDir {
    pub hour: HourPartition,
    /// The hour's folder, with a trailing slash.
    pub dir: String,
    /// Its day's folder, with a trailing slash.
    pub day: String,
}

/// The topic's hour folders, by hour; with `started_before`, only those of days that began
/// before it (so an expiry lists the hours of a day or two, not of the whole retention).
pub async fn hours(
    storage: &Storage,
    topic: &str,
    started_before: Option<DateTime<Utc>>,
) -> Result<Vec<HourDir>, StorageError> {
    let mut hours = Vec::new();
    for day in storage.list_dirs(&layout::topic_dir(topic)).await? {
        let Some(date) = day_of(&day) else {
            continue;
        };
        let began = date.and_time(chrono::NaiveTime::MIN).and_utc();
        if started_before.is_some_and(|limit| began >= limit) {
            continue;
        }
        for dir in storage.list_dirs(&day).await? {
            let name = dir.trim_end_matches('/');
            let relative = name.rsplitn(3, '/').take(2).collect::<Vec<_>>();
            let Some(hour) = (relative.len() == 2)
                .then(|| format!("{}/{}", relative[1], relative[0]))
                .and_then(|d| HourPartition::parse_dir(&d))
            else {
                continue;
            };
            hours.push(HourDir {
                hour,
                dir,
                day: day.clone(),
            });
        }
    }
    hours.sort();
    Ok(hours)
}

/// The partition's files in a folder (landed data in any format, or dead letters), as paths.
pub async fn partition_files(
    storage: &Storage,
    topic: &str,
    dir: &str,
    partition: i32,
) -> Result<Vec<String>, StorageError> {
    Ok(storage
        .list_files(dir)
        .await?
        .into_iter()
        .filter(|name| layout::parse_file_name(name, topic, partition).is_some())
        .map(|name| format!("{dir}{name}"))
        .collect())
}

/// The day of a `dt=YYYY-MM-DD/` folder name.
fn day_of(dir: &str) -> Option<NaiveDate> {
    let name = dir.trim_end_matches('/').rsplit('/').next()?;
    NaiveDate::parse_from_str(name.strip_prefix("dt=")?, "%Y-%m-%d").ok()
}

#[cfg(test)]
mod tests {
    use super::*;

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
