//! The collector: HTTP clicks in, JSON events out to Kafka.
//!
//! `config` → `server::run` builds a [`publisher::KafkaPublisher`] and serves
//! [`routes::app`] through [`listener`]. Every request passes the one middleware in [`routes`],
//! which checks its origin ([`origins`]); [`clicks`] accepts clicks: a posted body is framed
//! ([`extract`]) and decoded by [`intake`] (JSON or a beacon, gzip, one click or a batch), its
//! client ([`client_address`]) held to a fair share of clicks ([`fair_share`], by the rules of
//! [`clients`]), a click's own
//! id checked and remembered by [`dedup`], and each accepted click becomes a
//! [`common::ColorEvent`] queued for Kafka. Handlers share [`state::AppState`].

pub mod clicks;
pub mod client_address;
pub mod clients;
pub mod config;
pub mod cors;
pub mod dedup;
pub mod error;
pub mod extract;
pub mod fair_share;
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
