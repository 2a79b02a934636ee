//! What a `POST /api/events` body may be, decoded before any click in it is looked at: JSON sent
//! by `fetch`, or the same JSON as `text/plain` sent by `navigator.sendBeacon` (which cannot set
//! a JSON content type without a CORS preflight that does not finish while a page closes);
//! either one gzip-compressed; one click, or a batch of up to [`MAX_BATCH_CLICKS`].
//!
//! Everything here is pure: headers and bytes in, a decision out.

use std::io::Read;

use axum::http::{HeaderValue, StatusCode};
use serde::Deserialize;
use serde_json::value::RawValue;

/// Largest request body accepted, in bytes, compressed or not, and largest body a compressed
/// one may inflate to. Browsers allow a page about 64 KiB of keep-alive requests in flight,
/// which a beacon sent while the page closes must fit in.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Most clicks in one batch.
pub const MAX_BATCH_CLICKS: usize = 100;

/// A compressed body may inflate to at most this many times its size. Clicks compress about
/// ten-fold; a body that inflates far more was made to.
pub const MAX_INFLATE_RATIO: usize = 50;

/// Why a body was refused before any click in it was looked at, or why one click of a batch
/// was; the collector's answer wraps it.
#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    #[error("request body is not valid JSON: {0}")]
    MalformedJson(String),
    #[error("request body does not match the expected fields: {0}")]
    InvalidBody(String),
    #[error(
        "expected a request with `Content-Type: application/json`, or `text/plain` holding JSON (a beacon), in UTF-8"
    )]
    UnsupportedMediaType,
    #[error("`Content-Encoding: {0}` is not taken; send gzip or no encoding")]
    UnsupportedEncoding(String),
    #[error("request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("request body is not a valid gzip stream: {0}")]
    MalformedGzip(String),
    #[error(
        "request body inflates to more than {limit} bytes or {ratio} times its compressed size"
    )]
    InflatesTooFar { limit: usize, ratio: usize },
    #[error("a batch holds at least one click")]
    EmptyBatch,
    #[error("a batch holds at most {limit} clicks; this one holds {sent}")]
    TooManyClicks { sent: usize, limit: usize },
}

impl IntakeError {
    pub fn status(&self) -> StatusCode {
        match self {
            IntakeError::InvalidBody(_) => StatusCode::UNPROCESSABLE_ENTITY,
            IntakeError::MalformedJson(_)
            | IntakeError::MalformedGzip(_)
            | IntakeError::EmptyBatch => StatusCode::BAD_REQUEST,
            IntakeError::UnsupportedMediaType | IntakeError::UnsupportedEncoding(_) => {
                StatusCode::UNSUPPORTED_MEDIA_TYPE
            }
            IntakeError::PayloadTooLarge { .. }
            | IntakeError::InflatesTooFar { .. }
            | IntakeError::TooManyClicks { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            IntakeError::MalformedJson(_) => "malformed_json",
            IntakeError::InvalidBody(_) => "invalid_body",
            IntakeError::UnsupportedMediaType => "unsupported_media_type",
            IntakeError::UnsupportedEncoding(_) => "unsupported_encoding",
            IntakeError::PayloadTooLarge { .. } => "payload_too_large",
            IntakeError::MalformedGzip(_) => "malformed_gzip",
            IntakeError::InflatesTooFar { .. } => "inflates_too_far",
            IntakeError::EmptyBatch => "empty_batch",
            IntakeError::TooManyClicks { .. } => "too_many_clicks",
        }
    }
}

/// How the body is framed, from its `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFormat {
    /// `application/json`, as `fetch` sends it after a CORS preflight.
    Json,
    /// `text/plain` holding the same JSON: what `sendBeacon` sends without a preflight, so the
    /// collector checks its origin itself.
    Beacon,
}

/// How the body is encoded, from its `Content-Encoding`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyEncoding {
    Identity,
    Gzip,
}

/// One click as the page sends it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClickRequest {
    pub user_name: String,
    pub color_name: String,
    /// When the page saw the click, RFC 3339.
    #[serde(default)]
    pub client_timestamp: Option<String>,
    /// The page's own id for the click, so a retry can be recognised: a UUID v7.
    #[serde(default)]
    pub event_id: Option<String>,
}

/// The clicks of one request.
#[derive(Debug)]
pub enum Clicks {
    /// A single JSON object: answered as one click, exactly as before batches existed.
    One(ClickRequest),
    /// A JSON array: each element read on its own, so one bad click refuses only itself.
    Batch(Vec<Result<ClickRequest, IntakeError>>),
}

impl Clicks {
    /// The clicks sent, refused ones included: what the client's share is charged.
    pub fn len(&self) -> usize {
        match self {
            Clicks::One(_) => 1,
            Clicks::Batch(clicks) => clicks.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Reads the body's format from `Content-Type`. Parameters other than a UTF-8 charset are
/// refused with the type, as is anything but JSON and plain text.
pub fn body_format(content_type: Option<&HeaderValue>) -> Result<BodyFormat, IntakeError> {
    let raw = content_type
        .and_then(|v| v.to_str().ok())
        .ok_or(IntakeError::UnsupportedMediaType)?;
    let mut parts = raw.split(';').map(str::trim);
    let essence = parts.next().unwrap_or_default().to_ascii_lowercase();
    let format = match essence.as_str() {
        "application/json" => BodyFormat::Json,
        "text/plain" => BodyFormat::Beacon,
        _ => return Err(IntakeError::UnsupportedMediaType),
    };
    for parameter in parts.filter(|p| !p.is_empty()) {
        let (name, value) = parameter.split_once('=').unwrap_or((parameter, ""));
        let value = value.trim_matches('"');
        if !name.trim().eq_ignore_ascii_case("charset")
            || !(value.eq_ignore_ascii_case("utf-8") || value.eq_ignore_ascii_case("utf8"))
        {
            return Err(IntakeError::UnsupportedMediaType);
        }
    }
    Ok(format)
}

/// Reads `Content-Encoding`: none, `identity` or `gzip`; anything else is refused by name.
pub fn body_encoding(content_encoding: Option<&HeaderValue>) -> Result<BodyEncoding, IntakeError> {
    let Some(value) = content_encoding else {
        return Ok(BodyEncoding::Identity);
    };
    let raw = value.to_str().unwrap_or_default().trim();
    if raw.eq_ignore_ascii_case("identity") || raw.is_empty() {
        Ok(BodyEncoding::Identity)
    } else if raw.eq_ignore_ascii_case("gzip") || raw.eq_ignore_ascii_case("x-gzip") {
        Ok(BodyEncoding::Gzip)
    } else {
        Err(IntakeError::UnsupportedEncoding(
            String::from_utf8_lossy(value.as_bytes()).into_owned(),
        ))
    }
}

/// Inflates a gzip body, stopping as soon as it passes [`MAX_BODY_BYTES`] or
/// [`MAX_INFLATE_RATIO`] times its compressed size: a bomb is refused after at most that much
/// output, never inflated whole.
pub fn inflate(compressed: &[u8]) -> Result<Vec<u8>, IntakeError> {
    let limit = MAX_BODY_BYTES.min(compressed.len().saturating_mul(MAX_INFLATE_RATIO));
    let mut inflated = Vec::with_capacity(limit.min(compressed.len() * 8) + 1);
    flate2::read::GzDecoder::new(compressed)
        .take(limit as u64 + 1)
        .read_to_end(&mut inflated)
        .map_err(|err| IntakeError::MalformedGzip(err.to_string()))?;
    if inflated.len() > limit {
        return Err(IntakeError::InflatesTooFar {
            limit: MAX_BODY_BYTES,
            ratio: MAX_INFLATE_RATIO,
        });
    }
    Ok(inflated)
}

/// Reads one click (a JSON object) or a batch (a JSON array of 1 to [`MAX_BATCH_CLICKS`]).
pub fn parse_clicks(json: &[u8]) -> Result<Clicks, IntakeError> {
    let first = json.iter().find(|b| !b.is_ascii_whitespace());
    if first != Some(&b'[') {
        return parse_click(json).map(Clicks::One);
    }
    let elements: Vec<&RawValue> = serde_json::from_slice(json).map_err(json_error)?;
    if elements.is_empty() {
        return Err(IntakeError::EmptyBatch);
    }
    if elements.len() > MAX_BATCH_CLICKS {
        return Err(IntakeError::TooManyClicks {
            sent: elements.len(),
            limit: MAX_BATCH_CLICKS,
        });
    }
    Ok(Clicks::Batch(
        elements
            .into_iter()
            .map(|raw| parse_click(raw.get().as_bytes()))
            .collect(),
    ))
}

/// Reads one click, which must be a JSON object: serde would also read the fields in order
/// from an array, so `["a","red"]` would pass for a click.
fn parse_click(json: &[u8]) -> Result<ClickRequest, IntakeError> {
    let first = json.iter().find(|b| !b.is_ascii_whitespace());
    if matches!(
        first,
        Some(b'[' | b'"' | b't' | b'f' | b'n' | b'-' | b'0'..=b'9')
    ) {
        // Valid JSON of the wrong kind is the body's shape, not its syntax.
        if serde_json::from_slice::<serde::de::IgnoredAny>(json).is_ok() {
            return Err(IntakeError::InvalidBody("a click is a JSON object".into()));
        }
    }
    serde_json::from_slice(json).map_err(json_error)
}

/// A JSON error as the client's mistake it is: unreadable JSON, or JSON of the wrong shape.
fn json_error(err: serde_json::Error) -> IntakeError {
    match err.classify() {
        serde_json::error::Category::Data => IntakeError::InvalidBody(err.to_string()),
        _ => IntakeError::MalformedJson(err.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn header(value: &str) -> HeaderValue {
        HeaderValue::from_str(value).unwrap()
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    }

    #[test]
    fn json_and_beacon_content_types_are_told_apart() {
        for (value, want) in [
            ("application/json", BodyFormat::Json),
            ("Application/JSON; charset=utf-8", BodyFormat::Json),
            ("text/plain;charset=UTF-8", BodyFormat::Beacon),
            ("text/plain", BodyFormat::Beacon),
        ] {
            assert_eq!(body_format(Some(&header(value))).unwrap(), want, "{value}");
        }
        for value in [
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "text/plain; charset=latin1",
            "text/html",
        ] {
            assert!(
                matches!(
                    body_format(Some(&header(value))),
                    Err(IntakeError::UnsupportedMediaType)
                ),
                "{value}"
            );
        }
        assert!(matches!(
            body_format(None),
            Err(IntakeError::UnsupportedMediaType)
        ));
    }

    #[test]
    fn gzip_is_the_only_compression_taken() {
        assert_eq!(body_encoding(None).unwrap(), BodyEncoding::Identity);
        assert_eq!(
            body_encoding(Some(&header("identity"))).unwrap(),
            BodyEncoding::Identity
        );
        assert_eq!(
            body_encoding(Some(&header("GZIP"))).unwrap(),
            BodyEncoding::Gzip
        );
        for other in ["br", "deflate", "gzip, br", "zstd"] {
            let err = body_encoding(Some(&header(other))).unwrap_err();
            assert!(err.to_string().contains(other), "{err}");
        }
    }

    #[test]
    fn a_gzip_body_inflates_to_what_was_compressed() {
        let json = br#"[{"userName":"a","colorName":"red"},{"userName":"b","colorName":"blue"}]"#;
        assert_eq!(inflate(&gzip(json)).unwrap(), json);
    }

    #[test]
    fn a_bomb_is_refused_after_the_cap_not_inflated_whole() {
        // 16 MiB of zeros compress to about 16 KiB: past both caps.
        let bomb = gzip(&vec![0u8; 16 * 1024 * 1024]);
        assert!(bomb.len() < MAX_BODY_BYTES * 2);
        assert!(matches!(
            inflate(&bomb),
            Err(IntakeError::InflatesTooFar { .. })
        ));
        // Within the size cap but past the ratio: 60 KiB of one byte compress to ~100 bytes.
        let dense = gzip(&vec![b' '; 60 * 1024]);
        assert!(dense.len() * MAX_INFLATE_RATIO < 60 * 1024);
        assert!(matches!(
            inflate(&dense),
            Err(IntakeError::InflatesTooFar { .. })
        ));
        // Past the size cap, whatever the ratio.
        let random: Vec<u8> = (0..MAX_BODY_BYTES + 10).map(|_| fastrand::u8(..)).collect();
        assert!(matches!(
            inflate(&gzip(&random)),
            Err(IntakeError::InflatesTooFar { .. })
        ));
    }

    #[test]
    fn a_broken_gzip_stream_is_a_client_error() {
        let mut cut = gzip(br#"{"userName":"a","colorName":"red"}"#);
        cut.truncate(cut.len() / 2);
        assert!(matches!(inflate(&cut), Err(IntakeError::MalformedGzip(_))));
        assert!(matches!(
            inflate(b"not gzip at all"),
            Err(IntakeError::MalformedGzip(_))
        ));
    }

    #[test]
    fn an_object_is_one_click_and_an_array_a_batch_read_element_by_element() {
        let one = parse_clicks(br#" {"userName":"a","colorName":"red","eventId":"x"}"#).unwrap();
        assert!(
            matches!(one, Clicks::One(ClickRequest { ref event_id, .. }) if event_id.as_deref() == Some("x"))
        );

        let batch = parse_clicks(
            br#"[{"userName":"a","colorName":"red"}, {"userName":1}, {"userName":"b","colorName":"blue"}, 7]"#,
        )
        .unwrap();
        let Clicks::Batch(clicks) = batch else {
            panic!("not a batch")
        };
        assert_eq!(clicks.len(), 4);
        assert_eq!(clicks[0].as_ref().unwrap().color_name, "red");
        assert!(matches!(clicks[1], Err(IntakeError::InvalidBody(_))));
        assert_eq!(clicks[2].as_ref().unwrap().user_name, "b");
        assert!(matches!(clicks[3], Err(IntakeError::InvalidBody(_))));

        // Fields in order, as an array, are not a click, alone or in a batch.
        let Clicks::Batch(clicks) = parse_clicks(br#"[["arr","red"]]"#).unwrap() else {
            panic!("not a batch")
        };
        assert!(matches!(&clicks[0], Err(IntakeError::InvalidBody(m)) if m.contains("object")));
        let Clicks::Batch(clicks) = parse_clicks(br#"["arr","red"]"#).unwrap() else {
            panic!("not a batch")
        };
        assert!(
            clicks
                .iter()
                .all(|c| matches!(c, Err(IntakeError::InvalidBody(_))))
        );
        assert!(matches!(
            parse_clicks(b"\"text\""),
            Err(IntakeError::InvalidBody(_))
        ));
        assert!(matches!(
            parse_clicks(b"[1,"),
            Err(IntakeError::MalformedJson(_))
        ));
    }

    #[test]
    fn batches_are_bounded_and_never_empty() {
        assert!(matches!(parse_clicks(b"[]"), Err(IntakeError::EmptyBatch)));
        let click = r#"{"userName":"a","colorName":"red"}"#;
        let full = format!("[{}]", vec![click; MAX_BATCH_CLICKS].join(","));
        assert!(
            matches!(parse_clicks(full.as_bytes()), Ok(Clicks::Batch(c)) if c.len() == MAX_BATCH_CLICKS)
        );
        let over = format!("[{}]", vec![click; MAX_BATCH_CLICKS + 1].join(","));
        assert!(matches!(
            parse_clicks(over.as_bytes()),
            Err(IntakeError::TooManyClicks { sent: 101, .. })
        ));
        assert!(matches!(
            parse_clicks(b"[{\"userName\":"),
            Err(IntakeError::MalformedJson(_))
        ));
        assert!(matches!(
            parse_clicks(b""),
            Err(IntakeError::MalformedJson(_))
        ));
    }
}
