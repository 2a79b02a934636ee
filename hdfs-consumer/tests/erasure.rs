//! Erasure on request while clicks keep arriving: three `hdfs-consumer` processes share one
//! group and one landing root (as `scripts/demo.sh` runs them against `dev-broker`), es-sink
//! indexes into osmem-server, and the results page remembers a person's clicks. One member is
//! frozen with SIGSTOP past its session, holding partitions and the clicks it read, while the
//! `erase` command runs; it is woken after, still believing it owns them.
//!
//! The erased person's clicks are gone from the landed files, the dead letters, the search
//! index and the results page; every other click is landed and indexed exactly once, and so are
//! the person's clicks made while the command runs (after its request). Run again, the command
//! erases those. Then a replay of the whole topic, by a fresh group into a fresh landing folder
//! and by a fresh es-sink group into the index, brings back no erased click.

mod support;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use clap::Parser;
use dev_broker::{DevBroker, TopicSpec};
use lake::Lake;
use serde_json::Value;
use support::collector::{RunningApi, SteadyClicks, post_clicks};
use support::crash::{Process, freeze, log_path, print_problems, terminate, thaw};
use support::hdfs::LocalHdfs;
use support::osmem::Osmem;
use support::{assert_exactly_once, landed_ids, pick_one, start_consumer, wait_until};
use uuid::Uuid;

const TOPIC: &str = common::kafka::DEFAULT_TOPIC;
const PARTITIONS: i32 = common::kafka::DEMO_PARTITIONS;
const PREFIX: &str = common::search::DEFAULT_INDEX_PREFIX;
const ERASED: &str = "Ada Erased";
const KEPT: &str = "Bo Kept";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs osmem-server: run scripts/test.sh"]
async fn on_a_folder_an_erasure_during_traffic_with_a_frozen_member_removes_only_the_person() {
    let root = tempfile::tempdir().unwrap();
    let folder = |name: &str| url::Url::from_directory_path(root.path().join(name)).unwrap();
    erase_during_traffic(&folder("landing"), &folder("replay")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs osmem-server, Java and Hadoop's jars: run scripts/test.sh"]
async fn on_hdfs_an_erasure_during_traffic_with_a_frozen_member_removes_only_the_person() {
    let hdfs = LocalHdfs::start();
    let (landing, replay) = (
        hdfs.landing_url("/data/web-events"),
        hdfs.landing_url("/data/replay"),
    );
    erase_during_traffic(&landing, &replay).await;
}

struct Member {
    process: Process,
    log: std::path::PathBuf,
}

/// The results page's own clicks among `ids`.
async fn remembered(web: SocketAddr, ids: &[Uuid]) -> usize {
    let ids: Vec<String> = ids.iter().map(Uuid::to_string).collect();
    let answer: Value = reqwest::get(format!(
        "http://{web}/results/data?eventIds={}",
        ids.join(",")
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    answer["ownClicks"]["ok"]
        .as_array()
        .unwrap_or_else(|| panic!("no own clicks: {answer}"))
        .len()
}

/// Every dead-letter line landed.
async fn dead_letters(landing: &Lake) -> Vec<String> {
    let op = landing.operator();
    let mut lines = Vec::new();
    let dir = format!("{TOPIC}/_invalid/");
    for entry in op.list(&dir).await.unwrap_or_default() {
        if entry.metadata().is_file() {
            let bytes = op.read(entry.path()).await.unwrap().to_vec();
            lines.extend(String::from_utf8(bytes).unwrap().lines().map(str::to_owned));
        }
    }
    lines
}

/// Runs the `erase` command for `ERASED` as `scripts/erase.sh` does; once it has read where
/// each partition ends (it logs its request), runs `meanwhile`. Returns its audit line and what
/// `meanwhile` gave.
async fn erase<T>(
    env: &[(&str, String)],
    audit: &Path,
    meanwhile: impl std::future::Future<Output = T>,
) -> (Value, T) {
    use tokio::io::AsyncBufReadExt;
    let mut child =
        tokio::process::Command::new(support::demo::workspace_binary("eraser", "erase"))
            .arg("--user-name")
            .arg(ERASED)
            .env_clear()
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .env("ERASURE_AUDIT_FILE", audit)
            .env("ERASURE_TIMEOUT", "150s")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
    let mut stderr_lines = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let mut stderr = String::new();
    while let Some(line) = stderr_lines.next_line().await.unwrap() {
        stderr.push_str(&line);
        stderr.push('\n');
        if line.contains("erasure requested") {
            break;
        }
    }
    let during = meanwhile.await;
    while let Some(line) = stderr_lines.next_line().await.unwrap() {
        stderr.push_str(&line);
        stderr.push('\n');
    }
    let output = child.wait_with_output().await.unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    eprintln!("erase said:\n{stdout}");
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(
        !stderr.contains(ERASED),
        "the log names the person:\n{stderr}"
    );
    let audit = std::fs::read_to_string(audit).unwrap();
    assert!(!audit.contains(ERASED), "the audit names the person");
    (
        serde_json::from_str(audit.lines().last().unwrap()).unwrap(),
        during,
    )
}

async fn erase_during_traffic(landing_url: &url::Url, replay_url: &url::Url) {
    let topics = [
        TopicSpec::clicks(),
        TopicSpec::dead_letters(),
        TopicSpec::erased(),
    ];
    let broker = DevBroker::start(3, &topics).unwrap();
    let bootstrap = broker.bootstrap_servers();
    let search = Osmem::start();
    let api = RunningApi::start(producer_api::Config::for_brokers(&bootstrap)).await;
    let landing = Lake::open(landing_url, TOPIC, Default::default()).unwrap();

    let mut sink_config = es_sink::Config::for_brokers(&bootstrap, search.url());
    sink_config.kafka.properties = dev_broker::client_properties();
    let group = sink_config.sink.group_id.clone();
    let sink = support::service::RunningService::start(|listener, shutdown| {
        es_sink::serve(listener, sink_config, shutdown)
    })
    .await;
    // The page forgets only for the eraser, which shows it this token.
    let forget_token = format!("{}", Uuid::now_v7().simple());
    let web_config = web::Config::parse_from([
        "web",
        "--es-url",
        search.url().as_str(),
        "--forget-token",
        &forget_token,
    ]);
    let web_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let web = web_listener.local_addr().unwrap();
    let (stop_web, web_stopped) = tokio::sync::oneshot::channel::<()>();
    let web_task = tokio::spawn(async move {
        web::serve(web_listener, &web_config, async {
            let _ = web_stopped.await;
        })
        .await
    });

    let logs = tempfile::tempdir().unwrap();
    let mut members: Vec<Member> = (0..3)
        .map(|n| {
            let log = log_path(logs.path(), &format!("hdfs-consumer-{n}.log"));
            let (process, _) = start_consumer(&bootstrap, landing_url, &log, &[]);
            Member { process, log }
        })
        .collect();

    // The person clicks a dozen times; so does another, and a crowd keeps clicking.
    let client = reqwest::Client::new();
    let clicks = SteadyClicks::start(&api, 5, Duration::from_millis(100));
    let erased = post_clicks(&client, &api, 12, |_| ERASED.to_owned()).await;
    let kept = post_clicks(&client, &api, 5, |_| KEPT.to_owned()).await;
    // And one of their clicks is broken: a dead letter that names them.
    support::produce_raw(
        &bootstrap,
        TOPIC,
        1,
        &[format!(r#"{{"userName":"{ERASED}","colorName":"no such colour"}}"#).as_bytes()],
    );
    assert!(
        wait_until(Duration::from_secs(120), || async {
            let landed = landed_ids(landing.operator(), TOPIC).await;
            erased.iter().chain(&kept).all(|id| landed.contains_key(id))
                && dead_letters(&landing)
                    .await
                    .iter()
                    .any(|l| l.contains(ERASED))
                && search.ids_of(PREFIX, &erased).await.len() == erased.len()
                && remembered(web, &erased).await == erased.len()
        })
        .await,
        "the clicks never reached every store"
    );

    // A member that holds a partition is frozen until the others have taken its partitions.
    let member = pick_one(Duration::from_secs(60), || async {
        let latest = support::latest_entries(&landing, PARTITIONS).await;
        members
            .iter()
            .enumerate()
            .filter(|(_, m)| {
                latest
                    .values()
                    .any(|e| support::pid_of(e) == Some(m.process.id()))
            })
            .map(|(n, _)| n)
            .collect()
    })
    .await
    .expect("no member holds a partition");
    let frozen_pid = members[member].process.id();
    freeze(&members[member].process);
    assert!(
        wait_until(Duration::from_secs(120), || async {
            let latest = support::latest_entries(&landing, PARTITIONS).await;
            latest.len() == PARTITIONS as usize
                && latest
                    .values()
                    .all(|e| support::pid_of(e) != Some(frozen_pid))
        })
        .await,
        "the frozen member's partitions were never taken over"
    );

    let env = [
        ("KAFKA_BOOTSTRAP_SERVERS", bootstrap.clone()),
        ("KAFKA_PROPERTIES", dev_broker::CLIENT_PROPERTIES.to_owned()),
        ("LANDING_URL", landing_url.to_string()),
        ("ES_URL", search.url().to_string()),
        ("ES_SINK_GROUP_ID", group),
        ("RESULTS_URLS", format!("http://{web}/results")),
        ("RESULTS_TOKEN", forget_token.clone()),
    ];
    let audit = logs.path().join("erasures.jsonl");
    // The person clicks again while the command runs: after its request, so kept.
    let clicks_later = post_clicks(&client, &api, 3, |_| ERASED.to_owned());
    let (report, later) = erase(&env, &audit, clicks_later).await;
    eprintln!("erasure: {report}");
    thaw(&members[member].process);
    assert_eq!(report["landedFiles"]["erased"]["rows"], 12, "{report}");
    assert_eq!(
        report["landedFiles"]["erased"]["deadLetters"], 1,
        "{report}"
    );
    assert_eq!(report["searchIndex"]["erased"]["found"], 12, "{report}");
    assert_eq!(report["searchIndex"]["erased"]["deleted"], 12, "{report}");
    assert_eq!(report["resultsPage"]["erased"], 12, "{report}");

    // The crowd goes on clicking for a while after the woken member's return.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut posted = clicks.finish().await;
    posted.extend(&kept);
    posted.extend(&later);
    assert!(
        wait_until(Duration::from_secs(120), || async {
            let landed = landed_ids(landing.operator(), TOPIC).await;
            posted.iter().all(|id| landed.contains_key(id))
                && search.ids_of(PREFIX, &posted).await.len() == posted.len()
        })
        .await,
        "the other clicks never all landed and were indexed"
    );
    let landed = landed_ids(landing.operator(), TOPIC).await;
    if landed.values().any(|n| *n > 1) || erased.iter().any(|id| landed.contains_key(id)) {
        for member in &members {
            print_problems(&member.log, 30);
        }
    }
    assert_exactly_once(&landed, &posted);
    assert!(
        !dead_letters(&landing)
            .await
            .iter()
            .any(|l| l.contains(ERASED)),
        "a dead letter still names the person"
    );
    assert!(search.ids_of(PREFIX, &erased).await.is_empty());
    assert_eq!(remembered(web, &erased).await, 0);
    assert_eq!(search.count(PREFIX).await, posted.len() as u64);

    assert!(
        later.iter().all(|id| landed.contains_key(id)),
        "a click made after the request was erased from the landed files"
    );
    assert_eq!(search.ids_of(PREFIX, &later).await.len(), later.len());
    assert_eq!(
        remembered(web, &later).await,
        later.len(),
        "the page shows the later clicks"
    );

    // Again: only the clicks made while the first ran are left to find.
    let (again, ()) = erase(&env, &audit, async {}).await;
    assert_eq!(again["landedFiles"]["erased"]["rows"], 3, "{again}");
    assert_eq!(again["landedFiles"]["erased"]["deadLetters"], 0, "{again}");
    assert_eq!(again["searchIndex"]["erased"]["found"], 3, "{again}");
    assert_eq!(again["resultsPage"]["erased"], 3, "{again}");
    assert_eq!(std::fs::read_to_string(&audit).unwrap().lines().count(), 2);
    let gone: Vec<Uuid> = erased.iter().chain(&later).copied().collect();
    let posted: Vec<Uuid> = posted
        .into_iter()
        .filter(|id| !later.contains(id))
        .collect();

    // A replay of the whole topic brings back no erased click: a fresh group into a fresh
    // landing folder, and a fresh es-sink group into the same index.
    let (mut replaying, replay_admin) = start_consumer(
        &bootstrap,
        replay_url,
        &log_path(logs.path(), "replay.log"),
        &[("KAFKA_GROUP_ID", "replay-after-erasure")],
    );
    let mut replay_sink_config = es_sink::Config::for_brokers(&bootstrap, search.url());
    replay_sink_config.kafka.properties = dev_broker::client_properties();
    replay_sink_config.sink.group_id = "es-sink-replay-after-erasure".into();
    let replay_sink = support::service::RunningService::start(|listener, shutdown| {
        es_sink::serve(listener, replay_sink_config, shutdown)
    })
    .await;
    let replayed = Lake::open(replay_url, TOPIC, Default::default()).unwrap();
    let skipped = gone.len() as f64;
    // Every record read again: each click kept is landed, and each is indexed or skipped.
    let every_record = (posted.len() + gone.len()) as f64;
    assert!(
        wait_until(Duration::from_secs(180), || async {
            let landed = landed_ids(replayed.operator(), TOPIC).await;
            let indexed = replay_sink
                .metric("es_sink_indexed_total")
                .await
                .unwrap_or(0.0);
            let passed = replay_sink
                .metric("es_sink_erased_skipped_total")
                .await
                .unwrap_or(0.0);
            posted.iter().all(|id| landed.contains_key(id)) && indexed + passed >= every_record
        })
        .await,
        "the replays never read every click"
    );
    let landed_again = landed_ids(replayed.operator(), TOPIC).await;
    let back: Vec<_> = gone
        .iter()
        .filter(|id| landed_again.contains_key(id))
        .collect();
    assert!(
        back.is_empty(),
        "a replay landed {} erased clicks again",
        back.len()
    );
    assert_exactly_once(&landed_again, &posted);
    assert!(
        search.ids_of(PREFIX, &gone).await.is_empty(),
        "a replay indexed an erased click again"
    );
    assert_eq!(
        support::metrics::metric(replay_admin, "hdfs_consumer_erased_skipped_total").await,
        Some(skipped)
    );
    assert_eq!(
        replay_sink.metric("es_sink_erased_skipped_total").await,
        Some(skipped)
    );
    terminate(&mut replaying);
    replay_sink.stop().await;

    for member in &mut members {
        terminate(&mut member.process);
    }
    sink.stop().await;
    let _ = stop_web.send(());
    let _ = web_task.await;
    api.stop().await;
}

/// A file the erasure cannot read (garbage where a landed file should be) does not stall the
/// pipeline: the holder tries again with growing waits and says so once a minute, every
/// partition keeps landing, and the command names the file and exits non-zero once its time is
/// up. With the file gone, the request is carried out.
async fn a_file_the_erasure_cannot_read_stops_nothing(landing_url: &url::Url) {
    let topics = [
        TopicSpec::clicks(),
        TopicSpec::dead_letters(),
        TopicSpec::erased(),
    ];
    let broker = DevBroker::start(3, &topics).unwrap();
    let bootstrap = broker.bootstrap_servers();
    let api = RunningApi::start(producer_api::Config::for_brokers(&bootstrap)).await;
    let landing = Lake::open(landing_url, TOPIC, Default::default()).unwrap();
    let logs = tempfile::tempdir().unwrap();
    let log = log_path(logs.path(), "hdfs-consumer.log");
    let (mut consumer, _) = start_consumer(&bootstrap, landing_url, &log, &[]);
    let client = reqwest::Client::new();
    let erased = post_clicks(&client, &api, 6, |_| ERASED.to_owned()).await;
    assert!(
        wait_until(Duration::from_secs(120), || async {
            let landed = landed_ids(landing.operator(), TOPIC).await;
            erased.iter().all(|id| landed.contains_key(id))
        })
        .await,
        "the clicks never landed"
    );
    // Clicks go on for the whole test. Every partition lands some before the garbage is put
    // down, so that partition 0's end is past the garbage's offsets when the request is filed,
    // however the partitioner spread the first clicks.
    let clicks = SteadyClicks::start(&api, 5, Duration::from_millis(100));
    let landed_up_to = || async {
        support::latest_entries(&landing, PARTITIONS)
            .await
            .into_iter()
            .filter_map(|(p, e)| Some((p, e.last_offset?)))
            .collect::<std::collections::BTreeMap<i32, i64>>()
    };
    assert!(
        wait_until(Duration::from_secs(300), || async {
            landed_up_to().await.len() == PARTITIONS as usize
        })
        .await,
        "not every partition landed a click"
    );
    let before_failure = landed_up_to().await;
    // Garbage named as a landed file of partition 0, before any request's end.
    let hour = lake::HourPartition::of(&chrono::Utc::now());
    let garbage = lake::layout::data_path(
        TOPIC,
        &hour,
        &format!("{TOPIC}+0+0000000000000000000+0000000000000000000+e999999.parquet"),
    );
    landing
        .operator()
        .write(&garbage, b"not parquet".to_vec())
        .await
        .unwrap();

    let env = [
        ("KAFKA_BOOTSTRAP_SERVERS", bootstrap.clone()),
        ("KAFKA_PROPERTIES", dev_broker::CLIENT_PROPERTIES.to_owned()),
        ("LANDING_URL", landing_url.to_string()),
        ("ERASE_SKIP", "search-index,results-page".to_owned()),
        (
            "ERASURE_AUDIT_FILE",
            logs.path().join("erasures.jsonl").display().to_string(),
        ),
    ];
    let command = move || {
        let mut command =
            std::process::Command::new(support::demo::workspace_binary("eraser", "erase"));
        command
            .arg("--user-name")
            .arg(ERASED)
            .env_clear()
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())));
        command
    };
    let run = |timeout: &'static str| {
        let mut command = command();
        tokio::task::spawn_blocking(move || {
            command.env("ERASURE_TIMEOUT", timeout).output().unwrap()
        })
    };
    let failed = run("20s").await.unwrap();
    let said = String::from_utf8_lossy(&failed.stdout);
    assert!(!failed.status.success(), "{said}");
    assert!(
        said.contains("UNFINISHED: partition 0 failed") && said.contains("e999999.parquet"),
        "the report does not name the partition and the file:\n{said}"
    );
    // Tried again with growing waits (1 s, 2 s, 4 s, ... with jitter), not at every sweep.
    let storage = landing.storage();
    let (requests_left, attempts) = {
        let requests = lake::requests::requests(storage, TOPIC).await.unwrap();
        let (failures, _) = lake::requests::notes(storage, TOPIC, &requests[0].id)
            .await
            .unwrap();
        let ids: Vec<String> = requests.into_iter().map(|r| r.id).collect();
        (ids, failures.iter().map(|f| f.attempts).max())
    };
    assert_eq!(
        requests_left.len(),
        1,
        "the request stays on file to be carried out"
    );
    let first = requests_left[0].clone();
    assert!(
        attempts.is_some_and(|a| (2..=10).contains(&a)),
        "attempts in 20 s: {attempts:?}"
    );
    let said_in_log = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .filter(|l| l.contains("cannot carry out an erasure request"))
        .count();
    assert_eq!(
        said_in_log, 1,
        "a failing erasure is logged once a minute at most"
    );

    // Landing went on meanwhile, on every partition, the failing one too.
    let posted = clicks.finish().await;
    let landed_but_garbage = || async {
        let op = landing.operator();
        let mut ids = std::collections::HashSet::new();
        for file in support::data_files(op, TOPIC).await {
            if file != garbage {
                let events = lake::LandingFormat::Parquet.read_events(op, &file).await;
                ids.extend(events.unwrap_or_default().iter().map(|e| e.event_id));
            }
        }
        ids
    };
    assert!(
        wait_until(Duration::from_secs(60), || async {
            let landed = landed_but_garbage().await;
            posted.iter().all(|id| landed.contains(id))
        })
        .await,
        "clicks posted while the erasure failed never all landed"
    );
    let after_failure = landed_up_to().await;
    for (partition, before) in &before_failure {
        assert!(
            after_failure[partition] > *before,
            "partition {partition} landed nothing more while the erasure failed"
        );
    }

    // The file removed, the next attempt carries the request out.
    landing.operator().delete(&garbage).await.unwrap();
    let done = run("120s").await.unwrap();
    let said = String::from_utf8_lossy(&done.stdout);
    assert!(done.status.success(), "{said}");
    let landed = landed_ids(landing.operator(), TOPIC).await;
    assert!(erased.iter().all(|id| !landed.contains_key(id)), "{said}");
    // The first request, which failed, is carried out too once its wait is over; it stays on
    // file (readable by the pipeline only) until a later command sees it done and withdraws it.
    assert!(
        wait_until(Duration::from_secs(60), || async {
            let latest = support::latest_entries(&landing, PARTITIONS).await;
            latest.len() == PARTITIONS as usize
                && latest
                    .values()
                    .all(|e| e.erasures.iter().any(|r| r.request == first))
        })
        .await,
        "the request that failed was never carried out"
    );
    terminate(&mut consumer);
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the eraser's build: run scripts/test.sh"]
async fn on_a_folder_a_file_the_erasure_cannot_read_stops_nothing() {
    let root = tempfile::tempdir().unwrap();
    a_file_the_erasure_cannot_read_stops_nothing(
        &url::Url::from_directory_path(root.path()).unwrap(),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Java and Hadoop's jars: run scripts/test.sh"]
async fn on_hdfs_a_file_the_erasure_cannot_read_stops_nothing() {
    let hdfs = LocalHdfs::start();
    a_file_the_erasure_cannot_read_stops_nothing(&hdfs.landing_url("/data/unreadable")).await;
}
