//! The consumer against librdkafka's mock cluster: rebalances, broker outages, storage outages.

mod support;

use std::time::Duration;

use rdkafka::mocking::MockCluster;
use support::{
    assert_exactly_once, config, landed_ids, produce, produce_raw, spawn_consumer, wait_for_landed,
    wait_until,
};

const TOPIC: &str = "select-color";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_process_joins_the_group_and_every_event_lands_once() {
    let cluster = MockCluster::new(3).unwrap();
    cluster.create_topic(TOPIC, 4, 2).unwrap();
    let bootstrap = cluster.bootstrap_servers();
    let root = tempfile::tempdir().unwrap();
    let mut produced = produce(&bootstrap, TOPIC, 4, 400);

    let first_config = config(&bootstrap, TOPIC, root.path(), 1);
    let mut second_config = first_config.clone();
    second_config.workers = Some(1);
    let first = spawn_consumer(first_config);
    assert!(
        wait_for_landed(root.path(), TOPIC, 1, Duration::from_secs(30)).await > 0,
        "nothing landed"
    );

    let second = spawn_consumer(second_config);
    const ASSIGNED: &str = "hdfs_consumer_assigned_partitions";
    assert!(
        wait_until(Duration::from_secs(60), || async {
            let (a, b) = (first.metric(ASSIGNED).await, second.metric(ASSIGNED).await);
            a > 0.0 && b > 0.0 && a + b == 4.0
        })
        .await,
        "the group never split the partitions between the two processes: {} + {}\n{}",
        first.metric(ASSIGNED).await,
        second.metric(ASSIGNED).await,
        reqwest::get(format!("http://{}/metrics", second.admin))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    );
    produced.extend(produce(&bootstrap, TOPIC, 4, 400));
    let landed = wait_for_landed(root.path(), TOPIC, 800, Duration::from_secs(60)).await;
    assert_eq!(landed, 800);
    // Give a rebalance that re-reads a partition the chance to show a duplicate.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        second.metric("hdfs_consumer_records_landed_total").await > 0.0,
        "the second process landed nothing"
    );
    first.stop().await;
    second.stop().await;
    assert_exactly_once(&landed_ids(root.path(), TOPIC), &produced);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_down_and_back_loses_nothing() {
    let cluster = MockCluster::new(3).unwrap();
    cluster.create_topic(TOPIC, 3, 2).unwrap();
    let bootstrap = cluster.bootstrap_servers();
    let root = tempfile::tempdir().unwrap();
    let mut produced = produce(&bootstrap, TOPIC, 3, 300);
    let consumer = spawn_consumer(config(&bootstrap, TOPIC, root.path(), 3));
    assert!(wait_for_landed(root.path(), TOPIC, 1, Duration::from_secs(30)).await > 0);

    cluster.broker_down(2).unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    cluster.broker_up(2).unwrap();
    produced.extend(produce(&bootstrap, TOPIC, 3, 300));

    assert_eq!(
        wait_for_landed(root.path(), TOPIC, 600, Duration::from_secs(60)).await,
        600
    );
    consumer.stop().await;
    assert_exactly_once(&landed_ids(root.path(), TOPIC), &produced);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storage_outage_pauses_landing_and_recovers_by_itself() {
    let cluster = MockCluster::new(1).unwrap();
    cluster.create_topic(TOPIC, 2, 1).unwrap();
    let bootstrap = cluster.bootstrap_servers();
    let root = tempfile::tempdir().unwrap();
    let mut cfg = config(&bootstrap, TOPIC, root.path(), 2);
    cfg.storage_retry_max_backoff = Duration::from_millis(500);
    let mut produced = produce(&bootstrap, TOPIC, 2, 100);
    let consumer = spawn_consumer(cfg);
    assert_eq!(
        wait_for_landed(root.path(), TOPIC, 100, Duration::from_secs(30)).await,
        100
    );

    // Storage breaks: a file where the temporary directory must be.
    let tmp = root.path().join(TOPIC).join("_tmp");
    std::fs::remove_dir_all(&tmp).unwrap();
    std::fs::write(&tmp, b"in the way").unwrap();
    produced.extend(produce(&bootstrap, TOPIC, 2, 100));
    assert!(
        wait_until(Duration::from_secs(30), || async {
            consumer
                .metric("hdfs_consumer_storage_failures_total")
                .await
                >= 2.0
        })
        .await,
        "no storage failure was reported"
    );
    let readyz = reqwest::get(format!("http://{}/readyz", consumer.admin))
        .await
        .unwrap();
    assert_eq!(
        readyz.status(),
        200,
        "listing the root still works; only writes fail"
    );
    assert_eq!(
        landed_ids(root.path(), TOPIC).len(),
        100,
        "data landed while storage was broken"
    );

    std::fs::remove_file(&tmp).unwrap();
    assert_eq!(
        wait_for_landed(root.path(), TOPIC, 200, Duration::from_secs(30)).await,
        200
    );
    consumer.stop().await;
    assert_exactly_once(&landed_ids(root.path(), TOPIC), &produced);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_records_are_set_aside_and_their_neighbours_land() {
    let cluster = MockCluster::new(1).unwrap();
    cluster.create_topic(TOPIC, 1, 1).unwrap();
    let bootstrap = cluster.bootstrap_servers();
    let root = tempfile::tempdir().unwrap();
    let mut produced = produce(&bootstrap, TOPIC, 1, 5);
    produce_raw(
        &bootstrap,
        TOPIC,
        0,
        &[b"not json", b"{\"eventId\":\"nope\"}"],
    );
    produced.extend(produce(&bootstrap, TOPIC, 1, 5));

    let consumer = spawn_consumer(config(&bootstrap, TOPIC, root.path(), 1));
    assert_eq!(
        wait_for_landed(root.path(), TOPIC, 10, Duration::from_secs(30)).await,
        10
    );
    assert!(
        wait_until(Duration::from_secs(10), || async {
            consumer.metric("hdfs_consumer_invalid_records_total").await == 2.0
        })
        .await
    );
    consumer.stop().await;
    assert_exactly_once(&landed_ids(root.path(), TOPIC), &produced);

    let invalid_dir = root.path().join(TOPIC).join("_invalid");
    let files: Vec<_> = std::fs::read_dir(&invalid_dir).unwrap().flatten().collect();
    assert_eq!(files.len(), 1);
    let text = std::fs::read_to_string(files[0].path()).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["offset"], 5);
    assert_eq!(lines[0]["record"], "not json");
    assert_eq!(lines[1]["offset"], 6);
    assert!(
        lines[1]["reason"]
            .as_str()
            .unwrap()
            .contains("not a JSON event")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_partition_still_lands_its_last_records() {
    let cluster = MockCluster::new(1).unwrap();
    cluster.create_topic(TOPIC, 1, 1).unwrap();
    let bootstrap = cluster.bootstrap_servers();
    let root = tempfile::tempdir().unwrap();
    let mut cfg = config(&bootstrap, TOPIC, root.path(), 1);
    cfg.flush_max_records = 1_000_000;
    cfg.flush_max_bytes = 1 << 30;
    cfg.flush_max_age = Duration::from_secs(1);
    let consumer = spawn_consumer(cfg);
    let produced = produce(&bootstrap, TOPIC, 1, 3);
    // Far below the count and byte limits, and nothing else arrives: only age lands them.
    assert_eq!(
        wait_for_landed(root.path(), TOPIC, 3, Duration::from_secs(30)).await,
        3
    );
    assert!(
        consumer
            .metric(r#"hdfs_consumer_flushes_total{reason="age"}"#)
            .await
            >= 1.0
    );
    consumer.stop().await;
    assert_exactly_once(&landed_ids(root.path(), TOPIC), &produced);
}
