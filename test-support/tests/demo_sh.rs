//! README command 1 on one machine: `scripts/demo.sh` starts, takes a click that reaches the
//! topic, a landed Parquet file (shown as JSON by the banner's command; on HDFS, with `--hive`,
//! registered in the demo's Hive Metastore and read back through HiveQL on it) and the search
//! index, the colour count shows it, and SIGTERM stops every service cleanly. A second run in
//! the same folder keeps the first run's files aside.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use test_support::demo::{DemoRun, Landing, repo_root, target_dir};
use test_support::wait_until;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs osmem-server, and Spark for HiveQL: run scripts/test.sh"]
async fn the_demo_takes_a_click_into_both_stores_and_stops_cleanly_twice_in_one_folder() {
    let run_dir = tempdir("demo-folder");
    let first = click_through(&run_dir, Landing::Folder).await;
    let first_file = std::fs::read(run_dir.join(&first)).unwrap();
    click_through(&run_dir, Landing::Folder).await;
    // The broker started empty again, so the second run's offsets start at 0 too: the first
    // run's files are kept aside, whole, rather than overwritten or mixed in.
    let kept: Vec<PathBuf> = std::fs::read_dir(&run_dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("landing-before-")
        })
        .map(|e| e.path().join(first.strip_prefix("landing/").unwrap()))
        .collect();
    assert_eq!(
        kept.iter()
            .map(|path| std::fs::read(path).unwrap_or_default())
            .collect::<Vec<_>>(),
        [first_file],
        "the second run did not keep the first run's file aside: {kept:?}"
    );

    // scripts/hive.sh's example queries count the second run's click.
    let answers = hive(&run_dir, &[]);
    assert!(
        answers.lines().any(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            fields.len() == 3
                && chrono::NaiveDate::parse_from_str(fields[0], "%Y-%m-%d").is_ok()
                && fields[1..] == ["green", "1"]
        }),
        "scripts/hive.sh does not count the click:\n{answers}"
    );
    let _ = std::fs::remove_dir_all(&run_dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Hadoop's HDFS, osmem-server and Spark: run scripts/test.sh"]
async fn the_demo_on_hdfs_registers_the_hour_in_its_metastore_where_hiveql_reads() {
    let run_dir = tempdir("demo-hdfs");
    let landed = click_through(&run_dir, Landing::HdfsWithMetastore).await;
    assert!(landed.starts_with("hdfs://"), "{landed}");
    let _ = std::fs::remove_dir_all(&run_dir);
}

/// Ctrl-C pressed twice while a sink cannot stop (frozen): the second one hurries the stop, and
/// nothing the demo started is left running.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs osmem-server: run scripts/test.sh"]
async fn a_second_ctrl_c_stops_everything_at_once_even_a_stuck_sink() {
    let run_dir = tempdir("demo-twice");
    let demo = DemoRun::start(&run_dir, Landing::Folder);
    demo.stop_twice_with_one_stuck("hdfs-consumer");
    let _ = std::fs::remove_dir_all(&run_dir);
}

/// One run of the demo in `run_dir`: a click goes through, then the demo stops cleanly.
/// Returns where the click landed.
/// `scripts/erase.sh` against the running demo: a person's clicks leave the search index and
/// the landed files, another person's stay, and a second run finds nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs osmem-server: run scripts/test.sh"]
async fn the_demo_forgets_a_person_with_one_command() {
    let run_dir = tempdir("demo-erase");
    let demo = DemoRun::start(&run_dir, Landing::Folder);
    let description = &demo.description;
    let http = reqwest::Client::new();
    let mut ids = Vec::new();
    for (name, colour) in [
        ("잊힐 사람", "red"),
        ("잊힐 사람", "blue"),
        ("남을 사람", "green"),
    ] {
        ids.push(click(&http, description, name, colour).await);
    }
    let landed = || {
        let shown = Command::new(target_dir().join("debug/examples/cat_landed"))
            .args([&description.landing_url, &description.kafka.topic])
            .output()
            .expect("the landed-clicks command runs");
        String::from_utf8_lossy(&shown.stdout).into_owned()
    };
    let search = format!("{}/web-events-*/_search", description.search);
    let indexed = || async {
        let query = serde_json::json!({"query": {"terms": {"eventId": ids}}});
        let answer: serde_json::Value = http
            .post(&search)
            .json(&query)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap_or_default();
        answer["hits"]["total"]["value"].as_u64().unwrap_or(0)
    };
    let reached = wait_until(Duration::from_secs(60), || async {
        let shown = landed();
        ids.iter().all(|id| shown.contains(id.as_str())) && indexed().await == 3
    })
    .await;
    if !reached {
        demo.show_logs();
    }
    assert!(reached, "the clicks did not reach both stores within 60 s");
    // Only the eraser makes the page forget: a request without its token is refused.
    let forged = http
        .post(format!("{}/forget", description.results))
        .json(&serde_json::json!({"userNames": ["잊힐 사람"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);
    // The collector's metrics are on its admin port only.
    let metrics = http
        .get(format!("{}/metrics", description.api))
        .send()
        .await
        .unwrap();
    assert_eq!(metrics.status(), 404);

    let erase = || {
        let output = Command::new(repo_root().join("scripts/erase.sh"))
            .args(["--user-name", "잊힐 사람"])
            .env("RUN_DIR", &run_dir)
            .output()
            .expect("scripts/erase.sh runs");
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(
            output.status.success(),
            "scripts/erase.sh failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        stdout
    };
    let said = erase();
    assert!(said.contains("2 found, 2 deleted"), "{said}");
    assert!(
        said.contains("2 click(s) and 0 dead letter(s) removed"),
        "{said}"
    );
    let shown = landed();
    assert!(
        !shown.contains(&ids[0]) && !shown.contains(&ids[1]),
        "{shown}"
    );
    assert!(
        shown.contains(&ids[2]),
        "the other person's click is gone: {shown}"
    );
    assert_eq!(indexed().await, 1);
    let again = erase();
    assert!(again.contains("0 found, 0 deleted"), "{again}");
    assert!(again.contains("0 click(s)"), "{again}");
    let audit = std::fs::read_to_string(run_dir.join("erasures.jsonl")).unwrap();
    assert_eq!(audit.lines().count(), 2);
    assert!(
        !audit.contains("잊힐"),
        "the audit names the person: {audit}"
    );
    demo.stop();
    let _ = std::fs::remove_dir_all(&run_dir);
}

async fn click_through(run_dir: &Path, landing: Landing) -> String {
    let demo = DemoRun::start(run_dir, landing);
    let description = &demo.description;
    let http = reqwest::Client::new();

    let page = http
        .get(&description.page)
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .expect("the page answers")
        .text()
        .await
        .unwrap();
    assert!(
        page.contains(r#"data-color="purple""#),
        "no colour buttons:\n{page}"
    );

    let event_id = click(&http, description, "smoke 검사", "green").await;

    // The watch command the banner prints, stopped after one record.
    let watched = Command::new(target_dir().join("debug/examples/tail_topic"))
        .args([
            &description.kafka.bootstrap_servers,
            &description.kafka.topic,
            "1",
        ])
        .output()
        .expect("the topic watcher runs");
    assert!(
        String::from_utf8_lossy(&watched.stdout).contains(&event_id),
        "event {event_id} is not in the topic: {}",
        String::from_utf8_lossy(&watched.stderr)
    );

    let landed = match landing {
        Landing::Folder => {
            // The banner's command that shows landed clicks as JSON lines.
            let seen = wait_until(Duration::from_secs(30), || {
                let shown = Command::new(target_dir().join("debug/examples/cat_landed"))
                    .args([&description.landing_url, &description.kafka.topic])
                    .output()
                    .expect("the landed-clicks command runs");
                std::future::ready(String::from_utf8_lossy(&shown.stdout).contains(&event_id))
            })
            .await;
            if !seen {
                demo.show_logs();
            }
            assert!(seen, "the click is not shown as landed within 30 s");
            let topic_dir = run_dir.join("landing").join(&description.kafka.topic);
            let file = landed_files(&topic_dir);
            assert_eq!(file.len(), 1, "one click, one file: {file:?}");
            assert!(
                file[0].extension().is_some_and(|e| e == "parquet"),
                "{file:?}"
            );
            file[0].strip_prefix(run_dir).unwrap().display().to_string()
        }
        Landing::HdfsWithMetastore => {
            let metastore = description.hive_metastore.as_deref();
            assert!(
                metastore.is_some_and(|uri| uri.starts_with("thrift://")),
                "{metastore:?}"
            );
            let admin = demo.admin("hdfs-consumer");
            let admin = admin.trim_start_matches("http://").parse().unwrap();
            let landed = wait_until(Duration::from_secs(60), || async move {
                test_support::metrics::metric(admin, "hdfs_consumer_records_landed_total").await
                    == Some(1.0)
            })
            .await;
            assert!(landed, "nothing landed on HDFS within 60 s");
            let registered = wait_until(Duration::from_secs(30), || async move {
                test_support::metrics::metric(
                    admin,
                    "hdfs_consumer_hive_registrations_total{outcome=\"registered\"}",
                )
                .await
                    >= Some(1.0)
            })
            .await;
            assert!(registered, "the hour was not registered within 30 s");
            // Through the demo's metastore: the click, and the hour it lists for it.
            let rows = hive(
                run_dir,
                &[
                    "SELECT concat(dt, '/', hour, ' ', eventId) FROM select_color",
                    "SHOW PARTITIONS select_color",
                ],
            );
            let row = rows
                .lines()
                .find(|line| line.contains(&event_id))
                .unwrap_or_else(|| panic!("event {event_id} is not in the Hive table:\n{rows}"))
                .trim()
                .to_owned();
            let (day, hour) = row
                .split_whitespace()
                .next()
                .and_then(|at| at.split_once('/'))
                .unwrap_or_else(|| panic!("no dt/hour in {row}"));
            let partition = format!("dt={day}/hour={hour}");
            assert!(
                rows.lines().any(|line| line.trim() == partition),
                "the metastore does not list {partition}:\n{rows}"
            );
            format!("{}: {row}", description.landing_url)
        }
    };

    let search = format!("{}/web-events-*/_search", description.search);
    let query = serde_json::json!({"query": {"term": {"eventId": event_id}}});
    let indexed = wait_until(Duration::from_secs(30), || {
        let request = http.post(&search).json(&query).send();
        async move {
            let Ok(response) = request.await else {
                return false;
            };
            let answer: serde_json::Value = response.json().await.unwrap_or_default();
            answer["hits"]["total"]["value"] == 1
        }
    })
    .await;
    assert!(indexed, "event {event_id} was not indexed within 30 s");

    let counts = Command::new(repo_root().join("scripts/colour-counts.sh"))
        .env("ES_URL", &description.search)
        .output()
        .expect("scripts/colour-counts.sh runs");
    let counts = String::from_utf8_lossy(&counts.stdout);
    assert!(
        counts
            .lines()
            .any(|l| l.split_whitespace().eq(["green", "1"])),
        "the colour count does not show the click:\n{counts}"
    );

    demo.stop();
    landed
}

/// Posts a click to the demo's collector, from its page; its event id.
async fn click(
    http: &reqwest::Client,
    description: &test_support::demo::Description,
    name: &str,
    colour: &str,
) -> String {
    let origin = description.page.trim_end_matches('/');
    let answer: serde_json::Value = http
        .post(format!("{}/api/events", description.api))
        .header("Origin", origin)
        .header("User-Agent", test_support::collector::BROWSER_USER_AGENT)
        .json(&serde_json::json!({"userName": name, "colorName": colour}))
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .expect("the click is accepted")
        .json()
        .await
        .unwrap();
    answer["eventId"].as_str().expect("an event id").to_owned()
}

/// scripts/hive.sh's answer over what the demo in `run_dir` last landed.
fn hive(run_dir: &Path, queries: &[&str]) -> String {
    let output = Command::new(repo_root().join("scripts/hive.sh"))
        .args(queries)
        .env("RUN_DIR", run_dir)
        .output()
        .expect("scripts/hive.sh runs");
    assert!(
        output.status.success(),
        "scripts/hive.sh failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// The landed files under `topic_dir`'s `dt=…/hour=…/` folders.
fn landed_files(topic_dir: &Path) -> Vec<PathBuf> {
    let list = |dir: &Path, prefix: &str| -> Vec<PathBuf> {
        std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok())
                    .filter(|e| e.file_name().to_string_lossy().starts_with(prefix))
                    .map(|e| e.path())
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut files = Vec::new();
    for day in list(topic_dir, "dt=") {
        for hour in list(&day, "hour=") {
            files.extend(list(&hour, "").into_iter().filter(|p| p.is_file()));
        }
    }
    files
}

fn tempdir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("{name}-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `scripts/demo.sh` run in the foreground with `env`, as a person types it; its exit status
/// and what it said.
fn demo_refusing(run_dir: &Path, env: &[(&str, String)]) -> (std::process::ExitStatus, String) {
    let output = Command::new(repo_root().join("scripts/demo.sh"))
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .env("RUN_DIR", run_dir)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("scripts/demo.sh runs");
    (
        output.status,
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn two_services_given_one_port_are_refused_with_both_settings_named() {
    let run_dir = tempdir("demo-one-port");
    let port = test_support::ports::free_port().to_string();
    let (status, said) = demo_refusing(
        &run_dir,
        &[
            ("API_PORT", port.clone()),
            ("ES_SINK_ADMIN_PORT", port.clone()),
        ],
    );
    assert!(!status.success(), "{said}");
    assert!(
        said.contains(&format!("ES_SINK_ADMIN_PORT and API_PORT are both {port}")),
        "{said}"
    );
    let _ = std::fs::remove_dir_all(&run_dir);
}

#[test]
#[ignore = "needs the demo's build: run scripts/test.sh"]
fn a_port_taken_by_another_process_is_refused_naming_that_process() {
    let run_dir = tempdir("demo-port-taken");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let (status, said) = demo_refusing(&run_dir, &[("WEB_PORT", port.clone())]);
    assert!(!status.success(), "{said}");
    let holder = format!(
        "port {port} (WEB_PORT) is already in use by pid {}",
        std::process::id()
    );
    assert!(said.contains(&holder), "{said}");
    let _ = std::fs::remove_dir_all(&run_dir);
}
