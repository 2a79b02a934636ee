//! Scaled out and paused: three `hdfs-consumer` processes share one group and one landing
//! root, run as `scripts/demo.sh` runs them against `dev-broker` (three brokers, the click
//! topic's three partitions), while clicks arrive steadily through the collector. Three times,
//! at a random moment, a process that holds a partition and records read for it is frozen with
//! SIGSTOP, as a paused VM or a starved container is. It stays frozen past the group's session
//! timeout, until other members have claimed its partitions and landed there, and a moment
//! more; then SIGCONT wakes it, still holding the records it read, still believing it owns its
//! partitions, and with its oldest records overdue for landing.
//!
//! Every click lands exactly once, no partition's commit log ever moves backwards, and the
//! woken processes' landings were refused: on a local folder and on a real HDFS, with one
//! worker per process and with the default (one per partition, so six of nine sit idle).

mod support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use dev_broker::{DevBroker, TopicSpec};
use lake::Lake;
use lake::commit_log::EntryKind;
use support::collector::{RunningApi, SteadyClicks};
use support::crash::{Process, freeze, log_path, print_problems, random_between, terminate, thaw};
use support::hdfs::LocalHdfs;
use support::metrics::{expect_metric, metric};
use support::{assert_exactly_once, landed_ids, pick_one, start_consumer, wait_until};

const TOPIC: &str = common::kafka::DEFAULT_TOPIC;
const PARTITIONS: i32 = common::kafka::DEMO_PARTITIONS;
const PROCESSES: usize = 3;
const FREEZES: usize = 3;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_folder_with_one_worker_each_frozen_members_never_land_a_click_twice() {
    let root = tempfile::tempdir().unwrap();
    freeze_members_in_turn(
        &url::Url::from_directory_path(root.path()).unwrap(),
        Some(1),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_folder_with_default_workers_frozen_members_never_land_a_click_twice() {
    let root = tempfile::tempdir().unwrap();
    freeze_members_in_turn(&url::Url::from_directory_path(root.path()).unwrap(), None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Java and Hadoop's jars: run scripts/test.sh"]
async fn on_hdfs_with_one_worker_each_frozen_members_never_land_a_click_twice() {
    let hdfs = LocalHdfs::start();
    freeze_members_in_turn(&hdfs.landing_url("/data/web-events"), Some(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Java and Hadoop's jars: run scripts/test.sh"]
async fn on_hdfs_with_default_workers_frozen_members_never_land_a_click_twice() {
    let hdfs = LocalHdfs::start();
    freeze_members_in_turn(&hdfs.landing_url("/data/web-events"), None).await;
}

/// One consumer process of the group.
struct Member {
    process: Process,
    admin: SocketAddr,
    log: std::path::PathBuf,
}

impl Member {
    fn pid(&self) -> u32 {
        self.process.id()
    }
}

async fn freeze_members_in_turn(landing_url: &url::Url, workers: Option<u16>) {
    let broker = DevBroker::start(3, &[TopicSpec::clicks()]).unwrap();
    let bootstrap = broker.bootstrap_servers();
    let api = RunningApi::start(producer_api::Config::for_brokers(&bootstrap)).await;
    let landing = Lake::open(landing_url, TOPIC, Default::default()).unwrap();
    let logs = tempfile::tempdir().unwrap();
    let workers = workers.map(|n| n.to_string());
    let settings: Vec<(&str, &str)> = workers.iter().map(|n| ("WORKERS", n.as_str())).collect();
    let members: Vec<Member> = (0..PROCESSES)
        .map(|n| {
            let log = log_path(logs.path(), &format!("hdfs-consumer-{n}.log"));
            let (process, admin) = start_consumer(&bootstrap, landing_url, &log, &settings);
            Member {
                process,
                admin,
                log,
            }
        })
        .collect();
    // About 150 clicks a second, in bursts, as a crowd clicks.
    let clicks = SteadyClicks::start(&api, 15, Duration::from_millis(100));

    assert!(
        wait_until(Duration::from_secs(120), || async {
            let latest = support::latest_entries(&landing, PARTITIONS).await;
            latest.len() == PARTITIONS as usize
                && latest.values().all(|e| e.kind == EntryKind::Commit)
        })
        .await,
        "the group never landed on every partition"
    );
    let mut frozen_pids = Vec::new();
    for round in 0..FREEZES {
        // Traffic runs a random while on purpose, so each freeze falls at another moment.
        tokio::time::sleep(random_between(
            Duration::from_millis(500),
            Duration::from_secs(4),
        ))
        .await;
        // A member that holds partitions and has records read for them, as most do most of
        // the time: woken, it lands them at once, before it hears that it lost them.
        // The woken member's return rebalances the group first, which on a loaded machine may
        // take a while: the in-memory coordinator waits up to a session timeout for members.
        let looking = Instant::now();
        let (member, latest) = pick_one(Duration::from_secs(90), || async {
            let latest = support::latest_entries(&landing, PARTITIONS).await;
            let mut holders = Vec::new();
            for member in &members {
                if latest
                    .values()
                    .any(|e| support::pid_of(e) == Some(member.pid()))
                    && metric(member.admin, "hdfs_consumer_buffered_records").await > Some(0.0)
                {
                    holders.push((member, latest.clone()));
                }
            }
            holders
        })
        .await
        .expect("no member held a partition with records in hand");
        eprintln!(
            "round {round}: chose pid {} after {:?}",
            member.pid(),
            looking.elapsed()
        );
        let held: Vec<i32> = latest
            .iter()
            .filter(|(_, e)| support::pid_of(e) == Some(member.pid()))
            .map(|(p, _)| *p)
            .collect();
        let records = expect_metric(member.admin, "hdfs_consumer_buffered_records").await;
        freeze(&member.process);
        let frozen_at = Instant::now();
        frozen_pids.push(member.pid());
        // Frozen until another member claimed each of its partitions (which the group gives
        // away only after the session timeout) and landed records there that the frozen one
        // holds too.
        let taken_over = wait_until(Duration::from_secs(120), || async {
            let latest = support::latest_entries(&landing, PARTITIONS).await;
            held.iter().all(|p| {
                latest.get(p).is_some_and(|e| {
                    e.kind == EntryKind::Commit
                        && support::pid_of(e).is_some_and(|pid| pid != member.pid())
                })
            })
        })
        .await;
        // A random while longer on purpose: the zombie wakes at another moment of the new
        // owners' work each round.
        tokio::time::sleep(random_between(Duration::ZERO, Duration::from_secs(2))).await;
        thaw(&member.process);
        eprintln!(
            "round {round}: pid {} held partitions {held:?} and {records} records; frozen {:?}",
            member.pid(),
            frozen_at.elapsed()
        );
        assert!(
            taken_over,
            "partitions {held:?} were never claimed by another member"
        );
        assert!(
            wait_until(Duration::from_secs(30), || async {
                metric(member.admin, "hdfs_consumer_claims_total").await > Some(0.0)
            })
            .await,
            "pid {} did not answer after SIGCONT",
            member.pid()
        );
    }

    let posted = clicks.finish().await;
    // Whether it all landed in time, the checks below say, naming what is missing.
    wait_until(Duration::from_secs(120), || async {
        landed_ids(&landing.operator().clone(), TOPIC)
            .await
            .values()
            .sum::<usize>()
            >= posted.len()
    })
    .await;
    let mut fenced = 0.0;
    let mut dropped = 0.0;
    for member in &members {
        fenced += expect_metric(member.admin, "hdfs_consumer_fenced_commits_total").await;
        dropped += expect_metric(member.admin, "hdfs_consumer_dropped_on_fence_total").await;
    }
    let mut members = members;
    for member in &mut members {
        terminate(&mut member.process);
    }
    api.stop().await;

    let landed = landed_ids(&landing.operator().clone(), TOPIC).await;
    let duplicated = landed.values().filter(|n| **n > 1).count();
    let missing = posted.iter().filter(|id| !landed.contains_key(id)).count();
    eprintln!(
        "{} clicks posted, {} landed ({duplicated} twice or more, {missing} missing); {fenced} landings refused, {dropped} records dropped by refused members {frozen_pids:?}",
        posted.len(),
        landed.values().sum::<usize>()
    );
    if duplicated > 0 || missing > 0 {
        for member in &members {
            print_problems(&member.log, 30);
        }
    }
    assert_exactly_once(&landed, &posted);
    assert_commit_logs_never_move_backwards(&landing).await;
    assert!(
        fenced >= 1.0,
        "no woken member's landing was refused: the freezes never tested the fence"
    );
}

/// Every retained entry of every partition's log, in number order: the landed offset never
/// decreases, and a claim carries its predecessor's.
async fn assert_commit_logs_never_move_backwards(landing: &Lake) {
    for partition in 0..PARTITIONS {
        let mut seqs = landing.log().seqs(partition).await.unwrap();
        seqs.sort_unstable();
        let mut previous: Option<Option<i64>> = None;
        for seq in seqs {
            let entry = landing
                .log()
                .read(partition, seq)
                .await
                .unwrap()
                .expect("every entry reads back");
            if let Some(before) = previous {
                assert!(
                    entry.last_offset >= before,
                    "partition {partition}: entry {seq} moved the landed offset back from {before:?} to {:?}",
                    entry.last_offset
                );
                if entry.kind == EntryKind::Claim {
                    assert_eq!(
                        entry.last_offset, before,
                        "partition {partition}: claim {seq}"
                    );
                }
            }
            previous = Some(entry.last_offset);
        }
    }
}
