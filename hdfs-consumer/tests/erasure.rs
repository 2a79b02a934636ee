//! Erasure on request while clicks keep arriving: three `hdfs-consumer` processes share one
//! group and one landing root (as `scripts/demo.sh` runs them against `dev-broker`), es-sink
//! indexes into osmem-server, and the results page remembers a person's clicks. One member is
//! frozen with SIGSTOP past its session, holding partitions and the clicks it read, while the
//! `erase` command runs; it is woken after, still believing it owns them.
//!
//! The erased person's clicks are gone from the landed files, the dead letters, the search
//! index and the results page; every other click is landed and indexed exactly once. Run again,
//! the command finds nothing.

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
    erase_during_traffic(&url::Url::from_directory_path(root.path()).unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs osmem-server, Java and Hadoop's jars: run scripts/test.sh"]
async fn on_hdfs_an_erasure_during_traffic_with_a_frozen_member_removes_only_the_person() {
    let hdfs = LocalHdfs::start();
    erase_during_traffic(&hdfs.landing_url("/data/web-events")).await;
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

/// Runs the `erase` command for `ERASED` as `scripts/erase.sh` does, and reads its audit line.
async fn erase(env: &[(&str, String)], audit: &Path) -> Value {
    let output = tokio::process::Command::new(support::demo::workspace_binary("eraser", "erase"))
        .arg("--user-name")
        .arg(ERASED)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .env("ERASURE_AUDIT_FILE", audit)
        .env("ERASURE_TIMEOUT", "150s")
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    eprintln!("erase said:\n{stdout}");
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(
        !stderr.contains(ERASED),
        "the log names the person:\n{stderr}"
    );
    let audit = std::fs::read_to_string(audit).unwrap();
    assert!(!audit.contains(ERASED), "the audit names the person");
    serde_json::from_str(audit.lines().last().unwrap()).unwrap()
}

async fn erase_during_traffic(landing_url: &url::Url) {
    let broker = DevBroker::start(3, &[TopicSpec::clicks(), TopicSpec::dead_letters()]).unwrap();
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
    let web_config = web::Config::parse_from(["web", "--es-url", search.url().as_str()]);
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
    ];
    let audit = logs.path().join("erasures.jsonl");
    let report = erase(&env, &audit).await;
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

    // Again: nothing is left to find.
    let again = erase(&env, &audit).await;
    assert_eq!(again["landedFiles"]["erased"]["rows"], 0, "{again}");
    assert_eq!(again["landedFiles"]["erased"]["deadLetters"], 0, "{again}");
    assert_eq!(again["searchIndex"]["erased"]["found"], 0, "{again}");
    assert_eq!(again["resultsPage"]["erased"], 0, "{again}");
    assert_eq!(std::fs::read_to_string(&audit).unwrap().lines().count(), 2);

    for member in &mut members {
        terminate(&mut member.process);
    }
    sink.stop().await;
    let _ = stop_web.send(());
    let _ = web_task.await;
    api.stop().await;
}
