//! The collector: HTTP clicks in, JSON events out to Kafka.
//!
//! `config` → `server::run` builds a [`publisher::KafkaPublisher`] and serves
//! [`routes::app`]; each accepted click becomes a [`common::ColorEvent`].

pub mod config;
pub mod error;
pub mod metrics;
pub mod publisher;
pub mod routes;
pub mod server;
pub mod user_agents;

pub use config::Config;
pub use server::{run, serve};
