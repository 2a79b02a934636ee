//! What must not drift between the pipeline's services.
//!
//! - [`event`]: the JSON event every click becomes, and the rules a valid one follows;
//! - [`palette`]: the colours a person may pick;
//! - [`kafka`]: the client settings producers and consumers share, and the consumer-group
//!   member both sinks run, with what every member counts (feature `kafka`);
//! - [`search`]: the search cluster's settings and client (feature `search`);
//! - [`http`], [`admin`]: the admin endpoints' router and answers (feature `http`);
//! - [`host`]: how a sink runs its polling loops and admin server, and stops (features `kafka`
//!   and `http`);
//! - [`metrics`]: metric sets declared once; [`heartbeat`]: loop progress for readiness;
//! - [`backoff`]: the spacing of retries; [`config`]: parsers of sizes, addresses and URLs;
//! - [`telemetry`] and [`shutdown`]: how every binary logs and stops; [`throttle`]: one log line
//!   now and then for a repeated event; [`allocator`]: the C
//!   allocator's settings for the sinks, which hold librdkafka's fetch buffers.

#[cfg(feature = "http")]
pub mod admin;
pub mod allocator;
pub mod backoff;
pub mod config;
pub mod event;
pub mod heartbeat;
#[cfg(all(feature = "kafka", feature = "http"))]
pub mod host;
#[cfg(feature = "http")]
pub mod http;
#[cfg(feature = "kafka")]
pub mod kafka;
#[cfg(any(feature = "kafka", feature = "http"))]
pub mod metrics;
pub mod palette;
#[cfg(feature = "search")]
pub mod search;
pub mod shutdown;
pub mod telemetry;
pub mod throttle;

pub use event::{BrowserInfo, ColorEvent, EventError, OLDEST_READ_SCHEMA_VERSION, SCHEMA_VERSION};
pub use palette::Palette;
