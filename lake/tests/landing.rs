//! Claiming partitions and landing batches through their commit logs, each case on a local
//! folder and on a real HDFS (an Apache Hadoop NameNode and DataNode, `support::hdfs`).
//! Members are `Lake`s on the same storage, as processes on several machines would be.

use common::ColorEvent;
use lake::TopicRecord;
use lake::commit_log::{EntryKind, Found, Held};
use lake::file_format::LandingFormat;
use lake::land::Landed;
use lake::storage::Storage;
use lake::{Lake, Outcome};
use opendal::Operator;
use test_support::hdfs::LocalHdfs;

const TOPIC: &str = "select-color";

fn local() -> (tempfile::TempDir, Storage) {
    let dir = tempfile::tempdir().unwrap();
    let storage = Storage::folder(dir.path()).unwrap();
    (dir, storage)
}

/// The format these members land in: the default.
const FORMAT: LandingFormat = LandingFormat::Parquet;

/// A member landing `TOPIC` in `storage`.
fn member(storage: Storage) -> Lake {
    Lake::new(storage, TOPIC, FORMAT)
}

fn now() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now()
}

fn batch(offsets: std::ops::Range<i64>) -> Vec<TopicRecord> {
    batch_of(0, offsets)
}

fn batch_of(partition: i32, offsets: std::ops::Range<i64>) -> Vec<TopicRecord> {
    offsets
        .map(|offset| {
            let event = ColorEvent::sample(&format!("u{offset}"), "red", chrono::Utc::now());
            TopicRecord::classify(TOPIC, partition, offset, Some(&event.to_json_bytes()))
        })
        .collect()
}

/// Every file under the root, relative to it.
async fn files_under(op: &Operator) -> Vec<String> {
    test_support::landed::files_under(op, "").await
}

/// The landed data files: what Hive sees.
async fn visible(op: &Operator) -> Vec<String> {
    files_under(op)
        .await
        .into_iter()
        .filter(|f| f.contains("/dt="))
        .collect()
}

async fn tmp_files(op: &Operator) -> Vec<String> {
    files_under(op)
        .await
        .into_iter()
        .filter(|f| f.contains("/_tmp/"))
        .collect()
}

async fn exists(op: &Operator, path: &str) -> bool {
    op.exists(path).await.unwrap()
}

/// A landing made visible: what it wrote, and the entry its writer holds now.
#[derive(Debug, PartialEq)]
struct LandedBatch {
    held: Held,
    report: Landed,
}

impl std::ops::Deref for LandedBatch {
    type Target = Landed;

    fn deref(&self) -> &Landed {
        &self.report
    }
}

/// Lands `records` and expects them visible.
async fn land(landing: &Lake, held: &Held, records: &[TopicRecord]) -> LandedBatch {
    match landing.land(0, held, records, now()).await.unwrap() {
        Outcome::Done { held, report } => LandedBatch { held, report },
        other => panic!("not visible: {other:?}"),
    }
}

/// The last offsets of a partition's log entries, in entry order.
async fn log_offsets(landing: &Lake) -> Vec<Option<i64>> {
    let mut seqs = landing.log().seqs(0).await.unwrap();
    seqs.sort_unstable();
    let mut offsets = Vec::new();
    for seq in seqs {
        if let Some(entry) = landing.log().read(0, seq).await.unwrap() {
            offsets.push(entry.last_offset);
        }
    }
    offsets
}

async fn a_landed_batch_is_visible_under_its_hour_and_the_next_claim_resumes_after_it(
    storage: Storage,
) {
    let op = storage.operator().clone();
    let first = member(storage.clone());
    let claimed = first.claim(0, "member a").await.unwrap();
    assert_eq!(claimed.held.last_offset, None, "nothing landed yet");
    assert_eq!(claimed.held.seq, 0);
    assert_eq!(claimed.previous, None);

    let records = batch(0..5);
    let landed = land(&first, &claimed.held, &records).await;
    assert_eq!(landed.last_offset, 4);
    assert_eq!(
        landed.held.seq, 1,
        "the commit is the entry after the claim"
    );
    assert_eq!(landed.files.len(), 1);
    let (path, count) = &landed.files[0];
    assert_eq!(*count, 5);
    assert!(path.starts_with("select-color/dt="), "{path}");
    assert!(
        path.ends_with("/select-color+0+0000000000000000000+0000000000000000004.parquet"),
        "{path}"
    );
    let events = FORMAT.read_events(&op, path).await.unwrap();
    assert_eq!(events.len(), 5);
    for (event, record) in events.into_iter().zip(&records) {
        assert_eq!(event, ColorEvent::from_json_slice(&record.line).unwrap());
    }
    assert_eq!(
        tmp_files(&op).await,
        Vec::<String>::new(),
        "temporary file left"
    );
    let Found::Entry {
        seq,
        entry: Some(entry),
    } = first.log().latest(0).await.unwrap()
    else {
        panic!("no commit entry");
    };
    assert_eq!(
        (seq, entry.kind, entry.last_offset),
        (1, EntryKind::Commit, Some(4))
    );

    let second = member(storage);
    let taken = second.claim(0, "member b").await.unwrap();
    assert_eq!(taken.held.last_offset, Some(4));
    assert_eq!(taken.held.seq, 2);
    assert_eq!(taken.previous.unwrap().member, "member a");
    assert_eq!(
        second.claim(1, "member b").await.unwrap().held.last_offset,
        None,
        "another partition is independent"
    );
}

/// The issue this protocol exists for: a member paused with a batch in hand wakes up after
/// another member took its partition over, and lands.
async fn a_commit_after_another_members_claim_is_refused_and_leaves_nothing_visible(
    storage: Storage,
) {
    let op = storage.operator().clone();
    let old = member(storage.clone());
    let new = member(storage);
    let paused = old.claim(0, "member a").await.unwrap().held;
    let paused = land(&old, &paused, &batch(0..246)).await.held;
    let before = visible(&op).await;

    let taken = new.claim(0, "member b").await.unwrap();
    assert_eq!(taken.held.last_offset, Some(245));
    let moved_on = land(&new, &taken.held, &batch(246..1198)).await;

    // The old owner wakes up with records it read before the takeover, and lands them.
    match old.land(0, &paused, &batch(246..500), now()).await.unwrap() {
        Outcome::Refused { holder } => {
            assert!(holder.starts_with("member b (claim "), "{holder}")
        }
        other => panic!("a stale owner landed: {other:?}"),
    }
    let mut expected = before.clone();
    expected.extend(moved_on.files.iter().map(|(path, _)| path.clone()));
    expected.sort();
    assert_eq!(
        visible(&op).await,
        expected,
        "something of the refused batch is visible"
    );
    assert_eq!(
        tmp_files(&op).await,
        Vec::<String>::new(),
        "the refused batch left files"
    );
    assert_eq!(
        log_offsets(&new).await,
        [None, Some(245), Some(245), Some(1197)],
        "the checkpoint moved"
    );
    // It may also try a batch behind what is landed: refused the same way.
    assert!(matches!(
        old.land(0, &paused, &batch(100..120), now()).await.unwrap(),
        Outcome::Refused { .. }
    ));
    assert_eq!(
        new.claim(0, "member c").await.unwrap().held.last_offset,
        Some(1197)
    );
}

async fn files_a_refused_landing_leaves_are_removed_by_the_next_claim(storage: Storage) {
    let op = storage.operator().clone();
    let old = member(storage.clone());
    let paused = old.claim(0, "member a").await.unwrap().held;
    let new = member(storage);
    new.claim(0, "member b").await.unwrap();
    // The old owner was writing when it was fenced, and died before its commit.
    let tag = paused.owner.tag();
    let orphan = format!(
        "select-color/_tmp/0.{tag}.data.select-color+0+0000000000000000003+0000000000000000009.json"
    );
    op.write(&orphan, b"{}\n".to_vec()).await.unwrap();
    let other_partition = format!(
        "select-color/_tmp/1.{tag}.data.select-color+1+0000000000000000000+0000000000000000001.json"
    );
    op.write(&other_partition, b"{}\n".to_vec()).await.unwrap();

    let next = new.claim(0, "member c").await.unwrap();
    assert_eq!(next.removed, 1);
    assert!(!exists(&op, &orphan).await, "leftover temporary file kept");
    assert!(
        exists(&op, &other_partition).await,
        "another partition's file was touched"
    );
    assert_eq!(visible(&op).await, Vec::<String>::new());
}

async fn a_landing_interrupted_after_its_commit_is_finished_by_the_next_claim(storage: Storage) {
    let op = storage.operator().clone();
    let first = member(storage.clone());
    let held = first.claim(0, "member a").await.unwrap().held;
    let held = land(&first, &held, &batch(0..3)).await.held;
    land(&first, &held, &batch(3..6)).await;
    let Found::Entry {
        entry: Some(commit),
        ..
    } = first.log().latest(0).await.unwrap()
    else {
        panic!("no commit");
    };
    let file = &commit.files[0];
    let content = op.read(&file.path).await.unwrap().to_vec();

    // The process died after its commit and before the rename: the file is still under _tmp/.
    op.rename(&file.path, &file.tmp).await.unwrap();
    let next = member(storage.clone());
    assert_eq!(
        next.claim(0, "member b").await.unwrap().held.last_offset,
        Some(5)
    );
    assert_eq!(op.read(&file.path).await.unwrap().to_vec(), content);
    assert!(!exists(&op, &file.tmp).await);

    // It died between the two steps of a folder's publish (link, then unlink): both names.
    op.write(&file.tmp, content.clone()).await.unwrap();
    let claimed = next.claim(0, "member c").await.unwrap();
    assert_eq!(claimed.held.last_offset, Some(5));
    assert_eq!(op.read(&file.path).await.unwrap().to_vec(), content);
    assert!(!exists(&op, &file.tmp).await);
}

/// A landing whose answer was lost (the call timed out, or the process was stopping) is made
/// again with the same batch under the same claim: it finds its own commit and finishes.
async fn a_landing_made_again_after_its_answer_was_lost_finishes_once(storage: Storage) {
    let op = storage.operator().clone();
    let landing = member(storage);
    let held = landing.claim(0, "member a").await.unwrap().held;
    let records = batch(0..5);
    let first = land(&landing, &held, &records).await;
    let again = land(&landing, &held, &records).await;
    assert_eq!(
        again, first,
        "the same commit, found rather than made twice"
    );
    assert_eq!(visible(&op).await.len(), 1);
    assert_eq!(tmp_files(&op).await, Vec::<String>::new());

    // The first attempt published its commit and then lost the answer before its files moved.
    let next = batch(5..9);
    let landed = land(&landing, &first.held, &next).await;
    let (path, _) = &landed.files[0];
    let Found::Entry {
        entry: Some(commit),
        ..
    } = landing.log().latest(0).await.unwrap()
    else {
        panic!("no commit");
    };
    op.rename(path, &commit.files[0].tmp).await.unwrap();
    assert_eq!(land(&landing, &first.held, &next).await, landed);
    assert!(op.exists(path).await.unwrap());
    assert_eq!(visible(&op).await.len(), 2);
    assert_eq!(tmp_files(&op).await, Vec::<String>::new());
    assert_eq!(log_offsets(&landing).await, [None, Some(4), Some(8)]);
}

/// Three members are given one partition at once (a rebalance seen late by two of them): each
/// claim succeeds in turn, and only the last one's landing commits.
async fn members_claiming_at_once_all_claim_and_only_the_last_commits(storage: Storage) {
    for partition in 0..5 {
        let members: Vec<Lake> = (0..3).map(|_| member(storage.clone())).collect();
        let (a, b, c) = tokio::join!(
            members[0].claim(partition, "member a"),
            members[1].claim(partition, "member b"),
            members[2].claim(partition, "member c"),
        );
        let mut claims: Vec<(Held, &Lake)> = [a, b, c]
            .into_iter()
            .zip(&members)
            .map(|(claimed, landing)| (claimed.unwrap().held, landing))
            .collect();
        claims.sort_by_key(|(held, _)| held.seq);
        let seqs: Vec<u64> = claims.iter().map(|(held, _)| held.seq).collect();
        assert_eq!(seqs, [0, 1, 2], "one claim after the other");
        let records = batch_of(partition, 0..4);
        let (last, stale) = claims.split_last().unwrap();
        for (held, landing) in stale {
            assert!(matches!(
                landing
                    .land(partition, held, &records, now())
                    .await
                    .unwrap(),
                Outcome::Refused { .. }
            ));
        }
        assert!(matches!(
            last.1
                .land(partition, &last.0, &records, now())
                .await
                .unwrap(),
            Outcome::Done { .. }
        ));
    }
    assert_eq!(
        visible(storage.operator()).await.len(),
        5,
        "one file per partition"
    );
    assert_eq!(tmp_files(storage.operator()).await, Vec::<String>::new());
}

/// Old entries are deleted; a member paused for longer than the kept entries publishes into a
/// freed number, finds the entry it held gone, and is refused all the same.
async fn a_member_paused_past_the_kept_entries_is_still_refused(storage: Storage) {
    let op = storage.operator().clone();
    let old = member(storage.clone()).keeping(3);
    let new = member(storage.clone()).keeping(3);
    let paused = old.claim(0, "member a").await.unwrap().held;
    let paused = land(&old, &paused, &batch(0..2)).await.held;
    let mut held = new.claim(0, "member b").await.unwrap().held;
    for start in (2..12).step_by(2) {
        held = land(&new, &held, &batch(start..start + 2)).await.held;
    }
    let mut seqs = new.log().seqs(0).await.unwrap();
    seqs.sort_unstable();
    assert_eq!(seqs, [5, 6, 7], "three entries kept");
    let landed = visible(&op).await;

    match old.land(0, &paused, &batch(2..4), now()).await.unwrap() {
        Outcome::Refused { holder } => assert!(holder.starts_with("member b"), "{holder}"),
        other => panic!("a stale owner landed through a freed number: {other:?}"),
    }
    assert_eq!(visible(&op).await, landed);
    assert_eq!(tmp_files(&op).await, Vec::<String>::new());
    let next = new.claim(0, "member c").await.unwrap();
    assert_eq!(next.held.last_offset, Some(11));
    let mut seqs = new.log().seqs(0).await.unwrap();
    seqs.sort_unstable();
    assert_eq!(
        seqs,
        [6, 7, 8],
        "the stale entry was deleted with the old ones"
    );
}

async fn without_a_log_the_earlier_checkpoint_or_the_file_names_say_where_to_resume(
    storage: Storage,
) {
    let op = storage.operator().clone();
    // What an earlier version left: two landed files and a checkpoint whose second file it
    // died before renaming.
    let first = "select-color/dt=2026-12-01/hour=10/select-color+0+0000000000000000000+0000000000000000003.json";
    let second = "select-color/dt=2026-12-01/hour=10/select-color+0+0000000000000000004+0000000000000000006.json";
    let second_tmp =
        "select-color/_tmp/0.data.select-color+0+0000000000000000004+0000000000000000006.json";
    op.write(first, b"{}\n".to_vec()).await.unwrap();
    op.write(second_tmp, b"{\"a\":1}\n".to_vec()).await.unwrap();
    let checkpoint = serde_json::json!({
        "lastOffset": 6,
        "files": [{"tmp": second_tmp, "path": second}]
    });
    op.write(
        "select-color/_checkpoints/select-color+0.json",
        serde_json::to_vec(&checkpoint).unwrap(),
    )
    .await
    .unwrap();
    let landing = member(storage.clone());
    assert_eq!(
        landing.claim(0, "member a").await.unwrap().held.last_offset,
        Some(6)
    );
    assert_eq!(op.read(second).await.unwrap().to_vec(), b"{\"a\":1}\n");
    assert!(!exists(&op, second_tmp).await);

    // Partition 1 has landed files and no checkpoint at all: the names are the truth.
    let names = "select-color/_invalid/select-color+1+0000000000000000000+0000000000000000008.json";
    op.write(names, b"{}\n".to_vec()).await.unwrap();
    assert_eq!(
        landing.claim(1, "member a").await.unwrap().held.last_offset,
        Some(8)
    );
}

async fn an_unreadable_or_broken_latest_entry_falls_back_to_the_landed_file_names(
    storage: Storage,
) {
    let op = storage.operator().clone();
    let landing = member(storage.clone());
    let held = landing.claim(0, "member a").await.unwrap().held;
    let held = land(&landing, &held, &batch(0..4)).await.held;
    let last = land(&landing, &held, &batch(4..9)).await;

    // A person deleted the last landed file: its records are landed again.
    op.delete(&last.files[0].0).await.unwrap();
    assert_eq!(
        landing.claim(0, "member b").await.unwrap().held.last_offset,
        Some(3)
    );

    // The latest entry holds garbage.
    let seq = landing
        .log()
        .seqs(0)
        .await
        .unwrap()
        .into_iter()
        .max()
        .unwrap();
    op.write(
        &format!("select-color/_commits/0/{:020}.json", seq + 1),
        b"garbage".to_vec(),
    )
    .await
    .unwrap();
    assert_eq!(
        landing.claim(0, "member c").await.unwrap().held.last_offset,
        Some(3)
    );
}

async fn an_unwritable_topic_folder_is_an_error_not_a_panic(storage: Storage) {
    let op = storage.operator().clone();
    // A regular file where the topic's folder should be.
    op.write(TOPIC, b"in the way".to_vec()).await.unwrap();
    let landing = member(storage);
    assert!(landing.claim(0, "member a").await.is_err());
}

/// A new holder's repeat window holds what the partition landed within the window (clicks and
/// dead letters that carry an id) and nothing older, read back from the files.
async fn a_new_holder_rebuilds_the_repeat_window_from_what_is_landed(storage: Storage) {
    use lake::repeats::Seen;
    let span = std::time::Duration::from_secs(600);
    let first = member(storage.clone()).dropping_repeats(span);
    let held = first.claim(0, "first").await.unwrap().held;
    let at = now();
    let click = |offset: i64, received: chrono::DateTime<chrono::Utc>| {
        let event = ColorEvent::sample(&format!("u{offset}"), "red", received);
        let record = TopicRecord::classify(TOPIC, 0, offset, Some(&event.to_json_bytes()));
        (event.event_id, record)
    };
    let (old, old_record) = click(0, at - chrono::Duration::minutes(30));
    let (recent, recent_record) = click(1, at);
    // A click this build refuses (a schema version from the future) still carries its id.
    let mut refused = serde_json::to_value(ColorEvent::sample("d", "red", at)).unwrap();
    refused["schemaVersion"] = 99.into();
    let refused_id: uuid::Uuid = refused["eventId"].as_str().unwrap().parse().unwrap();
    let dead_letter =
        TopicRecord::classify(TOPIC, 0, 2, Some(&serde_json::to_vec(&refused).unwrap()));
    let landed = land(&first, &held, &[old_record, recent_record, dead_letter]).await;
    assert_eq!(landed.invalid, 1);

    let second = member(storage).dropping_repeats(span);
    second.claim(0, "second").await.unwrap();
    let mut rebuilt = second.repeat_window(0).await.unwrap();
    assert!(rebuilt.unreadable.is_empty(), "{:?}", rebuilt.unreadable);
    let later = at + chrono::Duration::seconds(30);
    assert_eq!(rebuilt.window.see(recent, later), Seen::Repeat);
    assert_eq!(rebuilt.window.see(refused_id, later), Seen::Repeat);
    assert_eq!(
        rebuilt.window.see(old, later),
        Seen::First,
        "past the window"
    );
    assert_eq!(rebuilt.window.see(uuid::Uuid::now_v7(), later), Seen::First);
}

#[tokio::test]
async fn on_a_folder_a_new_holder_rebuilds_the_repeat_window_from_what_is_landed() {
    let (_dir, storage) = local();
    a_new_holder_rebuilds_the_repeat_window_from_what_is_landed(storage).await;
}

#[tokio::test]
async fn on_a_folder_a_landed_batch_is_visible_and_the_next_claim_resumes_after_it() {
    let (_dir, storage) = local();
    a_landed_batch_is_visible_under_its_hour_and_the_next_claim_resumes_after_it(storage).await;
}

#[tokio::test]
async fn on_a_folder_a_commit_after_another_members_claim_is_refused_and_leaves_nothing_visible() {
    let (_dir, storage) = local();
    a_commit_after_another_members_claim_is_refused_and_leaves_nothing_visible(storage).await;
}

#[tokio::test]
async fn on_a_folder_files_a_refused_landing_leaves_are_removed_by_the_next_claim() {
    let (_dir, storage) = local();
    files_a_refused_landing_leaves_are_removed_by_the_next_claim(storage).await;
}

#[tokio::test]
async fn on_a_folder_a_landing_interrupted_after_its_commit_is_finished_by_the_next_claim() {
    let (_dir, storage) = local();
    a_landing_interrupted_after_its_commit_is_finished_by_the_next_claim(storage).await;
}

#[tokio::test]
async fn on_a_folder_a_landing_made_again_after_its_answer_was_lost_finishes_once() {
    let (_dir, storage) = local();
    a_landing_made_again_after_its_answer_was_lost_finishes_once(storage).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 3)]
async fn on_a_folder_members_claiming_at_once_all_claim_and_only_the_last_commits() {
    let (_dir, storage) = local();
    members_claiming_at_once_all_claim_and_only_the_last_commits(storage).await;
}

#[tokio::test]
async fn on_a_folder_a_member_paused_past_the_kept_entries_is_still_refused() {
    let (_dir, storage) = local();
    a_member_paused_past_the_kept_entries_is_still_refused(storage).await;
}

#[tokio::test]
async fn on_a_folder_without_a_log_the_earlier_checkpoint_or_the_file_names_say_where_to_resume() {
    let (_dir, storage) = local();
    without_a_log_the_earlier_checkpoint_or_the_file_names_say_where_to_resume(storage).await;
}

#[tokio::test]
async fn on_a_folder_an_unreadable_or_broken_latest_entry_falls_back_to_the_landed_file_names() {
    let (_dir, storage) = local();
    an_unreadable_or_broken_latest_entry_falls_back_to_the_landed_file_names(storage).await;
}

#[tokio::test]
async fn on_a_folder_an_unwritable_topic_folder_is_an_error_not_a_panic() {
    let (_dir, storage) = local();
    an_unwritable_topic_folder_is_an_error_not_a_panic(storage).await;
}

/// Every case above on one real HDFS, each under a root of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Java and Hadoop's jars: run scripts/test.sh"]
async fn on_hdfs_claims_landings_refusals_and_every_recovery_case_hold() {
    let hdfs = LocalHdfs::start();
    let root = |case: &str| Storage::open(&hdfs.landing_url(&format!("/landing/{case}"))).unwrap();
    a_landed_batch_is_visible_under_its_hour_and_the_next_claim_resumes_after_it(root("visible"))
        .await;
    a_commit_after_another_members_claim_is_refused_and_leaves_nothing_visible(root("refused"))
        .await;
    files_a_refused_landing_leaves_are_removed_by_the_next_claim(root("leftovers")).await;
    a_landing_interrupted_after_its_commit_is_finished_by_the_next_claim(root("interrupted")).await;
    members_claiming_at_once_all_claim_and_only_the_last_commits(root("race")).await;
    a_landing_made_again_after_its_answer_was_lost_finishes_once(root("again")).await;
    a_member_paused_past_the_kept_entries_is_still_refused(root("expired")).await;
    without_a_log_the_earlier_checkpoint_or_the_file_names_say_where_to_resume(root("legacy"))
        .await;
    an_unreadable_or_broken_latest_entry_falls_back_to_the_landed_file_names(root("broken")).await;
    an_unwritable_topic_folder_is_an_error_not_a_panic(root("unwritable")).await;
    a_new_holder_rebuilds_the_repeat_window_from_what_is_landed(root("repeats")).await;
}

#[test]
fn landing_urls_pick_the_storage() {
    let hdfs = url::Url::parse("hdfs://namenode:8020/data/web-events").unwrap();
    let storage =
        Storage::open(&hdfs).expect("an HDFS storage is opened without contacting the namenode");
    assert_eq!(
        storage.operator().info().scheme().to_string(),
        "hdfs-native"
    );
    assert_eq!(storage.operator().info().root(), "/data/web-events/");
    let local = url::Url::parse("file:///tmp/landing").unwrap();
    assert_eq!(
        Storage::open(&local)
            .unwrap()
            .operator()
            .info()
            .scheme()
            .to_string(),
        "fs"
    );
    for unsupported in ["s3://bucket/x", "http://example.org/x"] {
        let err = Storage::open(&url::Url::parse(unsupported).unwrap())
            .err()
            .unwrap();
        assert!(err.to_string().contains("is not a place to land"), "{err}");
    }
}
