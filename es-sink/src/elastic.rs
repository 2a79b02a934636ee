//! The cluster, as the sink sees it: a client built from the settings (authentication, CA),
//! the index template, a reachability probe, and `_bulk` requests. What each answer means is
//! decided in [`crate::response`]; here only whether an answer came at all.

use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use elasticsearch::indices::IndicesPutIndexTemplateParts;
use elasticsearch::{BulkParts, Elasticsearch};

use crate::Error;
use crate::config::Config;
use crate::response::{
    BulkAnswer, TemplateError, classify_bulk_answer, classify_probe, classify_template_answer,
};
use crate::template::index_template;

pub struct Elastic {
    client: Elasticsearch,
    index_prefix: String,
    /// Set when the cluster could not be reached: it may have been replaced by an empty one,
    /// so the template is put again before the next bulk request creates an index.
    template_unsure: AtomicBool,
}

impl Elastic {
    pub fn connect(config: &Config) -> Result<Self, Error> {
        Ok(Elastic {
            client: config.search.client().map_err(Error::Config)?,
            index_prefix: config.search.es_index_prefix.clone(),
            template_unsure: AtomicBool::new(false),
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

    /// Puts the index template. `Err(Retry)` when worth trying again, `Err(Refused)` when the
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
                if err.status_code().is_none() && !err.is_timeout() {
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
