//! Repeated clicks: a browser that never got the answer to a click sends it again, with the
//! same `eventId`, possibly through another collector. The collector keys each record by its
//! id, so every copy is in one partition, and there [`RepeatWindow`] lands the first copy only.
//!
//! The rule is a function of the partition's records in offset order, so the holder, a new
//! holder and a replay decide alike: a click repeats when an earlier click of the partition,
//! landed, has its id and a time (when the collector received it) no older than the window
//! before the click's own time, nor than the window before the newest time landed so far. A
//! new holder rebuilds the window from the landed files ([`recent`]), never from memory alone.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// The ids of one partition's recent clicks, and what decides whether a click repeats one.
#[derive(Debug, Clone)]
pub struct RepeatWindow {
    span_ms: i64,
    /// The newest time of a kept click, in Unix milliseconds.
    newest_ms: Option<i64>,
    /// The kept ids, in generations of a quarter of the span each, oldest first. A generation
    /// goes whole once its newest click is past the window, so the ids held are at most about
    /// a quarter more than those in the window, and nothing is swept id by id.
    generations: VecDeque<Generation>,
}

/// The ids kept while one generation was the newest.
#[derive(Debug, Clone)]
struct Generation {
    /// When its first click was received.
    opened_ms: i64,
    /// The newest time among its clicks.
    newest_ms: i64,
    /// Each id (as two halves: an entry of 24 bytes, where a `u128` key takes 32) and the time
    /// its click was received.
    times: HashMap<(u64, u64), i64>,
}

/// How many generations the span is cut into.
const GENERATIONS_PER_SPAN: i64 = 4;

/// What the window says of a click.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// The first copy within the window: it is landed, and kept.
    First,
    /// A copy of a click landed within the window: landed past.
    Repeat,
}

impl RepeatWindow {
    /// A window of `span`; an empty span keeps nothing and finds no repeat.
    pub fn new(span: Duration) -> Self {
        RepeatWindow {
            span_ms: i64::try_from(span.as_millis()).unwrap_or(i64::MAX),
            newest_ms: None,
            generations: VecDeque::new(),
        }
    }

    /// The window's span.
    pub fn span(&self) -> Duration {
        Duration::from_millis(self.span_ms.max(0) as u64)
    }

    /// Whether the click `id`, received `at`, repeats one kept; a first copy is kept.
    pub fn see(&mut self, id: Uuid, at: DateTime<Utc>) -> Seen {
        if self.span_ms == 0 {
            return Seen::First;
        }
        let at_ms = at.timestamp_millis();
        let key = id.as_u64_pair();
        // Within the window before this click, and before the newest landed. An id past it
        // may still be held, and does not count.
        let oldest = self
            .oldest_kept_ms()
            .max(at_ms.saturating_sub(self.span_ms));
        let kept = self
            .generations
            .iter()
            .rev()
            .find_map(|g| g.times.get(&key));
        if kept.is_some_and(|&kept| kept >= oldest) {
            return Seen::Repeat;
        }
        self.newest_ms = Some(self.newest_ms.map_or(at_ms, |n| n.max(at_ms)));
        self.keep(key, at_ms);
        Seen::First
    }

    /// Keeps `key` in the newest generation, opening one when the newest is a quarter of the
    /// span old, and lets go of the generations wholly past the window.
    fn keep(&mut self, key: (u64, u64), at_ms: i64) {
        let length = (self.span_ms / GENERATIONS_PER_SPAN).max(1);
        let open = self
            .generations
            .back()
            .is_none_or(|g| at_ms.saturating_sub(g.opened_ms) >= length);
        if open {
            // Sized for as many ids as the last generation held: one allocation, rarely grown.
            let expected = self.generations.back().map_or(0, |g| g.times.len());
            self.generations.push_back(Generation {
                opened_ms: at_ms,
                newest_ms: at_ms,
                times: HashMap::with_capacity(expected),
            });
        }
        let newest = self.generations.back_mut().expect("one was opened");
        newest.newest_ms = newest.newest_ms.max(at_ms);
        newest.times.insert(key, at_ms);
        let oldest = self.oldest_kept_ms();
        while self
            .generations
            .front()
            .is_some_and(|g| g.newest_ms < oldest)
        {
            self.generations.pop_front();
        }
    }

    /// The oldest time that still counts: the window before the newest time kept.
    fn oldest_kept_ms(&self) -> i64 {
        self.newest_ms
            .map_or(i64::MIN, |newest| newest.saturating_sub(self.span_ms))
    }

    /// How many ids are held, past the window or not.
    pub fn len(&self) -> usize {
        self.generations.iter().map(|g| g.times.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes the window holds, as allocated (for the memory figure in the docs): each
    /// map's slots (a power of two, at most seven eighths full) and their control bytes.
    pub fn allocated_bytes(&self) -> usize {
        let slot = std::mem::size_of::<((u64, u64), i64)>() + 1;
        self.generations
            .iter()
            .map(|g| match g.times.capacity() {
                0 => 0,
                capacity => (capacity * 8).div_ceil(7).next_power_of_two() * slot,
            })
            .sum()
    }
}

/// One landed click as the window reads it back: where it is in its partition, its id, and
/// when it was received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LandedClick {
    /// `None` in files landed before offsets were kept; such a file's clicks count in file
    /// order at its first offset.
    pub offset: Option<i64>,
    pub id: Uuid,
    pub at: DateTime<Utc>,
}

/// The `eventId` and `timestamp` a record value carries, whether or not it is a valid event.
pub fn carried(value: &[u8]) -> Option<(Uuid, DateTime<Utc>)> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Carried<'a> {
        event_id: Uuid,
        #[serde(borrow)]
        timestamp: std::borrow::Cow<'a, str>,
    }
    let carried: Carried = serde_json::from_slice(value).ok()?;
    let at = DateTime::parse_from_rfc3339(&carried.timestamp).ok()?;
    Some((carried.event_id, at.with_timezone(&Utc)))
}

pub mod recent;

#[cfg(test)]
mod tests {
    use super::*;

    fn at(second: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_796_000_000 + second, 0).unwrap()
    }

    #[test]
    fn a_copy_within_the_window_repeats_and_one_after_it_does_not() {
        let mut window = RepeatWindow::new(Duration::from_secs(60));
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        assert_eq!(window.see(a, at(0)), Seen::First);
        assert_eq!(window.see(b, at(1)), Seen::First);
        assert_eq!(window.see(a, at(30)), Seen::Repeat, "a retry 30 s later");
        assert_eq!(window.see(a, at(60)), Seen::Repeat, "at the window's edge");
        let c = Uuid::now_v7();
        assert_eq!(window.see(c, at(61)), Seen::First);
        assert_eq!(window.see(a, at(62)), Seen::First, "past the window");
        assert_eq!(window.see(a, at(63)), Seen::Repeat, "the late copy is kept");
    }

    #[test]
    fn the_oldest_ids_are_forgotten_and_memory_stays_bounded() {
        let mut window = RepeatWindow::new(Duration::from_secs(10));
        for n in 0..100_000 {
            let ms = n * 10; // a hundred clicks a second
            let at = DateTime::from_timestamp_millis(1_796_000_000_000 + ms).unwrap();
            assert_eq!(window.see(Uuid::now_v7(), at), Seen::First);
        }
        assert!(
            (1000..=1250).contains(&window.len()),
            "ten seconds of a hundred clicks a second, and a quarter more: {}",
            window.len()
        );
    }

    /// The figure the docs give: ten minutes of a thousand clicks a second in one partition.
    #[test]
    fn ten_minutes_of_a_thousand_clicks_a_second_stay_within_their_figure() {
        let mut window = RepeatWindow::new(Duration::from_secs(600));
        let mut peak = 0;
        for n in 0..1_800_000 {
            let at = DateTime::from_timestamp_millis(1_796_000_000_000 + n).unwrap();
            window.see(Uuid::now_v7(), at);
            peak = peak.max(window.allocated_bytes());
        }
        let per_id = peak as f64 / 600_000.0;
        eprintln!(
            "peak {:.1} MiB, {per_id:.0} bytes per id",
            peak as f64 / (1 << 20) as f64
        );
        assert!(peak <= 32 << 20, "{per_id} bytes per id");
    }

    #[test]
    fn a_late_clock_does_not_let_a_forgotten_id_count() {
        let mut window = RepeatWindow::new(Duration::from_secs(10));
        let early = Uuid::now_v7();
        // A collector whose clock is behind: its click comes after a newer one.
        assert_eq!(window.see(Uuid::now_v7(), at(100)), Seen::First);
        assert_eq!(window.see(early, at(95)), Seen::First);
        assert_eq!(window.see(Uuid::now_v7(), at(106)), Seen::First);
        // 95 is past the window before 106, though it sits behind 100 in the order.
        assert_eq!(window.see(early, at(107)), Seen::First);
    }

    #[test]
    fn an_empty_span_finds_nothing() {
        let mut window = RepeatWindow::new(Duration::ZERO);
        let a = Uuid::now_v7();
        assert_eq!(window.see(a, at(0)), Seen::First);
        assert_eq!(window.see(a, at(0)), Seen::First);
        assert!(window.is_empty());
    }
}
