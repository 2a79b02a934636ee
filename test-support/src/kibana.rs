//! The Kibana saved objects the Docker stack imports (`compose/kibana/web-events.ndjson`).

use serde_json::Value;

/// Every saved object, in file order.
pub fn saved_objects() -> Vec<Value> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../compose/kibana/web-events.ndjson"
    );
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}
