#!/usr/bin/env bash
# Erasure benchmark: one person's clicks erased from a day of landed, merged Parquet files,
# and what it costs the landing meanwhile (hdfs-consumer/examples/bench_erasure.rs says how).
#
# It prints the erasure's time per partition and for all three (a process's holders erase one
# partition after another), and the time to land a batch of 100 clicks alone (the baseline)
# and while another partition is being erased. The erased partition's own landings wait for
# its erasure, which is between two of them.
#
#   EVENTS (1000000)   clicks over the 24 hours before this one
source "$(dirname "$0")/lib.sh"
cd "$REPO_ROOT"

EVENTS="${EVENTS:-1000000}"
WORK_DIR="$(mktemp -d)"
trap 'rm -rf "$WORK_DIR"' EXIT

log "building the benchmark (release)"
cargo build --locked --release -p hdfs-consumer --example bench_erasure
log "landing $EVENTS clicks over 24 hours, merging each hour, then erasing one person"
"${CARGO_TARGET_DIR:-$REPO_ROOT/target}/release/examples/bench_erasure" "$WORK_DIR/landing" "$EVENTS"
