//! The Hive table in scripts/hive/ must name exactly the fields an event has.

use std::collections::BTreeSet;

fn ddl() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../scripts/hive/create-table.sql"
    ))
    .unwrap()
}

/// Columns between `CREATE EXTERNAL TABLE ... (` and `)\nPARTITIONED BY`, with struct fields.
fn columns(ddl: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let start = ddl.find("select_color (").expect("table definition") + "select_color (".len();
    let end = ddl.find("PARTITIONED BY").expect("partition clause");
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
    let (columns, browser) = columns(&ddl());
    assert_eq!(columns, event_fields);
    assert_eq!(browser, browser_fields);
}

#[test]
fn hive_table_is_partitioned_like_the_landing_layout() {
    let ddl = ddl();
    assert!(ddl.contains("PARTITIONED BY (dt STRING, hour STRING)"));
    let hour = hdfs_consumer::layout::HourPartition::of(&chrono::Utc::now()).dir();
    assert!(hour.starts_with("dt=") && hour.contains("/hour="), "{hour}");
    assert!(ddl.contains("LOCATION '${hivevar:landing_root}/select-color'"));
}
