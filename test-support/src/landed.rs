//! What a test reads back from a lake: the files landed, the events in them, and the commit
//! logs' latest entries, on a folder or on HDFS alike.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use lake::LandingFormat;
use uuid::Uuid;

/// Where a test's consumer landed: a local directory or any OpenDAL storage (HDFS), read
/// back through OpenDAL as the consumer wrote it.
pub trait Storage {
    fn operator(&self) -> lake::opendal::Operator;
}

impl Storage for &Path {
    fn operator(&self) -> lake::opendal::Operator {
        lake::storage::operator_for(&url::Url::from_directory_path(self).unwrap()).unwrap()
    }
}

impl Storage for &lake::opendal::Operator {
    fn operator(&self) -> lake::opendal::Operator {
        (*self).clone()
    }
}

/// Every file under `under` (a folder, or "" for the root), relative to the root, in name
/// order.
pub async fn files_under(op: &lake::opendal::Operator, under: &str) -> Vec<String> {
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
        Err(err) if err.kind() == lake::opendal::ErrorKind::NotFound => return Vec::new(),
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
            let hour = lake::HourPartition::of(&event.timestamp);
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
    crate::wait::poll_until(deadline, landed, |seen| *seen >= want).await
}

/// The process id in a claim's member name (`<host> pid <pid> worker <n>`).
pub fn pid_of(entry: &lake::commit_log::Entry) -> Option<u32> {
    let (_, rest) = entry.owner.member.split_once(" pid ")?;
    rest.split(' ').next()?.parse().ok()
}

/// Each of the `partitions` first partitions' latest commit log entry, where there is one.
pub async fn latest_entries(
    lake: &lake::Lake,
    partitions: i32,
) -> std::collections::BTreeMap<i32, lake::commit_log::Entry> {
    let mut latest = std::collections::BTreeMap::new();
    for partition in 0..partitions {
        if let Ok(lake::commit_log::Found::Entry {
            entry: Some(entry), ..
        }) = lake.log().latest(partition).await
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
