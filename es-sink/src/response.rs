//! What the cluster's answers mean, in one place: to a `_bulk` request, to putting the index
//! template, and to the reachability probe. Pure functions of status and body.
//!
//! Elasticsearch answers a bulk request 200 even when some items failed, so the decision is
//! taken item by item: 429 and 5xx are worth retrying; any other failure (a mapping error, say)
//! will fail again and goes to the dead-letter topic with its reason.

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

/// The answer to one bulk request, read.
#[derive(Debug)]
pub enum BulkAnswer {
    /// One outcome per document, in request order.
    Items(Vec<ItemOutcome>),
    /// Nothing was indexed for a passing reason; send everything again later.
    /// `kind` is a short label (`unreachable`, `http_503`, ...).
    Retry { kind: String, reason: String },
    /// The request's content was refused as a whole (400, 413).
    Split { status: u16, reason: String },
}

/// Longest part of an error answer kept in a reason.
const REASON_MAX: usize = 512;

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

fn classify_status(status: u16) -> BulkStatus {
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

/// What a bulk answer of HTTP `status` with body `answer` for `docs` documents means.
pub fn classify_bulk_answer(status: u16, answer: &[u8], docs: usize) -> BulkAnswer {
    match classify_status(status) {
        BulkStatus::ReadItems => match classify_items(answer, docs) {
            Ok(items) => BulkAnswer::Items(items),
            Err(err) => BulkAnswer::Retry {
                kind: "unreadable_answer".into(),
                reason: err.to_string(),
            },
        },
        BulkStatus::RetryAll => BulkAnswer::Retry {
            kind: format!("http_{status}"),
            reason: format!(
                "HTTP {status}: {}",
                truncate(&String::from_utf8_lossy(answer))
            ),
        },
        BulkStatus::Split => BulkAnswer::Split {
            status,
            reason: error_reason(answer)
                .unwrap_or_else(|| format!("request refused with HTTP {status}")),
        },
    }
}

/// `type: reason` of an Elasticsearch error answer.
fn error_reason(answer: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(answer).ok()?;
    let error = &value["error"];
    match (error["type"].as_str(), error["reason"].as_str()) {
        (Some(kind), Some(reason)) => Some(format!("{kind}: {}", truncate(reason))),
        (Some(kind), None) => Some(kind.to_owned()),
        _ => error.as_str().map(|s| truncate(s).to_owned()),
    }
}

/// Why the index template is not in place.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("{0}")]
    Retry(String),
    #[error("{0}")]
    Refused(String),
}

/// What an answer of HTTP `status` with `body` to putting the index template means: in place,
/// worth trying again (429, 5xx), or refused for a reason waiting will not fix.
pub fn classify_template_answer(status: u16, body: &str) -> Result<(), TemplateError> {
    if (200..=299).contains(&status) {
        return Ok(());
    }
    let reason = format!("HTTP {status}: {}", truncate(body));
    if is_retryable(status) {
        Err(TemplateError::Retry(reason))
    } else {
        Err(TemplateError::Refused(reason))
    }
}

/// Whether an answer of HTTP `status` to the probe means the cluster is there for the sink:
/// any answer below 500 shows it is reachable, unless it refuses the sink's credentials.
pub fn classify_probe(status: u16) -> Result<(), String> {
    match status {
        401 | 403 => Err(format!("cluster refuses our credentials (HTTP {status})")),
        500.. => Err(format!("HTTP {status}")),
        _ => Ok(()),
    }
}

fn truncate(text: &str) -> &str {
    if text.len() <= REASON_MAX {
        return text;
    }
    let mut end = REASON_MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
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

    #[test]
    fn a_413_is_split_with_the_clusters_reason() {
        let answer = br#"{"error":{"type":"content_too_long_exception","reason":"request too large"},"status":413}"#;
        match classify_bulk_answer(413, answer, 10) {
            BulkAnswer::Split { status, reason } => {
                assert_eq!(status, 413);
                assert_eq!(reason, "content_too_long_exception: request too large");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            classify_bulk_answer(413, b"", 1),
            BulkAnswer::Split { status: 413, .. }
        ));
    }

    #[test]
    fn unavailable_and_unauthorized_are_retried_whole() {
        for status in [429, 503, 401] {
            match classify_bulk_answer(status, b"{}", 3) {
                BulkAnswer::Retry { kind, .. } => assert_eq!(kind, format!("http_{status}")),
                other => panic!("{status}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_2xx_answer_that_cannot_be_read_is_retried_not_trusted() {
        assert!(matches!(
            classify_bulk_answer(200, b"<html>", 3),
            BulkAnswer::Retry { kind, .. } if kind == "unreadable_answer"
        ));
    }

    #[test]
    fn long_reasons_are_cut_on_a_character_boundary() {
        let long = "가".repeat(400);
        let cut = truncate(&long);
        assert!(cut.len() <= REASON_MAX);
        assert!(long.starts_with(cut));
    }

    #[test]
    fn a_template_is_retried_while_the_cluster_is_busy_and_refused_otherwise() {
        assert!(classify_template_answer(200, "").is_ok());
        assert!(matches!(
            classify_template_answer(503, "unavailable"),
            Err(TemplateError::Retry(reason)) if reason == "HTTP 503: unavailable"
        ));
        assert!(matches!(
            classify_template_answer(429, ""),
            Err(TemplateError::Retry(_))
        ));
        assert!(matches!(
            classify_template_answer(400, "bad mapping"),
            Err(TemplateError::Refused(reason)) if reason == "HTTP 400: bad mapping"
        ));
    }

    #[test]
    fn the_probe_counts_any_answer_but_refused_credentials_and_server_errors() {
        assert_eq!(classify_probe(200), Ok(()));
        assert_eq!(classify_probe(404), Ok(()));
        assert!(classify_probe(401).unwrap_err().contains("credentials"));
        assert!(classify_probe(403).unwrap_err().contains("credentials"));
        assert_eq!(classify_probe(503), Err("HTTP 503".into()));
    }
}
