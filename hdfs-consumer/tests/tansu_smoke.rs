//! The smoke test on an independent implementation of the Kafka protocol (tansu): clicks
//! POSTed to the collector land as files in the Hive layout.
//!
//! tansu 0.6.0 has known defects that this test stays clear of, and that nothing here relies
//! on:
//! - a fetch that starts inside a record batch is answered with the next batch, so a consumer
//!   resuming mid-batch (after a restart, a rebalance, a pause) silently misses records; here a
//!   single worker owns every partition and reads each from its start, once, with no
//!   rebalance;
//! - after a member dies, its groups can leave partitions unassigned for minutes; nothing dies
//!   here.
//!
//! Crashes, rebalances and outages are tested on `dev-broker` (`crash.rs`, `kafka_mock.rs`).

mod support;

use std::time::Duration;

use support::collector::{RunningApi, post_clicks};
use support::tansu::Tansu;
use support::{
    assert_exactly_once, assert_hive_layout, config, landed_ids, spawn_consumer, wait_for_landed,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the tansu broker: run scripts/test.sh"]
async fn on_tansu_clicks_posted_to_the_collector_land_as_hive_files() {
    let tansu = Tansu::start();
    let topic = format!("select-color-{}", uuid::Uuid::now_v7());
    tansu.create_topic(&topic, 3).await;

    let mut api_config = producer_api::Config::for_brokers(&tansu.bootstrap);
    api_config.kafka.topic = topic.clone();
    let api = RunningApi::start(api_config).await;

    let root = tempfile::tempdir().unwrap();
    let mut consumer_config = config(&tansu.bootstrap, &topic, root.path(), 1);
    // The shipped consumer settings; the short session timeout is the in-memory cluster's need.
    consumer_config.kafka.properties.clear();
    let consumer = spawn_consumer(consumer_config).await;

    let client = reqwest::Client::new();
    let sent = post_clicks(&client, &api, 60, |n| format!("사용자 {n}")).await;
    assert_eq!(
        wait_for_landed(root.path(), &topic, 60, Duration::from_secs(60)).await,
        60
    );
    consumer.stop().await;
    api.stop().await;

    assert_exactly_once(&landed_ids(root.path(), &topic).await, &sent);
    assert_hive_layout(root.path(), &topic).await;
}
