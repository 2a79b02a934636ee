#!/usr/bin/env bash
# Runs every check and test: formatting, lints, unit and in-process HTTP tests, Kafka, end-to-end
# and crash tests on librdkafka's mock cluster (dev-broker) and osmem-server (the Elasticsearch
# stand-in), one smoke test per service on tansu (an independent Kafka-protocol broker), the
# real-browser test in headless Chromium, and smoke runs of scripts/demo.sh (README command 1,
# test-support/tests/demo_sh.rs). Installs what it needs on first use.
source "$(dirname "$0")/lib.sh"
cd "$REPO_ROOT"

warn_if_low_disk "${CARGO_TARGET_DIR:-$REPO_ROOT/target}" 5500

log "cargo fmt --check"
cargo fmt --all --check

log "cargo clippy (all targets, warnings are errors)"
cargo clippy --locked --workspace --all-targets --quiet -- -D warnings

# Tests come in two sets: those that need nothing installed run first, so a broken unit test
# fails in minutes; those that need a peer (tansu, osmem-server, Hadoop, Spark, Chromium) are
# marked ignored and run last, after the installs.
run_tests() {
    if cargo nextest --version >/dev/null 2>&1; then
        cargo nextest run --locked --workspace --run-ignored "$1" --no-fail-fast
    elif [ "$1" = only ]; then
        cargo test --locked --workspace --no-fail-fast -- --ignored
    else
        cargo test --locked --workspace --no-fail-fast
    fi
}

log "fast tests: unit, HTTP, mock cluster and crash tests, which need nothing installed"
run_tests default

log "test dependencies: tansu, osmem-server, Hadoop's HDFS, pyspark, Chromium and fonts, playwright-core"
ensure_debian_packages curl chromium python3-venv openssl
TANSU_BIN="$(ensure_tansu)"
OSMEM_BIN="$(ensure_osmem)"
SPARK_PYTHON="$(ensure_spark)"
export TANSU_BIN OSMEM_BIN SPARK_PYTHON
ensure_hadoop >/dev/null
ensure_browser

log "release build, as the Dockerfile runs it"
build_line="$(sed -n 's/^RUN \(cargo build .*\)$/\1/p' Dockerfile)"
[ -n "$build_line" ] || die "no cargo build line in the Dockerfile"
log "  $build_line"
eval "$build_line --quiet"

log "docker-compose.yml static checks (no Docker engine needed)"
"$(ensure_check_python)" scripts/check-stack.py "$(ensure_compose_schema)" "${CARGO_TARGET_DIR:-$REPO_ROOT/target}/release"

log "the demo's build, which its smoke runs start (dev profile)"
DEMO_PROFILE=dev scripts/demo.sh --build

log "tests on peers: osmem-server, tansu, HDFS, Spark, Chromium, the demo's smoke runs, the freeze tests"
run_tests only
