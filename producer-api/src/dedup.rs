//! Retries that do not duplicate: a click may carry its own `eventId`, made by the page when the
//! click happened, and the collector remembers the ids it accepted for a while, so a page that
//! sends a click again (its answer was lost, the page reloaded) is answered without producing
//! it twice. Beyond that window the sinks deduplicate on `eventId` anyway.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// How clicks that carry their own `eventId` are checked and remembered.
#[derive(Debug, Clone)]
pub struct EventIdSettings {
    /// How far a client's id may be from the collector's clock.
    pub max_skew: Duration,
    /// How long an accepted id is remembered, so a retry is not produced again.
    pub dedup_window: Duration,
    /// Most ids remembered at once; the oldest are forgotten first.
    pub dedup_max_ids: usize,
}

impl Default for EventIdSettings {
    fn default() -> Self {
        EventIdSettings {
            max_skew: Duration::from_secs(24 * 3600),
            dedup_window: Duration::from_secs(600),
            dedup_max_ids: 100_000,
        }
    }
}

/// Why a client's `eventId` is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventIdError {
    #[error("eventId {0:?} is not a UUID")]
    NotUuid(String),
    #[error(
        "eventId {0} is a UUID version {1}; a UUID v7 made when the click happened is expected"
    )]
    NotV7(Uuid, usize),
    #[error("eventId {id} was made at {made}, more than {window} from the collector's clock")]
    OutsideWindow {
        id: Uuid,
        made: String,
        window: String,
    },
}

/// Reads a client's `eventId`: a UUID v7 whose timestamp is within `window` of `now`, either
/// way (pages keep clicks made offline, and clocks drift).
pub fn parse_client_event_id(
    raw: &str,
    now: DateTime<Utc>,
    window: Duration,
) -> Result<Uuid, EventIdError> {
    let id = Uuid::try_parse(raw.trim()).map_err(|_| EventIdError::NotUuid(raw.to_owned()))?;
    let version = id.get_version_num();
    let Some(timestamp) = id.get_timestamp().filter(|_| version == 7) else {
        return Err(EventIdError::NotV7(id, version));
    };
    let (seconds, nanos) = timestamp.to_unix();
    let made = DateTime::<Utc>::from_timestamp(seconds as i64, nanos).unwrap_or_default();
    let skew = (now - made).abs().to_std().unwrap_or(Duration::MAX);
    if skew > window {
        return Err(EventIdError::OutsideWindow {
            id,
            made: made.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            window: humantime::format_duration(window).to_string(),
        });
    }
    Ok(id)
}

/// What the collector knows of an id it is about to produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// Not seen within the window: produce it (and release it if that fails).
    New,
    /// Accepted within the window: answer it as accepted, do not produce it again.
    Duplicate,
}

/// Ids accepted recently, for `window`, at most `capacity` of them (the oldest are forgotten
/// first, so under a flood the window shortens rather than memory growing).
#[derive(Debug)]
pub struct RecentIds {
    window: Duration,
    capacity: usize,
    seen: Mutex<Seen>,
}

#[derive(Debug, Default)]
struct Seen {
    at: HashMap<Uuid, Instant>,
    /// Claims in the order they were made, which is the order they expire in.
    order: VecDeque<(Instant, Uuid)>,
}

impl Seen {
    /// Forgets the oldest claim; a claim released and made again is only forgotten by its
    /// newest entry.
    fn forget_oldest(&mut self) {
        if let Some((at, id)) = self.order.pop_front()
            && self.at.get(&id) == Some(&at)
        {
            self.at.remove(&id);
        }
    }
}

impl RecentIds {
    pub fn new(window: Duration, capacity: usize) -> Self {
        RecentIds {
            window,
            capacity: capacity.max(1),
            seen: Mutex::default(),
        }
    }

    /// Claims `id` at `now`: [`Claim::New`] the first time within the window, after which it
    /// is remembered, [`Claim::Duplicate`] while it is.
    pub fn claim(&self, id: Uuid, now: Instant) -> Claim {
        let mut seen = self.seen.lock().expect("not poisoned");
        while let Some(&(at, _)) = seen.order.front() {
            if now.saturating_duration_since(at) < self.window && seen.order.len() < self.capacity {
                break;
            }
            seen.forget_oldest();
        }
        if seen.at.contains_key(&id) {
            return Claim::Duplicate;
        }
        seen.at.insert(id, now);
        seen.order.push_back((now, id));
        Claim::New
    }

    /// Forgets a claim whose event could not be queued, so the page's retry is produced.
    pub fn release(&self, id: Uuid) {
        self.seen.lock().expect("not poisoned").at.remove(&id);
    }

    /// Ids remembered now.
    pub fn len(&self) -> usize {
        self.seen.lock().expect("not poisoned").at.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: Duration = Duration::from_secs(3600);

    #[test]
    fn a_fresh_v7_id_is_taken() {
        let id = Uuid::now_v7();
        assert_eq!(
            parse_client_event_id(&id.to_string(), Utc::now(), HOUR),
            Ok(id)
        );
    }

    #[test]
    fn anything_but_a_v7_near_the_clock_is_refused_by_name() {
        let now = Utc::now();
        assert!(matches!(
            parse_client_event_id("12", now, HOUR),
            Err(EventIdError::NotUuid(_))
        ));
        assert!(matches!(
            parse_client_event_id("936da01f-9abd-4d9d-80c7-02af85c822a8", now, HOUR),
            Err(EventIdError::NotV7(_, 4))
        ));
        let two_hours_ago = now - chrono::Duration::hours(2);
        let old = Uuid::new_v7(uuid::Timestamp::from_unix(
            uuid::NoContext,
            two_hours_ago.timestamp() as u64,
            0,
        ));
        let err = parse_client_event_id(&old.to_string(), now, HOUR).unwrap_err();
        assert!(matches!(err, EventIdError::OutsideWindow { .. }));
        assert!(err.to_string().contains("eventId"), "{err}");
        // The same id is fine where the window is wider, and so is one from the near future.
        assert!(parse_client_event_id(&old.to_string(), now, 3 * HOUR).is_ok());
        let soon = now + chrono::Duration::minutes(5);
        let ahead = Uuid::new_v7(uuid::Timestamp::from_unix(
            uuid::NoContext,
            soon.timestamp() as u64,
            0,
        ));
        assert!(parse_client_event_id(&ahead.to_string(), now, HOUR).is_ok());
    }

    #[test]
    fn a_repeat_within_the_window_is_a_duplicate_and_after_it_new() {
        let ids = RecentIds::new(Duration::from_secs(60), 100);
        let (id, start) = (Uuid::now_v7(), Instant::now());
        assert_eq!(ids.claim(id, start), Claim::New);
        assert_eq!(
            ids.claim(id, start + Duration::from_secs(59)),
            Claim::Duplicate
        );
        assert_eq!(ids.claim(id, start + Duration::from_secs(60)), Claim::New);
    }

    #[test]
    fn a_released_claim_is_new_again() {
        let ids = RecentIds::new(Duration::from_secs(60), 100);
        let (id, start) = (Uuid::now_v7(), Instant::now());
        assert_eq!(ids.claim(id, start), Claim::New);
        ids.release(id);
        assert_eq!(ids.claim(id, start + Duration::from_secs(1)), Claim::New);
        // The first claim's expiry does not forget the second one.
        let other = Uuid::now_v7();
        assert_eq!(
            ids.claim(other, start + Duration::from_secs(60)),
            Claim::New
        );
        assert_eq!(
            ids.claim(id, start + Duration::from_secs(60)),
            Claim::Duplicate
        );
    }

    #[test]
    fn memory_is_bounded_by_forgetting_the_oldest() {
        let ids = RecentIds::new(HOUR, 3);
        let now = Instant::now();
        let all: Vec<Uuid> = (0..5).map(|_| Uuid::now_v7()).collect();
        for id in &all {
            assert_eq!(ids.claim(*id, now), Claim::New);
        }
        assert_eq!(ids.len(), 3);
        assert_eq!(ids.claim(all[4], now), Claim::Duplicate);
        assert_eq!(ids.claim(all[0], now), Claim::New);
    }
}
