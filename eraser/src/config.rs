//! The erasure command's settings: whom to erase, and where each store is. The stores' settings
//! are the variables the services themselves read, so one environment serves them all.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use common::kafka::KafkaArgs;
use common::search::SearchArgs;
use url::Url;
use uuid::Uuid;

/// Erases clicks by user name or event id from the search index, the landed files (and their
/// dead letters) and the results page's memory, while the pipeline runs. Every click produced
/// before the command started is erased; Kafka keeps its copy until the topic's retention.
#[derive(Debug, Clone, Parser)]
#[command(name = "erase", version)]
pub struct Config {
    /// Erase the clicks of this user name (trimmed, in any Unicode form: names are compared
    /// composed, as the collector stores them); repeat for several.
    #[arg(long = "user-name", value_name = "NAME")]
    pub user_names: Vec<String>,

    /// Erase the click with this event id; repeat for several.
    #[arg(long = "event-id", value_name = "ID")]
    pub event_ids: Vec<Uuid>,

    #[command(flatten)]
    pub kafka: KafkaArgs,

    /// Where hdfs-consumer lands (as its LANDING_URL). Required unless `--skip landed-files`.
    #[arg(long, env = "LANDING_URL", value_parser = lake::storage::parse_landing_url)]
    pub landing_url: Option<Url>,

    /// A store not to erase from, by name (search-index, landed-files, results-page); repeat
    /// or comma-separate for several. A store that is neither configured nor skipped is an
    /// error: an erasure never leaves one out silently.
    #[arg(long = "skip", env = "ERASE_SKIP", value_enum, value_delimiter = ',')]
    pub skip: Vec<Store>,

    #[command(flatten)]
    pub search: SearchArgs,

    /// The consumer group of es-sink: the erasure waits until it has indexed every click
    /// produced before the command started, so none is indexed after it.
    #[arg(long, env = "ES_SINK_GROUP_ID", default_value = "es-sink")]
    pub es_sink_group: String,

    /// The results page (its /results address); repeat for each web process. Required unless
    /// `--skip results-page`.
    #[arg(long = "results-url", env = "RESULTS_URLS", value_delimiter = ',')]
    pub results_urls: Vec<Url>,

    /// The results pages' FORGET_TOKEN, which only the eraser holds: they forget nothing for
    /// a caller without it. Required with RESULTS_URLS.
    #[arg(long, env = "RESULTS_TOKEN", hide_env_values = true)]
    pub results_token: Option<String>,

    /// The audit file: one JSON line per erasure, with its id and counts, never the names.
    #[arg(long, env = "ERASURE_AUDIT_FILE", default_value = "erasures.jsonl")]
    pub audit_file: PathBuf,

    #[command(flatten)]
    pub log: common::telemetry::LogArgs,

    /// Longest wait for the sinks to reach the clicks produced before the command started.
    #[arg(long, env = "ERASURE_TIMEOUT", default_value = "5m", value_parser = common::config::parse_positive_duration)]
    pub timeout: Duration,
}

/// The stores an erasure may be told to skip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Store {
    SearchIndex,
    LandedFiles,
    ResultsPage,
}

impl Config {
    /// Whether `store` is to be erased.
    pub fn asks(&self, store: Store) -> bool {
        !self.skip.contains(&store)
    }

    /// Why these settings cannot erase anything, if so: nobody named, or a store neither
    /// configured nor skipped.
    pub fn check(&self) -> Result<(), String> {
        if self.user_names.is_empty() && self.event_ids.is_empty() {
            return Err("name someone to erase: --user-name NAME or --event-id ID".to_owned());
        }
        if self.user_names.iter().any(|n| n.trim().is_empty()) {
            return Err("--user-name must not be empty".to_owned());
        }
        if self.asks(Store::LandedFiles) && self.landing_url.is_none() {
            return Err(
                "the landed files are not configured: set LANDING_URL, or --skip landed-files"
                    .to_owned(),
            );
        }
        if self.asks(Store::ResultsPage) && self.results_urls.is_empty() {
            return Err(
                "no results page is configured: set RESULTS_URLS, or --skip results-page"
                    .to_owned(),
            );
        }
        if self.asks(Store::ResultsPage) && self.results_token.is_none() {
            return Err(
                "the results pages' token is not configured: set RESULTS_TOKEN (their \
                 FORGET_TOKEN), or --skip results-page"
                    .to_owned(),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_not_configured_is_an_error_unless_skipped_by_name() {
        let config = Config::parse_from(["erase", "--user-name=Ada", "--landing-url=/tmp/landing"]);
        let err = config.check().unwrap_err();
        assert!(
            err.contains("RESULTS_URLS") && err.contains("--skip results-page"),
            "{err}"
        );
        let config = Config::parse_from(["erase", "--user-name=Ada", "--skip=results-page"]);
        let err = config.check().unwrap_err();
        assert!(
            err.contains("LANDING_URL") && err.contains("--skip landed-files"),
            "{err}"
        );
        let config = Config::parse_from([
            "erase",
            "--user-name=Ada",
            "--skip=results-page",
            "--skip=landed-files",
            "--skip=search-index",
        ]);
        config.check().unwrap();
        assert!(!config.asks(Store::SearchIndex));
        assert!(Config::try_parse_from(["erase", "--skip=kafka"]).is_err());
    }

    #[test]
    fn every_duration_refuses_nothing_negatives_and_missing_units() {
        for (option, value) in [
            ("--timeout", "0s"),
            ("--timeout", "-5m"),
            ("--timeout", "5"),
            ("--es-request-timeout", "0s"),
            ("--es-request-timeout", "30"),
        ] {
            let err =
                Config::try_parse_from(["erase", "--user-name=Ada", &format!("{option}={value}")])
                    .map(|_| "taken".to_owned())
                    .unwrap_or_else(|err| err.to_string());
            assert!(err.contains(option), "{option}={value}: {err}");
        }
    }

    #[test]
    fn someone_must_be_named() {
        let config = Config::parse_from(["erase"]);
        assert!(config.check().unwrap_err().contains("--user-name"));
        let skipped = ["--skip", "landed-files,results-page"];
        let config = Config::parse_from(["erase", "--user-name", " "]);
        assert!(config.check().is_err());
        let config = Config::parse_from([&["erase", "--user-name", "Ada"][..], &skipped].concat());
        config.check().unwrap();
        let config = Config::parse_from([
            "erase",
            "--user-name",
            "Ada",
            "--user-name",
            "민수",
            "--event-id",
            "01939a7e-0000-7000-8000-000000000001",
        ]);
        assert!(config.check().unwrap_err().contains("LANDING_URL"));
        assert_eq!(config.user_names, ["Ada", "민수"]);
        assert_eq!(config.event_ids.len(), 1);
        assert!(config.asks(Store::SearchIndex));
        assert!(config.landing_url.is_none());
    }
}
