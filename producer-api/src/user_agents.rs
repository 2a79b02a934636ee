//! User agents parsed into the event's `browser` (by `woothee`), and remembered: a site sees
//! few distinct browsers, and parsing one costs more than the rest of a request's own work.
//! What is kept of the raw header is cut to [`MAX_KEPT_BYTES`], and a request's agent is read
//! once, whatever number of clicks it carries.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use common::BrowserInfo;

/// Distinct user agents kept before the cache starts over.
const CAPACITY: usize = 4096;

/// Longest raw user agent kept in an event, in bytes. Browsers send 100 to 300 (a long one
/// with a few extensions or an in-app browser's additions stays under 500); anything longer is
/// odd or made to cost, and is cut at a character boundary.
pub const MAX_KEPT_BYTES: usize = 512;

/// The user agent of a request, as its clicks' events keep it.
#[derive(Debug, Clone, PartialEq)]
pub struct Agent {
    /// The raw header, cut to [`MAX_KEPT_BYTES`]; empty when absent, or when the person asked
    /// not to be tracked.
    pub raw: String,
    pub browser: Arc<BrowserInfo>,
    /// The browser sent `DNT: 1` or `Sec-GPC: 1` (and the collector honours them).
    pub do_not_track: bool,
}

/// The first [`MAX_KEPT_BYTES`] of a header's bytes as text: a character the cut splits is
/// dropped whole, and bytes that are not UTF-8 become U+FFFD.
pub fn kept_part(header: &[u8]) -> String {
    let mut head = &header[..header.len().min(MAX_KEPT_BYTES)];
    if let Err(err) = std::str::from_utf8(head)
        && err.error_len().is_none()
    {
        head = &head[..err.valid_up_to()];
    }
    let mut text = String::from_utf8_lossy(head).into_owned();
    let mut end = text.len().min(MAX_KEPT_BYTES);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    text
}

/// The product names HTTP libraries and command-line tools put first in their `User-Agent`
/// (lower case), which woothee files as `misc` or not at all: their clicks are a program's, not
/// a person's, and count as a crawler's.
const TOOLS: [&str; 27] = [
    "curl",
    "wget",
    "python-requests",
    "python-urllib",
    "python-httpx",
    "python",
    "aiohttp",
    "go-http-client",
    "okhttp",
    "java",
    "java-http-client",
    "apache-httpclient",
    "node-fetch",
    "node",
    "axios",
    "undici",
    "got",
    "httpie",
    "postmanruntime",
    "insomnia",
    "libwww-perl",
    "lwp-trivial",
    "guzzlehttp",
    "ruby",
    "faraday",
    "reqwest",
    "scrapy",
];

/// The tool a `User-Agent` names, if it starts with one of [`TOOLS`]: its first product
/// token (up to `/` or a space), compared without case.
pub fn tool_of(user_agent: &str) -> Option<&str> {
    let product = user_agent
        .trim_start()
        .split(['/', ' ', '('])
        .next()
        .filter(|p| !p.is_empty())?;
    TOOLS
        .iter()
        .any(|tool| tool.trim_end_matches('/').eq_ignore_ascii_case(product))
        .then_some(product)
}

/// Parses a raw `User-Agent` header; what the parser cannot tell is [`BrowserInfo::UNKNOWN`].
/// An HTTP library or command-line tool ([`tool_of`]) is in the `crawler` category, named as
/// it names itself when the parser does not know it.
pub fn parse(user_agent: &str) -> BrowserInfo {
    let mut browser = parse_browser(user_agent);
    if let Some(tool) = tool_of(user_agent) {
        browser.category = CRAWLER_CATEGORY.to_owned();
        if browser.name == BrowserInfo::UNKNOWN {
            browser.name = tool.to_owned();
        }
    }
    browser
}

/// What woothee calls a search engine's or a service's robot, and this parse a tool: a
/// category the collector does not record by default.
pub const CRAWLER_CATEGORY: &str = "crawler";

fn parse_browser(user_agent: &str) -> BrowserInfo {
    match woothee::parser::Parser::new().parse(user_agent) {
        Some(parsed) => BrowserInfo {
            name: parsed.name.to_owned(),
            version: parsed.version.to_owned(),
            category: parsed.category.to_owned(),
            os: parsed.os.to_owned(),
            os_version: parsed.os_version.into_owned(),
            vendor: parsed.vendor.to_owned(),
        },
        None => BrowserInfo::unknown(),
    }
}

#[derive(Default)]
pub struct UserAgentCache {
    parsed: RwLock<HashMap<Box<str>, Arc<BrowserInfo>>>,
}

impl UserAgentCache {
    pub fn browser(&self, user_agent: &str) -> Arc<BrowserInfo> {
        if let Some(hit) = self.parsed.read().expect("not poisoned").get(user_agent) {
            return Arc::clone(hit);
        }
        let browser = Arc::new(parse(user_agent));
        let mut parsed = self.parsed.write().expect("not poisoned");
        if parsed.len() >= CAPACITY {
            // Odd or hostile traffic with endless distinct agents: start over, stay bounded.
            parsed.clear();
        }
        parsed.insert(user_agent.into(), Arc::clone(&browser));
        browser
    }

    /// The agent of a request whose `User-Agent` header is `header` (empty when absent); when
    /// the person asked not to be tracked, only its parse is kept.
    pub fn agent(&self, header: &[u8], do_not_track: bool) -> Agent {
        let mut raw = kept_part(header);
        let browser = self.browser(&raw);
        if do_not_track {
            raw.clear();
        }
        Agent {
            raw,
            browser,
            do_not_track,
        }
    }

    pub fn len(&self) -> usize {
        self.parsed.read().expect("not poisoned").len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_browser_is_named_and_what_cannot_be_told_is_unknown() {
        let chrome = parse(
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
        );
        assert_eq!(
            (
                chrome.name.as_str(),
                chrome.version.as_str(),
                chrome.category.as_str()
            ),
            ("Chrome", "120.0.0.0", "pc")
        );
        assert_eq!(
            (chrome.os.as_str(), chrome.vendor.as_str()),
            ("Linux", "Google")
        );
        assert_eq!(chrome.os_version, BrowserInfo::UNKNOWN);
        assert_eq!(parse("zq-probe 0.1"), BrowserInfo::unknown());
        assert_eq!(parse(""), BrowserInfo::unknown());
        assert_eq!(woothee::woothee::VALUE_UNKNOWN, BrowserInfo::UNKNOWN);
    }

    #[test]
    fn http_libraries_and_command_line_tools_are_crawlers_and_browsers_are_not() {
        for agent in [
            "curl/8.11.1",
            "Wget/1.21.4",
            "python-requests/2.32.3",
            "Python-urllib/3.12",
            "Python/3.11 aiohttp/3.9.5",
            "Go-http-client/1.1",
            "Go-http-client/2.0",
            "okhttp/4.12.0",
            "Java-http-client/17.0.9",
            "Java/1.8.0_392",
            "Apache-HttpClient/4.5.14 (Java/17.0.9)",
            "node-fetch/1.0 (+https://github.com/bitinn/node-fetch)",
            "node",
            "axios/1.7.2",
            "undici",
            "HTTPie/3.2.2",
            "PostmanRuntime/7.39.0",
            "libwww-perl/6.72",
            "GuzzleHttp/7",
            "reqwest/0.12",
        ] {
            let parsed = parse(agent);
            assert_eq!(parsed.category, CRAWLER_CATEGORY, "{agent}: {parsed:?}");
            assert_ne!(parsed.name, BrowserInfo::UNKNOWN, "{agent}");
        }
        for agent in [
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
            "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
            // A word that starts like a tool's is not one.
            "curlew-reader 1.0",
            "",
        ] {
            assert_ne!(parse(agent).category, CRAWLER_CATEGORY, "{agent}");
        }
    }

    #[test]
    fn cached_answer_equals_a_fresh_parse() {
        let cache = UserAgentCache::default();
        let agent = "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0";
        let first = cache.browser(agent);
        assert_eq!(cache.browser(agent), first);
        assert_eq!(*first, parse(agent));
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn cache_stays_bounded() {
        let cache = UserAgentCache::default();
        for n in 0..(CAPACITY + 10) {
            cache.browser(&format!("agent/{n}"));
        }
        assert!(cache.len() <= CAPACITY);
    }

    #[test]
    fn a_long_agent_is_cut_at_a_character_boundary_and_parsed_as_cut() {
        let chrome = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";
        assert_eq!(kept_part(chrome.as_bytes()), chrome);
        let long = format!("{chrome} {}", "x".repeat(60 * 1024));
        let cache = UserAgentCache::default();
        let agent = cache.agent(long.as_bytes(), false);
        assert_eq!(agent.raw.len(), MAX_KEPT_BYTES);
        assert!(long.starts_with(&agent.raw));
        assert_eq!(agent.browser.name, "Chrome");
        // Three-byte characters across the cut: the split one goes whole.
        let korean = format!("{}{}", "a".repeat(MAX_KEPT_BYTES - 1), "한국");
        let kept = kept_part(korean.as_bytes());
        assert_eq!(kept, "a".repeat(MAX_KEPT_BYTES - 1));
        let aligned = format!("{}{}", "a".repeat(MAX_KEPT_BYTES - 3), "한국");
        assert_eq!(
            kept_part(aligned.as_bytes()),
            format!("{}한", "a".repeat(MAX_KEPT_BYTES - 3))
        );
        // Bytes that are not UTF-8 become U+FFFD, and the result still fits.
        let latin1: Vec<u8> = b"caf\xE9 ".repeat(200);
        let kept = kept_part(&latin1);
        assert!(kept.len() <= MAX_KEPT_BYTES, "{}", kept.len());
        assert!(kept.starts_with("caf\u{FFFD} caf\u{FFFD} "), "{kept}");
        assert_eq!(kept_part(b""), "");
    }
}
