//! Forgetting on time: with `RETENTION` set, the sink deletes the clicks older than it from the
//! search cluster, every [`SWEEP_EVERY`].
//!
//! A daily index `<prefix>-YYYY.MM.DD` holds the clicks of that UTC day. Once the whole day is
//! older than the retention the index is deleted; the day the limit falls in has its older
//! clicks deleted by query. Both are harmless to do twice (an index already gone is a 404, a
//! query that finds nothing deletes nothing), so every sink process sweeps on its own and none
//! needs to be elected. A late click for an expired day recreates its index, and the next sweep
//! deletes it again.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};

use crate::elastic::Elastic;
use crate::metrics::SinkMetrics;

/// How often a sink looks for expired clicks.
pub const SWEEP_EVERY: Duration = Duration::from_secs(30);

/// What is expired at a moment: whole indices, and the one index whose older clicks go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expired {
    pub indices: Vec<String>,
    /// The index of the day the limit falls in, and the limit: its clicks before it go.
    pub partly: Option<(String, DateTime<Utc>)>,
}

/// The day of a daily index of `prefix`, or `None` for any other index.
fn day_of(prefix: &str, index: &str) -> Option<NaiveDate> {
    let date = index.strip_prefix(prefix)?.strip_prefix('-')?;
    NaiveDate::parse_from_str(date, "%Y.%m.%d").ok()
}

/// Which of `indices` hold only clicks older than `retention` at `now`, and which one holds
/// some.
pub fn expired(
    prefix: &str,
    indices: &[String],
    now: DateTime<Utc>,
    retention: Duration,
) -> Expired {
    let mut expired = Expired {
        indices: Vec::new(),
        partly: None,
    };
    let Some(limit) = TimeDelta::from_std(retention)
        .ok()
        .and_then(|retention| now.checked_sub_signed(retention))
    else {
        return expired;
    };
    for index in indices {
        let Some(day) = day_of(prefix, index) else {
            continue;
        };
        let start = day.and_hms_opt(0, 0, 0).expect("midnight").and_utc();
        let end = start + TimeDelta::days(1);
        if end <= limit {
            expired.indices.push(index.clone());
        } else if start < limit {
            expired.partly = Some((index.clone(), limit));
        }
    }
    expired.indices.sort();
    expired
}

/// One sweep: deletes what is expired now; the number of indices and documents deleted.
pub async fn sweep(
    elastic: &Elastic,
    retention: Duration,
    now: DateTime<Utc>,
) -> Result<(u64, u64), String> {
    let indices = elastic.indices().await?;
    let expired = expired(elastic.index_prefix(), &indices, now, retention);
    let mut deleted_indices = 0;
    for index in &expired.indices {
        if elastic.delete_index(index).await? {
            deleted_indices += 1;
        }
    }
    let deleted_documents = match &expired.partly {
        Some((index, limit)) => elastic.delete_older_than(index, limit).await?,
        None => 0,
    };
    Ok((deleted_indices, deleted_documents))
}

/// Sweeps every [`SWEEP_EVERY`] until the task is dropped: counts and logs what it deleted,
/// and logs (and retries at the next sweep) what failed.
pub async fn forget_forever(elastic: Arc<Elastic>, retention: Duration, metrics: SinkMetrics) {
    let mut every = tokio::time::interval(SWEEP_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        match sweep(&elastic, retention, Utc::now()).await {
            Ok((0, 0)) => {}
            Ok((indices, documents)) => {
                metrics.expired_indices.inc_by(indices);
                metrics.expired_documents.inc_by(documents);
                tracing::info!(
                    indices,
                    documents,
                    retention = %humantime::format_duration(retention),
                    "deleted clicks older than RETENTION"
                );
            }
            Err(reason) => {
                metrics.expiry_failures.inc();
                tracing::warn!(%reason, "could not delete clicks older than RETENTION; trying again later");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn whole_days_past_the_limit_go_and_the_limits_day_loses_its_older_clicks() {
        let now = DateTime::parse_from_rfc3339("2026-12-03T15:00:00Z")
            .unwrap()
            .to_utc();
        let indices = names(&[
            "web-events-2026.12.03",
            "web-events-2026.11.30",
            "web-events-2026.12.01",
            "web-events-2026.11.02",
            "web-events-extra",
            "other-2026.01.01",
            "web-events-2026.12.02",
        ]);
        let two_days = Duration::from_secs(2 * 86_400);
        let expired = expired("web-events", &indices, now, two_days);
        assert_eq!(
            expired.indices,
            names(&["web-events-2026.11.02", "web-events-2026.11.30"])
        );
        let limit = DateTime::parse_from_rfc3339("2026-12-01T15:00:00Z")
            .unwrap()
            .to_utc();
        assert_eq!(
            expired.partly,
            Some(("web-events-2026.12.01".into(), limit))
        );
        // A limit at midnight: the day before goes whole, nothing goes in part.
        let midnight = DateTime::parse_from_rfc3339("2026-12-03T00:00:00Z")
            .unwrap()
            .to_utc();
        let expired = expired_at(&indices, midnight, two_days);
        assert_eq!(
            expired.indices,
            names(&["web-events-2026.11.02", "web-events-2026.11.30"])
        );
        assert_eq!(expired.partly, None);
        // A retention longer than anything kept expires nothing.
        let forever = expired_at(&indices, now, Duration::from_secs(u64::MAX / 4));
        assert!(forever.indices.is_empty() && forever.partly.is_none());
    }

    fn expired_at(indices: &[String], now: DateTime<Utc>, retention: Duration) -> Expired {
        expired("web-events", indices, now, retention)
    }
}
