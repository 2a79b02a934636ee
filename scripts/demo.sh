#!/usr/bin/env bash
# Runs the pipeline on one machine, no Docker: a tansu broker (Kafka protocol, in memory) with
# a 3-partition topic and its dead-letter topic, the producer API, the colour page,
# hdfs-consumer landing files in a local directory, and es-sink indexing into osmem-server (an
# in-memory OpenSearch-compatible server standing in for Elasticsearch). Ctrl-C stops
# everything it started.
#
# Ports and the build profile can be changed through the environment:
#   KAFKA_PORT (9092)  API_PORT (8081)  WEB_PORT (8080)  HDFS_CONSUMER_ADMIN_PORT (9101)
#   ES_PORT (9200)  ES_SINK_ADMIN_PORT (9102)
#   KAFKA_TOPIC (select-color)  DEAD_LETTER_TOPIC (select-color-dlq)  DEMO_PROFILE (release)
#   RUN_DIR (.run/ in the checkout: logs, and landed files under landing/)
source "$(dirname "$0")/lib.sh"
cd "$REPO_ROOT"

KAFKA_PORT="${KAFKA_PORT:-9092}"
API_PORT="${API_PORT:-8081}"
WEB_PORT="${WEB_PORT:-8080}"
HDFS_CONSUMER_ADMIN_PORT="${HDFS_CONSUMER_ADMIN_PORT:-9101}"
ES_PORT="${ES_PORT:-9200}"
ES_SINK_ADMIN_PORT="${ES_SINK_ADMIN_PORT:-9102}"
KAFKA_TOPIC="${KAFKA_TOPIC:-select-color}"
DEAD_LETTER_TOPIC="${DEAD_LETTER_TOPIC:-select-color-dlq}"
DEMO_PROFILE="${DEMO_PROFILE:-release}"
RUN_DIR="${RUN_DIR:-$REPO_ROOT/.run}"
LANDING_DIR="$RUN_DIR/landing"
mkdir -p "$RUN_DIR" "$LANDING_DIR"

for port in "$KAFKA_PORT" "$API_PORT" "$WEB_PORT" "$HDFS_CONSUMER_ADMIN_PORT" "$ES_PORT" "$ES_SINK_ADMIN_PORT"; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        die "port $port is already in use (see the top of $0 for the variables that move it)"
    fi
done

STARTED_PIDS=()
stop_all() {
    trap - EXIT INT TERM
    if [ ${#STARTED_PIDS[@]} -gt 0 ]; then
        log "stopping"
        # Newest first: the sinks (index and land what they hold), the page, the API
        # (flushes its producer), then the search server and the broker.
        for ((i = ${#STARTED_PIDS[@]} - 1; i >= 0; i--)); do
            kill -TERM "${STARTED_PIDS[i]}" 2>/dev/null || true
            wait "${STARTED_PIDS[i]}" 2>/dev/null || true
        done
    fi
}
trap stop_all EXIT
trap 'exit 130' INT TERM

TANSU="$(ensure_tansu)"
OSMEM="$(ensure_osmem)"
log "building producer-api, web, hdfs-consumer and es-sink ($DEMO_PROFILE)"
cargo build --locked --profile "$DEMO_PROFILE" -p producer-api -p web -p hdfs-consumer -p es-sink --quiet
case "$DEMO_PROFILE" in dev) BIN_DIR="target/debug" ;; *) BIN_DIR="target/$DEMO_PROFILE" ;; esac
BIN_DIR="${CARGO_TARGET_DIR:-$REPO_ROOT/target}/${BIN_DIR#target/}"

log "starting tansu on 127.0.0.1:$KAFKA_PORT"
TANSU_BIN="$TANSU" start_tansu "$KAFKA_PORT" "$RUN_DIR/tansu.log"
STARTED_PIDS+=("$TANSU_PID")
create_topic "$KAFKA_PORT" "$KAFKA_TOPIC" 3
create_topic "$KAFKA_PORT" "$DEAD_LETTER_TOPIC" 1

log "starting osmem-server (Elasticsearch stand-in) on 127.0.0.1:$ES_PORT"
OSMEM_BIN="$OSMEM" start_osmem "$ES_PORT" "$RUN_DIR/osmem.log"
STARTED_PIDS+=("$OSMEM_PID")

export KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:$KAFKA_PORT" KAFKA_TOPIC
log "starting producer-api on 127.0.0.1:$API_PORT"
LISTEN_ADDR="127.0.0.1:$API_PORT" \
CORS_ALLOWED_ORIGINS="http://127.0.0.1:$WEB_PORT,http://localhost:$WEB_PORT" \
    "$BIN_DIR/producer-api" >"$RUN_DIR/producer-api.log" 2>&1 &
STARTED_PIDS+=("$!")

log "starting web on 127.0.0.1:$WEB_PORT"
LISTEN_ADDR="127.0.0.1:$WEB_PORT" API_BASE_URL="http://127.0.0.1:$API_PORT" \
    "$BIN_DIR/web" >"$RUN_DIR/web.log" 2>&1 &
STARTED_PIDS+=("$!")

log "starting hdfs-consumer, landing under $LANDING_DIR"
LANDING_URL="file://$LANDING_DIR" ADMIN_ADDR="127.0.0.1:$HDFS_CONSUMER_ADMIN_PORT" \
    "$BIN_DIR/hdfs-consumer" >"$RUN_DIR/hdfs-consumer.log" 2>&1 &
STARTED_PIDS+=("$!")

log "starting es-sink, indexing into http://127.0.0.1:$ES_PORT"
ES_URL="http://127.0.0.1:$ES_PORT" DEAD_LETTER_TOPIC="$DEAD_LETTER_TOPIC" \
ADMIN_ADDR="127.0.0.1:$ES_SINK_ADMIN_PORT" \
    "$BIN_DIR/es-sink" >"$RUN_DIR/es-sink.log" 2>&1 &
STARTED_PIDS+=("$!")

wait_for_http "http://127.0.0.1:$API_PORT/readyz" 60
wait_for_http "http://127.0.0.1:$HDFS_CONSUMER_ADMIN_PORT/readyz" 60
wait_for_http "http://127.0.0.1:$ES_SINK_ADMIN_PORT/readyz" 60
wait_for_http "http://127.0.0.1:$WEB_PORT/healthz" 30

cat <<INFO

  The page:        http://127.0.0.1:$WEB_PORT/
  Producer API:    http://127.0.0.1:$API_PORT/api/events  (/healthz /readyz /metrics)
  Kafka (tansu):   127.0.0.1:$KAFKA_PORT, topic $KAFKA_TOPIC, 3 partitions
  Watch the topic: cargo run -q -p producer-api --example tail_topic -- 127.0.0.1:$KAFKA_PORT $KAFKA_TOPIC
  Landed files:    $LANDING_DIR/$KAFKA_TOPIC/dt=*/hour=*/*.json  (a few seconds after a click)
                   e.g. cat $LANDING_DIR/$KAFKA_TOPIC/dt=*/hour=*/*.json
  hdfs-consumer:   http://127.0.0.1:$HDFS_CONSUMER_ADMIN_PORT/metrics
  Search (osmem):  http://127.0.0.1:$ES_PORT/web-events-*/_search  (about a second after a click)
                   e.g. scripts/colour-counts.sh
  es-sink:         http://127.0.0.1:$ES_SINK_ADMIN_PORT/metrics, dead letters in $DEAD_LETTER_TOPIC
  Logs:            $RUN_DIR/

  Ctrl-C stops everything.

INFO

# Stop when any service dies, so a crash is not hidden behind a running page.
wait -n "${STARTED_PIDS[@]}"
die "a service exited; see the logs in $RUN_DIR/"
