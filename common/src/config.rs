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
