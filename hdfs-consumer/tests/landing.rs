//! Landing and recovery on a local directory through OpenDAL's fs service.

use std::path::Path;

use common::ColorEvent;
use hdfs_consumer::buffer::BufferedRecord;
use hdfs_consumer::landing::{Landing, operator_for};

const TOPIC: &str = "select-color";

fn landing(root: &Path) -> Landing {
    let url = url::Url::from_directory_path(root).unwrap();
    Landing::new(operator_for(&url).unwrap(), TOPIC)
}

fn batch(offsets: std::ops::Range<i64>) -> Vec<BufferedRecord> {
    offsets
        .map(|offset| {
            let event = ColorEvent::new(
                format!("u{offset}"),
                "red".into(),
                String::new(),
                chrono::Utc::now(),
                None,
            );
            BufferedRecord::classify(TOPIC, 0, offset, Some(&event.to_json_bytes()))
        })
        .collect()
}

fn files_under(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(
                    path.strip_prefix(root)
                        .unwrap()
                        .to_string_lossy()
                        .into_owned(),
                );
            }
        }
    }
    out.sort();
    out
}

#[tokio::test]
async fn landed_batch_is_visible_under_its_hour_and_recovery_finds_its_end() {
    let dir = tempfile::tempdir().unwrap();
    let landing = landing(dir.path());
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

    let text = std::fs::read_to_string(dir.path().join(path)).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 5);
    for (line, record) in lines.iter().zip(&records) {
        assert_eq!(line.as_bytes(), record.line.as_slice());
    }
    assert!(
        !files_under(dir.path()).iter().any(|f| f.contains("_tmp/")),
        "temporary file left"
    );
    assert_eq!(landing.recover(0).await.unwrap(), Some(4));
    assert_eq!(
        landing.recover(1).await.unwrap(),
        None,
        "another partition is independent"
    );
}

#[tokio::test]
async fn an_interrupted_rename_is_finished_by_recovery() {
    let dir = tempfile::tempdir().unwrap();
    let landing = landing(dir.path());
    landing.land(0, &batch(0..3)).await.unwrap();
    let landed = landing.land(0, &batch(3..6)).await.unwrap();

    // Put the second batch's file back where it was before its rename: the process died
    // after writing the checkpoint and before renaming.
    let final_path = dir.path().join(&landed.files[0].0);
    let name = final_path
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let tmp = dir.path().join(format!("select-color/_tmp/0.data.{name}"));
    std::fs::rename(&final_path, &tmp).unwrap();

    assert_eq!(landing.recover(0).await.unwrap(), Some(5));
    assert!(final_path.exists(), "recovery did not finish the rename");
    assert!(!tmp.exists());
}

#[tokio::test]
async fn files_written_before_the_checkpoint_are_removed_and_not_counted() {
    let dir = tempfile::tempdir().unwrap();
    let landing = landing(dir.path());
    landing.land(0, &batch(0..3)).await.unwrap();
    // A batch that died before its checkpoint: only a temporary file exists.
    let orphan = dir.path().join(
        "select-color/_tmp/0.data.select-color+0+0000000000000000003+0000000000000000009.json",
    );
    std::fs::write(&orphan, b"{}\n").unwrap();
    let other_partition = dir.path().join(
        "select-color/_tmp/1.data.select-color+1+0000000000000000000+0000000000000000001.json",
    );
    std::fs::write(&other_partition, b"{}\n").unwrap();

    assert_eq!(landing.recover(0).await.unwrap(), Some(2));
    assert!(!orphan.exists(), "leftover temporary file kept");
    assert!(
        other_partition.exists(),
        "another partition's file was touched"
    );
}

#[tokio::test]
async fn without_a_checkpoint_the_file_names_are_the_truth() {
    let dir = tempfile::tempdir().unwrap();
    let landing = landing(dir.path());
    landing.land(0, &batch(0..4)).await.unwrap();
    let mut mixed = batch(4..8);
    mixed[2] = BufferedRecord::classify(TOPIC, 0, 6, Some(b"not an event"));
    landing.land(0, &mixed).await.unwrap();
    let mut invalid_last = batch(8..9);
    invalid_last[0] = BufferedRecord::classify(TOPIC, 0, 8, Some(b"{}"));
    landing.land(0, &invalid_last).await.unwrap();

    let checkpoint = dir
        .path()
        .join("select-color/_checkpoints/select-color+0.json");
    std::fs::remove_file(&checkpoint).unwrap();
    assert_eq!(
        landing.recover(0).await.unwrap(),
        Some(8),
        "an invalid record's offset counts as landed"
    );

    std::fs::write(&checkpoint, b"garbage").unwrap();
    assert_eq!(landing.recover(0).await.unwrap(), Some(8));
    let invalid: Vec<String> = files_under(dir.path())
        .into_iter()
        .filter(|f| f.contains("_invalid/"))
        .collect();
    assert_eq!(invalid.len(), 2, "{invalid:?}");
}

#[tokio::test]
async fn an_unwritable_root_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let landing = landing(dir.path());
    // A regular file where the topic's directory should be.
    std::fs::write(dir.path().join("select-color"), b"in the way").unwrap();
    assert!(landing.land(0, &batch(0..2)).await.is_err());
    assert!(landing.recover(0).await.is_err());
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
        assert!(err.to_string().contains("unsupported LANDING_URL"), "{err}");
    }
}
