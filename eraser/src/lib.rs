//! Erasure on request: one person's clicks removed from every store that can remove one click,
//! while the pipeline runs, and kept from coming back.
//!
//! 1. Each partition's end offset is read: the clicks produced before it are the ones erased
//!    (a click the person makes afterwards is new, and kept, in every store).
//! 2. **Search index** ([`search`]): once es-sink's group has committed up to those ends, so
//!    every such click is indexed, their ids are kept as tombstones, then they are deleted by
//!    query, the answer checked to the last document.
//! 3. **Landed files** ([`landing`]): the request is filed beside the landed files; each
//!    partition's holder in hdfs-consumer carries it out once it has landed up to that end,
//!    rewriting its files through the partition's commit log. The ids it erased are kept as
//!    tombstones, and the request, which holds the names, is withdrawn.
//! 4. **Results page** ([`results`]): each web process drops the clicks it remembers, after the
//!    index no longer has them.
//!
//! Kafka cannot delete one record: the topic keeps a click until its retention. The tombstones
//! ([`tombstones`]) keep it from coming back meanwhile: both sinks skip an erased id on any
//! replay. A store neither configured nor skipped by name is an error; one that is not done by
//! `ERASURE_TIMEOUT` is in the report with why, and the command exits non-zero. The erasure is
//! logged and audited by its id and counts, never by the names ([`audit`]).

pub mod audit;
pub mod config;
pub mod error;
pub mod kafka;
pub mod landing;
pub mod outcome;
pub mod report;
pub mod results;
pub mod search;
pub mod tombstones;

use std::time::Instant;

use chrono::Utc;
use lake::ErasureRequest;

use config::Store;
use tombstones::TombstoneWriter;

pub use config::Config;
pub use error::Error;
pub use outcome::Outcome;
pub use report::Report;

/// Erases what `config` names from every store it gives, and appends the report to the audit
/// file. An unfinished store is in the report, not an error.
pub async fn run(config: Config) -> Result<Report, Error> {
    config.check().map_err(Error::Config)?;
    let kafka_args = config.kafka.clone();
    let ends = tokio::task::spawn_blocking(move || kafka::ends(&kafka_args))
        .await
        .expect("reading end offsets does not panic")?;
    let request = ErasureRequest::new(ends, config.user_names.clone(), config.event_ids.clone());
    let kafka_args = config.kafka.clone();
    let tombstones = tokio::task::spawn_blocking(move || TombstoneWriter::connect(&kafka_args))
        .await
        .expect("connecting to the erased ids' topic does not panic")?;
    // The ids named outright are erased wherever they are.
    tombstones.keep(&request.event_ids, &request.id).await?;
    let started = Instant::now();
    let deadline = started + config.timeout;
    tracing::info!(
        request = request.id,
        user_names = request.user_names.len(),
        event_ids = request.event_ids.len(),
        partitions = request.ends.len(),
        "erasure requested"
    );
    let landed = async {
        match (&config.landing_url, config.asks(Store::LandedFiles)) {
            (Some(url), true) => {
                landing::erase(url, &config.kafka.topic, &request, &tombstones, deadline).await
            }
            _ => Ok(Outcome::Skipped),
        }
    };
    let searched = async {
        if !config.asks(Store::SearchIndex) {
            return Outcome::Skipped;
        }
        search::erase(&config, &request, &tombstones, deadline).await
    };
    let (landed, searched) = tokio::join!(landed, searched);
    let landed = landed?;
    // Only once the index no longer has them: a page asking meanwhile would find them again.
    let remembered = if !config.asks(Store::ResultsPage) {
        Outcome::Skipped
    } else if searched.is_unfinished() {
        Outcome::Unfinished("the search index is not erased yet".to_owned())
    } else {
        let token = config.results_token.as_deref().unwrap_or_default();
        results::forget(&config.results_urls, token, &request).await
    };
    let report = Report {
        request: request.id.clone(),
        requested_at: request.requested_at,
        finished_at: Utc::now(),
        user_names: request.user_names.len(),
        event_ids: request.event_ids.len(),
        search_index: searched,
        landed_files: landed,
        results_page: remembered,
    };
    tracing::info!(
        request = report.request,
        unfinished = report.unfinished(),
        ms = started.elapsed().as_millis() as u64,
        report = serde_json::to_string(&report).expect("a report serializes"),
        "erasure finished"
    );
    audit::append(&config.audit_file, &report)?;
    Ok(report)
}
