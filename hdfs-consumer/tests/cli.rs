//! `hdfs-consumer --help`: every variable the consumer reads, what its sizes cost in memory,
//! and no secret from the environment.

use test_support::cli;

#[test]
fn help_names_every_variable_and_no_secret() {
    let help = cli::help(
        env!("CARGO_BIN_EXE_hdfs-consumer"),
        &[("KAFKA_PROPERTIES", "sasl.password=hunter2")],
    );
    cli::assert_names_and_hides(
        &help,
        &[
            "KAFKA_BOOTSTRAP_SERVERS",
            "KAFKA_TOPIC",
            "KAFKA_PROPERTIES",
            "KAFKA_GROUP_ID",
            "KAFKA_PREFETCH_BYTES",
            "WORKERS",
            "LANDING_URL",
            "FLUSH_MAX_RECORDS",
            "FLUSH_MAX_BYTES",
            "FLUSH_MAX_AGE",
            "DEDUPE_WINDOW",
            "STORAGE_RETRY_MAX_BACKOFF",
            "SHUTDOWN_TIMEOUT",
            "ADMIN_ADDR",
            "RUST_LOG",
            "LOG_FORMAT",
        ],
        &["hunter2"],
    );
    assert!(help.contains("[default: 8MiB]"), "{help}");
    assert_eq!(help.matches("Memory:").count(), 3, "{help}");
}
