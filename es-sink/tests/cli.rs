//! The `es-sink` binary as an operator meets it: `--help` names every variable it reads and
//! shows no secret from the environment, and the log and readiness of a sink that cannot reach
//! its cluster name the cluster without its password.

mod support;

use std::time::Duration;

use support::{cli, crash, ports, wait_until};

const PASSWORD: &str = "s3cret-in-url";
const KAFKA_SECRET: &str = "hunter2-kafka";

#[test]
fn help_names_every_variable_and_no_secret() {
    let help = cli::help(
        env!("CARGO_BIN_EXE_es-sink"),
        &[
            ("KAFKA_PROPERTIES", &format!("sasl.password={KAFKA_SECRET}")),
            ("ES_URL", &format!("https://elastic:{PASSWORD}@es:9200")),
            ("ES_PASSWORD", "plain-password"),
            ("ES_API_KEY", "an-api-key"),
        ],
    );
    cli::assert_names_and_hides(
        &help,
        &[
            "KAFKA_BOOTSTRAP_SERVERS",
            "KAFKA_TOPIC",
            "KAFKA_PROPERTIES",
            "KAFKA_GROUP_ID",
            "KAFKA_PREFETCH_BYTES",
            "DEAD_LETTER_TOPIC",
            "ES_URL",
            "ES_INDEX_PREFIX",
            "ES_USERNAME",
            "ES_PASSWORD",
            "ES_API_KEY",
            "ES_CA_CERT",
            "ES_REQUEST_TIMEOUT",
            "BULK_MAX_DOCS",
            "BULK_MAX_BYTES",
            "BULK_LINGER",
            "BULK_MAX_IN_FLIGHT",
            "BULK_RETRY_MAX_BACKOFF",
            "REBALANCE_TIMEOUT",
            "SHUTDOWN_TIMEOUT",
            "ADMIN_ADDR",
            "RUST_LOG",
            "LOG_FORMAT",
        ],
        &[KAFKA_SECRET, PASSWORD, "plain-password", "an-api-key"],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_cluster_is_named_without_its_password() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("es-sink.log");
    let admin = std::net::SocketAddr::from(([127, 0, 0, 1], ports::free_port()));
    let nothing_listens = ports::free_port();
    let mut child = crash::spawn_logged(
        std::process::Command::new(env!("CARGO_BIN_EXE_es-sink"))
            .env_clear()
            .env("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9")
            .env("KAFKA_PROPERTIES", format!("sasl.password={KAFKA_SECRET}"))
            .env(
                "ES_URL",
                format!("http://elastic:{PASSWORD}@127.0.0.1:{nothing_listens}"),
            )
            .env("ADMIN_ADDR", admin.to_string())
            .env("BULK_RETRY_MAX_BACKOFF", "500ms"),
        &log,
    );
    let text = || std::fs::read_to_string(&log).unwrap_or_default();
    // Two attempts at the index template, each logged with why it failed.
    let retried = wait_until(Duration::from_secs(30), || async {
        text().matches("Elasticsearch not reachable yet").count() >= 2
    })
    .await;
    assert!(retried, "no retry was logged:\n{}", text());
    let readiness = reqwest::get(format!("http://{admin}/readyz"))
        .await
        .unwrap();
    assert_eq!(readiness.status(), 503);
    let readiness = readiness.text().await.unwrap();
    crash::terminate(&mut child);

    let text = text();
    assert!(
        text.contains(&format!("http://elastic:***@127.0.0.1:{nothing_listens}")),
        "the cluster is not named:\n{text}"
    );
    for secret in [PASSWORD, KAFKA_SECRET] {
        assert!(!text.contains(secret), "the log shows {secret}:\n{text}");
        assert!(
            !readiness.contains(secret),
            "readiness shows {secret}: {readiness}"
        );
    }
}
