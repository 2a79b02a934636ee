//! User agents parsed into the event's `browser` (by `woothee`), and remembered: a site sees
//! few distinct browsers, and parsing one costs more than the rest of a request's own work.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use common::BrowserInfo;

/// Distinct user agents kept before the cache starts over.
const CAPACITY: usize = 4096;
/// Longer headers are parsed every time rather than kept.
const MAX_CACHED_LEN: usize = 512;

/// Parses a raw `User-Agent` header; what the parser cannot tell is [`BrowserInfo::UNKNOWN`].
pub fn parse(user_agent: &str) -> BrowserInfo {
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
        if user_agent.len() <= MAX_CACHED_LEN {
            let mut parsed = self.parsed.write().expect("not poisoned");
            if parsed.len() >= CAPACITY {
                // Odd or hostile traffic with endless distinct agents: start over, stay bounded.
                parsed.clear();
            }
            parsed.insert(user_agent.into(), Arc::clone(&browser));
        }
        browser
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
        cache.browser(&"x".repeat(MAX_CACHED_LEN + 1));
        assert!(cache.len() <= CAPACITY);
    }
}
