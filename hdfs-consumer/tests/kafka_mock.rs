//! The consumer against librdkafka's mock cluster: rebalances, broker outages, storage outages.

mod support;

use std::time::Duration;

use dev_broker::{DevBroker, TopicSpec};
use rdkafka::mocking::MockCluster;
use support::{
    assert_exactly_once, config, landed_ids, produce, produce_in_background, produce_raw,
    spawn_consumer, wait_for_landed, wait_until,
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
    let first = spawn_consumer(first_config).await;
    assert!(
        wait_for_landed(root.path(), TOPIC, 1, Duration::from_secs(30)).await > 0,
        "nothing landed"
    );

    let second = spawn_consumer(second_config).await;
    const ASSIGNED: &str = "hdfs_consumer_assigned_partitions";
    assert!(
        wait_until(Duration::from_secs(60), || async {
            let (a, b) = (first.metric(ASSIGNED).await, second.metric(ASSIGNED).await);
            a > Some(0.0) && b > Some(0.0) && a.zip(b).map(|(a, b)| a + b) == Some(4.0)
        })
        .await,
        "the group never split the partitions between the two processes: {:?} + {:?}\n{}",
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
    // The group settles: between them the two processes report every partition's lag, all
    // zero, so no rebalance is left to re-read a partition and show a duplicate.
    assert!(
        wait_until(Duration::from_secs(60), || async {
            let mut lags = first.series("hdfs_consumer_lag").await.unwrap_or_default();
            lags.extend(second.series("hdfs_consumer_lag").await.unwrap_or_default());
            lags.len() == 4 && lags.iter().all(|(_, lag)| *lag == 0.0)
        })
        .await,
        "the group did not settle at zero lag: {:?} {:?}",
        first.series("hdfs_consumer_lag").await,
        second.series("hdfs_consumer_lag").await
    );
    assert!(
        second.metric("hdfs_consumer_records_landed_total").await > Some(0.0),
        "the second process landed nothing"
    );
    first.stop().await;
    second.stop().await;
    assert_exactly_once(&landed_ids(root.path(), TOPIC).await, &produced);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_down_and_back_loses_nothing() {
    let cluster = MockCluster::new(3).unwrap();
    cluster.create_topic(TOPIC, 3, 2).unwrap();
    let bootstrap = cluster.bootstrap_servers();
    let root = tempfile::tempdir().unwrap();
    let mut produced = produce(&bootstrap, TOPIC, 3, 300);
    let consumer = spawn_consumer(config(&bootstrap, TOPIC, root.path(), 3)).await;
    // Every partition under way first. A partition that has landed nothing is still asking the
    // group coordinator for its committed offset, and the mock cluster never moves its
    // coordinator to another broker (Kafka does): were broker 2 the coordinator, that partition
    // would wait for it, which is not what this test is about.
    assert_eq!(
        wait_for_landed(root.path(), TOPIC, 300, Duration::from_secs(30)).await,
        300
    );

    // Broker 2 leads partition 2 only (the mock cluster places replicas deterministically):
    // while it is down the other partitions keep landing, and partition 2 waits for it.
    cluster.broker_down(2).unwrap();
    let during = produce_in_background(&bootstrap, TOPIC, 3, 300);
    assert!(
        wait_for_landed(root.path(), TOPIC, 400, Duration::from_secs(60)).await >= 400,
        "the partitions on the brokers still up stopped landing"
    );
    cluster.broker_up(2).unwrap();
    produced.extend(during.await.unwrap());

    assert_eq!(
        wait_for_landed(root.path(), TOPIC, 600, Duration::from_secs(60)).await,
        600
    );
    consumer.stop().await;
    assert_exactly_once(&landed_ids(root.path(), TOPIC).await, &produced);
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
    let consumer = spawn_consumer(cfg).await;
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
                >= Some(2.0)
        })
        .await,
        "no storage failure was reported"
    );
    // Listing the root still works; only writes fail, and readiness says so.
    let readyz = reqwest::get(format!("http://{}/readyz", consumer.admin))
        .await
        .unwrap();
    assert_eq!(readyz.status(), 503);
    let body: serde_json::Value = readyz.json().await.unwrap();
    assert_eq!(body["storage"], "ok", "{body}");
    assert!(
        body["landing"].as_str().unwrap().contains("partition"),
        "{body}"
    );
    assert_eq!(
        landed_ids(root.path(), TOPIC).await.len(),
        100,
        "data landed while storage was broken"
    );
    // The records waiting on storage show as lag: 50 per partition, buffered or not fetched.
    assert!(
        wait_until(Duration::from_secs(30), || async {
            let lags = consumer.series("hdfs_consumer_lag").await;
            lags.is_some_and(|lags| lags.len() == 2 && lags.iter().all(|(_, lag)| *lag == 50.0))
        })
        .await,
        "lag did not show the records storage refused: {:?}",
        consumer.series("hdfs_consumer_lag").await
    );

    std::fs::remove_file(&tmp).unwrap();
    assert_eq!(
        wait_for_landed(root.path(), TOPIC, 200, Duration::from_secs(30)).await,
        200
    );
    consumer.stop().await;
    assert_exactly_once(&landed_ids(root.path(), TOPIC).await, &produced);
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

    let consumer = spawn_consumer(config(&bootstrap, TOPIC, root.path(), 1)).await;
    assert_eq!(
        wait_for_landed(root.path(), TOPIC, 10, Duration::from_secs(30)).await,
        10
    );
    assert!(
        wait_until(Duration::from_secs(10), || async {
            consumer.metric("hdfs_consumer_invalid_records_total").await == Some(2.0)
        })
        .await
    );
    consumer.stop().await;
    assert_exactly_once(&landed_ids(root.path(), TOPIC).await, &produced);

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
    let consumer = spawn_consumer(cfg).await;
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
            >= Some(1.0)
    );
    consumer.stop().await;
    assert_exactly_once(&landed_ids(root.path(), TOPIC).await, &produced);
}

/// The partition's log start and end, as the broker reports them.
fn watermarks(bootstrap: &str, topic: &str, partition: i32) -> (i64, i64) {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let consumer: BaseConsumer = common::kafka::consumer_config(bootstrap, "watermarks", "test")
        .create()
        .unwrap();
    consumer
        .fetch_watermarks(topic, partition, Duration::from_secs(10))
        .unwrap()
}

/// One broker holding `TOPIC` with one partition.
fn one_partition_broker() -> DevBroker {
    DevBroker::start(
        1,
        &[TopicSpec {
            name: TOPIC.into(),
            partitions: 1,
            replication_factor: 1,
        }],
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_deleted_by_retention_while_stopped_are_counted_and_the_rest_lands_once() {
    let kafka = one_partition_broker();
    let bootstrap = kafka.bootstrap_servers();
    let root = tempfile::tempdir().unwrap();
    let before = produce(&bootstrap, TOPIC, 1, 100);
    let consumer = spawn_consumer(config(&bootstrap, TOPIC, root.path(), 1)).await;
    assert_eq!(
        wait_for_landed(root.path(), TOPIC, 100, Duration::from_secs(30)).await,
        100
    );
    consumer.stop().await;

    // While it is away, more arrives than a partition of the in-memory cluster keeps (5 MiB):
    // the oldest records are deleted before they are read.
    let while_away = produce(&bootstrap, TOPIC, 1, 30_000);
    let (log_start, log_end) = watermarks(&bootstrap, TOPIC, 0);
    assert!(log_start > 100, "retention deleted unread records");
    let deleted = log_start - 100;
    let kept = &while_away[deleted as usize..];
    assert_eq!(kept.len() as i64, log_end - log_start);

    let consumer = spawn_consumer(config(&bootstrap, TOPIC, root.path(), 1)).await;
    let want = before.len() + kept.len();
    assert_eq!(
        wait_for_landed(root.path(), TOPIC, want, Duration::from_secs(60)).await,
        want
    );
    assert_eq!(
        consumer
            .metric(r#"hdfs_consumer_offset_gaps_total{cause="retention"}"#)
            .await,
        Some(1.0)
    );
    assert_eq!(
        consumer
            .metric(r#"hdfs_consumer_skipped_offsets_total{cause="retention"}"#)
            .await,
        Some(deleted as f64)
    );
    consumer.stop().await;
    let mut expected = before;
    expected.extend_from_slice(kept);
    assert_exactly_once(&landed_ids(root.path(), TOPIC).await, &expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkpoint_past_a_recreated_topics_end_halts_the_partition_until_the_files_move() {
    let root = tempfile::tempdir().unwrap();
    let first_topic = one_partition_broker();
    let old = produce(&first_topic.bootstrap_servers(), TOPIC, 1, 50);
    let consumer = spawn_consumer(config(
        &first_topic.bootstrap_servers(),
        TOPIC,
        root.path(),
        1,
    ))
    .await;
    assert_eq!(
        wait_for_landed(root.path(), TOPIC, 50, Duration::from_secs(30)).await,
        50
    );
    consumer.stop().await;
    drop(first_topic);

    // The topic starts again from offset 0, below the checkpoint's 49.
    let recreated = one_partition_broker();
    let bootstrap = recreated.bootstrap_servers();
    let new = produce(&bootstrap, TOPIC, 1, 5);
    let consumer = spawn_consumer(config(&bootstrap, TOPIC, root.path(), 1)).await;
    assert!(
        wait_until(Duration::from_secs(30), || async {
            consumer
                .metric("hdfs_consumer_checkpoint_ahead_total")
                .await
                == Some(1.0)
        })
        .await,
        "the checkpoint past the partition's end went unnoticed"
    );
    assert_eq!(
        consumer.metric("hdfs_consumer_halted_partitions").await,
        Some(1.0)
    );
    let readyz = reqwest::get(format!("http://{}/readyz", consumer.admin))
        .await
        .unwrap();
    assert_eq!(readyz.status(), 503);
    let body: serde_json::Value = readyz.json().await.unwrap();
    assert!(
        body["haltedPartitions"]
            .as_str()
            .unwrap()
            .starts_with("1 partitions"),
        "{body}"
    );
    consumer.stop().await;
    assert_exactly_once(&landed_ids(root.path(), TOPIC).await, &old);

    // What the error says to do: move the landed files aside, and the new topic lands.
    let aside = tempfile::tempdir().unwrap();
    std::fs::rename(root.path().join(TOPIC), aside.path().join(TOPIC)).unwrap();
    let consumer = spawn_consumer(config(&bootstrap, TOPIC, root.path(), 1)).await;
    assert_eq!(
        wait_for_landed(root.path(), TOPIC, 5, Duration::from_secs(30)).await,
        5
    );
    consumer.stop().await;
    assert_exactly_once(&landed_ids(root.path(), TOPIC).await, &new);
    assert_exactly_once(&landed_ids(aside.path(), TOPIC).await, &old);
}
