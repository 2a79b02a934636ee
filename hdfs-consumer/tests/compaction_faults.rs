//! Compactions cut short by real faults, on the `hdfs-consumer` binary run as `scripts/demo.sh`
//! runs it, over a backlog of clicks made in closed hours (as a consumer that was down finds
//! it), landed in small files and merged as soon as they land:
//!
//! - the process stops itself (SIGSTOP, `HDFS_CONSUMER_STOP_AT`) at each step of a compaction
//!   in turn (merged file written, entry published, merged file visible, half the inputs
//!   deleted) and is killed there with SIGKILL; restarted, it finishes or undoes what it left;
//! - one of three processes in a group is frozen mid-compaction, its merged file written, past
//!   its session, until the others have claimed its partitions; woken, its compaction is
//!   refused.
//!
//! In the end every click is in exactly one visible file, every hour is one file per
//! partition, and no temporary file is left: on a local folder and on a real HDFS.

mod support;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use common::ColorEvent;
use dev_broker::{DevBroker, TopicSpec};
use lake::Lake;
use support::crash::{Process, is_stopped, log_path, print_problems, terminate, thaw};
use support::hdfs::LocalHdfs;
use support::metrics::metric;
use support::produce::{backlog, produce_events};
use support::{assert_exactly_once, data_files, landed_ids, start_consumer, wait_until};
use uuid::Uuid;

const TOPIC: &str = common::kafka::DEFAULT_TOPIC;
const PARTITIONS: i32 = common::kafka::DEMO_PARTITIONS;
const STEPS: [&str; 4] = [
    "merged-written",
    "entry-published",
    "merged-visible",
    "half-deleted",
];

/// Small files, merged as soon as they land (their hours are long closed).
const SETTINGS: [(&str, &str); 2] = [("FLUSH_MAX_RECORDS", "40"), ("COMPACT_AFTER", "0s")];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_folder_killed_at_every_step_of_a_compaction_every_click_lands_once() {
    let root = tempfile::tempdir().unwrap();
    let landing = url::Url::from_directory_path(root.path()).unwrap();
    killed_at_every_step(&landing).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Java and Hadoop's jars: run scripts/test.sh"]
async fn on_hdfs_killed_at_every_step_of_a_compaction_every_click_lands_once() {
    let hdfs = LocalHdfs::start();
    killed_at_every_step(&hdfs.landing_url("/data/web-events")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_folder_a_member_frozen_mid_compaction_is_refused_when_it_wakes() {
    let root = tempfile::tempdir().unwrap();
    frozen_mid_compaction(&url::Url::from_directory_path(root.path()).unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Java and Hadoop's jars: run scripts/test.sh"]
async fn on_hdfs_a_member_frozen_mid_compaction_is_refused_when_it_wakes() {
    let hdfs = LocalHdfs::start();
    frozen_mid_compaction(&hdfs.landing_url("/data/web-events")).await;
}

fn settings<'a>(extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    SETTINGS.iter().chain(extra).copied().collect()
}

/// Waits until the process has stopped itself at its step.
async fn wait_stopped(process: &Process, log: &Path, what: &str) {
    let pid = process.id();
    let stopped = wait_until(Duration::from_secs(120), || {
        std::future::ready(is_stopped(pid))
    })
    .await;
    if !stopped {
        print_problems(log, 40);
    }
    assert!(stopped, "{what}: the process never reached its step");
}

/// Lands until every click is visible once and every hour is merged; then stops the consumers.
async fn settle(landing: &url::Url, produced: &[Uuid], members: &mut [Process], log: &Path) {
    let op = lake::storage::operator_for(landing).unwrap();
    let settled = wait_until(Duration::from_secs(180), || async {
        let landed = landed_ids(&op, TOPIC).await;
        landed.len() == produced.len()
            && landed.values().all(|n| *n == 1)
            && support::max_files_per_hour(&data_files(&op, TOPIC).await) <= PARTITIONS as usize
            && tmp_files(&op).await.is_empty()
    })
    .await;
    for member in members.iter_mut() {
        terminate(member);
    }
    let landed = landed_ids(&op, TOPIC).await;
    if !settled {
        print_problems(log, 60);
        eprintln!("files: {:?}", data_files(&op, TOPIC).await);
        eprintln!("temporary: {:?}", tmp_files(&op).await);
    }
    assert_exactly_once(&landed, produced);
    assert!(
        settled,
        "the hours were not all merged, or a temporary file was left"
    );
}

async fn tmp_files(op: &lake::opendal::Operator) -> Vec<String> {
    match op.list(&format!("{TOPIC}/_tmp/")).await {
        Ok(entries) => entries
            .into_iter()
            .filter(|e| e.metadata().is_file())
            .map(|e| e.path().to_owned())
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// Produces the next `count` clicks of `clicks`.
fn produce_next(
    bootstrap: &str,
    clicks: &mut std::vec::IntoIter<ColorEvent>,
    count: usize,
) -> Vec<Uuid> {
    let next: Vec<ColorEvent> = clicks.by_ref().take(count).collect();
    produce_events(bootstrap, TOPIC, PARTITIONS, &next)
}

async fn killed_at_every_step(landing: &url::Url) {
    let broker = DevBroker::start(3, &[TopicSpec::clicks()]).unwrap();
    let bootstrap = broker.bootstrap_servers();
    let logs = tempfile::tempdir().unwrap();
    let log = log_path(logs.path(), "hdfs-consumer.log");
    let mut clicks = backlog(2000, 6).into_iter();
    let mut produced = produce_next(&bootstrap, &mut clicks, 800);
    for step in STEPS {
        let extra = [("HDFS_CONSUMER_STOP_AT", step)];
        let (mut child, _) = start_consumer(&bootstrap, landing, &log, &settings(&extra));
        wait_stopped(&child, &log, step).await;
        child.kill().unwrap();
        child.wait().unwrap();
        eprintln!("killed at {step}");
        // More of the backlog arrives while the consumer is down.
        produced.extend(produce_next(&bootstrap, &mut clicks, 300));
    }
    let (child, _) = start_consumer(&bootstrap, landing, &log, &settings(&[]));
    settle(landing, &produced, &mut [child], &log).await;
}

async fn frozen_mid_compaction(landing_url: &url::Url) {
    let broker = DevBroker::start(3, &[TopicSpec::clicks()]).unwrap();
    let bootstrap = broker.bootstrap_servers();
    let landing = Lake::open(landing_url, TOPIC, Default::default()).unwrap();
    let logs = tempfile::tempdir().unwrap();
    let log = |n: usize| log_path(logs.path(), &format!("hdfs-consumer-{n}.log"));
    let produced = produce_events(&bootstrap, TOPIC, PARTITIONS, &backlog(2000, 6));
    let one_worker = [("WORKERS", "1")];
    let (sleeper, sleeper_admin): (Process, SocketAddr) = start_consumer(
        &bootstrap,
        landing_url,
        &log(0),
        &settings(&[one_worker[0], ("HDFS_CONSUMER_STOP_AT", "merged-written")]),
    );
    let mut members = vec![sleeper];
    for n in 1..3 {
        members.push(start_consumer(&bootstrap, landing_url, &log(n), &settings(&one_worker)).0);
    }
    let pid = members[0].id();
    wait_stopped(&members[0], &log(0), "the frozen member").await;
    // Stopped with its merged file written and its entry not yet published: the partitions it
    // holds are those whose latest entry it published.
    let held: Vec<i32> = support::latest_entries(&landing, PARTITIONS)
        .await
        .iter()
        .filter(|(_, e)| support::pid_of(e) == Some(pid))
        .map(|(p, _)| *p)
        .collect();
    assert!(!held.is_empty(), "the frozen member holds no partition");
    let taken_over = wait_until(Duration::from_secs(120), || async {
        let latest = support::latest_entries(&landing, PARTITIONS).await;
        held.iter().all(|p| {
            latest
                .get(p)
                .is_some_and(|e| support::pid_of(e).is_some_and(|other| other != pid))
        })
    })
    .await;
    thaw(&members[0]);
    assert!(
        taken_over,
        "partitions {held:?} were never claimed by another member"
    );
    let refused = wait_until(Duration::from_secs(60), || async {
        metric(sleeper_admin, "hdfs_consumer_fenced_commits_total").await >= Some(1.0)
    })
    .await;
    if !refused {
        print_problems(&log(0), 40);
        // Who held what, when: each partition's commit log, and each member's claims and
        // changes.
        for p in 0..PARTITIONS {
            for seq in landing.log().seqs(p).await.unwrap_or_default() {
                let entry = landing.log().read(p, seq).await.ok().flatten();
                let entry = entry.map(|e| (e.kind, e.owner.member, e.last_offset));
                eprintln!("partition {p} entry {seq}: {entry:?}");
            }
        }
        eprintln!("the frozen member (pid {pid}) held {held:?}");
        for n in 0..3 {
            let text = std::fs::read_to_string(log(n)).unwrap_or_default();
            for line in text.lines().filter(|l| {
                l.contains("claimed") || l.contains("compacted") || l.contains("refused")
            }) {
                eprintln!("member {n}: {line}");
            }
        }
    }
    assert!(refused, "the woken member's compaction was not refused");
    settle(landing_url, &produced, &mut members, &log(0)).await;
}
