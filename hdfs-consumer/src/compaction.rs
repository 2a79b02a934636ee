//! When an hour's files are merged, as a pure function; how is the lake's (`lake::merge`).
//!
//! A partition's holder merges an hour once the hour has been over for `COMPACT_AFTER` and
//! nothing has landed in it for as long: a consumer catching up after an outage lands many
//! files in closed hours, and they are merged once, after it has caught up, rather than after
//! each.

use std::time::Duration;

use chrono::{DateTime, Utc};

use lake::HourPartition;
use lake::commit_log::UncompactedHours;

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
}
