//! Helpers shared by the producer-api integration tests. The consumers' suites include some
//! of these files too (`#[path]`), and `crash.rs`, `metrics.rs` and `service.rs`
//! only there.
#![allow(dead_code)]

pub mod collector;
pub mod ports;
pub mod produce;
pub mod tansu;
pub mod topic;
pub mod wait;

// Each test binary uses some of these.
#[allow(unused_imports)]
pub use collector::{RunningApi, post_click};
#[allow(unused_imports)]
pub use topic::{partition_counts, read_topic_async};
#[allow(unused_imports)]
pub use wait::wait_until;

use std::sync::Mutex;

use common::ColorEvent;
use producer_api::publisher::{EnqueueError, EventPublisher};

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
