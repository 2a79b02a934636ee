//! Helpers of the producer-api integration tests; what every suite shares is in
//! `test-support`. Each test binary uses some of these.
#![allow(dead_code)]

#[allow(unused_imports)]
pub use test_support::*;

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
    fn readiness(&self) -> Result<(), String> {
        if self.ready.load(std::sync::atomic::Ordering::SeqCst) {
            Ok(())
        } else {
            Err("told to be unready".into())
        }
    }
}
