#!/usr/bin/env bash
# Ingest benchmark: wrk at 64 connections for 20 s against producer-api backed by dev-broker
# (the in-memory Kafka cluster of the demo: 3 brokers, 3 partitions, replication factor 2), and
# in the same run against a bare axum handler that answers 202 without Kafka (the baseline).
# Prints requests/s, p50/p99 latency, peak RSS, and the ratio to the baseline.
#
# It measures twice:
#   shared  every process may use every core, as in a deployment where the collector has the
#           machine to itself and the load comes from elsewhere;
#   pinned  the server gets CPU 0 alone, wrk and the broker the others (taskset), so the figures
#           compare the CPU each server spends per request. Needs at least two cores.
#
#   CONNECTIONS (64)  DURATION (20s)  WRK_THREADS (1)  MODES ("shared pinned")
source "$(dirname "$0")/lib.sh"
cd "$REPO_ROOT"

CONNECTIONS="${CONNECTIONS:-64}"
DURATION="${DURATION:-20s}"
WRK_THREADS="${WRK_THREADS:-1}"
MODES="${MODES:-shared pinned}"
WORK_DIR="$(mktemp -d)"

PIDS=()
stop_pids() { for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done; PIDS=(); }
trap 'stop_pids; rm -rf "$WORK_DIR"' EXIT

ensure_debian_packages wrk curl util-linux
log "building release binaries"
cargo build --locked --release -p producer-api -p dev-broker --bins --example bare_accept
BIN="${CARGO_TARGET_DIR:-$REPO_ROOT/target}/release"

# Runs wrk against $1 and prints "requests_per_s p50_ms p99_ms non_2xx".
load() {
    local url="$1" out="$WORK_DIR/wrk.out"
    "${LOAD_CPUS[@]}" wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency \
        -s scripts/bench/post-event.lua "$url" >"$out"
    python3 - "$out" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
def ms(label):
    value, unit = re.search(rf"^\s*{label}\s+([\d.]+)(us|ms|s)\s*$", text, re.M).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
bad = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
sockets = re.search(r"Socket errors: .*", text)
print(f"{rps:.0f} {ms('50%'):.3f} {ms('99%'):.3f} {int(bad.group(1)) if bad else 0}{'+socket-errors' if sockets else ''}")
PY
}

row() { printf '  %-22s %10s   %6s   %6s   %12s   %7s\n' "$@"; }
REPORT="$WORK_DIR/report"
: >"$REPORT"

for mode in $MODES; do
    if [ "$mode" = pinned ]; then
        [ "$(nproc)" -ge 2 ] || { log "skipping pinned mode: one core"; continue; }
        SERVER_CPUS=(taskset -c 0); LOAD_CPUS=(taskset -c "1-$(($(nproc) - 1))")
    else
        SERVER_CPUS=(); LOAD_CPUS=()
    fi

    bare_port="$(free_port)"
    "${SERVER_CPUS[@]}" "$BIN/examples/bare_accept" "127.0.0.1:$bare_port" 2>/dev/null &
    bare_pid=$!; PIDS+=("$bare_pid")
    wait_for_port 127.0.0.1 "$bare_port"
    log "$mode: bare axum handler, $CONNECTIONS connections, $DURATION"
    read -r bare_rps bare_p50 bare_p99 bare_bad <<<"$(load "http://127.0.0.1:$bare_port/api/events")"
    bare_rss="$(peak_rss_mib "$bare_pid")"
    stop_pids

    api_port="$(free_port)"
    start_dev_broker "$BIN/dev-broker" "$WORK_DIR/dev-broker.log"; PIDS+=("$DEV_BROKER_PID")
    [ ${#LOAD_CPUS[@]} -eq 0 ] || taskset -a -p -c "${LOAD_CPUS[2]}" "$DEV_BROKER_PID" >/dev/null
    KAFKA_BOOTSTRAP_SERVERS="$DEV_BROKER_BOOTSTRAP" LISTEN_ADDR="127.0.0.1:$api_port" RUST_LOG=warn \
        "${SERVER_CPUS[@]}" "$BIN/producer-api" >"$WORK_DIR/api.log" 2>&1 &
    api_pid=$!; PIDS+=("$api_pid")
    wait_for_http "http://127.0.0.1:$api_port/readyz" 60
    log "$mode: producer-api on dev-broker, $CONNECTIONS connections, $DURATION"
    read -r api_rps api_p50 api_p99 api_bad <<<"$(load "http://127.0.0.1:$api_port/api/events")"
    api_rss="$(peak_rss_mib "$api_pid")"
    sleep 2
    metrics="$(curl -fsS "http://127.0.0.1:$api_port/metrics")"
    metric() { awk -v m="$1" '$1 == m { print $2 }' <<<"$metrics"; }
    accepted="$(metric producer_api_events_accepted_total)"
    delivered="$(metric producer_api_events_delivered_total)"
    failed="$(metric producer_api_delivery_failures_total)"
    stop_pids

    ratio="$(python3 -c "print(f'{$api_rps / $bare_rps:.2f}')")"
    {
        echo
        echo "[$mode] server ${SERVER_CPUS[*]:-on any core}; wrk and broker ${LOAD_CPUS[*]:-on any core}"
        row "" "requests/s" "p50 ms" "p99 ms" "peak RSS MiB" "non-2xx"
        row "bare axum handler" "$bare_rps" "$bare_p50" "$bare_p99" "$bare_rss" "$bare_bad"
        row "producer-api + broker" "$api_rps" "$api_p50" "$api_p99" "$api_rss" "$api_bad"
        echo "  throughput ratio: $ratio (goal >= 0.80); producer-api p99 $api_p99 ms (goal < 10 ms)"
        echo "  events accepted $accepted, delivered to Kafka $delivered, delivery failures $failed"
    } >>"$REPORT"
done

echo
echo "ingest benchmark: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)," \
     "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "wrk $WRK_THREADS thread, $CONNECTIONS connections, $DURATION, POST /api/events (a JSON click)"
cat "$REPORT"
