//! The lake read by readers that did not write it. A backlog of clicks made over 30 closed
//! hours by real browsers waits in the topic, as a consumer that was down finds it; the consumer
//! lands it as Parquet in many small files and merges each hour into one file per partition.
//! Then Spark SQL (the table definition and example queries of `scripts/hive/`, through
//! `scripts/hive/run.py`), pyarrow and DuckDB (`scripts/lake/counts.py`) count the clicks per
//! colour, per day and per browser: each count is what was produced. On a local folder, and
//! with Spark on a real HDFS.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use common::ColorEvent;
use dev_broker::{DevBroker, TopicSpec};
use support::hdfs::LocalHdfs;
use support::{config, data_files, script, spark_python, spawn_consumer, wait_until};

const TOPIC: &str = common::kafka::DEFAULT_TOPIC;
const CLICKS: usize = 3000;
const HOURS: u32 = 30;

/// Lands the backlog at `landing`, which `storage` reads back, and waits until every hour is
/// merged into at most one file per partition; returns the clicks.
async fn land_and_compact(
    landing: url::Url,
    storage: impl support::Storage + Copy,
) -> Vec<ColorEvent> {
    let kafka = DevBroker::start(3, &[TopicSpec::clicks()]).unwrap();
    let bootstrap = kafka.bootstrap_servers();
    let events = support::produce::backlog(CLICKS, HOURS);
    support::produce::produce_events(&bootstrap, TOPIC, 3, &events);
    let mut consumer_config = config(&bootstrap, TOPIC, Path::new("/unused"), 3);
    consumer_config.landing_url = landing;
    // Small files, as a real trickle lands them, and every hour long closed: merged at once.
    consumer_config.flush_max_records = 40;
    consumer_config.compact_after = hdfs_consumer::config::CompactAfter(Some(Duration::ZERO));
    let consumer = spawn_consumer(consumer_config).await;
    let settled = wait_until(Duration::from_secs(180), || async move {
        let landed: usize = support::landed_ids(storage, TOPIC).await.values().sum();
        landed == CLICKS && support::max_files_per_hour(&data_files(storage, TOPIC).await) <= 3
    })
    .await;
    consumer.stop().await;
    let files = data_files(storage, TOPIC).await;
    assert!(
        settled,
        "not every click landed in merged hours within 180 s: {} files, up to {} in an hour",
        files.len(),
        support::max_files_per_hour(&files)
    );
    assert!(files.iter().all(|f| f.ends_with(".parquet")), "{files:?}");
    events
}

/// What was produced, counted as the readers count.
#[derive(Debug, PartialEq, Eq, serde::Deserialize)]
struct Counts {
    colour: BTreeMap<String, u64>,
    day: BTreeMap<String, u64>,
    browser: BTreeMap<String, u64>,
}

fn tally(keys: impl Iterator<Item = String>) -> BTreeMap<String, u64> {
    let mut tally = BTreeMap::new();
    for key in keys {
        *tally.entry(key).or_default() += 1;
    }
    tally
}

fn produced(events: &[ColorEvent]) -> Counts {
    let counts = Counts {
        colour: tally(events.iter().map(|e| e.color_name.clone())),
        day: tally(
            events
                .iter()
                .map(|e| e.timestamp.format("%Y-%m-%d").to_string()),
        ),
        browser: tally(
            events
                .iter()
                .map(|e| format!("{}/{}", e.browser.name, e.browser.os)),
        ),
    };
    assert!(
        counts.day.len() >= 2,
        "the clicks span days: {:?}",
        counts.day
    );
    assert!(
        counts.browser.len() >= 3,
        "several browsers: {:?}",
        counts.browser
    );
    counts
}

fn run(command: &mut std::process::Command) -> String {
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// pyarrow's or DuckDB's counts over a local landing root.
fn counted_by(reader: &str, root: &Path) -> Counts {
    let out = run(std::process::Command::new(spark_python())
        .arg(script("lake/counts.py"))
        .args(["--reader", reader])
        .arg(root));
    serde_json::from_str(out.trim()).unwrap()
}

/// One statement's answer, as `run.py --json` prints it.
#[derive(Debug, serde::Deserialize)]
struct Answer {
    statement: String,
    rows: Vec<Vec<serde_json::Value>>,
}

const PER_COLOUR: &str = "SELECT colorName, COUNT(*) FROM select_color GROUP BY colorName";

/// Spark SQL's counts: the example queries of `scripts/hive/` and one per colour, over the
/// table `run.py` defines at `landing_root`.
fn counted_by_spark(landing_root: &str) -> Counts {
    let out = run(std::process::Command::new(spark_python())
        .arg(script("hive/run.py"))
        .args(["--json", "--landing-root", landing_root])
        .arg(script("hive/colour-counts-per-day.sql"))
        .arg(script("hive/events-per-browser.sql"))
        .arg(PER_COLOUR));
    let answers: Vec<Answer> = out
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(answers.len(), 3, "{answers:?}");
    let text = |v: &serde_json::Value| v.as_str().unwrap().to_owned();
    let count = |v: &serde_json::Value| v.as_u64().unwrap();
    let mut day = BTreeMap::new();
    assert!(answers[0].statement.contains("colorName"));
    for row in &answers[0].rows {
        *day.entry(text(&row[0])).or_default() += count(&row[2]);
    }
    assert!(answers[1].statement.contains("browser.name"));
    let browser = answers[1]
        .rows
        .iter()
        .map(|row| {
            (
                format!("{}/{}", text(&row[0]), text(&row[1])),
                count(&row[2]),
            )
        })
        .collect();
    let colour = answers[2]
        .rows
        .iter()
        .map(|row| (text(&row[0]), count(&row[1])))
        .collect();
    Counts {
        colour,
        day,
        browser,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs pyspark, pyarrow, duckdb and Java: run scripts/test.sh"]
async fn spark_pyarrow_and_duckdb_count_what_was_produced_on_a_folder() {
    let root = tempfile::tempdir().unwrap();
    let landing = url::Url::from_directory_path(root.path()).unwrap();
    let events = land_and_compact(landing.clone(), root.path()).await;
    let want = produced(&events);
    assert_eq!(counted_by("pyarrow", root.path()), want, "pyarrow");
    assert_eq!(counted_by("duckdb", root.path()), want, "DuckDB");
    assert_eq!(counted_by_spark(landing.as_str()), want, "Spark SQL");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs pyspark, Java and Hadoop's jars: run scripts/test.sh"]
async fn spark_counts_what_was_produced_on_hdfs() {
    let hdfs = LocalHdfs::start();
    let landing = hdfs.landing_url("/data/web-events");
    let storage = lake::storage::operator_for(&landing).unwrap();
    let events = land_and_compact(landing.clone(), &storage).await;
    assert_eq!(
        counted_by_spark(landing.as_str()),
        produced(&events),
        "Spark SQL"
    );
}
