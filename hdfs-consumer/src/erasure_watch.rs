//! The erasure requests on file, as a background task reads them for a process's workers, so
//! a worker never waits on storage for them.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use lake::requests::{self, ErasureRequest};
use lake::storage::Storage;

/// How often the requests on file are read.
const WATCH_INTERVAL: Duration = Duration::from_secs(1);

/// Longest wait for one reading of the requests.
const WATCH_TIMEOUT: Duration = Duration::from_secs(10);

/// The requests on file as last read, shared by a process's workers. A background task reads
/// them ([`watch`]), so a worker never waits on storage for them: a storage that does not
/// answer must not keep it from polling.
#[derive(Debug, Default)]
pub struct OnFile {
    /// A reading's number, and what it found.
    last: RwLock<(u64, Arc<Vec<ErasureRequest>>)>,
}

impl OnFile {
    /// The last reading's number and requests.
    pub fn last(&self) -> (u64, Arc<Vec<ErasureRequest>>) {
        let last = self.last.read().expect("not poisoned");
        (last.0, Arc::clone(&last.1))
    }

    fn record(&self, requests: Vec<ErasureRequest>) {
        let mut last = self.last.write().expect("not poisoned");
        *last = (last.0 + 1, Arc::new(requests));
    }
}

/// Reads the requests on file every second into `on_file`, until dropped. A failed reading keeps
/// the last one, and is logged once a minute at most.
pub async fn watch(storage: Storage, topic: String, on_file: Arc<OnFile>) {
    let mut warned: Option<std::time::Instant> = None;
    loop {
        match tokio::time::timeout(WATCH_TIMEOUT, requests::requests(&storage, &topic)).await {
            Ok(Ok(found)) => on_file.record(found),
            failed => {
                if warned.is_none_or(|at| at.elapsed() >= Duration::from_secs(60)) {
                    warned = Some(std::time::Instant::now());
                    let err = match failed {
                        Ok(Err(err)) => err.to_string(),
                        _ => format!("no answer within {WATCH_TIMEOUT:?}"),
                    };
                    tracing::warn!(%err, "cannot read the erasure requests; read again later");
                }
            }
        }
        tokio::time::sleep(WATCH_INTERVAL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> ErasureRequest {
        ErasureRequest::new([(0, 10)].into(), vec!["Ada".into()], Vec::new())
    }

    #[test]
    fn each_reading_of_the_requests_is_numbered_so_workers_take_it_once() {
        let on_file = OnFile::default();
        let (first, none) = on_file.last();
        assert!(none.is_empty());
        on_file.record(vec![request()]);
        let (second, found) = on_file.last();
        assert_eq!((second, found.len()), (first + 1, 1));
        on_file.record(Vec::new());
        assert_eq!(on_file.last().0, first + 2, "a withdrawal is a new reading");
    }
}
