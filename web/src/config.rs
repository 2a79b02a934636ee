//! Command-line and environment configuration. `web --help` is the reference.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
use common::Palette;
use common::search::SearchArgs;
use url::Url;

/// The colour page: a name field and one button per palette colour; and the results page: what
/// the clicks became in the search index, and each stage of the pipeline at a glance.
#[derive(Debug, Clone, Parser)]
#[command(name = "web", version, about)]
pub struct Config {
    /// Address the page is served on.
    #[arg(long, env = "LISTEN_ADDR", default_value = "127.0.0.1:8080", value_parser = common::config::parse_listen_addr)]
    pub listen_addr: SocketAddr,

    /// Base URL of the producer API, as the person's browser reaches it; the page posts
    /// clicks to `<API_BASE_URL>/api/events`.
    #[arg(long, env = "API_BASE_URL", default_value = "http://127.0.0.1:8081", value_parser = parse_base_url)]
    pub api_base_url: Url,

    /// Colours offered, comma-separated; must match the producer API's palette.
    #[arg(long, env = "COLOR_PALETTE", default_value_t = Palette::default())]
    pub color_palette: Palette,

    /// The search cluster the results page reads (only `<ES_INDEX_PREFIX>-*`; a read-only user
    /// is enough). The browser never talks to it.
    #[command(flatten)]
    pub search: SearchArgs,

    /// Longest wait for the search cluster or an admin server while the results page waits.
    #[arg(long, env = "RESULTS_TIMEOUT", default_value = "2s", value_parser = humantime::parse_duration)]
    pub results_timeout: Duration,

    /// The producer API's admin endpoints (`/metrics`, `/readyz`), for the pipeline's health.
    #[arg(long, env = "COLLECTOR_ADMIN_URL", default_value = "http://127.0.0.1:8081", value_parser = parse_base_url)]
    pub collector_admin_url: Url,

    /// Each hdfs-consumer process's admin server, comma-separated.
    #[arg(long, env = "HDFS_CONSUMER_ADMIN_URLS", default_value = "http://127.0.0.1:9101", value_delimiter = ',', value_parser = parse_base_url)]
    pub hdfs_consumer_admin_urls: Vec<Url>,

    /// Each es-sink process's admin server, comma-separated.
    #[arg(long, env = "ES_SINK_ADMIN_URLS", default_value = "http://127.0.0.1:9102", value_delimiter = ',', value_parser = parse_base_url)]
    pub es_sink_admin_urls: Vec<Url>,

    /// The token the eraser shows to make this page forget remembered clicks
    /// (`POST /results/forget`, `Authorization: Bearer <token>`), at least 16 characters;
    /// unset: no one may. The eraser's RESULTS_TOKEN is the same value.
    #[arg(long, env = "FORGET_TOKEN", hide_env_values = true, value_parser = parse_token)]
    pub forget_token: Option<String>,

    #[command(flatten)]
    pub log: common::telemetry::LogArgs,
}

/// The shortest token taken, in characters: anything shorter is guessable.
pub const MIN_TOKEN_CHARS: usize = 16;

fn parse_token(raw: &str) -> Result<String, String> {
    let chars = raw.chars().count();
    if chars < MIN_TOKEN_CHARS {
        return Err(format!(
            "a token of {chars} characters is too short to keep anyone out: give at least {MIN_TOKEN_CHARS}"
        ));
    }
    if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("a token has no spaces or control characters".into());
    }
    Ok(raw.to_owned())
}

fn parse_base_url(raw: &str) -> Result<Url, String> {
    let url = Url::parse(raw).map_err(|e| format!("{raw:?} is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(format!("{raw:?} is not an http(s) URL with a host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!("{raw:?} must not have a query or fragment"));
    }
    Ok(url)
}

impl Config {
    /// The API base without a trailing slash, ready for `+ "/api/events"`.
    pub fn api_base(&self) -> String {
        self.api_base_url.as_str().trim_end_matches('/').to_owned()
    }

    /// The API's origin (scheme://host:port), for the page's Content-Security-Policy.
    pub fn api_origin(&self) -> String {
        self.api_base_url.origin().ascii_serialization()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn help_names_every_variable_the_page_reads() {
        use clap::CommandFactory;
        let help = Config::command().render_long_help().to_string();
        for variable in [
            "LISTEN_ADDR",
            "API_BASE_URL",
            "COLOR_PALETTE",
            "ES_URL",
            "ES_USERNAME",
            "ES_PASSWORD",
            "ES_API_KEY",
            "ES_CA_CERT",
            "ES_INDEX_PREFIX",
            "RESULTS_TIMEOUT",
            "COLLECTOR_ADMIN_URL",
            "HDFS_CONSUMER_ADMIN_URLS",
            "ES_SINK_ADMIN_URLS",
            "RUST_LOG",
            "LOG_FORMAT",
        ] {
            assert!(
                help.contains(&format!("[env: {variable}")),
                "{variable}: {help}"
            );
        }
    }

    #[test]
    fn defaults_point_the_page_at_the_local_api() {
        let config = Config::try_parse_from(["web"]).unwrap();
        assert_eq!(config.listen_addr.to_string(), "127.0.0.1:8080");
        assert_eq!(config.api_base(), "http://127.0.0.1:8081");
        assert_eq!(config.api_origin(), "http://127.0.0.1:8081");
    }

    #[test]
    fn api_base_url_keeps_a_path_prefix() {
        let config =
            Config::try_parse_from(["web", "--api-base-url", "https://example.org/collector/"])
                .unwrap();
        assert_eq!(config.api_base(), "https://example.org/collector");
        assert_eq!(config.api_origin(), "https://example.org");
    }

    #[test]
    fn api_base_url_must_be_http() {
        for bad in ["localhost:8081", "javascript:alert(1)", "http://x/?q=1"] {
            let err = Config::try_parse_from(["web", "--api-base-url", bad]).unwrap_err();
            assert!(err.to_string().contains("--api-base-url"), "{err}");
        }
    }
}
