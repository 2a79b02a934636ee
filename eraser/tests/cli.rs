//! What the erasure command says before it erases anything: its settings, and a refusal when
//! nobody is named.

use test_support::cli::{assert_names_and_hides, help};

const ERASE: &str = env!("CARGO_BIN_EXE_erase");

#[test]
fn help_names_every_store_setting_and_shows_no_secret() {
    let help = help(
        ERASE,
        &[
            ("ES_PASSWORD", "hunter2"),
            ("KAFKA_PROPERTIES", "sasl.password=s3cret"),
            ("RESULTS_TOKEN", "f0rget-t0ken-value"),
        ],
    );
    assert_names_and_hides(
        &help,
        &[
            "KAFKA_BOOTSTRAP_SERVERS",
            "LANDING_URL",
            "ES_URL",
            "ES_USERNAME",
            "ES_SINK_GROUP_ID",
            "RESULTS_URLS",
            "RESULTS_TOKEN",
            "ERASURE_AUDIT_FILE",
        ],
        &["hunter2", "s3cret", "f0rget-t0ken-value"],
    );
    assert!(help.contains("--user-name") && help.contains("--event-id"));
}

#[test]
fn naming_nobody_is_refused_before_anything_is_asked() {
    let output = std::process::Command::new(ERASE)
        .env_clear()
        // Nothing listens there: the refusal must come first.
        .env("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--user-name NAME or --event-id ID"),
        "{stderr}"
    );
    assert!(output.stdout.is_empty());
}
