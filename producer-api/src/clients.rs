//! How the collector tells clients apart, holds each to its share, and which of their clicks it
//! records: crawlers and privacy signals.

use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::client_address::TrustedProxies;
use crate::error::ApiError;
use crate::fair_share::{Admission, ClientKey, FairShare, ShareSettings};
use crate::metrics::ApiMetrics;

/// What is done with a crawler's clicks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Crawlers {
    Drop,
    Keep,
}

/// What is done when a browser asks not to be tracked (`DNT: 1`, `Sec-GPC: 1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PrivacySignals {
    /// The click counts, and its event keeps no raw user agent and says `doNotTrack`.
    Honour,
    /// The click's event is made as for any other.
    Ignore,
}

/// How clients are told apart, held to their share, and which of them are recorded.
#[derive(Debug, Clone)]
pub struct ClientSettings {
    pub share: ShareSettings,
    pub trusted_proxies: TrustedProxies,
    pub crawlers: Crawlers,
    pub privacy_signals: PrivacySignals,
}

impl ClientSettings {
    /// Every client may send as much as it likes; only the peer's address is believed;
    /// crawlers are not recorded; privacy signals are honoured.
    pub fn unlimited() -> Self {
        ClientSettings {
            share: ShareSettings {
                clicks_per_second: 0,
                burst: 0,
            },
            trusted_proxies: TrustedProxies::default(),
            crawlers: Crawlers::Drop,
            privacy_signals: PrivacySignals::Honour,
        }
    }
}

/// Shortest time between two log lines about clients past their share.
pub const LIMITED_LOG_EVERY: Duration = Duration::from_secs(10);

pub(crate) struct Clients {
    pub(crate) trusted_proxies: TrustedProxies,
    pub(crate) crawlers: Crawlers,
    pub(crate) privacy_signals: PrivacySignals,
    fair_share: Option<FairShare>,
    limited_log: Mutex<common::throttle::Throttle>,
}

impl Clients {
    pub(crate) fn new(settings: ClientSettings) -> Self {
        Clients {
            trusted_proxies: settings.trusted_proxies,
            crawlers: settings.crawlers,
            privacy_signals: settings.privacy_signals,
            fair_share: FairShare::new(settings.share),
            limited_log: Mutex::default(),
        }
    }

    /// Takes `clicks` from `client`'s share, or refuses the request: counted, and logged with
    /// the client's address at most once per [`LIMITED_LOG_EVERY`].
    pub(crate) fn admit(
        &self,
        client: IpAddr,
        clicks: usize,
        metrics: &ApiMetrics,
    ) -> Result<(), ApiError> {
        let Some(share) = &self.fair_share else {
            return Ok(());
        };
        let now = Instant::now();
        match share.admit(ClientKey::of(client), clicks, now) {
            Admission::Admitted => Ok(()),
            Admission::Limited { retry_after } => {
                metrics.clients_limited.inc();
                let due = self
                    .limited_log
                    .lock()
                    .expect("not poisoned")
                    .record(now, LIMITED_LOG_EVERY);
                if let Some(requests) = due {
                    tracing::warn!(
                        %client,
                        requests,
                        clicks,
                        "requests refused: their client is past its share (CLIENT_CLICKS_PER_SECOND, CLIENT_BURST)"
                    );
                }
                Err(ApiError::PastFairShare { retry_after })
            }
        }
    }
}
