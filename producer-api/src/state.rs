//! What every request handler shares: the publisher, the palette, the metrics, and the caches
//! a click passes through.

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::Palette;
use prometheus_client::registry::Registry;

use crate::client_address::TrustedProxies;
use crate::config::{Crawlers, PrivacySignals};
use crate::dedup::{EventIdSettings, RecentIds};
use crate::error::ApiError;
use crate::fair_share::{Admission, ClientKey, FairShare, ShareSettings};
use crate::metrics::ApiMetrics;
use crate::publisher::EventPublisher;
use crate::user_agents::UserAgentCache;

#[derive(Clone)]
pub struct AppState {
    pub publisher: Arc<dyn EventPublisher>,
    pub palette: Arc<Palette>,
    pub metrics: Arc<ApiMetrics>,
    pub(crate) user_agents: Arc<UserAgentCache>,
    pub(crate) recent_ids: Arc<RecentIds>,
    pub(crate) event_id_max_skew: Duration,
    pub(crate) registry: Arc<Registry>,
    pub(crate) clients: Arc<Clients>,
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
    fn new(settings: ClientSettings) -> Self {
        Clients {
            trusted_proxies: settings.trusted_proxies,
            crawlers: settings.crawlers,
            privacy_signals: settings.privacy_signals,
            fair_share: FairShare::new(settings.share),
            limited_log: Mutex::default(),
        }
    }
}

impl AppState {
    pub fn new(
        publisher: Arc<dyn EventPublisher>,
        palette: Palette,
        metrics: ApiMetrics,
        event_ids: &EventIdSettings,
    ) -> Self {
        let registry = Arc::new(metrics.registry("producer_api"));
        AppState {
            publisher,
            palette: Arc::new(palette),
            metrics: Arc::new(metrics),
            user_agents: Arc::default(),
            recent_ids: Arc::new(RecentIds::new(
                event_ids.dedup_window,
                event_ids.dedup_max_ids,
            )),
            event_id_max_skew: event_ids.max_skew,
            registry,
            clients: Arc::new(Clients::new(ClientSettings::unlimited())),
        }
    }

    /// The same state with `settings` for its clients (unlimited without this).
    pub fn with_clients(mut self, settings: ClientSettings) -> Self {
        self.clients = Arc::new(Clients::new(settings));
        self
    }

    /// Takes `clicks` from `client`'s share, or refuses the request: counted, and logged with
    /// the client's address at most once per [`LIMITED_LOG_EVERY`].
    pub(crate) fn admit(&self, client: IpAddr, clicks: usize) -> Result<(), ApiError> {
        let Some(share) = &self.clients.fair_share else {
            return Ok(());
        };
        let now = Instant::now();
        match share.admit(ClientKey::of(client), clicks, now) {
            Admission::Admitted => Ok(()),
            Admission::Limited { retry_after } => {
                self.metrics.clients_limited.inc();
                let due = self
                    .clients
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
