//! Crashes on real traffic: clicks POSTed to the collector in bursts (so its producer writes
//! multi-record batches) reach an in-memory cluster of three brokers (`dev-broker`), while the
//! `es-sink` binary, run with the settings `scripts/demo.sh` gives it, is killed with SIGKILL
//! at random moments and restarted. Every restart resumes inside a record batch. In the end
//! every event is one document, and nothing else is.

mod support;

use std::collections::HashSet;
use std::time::Duration;

use dev_broker::{DevBroker, TopicSpec};
use support::collector::{RunningApi, post_bursts};
use support::crash::{crash_round, print_problems, terminate};
use support::osmem::Osmem;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs osmem-server: run scripts/test.sh"]
async fn killed_at_random_moments_on_real_traffic_every_click_is_indexed_once() {
    let broker = DevBroker::start(3, &[TopicSpec::clicks(), TopicSpec::dead_letters()]).unwrap();
    let bootstrap = broker.bootstrap_servers();
    let api = RunningApi::start(producer_api::Config::for_brokers(&bootstrap)).await;
    let osmem = Osmem::start();
    let es_url = osmem.url().to_string();
    let dir = tempfile::tempdir().unwrap();
    let log = support::crash::log_path(dir.path(), "es-sink.log");
    let prefix = es_sink::bulk::DEFAULT_INDEX_PREFIX;

    // A backlog, then clicks arriving all along while the sink dies and comes back.
    let mut posted = post_bursts(&api, 2000, 50, Duration::ZERO).await;
    for round in 0..5 {
        let (mut child, admin) = support::start_sink(&bootstrap, &es_url, &log, &[]);
        // Batches go every BULK_LINGER (1 s): the window spans several in flight and commits.
        let window = Duration::from_secs(8);
        let assigned = "es_sink_assigned_partitions";
        posted.extend(crash_round(&api, &mut child, admin, assigned, round == 0, window).await);
        eprintln!(
            "round {round}: killed; {} of {} indexed so far",
            osmem.count(prefix).await,
            posted.len()
        );
    }

    // A last run, left to finish, then stopped cleanly.
    let (mut child, _) = support::start_sink(&bootstrap, &es_url, &log, &[]);
    let count = osmem
        .wait_for_count(prefix, posted.len() as u64, Duration::from_secs(120))
        .await;
    terminate(&mut child);
    api.stop().await;

    let expected: HashSet<String> = posted.iter().map(ToString::to_string).collect();
    let indexed = osmem.ids(prefix).await;
    let missing = expected.difference(&indexed).count();
    let strangers = indexed.difference(&expected).count();
    if missing > 0 || strangers > 0 || count != posted.len() as u64 {
        print_problems(&log, 40);
    }
    assert_eq!(missing, 0, "{missing} posted clicks were never indexed");
    assert_eq!(strangers, 0, "{strangers} documents are not posted clicks");
    assert_eq!(count, posted.len() as u64, "one document per click");
}
