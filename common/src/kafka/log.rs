//! librdkafka's own log lines and global errors, into `tracing`, with repeats summarised. A
//! broker that is away makes librdkafka say the same thing for every connection attempt of
//! every client, many times a second; here a line of the same shape is printed at most once
//! per [`WINDOW`], and the next print says how many were held back.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::KafkaError;

use crate::throttle::Throttle;

/// How long a line of one shape is held back after it was printed.
pub const WINDOW: Duration = Duration::from_secs(30);
/// Shapes remembered at most; beyond, the memory starts afresh.
const MAX_SHAPES: usize = 1024;

/// A client context that only sends librdkafka's log through a shared [`ClientLog`], for
/// clients that need nothing else (metadata lookups, the dead-letter producer).
#[derive(Debug, Clone, Default)]
pub struct LoggedContext(pub std::sync::Arc<ClientLog>);

impl rdkafka::ClientContext for LoggedContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        self.0.log(level, fac, log_message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.0.error(&error, reason);
    }
}

impl rdkafka::consumer::ConsumerContext for LoggedContext {}

/// The log of a process's librdkafka clients; share one between them so that the same line
/// from several clients is held back too.
#[derive(Debug, Default)]
pub struct ClientLog {
    seen: Mutex<HashMap<String, Throttle>>,
}

impl ClientLog {
    /// A line librdkafka logged (a `ClientContext::log` callback).
    pub fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        let Some(held_back) = self.admit(shape(facility, message), Instant::now()) else {
            return;
        };
        match level {
            RDKafkaLogLevel::Emerg
            | RDKafkaLogLevel::Alert
            | RDKafkaLogLevel::Critical
            | RDKafkaLogLevel::Error => {
                tracing::error!(facility, held_back, "librdkafka: {message}")
            }
            RDKafkaLogLevel::Warning => {
                tracing::warn!(facility, held_back, "librdkafka: {message}")
            }
            RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => {
                tracing::info!(facility, held_back, "librdkafka: {message}")
            }
            RDKafkaLogLevel::Debug => tracing::debug!(facility, held_back, "librdkafka: {message}"),
        }
    }

    /// A global error librdkafka reported (a `ClientContext::error` callback).
    pub fn error(&self, error: &KafkaError, reason: &str) {
        let text = format!("{error}: {reason}");
        if let Some(held_back) = self.admit(shape("ERROR", &text), Instant::now()) {
            tracing::error!(held_back, "librdkafka: {text}");
        }
    }

    /// Whether a line of `shape` is printed at `now`: `Some(lines held back since the last
    /// print)`, or `None` to hold it back.
    fn admit(&self, shape: String, now: Instant) -> Option<u64> {
        let mut seen = self.seen.lock().expect("not poisoned");
        if seen.len() >= MAX_SHAPES && !seen.contains_key(&shape) {
            seen.clear();
        }
        // The line printed stands for itself and for those held back before it.
        seen.entry(shape)
            .or_default()
            .record(now, WINDOW)
            .map(|occurrences| occurrences - 1)
    }
}

/// Lines that differ only in numbers (ports, durations, counts) have one shape.
fn shape(facility: &str, message: &str) -> String {
    let mut shape = String::with_capacity(facility.len() + message.len() + 1);
    shape.push_str(facility);
    shape.push(' ');
    let mut in_number = false;
    for c in message.chars() {
        if c.is_ascii_digit() {
            if !in_number {
                shape.push('#');
            }
            in_number = true;
        } else {
            in_number = false;
            shape.push(c);
        }
    }
    shape
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_that_differ_in_numbers_have_one_shape() {
        assert_eq!(
            shape(
                "FAIL",
                "127.0.0.1:45381/2: Connect failed (after 0ms in state CONNECT)"
            ),
            shape(
                "FAIL",
                "127.0.0.1:36429/1: Connect failed (after 12ms in state CONNECT)"
            )
        );
        assert_ne!(
            shape("FAIL", "connect failed"),
            shape("OFFSET", "connect failed")
        );
    }

    #[test]
    fn a_repeat_is_held_back_for_a_window_then_printed_with_its_count() {
        let log = ClientLog::default();
        let start = Instant::now();
        let line = || shape("FAIL", "broker 1 down");
        assert_eq!(log.admit(line(), start), Some(0));
        for second in 1..=29 {
            assert_eq!(log.admit(line(), start + Duration::from_secs(second)), None);
        }
        assert_eq!(
            log.admit(line(), start + WINDOW + Duration::from_secs(1)),
            Some(29)
        );
        assert_eq!(
            log.admit(shape("FAIL", "other"), start + Duration::from_secs(2)),
            Some(0),
            "another line is not held back"
        );
    }
}
