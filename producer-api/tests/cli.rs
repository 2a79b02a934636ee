//! `producer-api --help`: every variable the collector reads, and no secret from the
//! environment.

use test_support::cli;

#[test]
fn help_names_every_variable_and_no_secret() {
    let help = cli::help(
        env!("CARGO_BIN_EXE_producer-api"),
        &[(
            "KAFKA_PROPERTIES",
            "sasl.username=svc-clicks,sasl.password=hunter2",
        )],
    );
    cli::assert_names_and_hides(
        &help,
        &[
            "LISTEN_ADDR",
            "KAFKA_BOOTSTRAP_SERVERS",
            "KAFKA_TOPIC",
            "KAFKA_PROPERTIES",
            "CORS_ALLOWED_ORIGINS",
            "COLOR_PALETTE",
            "PRODUCER_QUEUE_MAX_MESSAGES",
            "PRODUCER_MESSAGE_TIMEOUT",
            "REQUEST_TIMEOUT",
            "SHUTDOWN_FLUSH_TIMEOUT",
            "READINESS_PROBE_INTERVAL",
            "EVENT_ID_MAX_SKEW",
            "METRICS_ADDR",
            "HTTP_HEADER_READ_TIMEOUT",
            "HTTP_IDLE_TIMEOUT",
            "HTTP_MAX_CONNECTIONS",
            "DEDUP_WINDOW",
            "DEDUP_MAX_IDS",
            "RUST_LOG",
            "LOG_FORMAT",
        ],
        &["hunter2", "svc-clicks"],
    );
}
