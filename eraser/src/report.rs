//! What an erasure did, store by store.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::outcome::Outcome;
use crate::{landing, search};

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
                Outcome::Skipped => "skipped, as asked".to_owned(),
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
                Outcome::Skipped => "skipped, as asked".to_owned(),
                Outcome::Unfinished(why) => format!("UNFINISHED: {why}"),
            },
        ));
        lines.push(show(
            "results page",
            match &self.results_page {
                Outcome::Erased(n) => format!("{n} remembered click(s) forgotten"),
                Outcome::Skipped => "skipped, as asked".to_owned(),
                Outcome::Unfinished(why) => format!("UNFINISHED: {why}"),
            },
        ));
        lines.push(show(
            "Kafka",
            "cannot delete single records: the topic keeps them until its retention, and the \
             sinks skip their ids (kept as tombstones) on any replay"
                .to_owned(),
        ));
        lines
    }
}
