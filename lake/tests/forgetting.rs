//! Forgetting landed clicks through the commit log: hours past the retention deleted, and
//! erasure requests carried out, each case on a local folder and on a real HDFS (an Apache
//! Hadoop NameNode and DataNode, `support::hdfs`). Members are `Lake`s on the same storage,
//! as processes on several machines would be.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use common::ColorEvent;
use lake::ErasureRequest;
use lake::TopicRecord;
use lake::commit_log::Erased;
use lake::commit_log::{EntryKind, Found, Held, Recorded};
use lake::expire::Expired;
use lake::file_format::LandingFormat;
use lake::storage::Storage;
use lake::{Lake, Outcome};
use opendal::Operator;
use test_support::hdfs::LocalHdfs;
use uuid::Uuid;

const TOPIC: &str = "select-color";
const DAY: Duration = Duration::from_secs(24 * 3600);

fn local() -> (tempfile::TempDir, Storage) {
    let dir = tempfile::tempdir().unwrap();
    let storage = Storage::folder(dir.path()).unwrap();
    (dir, storage)
}

fn member(storage: &Storage) -> Lake {
    Lake::new(storage.clone(), TOPIC, LandingFormat::Parquet)
}

/// A click of `name` at `at`, as read at `offset`, with its event.
fn click(offset: i64, name: &str, at: DateTime<Utc>) -> (TopicRecord, ColorEvent) {
    let event = ColorEvent::sample(name, "red", at);
    let record = TopicRecord::classify(TOPIC, 0, offset, Some(&event.to_json_bytes()));
    (record, event)
}

/// A record that is not an event, naming `name`: a dead letter.
fn letter(offset: i64, name: &str) -> TopicRecord {
    let body = serde_json::json!({"userName": name, "colorName": "no such colour"});
    TopicRecord::classify(TOPIC, 0, offset, Some(body.to_string().as_bytes()))
}

async fn land(landing: &Lake, held: &Held, records: &[TopicRecord]) -> Held {
    match landing.land(0, held, records, Utc::now()).await.unwrap() {
        Outcome::Done { held, .. } => held,
        other => panic!("not visible: {other:?}"),
    }
}

async fn files(op: &Operator, under: &str) -> Vec<String> {
    test_support::landed::files_under(op, under).await
}

/// Every landed click's id, as many times as it is landed.
async fn landed_ids(op: &Operator) -> Vec<Uuid> {
    let mut ids = Vec::new();
    for path in files(op, &format!("{TOPIC}/")).await {
        if path.contains("/dt=") {
            let events = LandingFormat::Parquet.read_events(op, &path).await.unwrap();
            ids.extend(events.iter().map(|e| e.event_id));
        }
    }
    ids.sort();
    ids
}

/// Every dead-letter line.
async fn dead_letters(op: &Operator) -> Vec<String> {
    let mut lines = Vec::new();
    for path in files(op, &format!("{TOPIC}/_invalid/")).await {
        let bytes = op.read(&path).await.unwrap().to_vec();
        lines.extend(String::from_utf8(bytes).unwrap().lines().map(str::to_owned));
    }
    lines
}

async fn latest_kind(landing: &Lake) -> EntryKind {
    match landing.log().latest(0).await.unwrap() {
        Found::Entry {
            entry: Some(entry), ..
        } => entry.kind,
        other => panic!("no latest entry: {other:?}"),
    }
}

fn sorted(mut ids: Vec<Uuid>) -> Vec<Uuid> {
    ids.sort();
    ids
}

async fn hours_past_the_retention_are_deleted_through_the_log_and_younger_ones_stay(
    storage: Storage,
) {
    let op = storage.operator().clone();
    let now = Utc::now();
    let old = now - chrono::Duration::days(3);
    let older = old - chrono::Duration::hours(5);
    let young = now - chrono::Duration::hours(1);
    let clicks = [
        click(0, "a", older),
        click(1, "b", old),
        click(2, "c", young),
        click(3, "d", now),
    ];
    let records: Vec<TopicRecord> = clicks.iter().map(|(r, _)| r.clone()).collect();
    let keeper = member(&storage);
    let held = keeper.claim(0, "keeper").await.unwrap().held;
    let held = land(&keeper, &held, &records[..2]).await;
    let held = land(&keeper, &held, &[records[2].clone(), letter(3, "x")]).await;
    assert_eq!(landed_ids(&op).await.len(), 3);

    // A member that keeps two days claims the partition, finds the old hours and deletes them.
    let expirer = member(&storage).retaining(Some(2 * DAY));
    let claimed = expirer.claim(0, "expirer").await.unwrap().held;
    let limit = expirer.retention_limit(Utc::now()).unwrap();

    // The member it took the partition from can no longer delete anything.
    let stale = member(&storage).retaining(Some(2 * DAY));
    assert!(matches!(
        stale.expire(0, &held, limit).await.unwrap(),
        Outcome::Refused { .. }
    ));
    assert_eq!(
        landed_ids(&op).await.len(),
        3,
        "a refused expiry deletes nothing"
    );

    let Outcome::Done {
        held,
        report: Expired { files: deleted },
    } = expirer.expire(0, &claimed, limit).await.unwrap()
    else {
        panic!("nothing expired");
    };
    assert_eq!(deleted, 2, "the two old hours' files");
    assert_eq!(latest_kind(&expirer).await, EntryKind::Expiry);
    assert_eq!(landed_ids(&op).await, sorted(vec![clicks[2].1.event_id]));
    let left = files(&op, &format!("{TOPIC}/")).await;
    let old_day = format!("dt={}", old.format("%Y-%m-%d"));
    assert!(
        !left.iter().any(|f| f.contains(&old_day))
            && !op.exists(&format!("{TOPIC}/{old_day}/")).await.unwrap(),
        "the old day's folder is gone: {left:?}"
    );
    assert_eq!(
        dead_letters(&op).await.len(),
        1,
        "a dead letter written now stays"
    );

    // Again: nothing left to expire. A click already past the retention is not landed.
    assert_eq!(
        expirer.expire(0, &held, limit).await.unwrap(),
        Outcome::Unchanged {
            held: held.clone(),
            skipped: None
        }
    );
    let late = click(4, "late", older);
    let Outcome::Done { report: batch, .. } = expirer
        .land(0, &held, &[records[3].clone(), late.0], Utc::now())
        .await
        .unwrap()
    else {
        panic!("not landed");
    };
    assert_eq!((batch.expired, batch.last_offset), (1, 4));
    assert_eq!(
        landed_ids(&op).await,
        sorted(vec![clicks[2].1.event_id, clicks[3].1.event_id])
    );
}

async fn an_erasure_rewrites_the_named_clicks_out_through_the_log(storage: Storage) {
    let op = storage.operator().clone();
    let now = Utc::now();
    let earlier = now - chrono::Duration::hours(2);
    let named = ["Ada", "Bo", "Ada", "Cy", "Dee", "Ada"];
    let clicks: Vec<(TopicRecord, ColorEvent)> = named
        .iter()
        .enumerate()
        .map(|(i, name)| click(i as i64, name, if i < 3 { earlier } else { now }))
        .collect();
    let records: Vec<TopicRecord> = clicks.iter().map(|(r, _)| r.clone()).collect();
    let holder = member(&storage);
    let held = holder.claim(0, "holder").await.unwrap().held;
    let held = land(&holder, &held, &records[..3]).await;
    let held = land(&holder, &held, &[records[3].clone(), letter(4, "Ada")]).await;
    let held = land(&holder, &held, &[letter(5, "Bo"), records[5].clone()]).await;
    let dee = &clicks[4].1;
    let request = ErasureRequest::new(
        BTreeMap::from([(0, 6)]),
        vec!["Ada".into()],
        vec![dee.event_id],
    );
    assert!(request.due(0, held.last_offset));

    let Outcome::Done {
        held,
        report:
            Erased {
                rows,
                dead_letters: letters,
                ..
            },
    } = holder.erase(0, &held, &request).await.unwrap()
    else {
        panic!("not erased");
    };
    // Dee's click was never landed (offset 4 is a dead letter): only Ada's three go.
    assert_eq!((rows, letters), (3, 1));
    assert_eq!(latest_kind(&holder).await, EntryKind::Erasure);
    assert!(held.has_erased(&request.id));
    let kept = |names: &[&str]| {
        sorted(
            clicks
                .iter()
                .filter(|(_, e)| names.contains(&e.user_name.as_str()))
                .map(|(_, e)| e.event_id)
                .collect(),
        )
    };
    assert_eq!(landed_ids(&op).await, kept(&["Bo", "Cy"]));
    let letters = dead_letters(&op).await;
    assert_eq!(letters.len(), 1, "{letters:?}");
    assert!(letters[0].contains("Bo"));

    // A new member's claim carries what was erased; run again, it finds nothing.
    let next = member(&storage);
    let claimed = next.claim(0, "next").await.unwrap().held;
    assert_eq!(claimed.erasures, held.erasures);
    let again = ErasureRequest::new(BTreeMap::from([(0, 6)]), vec!["Ada".into()], Vec::new());
    let Outcome::Done {
        report:
            Erased {
                rows,
                dead_letters,
                files,
                ..
            },
        ..
    } = next.erase(0, &claimed, &again).await.unwrap()
    else {
        panic!("not recorded");
    };
    assert_eq!((rows, dead_letters, files), (0, 0, 0));
    assert_eq!(landed_ids(&op).await, kept(&["Bo", "Cy"]));
}

/// A member that lost the partition cannot erase: its erasure would race the new holder's
/// rewrites. Here the new holder crashed right after publishing a compaction of the hour (its
/// merged file, with Ada's click, still under `_tmp/`); the next claim finishes it.
async fn a_member_that_lost_the_partition_cannot_erase(storage: Storage) {
    let op = storage.operator().clone();
    let at = Utc::now() - chrono::Duration::hours(3);
    let clicks: Vec<(TopicRecord, ColorEvent)> = ["Ada", "Bo", "Cy"]
        .iter()
        .enumerate()
        .map(|(i, name)| click(i as i64, name, at))
        .collect();
    let records: Vec<TopicRecord> = clicks.iter().map(|(r, _)| r.clone()).collect();
    let stale = member(&storage);
    let held = stale.claim(0, "stale").await.unwrap().held;
    let held = land(&stale, &held, &records[..2]).await;
    let stale_held = land(&stale, &held, &records[2..]).await;

    // The new holder claims and publishes a compaction of the hour, then dies.
    let crashed = member(&storage);
    let taken = crashed.claim(0, "crashed").await.unwrap().held;
    let inputs: Vec<String> = files(&op, &format!("{TOPIC}/"))
        .await
        .into_iter()
        .filter(|f| f.contains("/dt="))
        .collect();
    assert_eq!(inputs.len(), 2);
    let hour = lake::layout::HourPartition::of(&at);
    let name = lake::layout::file_name(TOPIC, 0, 0, 2, "parquet");
    let tmp = lake::layout::tmp_path(TOPIC, 0, &taken.owner.tag(), "compact", &name);
    LandingFormat::Parquet
        .merge(
            &op,
            &inputs,
            &tmp,
            &mut lake::repeats::RepeatWindow::new(Duration::ZERO),
        )
        .await
        .unwrap();
    let merged = lake::commit_log::PendingRename {
        tmp,
        path: lake::layout::data_path(TOPIC, &hour, &name),
    };
    let compaction = Recorded::Compaction { hour };
    let (seq, entry) = taken.next(&compaction, vec![merged], inputs);
    crashed.log().publish(0, seq, &entry).await.unwrap();

    // The member that lost the partition still has the request to carry out.
    let request = ErasureRequest::new(BTreeMap::from([(0, 3)]), vec!["Ada".into()], Vec::new());
    let refused = stale.erase(0, &stale_held, &request).await.unwrap();
    assert!(
        matches!(refused, Outcome::Refused { .. }),
        "the stale member erased: {refused:?}"
    );

    // The next member finishes the compaction and carries the request out.
    let next = member(&storage);
    let claimed = next.claim(0, "next").await.unwrap().held;
    let Outcome::Done {
        report: Erased { rows, .. },
        ..
    } = next.erase(0, &claimed, &request).await.unwrap()
    else {
        panic!("not erased");
    };
    assert_eq!(rows, 1);
    let expected = sorted(vec![clicks[1].1.event_id, clicks[2].1.event_id]);
    assert_eq!(
        landed_ids(&op).await,
        expected,
        "Bo and Cy once each, Ada gone"
    );
}

/// An erasure removes the clicks made before its request, and keeps the person's later ones,
/// even where one file holds both; the name is matched in either Unicode form, trimmed.
async fn clicks_made_after_the_request_are_kept_even_in_a_file_with_erased_ones(
    storage: Storage,
    format: LandingFormat,
) {
    let op = storage.operator().clone();
    let now = Utc::now();
    let composed = "Ren\u{e9}e";
    let mut records = Vec::new();
    let mut kept = Vec::new();
    for offset in 0..8 {
        if offset == 1 || offset == 6 {
            records.push(letter(offset, composed));
            continue;
        }
        let (record, event) = click(offset, composed, now);
        records.push(record);
        if offset >= 4 {
            kept.push(event.event_id);
        }
    }
    let holder = Lake::new(storage.clone(), TOPIC, format);
    let held = holder.claim(0, "holder").await.unwrap().held;
    let held = match holder.land(0, &held, &records, now).await.unwrap() {
        Outcome::Done { held, .. } => held,
        other => panic!("not landed: {other:?}"),
    };
    // Asked with the name as another system spells it: decomposed, with spaces around.
    let request = ErasureRequest::new(
        BTreeMap::from([(0, 4)]),
        vec![" Rene\u{301}e ".into()],
        Vec::new(),
    );
    let Outcome::Done {
        report:
            Erased {
                rows,
                dead_letters: letters,
                files: rewritten,
                ..
            },
        ..
    } = holder.erase(0, &held, &request).await.unwrap()
    else {
        panic!("not erased");
    };
    assert_eq!(
        (rows, letters, rewritten),
        (3, 1, 2),
        "offsets 0, 2, 3 and the letter at 1"
    );
    let mut landed = Vec::new();
    for path in files(&op, &format!("{TOPIC}/")).await {
        if path.contains("/dt=") {
            let events = format.read_events(&op, &path).await.unwrap();
            landed.extend(events.iter().map(|e| e.event_id));
        }
    }
    assert_eq!(
        sorted(landed),
        sorted(kept),
        "the clicks at 4 and after stay"
    );
    let letters = dead_letters(&op).await;
    assert_eq!(letters.len(), 1, "{letters:?}");
    assert!(letters[0].contains("\"offset\":6"), "{letters:?}");
}

#[tokio::test]
async fn on_a_folder_later_clicks_are_kept_in_parquet_and_in_json_lines() {
    for format in [LandingFormat::Parquet, LandingFormat::Json] {
        let (_dir, storage) = local();
        clicks_made_after_the_request_are_kept_even_in_a_file_with_erased_ones(storage, format)
            .await;
    }
}

#[tokio::test]
async fn on_a_folder_hours_past_the_retention_are_deleted_through_the_log_and_younger_ones_stay() {
    let (_dir, storage) = local();
    hours_past_the_retention_are_deleted_through_the_log_and_younger_ones_stay(storage).await;
}

#[tokio::test]
async fn on_a_folder_an_erasure_rewrites_the_named_clicks_out_through_the_log() {
    let (_dir, storage) = local();
    an_erasure_rewrites_the_named_clicks_out_through_the_log(storage).await;
}

#[tokio::test]
async fn on_a_folder_a_member_that_lost_the_partition_cannot_erase() {
    let (_dir, storage) = local();
    a_member_that_lost_the_partition_cannot_erase(storage).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Java and Hadoop's jars: run scripts/test.sh"]
async fn on_hdfs_expiry_and_erasure_go_through_the_log() {
    let hdfs = LocalHdfs::start();
    let root = |case: &str| Storage::open(&hdfs.landing_url(&format!("/forget/{case}"))).unwrap();
    hours_past_the_retention_are_deleted_through_the_log_and_younger_ones_stay(root("expiry"))
        .await;
    an_erasure_rewrites_the_named_clicks_out_through_the_log(root("erasure")).await;
    a_member_that_lost_the_partition_cannot_erase(root("stale")).await;
    for format in [LandingFormat::Parquet, LandingFormat::Json] {
        let later = root(&format!("later-{}", format.extension()));
        clicks_made_after_the_request_are_kept_even_in_a_file_with_erased_ones(later, format).await;
    }
}
