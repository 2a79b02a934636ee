//! The search index's part: once es-sink's group has committed past every click produced
//! before the request, the named clicks are deleted by query, with a user that may read and
//! delete documents and nothing more.

use std::time::{Duration, Instant};

use elasticsearch::DeleteByQueryParts;
use elasticsearch::params::Conflicts;
use serde::Serialize;
use serde_json::{Value, json};

use crate::config::Config;
use crate::kafka;
use crate::outcome::Outcome;
use lake::ErasureRequest;

/// How often es-sink's committed offsets are read while waiting.
const POLL: Duration = Duration::from_millis(500);

/// What the delete by query found and deleted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Deleted {
    pub found: u64,
    pub deleted: u64,
}

/// The query that finds the clicks `request` names.
pub fn query(request: &ErasureRequest) -> Value {
    let ids: Vec<String> = request.event_ids.iter().map(|id| id.to_string()).collect();
    json!({
        "query": { "bool": {
            "should": [
                { "terms": { "userName.keyword": request.user_names } },
                { "terms": { "eventId": ids } }
            ],
            "minimum_should_match": 1
        } }
    })
}

/// What a delete-by-query answer says: the counts, or why it failed.
pub fn deleted(status: u16, answer: &Value) -> Result<Deleted, String> {
    let failures = answer["failures"].as_array().map_or(0, Vec::len);
    match (status, answer["total"].as_u64(), answer["deleted"].as_u64()) {
        (200, Some(found), Some(deleted)) if failures == 0 => Ok(Deleted { found, deleted }),
        _ => Err(format!(
            "the search cluster answered {status}: {}",
            answer.to_string().chars().take(300).collect::<String>()
        )),
    }
}

/// Waits until es-sink has indexed every click before the request, then deletes the named ones.
pub async fn erase(
    config: &Config,
    request: &ErasureRequest,
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
    let answer = client
        .delete_by_query(DeleteByQueryParts::Index(&[pattern.as_str()]))
        .conflicts(Conflicts::Proceed)
        .refresh(true)
        .body(query(request))
        .send()
        .await;
    let answer = match answer {
        Ok(answer) => answer,
        Err(err) => return Outcome::Unfinished(format!("cannot reach the search cluster: {err}")),
    };
    let status = answer.status_code().as_u16();
    let body = answer.json::<Value>().await.unwrap_or(Value::Null);
    match deleted(status, &body) {
        Ok(deleted) => Outcome::Erased(deleted),
        Err(why) => Outcome::Unfinished(why),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_matches_names_exactly_and_ids() {
        let request = ErasureRequest::new(
            [(0, 1)].into(),
            vec!["Ada".into()],
            vec!["01939a7e-0000-7000-8000-000000000001".parse().unwrap()],
        );
        let q = query(&request);
        let should = &q["query"]["bool"]["should"];
        assert_eq!(should[0]["terms"]["userName.keyword"][0], "Ada");
        assert_eq!(
            should[1]["terms"]["eventId"][0],
            "01939a7e-0000-7000-8000-000000000001"
        );
        assert_eq!(q["query"]["bool"]["minimum_should_match"], 1);
    }

    #[test]
    fn an_answer_with_failures_or_an_error_is_not_done() {
        assert_eq!(
            deleted(200, &json!({"total": 3, "deleted": 3, "failures": []})),
            Ok(Deleted {
                found: 3,
                deleted: 3
            })
        );
        assert!(deleted(200, &json!({"total": 3, "deleted": 2, "failures": [{}]})).is_err());
        let forbidden = deleted(403, &json!({"error": {"type": "security_exception"}}));
        assert!(forbidden.unwrap_err().contains("403"));
    }
}
