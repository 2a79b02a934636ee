#!/usr/bin/env bash
# Indexing benchmark: fills a 3-partition topic on tansu with EVENTS click events (default
# 200 000, the collector's producer settings), then, in the same run, indexes them into a fresh
# osmem-server twice:
#   - a plain loop that posts the same documents directly as _bulk requests of BULK_MAX_DOCS,
#     one at a time, with no Kafka in the way (read into memory first, not timed);
#   - es-sink, with its defaults (bulks of 1000 documents, 2 in flight, 4 MiB prefetch),
#     consuming the topic and indexing it.
# Prints documents/s of both, the ratio, and the sink's peak RSS: the process's high-water mark
# over its whole life, its stop included. Both end with the document count checked equal to the
# events (ids are the unique event ids), and the sink must have seen no offset gap.
#
# Goals: es-sink indexes at >= 0.90 of the direct loop's rate and peaks at <= 64 MiB.
#
# Why tansu: librdkafka's mock cluster (dev-broker) keeps at most 5 MiB per partition, below
# these events. tansu keeps them, but answers a fetch that starts inside a record batch with the
# next batch. Here a single sink reads every partition from its start without a rebalance, so
# each fetch starts where the previous one ended; a pause while the search server lags would
# resume inside a batch, and the gap check would say so.
#
#   EVENTS (200000); es-sink's own variables (BULK_MAX_DOCS, KAFKA_PREFETCH_BYTES...) pass
#   through to it, and the direct loop posts bulks of the same BULK_MAX_DOCS.
source "$(dirname "$0")/lib.sh"
cd "$REPO_ROOT"

EVENTS="${EVENTS:-200000}"
BULK_MAX_DOCS="${BULK_MAX_DOCS:-1000}"
WORK_DIR="$(mktemp -d)"
PIDS=()
trap 'for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done; rm -rf "$WORK_DIR"' EXIT

TANSU_BIN="$(ensure_tansu)"
OSMEM_BIN="$(ensure_osmem)"
export TANSU_BIN OSMEM_BIN
log "building release binaries"
cargo build --locked --release --quiet -p es-sink --bin es-sink --example direct_bulk
cargo build --locked --release --quiet -p hdfs-consumer --example fill_topic
BIN="${CARGO_TARGET_DIR:-$REPO_ROOT/target}/release"

admin_port="$(free_port)"
start_tansu "$WORK_DIR/tansu.log"; PIDS+=("$TANSU_PID")
kafka_port="$TANSU_PORT"
create_topic "$kafka_port" select-color 3
create_topic "$kafka_port" select-color-dlq 1
log "filling select-color with $EVENTS events"
"$BIN/examples/fill_topic" "127.0.0.1:$kafka_port" select-color "$EVENTS"

# A fresh search server for each contender, so neither indexes into the other's leftovers.
fresh_osmem() {
    [ -n "${OSMEM_PID:-}" ] && { kill -TERM "$OSMEM_PID" 2>/dev/null || true; wait "$OSMEM_PID" 2>/dev/null || true; }
    es_port="$(free_port)"
    start_osmem "$es_port" "$WORK_DIR/osmem-$1.log"; PIDS+=("$OSMEM_PID")
    # The same index template as the sink puts, so both index under the same mappings.
    curl -fsS -X PUT -H 'Content-Type: application/json' "http://127.0.0.1:$es_port/_index_template/web-events" \
        -d "$(cargo run --locked --release --quiet -p es-sink --example print_template)" >/dev/null
}
count() {
    curl -fsS -X POST "http://127.0.0.1:$es_port/web-events-*/_refresh" >/dev/null
    curl -fsS "http://127.0.0.1:$es_port/web-events-*/_count" | python3 -c 'import json,sys; print(json.load(sys.stdin)["count"])'
}

log "baseline: direct _bulk loop"
fresh_osmem direct
read -r direct_docs direct_seconds <<<"$("$BIN/examples/direct_bulk" "127.0.0.1:$kafka_port" select-color "$EVENTS" \
    "http://127.0.0.1:$es_port" web-events "$BULK_MAX_DOCS")"
[ "$(count)" -eq "$EVENTS" ] || die "the direct loop indexed $(count) of $EVENTS"

log "es-sink"
fresh_osmem sink
KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:$kafka_port" KAFKA_GROUP_ID="bench-$$" ES_URL="http://127.0.0.1:$es_port" \
ADMIN_ADDR="127.0.0.1:$admin_port" RUST_LOG=warn \
    scripts/bench/peak-rss.py "$WORK_DIR/es-sink.rss" "$BIN/es-sink" >"$WORK_DIR/es-sink.log" 2>&1 &
sink_pid=$!; PIDS+=("$sink_pid")
# The clock starts when the group has handed out every partition, as the baseline's starts
# with its documents in hand.
wait_for_metric "$admin_port" es_sink_assigned_partitions 3 "$sink_pid" "$WORK_DIR/es-sink.log"
started="$(date +%s.%N)"
wait_for_metric "$admin_port" es_sink_indexed_total "$EVENTS" "$sink_pid" "$WORK_DIR/es-sink.log"
finished="$(date +%s.%N)"
bulks="$(metric_value "$admin_port" es_sink_bulk_documents_count)"
gaps="$(curl -fsS "http://127.0.0.1:$admin_port/metrics" | awk '$1 ~ /^es_sink_offset_gaps_total/ { n += $2 } END { print n + 0 }')"
kill -TERM "$sink_pid"
wait "$sink_pid" || die "es-sink did not stop cleanly; see $WORK_DIR/es-sink.log"
sink_rss="$(cat "$WORK_DIR/es-sink.rss")"
[ "$gaps" = 0 ] || die "es-sink saw $gaps offset gaps; see $WORK_DIR/es-sink.log"
[ "$(count)" -eq "$EVENTS" ] || die "es-sink indexed $(count) documents for $EVENTS events"

python3 - "$EVENTS" "$BULK_MAX_DOCS" "$direct_seconds" "$started" "$finished" "$sink_rss" "$bulks" <<'PY'
import sys
events, per_bulk, direct_s, started, finished, sink_rss, bulks = sys.argv[1:]
events = int(events)
direct_rate = events / float(direct_s)
sink_s = float(finished) - float(started)
sink_rate = events / sink_s
print()
print(f"indexing benchmark: {events} events, _bulk of {per_bulk} documents, osmem-server, tansu in memory, same run")
print(f"  {'':40} {'docs/s':>9} {'seconds':>8} {'peak RSS MiB':>13} {'bulks':>6}")
print(f"  {'direct _bulk loop (no Kafka)':40} {direct_rate:>9.0f} {float(direct_s):>8.2f} {'':>13} {events // int(per_bulk):>6}")
print(f"  {'es-sink (Kafka to index)':40} {sink_rate:>9.0f} {sink_s:>8.2f} {float(sink_rss):>13.1f} {bulks:>6}")
ratio = sink_rate / direct_rate
print(f"  ratio es-sink / direct: {ratio:.2f}; document count checked equal to events, no offset gap")
met = ratio >= 0.90 and float(sink_rss) <= 64
print(f"  goals (ratio >= 0.90, peak RSS <= 64 MiB): {'met' if met else 'NOT met'}")
PY
