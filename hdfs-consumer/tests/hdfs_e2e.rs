//! The consumer on a real HDFS (an Apache Hadoop NameNode and DataNode, `support::hdfs`): clicks
//! POSTed to the collector land under `hdfs://` in the Hive layout; the DataNode, then the
//! NameNode, stopped and started again while events keep coming: the partitions pause, retry,
//! resume, and every event lands once. The crash test runs on HDFS in `crash.rs`, landing and
//! recovery in `landing.rs`.

mod support;

use std::time::Duration;

use dev_broker::{DevBroker, TopicSpec};
use hdfs_consumer::landing::operator_for;
use support::collector::{RunningApi, post_bursts};
use support::hdfs::{LocalHdfs, Role};
use support::{
    assert_exactly_once, assert_hive_layout, config, landed_ids, produce, spawn_consumer,
    wait_for_landed, wait_until,
};

const TOPIC: &str = common::kafka::DEFAULT_TOPIC;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Java and Hadoop's jars: run scripts/test.sh"]
async fn clicks_posted_to_the_collector_land_on_hdfs_in_the_hive_layout() {
    let hdfs = LocalHdfs::start();
    let kafka = DevBroker::start(3, &[TopicSpec::clicks()]).unwrap();
    let bootstrap = kafka.bootstrap_servers();
    let api = RunningApi::start(producer_api::Config::for_brokers(&bootstrap)).await;
    let landing = hdfs.landing_url("/data/web-events");
    let storage = operator_for(&landing).unwrap();
    let mut consumer_config = config(&bootstrap, TOPIC, std::path::Path::new("/unused"), 3);
    consumer_config.landing_url = landing;
    let consumer = spawn_consumer(consumer_config);

    let posted = post_bursts(&api, 300, 20, Duration::from_millis(20)).await;
    assert_eq!(
        wait_for_landed(&storage, TOPIC, 300, Duration::from_secs(60)).await,
        300
    );
    consumer.stop().await;
    api.stop().await;
    assert_exactly_once(&landed_ids(&storage, TOPIC).await, &posted);
    assert_hive_layout(&storage, TOPIC).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Java and Hadoop's jars: run scripts/test.sh"]
async fn the_datanode_then_the_namenode_down_and_back_mid_stream_loses_nothing() {
    let hdfs = LocalHdfs::start();
    let kafka = DevBroker::start(3, &[TopicSpec::clicks()]).unwrap();
    let bootstrap = kafka.bootstrap_servers();
    let landing = hdfs.landing_url("/data/web-events");
    let storage = operator_for(&landing).unwrap();
    let mut consumer_config = config(&bootstrap, TOPIC, std::path::Path::new("/unused"), 3);
    consumer_config.landing_url = landing;
    consumer_config.storage_retry_max_backoff = Duration::from_secs(1);
    let consumer = spawn_consumer(consumer_config);

    let mut produced = produce(&bootstrap, TOPIC, 3, 300);
    assert_eq!(
        wait_for_landed(&storage, TOPIC, 300, Duration::from_secs(60)).await,
        300
    );

    for role in [Role::DataNode, Role::NameNode] {
        let failures = consumer
            .metric("hdfs_consumer_storage_failures_total")
            .await;
        hdfs.stop(role);
        produced.extend(produce(&bootstrap, TOPIC, 3, 300));
        assert!(
            wait_until(Duration::from_secs(60), || async {
                consumer
                    .metric("hdfs_consumer_storage_failures_total")
                    .await
                    > failures
            })
            .await,
            "no landing failed while the {role:?} was down"
        );
        hdfs.restart(role);
        assert_eq!(
            wait_for_landed(&storage, TOPIC, produced.len(), Duration::from_secs(120)).await,
            produced.len(),
            "not everything landed once the {role:?} was back"
        );
    }
    consumer.stop().await;
    assert_exactly_once(&landed_ids(&storage, TOPIC).await, &produced);
}
