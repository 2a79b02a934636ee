//! The collector: HTTP clicks in, JSON events out to Kafka.
//!
//! `config` → `server::run` builds a [`publisher::KafkaPublisher`] and serves
//! [`routes::app`]. A posted body is decoded by [`intake`] (JSON or a beacon, gzip, one click or
//! a batch), its origin checked by [`origins`], a click's own id checked and remembered by
//! [`dedup`]; each accepted click becomes a [`common::ColorEvent`].

pub mod clicks;
pub mod config;
pub mod dedup;
pub mod error;
pub mod extract;
pub mod intake;
pub mod listener;
pub mod metrics;
pub mod origins;
pub mod publisher;
pub mod routes;
pub mod server;
pub mod state;
pub mod user_agents;

pub use config::Config;
pub use server::{run, serve};
