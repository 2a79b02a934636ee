//! Reading a `_bulk` answer. Elasticsearch answers 200 even when some items failed, so the
//! decision is taken item by item: 429 and 5xx are worth retrying; any other failure (a mapping
//! error, say) will fail again and goes to the dead-letter topic with its reason.

use serde_json::Value;

/// What became of one document of a bulk request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemOutcome {
    /// Created or overwritten.
    Indexed,
    /// Refused for now (429, 5xx): send again later.
    Retry { status: u16, reason: String },
    /// Refused for good: dead-letter it.
    Reject { status: u16, reason: String },
}

/// What to do with a whole bulk request, from the HTTP status of its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BulkStatus {
    /// 2xx: read the items.
    ReadItems,
    /// 429, 5xx, no answer at all, or a refusal that is about the cluster or our credentials
    /// (401, 403, 404, ...) rather than the documents: send the whole request again later.
    /// Dead-lettering good events because a password expired would be worse than waiting.
    RetryAll,
    /// 400 or 413: the request's content was refused as a whole (malformed, too large), so no
    /// item was indexed. Send it again in halves; a document refused alone is dead-lettered.
    Split,
}

pub fn classify_status(status: u16) -> BulkStatus {
    match status {
        200..=299 => BulkStatus::ReadItems,
        400 | 413 => BulkStatus::Split,
        _ => BulkStatus::RetryAll,
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResponseError {
    #[error("bulk answer is not JSON: {0}")]
    NotJson(String),
    #[error("bulk answer has no items array")]
    NoItems,
    #[error("bulk answer has {got} items for {sent} documents")]
    ItemCount { sent: usize, got: usize },
}

fn is_retryable(status: u16) -> bool {
    status == 429 || (500..=599).contains(&status)
}

fn outcome(item: &Value) -> ItemOutcome {
    // Each item is {"<action>": {...}}; the action is "index" here, but read whichever it is.
    let detail = item
        .as_object()
        .and_then(|o| o.values().next())
        .unwrap_or(&Value::Null);
    let status = detail["status"]
        .as_u64()
        .and_then(|s| u16::try_from(s).ok())
        .unwrap_or(0);
    if (200..=299).contains(&status) {
        return ItemOutcome::Indexed;
    }
    let error = &detail["error"];
    let reason = match (error["type"].as_str(), error["reason"].as_str()) {
        (Some(kind), Some(reason)) => format!("{kind}: {reason}"),
        (Some(kind), None) => kind.to_owned(),
        _ if error.is_string() => error.as_str().unwrap_or_default().to_owned(),
        _ => format!("status {status} without an error description"),
    };
    if is_retryable(status) {
        ItemOutcome::Retry { status, reason }
    } else {
        ItemOutcome::Reject { status, reason }
    }
}

/// Reads the items of a 2xx bulk answer for `sent` documents, in request order.
pub fn classify_items(body: &[u8], sent: usize) -> Result<Vec<ItemOutcome>, ResponseError> {
    let answer: Value =
        serde_json::from_slice(body).map_err(|e| ResponseError::NotJson(e.to_string()))?;
    let items = answer["items"].as_array().ok_or(ResponseError::NoItems)?;
    if items.len() != sent {
        return Err(ResponseError::ItemCount {
            sent,
            got: items.len(),
        });
    }
    if answer["errors"] == Value::Bool(false) {
        return Ok(vec![ItemOutcome::Indexed; sent]);
    }
    Ok(items.iter().map(outcome).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_request_status_decides_first() {
        assert_eq!(classify_status(200), BulkStatus::ReadItems);
        assert_eq!(classify_status(429), BulkStatus::RetryAll);
        assert_eq!(classify_status(503), BulkStatus::RetryAll);
        assert_eq!(classify_status(413), BulkStatus::Split);
        assert_eq!(classify_status(400), BulkStatus::Split);
        assert_eq!(
            classify_status(401),
            BulkStatus::RetryAll,
            "credentials, not data"
        );
        assert_eq!(classify_status(403), BulkStatus::RetryAll);
    }

    #[test]
    fn an_answer_without_errors_indexes_everything() {
        let body = br#"{"took":3,"errors":false,"items":[
            {"index":{"_index":"web-events-2026.11.22","_id":"a","_version":1,"result":"created","status":201}},
            {"index":{"_index":"web-events-2026.11.22","_id":"b","_version":2,"result":"updated","status":200}}]}"#;
        assert_eq!(
            classify_items(body, 2).unwrap(),
            vec![ItemOutcome::Indexed; 2]
        );
    }

    #[test]
    fn mixed_answers_are_read_item_by_item() {
        let body = br#"{"took":5,"errors":true,"items":[
            {"index":{"_index":"i","_id":"a","status":201,"result":"created"}},
            {"index":{"_index":"i","_id":"b","status":400,"error":{"type":"mapper_parsing_exception","reason":"failed to parse field [timestamp] of type [date]"}}},
            {"index":{"_index":"i","_id":"c","status":429,"error":{"type":"es_rejected_execution_exception","reason":"rejected execution of coordinating operation"}}},
            {"index":{"_index":"i","_id":"d","status":503,"error":{"type":"unavailable_shards_exception","reason":"primary shard is not active"}}},
            {"index":{"_index":"i","_id":"e","status":404,"error":"index_not_found"}}]}"#;
        let outcomes = classify_items(body, 5).unwrap();
        assert_eq!(outcomes[0], ItemOutcome::Indexed);
        assert_eq!(
            outcomes[1],
            ItemOutcome::Reject {
                status: 400,
                reason:
                    "mapper_parsing_exception: failed to parse field [timestamp] of type [date]"
                        .into()
            }
        );
        assert!(
            matches!(&outcomes[2], ItemOutcome::Retry { status: 429, reason } if reason.starts_with("es_rejected_execution_exception"))
        );
        assert!(matches!(
            outcomes[3],
            ItemOutcome::Retry { status: 503, .. }
        ));
        assert_eq!(
            outcomes[4],
            ItemOutcome::Reject {
                status: 404,
                reason: "index_not_found".into()
            }
        );
    }

    #[test]
    fn malformed_answers_are_errors_not_guesses() {
        assert!(matches!(
            classify_items(b"<html>", 1),
            Err(ResponseError::NotJson(_))
        ));
        assert_eq!(
            classify_items(br#"{"errors":false}"#, 1),
            Err(ResponseError::NoItems)
        );
        assert_eq!(
            classify_items(br#"{"errors":false,"items":[]}"#, 2),
            Err(ResponseError::ItemCount { sent: 2, got: 0 })
        );
    }
}
