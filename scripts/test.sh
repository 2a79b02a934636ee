#!/usr/bin/env bash
# Runs every check and test: formatting, lints, unit and in-process HTTP tests, Kafka, end-to-end
# and crash tests on librdkafka's mock cluster (dev-broker) and osmem-server (the Elasticsearch
# stand-in), one smoke test per service on tansu (an independent Kafka-protocol broker), the
# real-browser tests in headless Chromium, and smoke runs of scripts/demo.sh (README command 1,
# test-support/tests/demo_sh.rs). Installs what it needs on first use, and prints each stage's
# time at the end.
source "$(dirname "$0")/lib.sh"
cd "$REPO_ROOT"

warn_if_low_disk "${CARGO_TARGET_DIR:-$REPO_ROOT/target}" 5500

# What the tests on peers need is installed in the background from the start, so downloads and
# the tansu build (the largest piece, about 12 minutes of CPU) overlap the checks and the tests
# that need nothing installed. The tansu build runs at the lowest priority: it takes the CPU
# those leave idle, and never slows them.
INSTALL_DIR="$(mktemp -d)"
trap 'print_stage_times; rm -rf "$INSTALL_DIR"' EXIT
install_peers() {
    ensure_debian_packages curl chromium fonts-noto-cjk python3-venv openssl openjdk-17-jre-headless
    ensure_osmem >"$INSTALL_DIR/osmem"
    ensure_spark >"$INSTALL_DIR/spark"
    ensure_hadoop >/dev/null
    ensure_browser
    ensure_check_python >/dev/null
    ensure_compose_schema >"$INSTALL_DIR/compose-schema"
}
install_peers 2>"$INSTALL_DIR/peers.log" &
PEERS_PID=$!
nice -n 19 bash -c 'source scripts/lib.sh; ensure_tansu unoptimised' >"$INSTALL_DIR/tansu" 2>"$INSTALL_DIR/tansu.log" &
TANSU_PID=$!
# Waits for background install $1 (its log is $2), showing the log when it failed.
wait_for_install() {
    wait "$1" && return 0
    cat "$2" >&2
    die "an install failed; its output is above"
}

stage "cargo fmt --check"
cargo fmt --all --check

stage "cargo clippy (all targets, warnings are errors)"
cargo clippy --locked --workspace --all-targets --quiet -- -D warnings

# Tests come in two sets: those that need nothing installed run first, so a broken unit test
# fails in minutes; those that need a peer (tansu, osmem-server, Hadoop, Spark, Chromium) are
# marked ignored and run after the installs, those on tansu last, as its build finishes last
# (`run_tests` in lib.sh).

stage "fast tests: unit, HTTP, mock cluster and crash tests, which need nothing installed"
run_tests default

stage "the Dockerfile's build line, with the debug profile, and the demo's build"
build_line="$(sed -n 's/^RUN \(cargo build\) --release\(.*\)$/\1\2/p' Dockerfile)"
[ -n "$build_line" ] || die "no cargo build --release line in the Dockerfile"
log "  $build_line"
eval "$build_line --quiet"
scripts/demo.sh --build

stage "waiting for the installs: Debian packages, osmem-server, pyspark, Hadoop, playwright-core"
wait_for_install "$PEERS_PID" "$INSTALL_DIR/peers.log"
OSMEM_BIN="$(cat "$INSTALL_DIR/osmem")"
SPARK_PYTHON="$(cat "$INSTALL_DIR/spark")"
export OSMEM_BIN SPARK_PYTHON

stage "docker-compose.yml static checks (no Docker engine needed)"
"$(ensure_check_python)" scripts/check-stack.py "$(cat "$INSTALL_DIR/compose-schema")" \
    "${CARGO_TARGET_DIR:-$REPO_ROOT/target}/debug"

stage "tests on peers: osmem-server, HDFS, Spark, Chromium, the demo's smoke runs, the freeze tests"
run_tests only not-on-tansu

stage "waiting for the tansu build"
wait_for_install "$TANSU_PID" "$INSTALL_DIR/tansu.log"
TANSU_BIN="$(cat "$INSTALL_DIR/tansu")"
export TANSU_BIN

stage "tests on tansu, an independent Kafka"
run_tests only on-tansu
