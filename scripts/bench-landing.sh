#!/usr/bin/env bash
# Landing benchmark: fills a 3-partition topic on tansu with EVENTS click events (default one
# million), then, on the same broker in the same run, reads it twice:
#   - a plain rdkafka consumer that discards every record (the baseline raw consume rate);
#   - hdfs-consumer landing it exactly once as JSON-lines files in a local directory, first with
#     one worker (one consumer, like the baseline), then with three (one per partition).
# Prints the rates (records/s from the first record on), the ratios, and peak RSS.
#
#   EVENTS (1000000)  FLUSH_MAX_RECORDS (100000)  FLUSH_MAX_BYTES (64 MiB)  FLUSH_MAX_AGE (2s)
source "$(dirname "$0")/lib.sh"
cd "$REPO_ROOT"

EVENTS="${EVENTS:-1000000}"
WORK_DIR="$(mktemp -d)"
PIDS=()
trap 'for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done; rm -rf "$WORK_DIR"' EXIT

TANSU_BIN="$(ensure_tansu)"
export TANSU_BIN
log "building release binaries"
cargo build --locked --release --quiet -p hdfs-consumer --bin hdfs-consumer --example fill_topic --example raw_consume
BIN="${CARGO_TARGET_DIR:-$REPO_ROOT/target}/release"

kafka_port="$(free_port)"; admin_port="$(free_port)"
start_tansu "$kafka_port" "$WORK_DIR/tansu.log"; PIDS+=("$TANSU_PID")
create_topic "$kafka_port" select-color 3
log "filling select-color with $EVENTS events"
"$BIN/examples/fill_topic" "127.0.0.1:$kafka_port" select-color "$EVENTS"

log "baseline: plain consumer, discarding"
read -r raw_seen raw_seconds raw_bytes raw_rss <<<"$("$BIN/examples/raw_consume" "127.0.0.1:$kafka_port" select-color "$EVENTS")"
[ "$raw_seen" -eq "$EVENTS" ] || die "the plain consumer read $raw_seen of $EVENTS records"

# Lands the whole topic with $1 workers; prints "seconds peak_rss_mib files".
land() {
    local workers="$1" dir="$WORK_DIR/landing-$1" pid started finished rss files lines
    KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:$kafka_port" KAFKA_GROUP_ID="bench-$$-$workers" LANDING_URL="file://$dir" \
    ADMIN_ADDR="127.0.0.1:$admin_port" RUST_LOG=warn WORKERS="$workers" \
    FLUSH_MAX_RECORDS="${FLUSH_MAX_RECORDS:-100000}" FLUSH_MAX_BYTES="${FLUSH_MAX_BYTES:-67108864}" \
    FLUSH_MAX_AGE="${FLUSH_MAX_AGE:-2s}" \
        "$BIN/hdfs-consumer" >"$WORK_DIR/hdfs-consumer-$workers.log" 2>&1 &
    pid=$!; PIDS+=("$pid")
    # The clock starts when the group has handed out every partition, as the baseline's starts
    # at its first record.
    wait_for_metric "$admin_port" hdfs_consumer_assigned_partitions 3 "$pid" "$WORK_DIR/hdfs-consumer-$workers.log"
    started="$(date +%s.%N)"
    wait_for_metric "$admin_port" hdfs_consumer_records_landed_total "$EVENTS" "$pid" "$WORK_DIR/hdfs-consumer-$workers.log"
    finished="$(date +%s.%N)"
    rss="$(peak_rss_mib "$pid")"
    files="$(metric_value "$admin_port" hdfs_consumer_files_landed_total)"
    kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
    lines="$(find "$dir/select-color" -path '*/dt=*' -name '*.json' -exec cat {} + | wc -l)"
    [ "$lines" -eq "$EVENTS" ] || die "landed $lines lines for $EVENTS events"
    python3 -c "print(f'{$finished - $started:.3f} $rss $files')"
}
log "hdfs-consumer, 1 worker"
read -r one_seconds one_rss one_files <<<"$(land 1)"
log "hdfs-consumer, 3 workers"
read -r three_seconds three_rss three_files <<<"$(land 3)"

python3 - "$EVENTS" "$raw_seconds" "$raw_rss" "$raw_bytes" "$one_seconds" "$one_rss" "$one_files" \
    "$three_seconds" "$three_rss" "$three_files" <<'PY'
import sys
events, raw_s, raw_rss, raw_bytes, one_s, one_rss, one_files, three_s, three_rss, three_files = sys.argv[1:]
events = int(events)
raw_rate = events / float(raw_s)
print()
print(f"landing benchmark: {events} events ({int(raw_bytes) / events:.0f} bytes each), 3 partitions, tansu in memory, same run")
print(f"  {'':36} {'records/s':>10} {'seconds':>8} {'peak RSS MiB':>13} {'files':>6} {'ratio':>6}")
print(f"  {'plain rdkafka consumer (discards)':36} {raw_rate:>10.0f} {float(raw_s):>8.2f} {float(raw_rss):>13.1f} {'':>6} {'':>6}")
for label, s, rss, files in [("hdfs-consumer, 1 worker (landed)", one_s, one_rss, one_files),
                             ("hdfs-consumer, 3 workers (landed)", three_s, three_rss, three_files)]:
    rate = events / float(s)
    print(f"  {label:36} {rate:>10.0f} {float(s):>8.2f} {float(rss):>13.1f} {files:>6} {rate / raw_rate:>6.2f}")
print("  ratio = landed / raw records per second (goal >= 0.80); every event landed exactly once")
PY
