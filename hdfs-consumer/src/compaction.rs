//! When an hour's files are merged, and into which files, as pure functions.
//!
//! A partition's holder merges an hour once the hour has been over for `COMPACT_AFTER` and
//! nothing has landed in it for as long: a consumer catching up after an outage lands many
//! files in closed hours, and they are merged once, after it has caught up, rather than after
//! each. The hour's files of the partition, in offset order, are packed into groups of up to
//! `COMPACT_TARGET_BYTES`; each group of two files or more becomes one file. A file already that
//! large stays as it is, so late files in a compacted hour merge with the small ones only.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::commit_log::UncompactedHours;
use crate::layout::HourPartition;

/// When and how far hours are merged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompactionPolicy {
    /// How long an hour must have been over, and without a landing, before it is merged;
    /// `None`: never.
    pub after: Option<Duration>,
    /// A merged file holds inputs of up to this many bytes in all.
    pub target_bytes: u64,
}

/// The first hour of `uncompacted` due for merging at `now`.
pub fn due_hour(
    uncompacted: &UncompactedHours,
    now: DateTime<Utc>,
    policy: &CompactionPolicy,
) -> Option<HourPartition> {
    let after = chrono::Duration::from_std(policy.after?).ok()?;
    uncompacted
        .iter()
        .find(|(hour, last_landed)| hour.end().max(**last_landed) + after <= now)
        .map(|(hour, _)| *hour)
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

    fn hour(dir: &str) -> HourPartition {
        HourPartition::parse_dir(dir).unwrap()
    }

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    const POLICY: CompactionPolicy = CompactionPolicy {
        after: Some(Duration::from_secs(600)),
        target_bytes: 100,
    };

    #[test]
    fn an_hour_is_due_once_over_and_quiet_for_the_wait() {
        let ten = hour("dt=2026-12-03/hour=10");
        let landed: UncompactedHours = [(ten, at("2026-12-03T10:59:59Z"))].into();
        assert_eq!(due_hour(&landed, at("2026-12-03T11:09:59Z"), &POLICY), None);
        assert_eq!(
            due_hour(&landed, at("2026-12-03T11:10:00Z"), &POLICY),
            Some(ten)
        );

        let late: UncompactedHours = [(ten, at("2026-12-03T14:00:00Z"))].into();
        assert_eq!(
            due_hour(&late, at("2026-12-03T14:05:00Z"), &POLICY),
            None,
            "a late file waits for the landings into its hour to stop"
        );
        assert_eq!(
            due_hour(&late, at("2026-12-03T14:10:00Z"), &POLICY),
            Some(ten)
        );

        let never = CompactionPolicy {
            after: None,
            ..POLICY
        };
        assert_eq!(due_hour(&landed, at("2027-01-01T00:00:00Z"), &never), None);
        assert_eq!(
            due_hour(
                &UncompactedHours::new(),
                at("2027-01-01T00:00:00Z"),
                &POLICY
            ),
            None
        );
    }

    #[test]
    fn the_oldest_due_hour_comes_first() {
        let (nine, ten, now) = (
            hour("dt=2026-12-03/hour=09"),
            hour("dt=2026-12-03/hour=10"),
            hour("dt=2026-12-03/hour=11"),
        );
        let landed: UncompactedHours = [
            (now, at("2026-12-03T11:30:00Z")),
            (ten, at("2026-12-03T11:00:02Z")),
            (nine, at("2026-12-03T10:00:01Z")),
        ]
        .into();
        assert_eq!(
            due_hour(&landed, at("2026-12-03T11:31:00Z"), &POLICY),
            Some(nine)
        );
    }

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
