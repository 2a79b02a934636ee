//! Helpers shared by the hdfs-consumer integration tests.
#![allow(dead_code, unused_imports)]

#[path = "../../../producer-api/tests/support/collector.rs"]
pub mod collector;
#[path = "../../../producer-api/tests/support/crash.rs"]
pub mod crash;
#[path = "../../../producer-api/tests/support/metrics.rs"]
pub mod metrics;
#[path = "../../../producer-api/tests/support/ports.rs"]
pub mod ports;
#[path = "../../../producer-api/tests/support/produce.rs"]
pub mod produce;
#[path = "../../../producer-api/tests/support/service.rs"]
pub mod service;
#[path = "../../../producer-api/tests/support/tansu.rs"]
pub mod tansu;
#[path = "../../../producer-api/tests/support/topic.rs"]
pub mod topic;
#[path = "../../../producer-api/tests/support/wait.rs"]
pub mod wait;

pub use produce::{produce, produce_in_background, produce_raw};
pub use wait::wait_until;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::ColorEvent;
use hdfs_consumer::Config;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use uuid::Uuid;

/// A consumer process's `run`, in this process, with its own shutdown trigger.
pub type RunningConsumer = service::RunningService<hdfs_consumer::Error>;

/// Starts `hdfs_consumer::run` in this process with its admin server on a free port.
pub fn spawn_consumer(mut config: Config) -> RunningConsumer {
    config.admin_addr = service::free_admin_addr();
    RunningConsumer::spawn(config.admin_addr, |shutdown| {
        hdfs_consumer::run(config, shutdown)
    })
}

pub fn config(bootstrap: &str, topic: &str, root: &Path, workers: u16) -> Config {
    let mut config = Config::for_brokers(bootstrap, url::Url::from_directory_path(root).unwrap());
    config.kafka_topic = topic.to_owned();
    config.kafka_group_id = format!("hdfs-{}", Uuid::now_v7());
    config.workers = Some(workers);
    config.flush_max_age = Duration::from_millis(500);
    config.flush_max_records = 100;
    // What the in-memory cluster's group coordinator needs, as the demo gives it.
    config.kafka_properties = dev_broker::client_properties();
    if let Ok(debug) = std::env::var("KAFKA_DEBUG") {
        config.kafka_properties.push(("debug".into(), debug));
    }
    config
}

/// Every landed data file under `<root>/<topic>/dt=*/hour=*/`.
pub fn data_files(root: &Path, topic: &str) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let Ok(days) = std::fs::read_dir(root.join(topic)) else {
        return files;
    };
    for day in days
        .flatten()
        .filter(|d| d.file_name().to_string_lossy().starts_with("dt="))
    {
        for hour in std::fs::read_dir(day.path()).unwrap().flatten() {
            for file in std::fs::read_dir(hour.path()).unwrap().flatten() {
                files.push(file.path());
            }
        }
    }
    files.sort();
    files
}

/// Event ids in the landed data files, with how often each appears.
pub fn landed_ids(root: &Path, topic: &str) -> HashMap<Uuid, usize> {
    let mut ids = HashMap::new();
    for file in data_files(root, topic) {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        for line in text.lines() {
            let event =
                ColorEvent::from_json_slice(line.as_bytes()).expect("a landed line is an event");
            *ids.entry(event.event_id).or_default() += 1;
        }
    }
    ids
}

/// Asserts every produced id landed exactly once and nothing else landed.
pub fn assert_exactly_once(landed: &HashMap<Uuid, usize>, produced: &[Uuid]) {
    let twice: Vec<_> = landed.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "{} events landed more than once, e.g. {:?}",
        twice.len(),
        twice.first()
    );
    let missing = produced
        .iter()
        .filter(|id| !landed.contains_key(id))
        .count();
    assert_eq!(missing, 0, "{missing} produced events never landed");
    assert_eq!(
        landed.len(),
        produced.len(),
        "events landed that were never produced"
    );
}

pub async fn wait_for_landed(root: &Path, topic: &str, want: usize, deadline: Duration) -> usize {
    let (root, topic) = (root.to_path_buf(), topic.to_owned());
    let mut seen = 0;
    wait_until(deadline, || {
        seen = landed_ids(&root, &topic).values().sum();
        async move { seen >= want }
    })
    .await;
    seen
}
