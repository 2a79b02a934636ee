//! Crashes on real traffic: clicks POSTed to the collector in bursts (so its producer writes
//! multi-record batches) reach an in-memory cluster of three brokers (`dev-broker`), while the
//! `hdfs-consumer` binary, run with the settings `scripts/demo.sh` gives it, is killed with
//! SIGKILL at random moments and restarted. Every restart resumes inside a record batch. In the
//! end every event has landed exactly once: in a local directory, and on a real HDFS.

mod support;

use std::time::Duration;

use dev_broker::{DevBroker, TopicSpec};
use support::collector::{RunningApi, post_bursts};
use support::crash::{crash_round, print_problems, terminate};
use support::hdfs::LocalHdfs;
use support::{Storage, assert_exactly_once, data_files, landed_ids, start_consumer, wait_until};
use uuid::Uuid;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_at_random_moments_on_real_traffic_every_click_lands_exactly_once() {
    let root = tempfile::tempdir().unwrap();
    let landing = url::Url::from_directory_path(root.path()).unwrap();
    crash_and_restart(&landing, root.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Java and Hadoop's jars: run scripts/test.sh"]
async fn on_hdfs_killed_at_random_moments_on_real_traffic_every_click_lands_exactly_once() {
    let hdfs = LocalHdfs::start();
    let landing = hdfs.landing_url("/data/web-events");
    let storage = lake::storage::operator_for(&landing).unwrap();
    crash_and_restart(&landing, &storage).await;
}

/// The crash test, landing at `landing`, which `storage` reads back.
async fn crash_and_restart(landing: &url::Url, storage: impl Storage + Copy) {
    let broker = DevBroker::start(3, &[TopicSpec::clicks()]).unwrap();
    let bootstrap = broker.bootstrap_servers();
    let api = RunningApi::start(producer_api::Config::for_brokers(&bootstrap)).await;
    let logs = tempfile::tempdir().unwrap();
    let log = support::crash::log_path(logs.path(), "hdfs-consumer.log");
    let topic = common::kafka::DEFAULT_TOPIC;

    // A backlog, then clicks arriving all along while the consumer dies and comes back.
    let mut posted = post_bursts(&api, 2000, 50, Duration::ZERO).await;
    for round in 0..6 {
        let (mut child, admin) = start_consumer(&bootstrap, landing, &log, &[]);
        // A file lands every FLUSH_MAX_AGE (5 s): the window spans buffering, landing and
        // committing, twice.
        let window = Duration::from_secs(12);
        let assigned = "hdfs_consumer_assigned_partitions";
        posted.extend(crash_round(&api, &mut child, admin, assigned, round == 0, window).await);
        eprintln!(
            "round {round}: killed; {} of {} landed so far",
            landed_ids(storage, topic).await.values().sum::<usize>(),
            posted.len()
        );
    }

    // A last run, left to finish, then stopped cleanly.
    let (mut child, _) = start_consumer(&bootstrap, landing, &log, &[]);
    // Whether it all landed in time, the checks below say, naming what is missing.
    wait_until(Duration::from_secs(120), || async {
        landed_ids(storage, topic).await.values().sum::<usize>() >= posted.len()
    })
    .await;
    terminate(&mut child);
    api.stop().await;

    let landed = landed_ids(storage, topic).await;
    let missing: Vec<&Uuid> = posted
        .iter()
        .filter(|id| !landed.contains_key(id))
        .collect();
    if !missing.is_empty() || landed.values().any(|n| *n > 1) {
        print_problems(&log, 40);
        for file in data_files(storage, topic).await {
            eprintln!("  {file}");
        }
    }
    assert_exactly_once(&landed, &posted);
}
