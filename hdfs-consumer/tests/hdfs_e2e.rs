//! The consumer on a real HDFS (an Apache Hadoop NameNode and DataNode, `support::hdfs`): clicks
//! POSTed to the collector land under `hdfs://` in the Hive layout; the DataNode, then the
//! NameNode, stopped and started again while events keep coming: the partitions pause, retry,
//! resume, and every event lands once. The crash test runs on HDFS in `crash.rs`, landing and
//! recovery in `landing.rs`.

mod support;

use std::time::Duration;

use dev_broker::{DevBroker, TopicSpec};
use lake::storage::operator_for;
use support::collector::{RunningApi, post_bursts};
use support::crash::stop_within;
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
    let consumer = spawn_consumer(consumer_config).await;

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
    let consumer = spawn_consumer(consumer_config).await;

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
        if role == Role::NameNode {
            // A worker waiting on the NameNode makes no progress, and readiness says so long
            // before the call is given up.
            let stalled = wait_until(Duration::from_secs(50), || async {
                readiness(consumer.admin).await["loops"]
                    .as_str()
                    .is_some_and(|loops| loops.contains("made no progress"))
            })
            .await;
            assert!(
                stalled,
                "readiness missed the stalled workers: {}",
                readiness(consumer.admin).await
            );
        }
        // Without a NameNode, hdfs-native keeps trying for minutes; the consumer gives the
        // call up after 60 s, so the first failure comes then.
        assert!(
            wait_until(Duration::from_secs(100), || async {
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

/// The body of `/readyz` at `admin`.
async fn readiness(admin: std::net::SocketAddr) -> serde_json::Value {
    reqwest::get(format!("http://{admin}/readyz"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Runs `request` and says how long it took.
async fn timed<T>(request: impl std::future::Future<Output = T>) -> (T, Duration) {
    let started = std::time::Instant::now();
    let answer = request.await;
    (answer, started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_namenode_that_is_not_there_is_named_at_once_and_a_stop_is_prompt() {
    let nothing_listens = support::ports::free_port();
    // hdfs-native retries a refused connection: either answer is fine, as long as it is named.
    storage_that_never_lands_is_named_and_a_stop_with_nothing_in_hand_is_prompt(
        nothing_listens,
        None,
    )
    .await;
}

/// A NameNode that takes connections and never answers, as one that hangs does: every claim
/// waits on it, and a stop gives those calls up at once, since no worker holds a record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_namenode_that_never_answers_is_named_at_once_and_a_stop_is_prompt() {
    let hung = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = hung.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for connection in hung.incoming() {
            held.push(connection);
        }
    });
    storage_that_never_lands_is_named_and_a_stop_with_nothing_in_hand_is_prompt(
        port,
        Some("no answer within"),
    )
    .await;
}

/// The consumer, on its defaults (a worker per partition, SHUTDOWN_TIMEOUT 30 s), lands on a
/// NameNode at `port` that never lets a landing happen: readiness names it (and says `why`, if
/// given), an ERROR names it, and SIGTERM ends the process cleanly within seconds.
async fn storage_that_never_lands_is_named_and_a_stop_with_nothing_in_hand_is_prompt(
    port: u16,
    why: Option<&str>,
) {
    let kafka = DevBroker::start(3, &[TopicSpec::clicks()]).unwrap();
    let bootstrap = kafka.bootstrap_servers();
    produce(&bootstrap, TOPIC, 3, 30);
    let landing: url::Url = format!("hdfs://127.0.0.1:{port}/x").parse().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("hdfs-consumer.log");
    let (mut child, admin) = support::start_consumer(&bootstrap, &landing, &log, &[]);

    let namenode = format!("127.0.0.1:{port}");
    assert!(
        wait_until(Duration::from_secs(30), || async {
            match reqwest::get(format!("http://{admin}/readyz")).await {
                Ok(answer) if answer.status() == 503 => {
                    let body: serde_json::Value = answer.json().await.unwrap();
                    !body["storage"].as_str().unwrap().contains("not asked yet")
                }
                _ => false,
            }
        })
        .await,
        "never said why it was not ready"
    );
    let (answer, took) = timed(reqwest::get(format!("http://{admin}/readyz"))).await;
    let body: serde_json::Value = answer.unwrap().json().await.unwrap();
    // At once, rather than after the storage's own minutes of retries; the margin is for a
    // loaded machine.
    assert!(took < Duration::from_secs(5), "/readyz took {took:?}");
    let storage = body["storage"].as_str().unwrap();
    assert!(storage.contains(&namenode), "{body}");
    assert!(why.is_none_or(|why| storage.contains(why)), "{body}");
    assert!(
        wait_until(Duration::from_secs(10), || {
            let log = std::fs::read_to_string(&log).unwrap_or_default();
            let named = log
                .lines()
                .any(|l| l.contains(" ERROR ") && l.contains(&namenode));
            async move { named }
        })
        .await,
        "no error names the namenode"
    );
    // A partition is assigned, so a worker waits on storage to claim it, holding nothing. Not
    // every partition need be: a worker waiting on storage takes its part in a rebalance only
    // once its call gives up.
    assert!(
        wait_until(Duration::from_secs(60), || async {
            support::metrics::metric(admin, "hdfs_consumer_assigned_partitions").await >= Some(1.0)
        })
        .await,
        "no partition was ever assigned"
    );
    // Time passes on purpose: half a second in which the records produced could be read, had
    // a worker read before its claim.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        support::metrics::metric(admin, "hdfs_consumer_buffered_records").await,
        Some(0.0),
        "records were read with no claim"
    );

    // SHUTDOWN_TIMEOUT is 30 s: a stop that waits for the calls in flight would take it all.
    let (status, took) = stop_within(&mut child, "TERM", Duration::from_secs(40));
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(!log.contains("panicked"), "{log}");
    assert!(
        status.is_some_and(|s| s.success()),
        "nothing was held, so the stop is clean: {status:?}\n{log}"
    );
    assert!(took < Duration::from_secs(10), "the stop took {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Java and Hadoop's jars: run scripts/test.sh"]
async fn records_held_when_hdfs_is_gone_make_a_prompt_stop_fail_and_are_landed_on_restart() {
    let hdfs = LocalHdfs::start();
    let kafka = DevBroker::start(3, &[TopicSpec::clicks()]).unwrap();
    let bootstrap = kafka.bootstrap_servers();
    let landing = hdfs.landing_url("/data/web-events");
    let storage = operator_for(&landing).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("hdfs-consumer.log");
    let settings = [("SHUTDOWN_TIMEOUT", "3s"), ("FLUSH_MAX_AGE", "1s")];
    let (mut child, admin) = support::start_consumer(&bootstrap, &landing, &log, &settings);
    let mut produced = produce(&bootstrap, TOPIC, 3, 90);
    assert_eq!(
        wait_for_landed(&storage, TOPIC, 90, Duration::from_secs(60)).await,
        90
    );

    hdfs.stop(Role::NameNode);
    produced.extend(produce(&bootstrap, TOPIC, 3, 90));
    assert!(
        wait_until(Duration::from_secs(30), || async {
            support::metrics::metric(admin, "hdfs_consumer_buffered_records").await >= Some(90.0)
        })
        .await,
        "the records produced while the namenode was away were not read"
    );
    let (status, took) = stop_within(&mut child, "TERM", Duration::from_secs(20));
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!text.contains("panicked"), "{text}");
    assert!(
        status.is_some_and(|s| !s.success()),
        "records were held and not landed, yet the exit was {status:?}"
    );
    assert!(
        took < Duration::from_secs(3) + common::host::STOP_MARGIN,
        "the stop took {took:?} with SHUTDOWN_TIMEOUT=3s, past the stop margin"
    );
    assert!(
        text.contains("were not landed before the shutdown deadline"),
        "{text}"
    );

    // Nothing was lost: they were never committed, so the next start lands them.
    hdfs.restart(Role::NameNode);
    let (mut child, _) = support::start_consumer(&bootstrap, &landing, &log, &settings);
    assert_eq!(
        wait_for_landed(&storage, TOPIC, 180, Duration::from_secs(60)).await,
        180
    );
    let (status, _) = stop_within(&mut child, "TERM", Duration::from_secs(20));
    assert!(status.is_some_and(|s| s.success()));
    assert_exactly_once(&landed_ids(&storage, TOPIC).await, &produced);
}
