//! Helpers of the hdfs-consumer integration tests; what every suite shares is in
//! `test-support`. Each test binary uses some of these.
#![allow(dead_code)]

#[allow(unused_imports)]
pub use test_support::landed::*;
#[allow(unused_imports)]
pub use test_support::*;

use std::path::Path;
use std::time::Duration;

use hdfs_consumer::Config;
use uuid::Uuid;

/// A consumer's `serve`, in this process, with its own shutdown trigger.
pub type RunningConsumer = service::RunningService<hdfs_consumer::Error>;

/// Starts `hdfs_consumer::serve` in this process, its admin server on a port of its own.
pub async fn spawn_consumer(config: Config) -> RunningConsumer {
    RunningConsumer::start(|listener, shutdown| hdfs_consumer::serve(listener, config, shutdown))
        .await
}

/// The consumer binary as `scripts/demo.sh` starts it: the in-memory cluster's client
/// properties, where to land and an admin port, with `extra` settings; everything else at its
/// default. Its output goes to `log`.
pub fn start_consumer(
    bootstrap: &str,
    landing: &url::Url,
    log: &Path,
    extra: &[(&str, &str)],
) -> (crash::Process, std::net::SocketAddr) {
    let admin = std::net::SocketAddr::from(([127, 0, 0, 1], ports::free_port()));
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_hdfs-consumer"));
    command
        .env_clear()
        .env("KAFKA_BOOTSTRAP_SERVERS", bootstrap)
        .env("KAFKA_PROPERTIES", dev_broker::CLIENT_PROPERTIES)
        .env("LANDING_URL", landing.as_str())
        .env("ADMIN_ADDR", admin.to_string())
        .envs(extra.iter().copied());
    (crash::spawn_logged(&mut command, log), admin)
}

pub fn config(bootstrap: &str, topic: &str, root: &Path, workers: u16) -> Config {
    let mut config = Config::for_brokers(bootstrap, url::Url::from_directory_path(root).unwrap());
    config.kafka.topic = topic.to_owned();
    config.sink.group_id = format!("hdfs-{}", Uuid::now_v7());
    config.workers = Some(workers);
    config.flush_max_age = Duration::from_millis(500);
    config.flush_max_records = 100;
    // What the in-memory cluster's group coordinator needs, as the demo gives it.
    config.kafka.properties = dev_broker::client_properties();
    if let Ok(debug) = std::env::var("KAFKA_DEBUG") {
        config.kafka.properties.push(("debug".into(), debug));
    }
    config
}

/// The Python with pyspark, pyarrow and DuckDB that `scripts/test.sh` installs and names.
pub fn spark_python() -> String {
    std::env::var("SPARK_PYTHON").expect(
        "SPARK_PYTHON names a Python with pyspark, pyarrow and duckdb; scripts/test.sh installs it and sets it",
    )
}

/// A file under `scripts/`.
pub fn script(path: &str) -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../scripts")
        .join(path)
}
