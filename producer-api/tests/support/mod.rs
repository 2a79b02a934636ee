//! Helpers shared by the producer-api integration tests.
#![allow(dead_code, unused_imports)]

pub mod tansu;
pub mod wait;

pub use wait::wait_until;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::ColorEvent;
use common::kafka::consumer_config;
use producer_api::Config;
use producer_api::publisher::{EnqueueError, EventPublisher};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
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

/// A record read back from the topic.
#[derive(Debug, Clone)]
pub struct Landed {
    pub partition: i32,
    pub offset: i64,
    pub event: ColorEvent,
}

/// Reads `topic` from the beginning of every partition until `want` records arrived or
/// `deadline` passed; blocking, so call it from `spawn_blocking`.
pub fn read_topic(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    want: usize,
    deadline: Duration,
) -> Vec<Landed> {
    let consumer: BaseConsumer = consumer_config(
        bootstrap,
        &format!("reader-{}", uuid::Uuid::now_v7()),
        "test-reader",
    )
    .create()
    .unwrap();
    let mut assignment = TopicPartitionList::new();
    for p in 0..partitions {
        assignment
            .add_partition_offset(topic, p, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&assignment).unwrap();
    let started = Instant::now();
    let mut out = Vec::new();
    while out.len() < want && started.elapsed() < deadline {
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(message)) => out.push(Landed {
                partition: message.partition(),
                offset: message.offset(),
                event: ColorEvent::from_json_slice(message.payload().expect("record has a value"))
                    .expect("record is a valid event"),
            }),
            Some(Err(err)) => eprintln!("reader: {err}"),
            None => {}
        }
    }
    out
}

pub async fn read_topic_async(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    want: usize,
    deadline: Duration,
) -> Vec<Landed> {
    let (bootstrap, topic) = (bootstrap.to_owned(), topic.to_owned());
    tokio::task::spawn_blocking(move || read_topic(&bootstrap, &topic, partitions, want, deadline))
        .await
        .unwrap()
}

/// Events per partition.
pub fn partition_counts(landed: &[Landed]) -> HashMap<i32, usize> {
    let mut counts = HashMap::new();
    for record in landed {
        *counts.entry(record.partition).or_default() += 1;
    }
    counts
}
