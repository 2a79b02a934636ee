//! The search index's part: once es-sink's group has committed past every click produced
//! before the request, the clicks it erases are found (their ids kept as tombstones first, so a
//! replay cannot index them again), then deleted by query, with a user that may read and delete
//! documents and nothing more.
//!
//! A click is erased when it is named (its user name, compared composed, or its id) and was
//! produced before the request: its `kafkaOffset` is below its partition's end at the request.
//! Documents indexed before they carried where they were read are taken as made before.

use std::time::{Duration, Instant};

use elasticsearch::params::Conflicts;
use elasticsearch::{DeleteByQueryParts, Elasticsearch, SearchParts};
use serde::Serialize;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::config::Config;
use crate::kafka;
use crate::outcome::Outcome;
use crate::tombstones::TombstoneWriter;
use lake::ErasureRequest;

/// How often es-sink's committed offsets are read while waiting.
const POLL: Duration = Duration::from_millis(500);

/// Documents asked for at a time while their ids are gathered.
const PAGE: usize = 1000;

/// How often a delete by query is made again while documents change under it.
const DELETE_ATTEMPTS: u32 = 5;

/// What the delete by query found and deleted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Deleted {
    pub found: u64,
    pub deleted: u64,
}

/// The query that finds the clicks `request` erases: named, and produced before it.
pub fn query(request: &ErasureRequest) -> Value {
    let ids: Vec<String> = request.event_ids.iter().map(|id| id.to_string()).collect();
    let before: Vec<Value> = request
        .ends
        .iter()
        .map(|(partition, end)| {
            json!({ "bool": { "filter": [
                { "term": { "kafkaPartition": partition } },
                { "range": { "kafkaOffset": { "lt": end } } }
            ] } })
        })
        .chain([json!({ "bool": { "must_not": { "exists": { "field": "kafkaOffset" } } } })])
        .collect();
    json!({
        "query": { "bool": {
            "filter": [
                { "bool": {
                    "should": [
                        { "terms": { "userName.keyword": request.user_names } },
                        { "terms": { "eventId": ids } }
                    ],
                    "minimum_should_match": 1
                } },
                { "bool": { "should": before, "minimum_should_match": 1 } }
            ]
        } }
    })
}

/// What a delete-by-query answer says: done, worth making again (documents changed under it:
/// version conflicts), or failed, with the numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeleteAnswer {
    Done(Deleted),
    Conflicts { deleted: u64, conflicts: u64 },
    Failed(String),
}

/// Reads a delete-by-query answer: every document found must be deleted, in time, without a
/// failure; conflicts are made again; anything else is an error that carries the numbers.
pub fn delete_answer(status: u16, answer: &Value) -> DeleteAnswer {
    let number = |field: &str| answer[field].as_u64();
    let failures = answer["failures"].as_array().map_or(0, Vec::len);
    let (Some(total), Some(deleted)) = (number("total"), number("deleted")) else {
        return DeleteAnswer::Failed(format!(
            "the search cluster answered {status}: {}",
            answer.to_string().chars().take(300).collect::<String>()
        ));
    };
    let conflicts = number("version_conflicts").unwrap_or(0);
    if status != 200 || failures > 0 || answer["timed_out"].as_bool() == Some(true) {
        return DeleteAnswer::Failed(format!(
            "the search cluster answered {status}: {deleted} of {total} deleted, {failures} failure(s), {conflicts} conflict(s), timed out: {}",
            answer["timed_out"]
        ));
    }
    if conflicts > 0 {
        return DeleteAnswer::Conflicts { deleted, conflicts };
    }
    if deleted < total {
        return DeleteAnswer::Failed(format!(
            "the search cluster deleted {deleted} of the {total} clicks it found"
        ));
    }
    DeleteAnswer::Done(Deleted {
        found: total,
        deleted,
    })
}

/// Waits until es-sink has indexed every click before the request, keeps the erased clicks'
/// ids as tombstones, then deletes them.
pub async fn erase(
    config: &Config,
    request: &ErasureRequest,
    tombstones: &TombstoneWriter,
    deadline: Instant,
) -> Outcome<Deleted> {
    loop {
        let (args, group, ends) = (
            config.kafka.clone(),
            config.es_sink_group.clone(),
            request.ends.clone(),
        );
        let behind = tokio::task::spawn_blocking(move || kafka::behind(&args, &group, &ends))
            .await
            .expect("reading committed offsets does not panic");
        match behind {
            Ok(behind) if behind.is_empty() => break,
            Ok(behind) if Instant::now() >= deadline => {
                return Outcome::Unfinished(format!(
                    "es-sink (group {}) has not indexed every click before the request on partitions {behind:?}",
                    config.es_sink_group
                ));
            }
            Err(err) if Instant::now() >= deadline => return Outcome::Unfinished(err.to_string()),
            _ => tokio::time::sleep(POLL).await,
        }
    }
    let client = match config.search.client() {
        Ok(client) => client,
        Err(why) => return Outcome::Unfinished(why),
    };
    let pattern = config.search.index_pattern();
    let query = query(request);
    let ids = match erased_ids(&client, &pattern, &query).await {
        Ok(ids) => ids,
        Err(why) => return Outcome::Unfinished(why),
    };
    if let Err(err) = tombstones.keep(&ids, &request.id).await {
        return Outcome::Unfinished(err.to_string());
    }
    let mut conflicted = 0;
    for attempt in 1..=DELETE_ATTEMPTS {
        match delete(&client, &pattern, &query).await {
            DeleteAnswer::Done(mut deleted) => {
                deleted.deleted += conflicted;
                deleted.found = deleted.found.max(deleted.deleted);
                return Outcome::Erased(deleted);
            }
            DeleteAnswer::Conflicts { deleted, conflicts } => {
                conflicted += deleted;
                tracing::warn!(
                    attempt,
                    deleted,
                    conflicts,
                    "documents changed while they were deleted; deleting again"
                );
                tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
            }
            DeleteAnswer::Failed(why) => return Outcome::Unfinished(why),
        }
    }
    Outcome::Unfinished(format!(
        "documents kept changing while they were deleted, {DELETE_ATTEMPTS} times in a row"
    ))
}

/// The ids of the documents `query` finds, a page at a time.
async fn erased_ids(
    client: &Elasticsearch,
    pattern: &str,
    query: &Value,
) -> Result<Vec<Uuid>, String> {
    let mut ids = Vec::new();
    let mut after: Option<Value> = None;
    loop {
        let mut body = json!({
            "query": query["query"],
            "size": PAGE,
            "_source": false,
            "sort": [{ "eventId": "asc" }],
        });
        if let Some(after) = &after {
            body["search_after"] = after.clone();
        }
        let answer = client
            .search(SearchParts::Index(&[pattern]))
            .allow_no_indices(true)
            .body(body)
            .send()
            .await
            .map_err(|err| format!("cannot reach the search cluster: {err}"))?;
        let status = answer.status_code().as_u16();
        let answer: Value = answer.json().await.unwrap_or(Value::Null);
        let hits = match answer["hits"]["hits"].as_array() {
            Some(hits) if status == 200 => hits,
            _ => {
                return Err(format!(
                    "the search cluster answered {status} to the search for the clicks: {}",
                    answer.to_string().chars().take(300).collect::<String>()
                ));
            }
        };
        ids.extend(
            hits.iter()
                .filter_map(|hit| hit["_id"].as_str())
                .filter_map(|id| Uuid::parse_str(id).ok()),
        );
        if hits.len() < PAGE {
            return Ok(ids);
        }
        after = hits.last().map(|hit| hit["sort"].clone());
    }
}

/// One delete by query of what `query` finds.
async fn delete(client: &Elasticsearch, pattern: &str, query: &Value) -> DeleteAnswer {
    let answer = client
        .delete_by_query(DeleteByQueryParts::Index(&[pattern]))
        .conflicts(Conflicts::Proceed)
        .refresh(true)
        .allow_no_indices(true)
        .body(query.clone())
        .send()
        .await;
    let answer = match answer {
        Ok(answer) => answer,
        Err(err) => return DeleteAnswer::Failed(format!("cannot reach the search cluster: {err}")),
    };
    let status = answer.status_code().as_u16();
    let body = answer.json::<Value>().await.unwrap_or(Value::Null);
    delete_answer(status, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_finds_names_and_ids_made_before_each_partitions_end() {
        let request = ErasureRequest::new(
            [(0, 12), (2, 7)].into(),
            vec![" Rene\u{301}e ".into()],
            vec!["01939a7e-0000-7000-8000-000000000001".parse().unwrap()],
        );
        let q = query(&request);
        let filter = &q["query"]["bool"]["filter"];
        let named = &filter[0]["bool"]["should"];
        assert_eq!(
            named[0]["terms"]["userName.keyword"][0], "Ren\u{e9}e",
            "composed, trimmed"
        );
        assert_eq!(
            named[1]["terms"]["eventId"][0],
            "01939a7e-0000-7000-8000-000000000001"
        );
        let before = &filter[1]["bool"]["should"];
        assert_eq!(before[0]["bool"]["filter"][0]["term"]["kafkaPartition"], 0);
        assert_eq!(
            before[0]["bool"]["filter"][1]["range"]["kafkaOffset"]["lt"],
            12
        );
        assert_eq!(
            before[1]["bool"]["filter"][1]["range"]["kafkaOffset"]["lt"],
            7
        );
        assert_eq!(
            before[2]["bool"]["must_not"]["exists"]["field"], "kafkaOffset",
            "documents from before offsets were kept"
        );
    }

    #[test]
    fn a_delete_is_done_only_when_every_click_found_is_deleted_in_time() {
        assert_eq!(
            delete_answer(
                200,
                &json!({"total": 3, "deleted": 3, "failures": [], "timed_out": false, "version_conflicts": 0})
            ),
            DeleteAnswer::Done(Deleted {
                found: 3,
                deleted: 3
            })
        );
        assert_eq!(
            delete_answer(
                200,
                &json!({"total": 3, "deleted": 1, "failures": [], "version_conflicts": 2})
            ),
            DeleteAnswer::Conflicts {
                deleted: 1,
                conflicts: 2
            },
            "made again"
        );
        let short = delete_answer(200, &json!({"total": 3, "deleted": 2, "failures": []}));
        assert!(
            matches!(&short, DeleteAnswer::Failed(why) if why.contains("2 of the 3")),
            "{short:?}"
        );
        let late = delete_answer(
            200,
            &json!({"total": 3, "deleted": 1, "failures": [], "timed_out": true}),
        );
        assert!(
            matches!(&late, DeleteAnswer::Failed(why) if why.contains("1 of 3 deleted") && why.contains("timed out: true")),
            "{late:?}"
        );
        let failed = delete_answer(200, &json!({"total": 3, "deleted": 2, "failures": [{}]}));
        assert!(
            matches!(&failed, DeleteAnswer::Failed(why) if why.contains("1 failure")),
            "{failed:?}"
        );
        let forbidden = delete_answer(403, &json!({"error": {"type": "security_exception"}}));
        assert!(
            matches!(&forbidden, DeleteAnswer::Failed(why) if why.contains("403")),
            "{forbidden:?}"
        );
    }
}
