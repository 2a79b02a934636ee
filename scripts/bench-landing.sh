#!/usr/bin/env bash
# Landing benchmark, on a tansu broker: three readers each join a fresh, empty 3-partition
# topic, then EVENTS click events (default one million) are written to it as fast as the
# broker takes them, with the collector's producer settings:
#   - a plain rdkafka consumer that discards every record (the baseline raw consume rate);
#   - hdfs-consumer with its defaults, landing it exactly once as Parquet files in a local
#     directory: first with one worker (one consumer, like the baseline), then with three (its
#     default: one per partition).
# Each is timed from the first event written to the last one read (raw) or landed: once
# hdfs-consumer has read every event it is stopped, which lands its buffers at once, so the
# clock does not wait out FLUSH_MAX_AGE. The writer's own time is shown beside it: a reader that
# ends with the writer kept pace with it, and its rate is a floor. Every event id is checked in
# the landed files (each exactly once), and the consumer must have seen no offset gap. Peak RSS
# is the process's high-water mark over its whole life, its stop included; "landing ms" is the
# mean time to land one partition's buffer (write its files, commit, make them visible), from
# the consumer's own histogram.
#
# Goals: hdfs-consumer on its defaults (three workers) lands at >= 0.90 of the raw rate and
# peaks at <= 64 MiB.
#
# Why tansu, and why join first: librdkafka's mock cluster (dev-broker) keeps at most 5 MiB per
# partition, far below a million events. tansu keeps them, but answers a fetch that starts
# inside a record batch with the next batch, and a group that rebalances while it reads resumes
# inside a batch. Readers that join an empty topic never rebalance while reading: each fetch
# starts where the previous one ended.
#
#   EVENTS (1000000); hdfs-consumer's own variables (FLUSH_MAX_RECORDS, KAFKA_PREFETCH_BYTES...)
#   pass through to it.
source "$(dirname "$0")/lib.sh"
cd "$REPO_ROOT"

EVENTS="${EVENTS:-1000000}"
WORK_DIR="$(mktemp -d)"
PIDS=()
trap 'for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done; rm -rf "$WORK_DIR"' EXIT

TANSU_BIN="$(ensure_tansu)"
export TANSU_BIN
log "building release binaries"
cargo build --locked --release -p hdfs-consumer -p lake --bin hdfs-consumer --example fill_topic --example raw_consume \
    --example cat_landed
BIN="${CARGO_TARGET_DIR:-$REPO_ROOT/target}/release"

admin_port="$(free_port)"
start_tansu "$WORK_DIR/tansu.log"; PIDS+=("$TANSU_PID")
kafka_port="$TANSU_PORT"
bootstrap="127.0.0.1:$kafka_port"

now() { date +%s.%N; }
# Writes EVENTS events to topic $1, their ids to $2; prints the seconds it took.
fill() {
    local started
    started="$(now)"
    "$BIN/examples/fill_topic" "$bootstrap" "$1" "$EVENTS" "$2" 2>/dev/null
    python3 -c "print(f'{$(now) - $started:.3f}')"
}

log "baseline: plain consumer, discarding"
create_topic "$kafka_port" raw 3
"$BIN/examples/raw_consume" "$bootstrap" raw "$EVENTS" >"$WORK_DIR/raw.out" 2>"$WORK_DIR/raw.err" &
raw_pid=$!; PIDS+=("$raw_pid")
deadline=$((SECONDS + 120))
until grep -q assigned "$WORK_DIR/raw.err"; do
    kill -0 "$raw_pid" 2>/dev/null || die "the plain consumer exited; see $WORK_DIR/raw.err"
    [ $SECONDS -lt $deadline ] || die "the plain consumer got no assignment in 120 s"
    sleep 0.1
done
raw_started="$(now)"
raw_fill="$(fill raw "$WORK_DIR/raw.ids")"
wait "$raw_pid"
read -r raw_seen _ raw_bytes raw_rss raw_last <"$WORK_DIR/raw.out"
[ "$raw_seen" -eq "$EVENTS" ] || die "the plain consumer read $raw_seen of $EVENTS records"
raw_seconds="$(python3 -c "print(f'{$raw_last - $raw_started:.3f}')")"

# Waits until hdfs-consumer (process $1, log $2) has read all EVENTS records.
wait_until_read() {
    local deadline=$((SECONDS + 600)) read
    while :; do
        read="$(curl -fsS "http://127.0.0.1:$admin_port/metrics" | awk '
            $1 == "hdfs_consumer_records_landed_total" || $1 == "hdfs_consumer_buffered_records" { n += $2 }
            END { print n + 0 }')"
        [ "$read" -ge "$EVENTS" ] && return
        kill -0 "$1" 2>/dev/null || die "hdfs-consumer exited; see $2"
        [ $SECONDS -lt $deadline ] || die "hdfs-consumer read $read of $EVENTS records in 600 s; see $2"
        sleep 0.05
    done
}

# Lands a fresh topic with $1 workers; prints "seconds peak_rss_mib files writer_seconds".
land() {
    local workers="$1" topic="landing-$1" dir="$WORK_DIR/landing-$1" log="$WORK_DIR/hdfs-consumer-$1.log"
    local pid started finished rss files gaps written
    create_topic "$kafka_port" "$topic" 3
    KAFKA_BOOTSTRAP_SERVERS="$bootstrap" KAFKA_TOPIC="$topic" KAFKA_GROUP_ID="bench-$$-$workers" \
    LANDING_URL="file://$dir" ADMIN_ADDR="127.0.0.1:$admin_port" RUST_LOG=info WORKERS="$workers" \
        scripts/bench/peak-rss.py "$dir.rss" "$BIN/hdfs-consumer" >"$log" 2>&1 &
    pid=$!; PIDS+=("$pid")
    # Settled: every partition owned, and with several workers, one each.
    wait_for_metric "$admin_port" hdfs_consumer_assigned_partitions 3 "$pid" "$log" 120
    until [ "$(grep 'partition claimed' "$log" | tail -n 3 | grep -o 'worker=[0-9]*' | sort -u | wc -l)" -eq "$((workers < 3 ? workers : 3))" ]; do
        kill -0 "$pid" 2>/dev/null || die "hdfs-consumer exited; see $log"
        sleep 0.1
    done
    started="$(now)"
    written="$(fill "$topic" "$dir.ids")"
    # Every event read (landed, or buffered until its file is due), then a stop, which lands
    # the buffers at once: the clock does not wait out FLUSH_MAX_AGE for the last files.
    wait_until_read "$pid" "$log"
    metrics="$(curl -fsS "http://127.0.0.1:$admin_port/metrics")"
    gaps="$(awk '$1 ~ /^hdfs_consumer_offset_gaps_total/ { n += $2 } END { print n + 0 }' <<<"$metrics")"
    # The mean time to land one partition's buffer (write, commit, make visible), in ms.
    landing_ms="$(awk '$1 == "hdfs_consumer_flush_duration_seconds_sum" { s = $2 } $1 == "hdfs_consumer_flush_duration_seconds_count" { c = $2 } END { printf "%.1f", c ? 1000 * s / c : 0 }' <<<"$metrics")"
    kill -TERM "$pid"
    wait "$pid" || die "hdfs-consumer did not stop cleanly; see $log"
    finished="$(now)"
    rss="$(cat "$dir.rss")"
    files="$(grep -c 'landed file' "$log")"
    [ "$gaps" = 0 ] || die "hdfs-consumer saw $gaps offset gaps; see $log"
    # Every event id written, in the landed files exactly once.
    "$BIN/examples/cat_landed" "file://$dir" "$topic" | python3 -c '
import json, sys
written = set(open(sys.argv[1]).read().split())
landed = [json.loads(line)["eventId"] for line in sys.stdin]
assert len(landed) == len(set(landed)), f"{len(landed) - len(set(landed))} events landed twice"
assert set(landed) == written, f"{len(written - set(landed))} events never landed"
' "$dir.ids" || die "the landed files do not hold every event exactly once"
    python3 -c "print(f'{$finished - $started:.3f} $rss $files $written $landing_ms')"
}
log "hdfs-consumer, 1 worker"
read -r one_seconds one_rss one_files one_fill one_landing <<<"$(land 1)"
log "hdfs-consumer, 3 workers"
read -r three_seconds three_rss three_files three_fill three_landing <<<"$(land 3)"

python3 - "$EVENTS" "$raw_bytes" "$raw_seconds" "$raw_rss" "$raw_fill" "" "$one_seconds" "$one_rss" "$one_files" \
    "$one_fill" "$one_landing" "$three_seconds" "$three_rss" "$three_files" "$three_fill" "$three_landing" <<'PY'
import sys
events, raw_bytes, *rest = sys.argv[1:]
events = int(events)
rows = [("plain rdkafka consumer (discards)", *rest[0:2], "", *rest[2:4]),
        ("hdfs-consumer, 1 worker (landed)", *rest[4:9]),
        ("hdfs-consumer, 3 workers (landed)", *rest[9:14])]
raw_rate = events / float(rows[0][1])
print()
print(f"landing benchmark: {events} events ({int(raw_bytes) / events:.0f} bytes each), 3 partitions, tansu in memory, same run")
print(f"  {'':36} {'records/s':>10} {'seconds':>8} {'writer s':>9} {'peak RSS MiB':>13} {'files':>6} {'landing ms':>11} {'ratio':>6}")
verdicts = []
for label, seconds, rss, files, written, landing in rows:
    rate = events / float(seconds)
    print(f"  {label:36} {rate:>10.0f} {float(seconds):>8.2f} {float(written):>9.2f} {float(rss):>13.1f} {files:>6} {landing:>11} {rate / raw_rate:>6.2f}")
    if label.startswith("hdfs-consumer, 3"):
        verdicts.append(rate / raw_rate >= 0.90 and float(rss) <= 64)
print("  ratio = landed / raw records per second; every event id landed exactly once, no offset gap")
print("  landing ms = mean time to land one partition's buffer: write its files, commit, make them visible")
print("  a reader whose seconds are the writer's kept pace with it: its rate is a floor")
print("  one worker reads with the sink's 4 MiB prefetch, the plain consumer with librdkafka's 64 MiB")
print(f"  goals, on the defaults (ratio >= 0.90, peak RSS <= 64 MiB): {'met' if all(verdicts) else 'NOT met'}")
PY
