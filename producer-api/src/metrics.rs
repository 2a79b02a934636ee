//! Prometheus metrics of the collector, served as text on `/metrics`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    pub reason: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub route: &'static str,
    pub status: u16,
}

fn latency_histogram() -> Histogram {
    // 100 µs to ~3.3 s.
    Histogram::new(exponential_buckets(0.0001, 2.0, 16))
}

/// Counters shared by the request handlers and the producer's delivery callback.
#[derive(Clone)]
pub struct ApiMetrics {
    pub accepted: Counter,
    pub rejected: Family<ReasonLabel, Counter>,
    pub delivered: Counter,
    pub delivery_failures: Counter,
    pub queue_depth: Gauge,
    pub request_duration: Family<RouteLabels, Histogram, fn() -> Histogram>,
}

impl Default for ApiMetrics {
    fn default() -> Self {
        ApiMetrics {
            accepted: Counter::default(),
            rejected: Family::default(),
            delivered: Counter::default(),
            delivery_failures: Counter::default(),
            queue_depth: Gauge::default(),
            request_duration: Family::new_with_constructor(latency_histogram),
        }
    }
}

impl ApiMetrics {
    pub fn registry(&self) -> Registry {
        let mut registry = Registry::with_prefix("producer_api");
        registry.register(
            "events_accepted",
            "Events answered 202 and queued for Kafka",
            self.accepted.clone(),
        );
        registry.register(
            "events_rejected",
            "Requests refused, by reason",
            self.rejected.clone(),
        );
        registry.register(
            "events_delivered",
            "Events acknowledged by the partition leader",
            self.delivered.clone(),
        );
        registry.register(
            "delivery_failures",
            "Accepted events the producer gave up delivering",
            self.delivery_failures.clone(),
        );
        registry.register(
            "producer_queue_depth",
            "Producer outbound queue: records not yet acknowledged, plus pending broker requests",
            self.queue_depth.clone(),
        );
        registry.register(
            "request_duration_seconds",
            "Time from request to response, by route and status",
            self.request_duration.clone(),
        );
        registry
    }
}
