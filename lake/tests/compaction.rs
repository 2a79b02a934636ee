//! Merging an hour's files through the partition's commit log, each case on a local folder and
//! on a real HDFS: the merged file replaces its inputs whole, late files are merged again, a
//! member that lost the partition changes nothing, and a claim finishes a compaction a crash
//! interrupted at any step without losing or doubling an event.

use std::collections::HashMap;

use chrono::{DateTime, TimeZone, Utc};
use common::ColorEvent;
use lake::TopicRecord;
use lake::commit_log::{EntryKind, Found, Held};
use lake::file_format::LandingFormat;
use lake::layout::HourPartition;
use lake::merge::CompactedHour;
use lake::storage::Storage;
use lake::{Lake, Outcome};
use opendal::Operator;
use test_support::hdfs::LocalHdfs;
use uuid::Uuid;

const TOPIC: &str = "select-color";
const ALL: u64 = 128 << 20;

fn local() -> (tempfile::TempDir, Storage) {
    let dir = tempfile::tempdir().unwrap();
    let storage = Storage::folder(dir.path()).unwrap();
    (dir, storage)
}

/// A closed hour: 10:00 to 11:00 on the first of December.
fn ten() -> HourPartition {
    HourPartition::of(&at(10, 0))
}

fn at(hour: u32, minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, hour, minute, 0).unwrap()
}

/// Clicks at `offsets`, made at `time`, as a partition buffers them.
fn clicks(offsets: std::ops::Range<i64>, time: DateTime<Utc>) -> Vec<TopicRecord> {
    offsets
        .map(|offset| {
            let mut event = ColorEvent::sample(
                &format!("u{offset}"),
                ["red", "blue"][offset as usize % 2],
                time,
            );
            event.user_agent = "Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0.0.0".into();
            TopicRecord::classify(TOPIC, 0, offset, Some(&event.to_json_bytes()))
        })
        .collect()
}

async fn land(landing: &Lake, held: &Held, records: &[TopicRecord]) -> Held {
    match landing.land(0, held, records, Utc::now()).await.unwrap() {
        Outcome::Done { held, .. } => held,
        other => panic!("not visible: {other:?}"),
    }
}

/// Lands `batches` batches of ten clicks in the closed hour under `held`.
async fn land_batches(landing: &Lake, mut held: Held, batches: i64) -> Held {
    for start in (0..batches * 10).step_by(10) {
        let batch = clicks(start..start + 10, at(10, 30));
        held = land(landing, &held, &batch).await;
    }
    held
}

/// The files and their bytes, to put back as a crash would have left them.
async fn snapshot(op: &Operator, files: &[String]) -> Vec<(String, Vec<u8>)> {
    let mut kept = Vec::new();
    for file in files {
        kept.push((file.clone(), op.read(file).await.unwrap().to_vec()));
    }
    kept
}

async fn put_back(op: &Operator, files: &[(String, Vec<u8>)]) {
    for (file, bytes) in files {
        op.write(file, bytes.clone()).await.unwrap();
    }
}

/// A merge made visible: what it did, and the entry its writer holds now.
#[derive(Debug)]
struct Compacted {
    held: Held,
    report: CompactedHour,
}

impl std::ops::Deref for Compacted {
    type Target = CompactedHour;

    fn deref(&self) -> &CompactedHour {
        &self.report
    }
}

async fn compact(landing: &Lake, held: &Held, target: u64) -> Compacted {
    match landing.compact(0, held, ten(), target).await.unwrap() {
        Outcome::Done { held, report } => Compacted { held, report },
        other => panic!("not compacted: {other:?}"),
    }
}

/// Every file under `dir`, relative to the root, sorted.
async fn files_in(op: &Operator, dir: &str) -> Vec<String> {
    let mut files: Vec<String> = match op.list_with(dir).recursive(true).await {
        Ok(entries) => entries
            .into_iter()
            .filter(|e| e.metadata().is_file())
            .map(|e| e.path().to_owned())
            .collect(),
        Err(err) if err.kind() == opendal::ErrorKind::NotFound => Vec::new(),
        Err(err) => panic!("{err}"),
    };
    files.sort();
    files
}

async fn hour_files(op: &Operator) -> Vec<String> {
    files_in(op, &format!("{TOPIC}/{}/", ten().dir())).await
}

async fn tmp_files(op: &Operator) -> Vec<String> {
    files_in(op, &format!("{TOPIC}/_tmp/")).await
}

/// How often each event id is in the visible files.
async fn visible_ids(op: &Operator) -> HashMap<Uuid, usize> {
    test_support::landed::landed_ids(op, TOPIC).await
}

fn assert_each_once(ids: &HashMap<Uuid, usize>, count: usize) {
    assert_eq!(ids.len(), count, "events missing or extra");
    assert!(ids.values().all(|n| *n == 1), "an event is visible twice");
}

/// Five batches in the closed hour and one in the next: the hour's five files become one,
/// named for its first and last offsets, holding the same events in offset order; the log
/// holds the compaction with its inputs, and the hour is no longer to compact.
async fn an_hours_files_merge_into_one_named_for_their_offsets(
    storage: Storage,
    format: LandingFormat,
) {
    let op = storage.operator().clone();
    let landing = Lake::new(storage, TOPIC, format);
    let mut held = landing.claim(0, "member a").await.unwrap().held;
    let mut landed = Vec::new();
    for start in (0..50).step_by(10) {
        let batch = clicks(start..start + 10, at(10, start as u32));
        landed.extend(batch.iter().map(|r| r.offset));
        held = land(&landing, &held, &batch).await;
    }
    held = land(&landing, &held, &clicks(50..55, at(11, 1))).await;
    assert_eq!(hour_files(&op).await.len(), 5);
    assert!(held.uncompacted.contains_key(&ten()));

    let before: Vec<ColorEvent> = {
        let mut events = Vec::new();
        for file in hour_files(&op).await {
            events.extend(format.read_events(&op, &file).await.unwrap());
        }
        events
    };
    let done = compact(&landing, &held, ALL).await;
    assert_eq!((done.inputs, done.outputs.len()), (5, 1));
    assert_eq!(done.merged.rows, 50);
    let merged = format!(
        "{TOPIC}/{}/{TOPIC}+0+0000000000000000000+0000000000000000049.{}",
        ten().dir(),
        format.extension()
    );
    assert_eq!(hour_files(&op).await, std::slice::from_ref(&merged));
    assert_eq!(format.read_events(&op, &merged).await.unwrap(), before);
    assert_eq!(tmp_files(&op).await, Vec::<String>::new());
    assert!(!done.held.uncompacted.contains_key(&ten()));
    assert_eq!(
        done.held.uncompacted.len(),
        1,
        "the next hour is still to compact"
    );
    assert_eq!(done.held.last_offset, Some(54), "nothing new landed");
    let Found::Entry {
        seq,
        entry: Some(entry),
    } = landing.log().latest(0).await.unwrap()
    else {
        panic!("no entry");
    };
    assert_eq!((seq, entry.kind), (done.held.seq, EntryKind::Compaction));
    assert_eq!(entry.inputs.len(), 5);
    assert_eq_ids(&op, 55).await;

    // Nothing left to merge: the hour is dropped without an entry.
    match landing.compact(0, &done.held, ten(), ALL).await.unwrap() {
        Outcome::Unchanged {
            held,
            skipped: None,
        } => assert_eq!(held.seq, done.held.seq),
        other => panic!("{other:?}"),
    }
}

async fn assert_eq_ids(op: &Operator, count: usize) {
    assert_each_once(&visible_ids(op).await, count);
}

/// Files landed late in a compacted hour are merged again, and a merged file at the target
/// size stays as it is while the small ones beside it are merged.
async fn late_files_merge_again_up_to_the_target(storage: Storage) {
    let format = LandingFormat::Parquet;
    let op = storage.operator().clone();
    let landing = Lake::new(storage, TOPIC, format);
    let mut held = landing.claim(0, "member a").await.unwrap().held;
    // Enough clicks that the merged file is much larger than a late file's footer.
    for start in (0..4000).step_by(1000) {
        held = land(&landing, &held, &clicks(start..start + 1000, at(10, 5))).await;
    }
    held = compact(&landing, &held, ALL).await.held;
    let first_merge = hour_files(&op).await;
    assert_eq!(first_merge.len(), 1);
    let big = op.stat(&first_merge[0]).await.unwrap().content_length();

    // A consumer that was down lands two late batches into the hour.
    held = land(&landing, &held, &clicks(4000..4005, at(10, 59))).await;
    held = land(&landing, &held, &clicks(4005..4010, at(10, 59))).await;
    assert!(
        held.uncompacted.contains_key(&ten()),
        "a late file makes the hour uncompacted again"
    );
    assert_eq!(hour_files(&op).await.len(), 3);
    // A target the first merge already fills: only the two late files are merged.
    let done = compact(&landing, &held, big).await;
    assert_eq!(done.inputs, 2);
    let files = hour_files(&op).await;
    assert_eq!(files.len(), 2, "{files:?}");
    assert!(
        files.contains(&first_merge[0]),
        "the full file was rewritten"
    );
    assert_eq_ids(&op, 4010).await;
    // With room for everything, all become one.
    held = land(&landing, &done.held, &clicks(4010..4012, at(10, 59))).await;
    compact(&landing, &held, ALL).await;
    assert_eq!(hour_files(&op).await.len(), 1);
    assert_eq_ids(&op, 4012).await;
}

/// A member paused since its last landing wakes after another member claimed the partition:
/// its compaction is refused, its merged file never visible and its inputs untouched; the
/// holder then merges the hour.
async fn a_compaction_after_another_members_claim_is_refused_and_changes_nothing(storage: Storage) {
    let format = LandingFormat::Parquet;
    let op = storage.operator().clone();
    let old = Lake::new(storage.clone(), TOPIC, format);
    let mut paused = old.claim(0, "member a").await.unwrap().held;
    paused = land_batches(&old, paused, 3).await;
    let inputs = hour_files(&op).await;
    let new = Lake::new(storage, TOPIC, format);
    let taken = new.claim(0, "member b").await.unwrap().held;
    assert!(
        taken.uncompacted.contains_key(&ten()),
        "the claim carries the hours to compact"
    );

    match old.compact(0, &paused, ten(), ALL).await.unwrap() {
        Outcome::Refused { holder } => assert!(holder.contains("member b"), "{holder}"),
        other => panic!("not refused: {other:?}"),
    }
    assert_eq!(hour_files(&op).await, inputs, "the hour changed");
    assert_eq!(
        tmp_files(&op).await,
        Vec::<String>::new(),
        "the refused merge left a file"
    );
    assert_eq_ids(&op, 30).await;

    let done = compact(&new, &taken, ALL).await;
    assert_eq!(done.inputs, 3);
    assert_eq!(hour_files(&op).await.len(), 1);
    assert_eq_ids(&op, 30).await;
}

/// Where a crash left a compaction.
#[derive(Debug, Clone, Copy)]
enum Crash {
    /// The merged file written under `_tmp/`, no entry published.
    MergedWritten,
    /// The entry published, nothing else done.
    EntryPublished,
    /// The merged file visible beside all its inputs.
    MergedVisible,
    /// Half the inputs deleted.
    HalfDeleted,
}

/// A compaction interrupted at `crash`, rebuilt from a finished one by putting back what the
/// steps after it changed; then a new member claims the partition. Every event is visible
/// exactly once, no temporary file is left, and once the entry was published, the hour is one
/// file.
async fn a_compaction_interrupted_at_any_step_is_finished_or_undone_by_the_next_claim(
    storage: Storage,
    crash: Crash,
) {
    let format = LandingFormat::Parquet;
    let op = storage.operator().clone();
    let landing = Lake::new(storage.clone(), TOPIC, format);
    let mut held = landing.claim(0, "member a").await.unwrap().held;
    held = land_batches(&landing, held, 4).await;
    let inputs = hour_files(&op).await;
    let kept = snapshot(&op, &inputs).await;
    let done = compact(&landing, &held, ALL).await;
    let Found::Entry {
        seq,
        entry: Some(entry),
    } = landing.log().latest(0).await.unwrap()
    else {
        panic!("no entry");
    };
    let merged = &entry.files[0];
    let restore = match crash {
        Crash::HalfDeleted => inputs.len() / 2,
        _ => inputs.len(),
    };
    put_back(&op, &kept[..restore]).await;
    if matches!(crash, Crash::MergedWritten | Crash::EntryPublished) {
        op.rename(&merged.path, &merged.tmp).await.unwrap();
    }
    if matches!(crash, Crash::MergedWritten) {
        op.delete(&lake::layout::commit_entry_path(TOPIC, 0, seq))
            .await
            .unwrap();
    }
    assert_eq!(done.held.seq, seq);

    let next = Lake::new(storage, TOPIC, format);
    let claimed = next.claim(0, "member b").await.unwrap();
    assert_eq!(claimed.held.last_offset, Some(39), "{crash:?}");
    assert_eq!(
        tmp_files(&op).await,
        Vec::<String>::new(),
        "{crash:?}: a temporary file is left"
    );
    assert_eq_ids(&op, 40).await;
    match crash {
        Crash::MergedWritten => {
            assert_eq!(hour_files(&op).await, inputs, "undone: the inputs stay");
            assert!(
                claimed.held.uncompacted.contains_key(&ten()),
                "and the hour is still to compact"
            );
            compact(&next, &claimed.held, ALL).await;
        }
        _ => assert!(!claimed.held.uncompacted.contains_key(&ten()), "{crash:?}"),
    }
    assert_eq!(
        hour_files(&op).await,
        std::slice::from_ref(&merged.path),
        "{crash:?}"
    );
    assert_eq_ids(&op, 40).await;
}

/// A compaction entry whose merged file is gone (deleted by hand) cannot be trusted: the claim
/// deletes none of its inputs and reads the landed file names instead.
async fn a_compaction_whose_merged_file_is_gone_deletes_nothing(storage: Storage) {
    let format = LandingFormat::Parquet;
    let op = storage.operator().clone();
    let landing = Lake::new(storage.clone(), TOPIC, format);
    let mut held = landing.claim(0, "member a").await.unwrap().held;
    held = land_batches(&landing, held, 2).await;
    let inputs = hour_files(&op).await;
    let kept = snapshot(&op, &inputs).await;
    compact(&landing, &held, ALL).await;
    put_back(&op, &kept).await;
    for file in hour_files(&op)
        .await
        .into_iter()
        .filter(|f| !inputs.contains(f))
    {
        op.delete(&file).await.unwrap();
    }
    let claimed = Lake::new(storage, TOPIC, format)
        .claim(0, "member b")
        .await
        .unwrap();
    assert_eq!(claimed.held.last_offset, Some(19));
    assert_eq!(hour_files(&op).await, inputs);
    assert_eq_ids(&op, 20).await;
}

/// A file in the hour that is not of the landed format leaves the hour as it is, and it is
/// no longer tried.
async fn an_unreadable_file_leaves_the_hour_as_it_is(storage: Storage) {
    let format = LandingFormat::Parquet;
    let op = storage.operator().clone();
    let landing = Lake::new(storage, TOPIC, format);
    let mut held = landing.claim(0, "member a").await.unwrap().held;
    held = land(&landing, &held, &clicks(0..10, at(10, 45))).await;
    let garbage = format!(
        "{TOPIC}/{}/{TOPIC}+0+0000000000000000010+0000000000000000011.parquet",
        ten().dir()
    );
    op.write(&garbage, b"not parquet".to_vec()).await.unwrap();
    let before = hour_files(&op).await;
    match landing.compact(0, &held, ten(), ALL).await.unwrap() {
        Outcome::Unchanged {
            skipped: Some(reason),
            held,
        } => {
            assert!(!reason.is_empty());
            assert!(!held.uncompacted.contains_key(&ten()));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(hour_files(&op).await, before);
    assert_eq!(tmp_files(&op).await, Vec::<String>::new());
}

#[tokio::test]
async fn with_merging_off_landings_note_no_hours() {
    let (_dir, storage) = local();
    let landing = Lake::new(storage, TOPIC, LandingFormat::Parquet).merging(false);
    let held = landing.claim(0, "member a").await.unwrap().held;
    let held = land_batches(&landing, held, 2).await;
    assert!(held.uncompacted.is_empty(), "{:?}", held.uncompacted);
}

const CRASHES: [Crash; 4] = [
    Crash::MergedWritten,
    Crash::EntryPublished,
    Crash::MergedVisible,
    Crash::HalfDeleted,
];

#[tokio::test]
async fn on_a_folder_an_hours_parquet_files_merge_into_one() {
    let (_dir, storage) = local();
    an_hours_files_merge_into_one_named_for_their_offsets(storage, LandingFormat::Parquet).await;
}

#[tokio::test]
async fn on_a_folder_an_hours_json_files_merge_into_one() {
    let (_dir, storage) = local();
    an_hours_files_merge_into_one_named_for_their_offsets(storage, LandingFormat::Json).await;
}

#[tokio::test]
async fn on_a_folder_late_files_merge_again_up_to_the_target() {
    let (_dir, storage) = local();
    late_files_merge_again_up_to_the_target(storage).await;
}

#[tokio::test]
async fn on_a_folder_a_compaction_after_another_members_claim_is_refused() {
    let (_dir, storage) = local();
    a_compaction_after_another_members_claim_is_refused_and_changes_nothing(storage).await;
}

#[tokio::test]
async fn on_a_folder_a_compaction_interrupted_at_any_step_is_finished_by_the_next_claim() {
    for crash in CRASHES {
        let (_dir, storage) = local();
        a_compaction_interrupted_at_any_step_is_finished_or_undone_by_the_next_claim(
            storage, crash,
        )
        .await;
    }
}

#[tokio::test]
async fn on_a_folder_a_compaction_whose_merged_file_is_gone_deletes_nothing() {
    let (_dir, storage) = local();
    a_compaction_whose_merged_file_is_gone_deletes_nothing(storage).await;
}

#[tokio::test]
async fn on_a_folder_an_unreadable_file_leaves_the_hour_as_it_is() {
    let (_dir, storage) = local();
    an_unreadable_file_leaves_the_hour_as_it_is(storage).await;
}

/// Every case above on one real HDFS, each under a root of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Java and Hadoop's jars: run scripts/test.sh"]
async fn on_hdfs_compaction_merges_refuses_and_recovers() {
    let hdfs = LocalHdfs::start();
    let root = |case: &str| Storage::open(&hdfs.landing_url(&format!("/lake/{case}"))).unwrap();
    an_hours_files_merge_into_one_named_for_their_offsets(root("parquet"), LandingFormat::Parquet)
        .await;
    an_hours_files_merge_into_one_named_for_their_offsets(root("json"), LandingFormat::Json).await;
    late_files_merge_again_up_to_the_target(root("late")).await;
    a_compaction_after_another_members_claim_is_refused_and_changes_nothing(root("refused")).await;
    for crash in CRASHES {
        a_compaction_interrupted_at_any_step_is_finished_or_undone_by_the_next_claim(
            root(&format!("{crash:?}")),
            crash,
        )
        .await;
    }
    a_compaction_whose_merged_file_is_gone_deletes_nothing(root("gone")).await;
    an_unreadable_file_leaves_the_hour_as_it_is(root("unreadable")).await;
}
