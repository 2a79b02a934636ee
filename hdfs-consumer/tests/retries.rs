//! A browser that never got the answer to a click sends it again, with the same `eventId`, and
//! behind a load balancer the retry reaches another collector replica, which has never seen
//! it. Here every click is posted to two replicas: once to the first, once again to the
//! second. Both produce it; the collector keys each record by its `eventId`, so both copies
//! are in one partition, and the lake's repeat window lands one. The landing `hdfs-consumer`
//! runs as a process, as the demo starts it; the search sink in this process.
//!
//! Three cases: the retries arrive at once; after the sinks are restarted (the window is
//! rebuilt from the landed files); and while the partitions' holder is killed with SIGKILL
//! (a replay decides again, the same way). Every click is one row in the lake and one
//! document in the index.

mod support;

use std::collections::HashSet;
use std::time::Duration;

use dev_broker::{DevBroker, TopicSpec};
use lake::Lake;
use support::collector::{RunningApi, post_page_clicks};
use support::crash::{print_problems, random_between, terminate};
use support::osmem::Osmem;
use support::{assert_exactly_once, landed_ids, latest_entries, start_consumer, wait_until};
use uuid::Uuid;

const TOPIC: &str = common::kafka::DEFAULT_TOPIC;
const CLICKS: usize = 400;

/// What happens between a click's first copy and its retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Between {
    Nothing,
    SinksRestarted,
    HolderKilled,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs osmem-server: run scripts/test.sh"]
async fn a_retry_through_another_replica_lands_and_is_indexed_once() {
    retried_through_two_replicas(Between::Nothing).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs osmem-server: run scripts/test.sh"]
async fn a_retry_after_the_sinks_restarted_lands_and_is_indexed_once() {
    retried_through_two_replicas(Between::SinksRestarted).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs osmem-server: run scripts/test.sh"]
async fn a_retry_while_the_holder_is_killed_lands_and_is_indexed_once() {
    retried_through_two_replicas(Between::HolderKilled).await;
}

/// The search sink in this process, on `bootstrap`, indexing into `search`.
async fn start_search_sink(
    bootstrap: &str,
    search: &Osmem,
    group: &str,
) -> support::service::RunningService<es_sink::Error> {
    let mut config = es_sink::Config::for_brokers(bootstrap, search.url());
    config.kafka.properties = dev_broker::client_properties();
    config.sink.group_id = group.to_owned();
    support::service::RunningService::start(|listener, shutdown| {
        es_sink::serve(listener, config, shutdown)
    })
    .await
}

async fn retried_through_two_replicas(between: Between) {
    let broker = DevBroker::start(3, &[TopicSpec::clicks(), TopicSpec::dead_letters()]).unwrap();
    let bootstrap = broker.bootstrap_servers();
    let replicas = [
        RunningApi::start(producer_api::Config::for_brokers(&bootstrap)).await,
        RunningApi::start(producer_api::Config::for_brokers(&bootstrap)).await,
    ];
    let search = Osmem::start();
    let root = tempfile::tempdir().unwrap();
    let landing_url = url::Url::from_directory_path(root.path()).unwrap();
    let lake = Lake::open(&landing_url, TOPIC, Default::default()).unwrap();
    let logs = tempfile::tempdir().unwrap();
    let log = support::crash::log_path(logs.path(), "hdfs-consumer.log");
    let start_landing = || start_consumer(&bootstrap, &landing_url, &log, &[]);
    let sink_group = format!("es-sink-{}", Uuid::now_v7());

    let (mut landing, mut admin) = start_landing();
    let mut sink = start_search_sink(&bootstrap, &search, &sink_group).await;
    let clicks: Vec<Uuid> = (0..CLICKS).map(|_| Uuid::now_v7()).collect();

    match between {
        Between::Nothing => {
            for (first, retry) in clicks.chunks(50).zip(clicks.chunks(50)) {
                post_page_clicks(&replicas[0], first, 25).await;
                post_page_clicks(&replicas[1], retry, 25).await;
            }
        }
        Between::SinksRestarted => {
            post_page_clicks(&replicas[0], &clicks, 25).await;
            first_copies_landed(root.path()).await;
            search
                .wait_for_count(prefix(), CLICKS as u64, Duration::from_secs(60))
                .await;
            terminate(&mut landing);
            sink.stop().await;
            (landing, admin) = start_landing();
            sink = start_search_sink(&bootstrap, &search, &sink_group).await;
            post_page_clicks(&replicas[1], &clicks, 25).await;
        }
        Between::HolderKilled => {
            post_page_clicks(&replicas[0], &clicks, 25).await;
            first_copies_landed(root.path()).await;
            // The retries arrive while the holder lands: it dies among them, before it landed
            // them all (a landing waits up to FLUSH_MAX_AGE, 5 s), so its successor reads
            // some again, with a window it rebuilt from the files.
            let retries = post_page_clicks(&replicas[1], &clicks, 10);
            let kill = async {
                tokio::time::sleep(random_between(
                    Duration::from_millis(300),
                    Duration::from_secs(4),
                ))
                .await;
                landing.kill().expect("SIGKILL delivered");
                landing.wait().unwrap();
            };
            tokio::join!(retries, kill);
            (landing, admin) = start_landing();
        }
    }

    // The collectors answer before their producers deliver: wait until both produced every
    // copy, then until every partition's commit log is at its end, every copy read and decided.
    let all_produced = wait_until(Duration::from_secs(60), || async {
        support::topic::end_offsets(&bootstrap, TOPIC, 3)
            .iter()
            .sum::<i64>()
            == 2 * CLICKS as i64
    })
    .await;
    let ends = support::topic::end_offsets(&bootstrap, TOPIC, 3);
    assert!(all_produced, "both replicas produced every click: {ends:?}");
    let read_to_the_end = wait_until(Duration::from_secs(120), || async {
        let latest = latest_entries(&lake, 3).await;
        (0..3).all(|p| {
            let end = ends[p as usize];
            end == 0 || latest.get(&p).and_then(|e| e.last_offset) == Some(end - 1)
        })
    })
    .await;
    let landed = landed_ids(root.path(), TOPIC).await;
    let dropped = support::metrics::metric(admin, DROPPED).await;
    terminate(&mut landing);
    sink.stop().await;
    let indexed_count = search.count(prefix()).await;
    let indexed = search.ids(prefix()).await;
    for api in replicas {
        api.stop().await;
    }
    if !read_to_the_end || landed.values().any(|n| *n > 1) {
        print_problems(&log, 40);
    }
    assert!(read_to_the_end, "the landing did not reach the topic's end");
    assert_exactly_once(&landed, &clicks);
    let expected: HashSet<String> = clicks.iter().map(ToString::to_string).collect();
    assert_eq!(indexed, expected, "one document per click");
    assert_eq!(indexed_count, CLICKS as u64);
    if between != Between::HolderKilled {
        // The process that read the retries dropped each of them.
        assert_eq!(dropped, Some(CLICKS as f64), "{DROPPED}");
    }
}

/// Waits until every click's first copy is landed, the window's rebuild has them to read.
async fn first_copies_landed(root: &std::path::Path) {
    assert!(
        wait_until(Duration::from_secs(120), || async {
            landed_ids(root, TOPIC).await.len() == CLICKS
        })
        .await,
        "the first copies did not land"
    );
}

const DROPPED: &str = "hdfs_consumer_duplicates_dropped_total";

fn prefix() -> &'static str {
    es_sink::bulk::DEFAULT_INDEX_PREFIX
}
