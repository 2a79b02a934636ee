//! Parsers for settings every binary takes the same way, so that each says what it expected in
//! the same words: sizes with units, addresses with host names, URLs checked at start.

use std::net::{SocketAddr, ToSocketAddrs};

/// A size in bytes: `8388608`, `8MiB`, `512 KiB`, `1GB` (KB, MB, GB are powers of 1000; KiB,
/// MiB, GiB of 1024).
pub fn parse_bytes(raw: &str) -> Result<usize, String> {
    let text = raw.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: usize = number
        .parse()
        .map_err(|_| format!("{raw:?} is not a size such as 8388608, 8MiB or 512KiB"))?;
    let scale: usize = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1000,
        "kib" => 1 << 10,
        "mb" => 1000 * 1000,
        "mib" => 1 << 20,
        "gb" => 1000 * 1000 * 1000,
        "gib" => 1 << 30,
        _ => {
            return Err(format!(
                "{raw:?} has an unknown unit {unit:?}: use B, KB, KiB, MB, MiB, GB or GiB"
            ));
        }
    };
    number
        .checked_mul(scale)
        .ok_or_else(|| format!("{raw:?} is too large"))
}

/// A size in bytes, as [`parse_bytes`], that is more than nothing: a size setting of 0 would
/// make its buffer land or send at every record, or never.
pub fn parse_positive_bytes(raw: &str) -> Result<usize, String> {
    match parse_bytes(raw)? {
        0 => Err(format!(
            "{raw:?} is no size: give one above 0, such as 8MiB"
        )),
        bytes => Ok(bytes),
    }
}

/// A duration with its unit: `30s`, `5m`, `12h`, `30d`. A bare number, a negative one or an
/// unknown unit is refused, with what was expected.
pub fn parse_duration(raw: &str) -> Result<std::time::Duration, String> {
    humantime::parse_duration(raw.trim())
        .map_err(|err| format!("{raw:?} is not a duration such as 30s, 5m or 12h ({err})"))
}

/// A duration, as [`parse_duration`], that is more than nothing: a wait, a timeout or a back-off
/// of 0 would never wait, or give up at once.
pub fn parse_positive_duration(raw: &str) -> Result<std::time::Duration, String> {
    match parse_duration(raw)? {
        std::time::Duration::ZERO => Err(format!(
            "{raw:?} is no time: give a duration above 0, such as 30s"
        )),
        duration => Ok(duration),
    }
}

/// The shortest `RETENTION` a sink takes: one day. Anything shorter deletes clicks that are
/// still arriving, landing and merging (an hour's files are merged minutes after it ends, and
/// es-sink's daily indices hold a whole day), and a typo such as `RETENTION=1s` or `0` would
/// wipe a store; so a value below it stops the process at start.
pub const RETENTION_FLOOR: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// `RETENTION`: a duration of at least [`RETENTION_FLOOR`].
pub fn parse_retention(raw: &str) -> Result<std::time::Duration, String> {
    let retention = parse_duration(raw)?;
    if retention < RETENTION_FLOOR {
        return Err(format!(
            "RETENTION {raw:?} is below its floor of 1 day: a shorter one would delete clicks still \
             arriving, or wipe the store; give 1d or more (30d keeps a month), or leave RETENTION unset \
             to keep clicks until they are deleted by hand"
        ));
    }
    Ok(retention)
}

/// An address to listen on: `127.0.0.1:8081`, `[::1]:8081` or `localhost:8081` (resolved now,
/// first address taken).
pub fn parse_listen_addr(raw: &str) -> Result<SocketAddr, String> {
    if let Ok(addr) = raw.parse() {
        return Ok(addr);
    }
    raw.to_socket_addrs()
        .map_err(|err| format!("{raw:?} is not host:port ({err})"))?
        .next()
        .ok_or_else(|| format!("{raw:?} resolves to no address"))
}

/// An `http://` or `https://` URL with a host.
pub fn parse_http_url(raw: &str) -> Result<url::Url, String> {
    let url = url::Url::parse(raw).map_err(|err| {
        format!("{raw:?} is not a URL ({err}); give one such as http://localhost:9200")
    })?;
    match url.scheme() {
        "http" | "https" if url.host_str().is_some_and(|h| !h.is_empty()) => Ok(url),
        "http" | "https" => Err(format!("{raw:?} names no host")),
        scheme => Err(format!("{raw:?} is {scheme}://, not http:// or https://")),
    }
}

/// A URL as logs may show it: without its password.
pub fn redact_url(url: &url::Url) -> String {
    let mut shown = url.clone();
    if shown.password().is_some() {
        let _ = shown.set_password(Some("***"));
    }
    shown.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_sizes_refuse_nothing_negatives_and_bare_numbers() {
        assert_eq!(
            parse_positive_duration("30s"),
            Ok(std::time::Duration::from_secs(30))
        );
        assert_eq!(parse_duration("0s"), Ok(std::time::Duration::ZERO));
        for wrong in ["0", "0s", "-5s", "5", "soon", ""] {
            assert!(parse_positive_duration(wrong).is_err(), "{wrong:?}");
        }
        assert!(parse_positive_bytes("0").is_err());
        assert!(parse_positive_bytes("0MiB").is_err());
        assert!(parse_positive_bytes("-1").is_err());
        assert_eq!(parse_positive_bytes("1KiB"), Ok(1024));
    }

    #[test]
    fn a_retention_below_a_day_is_refused_naming_retention_and_its_floor() {
        for typo in ["0", "0s", "1s", "1h", "23h 59m", "-1d"] {
            let err = parse_retention(typo).unwrap_err();
            assert!(
                err.contains("RETENTION") || err.contains("duration"),
                "{typo}: {err}"
            );
        }
        assert!(
            parse_retention("1s")
                .unwrap_err()
                .contains("floor of 1 day")
        );
        assert_eq!(parse_retention("1d"), Ok(RETENTION_FLOOR));
        assert_eq!(parse_retention("30d"), Ok(30 * RETENTION_FLOOR));
    }

    #[test]
    fn sizes_take_units() {
        assert_eq!(parse_bytes("8388608"), Ok(8_388_608));
        assert_eq!(parse_bytes("128MiB"), Ok(128 << 20));
        assert_eq!(parse_bytes("512 KiB"), Ok(512 << 10));
        assert_eq!(parse_bytes("5MB"), Ok(5_000_000));
        assert_eq!(parse_bytes("1gib"), Ok(1 << 30));
        assert!(parse_bytes("lots").unwrap_err().contains("8MiB"));
        assert!(
            parse_bytes("3 parsecs")
                .unwrap_err()
                .contains("unknown unit")
        );
        assert!(parse_bytes("99999999999999999999GiB").is_err());
    }

    #[test]
    fn listen_addresses_take_host_names() {
        assert_eq!(
            parse_listen_addr("127.0.0.1:8081").unwrap().to_string(),
            "127.0.0.1:8081"
        );
        assert_eq!(parse_listen_addr("localhost:18180").unwrap().port(), 18180);
        assert!(parse_listen_addr("localhost").is_err());
        assert!(parse_listen_addr("no-such-host.invalid:80").is_err());
    }

    #[test]
    fn urls_must_be_http_with_a_host() {
        assert!(parse_http_url("http://localhost:9200").is_ok());
        assert!(parse_http_url("https://es.example:9200").is_ok());
        let no_scheme = parse_http_url("localhost:9200").unwrap_err();
        assert!(no_scheme.contains("not http:// or https://"), "{no_scheme}");
        assert!(
            parse_http_url("not a url")
                .unwrap_err()
                .contains("http://localhost:9200")
        );
    }

    #[test]
    fn a_password_in_a_url_is_not_shown() {
        let url = url::Url::parse("https://elastic:s3cret@es:9200/").unwrap();
        assert_eq!(redact_url(&url), "https://elastic:***@es:9200/");
        let plain = url::Url::parse("http://es:9200/").unwrap();
        assert_eq!(redact_url(&plain), "http://es:9200/");
    }
}
