//! `RETENTION` end to end: clicks three days old are landed by a consumer that keeps
//! everything; a consumer restarted with `RETENTION=2d` deletes them within a minute, keeps the
//! younger ones, and never lands old clicks that arrive later. On a local folder and on a real
//! HDFS.

mod support;

use std::time::Duration;

use chrono::{TimeDelta, Utc};
use dev_broker::{DevBroker, TopicSpec};
use support::hdfs::LocalHdfs;
use support::produce::{backlog_click, produce_events};
use support::{assert_exactly_once, landed_ids, spawn_consumer, wait_for_landed, wait_until};

const TOPIC: &str = "select-color";
const PARTITIONS: i32 = 3;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_folder_clicks_past_the_retention_are_deleted_within_a_minute() {
    let root = tempfile::tempdir().unwrap();
    expire_old_clicks(url::Url::from_directory_path(root.path()).unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Java and Hadoop's jars: run scripts/test.sh"]
async fn on_hdfs_clicks_past_the_retention_are_deleted_within_a_minute() {
    let hdfs = LocalHdfs::start();
    expire_old_clicks(hdfs.landing_url("/data/retention")).await;
}

/// `count` clicks over the `hours` hours from `start`, as a backlog.
fn clicks(count: usize, start: chrono::DateTime<Utc>, hours: u32) -> Vec<common::ColorEvent> {
    (0..count)
        .map(|n| backlog_click(n, count, start, hours))
        .collect()
}

async fn expire_old_clicks(landing_url: url::Url) {
    let broker = DevBroker::start(
        3,
        &[TopicSpec {
            name: TOPIC.to_owned(),
            partitions: PARTITIONS,
            replication_factor: 2,
        }],
    )
    .unwrap();
    let bootstrap = broker.bootstrap_servers();
    let scratch = tempfile::tempdir().unwrap();
    let mut config = support::config(&bootstrap, TOPIC, scratch.path(), 1);
    config.landing_url = landing_url;
    let landing = lake::Lake::open(&config.landing_url, TOPIC, config.landing_format).unwrap();
    let op = landing.operator().clone();

    let now = Utc::now();
    let old = clicks(300, now - TimeDelta::days(3), 5);
    let young = clicks(200, now - TimeDelta::hours(2), 2);
    let old_ids = produce_events(&bootstrap, TOPIC, PARTITIONS, &old);
    let mut young_ids = produce_events(&bootstrap, TOPIC, PARTITIONS, &young);

    let keeping = spawn_consumer(config.clone()).await;
    assert_eq!(
        wait_for_landed(&op, TOPIC, 500, Duration::from_secs(90)).await,
        500,
        "everything lands while nothing expires"
    );
    keeping.stop().await;

    let mut retaining = config.clone();
    retaining.retention = Some(Duration::from_secs(2 * 24 * 3600));
    let consumer = spawn_consumer(retaining).await;
    let started = std::time::Instant::now();
    assert!(
        wait_until(Duration::from_secs(60), || async {
            let landed = landed_ids(&op, TOPIC).await;
            !old_ids.iter().any(|id| landed.contains_key(id))
        })
        .await,
        "old clicks still landed a minute after the restart"
    );
    eprintln!("old clicks gone after {:?}", started.elapsed());
    let days: Vec<String> = op
        .list(&format!("{TOPIC}/"))
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.name().to_owned())
        .filter(|n| n.starts_with("dt="))
        .collect();
    let old_day = format!("dt={}", (now - TimeDelta::days(3)).format("%Y-%m-%d"));
    assert!(!days.iter().any(|d| d.starts_with(&old_day)), "{days:?}");

    // Old clicks that arrive now are not landed; young ones are.
    let late_old = clicks(60, now - TimeDelta::days(4), 1);
    produce_events(&bootstrap, TOPIC, PARTITIONS, &late_old);
    let more = clicks(60, now - TimeDelta::minutes(30), 1);
    young_ids.extend(produce_events(&bootstrap, TOPIC, PARTITIONS, &more));
    assert!(
        wait_until(Duration::from_secs(60), || async {
            consumer.metric("hdfs_consumer_expired_records_total").await >= Some(60.0)
                && landed_ids(&op, TOPIC).await.len() >= young_ids.len()
        })
        .await,
        "late old clicks were not set aside, or young ones did not land"
    );
    assert!(consumer.metric("hdfs_consumer_expired_files_total").await > Some(0.0));
    consumer.stop().await;
    assert_exactly_once(&landed_ids(&op, TOPIC).await, &young_ids);
}
