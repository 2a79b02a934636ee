//! Every definition of the Hive table in scripts/hive/ must name exactly the fields an event
//! has: `create-table.sql` for Hive 4 (compose), `create-table-spark.sql` for Spark SQL on one
//! machine, both over Parquet (the default landing format), and their `-json` twins over
//! JSON-lines files.

use std::collections::BTreeSet;

fn read(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/../scripts/hive/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

/// The Hive 4 definition the compose stack runs.
fn ddl() -> String {
    read("create-table.sql")
}

/// The definition Spark SQL runs.
fn spark_ddl() -> String {
    read("create-table-spark.sql")
}

/// The four definitions: Hive 4 and Spark, Parquet and JSON lines.
fn all_ddls() -> [String; 4] {
    [
        ddl(),
        spark_ddl(),
        read("create-table-json.sql"),
        read("create-table-spark-json.sql"),
    ]
}

/// Columns between `select_color (` and the line that closes it, with struct fields.
fn columns(ddl: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let start = ddl.find("select_color (").expect("table definition") + "select_color (".len();
    let end = start + ddl[start..].find("\n)\n").expect("the column list's end");
    let body = &ddl[start..end];
    let mut columns = BTreeSet::new();
    let mut browser = BTreeSet::new();
    for line in body
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && *l != ")")
    {
        let name = line
            .split_whitespace()
            .next()
            .unwrap()
            .trim_matches('`')
            .to_owned();
        if let Some(fields) = line.strip_prefix("browser STRUCT<") {
            for field in fields
                .trim_end_matches(',')
                .trim_end_matches('>')
                .split(',')
            {
                browser.insert(field.split(':').next().unwrap().trim().to_owned());
            }
        }
        columns.insert(name);
    }
    (columns, browser)
}

#[test]
fn hive_columns_are_the_event_fields() {
    let (event_fields, browser_fields) = common::event::json_field_names();
    for definition in all_ddls() {
        let (columns, browser) = columns(&definition);
        assert_eq!(columns, event_fields);
        assert_eq!(browser, browser_fields);
    }
}

#[test]
fn the_spark_tables_read_the_same_folders_in_each_format() {
    for (name, source) in [
        ("create-table-spark.sql", "USING parquet"),
        ("create-table-spark-json.sql", "USING json"),
    ] {
        let ddl = read(name);
        assert!(ddl.contains(source), "{name}");
        assert!(
            ddl.contains("PARTITIONED BY (dt STRING, hour STRING)"),
            "{name}"
        );
        assert!(
            ddl.contains("LOCATION '${hivevar:landing_root}/select-color'"),
            "{name}"
        );
    }
}

#[test]
fn parquet_tables_read_times_as_timestamps_and_json_tables_as_text() {
    let column = |ddl: &str, name: &str| {
        ddl.lines()
            .map(str::trim)
            .find(|l| {
                l.trim_matches(|c| c == '`').starts_with(name)
                    || l.starts_with(&format!("`{name}`"))
            })
            .unwrap_or_else(|| panic!("no column {name}"))
            .to_owned()
    };
    for ddl in [ddl(), spark_ddl()] {
        assert!(column(&ddl, "timestamp").contains("TIMESTAMP,"));
        assert!(column(&ddl, "clientTimestamp").contains("TIMESTAMP"));
    }
    for ddl in [
        read("create-table-json.sql"),
        read("create-table-spark-json.sql"),
    ] {
        assert!(column(&ddl, "timestamp").contains("STRING"));
    }
}

/// The table hdfs-consumer makes in a metastore and the one these files make are the same
/// table: each file's columns with their types, and the row offset the consumer adds.
#[test]
fn the_table_the_consumer_makes_is_the_one_the_ddls_declare() {
    for (name, format) in [
        ("create-table.sql", lake::LandingFormat::Parquet),
        ("create-table-json.sql", lake::LandingFormat::Json),
    ] {
        let ddl = read(name);
        assert!(
            !ddl.contains("discover.partitions"),
            "{name}: Hive's discovery is off"
        );
        let start = ddl.find("select_color (").unwrap() + "select_color (".len();
        let end = start + ddl[start..].find("\n)\n").unwrap();
        let declared: Vec<(String, String)> = ddl[start..end]
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(|line| {
                let (name, kind) = line.split_once(' ').unwrap();
                let kind: String = kind.trim_end_matches(',').split_whitespace().collect();
                (name.trim_matches('`').to_owned(), kind.to_lowercase())
            })
            .collect();
        // Hive's types are not case-sensitive, struct fields included.
        let made: Vec<(String, String)> = lake::file_format::hive_columns::hive_columns(format)
            .into_iter()
            .map(|(name, kind)| (name, kind.to_lowercase()))
            .collect();
        let (offset, columns) = made.split_last().unwrap();
        assert_eq!(columns, declared.as_slice(), "{name}");
        assert_eq!(offset.0, "kafkaOffset");
    }
}

#[test]
fn hive_table_is_partitioned_like_the_landing_layout() {
    let ddl = ddl();
    assert!(ddl.contains("PARTITIONED BY (dt STRING, hour STRING)"));
    let hour = lake::HourPartition::of(&chrono::Utc::now()).dir();
    assert!(hour.starts_with("dt=") && hour.contains("/hour="), "{hour}");
    assert!(ddl.contains("LOCATION '${hivevar:landing_root}/select-color'"));
}
