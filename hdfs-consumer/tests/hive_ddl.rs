//! Both definitions of the Hive table in scripts/hive/ must name exactly the fields an event
//! has: `create-table.sql` for Hive 4 (compose), `create-table-spark.sql` for Spark SQL on one
//! machine.

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
    for definition in [ddl(), spark_ddl()] {
        let (columns, browser) = columns(&definition);
        assert_eq!(columns, event_fields);
        assert_eq!(browser, browser_fields);
    }
}

#[test]
fn the_spark_table_reads_the_same_folders_as_json() {
    let ddl = spark_ddl();
    assert!(ddl.contains("USING json"));
    assert!(ddl.contains("PARTITIONED BY (dt STRING, hour STRING)"));
    assert!(ddl.contains("LOCATION '${hivevar:landing_root}/select-color'"));
}

#[test]
fn hive_table_is_partitioned_like_the_landing_layout() {
    let ddl = ddl();
    assert!(ddl.contains("PARTITIONED BY (dt STRING, hour STRING)"));
    let hour = hdfs_consumer::layout::HourPartition::of(&chrono::Utc::now()).dir();
    assert!(hour.starts_with("dt=") && hour.contains("/hour="), "{hour}");
    assert!(ddl.contains("LOCATION '${hivevar:landing_root}/select-color'"));
}
