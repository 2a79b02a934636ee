//! The index template for the daily `web-events-*` indices, with explicit mappings: a field the
//! event does not have is refused (`dynamic: strict`) rather than guessed. Beside the event's
//! fields, each document says where its record was read ([`provenance`]); indices made before
//! those fields existed are given them ([`provenance_mapping`]).

use serde_json::{Value, json};

use crate::bulk::{OFFSET_FIELD, PARTITION_FIELD};

/// The mappings of the fields that say where a document's record was read.
pub fn provenance() -> Value {
    json!({
        PARTITION_FIELD: { "type": "integer" },
        OFFSET_FIELD: { "type": "long" }
    })
}

/// The body for `PUT <prefix>-*/_mapping`: the provenance fields added to indices made before
/// them (adding a field to a mapping leaves the documents as they are).
pub fn provenance_mapping() -> Value {
    json!({ "properties": provenance() })
}

/// The template body for `PUT _index_template/<prefix>`.
pub fn index_template(prefix: &str) -> Value {
    let keyword = json!({ "type": "keyword" });
    json!({
        "index_patterns": [format!("{prefix}-*")],
        "priority": 200,
        "template": {
            "settings": { "number_of_shards": 1 },
            "mappings": {
                "dynamic": "strict",
                "properties": {
                    "eventId": keyword,
                    "schemaVersion": { "type": "integer" },
                    "timestamp": { "type": "date", "format": "strict_date_optional_time" },
                    "userName": { "type": "text", "fields": { "keyword": { "type": "keyword", "ignore_above": 256 } } },
                    "colorName": keyword,
                    "userAgent": { "type": "keyword", "ignore_above": 1024 },
                    "browser": {
                        "properties": {
                            "name": keyword, "version": keyword, "category": keyword,
                            "os": keyword, "osVersion": keyword, "vendor": keyword
                        }
                    },
                    "clientTimestamp": { "type": "date", "format": "strict_date_optional_time" },
                    "doNotTrack": { "type": "boolean" },
                    PARTITION_FIELD: provenance()[PARTITION_FIELD],
                    OFFSET_FIELD: provenance()[OFFSET_FIELD]
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn template_maps_exactly_the_event_fields() {
        let (mut fields, browser_fields) = common::event::json_field_names();
        fields.extend([PARTITION_FIELD.to_owned(), OFFSET_FIELD.to_owned()]);
        let template = index_template("web-events");
        let properties = &template["template"]["mappings"]["properties"];
        let mapped: BTreeSet<String> = properties.as_object().unwrap().keys().cloned().collect();
        assert_eq!(mapped, fields);
        let browser_mapped: BTreeSet<String> = properties["browser"]["properties"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        assert_eq!(browser_mapped, browser_fields);
    }

    #[test]
    fn template_types_are_the_ones_kibana_needs() {
        let template = index_template("web-events");
        assert_eq!(template["index_patterns"], json!(["web-events-*"]));
        let p = &template["template"]["mappings"]["properties"];
        assert_eq!(p["colorName"]["type"], "keyword");
        assert_eq!(p["eventId"]["type"], "keyword");
        assert_eq!(p["timestamp"]["type"], "date");
        assert_eq!(p["userName"]["type"], "text");
        assert_eq!(p["userName"]["fields"]["keyword"]["type"], "keyword");
        assert_eq!(p["browser"]["properties"]["os"]["type"], "keyword");
        assert_eq!(p["kafkaOffset"]["type"], "long");
        assert_eq!(
            provenance_mapping()["properties"]["kafkaPartition"]["type"],
            "integer"
        );
    }
}
