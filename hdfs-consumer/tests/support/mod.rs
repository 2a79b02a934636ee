//! Helpers of the hdfs-consumer integration tests; what every suite shares is in
//! `test-support`. Each test binary uses some of these.
#![allow(dead_code)]

pub mod hdfs;

#[allow(unused_imports)]
pub use test_support::*;

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use hdfs_consumer::Config;
use hdfs_consumer::file_format::LandingFormat;
use uuid::Uuid;

/// A consumer's `serve`, in this process, with its own shutdown trigger.
pub type RunningConsumer = service::RunningService<hdfs_consumer::Error>;

/// Starts `hdfs_consumer::serve` in this process, its admin server on a port of its own.
pub async fn spawn_consumer(config: Config) -> RunningConsumer {
    RunningConsumer::start(|listener, shutdown| hdfs_consumer::serve(listener, config, shutdown))
        .await
}

/// The consumer binary as `scripts/demo.sh` starts it: the in-memory cluster's client
/// properties, where to land and an admin port, with `extra` settings; everything else at its
/// default. Its output goes to `log`.
pub fn start_consumer(
    bootstrap: &str,
    landing: &url::Url,
    log: &Path,
    extra: &[(&str, &str)],
) -> (crash::Process, std::net::SocketAddr) {
    let admin = std::net::SocketAddr::from(([127, 0, 0, 1], ports::free_port()));
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_hdfs-consumer"));
    command
        .env_clear()
        .env("KAFKA_BOOTSTRAP_SERVERS", bootstrap)
        .env("KAFKA_PROPERTIES", dev_broker::CLIENT_PROPERTIES)
        .env("LANDING_URL", landing.as_str())
        .env("ADMIN_ADDR", admin.to_string())
        .envs(extra.iter().copied());
    (crash::spawn_logged(&mut command, log), admin)
}

pub fn config(bootstrap: &str, topic: &str, root: &Path, workers: u16) -> Config {
    let mut config = Config::for_brokers(bootstrap, url::Url::from_directory_path(root).unwrap());
    config.kafka.topic = topic.to_owned();
    config.sink.group_id = format!("hdfs-{}", Uuid::now_v7());
    config.workers = Some(workers);
    config.flush_max_age = Duration::from_millis(500);
    config.flush_max_records = 100;
    // What the in-memory cluster's group coordinator needs, as the demo gives it.
    config.kafka.properties = dev_broker::client_properties();
    if let Ok(debug) = std::env::var("KAFKA_DEBUG") {
        config.kafka.properties.push(("debug".into(), debug));
    }
    config
}

/// Where a test's consumer landed: a local directory or any OpenDAL storage (HDFS), read
/// back through OpenDAL as the consumer wrote it.
pub trait Storage {
    fn operator(&self) -> opendal::Operator;
}

impl Storage for &Path {
    fn operator(&self) -> opendal::Operator {
        hdfs_consumer::storage::operator_for(&url::Url::from_directory_path(self).unwrap()).unwrap()
    }
}

impl Storage for &opendal::Operator {
    fn operator(&self) -> opendal::Operator {
        (*self).clone()
    }
}

/// Every file under `under` (a folder, or "" for the root), relative to the root, in name
/// order.
pub async fn files_under(op: &opendal::Operator, under: &str) -> Vec<String> {
    let mut files: Vec<String> = op
        .list_with(under)
        .recursive(true)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.metadata().is_file())
        .map(|e| e.path().to_owned())
        .collect();
    files.sort();
    files
}

/// Every landed data file under `<root>/<topic>/dt=*/hour=*/`, in any format, relative to the
/// root.
pub async fn data_files(storage: impl Storage, topic: &str) -> Vec<String> {
    let op = storage.operator();
    let entries = match op.list_with(&format!("{topic}/")).recursive(true).await {
        Ok(entries) => entries,
        Err(err) if err.kind() == opendal::ErrorKind::NotFound => return Vec::new(),
        Err(err) => panic!("cannot list {topic}/: {err}"),
    };
    let mut files: Vec<String> = entries
        .into_iter()
        .map(|e| e.path().to_owned())
        .filter(|p| p.contains("/dt=") && LandingFormat::of_path(p).is_some())
        .collect();
    files.sort();
    files
}

/// Event ids in the landed data files, with how often each appears.
pub async fn landed_ids(storage: impl Storage, topic: &str) -> HashMap<Uuid, usize> {
    let op = storage.operator();
    let mut ids = HashMap::new();
    for file in data_files(&op, topic).await {
        let format = LandingFormat::of_path(&file).expect("a data file");
        let events = match format.read_events(&op, &file).await {
            Ok(events) => events,
            // Storage did not answer (a test stopped it), or the file was merged away or
            // renamed since the listing: it is counted when it is read, or at its new name.
            Err(err) if err.storage_kind().is_some() => continue,
            Err(err) => panic!("landed file {file} is not of its format: {err}"),
        };
        for event in events {
            *ids.entry(event.event_id).or_default() += 1;
        }
    }
    ids
}

/// Asserts that every landed file sits at `<topic>/dt=YYYY-MM-DD/hour=HH/<topic>+...<ext>`, the
/// hour of every event it holds.
pub async fn assert_hive_layout(storage: impl Storage, topic: &str) {
    let op = storage.operator();
    let files = data_files(&op, topic).await;
    assert!(!files.is_empty(), "nothing landed");
    for relative in files {
        let parts: Vec<&str> = relative.split('/').collect();
        assert_eq!(parts.len(), 4, "{relative}");
        assert_eq!(parts[0], topic);
        assert!(
            parts[1].starts_with("dt=") && parts[1].len() == "dt=2026-11-22".len(),
            "{relative}"
        );
        assert!(
            parts[2].starts_with("hour=") && parts[2].len() == "hour=03".len(),
            "{relative}"
        );
        assert!(parts[3].starts_with(&format!("{topic}+")), "{relative}");
        let format = LandingFormat::of_path(&relative).unwrap();
        for event in format.read_events(&op, &relative).await.unwrap() {
            let hour = hdfs_consumer::layout::HourPartition::of(&event.timestamp);
            assert!(
                relative.contains(&hour.dir()),
                "event of {} in {relative}",
                hour.dir()
            );
        }
    }
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

/// Waits until `want` events landed (duplicates counted) or `deadline` passed; returns how many.
pub async fn wait_for_landed(
    storage: impl Storage,
    topic: &str,
    want: usize,
    deadline: Duration,
) -> usize {
    let op = storage.operator();
    let landed = || async { landed_ids(&op, topic).await.values().sum::<usize>() };
    test_support::wait::poll_until(deadline, landed, |seen| *seen >= want).await
}

/// The process id in a claim's member name (`<host> pid <pid> worker <n>`).
pub fn pid_of(entry: &hdfs_consumer::commit_log::Entry) -> Option<u32> {
    let (_, rest) = entry.owner.member.split_once(" pid ")?;
    rest.split(' ').next()?.parse().ok()
}

/// Each of the `partitions` first partitions' latest commit log entry, where there is one.
pub async fn latest_entries(
    landing: &hdfs_consumer::landing::Landing,
    partitions: i32,
) -> std::collections::BTreeMap<i32, hdfs_consumer::commit_log::Entry> {
    let mut latest = std::collections::BTreeMap::new();
    for partition in 0..partitions {
        if let Ok(hdfs_consumer::commit_log::Found::Entry {
            entry: Some(entry), ..
        }) = landing.log().latest(partition).await
        {
            latest.insert(partition, entry);
        }
    }
    latest
}

/// The most files any one hour folder holds, of the landed `files`.
pub fn max_files_per_hour(files: &[String]) -> usize {
    let mut per_hour: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
    for file in files {
        *per_hour
            .entry(file.rsplit_once('/').unwrap().0)
            .or_default() += 1;
    }
    per_hour.values().copied().max().unwrap_or(0)
}
