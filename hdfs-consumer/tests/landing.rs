//! Landing and recovery through OpenDAL, each case on a local directory and on a real HDFS
//! (an Apache Hadoop NameNode and DataNode, `support::hdfs`).
//!
//! On HDFS, OpenDAL renames in two steps: it deletes an existing target, or creates an empty
//! one (to make its parent folders), and then renames over it. A process killed between the
//! steps leaves either no checkpoint or an empty file at a landed file's name; both cases are
//! here.

mod support;

use common::ColorEvent;
use hdfs_consumer::buffer::BufferedRecord;
use hdfs_consumer::landing::{Landing, operator_for};
use opendal::Operator;
use support::hdfs::LocalHdfs;

const TOPIC: &str = "select-color";

fn local() -> (tempfile::TempDir, Operator) {
    let dir = tempfile::tempdir().unwrap();
    let op = operator_for(&url::Url::from_directory_path(dir.path()).unwrap()).unwrap();
    (dir, op)
}

fn batch(offsets: std::ops::Range<i64>) -> Vec<BufferedRecord> {
    offsets
        .map(|offset| {
            let event = ColorEvent::new(
                format!("u{offset}"),
                "red".into(),
                String::new(),
                common::BrowserInfo::unknown().into(),
                chrono::Utc::now(),
                None,
            );
            BufferedRecord::classify(TOPIC, 0, offset, Some(&event.to_json_bytes()))
        })
        .collect()
}

/// Every file under the root, relative to it.
async fn files_under(op: &Operator) -> Vec<String> {
    let mut files: Vec<String> = op
        .list_with("")
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

async fn exists(op: &Operator, path: &str) -> bool {
    op.exists(path).await.unwrap()
}

/// Where the landing's temporary copy of the landed file `path` lived before its rename.
fn tmp_of(path: &str) -> String {
    let name = path.rsplit('/').next().unwrap();
    format!("{TOPIC}/_tmp/0.data.{name}")
}

async fn landed_batch_is_visible_under_its_hour_and_recovery_finds_its_end(op: Operator) {
    let landing = Landing::new(op.clone(), TOPIC);
    assert_eq!(
        landing.recover(0).await.unwrap(),
        None,
        "nothing landed yet"
    );

    let records = batch(0..5);
    let landed = landing.land(0, &records).await.unwrap();
    assert_eq!(landed.last_offset, 4);
    assert_eq!(landed.files.len(), 1);
    let (path, count) = &landed.files[0];
    assert_eq!(*count, 5);
    assert!(path.starts_with("select-color/dt="), "{path}");
    assert!(
        path.ends_with("/select-color+0+0000000000000000000+0000000000000000004.json"),
        "{path}"
    );

    let text = op.read(path).await.unwrap().to_vec();
    let lines: Vec<&[u8]> = text
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(lines.len(), 5);
    for (line, record) in lines.iter().zip(&records) {
        assert_eq!(*line, record.line.as_slice());
    }
    assert!(
        !files_under(&op).await.iter().any(|f| f.contains("_tmp/")),
        "temporary file left"
    );
    assert_eq!(landing.recover(0).await.unwrap(), Some(4));
    assert_eq!(
        landing.recover(1).await.unwrap(),
        None,
        "another partition is independent"
    );
}

async fn an_interrupted_rename_is_finished_by_recovery(op: Operator) {
    let landing = Landing::new(op.clone(), TOPIC);
    landing.land(0, &batch(0..3)).await.unwrap();
    let landed = landing.land(0, &batch(3..6)).await.unwrap();
    let (path, _) = &landed.files[0];
    let content = op.read(path).await.unwrap().to_vec();

    // The process died after writing the checkpoint and before the rename: the file is still
    // under _tmp/.
    op.rename(path, &tmp_of(path)).await.unwrap();
    assert_eq!(landing.recover(0).await.unwrap(), Some(5));
    assert_eq!(op.read(path).await.unwrap().to_vec(), content);
    assert!(!exists(&op, &tmp_of(path)).await);

    // It died inside the rename, once the empty target was made: the temporary copy wins.
    op.rename(path, &tmp_of(path)).await.unwrap();
    op.write(path, Vec::<u8>::new()).await.unwrap();
    assert_eq!(landing.recover(0).await.unwrap(), Some(5));
    assert_eq!(
        op.read(path).await.unwrap().to_vec(),
        content,
        "the empty file was not replaced"
    );
    assert!(!exists(&op, &tmp_of(path)).await);
}

async fn a_checkpoint_lost_inside_its_rename_falls_back_to_the_landed_files(op: Operator) {
    let landing = Landing::new(op.clone(), TOPIC);
    landing.land(0, &batch(0..3)).await.unwrap();
    let landed = landing.land(0, &batch(3..6)).await.unwrap();
    let (path, _) = &landed.files[0];

    // The process died inside the second checkpoint's rename, after the old checkpoint was
    // deleted: no checkpoint, and the second batch still under _tmp/.
    op.delete(&format!("{TOPIC}/_checkpoints/{TOPIC}+0.json"))
        .await
        .unwrap();
    op.rename(path, &tmp_of(path)).await.unwrap();
    assert_eq!(
        landing.recover(0).await.unwrap(),
        Some(2),
        "the second batch never landed, so it is read again"
    );
    assert!(
        !exists(&op, &tmp_of(path)).await,
        "its temporary file was kept"
    );
    assert!(!exists(&op, path).await);
}

async fn files_written_before_the_checkpoint_are_removed_and_not_counted(op: Operator) {
    let landing = Landing::new(op.clone(), TOPIC);
    landing.land(0, &batch(0..3)).await.unwrap();
    // A batch that died before its checkpoint: only a temporary file exists.
    let orphan =
        "select-color/_tmp/0.data.select-color+0+0000000000000000003+0000000000000000009.json";
    op.write(orphan, b"{}\n".to_vec()).await.unwrap();
    let other_partition =
        "select-color/_tmp/1.data.select-color+1+0000000000000000000+0000000000000000001.json";
    op.write(other_partition, b"{}\n".to_vec()).await.unwrap();

    assert_eq!(landing.recover(0).await.unwrap(), Some(2));
    assert!(!exists(&op, orphan).await, "leftover temporary file kept");
    assert!(
        exists(&op, other_partition).await,
        "another partition's file was touched"
    );
}

async fn without_a_checkpoint_the_file_names_are_the_truth(op: Operator) {
    let landing = Landing::new(op.clone(), TOPIC);
    landing.land(0, &batch(0..4)).await.unwrap();
    let mut mixed = batch(4..8);
    mixed[2] = BufferedRecord::classify(TOPIC, 0, 6, Some(b"not an event"));
    landing.land(0, &mixed).await.unwrap();
    let mut invalid_last = batch(8..9);
    invalid_last[0] = BufferedRecord::classify(TOPIC, 0, 8, Some(b"{}"));
    landing.land(0, &invalid_last).await.unwrap();

    let checkpoint = "select-color/_checkpoints/select-color+0.json";
    op.delete(checkpoint).await.unwrap();
    assert_eq!(
        landing.recover(0).await.unwrap(),
        Some(8),
        "an invalid record's offset counts as landed"
    );

    op.write(checkpoint, b"garbage".to_vec()).await.unwrap();
    assert_eq!(landing.recover(0).await.unwrap(), Some(8));
    let invalid: Vec<String> = files_under(&op)
        .await
        .into_iter()
        .filter(|f| f.contains("_invalid/"))
        .collect();
    assert_eq!(invalid.len(), 2, "{invalid:?}");
}

async fn an_unwritable_topic_folder_is_an_error_not_a_panic(op: Operator) {
    let landing = Landing::new(op.clone(), TOPIC);
    // A regular file where the topic's folder should be.
    op.write(TOPIC, b"in the way".to_vec()).await.unwrap();
    assert!(landing.land(0, &batch(0..2)).await.is_err());
    // A directory refuses to look inside a file; HDFS answers that nothing is there, which
    // recovery reads as nothing landed yet. Either way nothing lands, and nothing panics.
    let recovered = landing.recover(0).await;
    assert!(matches!(recovered, Err(_) | Ok(None)), "{recovered:?}");
}

#[tokio::test]
async fn landed_batch_is_visible_under_its_hour_and_recovery_finds_its_end_on_a_directory() {
    let (_dir, op) = local();
    landed_batch_is_visible_under_its_hour_and_recovery_finds_its_end(op).await;
}

#[tokio::test]
async fn an_interrupted_rename_is_finished_by_recovery_on_a_directory() {
    let (_dir, op) = local();
    an_interrupted_rename_is_finished_by_recovery(op).await;
}

#[tokio::test]
async fn a_checkpoint_lost_inside_its_rename_falls_back_to_the_landed_files_on_a_directory() {
    let (_dir, op) = local();
    a_checkpoint_lost_inside_its_rename_falls_back_to_the_landed_files(op).await;
}

#[tokio::test]
async fn files_written_before_the_checkpoint_are_removed_and_not_counted_on_a_directory() {
    let (_dir, op) = local();
    files_written_before_the_checkpoint_are_removed_and_not_counted(op).await;
}

#[tokio::test]
async fn without_a_checkpoint_the_file_names_are_the_truth_on_a_directory() {
    let (_dir, op) = local();
    without_a_checkpoint_the_file_names_are_the_truth(op).await;
}

#[tokio::test]
async fn an_unwritable_topic_folder_is_an_error_not_a_panic_on_a_directory() {
    let (_dir, op) = local();
    an_unwritable_topic_folder_is_an_error_not_a_panic(op).await;
}

/// Every case above on one real HDFS, each under a root of its own.
#[tokio::test]
#[ignore = "needs Java and Hadoop's jars: run scripts/test.sh"]
async fn on_hdfs_landing_and_every_recovery_case_hold() {
    let hdfs = LocalHdfs::start();
    let root = |case: &str| operator_for(&hdfs.landing_url(&format!("/landing/{case}"))).unwrap();
    landed_batch_is_visible_under_its_hour_and_recovery_finds_its_end(root("visible")).await;
    an_interrupted_rename_is_finished_by_recovery(root("interrupted")).await;
    a_checkpoint_lost_inside_its_rename_falls_back_to_the_landed_files(root("lost")).await;
    files_written_before_the_checkpoint_are_removed_and_not_counted(root("orphans")).await;
    without_a_checkpoint_the_file_names_are_the_truth(root("names")).await;
    an_unwritable_topic_folder_is_an_error_not_a_panic(root("unwritable")).await;
}

#[test]
fn landing_urls_pick_the_storage() {
    let hdfs = url::Url::parse("hdfs://namenode:8020/data/web-events").unwrap();
    let op =
        operator_for(&hdfs).expect("an HDFS operator is built without contacting the namenode");
    assert_eq!(op.info().scheme().to_string(), "hdfs-native");
    assert_eq!(op.info().root(), "/data/web-events/");
    let local = url::Url::parse("file:///tmp/landing").unwrap();
    assert_eq!(
        operator_for(&local).unwrap().info().scheme().to_string(),
        "fs"
    );
    for unsupported in ["s3://bucket/x", "http://example.org/x"] {
        let err = operator_for(&url::Url::parse(unsupported).unwrap())
            .err()
            .unwrap();
        assert!(err.to_string().contains("is not a place to land"), "{err}");
    }
}
