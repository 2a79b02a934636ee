//! Prometheus metrics of the collector, served as text on `/metrics` as `producer_api_<name>`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};

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

fn clicks_histogram() -> Histogram {
    // 1 to 128 clicks.
    Histogram::new(exponential_buckets(1.0, 2.0, 8))
}

common::metric_set! {
    /// Counters shared by the request handlers and the producer's delivery callback.
    pub struct ApiMetrics {
        /// Events answered as accepted and queued for Kafka
        pub events_accepted: Counter = Counter::default(),
        /// Clicks refused, by reason (a refused request counts once, each refused click of a batch once)
        pub events_rejected: Family<ReasonLabel, Counter> = Family::default(),
        /// Clicks answered as accepted but not produced, by reason (crawler)
        pub events_not_recorded: Family<ReasonLabel, Counter> = Family::default(),
        /// Clicks whose eventId was accepted recently: answered as accepted, not produced again
        pub events_duplicate: Counter = Counter::default(),
        /// Events acknowledged by the partition leader
        pub events_delivered: Counter = Counter::default(),
        /// Accepted events the producer gave up delivering
        pub delivery_failures: Counter = Counter::default(),
        /// Producer outbound queue: records not yet acknowledged, plus pending broker requests
        pub producer_queue_depth: Gauge = Gauge::default(),
        /// Requests carrying an Origin that CORS_ALLOWED_ORIGINS does not list
        pub origins_refused: Counter = Counter::default(),
        /// Requests refused because their client was past its share of clicks
        pub clients_limited: Counter = Counter::default(),
        /// Clicks per POST /api/events request
        pub clicks_per_request: Histogram = clicks_histogram(),
        /// Time from request to response, by route and status
        pub request_duration_seconds: Family<RouteLabels, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(latency_histogram),
    }
}
