//! Command-line and environment configuration. `producer-api --help` is the reference.

use std::net::SocketAddr;
use std::time::Duration;

use axum::http::HeaderValue;
use clap::Parser;
use common::Palette;
use common::config::parse_listen_addr;
use common::kafka::{KafkaArgs, ProducerTuning};
use common::telemetry::LogArgs;

use ipnet::IpNet;

use crate::client_address::{ForwardedHeader, TrustedProxies};
use crate::clients::{ClientSettings, Crawlers, PrivacySignals};
use crate::dedup::EventIdSettings;
use crate::fair_share::ShareSettings;
use crate::listener::ConnectionLimits;

/// REST collector: turns each colour click into a JSON event and produces it to Kafka.
#[derive(Debug, Clone, Parser)]
#[command(name = "producer-api", version, about)]
pub struct Config {
    /// Address the HTTP API listens on (host:port; a host name is resolved at start).
    #[arg(long, env = "LISTEN_ADDR", default_value = "127.0.0.1:8081", value_parser = parse_listen_addr)]
    pub listen_addr: SocketAddr,

    /// Serve /metrics on this address (host:port) instead of LISTEN_ADDR, so that the public
    /// listener answers only clicks and probes; /readyz is answered there too. Unset: /metrics
    /// is on LISTEN_ADDR.
    #[arg(long, env = "METRICS_ADDR", value_parser = parse_listen_addr)]
    pub metrics_addr: Option<SocketAddr>,

    /// Kafka settings; the extra properties apply to the producer, after the design's own.
    #[command(flatten)]
    pub kafka: KafkaArgs,

    /// Origins allowed to call the API from a browser, comma-separated (scheme://host:port).
    #[arg(
        long,
        env = "CORS_ALLOWED_ORIGINS",
        value_delimiter = ',',
        default_value = "http://127.0.0.1:8080,http://localhost:8080",
        value_parser = parse_origin
    )]
    pub cors_allowed_origins: Vec<HeaderValue>,

    /// Colours a click may carry, comma-separated; the page must use the same list.
    #[arg(long, env = "COLOR_PALETTE", default_value_t = Palette::default())]
    pub color_palette: Palette,

    /// Records the producer's local queue holds; beyond it requests answer 503 with Retry-After.
    #[arg(long, env = "PRODUCER_QUEUE_MAX_MESSAGES", default_value_t = 100_000,
          value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
    pub producer_queue_max_messages: u32,

    /// How long the producer keeps trying to deliver a record before counting it as failed.
    #[arg(long, env = "PRODUCER_MESSAGE_TIMEOUT", default_value = "30s", value_parser = humantime::parse_duration)]
    pub producer_message_timeout: Duration,

    /// How long a request may take before it is answered 408.
    #[arg(long, env = "REQUEST_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub request_timeout: Duration,

    /// A request's headers must arrive whole within this, from their first byte; a client
    /// trickling them is disconnected.
    #[arg(long, env = "HTTP_HEADER_READ_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub http_header_read_timeout: Duration,

    /// A connection that sends and receives nothing for this long is closed.
    #[arg(long, env = "HTTP_IDLE_TIMEOUT", default_value = "60s", value_parser = humantime::parse_duration)]
    pub http_idle_timeout: Duration,

    /// Connections open at once; one more is closed as soon as it is accepted. Keep it below
    /// the process's open-file limit. Memory: a few KiB each.
    #[arg(long, env = "HTTP_MAX_CONNECTIONS", default_value_t = 1024,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub http_max_connections: u32,

    /// On shutdown, how long to wait for queued records to reach the broker.
    #[arg(long, env = "SHUTDOWN_FLUSH_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub shutdown_flush_timeout: Duration,

    /// How far from the collector's clock a click's own times may be: its clientTimestamp,
    /// and the time inside its own eventId (a UUID v7); further is refused. Pages keep clicks
    /// made offline and send them later.
    #[arg(long, env = "EVENT_ID_MAX_SKEW", default_value = "24h", value_parser = humantime::parse_duration)]
    pub event_id_max_skew: Duration,

    /// How long an accepted click's own eventId is remembered: a repeat within it is answered
    /// as accepted and not produced again (the sinks deduplicate beyond it).
    #[arg(long, env = "DEDUP_WINDOW", default_value = "10m", value_parser = humantime::parse_duration)]
    pub dedup_window: Duration,

    /// Most eventIds remembered at once; the oldest are forgotten first. Memory: about 80
    /// bytes each.
    #[arg(long, env = "DEDUP_MAX_IDS", default_value_t = 100_000,
          value_parser = clap::value_parser!(u32).range(1..=100_000_000))]
    pub dedup_max_ids: u32,

    /// Clicks per second a client (an IPv4 address, an IPv6 /64) may send over time; past its
    /// share it is answered 429 with Retry-After. 0 turns the limit off.
    #[arg(long, env = "CLIENT_CLICKS_PER_SECOND", default_value_t = 20)]
    pub client_clicks_per_second: u32,

    /// Clicks a client may send at once before the per-second share applies (a page sends up
    /// to 100 unsent clicks in one batch). 0 turns the limit off.
    #[arg(long, env = "CLIENT_BURST", default_value_t = 200)]
    pub client_burst: u32,

    /// Clicks from user agents woothee calls crawlers, and from HTTP libraries and command-line
    /// tools (curl, Wget, python-requests, Go-http-client, okhttp, axios and the like): `drop`
    /// answers them 202 and produces nothing (counted as `crawler`); `keep` produces them,
    /// their browser's category saying `crawler`.
    #[arg(long, env = "CRAWLERS", value_enum, default_value_t = Crawlers::Drop)]
    pub crawlers: Crawlers,

    /// `honour`: a click whose browser sends `DNT: 1` or `Sec-GPC: 1` still counts, but its
    /// event keeps no raw user agent (only its parse) and says `doNotTrack: true`. `ignore`
    /// treats such clicks as any other.
    #[arg(long, env = "PRIVACY_SIGNALS", value_enum, default_value_t = PrivacySignals::Honour)]
    pub privacy_signals: PrivacySignals,

    /// Take a POST that names no page (neither `Origin` nor `Referer`): what scripts and
    /// servers send, never a browser. Off by default: such a POST is refused 403.
    #[arg(long, env = "ALLOW_NO_ORIGIN", default_value_t = false, action = clap::ArgAction::Set)]
    pub allow_no_origin: bool,

    /// Proxies whose FORWARDED_HEADER names the client, comma-separated CIDRs or addresses
    /// (e.g. 10.0.0.0/8). Empty: the connecting peer is the client, and forwarded headers are
    /// ignored.
    #[arg(long, env = "TRUSTED_PROXIES", value_delimiter = ',', value_parser = parse_network)]
    pub trusted_proxies: Vec<IpNet>,

    /// The one header the trusted proxies write the client's address in: `x-forwarded-for`
    /// (nginx, HAProxy, most cloud load balancers) or `forwarded` (RFC 7239). The other is
    /// never read, as a client may send it.
    #[arg(
        long,
        env = "FORWARDED_HEADER",
        value_enum,
        default_value = "x-forwarded-for"
    )]
    pub forwarded_header: ForwardedHeader,

    /// How often broker metadata is fetched for /readyz; ready while the last success is
    /// younger than three intervals.
    #[arg(long, env = "READINESS_PROBE_INTERVAL", default_value = "5s", value_parser = humantime::parse_duration)]
    pub readiness_probe_interval: Duration,

    #[command(flatten)]
    pub log: LogArgs,
}

impl Config {
    pub fn event_ids(&self) -> EventIdSettings {
        EventIdSettings {
            max_skew: self.event_id_max_skew,
            dedup_window: self.dedup_window,
            dedup_max_ids: self.dedup_max_ids as usize,
        }
    }

    pub fn connection_limits(&self) -> ConnectionLimits {
        ConnectionLimits {
            header_read_timeout: self.http_header_read_timeout,
            idle_timeout: self.http_idle_timeout,
            max_connections: self.http_max_connections as usize,
            // No request may take longer than this anyway.
            drain_timeout: self.request_timeout + Duration::from_secs(1),
        }
    }

    pub fn client_settings(&self) -> ClientSettings {
        ClientSettings {
            share: ShareSettings {
                clicks_per_second: self.client_clicks_per_second,
                burst: self.client_burst,
            },
            trusted_proxies: TrustedProxies::new(
                self.trusted_proxies.clone(),
                self.forwarded_header,
            ),
            crawlers: self.crawlers,
            privacy_signals: self.privacy_signals,
        }
    }

    pub fn producer_tuning(&self) -> ProducerTuning {
        ProducerTuning {
            queue_max_messages: self.producer_queue_max_messages,
            message_timeout_ms: self.producer_message_timeout.as_millis().max(1) as u64,
            ..ProducerTuning::default()
        }
    }

    /// The defaults, pointed at the given brokers: a starting point for tests and embedders.
    pub fn for_brokers(bootstrap_servers: &str) -> Self {
        let mut config = Config::parse_from(["producer-api"]);
        config.kafka.bootstrap_servers = bootstrap_servers.to_owned();
        config
    }
}

/// A network (`10.0.0.0/8`) or one address (`10.0.0.2`).
fn parse_network(raw: &str) -> Result<IpNet, String> {
    let raw = raw.trim();
    raw.parse::<IpNet>()
        .or_else(|_| raw.parse::<std::net::IpAddr>().map(IpNet::from))
        .map_err(|_| format!("{raw:?} is neither a CIDR (10.0.0.0/8) nor an address"))
}

fn parse_origin(raw: &str) -> Result<HeaderValue, String> {
    let raw = raw.trim().trim_end_matches('/');
    let (scheme, rest) = raw.split_once("://").ok_or_else(|| {
        format!("origin {raw:?} has no scheme (expected e.g. http://localhost:8080)")
    })?;
    if !matches!(scheme, "http" | "https") || rest.is_empty() || rest.contains('/') {
        return Err(format!("origin {raw:?} is not scheme://host[:port]"));
    }
    HeaderValue::from_str(raw).map_err(|e| format!("origin {raw:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_work_on_one_machine() {
        let config = Config::try_parse_from(["producer-api"]).unwrap();
        assert_eq!(config.listen_addr.to_string(), "127.0.0.1:8081");
        assert_eq!(config.kafka.bootstrap_servers, "localhost:9092");
        assert_eq!(config.kafka.topic, "select-color");
        assert_eq!(config.cors_allowed_origins.len(), 2);
        assert_eq!(config.color_palette, Palette::default());
    }

    #[test]
    fn origins_are_validated_and_trailing_slashes_dropped() {
        let config = Config::try_parse_from([
            "producer-api",
            "--cors-allowed-origins",
            "https://example.org/,http://10.0.0.1:8080",
        ])
        .unwrap();
        assert_eq!(config.cors_allowed_origins[0], "https://example.org");
        for bad in ["example.org", "ftp://x", "http://x/path"] {
            let err = Config::try_parse_from(["producer-api", "--cors-allowed-origins", bad])
                .unwrap_err();
            assert!(err.to_string().contains("cors-allowed-origins"), "{err}");
        }
    }

    #[test]
    fn trusted_proxies_take_networks_and_addresses_and_name_the_option_when_wrong() {
        let config =
            Config::try_parse_from(["producer-api", "--trusted-proxies", "10.0.0.0/8, fd00::1"])
                .unwrap();
        let proxies = config.client_settings().trusted_proxies;
        assert!(proxies.contains("10.9.8.7".parse().unwrap()));
        assert!(proxies.contains("fd00::1".parse().unwrap()));
        assert!(!proxies.contains("fd00::2".parse().unwrap()));
        assert!(!proxies.contains("192.0.2.1".parse().unwrap()));
        let err = Config::try_parse_from(["producer-api", "--trusted-proxies", "10.0.0.0/33"])
            .unwrap_err();
        assert!(err.to_string().contains("--trusted-proxies"), "{err}");
        let defaults = Config::try_parse_from(["producer-api"]).unwrap();
        assert!(defaults.trusted_proxies.is_empty());
        assert_eq!(
            defaults.client_settings().share,
            ShareSettings {
                clicks_per_second: 20,
                burst: 200
            }
        );
    }

    #[test]
    fn a_bad_palette_names_the_option() {
        let err = Config::try_parse_from(["producer-api", "--color-palette", "Red"]).unwrap_err();
        assert!(err.to_string().contains("--color-palette"), "{err}");
    }
}
