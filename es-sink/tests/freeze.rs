//! Scaled out and paused: three `es-sink` processes share one group, run as `scripts/demo.sh`
//! runs them against `dev-broker` (three brokers, the click topic's three partitions, its
//! dead-letter topic) and osmem-server, while clicks arrive steadily through the collector and
//! records that are not events arrive beside them. Three times, at a random moment, the search
//! server stalls (SIGSTOP) until a process that owns partitions has every bulk slot busy and
//! its next batch full, so that it waits for a slot rather than polling; that process is then
//! frozen with SIGSTOP and the search server let go. The process stays frozen past the group's
//! session timeout, until the others own every partition and have committed past where it
//! stopped; then SIGCONT wakes it. Its bulks are answered at once, and it holds their dead
//! letters before it polls again, so before librdkafka can tell it that it lost its partitions.
//! The sinks send batches of 100 documents, so a batch fills within a second of a stall.
//!
//! Every click is one document and none is missing; the group's committed offsets never move
//! backwards; every record that is not an event has exactly one dead letter.

mod support;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use dev_broker::{DevBroker, TopicSpec};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use support::collector::{RunningApi, SteadyClicks};
use support::crash::{Process, freeze, log_path, print_problems, random_between, terminate, thaw};
use support::metrics::{expect_metric, metric};
use support::osmem::Osmem;
use support::{pick_one, wait_until};

const TOPIC: &str = common::kafka::DEFAULT_TOPIC;
const DEAD_LETTERS: &str = common::kafka::DEFAULT_DEAD_LETTER_TOPIC;
const PARTITIONS: i32 = common::kafka::DEMO_PARTITIONS;
const GROUP: &str = "es-sink";
const PROCESSES: usize = 3;
const FREEZES: usize = 3;

/// One sink process of the group.
struct Member {
    process: Process,
    admin: SocketAddr,
    log: std::path::PathBuf,
}

/// A sink as `scripts/demo.sh` starts it, with batches of 100 documents.
fn start_member(bootstrap: &str, es_url: &str, log: &Path) -> Member {
    let (process, admin) = support::start_sink(bootstrap, es_url, log, &[("BULK_MAX_DOCS", "100")]);
    Member {
        process,
        admin,
        log: log.to_owned(),
    }
}

/// The group's committed offset of each partition (those committed so far).
fn committed(reader: &BaseConsumer) -> BTreeMap<i32, i64> {
    let mut partitions = TopicPartitionList::new();
    for partition in 0..PARTITIONS {
        partitions.add_partition(TOPIC, partition);
    }
    let Ok(committed) = reader.committed_offsets(partitions, Duration::from_secs(5)) else {
        return BTreeMap::new();
    };
    committed
        .elements()
        .iter()
        .filter_map(|e| match e.offset() {
            Offset::Offset(offset) => Some((e.partition(), offset)),
            _ => None,
        })
        .collect()
}

fn group_reader(bootstrap: &str) -> BaseConsumer {
    common::kafka::consumer_config(bootstrap, GROUP, "committed-offsets-reader")
        .create()
        .unwrap()
}

/// Samples the group's committed offsets every 100 ms until stopped; fails on any that moved
/// backwards. Returns the stop flag and the thread, which yields each partition's samples.
fn watch_commits(
    bootstrap: &str,
) -> (
    Arc<AtomicBool>,
    std::thread::JoinHandle<BTreeMap<i32, Vec<i64>>>,
) {
    let stop = Arc::new(AtomicBool::new(false));
    let reader = group_reader(bootstrap);
    let stopped = Arc::clone(&stop);
    let thread = std::thread::spawn(move || {
        let mut seen: BTreeMap<i32, Vec<i64>> = BTreeMap::new();
        while !stopped.load(Ordering::SeqCst) {
            for (partition, offset) in committed(&reader) {
                let samples = seen.entry(partition).or_default();
                if samples.last() != Some(&offset) {
                    samples.push(offset);
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        seen
    });
    (stop, thread)
}

/// Records that are not events, written to every partition in turn about ten a second until
/// `stop`; returns where each landed.
fn produce_bad_records(
    bootstrap: &str,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<Vec<(i32, i64)>> {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("acks", "all")
        .create()
        .unwrap();
    tokio::spawn(async move {
        let mut written = Vec::new();
        let mut n = 0;
        while !stop.load(Ordering::SeqCst) {
            let payload = format!("not an event {n}");
            let record = FutureRecord::<(), str>::to(TOPIC)
                .partition(n % PARTITIONS)
                .payload(&payload);
            let delivery = producer
                .send(record, Duration::from_secs(10))
                .await
                .expect("the bad record is written");
            written.push((delivery.partition, delivery.offset));
            n += 1;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        written
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs osmem-server: run scripts/test.sh"]
async fn frozen_members_never_index_a_click_twice_commit_backwards_or_repeat_a_dead_letter() {
    let broker = DevBroker::start(3, &[TopicSpec::clicks(), TopicSpec::dead_letters()]).unwrap();
    let bootstrap = broker.bootstrap_servers();
    let api = RunningApi::start(producer_api::Config::for_brokers(&bootstrap)).await;
    let osmem = Osmem::start();
    let es_url = osmem.url().to_string();
    let logs = tempfile::tempdir().unwrap();
    let mut members: Vec<Member> = (0..PROCESSES)
        .map(|n| {
            start_member(
                &bootstrap,
                &es_url,
                &log_path(logs.path(), &format!("es-sink-{n}.log")),
            )
        })
        .collect();
    let (stop_watching, watcher) = watch_commits(&bootstrap);
    let clicks = SteadyClicks::start(&api, 15, Duration::from_millis(100));
    let stop_bad = Arc::new(AtomicBool::new(false));
    let bad = produce_bad_records(&bootstrap, Arc::clone(&stop_bad));
    let reader = group_reader(&bootstrap);
    let owned = |members: &[Member], skip: Option<u32>| {
        let admins: Vec<SocketAddr> = members
            .iter()
            .filter(|m| Some(m.process.id()) != skip)
            .map(|m| m.admin)
            .collect();
        // `None` when a member does not answer: the group is not settled until all do.
        async move {
            let mut total = Some(0.0);
            for admin in admins {
                let owned = metric(admin, "es_sink_assigned_partitions").await;
                total = total.zip(owned).map(|(total, owned)| total + owned);
            }
            total
        }
    };
    assert!(
        wait_until(Duration::from_secs(120), || async {
            owned(&members, None).await == Some(f64::from(PARTITIONS))
                && committed(&reader).len() == PARTITIONS as usize
        })
        .await,
        "the group never settled and committed on every partition"
    );

    for round in 0..FREEZES {
        // The woken member rejoined, and the group has settled again.
        assert!(
            wait_until(Duration::from_secs(120), || async {
                owned(&members, None).await == Some(f64::from(PARTITIONS))
            })
            .await,
            "the group never settled after round {round}"
        );
        // Traffic runs a random while on purpose, so each freeze falls at another moment.
        tokio::time::sleep(random_between(
            Duration::from_millis(500),
            Duration::from_secs(4),
        ))
        .await;
        // A member that owns partitions now, whose bulks stall against the frozen search
        // server until every slot is full. Under load that may take long, or not happen for
        // this member (its partitions move meanwhile, or few clicks reach it): then the server
        // is let go and another member picked, for as long as the machine needs.
        let deadline = Instant::now() + Duration::from_secs(300);
        let member = loop {
            let member = pick_one(Duration::from_secs(60), || async {
                let mut holders = Vec::new();
                for member in &members {
                    if metric(member.admin, "es_sink_assigned_partitions").await > Some(0.0) {
                        holders.push(member);
                    }
                }
                holders
            })
            .await
            .expect("no member owns a partition");
            osmem.freeze();
            let stalled = wait_until(Duration::from_secs(20), || async {
                metric(member.admin, "es_sink_bulks_in_flight").await >= Some(2.0)
            })
            .await;
            if stalled {
                break member;
            }
            osmem.thaw();
            let pid = member.process.id();
            assert!(
                Instant::now() < deadline,
                "no member's bulks filled its slots against a frozen search server in 5 minutes"
            );
            eprintln!(
                "round {round}: pid {pid}'s bulks did not fill its slots in 20 s; picking again"
            );
        };
        let pid = member.process.id();
        // Its next batch gathers records meanwhile, unless its partitions are moving (a
        // revoke waits for the stalled bulks): the freeze goes ahead either way.
        let read_then = expect_metric(member.admin, "es_sink_consumed_total").await;
        let gathering = wait_until(Duration::from_secs(5), || async {
            metric(member.admin, "es_sink_consumed_total").await > Some(read_then + 10.0)
        })
        .await;
        let before = committed(&reader);
        freeze(&member.process);
        osmem.thaw();
        let frozen_at = Instant::now();
        // Frozen until the others own every partition and committed past where it stopped.
        let taken_over = wait_until(Duration::from_secs(120), || async {
            let now = committed(&reader);
            owned(&members, Some(pid)).await == Some(f64::from(PARTITIONS))
                && before
                    .iter()
                    .all(|(p, offset)| now.get(p).is_some_and(|n| n > offset))
        })
        .await;
        // A random while longer on purpose: the zombie wakes at another moment of the new
        // owners' work each round.
        tokio::time::sleep(random_between(Duration::ZERO, Duration::from_secs(2))).await;
        thaw(&member.process);
        eprintln!(
            "round {round}: pid {pid} frozen {:?}, with a next batch gathered: {gathering}",
            frozen_at.elapsed()
        );
        assert!(
            taken_over,
            "the group never moved pid {pid}'s partitions on"
        );
    }

    stop_bad.store(true, Ordering::SeqCst);
    let bad_records = bad.await.unwrap();
    let posted = clicks.finish().await;
    // Done when every click is indexed and every partition committed to its end; the end is
    // read once the collector delivered its last click, which it may after answering it.
    let prefix = es_sink::bulk::DEFAULT_INDEX_PREFIX;
    let indexed_all = osmem
        .wait_for_count(prefix, posted.len() as u64, Duration::from_secs(120))
        .await
        >= posted.len() as u64;
    let ends: BTreeMap<i32, i64> = (0..PARTITIONS)
        .map(|p| {
            (
                p,
                reader
                    .fetch_watermarks(TOPIC, p, Duration::from_secs(5))
                    .unwrap()
                    .1,
            )
        })
        .collect();
    let settled = indexed_all
        && wait_until(Duration::from_secs(60), || async {
            committed(&reader) == ends
        })
        .await;
    let mut refused = 0.0;
    let mut found = 0.0;
    for member in &members {
        refused += expect_metric(member.admin, "es_sink_refused_commits_total").await;
        found += expect_metric(member.admin, "es_sink_dead_letters_found_total").await;
    }
    for member in &mut members {
        terminate(&mut member.process);
    }
    stop_watching.store(true, Ordering::SeqCst);
    let samples = watcher.join().unwrap();
    api.stop().await;

    // Every letter in the topic, to its end.
    let (_, letter_end) = reader
        .fetch_watermarks(DEAD_LETTERS, 0, Duration::from_secs(5))
        .unwrap();
    let letters = support::read_dead_letters(
        &bootstrap,
        DEAD_LETTERS,
        letter_end as usize,
        Duration::from_secs(30),
    );
    assert_eq!(
        letters.len() as i64,
        letter_end,
        "the dead-letter topic was not read whole"
    );
    let mut lettered: HashMap<(i32, i64), usize> = HashMap::new();
    for letter in &letters {
        let at = (
            letter.headers["source.partition"].parse().unwrap(),
            letter.headers["source.offset"].parse().unwrap(),
        );
        *lettered.entry(at).or_default() += 1;
    }
    let expected: HashSet<String> = posted.iter().map(ToString::to_string).collect();
    let indexed = osmem.ids_of(prefix, &posted).await;
    let count = osmem.count(prefix).await;
    let repeated = lettered.values().filter(|n| **n > 1).count();
    let unlettered = bad_records
        .iter()
        .filter(|at| !lettered.contains_key(at))
        .count();
    eprintln!(
        "{} clicks posted, {count} documents, {} of them posted clicks; {} bad records, {} dead letters ({repeated} repeated, {unlettered} missing); {refused} commits refused before letters, {found} letters found written",
        posted.len(),
        indexed.len(),
        bad_records.len(),
        letters.len()
    );
    if !settled || repeated > 0 || unlettered > 0 || indexed.len() != posted.len() {
        for member in &members {
            print_problems(&member.log, 30);
        }
    }
    assert!(
        settled,
        "the group never committed every partition to its end"
    );
    assert_eq!(
        indexed.len(),
        expected.len(),
        "{} posted clicks were never indexed",
        expected.len() - indexed.len()
    );
    assert_eq!(
        count,
        posted.len() as u64,
        "one document per click, and nothing else"
    );
    for (partition, offsets) in &samples {
        assert!(
            offsets.windows(2).all(|w| w[0] <= w[1]),
            "partition {partition}'s committed offset moved backwards: {offsets:?}"
        );
    }
    assert_eq!(repeated, 0, "dead letters written twice");
    assert_eq!(
        unlettered, 0,
        "records that are not events without a dead letter"
    );
    assert_eq!(letters.len(), bad_records.len(), "dead letters of nothing");
    assert!(
        refused >= 1.0,
        "no member had its commit refused before writing letters: the fence was never tested"
    );
}
