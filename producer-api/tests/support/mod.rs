//! Helpers shared by the producer-api integration tests. The consumers' suites include some
//! of these files too (`#[path]`), and `crash.rs` and `metrics.rs` only there.
#![allow(dead_code)]

pub mod produce;
pub mod tansu;
pub mod topic;
pub mod wait;

// Each test binary uses some of these.
#[allow(unused_imports)]
pub use topic::{partition_counts, read_topic_async};
#[allow(unused_imports)]
pub use wait::wait_until;

use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

use common::ColorEvent;
use producer_api::Config;
use producer_api::publisher::{EnqueueError, EventPublisher};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Keeps what it is given; can be told to act full or unready.
#[derive(Default)]
pub struct RecordingPublisher {
    pub events: Mutex<Vec<ColorEvent>>,
    pub full: std::sync::atomic::AtomicBool,
    pub ready: std::sync::atomic::AtomicBool,
}

impl EventPublisher for RecordingPublisher {
    fn enqueue(&self, event: &ColorEvent) -> Result<(), EnqueueError> {
        if self.full.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(EnqueueError::QueueFull);
        }
        self.events.lock().unwrap().push(event.clone());
        Ok(())
    }
    fn queue_depth(&self) -> i64 {
        self.events.lock().unwrap().len() as i64
    }
    fn is_ready(&self) -> bool {
        self.ready.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// A collector running on a free loopback port, with its own shutdown trigger.
pub struct RunningApi {
    pub addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), producer_api::server::ServerError>>,
}

impl RunningApi {
    pub async fn start(config: Config) -> RunningApi {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::start_on(listener, config)
    }

    pub fn start_on(listener: tokio::net::TcpListener, config: Config) -> RunningApi {
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(producer_api::serve(listener, config, async {
            let _ = rx.await;
        }));
        RunningApi {
            addr,
            shutdown: Some(tx),
            task,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Triggers a graceful shutdown and waits for it (flush included).
    pub async fn stop(mut self) {
        let _ = self.shutdown.take().unwrap().send(());
        tokio::time::timeout(Duration::from_secs(60), self.task)
            .await
            .expect("shutdown finished within its deadline")
            .unwrap()
            .unwrap();
    }
}

/// Posts one click and returns the status and JSON body.
pub async fn post_click(
    client: &reqwest::Client,
    api: &RunningApi,
    user: &str,
    color: &str,
) -> (u16, serde_json::Value) {
    let response = client
        .post(api.url("/api/events"))
        .json(&serde_json::json!({ "userName": user, "colorName": color }))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}
