#!/usr/bin/env bash
# Lake benchmark: the same clicks landed two ways, and queried.
#
# EVENTS clicks (default one million), made in time order over the 24 whole hours before the
# current one by several real browsers, are written to a 3-partition topic on a tansu broker and
# landed by hdfs-consumer into a local folder:
#   - as before: JSON lines, never merged;
#   - as now: Parquet, each hour merged into one file per partition (COMPACT_AFTER=1s: the
#     hours are long closed, so the merge need not wait the default ten minutes).
# Both land with the files a real day of such traffic leaves: a click every 86 ms spread over
# 3 partitions fills about FLUSH_MAX_RECORDS = EVENTS / (3 x 24 x 720) records in each 5-second
# flush (FLUSH_MAX_AGE). A backlog read at full speed would otherwise fill the 10,000-record
# buffers and land few files.
#
# Then it prints, for both: files per closed hour, bytes per event, and the time of a count
# and of clicks per day and colour, in Spark SQL (one session, its start-up not counted; the
# tables of scripts/hive/) and in DuckDB (each the median of 3 runs), with the ratios.
# Targets: Parquet at least 10 times faster in Spark, at most 64 bytes per event, and as many
# files per closed hour as partitions. Every event id is checked landed exactly once in both.
#
# Why tansu: librdkafka's mock cluster keeps at most 5 MiB per partition. tansu keeps a
# million events, but a fetch that starts inside a record batch skips the rest of it; each
# consumer joins its empty topic and settles before the topic is filled, so it never resumes
# inside a batch.
#
#   EVENTS (1000000)
source "$(dirname "$0")/lib.sh"
cd "$REPO_ROOT"

EVENTS="${EVENTS:-1000000}"
HOURS=24
PARTITIONS=3
FLUSH_RECORDS=$(( EVENTS / (PARTITIONS * HOURS * 720) ))
[ "$FLUSH_RECORDS" -ge 1 ] || FLUSH_RECORDS=1
WORK_DIR="$(mktemp -d)"
PIDS=()
trap 'for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done; rm -rf "$WORK_DIR"' EXIT

TANSU_BIN="$(ensure_tansu)"
PYTHON="$(ensure_spark)"
export TANSU_BIN
log "building release binaries"
cargo build --locked --release -p hdfs-consumer -p lake --bin hdfs-consumer --example fill_topic --example cat_landed
BIN="${CARGO_TARGET_DIR:-$REPO_ROOT/target}/release"

admin_port="$(free_port)"
start_tansu "$WORK_DIR/tansu.log"; PIDS+=("$TANSU_PID")
kafka_port="$TANSU_PORT"
bootstrap="127.0.0.1:$kafka_port"

# The most files in one hour folder under $1, and their mean over the hours.
files_per_hour() {
    find "$1" -path '*/dt=*/hour=*' -type f -printf '%h\n' | sort | uniq -c | awk '
        { n += $1; h += 1; if ($1 > m) m = $1 } END { printf "%d %.1f %d %d", m, n / h, h, n }'
}

# Lands a fresh topic as $1 (json or parquet) under $WORK_DIR/$1; prints the seconds it took.
land() {
    local format="$1" topic="lake-$1" dir="$WORK_DIR/$1" log="$WORK_DIR/hdfs-consumer-$1.log"
    local pid started compact_after=never
    [ "$format" = parquet ] && compact_after=1s
    create_topic "$kafka_port" "$topic" "$PARTITIONS"
    KAFKA_BOOTSTRAP_SERVERS="$bootstrap" KAFKA_TOPIC="$topic" KAFKA_GROUP_ID="lake-$$-$format" \
    LANDING_URL="file://$dir" ADMIN_ADDR="127.0.0.1:$admin_port" LANDING_FORMAT="$format" \
    FLUSH_MAX_RECORDS="$FLUSH_RECORDS" COMPACT_AFTER="$compact_after" RUST_LOG=info \
        scripts/bench/peak-rss.py "$dir.rss" "$BIN/hdfs-consumer" >"$log" 2>&1 &
    pid=$!; PIDS+=("$pid")
    wait_for_metric "$admin_port" hdfs_consumer_assigned_partitions "$PARTITIONS" "$pid" "$log" 120
    until [ "$(grep 'partition claimed' "$log" | tail -n 3 | grep -o 'worker=[0-9]*' | sort -u | wc -l)" -eq "$PARTITIONS" ]; do
        kill -0 "$pid" 2>/dev/null || die "hdfs-consumer exited; see $log"
        sleep 0.1
    done
    started="$(date +%s.%N)"
    FILL_HOURS="$HOURS" "$BIN/examples/fill_topic" "$bootstrap" "$topic" "$EVENTS" "$dir.ids" 2>/dev/null
    local deadline=$((SECONDS + 1800))
    # Landed, and with Parquet every hour merged to one file per partition.
    until [ "$(metric_value "$admin_port" hdfs_consumer_records_landed_total)" = "$EVENTS" ] \
        && { [ "$format" = json ] || [ "$(files_per_hour "$dir/$topic" | cut -d' ' -f1)" -le "$PARTITIONS" ]; }; do
        kill -0 "$pid" 2>/dev/null || die "hdfs-consumer exited; see $log"
        [ $SECONDS -lt $deadline ] || die "hdfs-consumer did not finish in 30 minutes; see $log"
        sleep 0.5
    done
    local seconds
    seconds="$(python3 -c "print(f'{$(date +%s.%N) - $started:.1f}')")"
    kill -TERM "$pid"
    wait "$pid" || die "hdfs-consumer did not stop cleanly; see $log"
    echo "$seconds $(cat "$dir.rss")"
    "$BIN/examples/cat_landed" "file://$dir" "$topic" | python3 -c '
import json, sys
written = set(open(sys.argv[1]).read().split())
landed = [json.loads(line)["eventId"] for line in sys.stdin]
assert len(landed) == len(set(landed)), f"{len(landed) - len(set(landed))} events landed twice"
assert set(landed) == written, f"{len(written - set(landed))} events never landed"
' "$dir.ids" || die "the $format landing does not hold every event exactly once"
}

log "landing $EVENTS clicks over $HOURS hours as JSON lines, never merged ($FLUSH_RECORDS records a file)"
read -r json_seconds json_rss <<<"$(land json)"
log "landing them as Parquet, each hour merged"
read -r parquet_seconds parquet_rss <<<"$(land parquet)"
log "querying both with Spark SQL and DuckDB"
"$PYTHON" scripts/bench/lake-queries.py --json "file://$WORK_DIR/json" lake-json \
    --parquet "file://$WORK_DIR/parquet" lake-parquet >"$WORK_DIR/queries.json"

"$PYTHON" - "$EVENTS" "$PARTITIONS" "$json_seconds $json_rss" "$parquet_seconds $parquet_rss" "$WORK_DIR/queries.json" \
    "$(files_per_hour "$WORK_DIR/json/lake-json")" "$(files_per_hour "$WORK_DIR/parquet/lake-parquet")" \
    "$(du -sb --apparent-size "$WORK_DIR"/json/lake-json/dt=* | awk '{ n += $1 } END { print n }')" \
    "$(du -sb --apparent-size "$WORK_DIR"/parquet/lake-parquet/dt=* | awk '{ n += $1 } END { print n }')" <<'PY'
import json, statistics, sys
events, partitions, json_s, parquet_s, queries, json_files, parquet_files, json_bytes, parquet_bytes = sys.argv[1:]
events, partitions = int(events), int(partitions)
times = json.load(open(queries))
rows = {}
for fmt, files, size, landed in (("json", json_files, json_bytes, json_s), ("parquet", parquet_files, parquet_bytes, parquet_s)):
    most, mean, hours, total = files.split()
    landed_s, rss = landed.split()
    rows[fmt] = {"most": int(most), "mean": float(mean), "hours": int(hours), "files": int(total),
                 "bytes": int(size) / events, "landed": float(landed_s), "rss": float(rss)}
def median(engine, fmt, query):
    return statistics.median(times[engine][f"{fmt}/{query}"])
print()
print(f"lake benchmark: {events} clicks over 24 hours, {partitions} partitions, same run")
print(f"  {'layout':44} {'files/hour':>10} {'bytes/event':>11} {'landed s':>9} {'RSS MiB':>8} {'Spark count':>11} {'Spark group':>11} {'DuckDB count':>12} {'DuckDB group':>12}")
labels = {"json": "JSON lines, 5 s flushes, never merged", "parquet": "Parquet, each hour merged"}
for fmt, row in rows.items():
    print(f"  {labels[fmt]:44} {row['mean']:>10.1f} {row['bytes']:>11.1f} {row['landed']:>9.1f} {row['rss']:>8.1f}"
          f" {median('spark', fmt, 'count'):>11.3f} {median('spark', fmt, 'per day and colour'):>11.3f}"
          f" {median('duckdb', fmt, 'count'):>12.3f} {median('duckdb', fmt, 'per day and colour'):>12.3f}")
ratio = lambda engine, query: median(engine, "json", query) / median(engine, "parquet", query)
print(f"  {'ratio (JSON / Parquet)':44} {rows['json']['mean'] / rows['parquet']['mean']:>10.0f} {rows['json']['bytes'] / rows['parquet']['bytes']:>11.1f} {'':>9} {'':>8}"
      f" {ratio('spark', 'count'):>11.0f} {ratio('spark', 'per day and colour'):>11.0f}"
      f" {ratio('duckdb', 'count'):>12.0f} {ratio('duckdb', 'per day and colour'):>12.0f}")
print("  query times in seconds, the median of 3 runs; Spark in one session, its start-up not counted")
print("  landed s: from the first click written until every click landed (and, for Parquet, every hour merged);")
print("  RSS MiB: hdfs-consumer's peak over its whole life")
print(f"  hours: {rows['json']['hours']}; files: {rows['json']['files']} JSON, {rows['parquet']['files']} Parquet; "
      f"most in one hour: {rows['json']['most']} JSON, {rows['parquet']['most']} Parquet")
goals = {
    "Spark at least 10 times faster": min(ratio("spark", q) for q in ("count", "per day and colour")) >= 10,
    "at most 64 bytes per event": rows["parquet"]["bytes"] <= 64,
    "files per closed hour = partitions": rows["parquet"]["most"] == partitions,
    "merging within the sink's 64 MiB": rows["parquet"]["rss"] <= 64,
}
for goal, met in goals.items():
    print(f"  goal: {goal}: {'met' if met else 'NOT met'}")
PY
