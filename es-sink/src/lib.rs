//! The Elasticsearch sink's pure core: how events become `_bulk` requests, how a `_bulk`
//! answer is read item by item, how retries are spaced, and the index template.
//!
//! The consumer loop, the HTTP client and the dead-letter producer are not built yet; the
//! binary refuses to run until they are.

pub mod backoff;
pub mod bulk;
pub mod response;
pub mod template;
