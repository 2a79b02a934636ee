//! End to end on a real Kafka-protocol broker (tansu): clicks POSTed to the collector land as
//! files; and the consumer process, killed with SIGKILL at random moments and restarted,
//! still lands every event exactly once.

mod support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::collector::{RunningApi, post_clicks};
use support::tansu::Tansu;
use support::{
    assert_exactly_once, config, data_files, landed_ids, produce_in_background, spawn_consumer,
    wait_for_landed,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the tansu broker: run scripts/test.sh"]
async fn clicks_posted_to_the_collector_land_as_hive_files() {
    let tansu = Tansu::start();
    let topic = format!("select-color-{}", uuid::Uuid::now_v7());
    tansu.create_topic(&topic, 3).await;

    let mut api_config = producer_api::Config::for_brokers(&tansu.bootstrap);
    api_config.kafka_topic = topic.clone();
    let api = RunningApi::start(api_config).await;

    let root = tempfile::tempdir().unwrap();
    let consumer = spawn_consumer(config(&tansu.bootstrap, &topic, root.path(), 3));

    let client = reqwest::Client::new();
    let sent = post_clicks(&client, &api, 60, |n| format!("사용자 {n}")).await;
    assert_eq!(
        wait_for_landed(root.path(), &topic, 60, Duration::from_secs(60)).await,
        60
    );
    consumer.stop().await;
    api.stop().await;

    assert_exactly_once(&landed_ids(root.path(), &topic), &sent);
    for file in data_files(root.path(), &topic) {
        let relative = file
            .strip_prefix(root.path())
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let parts: Vec<&str> = relative.split('/').collect();
        assert_eq!(parts.len(), 4, "{relative}");
        assert_eq!(parts[0], topic);
        assert!(
            parts[1].starts_with("dt=") && parts[1].len() == "dt=2026-11-22".len(),
            "{relative}"
        );
        assert!(
            parts[2].starts_with("hour=") && parts[2].len() == "hour=03".len(),
            "{relative}"
        );
        assert!(
            parts[3].starts_with(&format!("{topic}+")) && parts[3].ends_with(".json"),
            "{relative}"
        );
        for line in std::fs::read_to_string(&file).unwrap().lines() {
            let event = common::ColorEvent::from_json_slice(line.as_bytes()).unwrap();
            let hour = hdfs_consumer::layout::HourPartition::of(&event.timestamp);
            assert!(
                relative.contains(&hour.dir()),
                "event of {} in {relative}",
                hour.dir()
            );
        }
    }
}

fn start_consumer(bootstrap: &str, topic: &str, group: &str, root: &std::path::Path) -> Child {
    let admin_port = support::ports::free_port();
    Command::new(env!("CARGO_BIN_EXE_hdfs-consumer"))
        .env("KAFKA_BOOTSTRAP_SERVERS", bootstrap)
        .env("KAFKA_TOPIC", topic)
        .env("KAFKA_GROUP_ID", group)
        .env(
            "KAFKA_PROPERTIES",
            "session.timeout.ms=3000,heartbeat.interval.ms=300",
        )
        .env("WORKERS", "3")
        .env(
            "LANDING_URL",
            url::Url::from_directory_path(root).unwrap().as_str(),
        )
        .env("FLUSH_MAX_RECORDS", "40")
        .env("FLUSH_MAX_AGE", "200ms")
        .env("ADMIN_ADDR", format!("127.0.0.1:{admin_port}"))
        .env(
            "RUST_LOG",
            std::env::var("CRASH_TEST_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .stdout(match std::env::var("CRASH_TEST_LOG_DIR") {
            Ok(dir) => Stdio::from(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(format!("{dir}/hdfs-consumer.log"))
                    .unwrap(),
            ),
            Err(_) => Stdio::null(),
        })
        .spawn()
        .expect("the consumer binary starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the tansu broker: run scripts/test.sh"]
async fn killed_at_random_moments_and_restarted_every_event_lands_exactly_once() {
    let tansu = Tansu::start();
    let topic = format!("select-color-{}", uuid::Uuid::now_v7());
    tansu.create_topic(&topic, 3).await;
    let group = format!("hdfs-crash-{}", uuid::Uuid::now_v7());
    let root = tempfile::tempdir().unwrap();
    let bootstrap = tansu.bootstrap.clone();

    let produce_async = |count: usize| produce_in_background(&bootstrap, &topic, 3, count);
    let mut produced = produce_async(2000).await.unwrap();
    let mut kills = 0;
    for round in 0..6 {
        let mut child = start_consumer(&bootstrap, &topic, &group, root.path());
        let more = produce_async(300);
        support::crash::kill_at_random_moment(&mut child, Duration::from_millis(6000)).await;
        kills += 1;
        produced.extend(more.await.unwrap());
        let landed: usize = landed_ids(root.path(), &topic).values().sum();
        eprintln!(
            "round {round}: killed; {landed} landed so far of {}",
            produced.len()
        );
    }
    assert_eq!(kills, 6);

    // A last run, left to finish, then stopped cleanly.
    let mut child = start_consumer(&bootstrap, &topic, &group, root.path());
    let deadline = Instant::now() + Duration::from_secs(120);
    while landed_ids(root.path(), &topic).values().sum::<usize>() < produced.len()
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    support::crash::terminate(&mut child);

    let landed = landed_ids(root.path(), &topic);
    let missing: Vec<_> = produced
        .iter()
        .filter(|id| !landed.contains_key(id))
        .collect();
    if !missing.is_empty() {
        // Say where the missing records sit in the topic, and what landed around them.
        let records = support::topic::read_topic_async(
            &bootstrap,
            &topic,
            3,
            produced.len(),
            Duration::from_secs(30),
        )
        .await;
        let positions: std::collections::HashMap<_, _> = records
            .iter()
            .map(|r| (r.event.event_id, (r.partition, r.offset)))
            .collect();
        let mut places: Vec<_> = missing.iter().filter_map(|id| positions.get(id)).collect();
        places.sort();
        eprintln!("missing at (partition, offset): {places:?}");
        for file in data_files(root.path(), &topic) {
            eprintln!("  {}", file.file_name().unwrap().to_string_lossy());
        }
    }
    assert_exactly_once(&landed, &produced);
}
