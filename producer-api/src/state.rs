//! What every request handler shares: the publisher, the palette, the metrics, and the caches
//! a click passes through.

use std::sync::Arc;
use std::time::Duration;

use common::Palette;
use prometheus_client::registry::Registry;

use crate::dedup::{EventIdSettings, RecentIds};
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
        }
    }
}
