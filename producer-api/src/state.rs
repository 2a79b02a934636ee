//! What every request handler shares: the publisher, the palette, the metrics, and the caches
//! a click passes through.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use common::Palette;
use prometheus_client::registry::Registry;

use crate::clients::{ClientSettings, Clients};
use crate::dedup::{EventIdSettings, RecentIds};
use crate::error::ApiError;
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

    /// Takes `clicks` from `client`'s share, or refuses the request ([`Clients::admit`]).
    pub(crate) fn admit(&self, client: IpAddr, clicks: usize) -> Result<(), ApiError> {
        self.clients.admit(client, clicks, &self.metrics)
    }
}
