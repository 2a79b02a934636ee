//! The cluster, as the sink sees it: a client built from the settings (authentication, CA),
//! the index template, a reachability probe, and `_bulk` requests. What each answer means is
//! decided in [`crate::response`]; here only whether an answer came at all.

use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use elasticsearch::cat::CatIndicesParts;
use elasticsearch::indices::{
    IndicesDeleteParts, IndicesPutIndexTemplateParts, IndicesPutMappingParts,
};
use elasticsearch::params::Conflicts;
use elasticsearch::{BulkParts, DeleteByQueryParts, Elasticsearch};

use common::search::SearchArgs;

use crate::response::{
    BulkAnswer, TemplateError, classify_bulk_answer, classify_probe, classify_template_answer,
};
use crate::template::{index_template, provenance_mapping};

pub struct Elastic {
    client: Elasticsearch,
    index_prefix: String,
    /// Set when the cluster could not be reached: it may have been replaced by an empty one,
    /// so the template is put again before the next bulk request creates an index.
    template_unsure: AtomicBool,
    /// Whether this sink puts the template; not when a setup job did.
    puts_template: bool,
}

impl Elastic {
    /// A client of the cluster `search` names, which puts the index template when
    /// `puts_template`; `Err` says which setting is wrong.
    pub fn connect(search: &SearchArgs, puts_template: bool) -> Result<Self, String> {
        Ok(Elastic {
            client: search.client()?,
            index_prefix: search.es_index_prefix.clone(),
            template_unsure: AtomicBool::new(false),
            puts_template,
        })
    }

    pub fn index_prefix(&self) -> &str {
        &self.index_prefix
    }

    /// Whether the cluster answers (any HTTP answer below 500 counts: the process can reach it).
    pub async fn probe(&self) -> Result<(), String> {
        match self.client.info().send().await {
            Ok(response) => classify_probe(response.status_code().as_u16()),
            Err(err) => Err(describe(&err)),
        }
    }

    /// Puts the index template, and the provenance fields' mapping on the indices made before
    /// them. `Err(Retry)` when worth trying again, `Err(Refused)` when the
    /// cluster refused it for a reason waiting will not fix.
    pub async fn put_template(&self) -> Result<(), TemplateError> {
        let response = self
            .client
            .indices()
            .put_index_template(IndicesPutIndexTemplateParts::Name(&self.index_prefix))
            .body(index_template(&self.index_prefix))
            .send()
            .await
            .map_err(|e| TemplateError::Retry(describe(&e)))?;
        let status = response.status_code().as_u16();
        let body = response.text().await.unwrap_or_default();
        classify_template_answer(status, &body)?;
        // Indices made before the provenance fields take them too: a document that has them
        // would otherwise be refused by their strict mapping.
        let pattern = format!("{}-*", self.index_prefix);
        let response = self
            .client
            .indices()
            .put_mapping(IndicesPutMappingParts::Index(&[pattern.as_str()]))
            .allow_no_indices(true)
            .body(provenance_mapping())
            .send()
            .await
            .map_err(|e| TemplateError::Retry(describe(&e)))?;
        let status = response.status_code().as_u16();
        let body = response.text().await.unwrap_or_default();
        classify_template_answer(status, &body)?;
        self.template_unsure.store(false, Ordering::SeqCst);
        Ok(())
    }

    /// Sends one `_bulk` request of `docs` documents and reads its answer.
    pub async fn bulk(&self, body: Vec<u8>, docs: usize) -> BulkAnswer {
        if self.template_unsure.load(Ordering::SeqCst)
            && let Err(err) = self.put_template().await
        {
            let (kind, reason) = match err {
                TemplateError::Retry(r) => ("unreachable", r),
                TemplateError::Refused(r) => ("template_refused", r),
            };
            return BulkAnswer::Retry {
                kind: kind.into(),
                reason: format!("cannot put the index template again: {reason}"),
            };
        }
        let sent = self
            .client
            .bulk(BulkParts::None)
            .body(vec![Bytes::from(body)])
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            Err(err) => {
                if err.status_code().is_none() && !err.is_timeout() && self.puts_template {
                    self.template_unsure.store(true, Ordering::SeqCst);
                }
                return BulkAnswer::Retry {
                    kind: if err.is_timeout() {
                        "timeout".into()
                    } else {
                        "unreachable".into()
                    },
                    reason: describe(&err),
                };
            }
        };
        let status = response.status_code().as_u16();
        let answer = match response.bytes().await {
            Ok(answer) => answer,
            Err(err) => {
                return BulkAnswer::Retry {
                    kind: "unreachable".into(),
                    reason: format!("answer cut short: {}", describe(&err)),
                };
            }
        };
        classify_bulk_answer(status, &answer, docs)
    }

    /// The names of the sink's daily indices (`<prefix>-*`).
    pub async fn indices(&self) -> Result<Vec<String>, String> {
        let pattern = format!("{}-*", self.index_prefix);
        let response = self
            .client
            .cat()
            .indices(CatIndicesParts::Index(&[&pattern]))
            .format("json")
            .h(&["index"])
            .send()
            .await
            .map_err(|e| describe(&e))?;
        let status = response.status_code().as_u16();
        let body = response.text().await.map_err(|e| describe(&e))?;
        if status >= 300 {
            return Err(format!("listing {pattern} answered {status}: {body}"));
        }
        let rows: Vec<serde_json::Value> = serde_json::from_str(&body)
            .map_err(|e| format!("listing {pattern}: not a JSON list ({e}): {body}"))?;
        Ok(rows
            .iter()
            .filter_map(|row| row["index"].as_str().map(str::to_owned))
            .collect())
    }

    /// Deletes an index; `false` when it was already gone (another process deleted it).
    pub async fn delete_index(&self, index: &str) -> Result<bool, String> {
        let response = self
            .client
            .indices()
            .delete(IndicesDeleteParts::Index(&[index]))
            .send()
            .await
            .map_err(|e| describe(&e))?;
        match response.status_code().as_u16() {
            200..=299 => Ok(true),
            404 => Ok(false),
            status => Err(format!(
                "deleting {index} answered {status}: {}",
                response.text().await.unwrap_or_default()
            )),
        }
    }

    /// Deletes the documents of `index` whose `timestamp` is before `limit`; how many.
    pub async fn delete_older_than(
        &self,
        index: &str,
        limit: &chrono::DateTime<chrono::Utc>,
    ) -> Result<u64, String> {
        let response = self
            .client
            .delete_by_query(DeleteByQueryParts::Index(&[index]))
            .ignore_unavailable(true)
            .conflicts(Conflicts::Proceed)
            .refresh(true)
            .body(serde_json::json!({
                "query": { "range": { "timestamp": { "lt": common::event::format_timestamp(limit) } } }
            }))
            .send()
            .await
            .map_err(|e| describe(&e))?;
        let status = response.status_code().as_u16();
        let body: serde_json::Value = response.json().await.map_err(|e| describe(&e))?;
        if status >= 300 {
            return Err(format!(
                "deleting old clicks of {index} answered {status}: {body}"
            ));
        }
        Ok(body["deleted"].as_u64().unwrap_or(0))
    }
}

/// The error with its causes: reqwest's top-level message alone ("error sending request")
/// does not say what went wrong.
fn describe(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
