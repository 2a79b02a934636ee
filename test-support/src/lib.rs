//! What the services' integration tests share:
//! - [`cli`]: a binary's `--help`;
//! - [`collector`]: the collector in-process, and clicks posted to it;
//! - [`service`]: a sink's `serve(listener, config, shutdown)` in-process;
//! - [`produce`], [`topic`]: records written to and read back from a topic;
//! - [`demo`]: `scripts/demo.sh` started as a user starts it, known by what it describes;
//! - [`crash`]: killing, freezing and restarting a process, and its log;
//! - [`metrics`], [`wait`]: reading `/metrics`, waiting for a condition with a deadline, or
//!   for candidates to pick one from;
//! - [`hdfs`]: a real HDFS (a NameNode and a DataNode) on loopback;
//! - [`metastore`]: a real Hive Metastore, one per test binary's run;
//! - [`landed`]: what landed in a lake, read back;
//! - [`kibana`]: the Kibana saved objects the Docker stack imports;
//! - [`osmem`]: the in-memory OpenSearch-compatible server the search tests index into;
//! - [`tansu`]: the independent Kafka-protocol broker the smoke tests use;
//! - [`ports`]: free loopback ports, for processes that cannot take a bound listener.

pub mod cli;
pub mod collector;
pub mod crash;
pub mod demo;
pub mod hdfs;
pub mod kibana;
pub mod landed;
pub mod metastore;
pub mod metrics;
pub mod osmem;
pub mod ports;
pub mod produce;
pub mod service;
pub mod tansu;
pub mod topic;
pub mod wait;

pub use collector::{PAGE_ORIGIN, RunningApi, SteadyClicks, post_bursts, post_click, post_clicks};
pub use produce::{produce, produce_in_background, produce_raw};
pub use topic::{partition_counts, read_topic, read_topic_async, topic_size};
pub use wait::{pick_one, wait_until};
