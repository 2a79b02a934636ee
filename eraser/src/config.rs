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
    /// Erase the clicks of this user name (exactly as typed); repeat for several.
    #[arg(long = "user-name", value_name = "NAME")]
    pub user_names: Vec<String>,

    /// Erase the click with this event id; repeat for several.
    #[arg(long = "event-id", value_name = "ID")]
    pub event_ids: Vec<Uuid>,

    #[command(flatten)]
    pub kafka: KafkaArgs,

    /// Where hdfs-consumer lands (as its LANDING_URL); unset: the landed files are not
    /// erased.
    #[arg(long, env = "LANDING_URL", value_parser = lake::storage::parse_landing_url)]
    pub landing_url: Option<Url>,

    /// Erase from the search index (Elasticsearch, with ES_URL and a user that may read and
    /// delete documents).
    #[arg(long, env = "ERASE_SEARCH_INDEX", default_value_t = true, action = clap::ArgAction::Set)]
    pub search_index: bool,

    #[command(flatten)]
    pub search: SearchArgs,

    /// The consumer group of es-sink: the erasure waits until it has indexed every click
    /// produced before the command started, so none is indexed after it.
    #[arg(long, env = "ES_SINK_GROUP_ID", default_value = "es-sink")]
    pub es_sink_group: String,

    /// The results page (its /results address); repeat for each web process. Unset: no
    /// results page is asked to forget.
    #[arg(long = "results-url", env = "RESULTS_URLS", value_delimiter = ',')]
    pub results_urls: Vec<Url>,

    /// The audit file: one JSON line per erasure, with its id and counts, never the names.
    #[arg(long, env = "ERASURE_AUDIT_FILE", default_value = "erasures.jsonl")]
    pub audit_file: PathBuf,

    #[command(flatten)]
    pub log: common::telemetry::LogArgs,

    /// Longest wait for the sinks to reach the clicks produced before the command started.
    #[arg(long, env = "ERASURE_TIMEOUT", default_value = "5m", value_parser = common::config::parse_positive_duration)]
    pub timeout: Duration,
}

impl Config {
    /// Why these settings cannot erase anything, if so.
    pub fn check(&self) -> Result<(), String> {
        if self.user_names.is_empty() && self.event_ids.is_empty() {
            return Err("name someone to erase: --user-name NAME or --event-id ID".to_owned());
        }
        if self.user_names.iter().any(|n| n.trim().is_empty()) {
            return Err("--user-name must not be empty".to_owned());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let config = Config::parse_from(["erase", "--user-name", " "]);
        assert!(config.check().is_err());
        let config = Config::parse_from([
            "erase",
            "--user-name",
            "Ada",
            "--user-name",
            "민수",
            "--event-id",
            "01939a7e-0000-7000-8000-000000000001",
        ]);
        config.check().unwrap();
        assert_eq!(config.user_names, ["Ada", "민수"]);
        assert_eq!(config.event_ids.len(), 1);
        assert!(config.search_index);
        assert!(config.landing_url.is_none());
    }
}
