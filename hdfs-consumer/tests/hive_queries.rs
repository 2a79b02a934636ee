//! HiveQL on the landed files: clicks posted to the collector with known colours and browsers
//! are landed by the consumer, in a local folder and on a real HDFS; then
//! `scripts/hive/run.py` (Spark SQL with Hive support) creates the table over them, discovers
//! the partitions and runs the example queries of `scripts/hive/`. The answers are what was
//! posted: clicks per colour per day, clicks per browser and system.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::ColorEvent;
use dev_broker::{DevBroker, TopicSpec};
use support::collector::RunningApi;
use support::hdfs::LocalHdfs;
use support::{config, spawn_consumer, wait_for_landed};

const TOPIC: &str = common::kafka::DEFAULT_TOPIC;
const AGENTS: [&str; 3] = [
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0",
];

/// Posts 40 clicks, colours and browsers in uneven shares; lands them at `landing`; returns the
/// events as they are in the topic.
async fn land_known_clicks(landing: url::Url, storage: impl support::Storage) -> Vec<ColorEvent> {
    let kafka = DevBroker::start(3, &[TopicSpec::clicks()]).unwrap();
    let bootstrap = kafka.bootstrap_servers();
    let api = RunningApi::start(producer_api::Config::for_brokers(&bootstrap)).await;
    let mut consumer_config = config(&bootstrap, TOPIC, Path::new("/unused"), 3);
    consumer_config.landing_url = landing;
    let consumer = spawn_consumer(consumer_config).await;
    let client = reqwest::Client::new();
    for n in 0..40 {
        let colour = ["red", "red", "blue", "green", "purple"][n % 5];
        let agent = AGENTS[(n / 2 + n / 7) % 3];
        let response = client
            .post(api.url("/api/events"))
            .header("User-Agent", agent)
            .json(&serde_json::json!({ "userName": format!("쿼리 {n}"), "colorName": colour }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202);
    }
    assert_eq!(
        wait_for_landed(storage, TOPIC, 40, Duration::from_secs(60)).await,
        40
    );
    consumer.stop().await;
    api.stop().await;
    support::topic::read_topic_async(&bootstrap, TOPIC, 3, 40, Duration::from_secs(30))
        .await
        .into_iter()
        .map(|record| record.event)
        .collect()
}

/// One statement's answer, as `run.py --json` prints it.
#[derive(Debug, serde::Deserialize)]
struct Answer {
    statement: String,
    rows: Vec<Vec<serde_json::Value>>,
}

/// Runs the example queries over `landing_root` with the Python that has pyspark.
fn example_answers(landing_root: &str) -> Vec<Answer> {
    let python = std::env::var("SPARK_PYTHON").expect(
        "SPARK_PYTHON names a Python with pyspark; scripts/test.sh installs it and sets it",
    );
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/hive/run.py");
    let output = std::process::Command::new(python)
        .arg(script)
        .args(["--json", "--landing-root", landing_root])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "run.py failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// `(key columns) -> clicks`, from rows whose last column is the count.
fn counts(answer: &Answer) -> BTreeMap<Vec<String>, u64> {
    answer
        .rows
        .iter()
        .map(|row| {
            let (count, key) = row.split_last().unwrap();
            let key = key
                .iter()
                .map(|v| v.as_str().unwrap_or_default().to_owned())
                .collect();
            (key, count.as_u64().unwrap())
        })
        .collect()
}

fn tally<'a>(keys: impl Iterator<Item = Vec<String>> + 'a) -> BTreeMap<Vec<String>, u64> {
    let mut tally = BTreeMap::new();
    for key in keys {
        *tally.entry(key).or_default() += 1;
    }
    tally
}

fn assert_answers_are_what_was_posted(answers: &[Answer], events: &[ColorEvent]) {
    assert_eq!(answers.len(), 2, "{answers:?}");
    let per_day = tally(events.iter().map(|e| {
        vec![
            e.timestamp.format("%Y-%m-%d").to_string(),
            e.color_name.clone(),
        ]
    }));
    assert!(answers[0].statement.contains("colorName"));
    assert_eq!(counts(&answers[0]), per_day);
    let per_browser = tally(
        events
            .iter()
            .map(|e| vec![e.browser.name.clone(), e.browser.os.clone()]),
    );
    assert!(answers[1].statement.contains("browser.name"));
    assert_eq!(counts(&answers[1]), per_browser);
    assert!(
        per_browser.len() >= 3,
        "the clicks came from several browsers: {per_browser:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs pyspark and Java: run scripts/test.sh"]
async fn the_example_queries_answer_what_was_posted_over_a_local_folder() {
    let root = tempfile::tempdir().unwrap();
    let landing = url::Url::from_directory_path(root.path()).unwrap();
    let events = land_known_clicks(landing.clone(), root.path()).await;
    let answers = example_answers(landing.as_str());
    assert_answers_are_what_was_posted(&answers, &events);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs pyspark, Java and Hadoop's jars: run scripts/test.sh"]
async fn the_example_queries_answer_what_was_posted_over_hdfs() {
    let hdfs = LocalHdfs::start();
    let landing = hdfs.landing_url("/data/web-events");
    let storage = hdfs_consumer::storage::operator_for(&landing).unwrap();
    let events = land_known_clicks(landing.clone(), &storage).await;
    let answers = example_answers(landing.as_str());
    assert_answers_are_what_was_posted(&answers, &events);
}
