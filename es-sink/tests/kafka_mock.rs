//! The sink on librdkafka's mock Kafka cluster, indexing into a stand-in cluster that accepts
//! everything slowly, so that bulk requests are in flight when partitions move or the sink
//! stops: nothing is lost, and nothing is committed before it is indexed.

mod support;

use std::time::Duration;

use dev_broker::{DevBroker, TopicSpec};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::mocking::MockCluster;
use rdkafka::{Offset, TopicPartitionList};
use support::accepting_cluster::AcceptingCluster;
use support::{config, produce, spawn_sink, wait_until};

const TOPIC: &str = "select-color";

fn cluster() -> MockCluster<'static, rdkafka::producer::DefaultProducerContext> {
    let cluster = MockCluster::new(3).unwrap();
    cluster.create_topic(TOPIC, 4, 2).unwrap();
    cluster.create_topic(&format!("{TOPIC}-dlq"), 1, 2).unwrap();
    cluster
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_sink_joins_the_group_and_every_event_is_indexed_while_partitions_move() {
    let kafka = cluster();
    let bootstrap = kafka.bootstrap_servers();
    let search = AcceptingCluster::start(Duration::from_millis(150)).await;
    let mut produced = produce(&bootstrap, TOPIC, 4, 400);

    let first_config = config(&bootstrap, TOPIC, search.url.clone());
    let first = spawn_sink(first_config.clone()).await;
    assert!(
        wait_until(Duration::from_secs(30), || {
            let n = search.indexed().len();
            async move { n > 0 }
        })
        .await,
        "nothing indexed"
    );
    let second = spawn_sink(first_config).await;
    const ASSIGNED: &str = "es_sink_assigned_partitions";
    assert!(
        wait_until(Duration::from_secs(60), || async {
            let (a, b) = (first.metric(ASSIGNED).await, second.metric(ASSIGNED).await);
            a > Some(0.0) && b > Some(0.0) && a.zip(b).map(|(a, b)| a + b) == Some(4.0)
        })
        .await,
        "the group never split the partitions between the two sinks"
    );
    produced.extend(produce(&bootstrap, TOPIC, 4, 400));
    assert!(
        search.wait_for(&produced, Duration::from_secs(60)).await,
        "{} of {} events indexed",
        search.indexed().len(),
        produced.len()
    );
    assert!(second.metric("es_sink_indexed_total").await > Some(0.0));
    assert_eq!(search.indexed().len(), produced.len());
    first.stop().await;
    second.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sink_stopped_with_bulks_in_flight_commits_only_what_was_indexed() {
    let kafka = cluster();
    let bootstrap = kafka.bootstrap_servers();
    // Slow enough that stopping finds batches in flight and others not yet sent.
    let search = AcceptingCluster::start(Duration::from_millis(400)).await;
    let produced = produce(&bootstrap, TOPIC, 4, 600);

    let mut sink_config = config(&bootstrap, TOPIC, search.url.clone());
    sink_config.bulk_max_docs = 20;
    let first = spawn_sink(sink_config.clone()).await;
    assert!(
        wait_until(Duration::from_secs(30), || {
            let n = search.indexed().len();
            async move { n > 0 }
        })
        .await
    );
    let stopping = std::time::Instant::now();
    first.stop().await;
    let took = stopping.elapsed();
    assert!(
        took < sink_config.sink.shutdown_timeout + common::host::STOP_MARGIN,
        "the stop took {took:?}, past SHUTDOWN_TIMEOUT and the stop margin"
    );
    let indexed_by_first = search.indexed().len();
    assert!(
        indexed_by_first < produced.len(),
        "stopped before the end, so the test means something"
    );

    // The same group resumes from the committed offsets: everything arrives, and at most the
    // records the first sink had not finished are read again.
    let second = spawn_sink(sink_config).await;
    assert!(search.wait_for(&produced, Duration::from_secs(60)).await);
    let reread = second
        .metric("es_sink_consumed_total")
        .await
        .expect("the sink answers") as usize;
    assert!(
        reread <= produced.len() - indexed_by_first,
        "read {reread} again though {indexed_by_first} of {} were indexed and committed",
        produced.len()
    );
    assert!(reread > 0);
    second.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sink_waiting_for_an_unreachable_cluster_still_stops_at_once() {
    let kafka = cluster();
    let nothing_listens = support::ports::free_port();
    let sink_config = config(
        &kafka.bootstrap_servers(),
        TOPIC,
        format!("http://127.0.0.1:{nothing_listens}")
            .parse()
            .unwrap(),
    );
    let sink = spawn_sink(sink_config).await;
    assert!(
        sink.becomes_unready(Duration::from_secs(10)).await,
        "not ready without a cluster"
    );
    assert_eq!(
        sink.metric("es_sink_assigned_partitions").await,
        Some(0.0),
        "no consuming before the index template is in place"
    );
    let started = std::time::Instant::now();
    sink.stop().await;
    assert!(started.elapsed() < Duration::from_secs(5));
}

/// One broker holding `TOPIC` with one partition, and its dead-letter topic.
fn one_partition_broker() -> DevBroker {
    let spec = |name: String| TopicSpec {
        name,
        partitions: 1,
        replication_factor: 1,
    };
    DevBroker::start(1, &[spec(TOPIC.into()), spec(format!("{TOPIC}-dlq"))]).unwrap()
}

fn watermarks(bootstrap: &str, partition: i32) -> (i64, i64) {
    let consumer: BaseConsumer = common::kafka::consumer_config(bootstrap, "watermarks", "test")
        .create()
        .unwrap();
    consumer
        .fetch_watermarks(TOPIC, partition, Duration::from_secs(10))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_deleted_by_retention_while_stopped_are_counted_and_the_rest_indexed() {
    let kafka = one_partition_broker();
    let bootstrap = kafka.bootstrap_servers();
    let search = AcceptingCluster::start(Duration::ZERO).await;
    let sink_config = config(&bootstrap, TOPIC, search.url.clone());
    let before = produce(&bootstrap, TOPIC, 1, 100);
    let sink = spawn_sink(sink_config.clone()).await;
    assert!(search.wait_for(&before, Duration::from_secs(30)).await);
    sink.stop().await;

    // While it is away, more arrives than a partition of the in-memory cluster keeps (5 MiB):
    // the oldest records are deleted before they are read.
    let while_away = produce(&bootstrap, TOPIC, 1, 30_000);
    let (log_start, _) = watermarks(&bootstrap, 0);
    assert!(log_start > 100, "retention deleted unread records");
    let deleted = log_start - 100;
    let kept = &while_away[deleted as usize..];

    let sink = spawn_sink(sink_config).await;
    assert!(search.wait_for(kept, Duration::from_secs(60)).await);
    assert_eq!(
        sink.metric(r#"es_sink_offset_gaps_total{cause="retention"}"#)
            .await,
        Some(1.0)
    );
    assert_eq!(
        sink.metric(r#"es_sink_skipped_offsets_total{cause="retention"}"#)
            .await,
        Some(deleted as f64)
    );
    assert_eq!(
        sink.metric("es_sink_consumed_total").await,
        Some(kept.len() as f64),
        "reading resumed at the log start"
    );
    sink.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_committed_offset_past_a_recreated_topics_end_is_reported_and_the_topic_indexed() {
    let kafka = one_partition_broker();
    let bootstrap = kafka.bootstrap_servers();
    let search = AcceptingCluster::start(Duration::ZERO).await;
    let sink_config = config(&bootstrap, TOPIC, search.url.clone());
    // The group committed offset 44 of a topic that has since been recreated with 3 records.
    let produced = produce(&bootstrap, TOPIC, 1, 3);
    let group: BaseConsumer =
        common::kafka::consumer_config(&bootstrap, &sink_config.sink.group_id, "test")
            .create()
            .unwrap();
    let mut committed = TopicPartitionList::new();
    committed
        .add_partition_offset(TOPIC, 0, Offset::Offset(44))
        .unwrap();
    group.commit(&committed, CommitMode::Sync).unwrap();
    drop(group);

    let sink = spawn_sink(sink_config).await;
    assert!(search.wait_for(&produced, Duration::from_secs(30)).await);
    assert_eq!(
        sink.metric("es_sink_committed_ahead_total").await,
        Some(1.0)
    );
    sink.stop().await;
}
