//! The Kibana saved objects the compose stack imports (`compose/kibana/web-events.ndjson`)
//! refer to fields the event really has, mapped by the index template as types Kibana can
//! aggregate, and to objects that exist.

use std::collections::HashSet;

use serde_json::Value;

fn objects() -> Vec<Value> {
    test_support::kibana::saved_objects()
}

/// The template's type of a dotted field path (`browser.name`).
fn mapped_type(path: &str) -> Option<String> {
    let template = es_sink::template::index_template("web-events");
    let mut node = &template["template"]["mappings"];
    for part in path.split('.') {
        node = &node["properties"][part];
    }
    node["type"].as_str().map(str::to_owned)
}

#[test]
fn every_field_a_visualization_uses_is_an_aggregatable_event_field() {
    let (fields, browser_fields) = common::event::json_field_names();
    let known: HashSet<String> = fields
        .into_iter()
        .chain(browser_fields.into_iter().map(|f| format!("browser.{f}")))
        .collect();
    let mut used = Vec::new();
    for object in objects() {
        match object["type"].as_str().unwrap() {
            "index-pattern" => used.push(
                object["attributes"]["timeFieldName"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            ),
            "visualization" => {
                let state: Value =
                    serde_json::from_str(object["attributes"]["visState"].as_str().unwrap())
                        .unwrap();
                for agg in state["aggs"].as_array().unwrap() {
                    if let Some(field) = agg["params"]["field"].as_str() {
                        used.push(field.to_owned());
                    }
                }
            }
            _ => {}
        }
    }
    assert!(used.len() >= 4, "{used:?}");
    for field in &used {
        assert!(known.contains(field), "{field} is not a field of the event");
        let kind = mapped_type(field);
        assert!(
            matches!(kind.as_deref(), Some("keyword" | "date")),
            "{field} is mapped as {kind:?}, which Kibana cannot aggregate"
        );
    }
    for wanted in ["colorName", "timestamp", "browser.name"] {
        assert!(used.iter().any(|f| f == wanted), "nothing shows {wanted}");
    }
}

#[test]
fn every_reference_points_at_an_imported_object() {
    let objects = objects();
    let ids: HashSet<(String, String)> = objects
        .iter()
        .map(|o| {
            (
                o["type"].as_str().unwrap().to_owned(),
                o["id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    for object in &objects {
        for reference in object["references"].as_array().unwrap() {
            let target = (
                reference["type"].as_str().unwrap().to_owned(),
                reference["id"].as_str().unwrap().to_owned(),
            );
            assert!(ids.contains(&target), "{target:?} is not imported");
        }
    }
    let dashboard = objects.iter().find(|o| o["type"] == "dashboard").unwrap();
    let panels: Vec<Value> =
        serde_json::from_str(dashboard["attributes"]["panelsJSON"].as_str().unwrap()).unwrap();
    let references: HashSet<&str> = dashboard["references"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(panels.len(), 3);
    for panel in &panels {
        assert!(references.contains(panel["panelRefName"].as_str().unwrap()));
    }
}
