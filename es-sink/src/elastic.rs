//! The cluster, as the sink sees it: a client built from the settings (authentication, CA),
//! the index template, a reachability probe, and `_bulk` requests whose answers are already
//! classified.

use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use elasticsearch::auth::Credentials;
use elasticsearch::cert::{Certificate, CertificateValidation};
use elasticsearch::http::transport::{SingleNodeConnectionPool, TransportBuilder};
use elasticsearch::indices::IndicesPutIndexTemplateParts;
use elasticsearch::{BulkParts, Elasticsearch};

use crate::Error;
use crate::config::Config;
use crate::response::{BulkStatus, ItemOutcome, classify_items, classify_status};
use crate::template::index_template;

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

pub struct Elastic {
    client: Elasticsearch,
    index_prefix: String,
    /// Set when the cluster could not be reached: it may have been replaced by an empty one,
    /// so the template is put again before the next bulk request creates an index.
    template_unsure: AtomicBool,
}

/// Longest part of an error answer kept in a reason.
const REASON_MAX: usize = 512;

impl Elastic {
    pub fn connect(config: &Config) -> Result<Self, Error> {
        let invalid = |reason: String| Error::Config(reason);
        let pool = SingleNodeConnectionPool::new(config.es_url.clone());
        let mut transport = TransportBuilder::new(pool).timeout(config.es_request_timeout);
        if let (Some(user), Some(password)) = (&config.es_username, &config.es_password) {
            transport = transport.auth(Credentials::Basic(user.clone(), password.clone()));
        }
        if let Some(key) = &config.es_api_key {
            transport = transport.auth(Credentials::EncodedApiKey(key.clone()));
        }
        if let Some(path) = &config.es_ca_cert {
            let pem = std::fs::read(path)
                .map_err(|e| invalid(format!("cannot read ES_CA_CERT {}: {e}", path.display())))?;
            let certificate = Certificate::from_pem(&pem).map_err(|e| {
                invalid(format!(
                    "ES_CA_CERT {} is not a PEM certificate: {e}",
                    path.display()
                ))
            })?;
            transport = transport.cert_validation(CertificateValidation::Full(certificate));
        }
        let transport = transport
            .build()
            .map_err(|e| invalid(format!("cannot build the Elasticsearch client: {e}")))?;
        Ok(Elastic {
            client: Elasticsearch::new(transport),
            index_prefix: config.es_index_prefix.clone(),
            template_unsure: AtomicBool::new(false),
        })
    }

    pub fn index_prefix(&self) -> &str {
        &self.index_prefix
    }

    /// Whether the cluster answers (any HTTP answer below 500 counts: the process can reach it).
    pub async fn probe(&self) -> Result<(), String> {
        match self.client.info().send().await {
            Ok(response) if response.status_code().as_u16() < 500 => {
                let status = response.status_code().as_u16();
                if status == 401 || status == 403 {
                    Err(format!("cluster refuses our credentials (HTTP {status})"))
                } else {
                    Ok(())
                }
            }
            Ok(response) => Err(format!("HTTP {}", response.status_code().as_u16())),
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
        if (200..300).contains(&status) {
            self.template_unsure.store(false, Ordering::SeqCst);
            return Ok(());
        }
        let body = response.text().await.unwrap_or_default();
        let reason = format!("HTTP {status}: {}", truncate(&body));
        if status == 429 || status >= 500 {
            Err(TemplateError::Retry(reason))
        } else {
            Err(TemplateError::Refused(reason))
        }
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
        read_answer(status, &answer, docs)
    }
}

/// Reads a bulk answer of HTTP `status` with body `answer` for `docs` documents.
pub fn read_answer(status: u16, answer: &[u8], docs: usize) -> BulkAnswer {
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

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("{0}")]
    Retry(String),
    #[error("{0}")]
    Refused(String),
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
    fn a_413_is_split_with_the_clusters_reason() {
        let answer = br#"{"error":{"type":"content_too_long_exception","reason":"request too large"},"status":413}"#;
        match read_answer(413, answer, 10) {
            BulkAnswer::Split { status, reason } => {
                assert_eq!(status, 413);
                assert_eq!(reason, "content_too_long_exception: request too large");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            read_answer(413, b"", 1),
            BulkAnswer::Split { status: 413, .. }
        ));
    }

    #[test]
    fn unavailable_and_unauthorized_are_retried_whole() {
        for status in [429, 503, 401] {
            match read_answer(status, b"{}", 3) {
                BulkAnswer::Retry { kind, .. } => assert_eq!(kind, format!("http_{status}")),
                other => panic!("{status}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_2xx_answer_that_cannot_be_read_is_retried_not_trusted() {
        assert!(matches!(
            read_answer(200, b"<html>", 3),
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
}
