//! What `/readyz` checks beyond the loops' progress: storage answering, landings not failing,
//! no partition halted. Answered at once from what is already known: a background probe asks
//! the storage, so a storage that hangs never holds the answer up.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus_client::metrics::gauge::Gauge;

use lake::Storage;

/// How often the storage is asked whether it answers, and how long it may take.
const PROBE_INTERVAL: Duration = Duration::from_secs(2);
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// The storage's last answer to a probe.
#[derive(Debug)]
pub struct StorageProbe {
    storage: String,
    last: Mutex<Option<Result<(), String>>>,
}

impl StorageProbe {
    /// A probe of the storage errors name `storage`, not asked yet.
    pub fn new(storage: &str) -> Self {
        StorageProbe {
            storage: storage.to_owned(),
            last: Mutex::new(None),
        }
    }

    fn status(&self) -> Result<(), String> {
        self.last
            .lock()
            .expect("not poisoned")
            .clone()
            .unwrap_or_else(|| Err(format!("{}: not asked yet", self.storage)))
    }

    /// Keeps the answer, and says so in the log when the storage stops or starts answering.
    fn record(&self, result: Result<(), String>) {
        let mut last = self.last.lock().expect("not poisoned");
        match (last.as_ref(), &result) {
            (Some(Ok(())) | None, Err(reason)) => tracing::error!(
                reason,
                "storage does not answer; landing waits for it, and the records stay in Kafka"
            ),
            (Some(Err(_)), Ok(())) => tracing::info!("storage answers again"),
            _ => {}
        }
        *last = Some(result);
    }
}

/// Asks the storage every [`PROBE_INTERVAL`] to list its root, each ask bounded by
/// [`PROBE_TIMEOUT`]; runs until aborted.
pub async fn probe_storage(storage: Storage, probe: Arc<StorageProbe>) {
    loop {
        let answer = tokio::time::timeout(PROBE_TIMEOUT, storage.answers()).await;
        probe.record(answer.unwrap_or_else(|_| {
            Err(format!(
                "{}: list / brought no answer within {PROBE_TIMEOUT:?}",
                storage.name()
            ))
        }));
        tokio::time::sleep(PROBE_INTERVAL).await;
    }
}

/// Partitions whose last landing failed, with the reason, across the workers.
#[derive(Debug, Default)]
pub struct FailingWrites(Mutex<BTreeMap<i32, String>>);

impl FailingWrites {
    pub fn set(&self, partition: i32, reason: Option<&str>) {
        let mut failing = self.0.lock().expect("not poisoned");
        match reason {
            Some(reason) => failing.insert(partition, reason.to_owned()),
            None => failing.remove(&partition),
        };
    }

    /// `Ok` when no landing is failing; otherwise which partitions' and why.
    pub fn check(&self) -> Result<(), String> {
        let failing = self.0.lock().expect("not poisoned");
        if failing.is_empty() {
            return Ok(());
        }
        Err(failing
            .iter()
            .map(|(partition, reason)| format!("partition {partition}: {reason}"))
            .collect::<Vec<_>>()
            .join("; "))
    }
}

/// The consumer's own readiness checks.
pub struct ConsumerReadiness {
    pub probe: Arc<StorageProbe>,
    pub failing: Arc<FailingWrites>,
    pub halted_partitions: Gauge,
}

impl common::admin::Readiness for ConsumerReadiness {
    fn checks(&self) -> Vec<(&'static str, Result<(), String>)> {
        let halted = self.halted_partitions.get();
        vec![
            ("storage", self.probe.status()),
            ("landing", self.failing.check()),
            (
                "haltedPartitions",
                if halted == 0 {
                    Ok(())
                } else {
                    Err(format!(
                        "{halted} partitions end before their landed offset; see the log"
                    ))
                },
            ),
        ]
    }
}
