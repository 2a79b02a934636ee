//! The Hive Metastore kept by the consumer, against a real one (Hive 2.3's service from the
//! pyspark jars, on Java 17): each hour is registered within seconds of landing, Spark SQL
//! connected to the metastore counts the clicks with no MSCK, on a folder and on HDFS; a
//! metastore stopped mid-stream holds no landing up and gets every hour once it is back;
//! expiry drops the partitions it deleted; a table made before a field gains its column, and
//! files from before and after it read together.
//!
//! One metastore serves the binary's run (`support::metastore`), each test in a database of its
//! own; the tests run one at a time (nextest's `spark` group), as one of them stops it.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use common::ColorEvent;
use dev_broker::{DevBroker, TopicSpec};
use lake::HourPartition;
use metastore::Client;
use support::hdfs::LocalHdfs;
use support::metastore::LocalMetastore;
use support::produce::{backlog_click, hours_before_this_one, produce_events};
use support::{script, spark_python, spawn_consumer, wait_for_landed, wait_until};

const TOPIC: &str = "select-color";
const TABLE: &str = "select_color";
const PARTITIONS: i32 = 3;

/// A database of this test's own.
fn database() -> String {
    format!("t{}", uuid::Uuid::now_v7().simple())
}

fn clicks(count: usize, start: chrono::DateTime<Utc>, hours: u32) -> Vec<ColorEvent> {
    (0..count)
        .map(|n| backlog_click(n, count, start, hours))
        .collect()
}

fn hours_of(events: &[ColorEvent]) -> BTreeSet<String> {
    events
        .iter()
        .map(|e| HourPartition::of(&e.timestamp).dir())
        .collect()
}

fn per_colour(events: &[ColorEvent]) -> BTreeMap<String, u64> {
    let mut tally = BTreeMap::new();
    for event in events {
        *tally.entry(event.color_name.clone()).or_default() += 1;
    }
    tally
}

/// The table's partitions as the metastore lists them; `None` while it does not answer or has
/// no such table.
async fn registered(metastore: &url::Url, database: &str) -> Option<BTreeSet<String>> {
    let mut client = Client::connect(std::slice::from_ref(metastore), Duration::from_secs(30))
        .await
        .ok()?;
    let names = client.partition_names(database, TABLE).await.ok()?;
    Some(names.into_iter().collect())
}

async fn wait_for_partitions(
    metastore: &url::Url,
    database: &str,
    want: &BTreeSet<String>,
    deadline: Duration,
) -> Option<BTreeSet<String>> {
    let last = std::sync::Mutex::new(None);
    let matched = wait_until(deadline, || async {
        let now = registered(metastore, database).await;
        let matched = now.as_ref() == Some(want);
        *last.lock().unwrap() = now;
        matched
    })
    .await;
    if matched {
        None
    } else {
        Some(last.into_inner().unwrap().unwrap_or_default())
    }
}

struct Pipeline {
    _broker: DevBroker,
    bootstrap: String,
    config: hdfs_consumer::Config,
    _scratch: tempfile::TempDir,
}

fn pipeline(landing: url::Url, metastore: &url::Url, database: &str) -> Pipeline {
    let broker = DevBroker::start(3, &[TopicSpec::clicks()]).unwrap();
    let bootstrap = broker.bootstrap_servers();
    let scratch = tempfile::tempdir().unwrap();
    let mut config = support::config(&bootstrap, TOPIC, scratch.path(), 1);
    config.landing_url = landing;
    config.hive_metastore_uris = vec![metastore.clone()];
    config.hive_database = database.to_owned();
    Pipeline {
        _broker: broker,
        bootstrap,
        config,
        _scratch: scratch,
    }
}

/// The binary's metastore, a database of the test's own in it, and a pipeline landing in a
/// folder of its own that keeps its table there.
struct Setup {
    metastore: LocalMetastore,
    database: String,
    root: tempfile::TempDir,
    pipeline: Pipeline,
}

fn on_a_folder() -> Setup {
    let metastore = LocalMetastore::shared();
    let database = database();
    let root = tempfile::tempdir().unwrap();
    let landing = url::Url::from_directory_path(root.path()).unwrap();
    let pipeline = pipeline(landing, &metastore.uri, &database);
    Setup {
        metastore,
        database,
        root,
        pipeline,
    }
}

impl Pipeline {
    fn produce(&self, events: &[ColorEvent]) {
        produce_events(&self.bootstrap, TOPIC, PARTITIONS, events);
    }
}

/// Each statement's rows, as Spark SQL connected to `metastore` answers them (`run.py
/// --metastore`: no table made, no partition discovered).
fn spark(
    metastore: &url::Url,
    database: &str,
    statements: &[&str],
) -> Vec<Vec<Vec<serde_json::Value>>> {
    #[derive(serde::Deserialize)]
    struct Answer {
        rows: Vec<Vec<serde_json::Value>>,
    }
    let output = std::process::Command::new(spark_python())
        .arg(script("hive/run.py"))
        .args([
            "--json",
            "--metastore",
            metastore.as_str(),
            "--database",
            database,
        ])
        .args(statements)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "Spark SQL failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let answers: Vec<Vec<Vec<serde_json::Value>>> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str::<Answer>(l).unwrap().rows)
        .collect();
    assert_eq!(answers.len(), statements.len());
    answers
}

const PER_COLOUR: &str = "SELECT colorName, COUNT(*) FROM select_color GROUP BY colorName";

fn colour_counts(rows: &[Vec<serde_json::Value>]) -> BTreeMap<String, u64> {
    rows.iter()
        .map(|row| {
            (
                row[0].as_str().unwrap().to_owned(),
                row[1].as_u64().unwrap(),
            )
        })
        .collect()
}

/// Hours of a backlog are registered as they land, then an hour that begins later within
/// seconds of its first file; Spark lists the partitions and counts the clicks per colour.
async fn hours_register_as_they_land(landing: url::Url, storage: impl support::Storage + Copy) {
    let metastore = LocalMetastore::shared();
    let database = database();
    let pipeline = pipeline(landing, &metastore.uri, &database);
    let backlog = clicks(600, hours_before_this_one(6), 4);
    pipeline.produce(&backlog);
    let consumer = spawn_consumer(pipeline.config.clone()).await;
    assert_eq!(
        wait_for_landed(storage, TOPIC, 600, Duration::from_secs(90)).await,
        600
    );
    let mut want = hours_of(&backlog);
    if let Some(got) =
        wait_for_partitions(&metastore.uri, &database, &want, Duration::from_secs(30)).await
    {
        panic!("the backlog's hours were not registered: {got:?}, want {want:?}");
    }

    // An hour new to the table: the current one.
    let now = clicks(90, Utc::now() - TimeDelta::seconds(2), 0);
    pipeline.produce(&now);
    assert_eq!(
        wait_for_landed(storage, TOPIC, 690, Duration::from_secs(60)).await,
        690
    );
    let landed = Instant::now();
    want.extend(hours_of(&now));
    if let Some(got) =
        wait_for_partitions(&metastore.uri, &database, &want, Duration::from_secs(15)).await
    {
        panic!("the new hour was not registered within 15 s of landing: {got:?}");
    }
    eprintln!(
        "the new hour was registered {:?} after its clicks landed",
        landed.elapsed()
    );
    let registered = consumer
        .metric("hdfs_consumer_hive_registrations_total{outcome=\"registered\"}")
        .await;
    assert!(registered >= Some(want.len() as f64), "{registered:?}");
    consumer.stop().await;

    let answers = spark(
        &metastore.uri,
        &database,
        &["SHOW PARTITIONS select_color", PER_COLOUR],
    );
    let shown: BTreeSet<String> = answers[0]
        .iter()
        .map(|row| row[0].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(shown, want, "Spark's SHOW PARTITIONS");
    let all: Vec<ColorEvent> = backlog.into_iter().chain(now).collect();
    assert_eq!(
        colour_counts(&answers[1]),
        per_colour(&all),
        "Spark's counts per colour"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs pyspark and Java: run scripts/test.sh"]
async fn on_a_folder_hours_are_registered_as_they_land_and_spark_counts_them() {
    let root = tempfile::tempdir().unwrap();
    let landing = url::Url::from_directory_path(root.path()).unwrap();
    hours_register_as_they_land(landing, root.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs pyspark, Java and Hadoop's jars: run scripts/test.sh"]
async fn on_hdfs_hours_are_registered_as_they_land_and_spark_counts_them() {
    let hdfs = LocalHdfs::start();
    let landing = hdfs.landing_url("/data/web-events");
    let storage = lake::storage::operator_for(&landing).unwrap();
    hours_register_as_they_land(landing, &storage).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs pyspark and Java: run scripts/test.sh"]
async fn a_metastore_stopped_mid_stream_holds_no_landing_up_and_gets_every_hour_back() {
    let Setup {
        metastore,
        database,
        root,
        pipeline,
    } = on_a_folder();
    let first = clicks(150, hours_before_this_one(12), 2);
    pipeline.produce(&first);
    let consumer = spawn_consumer(pipeline.config.clone()).await;
    assert_eq!(
        wait_for_landed(root.path(), TOPIC, 150, Duration::from_secs(90)).await,
        150
    );
    let mut want = hours_of(&first);
    assert_eq!(
        wait_for_partitions(&metastore.uri, &database, &want, Duration::from_secs(30)).await,
        None
    );

    metastore.stop();
    let during = clicks(300, hours_before_this_one(8), 3);
    pipeline.produce(&during);
    let started = Instant::now();
    assert_eq!(
        wait_for_landed(root.path(), TOPIC, 450, Duration::from_secs(60)).await,
        450,
        "landing waited for the metastore"
    );
    eprintln!(
        "clicks landed with the metastore down in {:?}",
        started.elapsed()
    );
    assert!(
        wait_until(Duration::from_secs(30), || async {
            consumer.metric("hdfs_consumer_hive_hours_waiting").await >= Some(1.0)
                && consumer
                    .metric("hdfs_consumer_hive_registrations_total{outcome=\"failed\"}")
                    .await
                    >= Some(1.0)
        })
        .await,
        "the hours that wait for the metastore, or its failures, are not shown"
    );

    metastore.restart();
    want.extend(hours_of(&during));
    let back = Instant::now();
    if let Some(got) =
        wait_for_partitions(&metastore.uri, &database, &want, Duration::from_secs(60)).await
    {
        panic!(
            "not every hour was registered a minute after the metastore came back: {got:?}, want {want:?}"
        );
    }
    eprintln!(
        "every hour registered {:?} after the metastore was back",
        back.elapsed()
    );
    assert!(
        wait_until(Duration::from_secs(10), || async {
            consumer.metric("hdfs_consumer_hive_hours_waiting").await == Some(0.0)
        })
        .await
    );
    consumer.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs pyspark and Java: run scripts/test.sh"]
async fn expiry_drops_the_partitions_of_the_hours_it_deleted() {
    let Setup {
        metastore,
        database,
        root,
        pipeline,
    } = on_a_folder();
    let now = Utc::now();
    let old = clicks(150, now - TimeDelta::days(3), 3);
    let young = clicks(150, now - TimeDelta::hours(3), 2);
    pipeline.produce(&old);
    pipeline.produce(&young);
    let keeping = spawn_consumer(pipeline.config.clone()).await;
    assert_eq!(
        wait_for_landed(root.path(), TOPIC, 300, Duration::from_secs(90)).await,
        300
    );
    let all: BTreeSet<String> = hours_of(&old).into_iter().chain(hours_of(&young)).collect();
    assert_eq!(
        wait_for_partitions(&metastore.uri, &database, &all, Duration::from_secs(30)).await,
        None
    );
    keeping.stop().await;

    let mut retaining = pipeline.config.clone();
    retaining.retention = Some(Duration::from_secs(2 * 24 * 3600));
    let consumer = spawn_consumer(retaining).await;
    let want = hours_of(&young);
    if let Some(got) =
        wait_for_partitions(&metastore.uri, &database, &want, Duration::from_secs(90)).await
    {
        panic!("the expired hours' partitions are still there: {got:?}, want {want:?}");
    }
    let dropped = consumer
        .metric("hdfs_consumer_hive_registrations_total{outcome=\"dropped\"}")
        .await;
    assert!(dropped >= Some(hours_of(&old).len() as f64), "{dropped:?}");
    consumer.stop().await;
}

/// Writes, with pyarrow, a Parquet file of `rows` clicks as a version before `doNotTrack`
/// and `kafkaOffset` landed them.
fn write_old_file(path: &std::path::Path, rows: usize) {
    let program = r#"
import sys, datetime, pyarrow as pa, pyarrow.parquet as pq
rows = int(sys.argv[2])
at = datetime.datetime(2026, 1, 1, 0, 30, tzinfo=datetime.timezone.utc)
browser = pa.struct([(n, pa.string()) for n in ["name", "version", "category", "os", "osVersion", "vendor"]])
table = pa.table({
    "eventId": pa.array([f"00000000-0000-7000-8000-{n:012d}" for n in range(rows)]),
    "schemaVersion": pa.array([1] * rows, pa.int32()),
    "timestamp": pa.array([at] * rows, pa.timestamp("ms", tz="UTC")),
    "userName": pa.array(["old"] * rows),
    "colorName": pa.array(["red"] * rows),
    "userAgent": pa.array(["Mozilla/5.0"] * rows),
    "browser": pa.array([{"name": "Firefox", "version": "1", "category": "pc", "os": "Linux",
                          "osVersion": "", "vendor": "Mozilla"}] * rows, browser),
    "clientTimestamp": pa.array([None] * rows, pa.timestamp("ms", tz="UTC")),
})
pq.write_table(table, sys.argv[1], compression="zstd")
"#;
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let output = std::process::Command::new(spark_python())
        .args(["-c", program])
        .arg(path)
        .arg(rows.to_string())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs pyspark and Java: run scripts/test.sh"]
async fn a_table_made_before_a_field_gains_its_column_and_old_and_new_files_read_together() {
    let Setup {
        metastore,
        database,
        root,
        pipeline,
    } = on_a_folder();

    // The table as a version before doNotTrack and kafkaOffset made it, over a file of then.
    let mut old_spec = pipeline.config.hive_table().unwrap();
    old_spec
        .columns
        .retain(|c| c.name != "doNotTrack" && c.name != "kafkaOffset");
    let mut client = Client::connect(
        std::slice::from_ref(&metastore.uri),
        Duration::from_secs(30),
    )
    .await
    .unwrap();
    assert!(
        client
            .create_database(old_spec.database_struct())
            .await
            .unwrap()
    );
    assert!(client.create_table(old_spec.table_struct(0)).await.unwrap());
    let old_hour = "dt=2026-01-01/hour=00";
    write_old_file(
        &root
            .path()
            .join(TOPIC)
            .join(old_hour)
            .join("written-by-an-older-version.parquet"),
        7,
    );

    let new = clicks(240, hours_before_this_one(3), 2);
    pipeline.produce(&new);
    let consumer = spawn_consumer(pipeline.config.clone()).await;
    // The old file's rows count among the landed ones.
    assert_eq!(
        wait_for_landed(root.path(), TOPIC, 247, Duration::from_secs(90)).await,
        247
    );
    let mut want = hours_of(&new);
    want.insert(old_hour.to_owned());
    assert_eq!(
        wait_for_partitions(&metastore.uri, &database, &want, Duration::from_secs(30)).await,
        None
    );
    let table = client.get_table(&database, TABLE).await.unwrap().unwrap();
    let columns: Vec<String> = metastore::table::table_columns(&table)
        .into_iter()
        .map(|c| c.to_lowercase())
        .collect();
    assert_eq!(
        &columns[columns.len() - 2..],
        ["donottrack", "kafkaoffset"],
        "{columns:?}"
    );
    assert_eq!(
        consumer
            .metric("hdfs_consumer_hive_columns_added_total")
            .await,
        Some(2.0)
    );
    consumer.stop().await;

    let answers = spark(
        &metastore.uri,
        &database,
        &[
            "SELECT COUNT(*), COUNT(doNotTrack), COUNT(kafkaOffset) FROM select_color",
            "SELECT COUNT(*) FROM select_color WHERE userName = 'old' AND doNotTrack IS NULL",
        ],
    );
    let counts: Vec<u64> = answers[0][0].iter().map(|v| v.as_u64().unwrap()).collect();
    assert_eq!(
        counts,
        [247, 240, 240],
        "all rows; rows with the new columns"
    );
    assert_eq!(
        answers[1][0][0].as_u64(),
        Some(7),
        "the old file's rows read with the new columns null"
    );
}
