//! What must not drift between the pipeline's services.
//!
//! - [`event`]: the JSON event every click becomes, and the rules a valid one follows;
//! - [`palette`]: the colours a person may pick;
//! - [`kafka`]: the client settings producers and consumers share (feature `kafka`);
//! - [`http`]: `/metrics` and `/healthz` answers of the admin endpoints (feature `http`);
//! - [`telemetry`] and [`shutdown`]: how every binary logs and stops.

pub mod event;
#[cfg(feature = "http")]
pub mod http;
#[cfg(feature = "kafka")]
pub mod kafka;
pub mod palette;
pub mod shutdown;
pub mod telemetry;

pub use event::{BrowserInfo, ColorEvent, EventError, SCHEMA_VERSION};
pub use palette::Palette;
