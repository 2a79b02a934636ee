//! Erasure on request: one person's clicks removed from every store that can remove one click,
//! while the pipeline runs.
//!
//! 1. Each partition's end offset is read: the clicks produced before it are the ones erased
//!    (a click the person makes afterwards is new, and kept).
//! 2. **Landed files** ([`landing`]): the request is filed beside the landed files; each
//!    partition's holder in hdfs-consumer carries it out once it has landed up to that end,
//!    rewriting its files through the partition's commit log, and records what it removed in
//!    its next entry, which is read back here. The request, which holds the names, is then
//!    withdrawn.
//! 3. **Search index** ([`search`]): once es-sink's group has committed up to those ends, so
//!    every such click is indexed, they are deleted by query.
//! 4. **Results page** ([`results`]): each web process drops the clicks it remembers, after the
//!    index no longer has them.
//!
//! Kafka cannot delete one record: the topic's retention bounds how long a click stays there.
//! The erasure is logged and audited by its id and counts, never by the names ([`audit`]).

pub mod audit;
pub mod config;
pub mod kafka;
pub mod landing;
pub mod results;
pub mod search;

use std::time::Instant;

use chrono::{DateTime, Utc};
use hdfs_consumer::erasure::ErasureRequest;
use serde::Serialize;

pub use config::Config;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Config(String),
    #[error("Kafka at {bootstrap}: {source}")]
    Kafka {
        bootstrap: String,
        source: rdkafka::error::KafkaError,
    },
    #[error("topic {0} not found or has no partitions")]
    NoSuchTopic(String),
    #[error(transparent)]
    Storage(#[from] hdfs_consumer::storage::StorageError),
    #[error("cannot append to the audit file {path}: {source}")]
    Audit {
        path: String,
        source: std::io::Error,
    },
}

/// What became of one store's part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Outcome<T> {
    /// Done: what was found and removed.
    Erased(T),
    /// The store was not asked (not configured).
    NotAsked,
    /// Not done, and why.
    Unfinished(String),
}

impl<T> Outcome<T> {
    pub fn is_unfinished(&self) -> bool {
        matches!(self, Outcome::Unfinished(_))
    }
}

/// What an erasure did, store by store: printed, logged and audited. It never holds a name.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub request: String,
    pub requested_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    /// How many user names and event ids were named.
    pub user_names: usize,
    pub event_ids: usize,
    pub search_index: Outcome<search::Deleted>,
    pub landed_files: Outcome<landing::Rewritten>,
    pub results_page: Outcome<usize>,
}

impl Report {
    /// Whether a store that was asked is not done.
    pub fn unfinished(&self) -> bool {
        self.search_index.is_unfinished()
            || self.landed_files.is_unfinished()
            || self.results_page.is_unfinished()
    }

    /// The report for people.
    pub fn lines(&self) -> Vec<String> {
        let mut lines = vec![format!(
            "erasure {}: {} user name(s), {} event id(s)",
            self.request, self.user_names, self.event_ids
        )];
        let show = |store: &str, outcome: String| format!("  {store:<14}{outcome}");
        lines.push(show(
            "search index",
            match &self.search_index {
                Outcome::Erased(d) => format!("{} found, {} deleted", d.found, d.deleted),
                Outcome::NotAsked => "not asked".to_owned(),
                Outcome::Unfinished(why) => format!("UNFINISHED: {why}"),
            },
        ));
        lines.push(show(
            "landed files",
            match &self.landed_files {
                Outcome::Erased(r) => format!(
                    "{} click(s) and {} dead letter(s) removed, {} file(s) rewritten, over {} partition(s)",
                    r.rows, r.dead_letters, r.files, r.partitions
                ),
                Outcome::NotAsked => "not asked (no LANDING_URL)".to_owned(),
                Outcome::Unfinished(why) => format!("UNFINISHED: {why}"),
            },
        ));
        lines.push(show(
            "results page",
            match &self.results_page {
                Outcome::Erased(n) => format!("{n} remembered click(s) forgotten"),
                Outcome::NotAsked => "not asked (no RESULTS_URLS)".to_owned(),
                Outcome::Unfinished(why) => format!("UNFINISHED: {why}"),
            },
        ));
        lines.push(show(
            "Kafka",
            "cannot delete single records: the topic's retention bounds how long they stay"
                .to_owned(),
        ));
        lines
    }
}

/// Erases what `config` names from every store it gives, and appends the report to the audit
/// file. An unfinished store is in the report, not an error.
pub async fn run(config: Config) -> Result<Report, Error> {
    config.check().map_err(Error::Config)?;
    let kafka_args = config.kafka.clone();
    let ends = tokio::task::spawn_blocking(move || kafka::end_offsets(&kafka_args))
        .await
        .expect("reading end offsets does not panic")?;
    let request = ErasureRequest::new(ends, config.user_names.clone(), config.event_ids.clone());
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
        match &config.landing_url {
            None => Ok(Outcome::NotAsked),
            Some(url) => landing::erase(url, &config.kafka.topic, &request, deadline).await,
        }
    };
    let searched = async {
        if !config.search_index {
            return Outcome::NotAsked;
        }
        search::erase(&config, &request, deadline).await
    };
    let (landed, searched) = tokio::join!(landed, searched);
    let landed = landed?;
    // Only once the index no longer has them: a page asking meanwhile would find them again.
    let remembered = if config.results_urls.is_empty() {
        Outcome::NotAsked
    } else if searched.is_unfinished() {
        Outcome::Unfinished("the search index is not erased yet".to_owned())
    } else {
        results::forget(&config.results_urls, &request).await
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
