//! The click event: one JSON object per click, camelCase, produced by the collector and read
//! by every sink.

use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Version of the event's JSON shape. Bumped when a field changes meaning or is removed;
/// adding an optional field does not bump it.
///
/// 2: `userAgent` is empty when the person asked not to be tracked, which `doNotTrack` says,
/// and is at most 512 bytes. Version 1 events have no `doNotTrack` (read as `false`).
pub const SCHEMA_VERSION: u32 = 2;

/// The oldest version sinks still read: events of every version from this one to
/// [`SCHEMA_VERSION`] land and are indexed, so collectors and sinks upgrade in any order.
pub const OLDEST_READ_SCHEMA_VERSION: u32 = 1;

/// Longest accepted user name, in Unicode scalar values, after trimming.
pub const USER_NAME_MAX_CHARS: usize = 64;

/// Why a user name or a record is not a valid event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    #[error("userName is empty")]
    EmptyUserName,
    #[error("userName is {chars} characters long; at most {max} are allowed", max = USER_NAME_MAX_CHARS)]
    UserNameTooLong { chars: usize },
    #[error("userName contains a control character (U+{code_point:04X})")]
    UserNameControlCharacter { code_point: u32 },
    #[error(
        "userName contains a bidirectional control (U+{code_point:04X}), which can make text read differently from what it is"
    )]
    UserNameBidiControl { code_point: u32 },
    #[error("userName has no visible character")]
    UserNameInvisible,
    #[error("colorName {color:?} is not in the palette ({palette})")]
    UnknownColor { color: String, palette: String },
    #[error(
        "schemaVersion {found} is not supported (this build reads {OLDEST_READ_SCHEMA_VERSION} to {SCHEMA_VERSION})"
    )]
    UnsupportedSchemaVersion { found: u32 },
    #[error("record is not a JSON event: {0}")]
    Malformed(String),
}

impl EventError {
    /// A stable, machine-readable name for the error, used in HTTP answers and metrics labels.
    pub fn code(&self) -> &'static str {
        match self {
            EventError::EmptyUserName => "empty_user_name",
            EventError::UserNameTooLong { .. } => "user_name_too_long",
            EventError::UserNameControlCharacter { .. } => "user_name_control_character",
            EventError::UserNameBidiControl { .. } => "user_name_bidi_control",
            EventError::UserNameInvisible => "user_name_invisible",
            EventError::UnknownColor { .. } => "unknown_color",
            EventError::UnsupportedSchemaVersion { .. } => "unsupported_schema_version",
            EventError::Malformed(_) => "malformed_event",
        }
    }
}

/// Trims a user name, checks it (1 to 64 characters of any script, at least one of them
/// visible, no control characters and no bidirectional controls) and gives it in Unicode's
/// composed form (NFC): a name typed on one system as `é` and on another as `e` and a combining
/// accent is one name, stored one way and erased by either spelling.
pub fn normalize_user_name(raw: &str) -> Result<String, EventError> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err(EventError::EmptyUserName);
    }
    if let Some(control) = trimmed.chars().find(|c| c.is_control()) {
        return Err(EventError::UserNameControlCharacter {
            code_point: control as u32,
        });
    }
    if let Some(bidi) = trimmed.chars().find(|&c| is_bidi_control(c)) {
        return Err(EventError::UserNameBidiControl {
            code_point: bidi as u32,
        });
    }
    if trimmed.chars().all(is_invisible) {
        return Err(EventError::UserNameInvisible);
    }
    let composed = canonical_user_name(trimmed);
    let chars = composed.chars().count();
    if chars > USER_NAME_MAX_CHARS {
        return Err(EventError::UserNameTooLong { chars });
    }
    Ok(composed.into_owned())
}

/// A user name as names are compared: trimmed, in Unicode's composed form (NFC). Borrowed when
/// it already is (every name the collector stores, and plain ASCII).
pub fn canonical_user_name(raw: &str) -> std::borrow::Cow<'_, str> {
    use unicode_normalization::UnicodeNormalization;
    use unicode_normalization::{IsNormalized, is_nfc_quick};
    let trimmed = raw.trim();
    if trimmed.is_ascii() || is_nfc_quick(trimmed.chars()) == IsNormalized::Yes {
        std::borrow::Cow::Borrowed(trimmed)
    } else {
        std::borrow::Cow::Owned(trimmed.nfc().collect())
    }
}

/// Characters that reorder the text around them (Unicode's explicit bidirectional formatting
/// and marks): in a name they can make it display as something else.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Characters that show nothing on their own: white space and Unicode's default-ignorable
/// code points (zero-width spaces and joiners, fillers, variation selectors, tags).
fn is_invisible(c: char) -> bool {
    c.is_whitespace()
        || matches!(c,
            '\u{00AD}' | '\u{034F}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}'
            | '\u{180B}'..='\u{180F}' | '\u{200B}'..='\u{200D}' | '\u{2060}'..='\u{2064}'
            | '\u{3164}' | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}' | '\u{FFA0}'
            | '\u{E0000}'..='\u{E0FFF}')
}

/// The browser a click came from, as the collector's user-agent parser (`woothee`) saw it.
/// Fields the parser cannot tell hold [`BrowserInfo::UNKNOWN`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BrowserInfo {
    pub name: String,
    pub version: String,
    pub category: String,
    pub os: String,
    pub os_version: String,
    pub vendor: String,
}

impl BrowserInfo {
    /// The value of a field the parser cannot tell (the parser's own word for it).
    pub const UNKNOWN: &'static str = "UNKNOWN";

    /// A browser nothing is known of, as for a request without a `User-Agent`.
    pub fn unknown() -> Self {
        let unknown = || Self::UNKNOWN.to_owned();
        BrowserInfo {
            name: unknown(),
            version: unknown(),
            category: unknown(),
            os: unknown(),
            os_version: unknown(),
            vendor: unknown(),
        }
    }
}

/// One click. Field names and order are the wire format; see the README for an example.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ColorEvent {
    /// UUID v7 made by the page when the click happened, or by the collector; Elasticsearch
    /// keeps one document per id.
    pub event_id: Uuid,
    pub schema_version: u32,
    /// When the collector received the click (UTC, millisecond precision).
    #[serde(with = "rfc3339_millis")]
    pub timestamp: DateTime<Utc>,
    pub user_name: String,
    pub color_name: String,
    /// The raw `User-Agent` header.
    pub user_agent: String,
    /// Shared: a collector hands the same parse to every event from one browser.
    pub browser: Arc<BrowserInfo>,
    /// When the page says the click happened, if it said so.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "rfc3339_millis_option"
    )]
    pub client_timestamp: Option<DateTime<Utc>>,
    /// The person's browser asked not to be tracked (`DNT: 1` or `Sec-GPC: 1`): the click
    /// counts, and `userAgent` is empty. Absent before version 2.
    #[serde(default)]
    pub do_not_track: bool,
}

impl ColorEvent {
    /// Builds the event for a click the collector has already validated, its user agent
    /// already parsed into `browser`.
    pub fn new(
        user_name: String,
        color_name: String,
        user_agent: String,
        browser: Arc<BrowserInfo>,
        received_at: DateTime<Utc>,
        client_timestamp: Option<DateTime<Utc>>,
    ) -> Self {
        ColorEvent {
            event_id: Uuid::now_v7(),
            schema_version: SCHEMA_VERSION,
            timestamp: truncate_to_millis(received_at),
            user_name,
            color_name,
            user_agent,
            browser,
            client_timestamp: client_timestamp.map(truncate_to_millis),
            do_not_track: false,
        }
    }

    /// A click by `user_name` on `color_name`, received at `received_at` with no user agent:
    /// the event tests and examples are made of.
    #[cfg(any(test, feature = "testing"))]
    pub fn sample(user_name: &str, color_name: &str, received_at: DateTime<Utc>) -> Self {
        ColorEvent::new(
            user_name.to_owned(),
            color_name.to_owned(),
            String::new(),
            BrowserInfo::unknown().into(),
            received_at,
            None,
        )
    }

    /// The record value: compact JSON, UTF-8.
    pub fn to_json_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("an event always serializes")
    }

    /// Reads a record value and checks it is an event this build understands.
    pub fn from_json_slice(bytes: &[u8]) -> Result<Self, EventError> {
        let event: ColorEvent =
            serde_json::from_slice(bytes).map_err(|e| EventError::Malformed(e.to_string()))?;
        if !(OLDEST_READ_SCHEMA_VERSION..=SCHEMA_VERSION).contains(&event.schema_version) {
            return Err(EventError::UnsupportedSchemaVersion {
                found: event.schema_version,
            });
        }
        // Checked as the collector checks it; a name in another normal form is still the
        // name the collector of its day stored.
        normalize_user_name(&event.user_name)?;
        if event.user_name.trim() != event.user_name {
            return Err(EventError::Malformed(
                "userName has leading or trailing white space".into(),
            ));
        }
        if event.color_name.is_empty() {
            return Err(EventError::Malformed("colorName is empty".into()));
        }
        Ok(event)
    }
}

/// The JSON field names of an event with every optional field present, and those of its
/// `browser` object: what downstream schemas (Hive table, index template) must name.
pub fn json_field_names() -> (
    std::collections::BTreeSet<String>,
    std::collections::BTreeSet<String>,
) {
    let mut event = ColorEvent::new(
        String::from("a"),
        String::from("red"),
        String::new(),
        BrowserInfo::unknown().into(),
        Utc::now(),
        None,
    );
    event.client_timestamp = Some(event.timestamp);
    let json: serde_json::Value =
        serde_json::from_slice(&event.to_json_bytes()).expect("an event is JSON");
    let keys = |v: &serde_json::Value| v.as_object().expect("an object").keys().cloned().collect();
    (keys(&json), keys(&json["browser"]))
}

/// Formats a time the way every event field carries it: RFC 3339, UTC, milliseconds, `Z`.
pub fn format_timestamp(at: &DateTime<Utc>) -> String {
    let mut buffer = [0; TIMESTAMP_LEN];
    match write_timestamp(at, &mut buffer) {
        Some(text) => text.to_owned(),
        None => at.to_rfc3339_opts(SecondsFormat::Millis, true),
    }
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ`.
const TIMESTAMP_LEN: usize = 24;

/// Writes `at` as [`format_timestamp`] does into `buffer`, digit by digit: every event carries
/// two times, and chrono's general formatter costs more than the rest of the encoding. `None`
/// for years outside 0 to 9999, which that shape cannot hold.
fn write_timestamp<'b>(at: &DateTime<Utc>, buffer: &'b mut [u8; TIMESTAMP_LEN]) -> Option<&'b str> {
    use chrono::{Datelike, Timelike};
    let year = u32::try_from(at.year()).ok().filter(|y| *y <= 9999)?;
    let millis = at.timestamp_subsec_millis().min(999);
    let fields = [
        (0, year, 4),
        (5, at.month(), 2),
        (8, at.day(), 2),
        (11, at.hour(), 2),
        (14, at.minute(), 2),
        (17, at.second(), 2),
        (20, millis, 3),
    ];
    *buffer = *b"0000-00-00T00:00:00.000Z";
    for (start, mut value, width) in fields {
        for at in (start..start + width).rev() {
            buffer[at] = b'0' + (value % 10) as u8;
            value /= 10;
        }
    }
    std::str::from_utf8(buffer).ok()
}

fn truncate_to_millis(at: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(at.timestamp_millis()).expect("in range: came from a DateTime")
}

mod rfc3339_millis {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(at: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        let mut buffer = [0; super::TIMESTAMP_LEN];
        match super::write_timestamp(at, &mut buffer) {
            Some(text) => s.serialize_str(text),
            None => s.serialize_str(&super::format_timestamp(at)),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        DateTime::parse_from_rfc3339(&text)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| serde::de::Error::custom(format!("not an RFC 3339 time {text:?}: {e}")))
    }
}

mod rfc3339_millis_option {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(at: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
        match at {
            Some(at) => super::rfc3339_millis::serialize(at, s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        #[derive(Deserialize)]
        struct Wrapped(#[serde(with = "super::rfc3339_millis")] DateTime<Utc>);
        Ok(Option::<Wrapped>::deserialize(d)?.map(|Wrapped(at)| at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn timestamps_are_written_as_chrono_writes_them() {
        let mut rng = fastrand::Rng::with_seed(3);
        let edges = [
            0,
            1,
            999,
            253_402_300_799_999,
            951_782_400_000,
            1_767_225_599_999,
        ];
        let randoms = (0..10_000).map(|_| rng.i64(0..253_402_300_800_000));
        for millis in edges.into_iter().chain(randoms) {
            let at = DateTime::from_timestamp_millis(millis).unwrap();
            assert_eq!(
                format_timestamp(&at),
                at.to_rfc3339_opts(SecondsFormat::Millis, true),
                "{millis}"
            );
        }
        // Beyond what four digits of year hold, chrono's own form.
        let far = Utc.with_ymd_and_hms(12_345, 1, 2, 3, 4, 5).unwrap();
        assert_eq!(
            format_timestamp(&far),
            far.to_rfc3339_opts(SecondsFormat::Millis, true)
        );
        let before = DateTime::from_timestamp_millis(-62_198_755_200_000).unwrap();
        assert_eq!(
            format_timestamp(&before),
            before.to_rfc3339_opts(SecondsFormat::Millis, true)
        );
    }

    const CHROME_LINUX: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";

    fn sample() -> ColorEvent {
        let at = Utc.with_ymd_and_hms(2026, 11, 22, 9, 30, 5).unwrap()
            + chrono::Duration::microseconds(123_456);
        ColorEvent::new(
            "민수".into(),
            "blue".into(),
            CHROME_LINUX.into(),
            BrowserInfo {
                name: "Chrome".into(),
                version: "120.0.0.0".into(),
                category: "pc".into(),
                os: "Linux".into(),
                os_version: BrowserInfo::UNKNOWN.into(),
                vendor: "Google".into(),
            }
            .into(),
            at,
            None,
        )
    }

    #[test]
    fn event_round_trips_through_json() {
        let event = sample();
        let back = ColorEvent::from_json_slice(&event.to_json_bytes()).unwrap();
        assert_eq!(back, event);
    }

    #[test]
    fn event_json_has_the_documented_shape() {
        let event = sample();
        let value: serde_json::Value = serde_json::from_slice(&event.to_json_bytes()).unwrap();
        let keys: Vec<&str> = value
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "browser",
                "colorName",
                "doNotTrack",
                "eventId",
                "schemaVersion",
                "timestamp",
                "userAgent",
                "userName"
            ]
        );
        assert_eq!(value["timestamp"], "2026-11-22T09:30:05.123Z");
        assert_eq!(value["schemaVersion"], 2);
        assert_eq!(value["doNotTrack"], false);
        assert_eq!(value["userName"], "민수");
        assert_eq!(value["userAgent"], CHROME_LINUX);
        assert_eq!(
            value["browser"],
            serde_json::json!({
                "name": "Chrome", "version": "120.0.0.0", "category": "pc",
                "os": "Linux", "osVersion": "UNKNOWN", "vendor": "Google"
            })
        );
        let id = uuid::Uuid::parse_str(value["eventId"].as_str().unwrap()).unwrap();
        assert_eq!(id.get_version_num(), 7);
    }

    #[test]
    fn field_names_cover_the_optional_fields() {
        let (fields, browser) = json_field_names();
        assert!(fields.contains("clientTimestamp") && fields.contains("doNotTrack"));
        assert_eq!(fields.len(), 9);
        assert_eq!(browser.len(), 6);
    }

    #[test]
    fn client_timestamp_is_written_only_when_present() {
        let mut event = sample();
        event.client_timestamp = Some(Utc.with_ymd_and_hms(2026, 11, 22, 9, 30, 4).unwrap());
        let value: serde_json::Value = serde_json::from_slice(&event.to_json_bytes()).unwrap();
        assert_eq!(value["clientTimestamp"], "2026-11-22T09:30:04.000Z");
        assert_eq!(
            ColorEvent::from_json_slice(&event.to_json_bytes()).unwrap(),
            event
        );
    }

    #[test]
    fn timestamps_with_offsets_are_read_as_utc() {
        let mut value: serde_json::Value =
            serde_json::from_slice(&sample().to_json_bytes()).unwrap();
        value["timestamp"] = "2026-11-22T18:30:05.123+09:00".into();
        let event = ColorEvent::from_json_slice(value.to_string().as_bytes()).unwrap();
        assert_eq!(
            format_timestamp(&event.timestamp),
            "2026-11-22T09:30:05.123Z"
        );
    }

    #[test]
    fn a_name_in_another_normal_form_is_stored_composed_and_compares_equal() {
        let decomposed = "Re\u{301}ne\u{301}e"; // e + combining acute, as macOS forms send it
        assert_eq!(normalize_user_name(decomposed).unwrap(), "R\u{e9}n\u{e9}e");
        assert_eq!(
            canonical_user_name(&format!("  {decomposed} ")),
            "R\u{e9}n\u{e9}e"
        );
        assert!(matches!(
            canonical_user_name("Ada"),
            std::borrow::Cow::Borrowed("Ada")
        ));
        let hangul = "\u{1100}\u{1161}"; // 가 as two jamo
        assert_eq!(canonical_user_name(hangul), "\u{ac00}");
        // An event stored by an earlier collector, before names were composed, still reads.
        let mut older = ColorEvent::sample("x", "red", Utc::now());
        older.user_name = decomposed.to_owned();
        let read = ColorEvent::from_json_slice(&older.to_json_bytes()).unwrap();
        assert_eq!(read.user_name, decomposed);
    }

    #[test]
    fn user_names_are_trimmed_and_any_script_is_accepted() {
        assert_eq!(normalize_user_name("  김민수 🎨 ").unwrap(), "김민수 🎨");
        assert_eq!(
            normalize_user_name("<img src=x onerror=alert(1)>").unwrap(),
            "<img src=x onerror=alert(1)>"
        );
        assert_eq!(
            normalize_user_name(&"가".repeat(64))
                .unwrap()
                .chars()
                .count(),
            64
        );
    }

    #[test]
    fn bad_user_names_are_rejected_with_a_reason() {
        assert_eq!(normalize_user_name(" \t "), Err(EventError::EmptyUserName));
        assert_eq!(
            normalize_user_name(&"가".repeat(65)),
            Err(EventError::UserNameTooLong { chars: 65 })
        );
        assert_eq!(
            normalize_user_name("a\u{0007}b"),
            Err(EventError::UserNameControlCharacter { code_point: 7 })
        );
        assert_eq!(
            normalize_user_name("abc\u{202E}gpj.exe"),
            Err(EventError::UserNameBidiControl { code_point: 0x202E })
        );
        assert_eq!(
            normalize_user_name("\u{2067}x"),
            Err(EventError::UserNameBidiControl { code_point: 0x2067 })
        );
        for invisible in [
            "\u{200B}",
            "\u{200B}\u{200B}\u{FEFF}",
            "\u{3164}",
            "\u{2060} \u{00AD}",
        ] {
            assert_eq!(
                normalize_user_name(invisible),
                Err(EventError::UserNameInvisible),
                "{invisible:?}"
            );
        }
    }

    #[test]
    fn names_with_joiners_between_visible_characters_are_kept() {
        for name in [
            "👨\u{200D}👩\u{200D}👧",
            "❤\u{FE0F}",
            "a\u{200B}b",
            "עברית",
            "العربية",
        ] {
            assert_eq!(normalize_user_name(name).as_deref(), Ok(name));
        }
    }

    #[test]
    fn records_that_are_not_events_are_malformed() {
        for bad in [&b"not json"[..], b"{}", br#"{"eventId":"x"}"#, b"\xff\xfe"] {
            let err = ColorEvent::from_json_slice(bad).unwrap_err();
            assert_eq!(err.code(), "malformed_event", "{bad:?}");
        }
        let mut value: serde_json::Value =
            serde_json::from_slice(&sample().to_json_bytes()).unwrap();
        for unknown in [0, 3] {
            value["schemaVersion"] = unknown.into();
            assert_eq!(
                ColorEvent::from_json_slice(value.to_string().as_bytes()),
                Err(EventError::UnsupportedSchemaVersion { found: unknown })
            );
        }
    }

    #[test]
    fn a_version_1_event_still_reads_as_tracked() {
        let mut value: serde_json::Value =
            serde_json::from_slice(&sample().to_json_bytes()).unwrap();
        value["schemaVersion"] = 1.into();
        value.as_object_mut().unwrap().remove("doNotTrack");
        let event = ColorEvent::from_json_slice(value.to_string().as_bytes()).unwrap();
        assert_eq!(event.schema_version, 1);
        assert!(!event.do_not_track);
        assert_eq!(event.user_agent, CHROME_LINUX);
    }
}
