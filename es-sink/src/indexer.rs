//! Indexing one batch until every document is indexed or refused for good.
//!
//! Documents refused for now (429, 5xx, cluster unreachable) are sent again after a capped,
//! jittered exponential wait, for as long as it takes: giving up would lose events that are
//! fine. Each retry is logged and counted, and after [`LOUD_AFTER`] attempts in a row the log
//! turns to ERROR. A request refused as a whole for its content (400, 413) is sent again in
//! halves, so only the document at fault is refused.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::batch::{Batch, PendingDoc};
use crate::bulk::encode;
use crate::dead_letter::DeadLetter;
use crate::elastic::Elastic;
use crate::metrics::{ReasonLabel, SinkMetrics};
use crate::offsets::RecordRef;
use crate::response::{BulkAnswer, ItemOutcome};
use common::backoff::retry_wait;

/// First retry waits up to this long.
const BASE_BACKOFF: Duration = Duration::from_millis(100);
/// Attempts in a row after which retries are logged as errors.
pub const LOUD_AFTER: u32 = 10;

/// A document refused for good: its position in the batch, the HTTP status and the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub doc: usize,
    pub status: u16,
    pub reason: String,
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct IndexReport {
    pub indexed: usize,
    pub refused: Vec<Refused>,
    /// Requests sent, retries and halves included.
    pub requests: usize,
}

/// What a batch came back with: the records indexed, and a dead letter for each of the rest.
#[derive(Debug)]
pub struct Finished {
    pub indexed: Vec<RecordRef>,
    pub letters: Vec<DeadLetter>,
}

pub struct Indexer {
    elastic: Arc<Elastic>,
    max_backoff: Duration,
    metrics: SinkMetrics,
}

impl Indexer {
    pub fn new(elastic: Arc<Elastic>, max_backoff: Duration, metrics: SinkMetrics) -> Self {
        Indexer {
            elastic,
            max_backoff,
            metrics,
        }
    }

    pub fn elastic(&self) -> &Elastic {
        &self.elastic
    }

    /// Indexes `batch`; returns once each document is indexed or refused, with a dead letter for
    /// each refused one and each record of the batch that was not an event.
    pub async fn index_batch(&self, batch: Batch) -> Finished {
        let report = self.index(&batch.docs).await;
        let mut letters = batch.invalid;
        let mut refused = vec![false; batch.docs.len()];
        for r in &report.refused {
            letters.push(batch.docs[r.doc].dead_letter(r.status, &r.reason));
            refused[r.doc] = true;
        }
        self.metrics
            .erased_skipped
            .inc_by(batch.erased.len() as u64);
        let indexed = batch
            .docs
            .iter()
            .zip(refused)
            .filter(|(_, refused)| !refused)
            .map(|(doc, _)| doc.record)
            .chain(batch.erased)
            .collect();
        Finished { indexed, letters }
    }

    /// Indexes `docs`; returns once each is indexed or refused.
    pub async fn index(&self, docs: &[PendingDoc]) -> IndexReport {
        let mut report = IndexReport::default();
        if docs.is_empty() {
            return report;
        }
        let mut chunks: VecDeque<Vec<usize>> = VecDeque::from([(0..docs.len()).collect()]);
        let mut failures = 0u32;
        while let Some(chunk) = chunks.pop_front() {
            let body = encode(chunk.iter().map(|&i| &docs[i].doc));
            let started = Instant::now();
            let answer = self.elastic.bulk(body, chunk.len()).await;
            report.requests += 1;
            self.metrics
                .bulk_duration_seconds
                .observe(started.elapsed().as_secs_f64());
            self.metrics.bulk_documents.observe(chunk.len() as f64);
            let (retry, kind, reason) = match answer {
                BulkAnswer::Items(outcomes) => {
                    let mut retry = Vec::new();
                    let mut last = None;
                    for (&doc, outcome) in chunk.iter().zip(outcomes) {
                        match outcome {
                            ItemOutcome::Indexed => report.indexed += 1,
                            ItemOutcome::Reject { status, reason } => {
                                report.refused.push(Refused {
                                    doc,
                                    status,
                                    reason,
                                })
                            }
                            ItemOutcome::Retry { status, reason } => {
                                retry.push(doc);
                                last = Some((format!("http_{status}"), reason));
                            }
                        }
                    }
                    let indexed = chunk.len() - retry.len();
                    self.metrics.indexed.inc_by(indexed as u64);
                    let (kind, reason) = last.unwrap_or_default();
                    (retry, kind, reason)
                }
                BulkAnswer::Retry { kind, reason } => (chunk, kind, reason),
                BulkAnswer::Split { status, reason } => {
                    if let [doc] = chunk[..] {
                        report.refused.push(Refused {
                            doc,
                            status,
                            reason,
                        });
                    } else {
                        tracing::warn!(
                            documents = chunk.len(),
                            status,
                            reason,
                            "bulk request refused as a whole; sending it in halves"
                        );
                        let (first, second) = chunk.split_at(chunk.len() / 2);
                        chunks.push_front(second.to_vec());
                        chunks.push_front(first.to_vec());
                    }
                    (Vec::new(), String::new(), String::new())
                }
            };
            if retry.is_empty() {
                if failures > 0 {
                    tracing::info!(
                        attempts = failures + 1,
                        "Elasticsearch accepted documents it refused before"
                    );
                }
                failures = 0;
                continue;
            }
            failures += 1;
            let wait = retry_wait(failures, BASE_BACKOFF, self.max_backoff);
            self.metrics
                .retried
                .get_or_create(&ReasonLabel::new(&kind))
                .inc_by(retry.len() as u64);
            if failures >= LOUD_AFTER {
                tracing::error!(documents = retry.len(), attempt = failures, kind, reason, retry_in = ?wait, "documents still refused; they stay pending and are tried again");
            } else {
                tracing::warn!(documents = retry.len(), attempt = failures, kind, reason, retry_in = ?wait, "documents refused for now; trying again");
            }
            let waiting = retry.len() as i64;
            self.metrics.retrying_documents.inc_by(waiting);
            tokio::time::sleep(wait).await;
            self.metrics.retrying_documents.dec_by(waiting);
            chunks.push_front(retry);
        }
        report
    }
}
