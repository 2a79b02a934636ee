#!/usr/bin/env bash
# Ingest benchmark: wrk at 64 connections for 20 s against producer-api backed by dev-broker
# (the in-memory Kafka cluster of the demo: 3 brokers, 3 partitions, replication factor 2), and
# in the same run against two baselines without Kafka: a minimal axum handler that reads the
# click and answers 202, and `bare_accept`, which also makes an id and answers it as JSON.
# Then producer-api again with batches of 50 clicks per request. Prints requests/s, events/s,
# p50/p99 latency, peak RSS (each server's high-water mark over its whole life), and the ratios.
#
# Goals, pinned: at least 0.85 of the minimal handler's requests/s and 0.8 of bare_accept's,
# p99 under 10 ms, peak RSS at
# most 50 MiB; with 50-click batches at least 5 times the single-click events/s.
#
# It measures twice:
#   shared  every process may use every core, as in a deployment where the collector has the
#           machine to itself and the load comes from elsewhere;
#   pinned  the server gets CPU 0 alone, wrk and the broker the others (taskset), so the figures
#           compare the CPU each server spends per request. Needs at least two cores.
#
#   CONNECTIONS (64)  DURATION (20s)  WRK_THREADS (1)  MODES ("shared pinned")
#   BENCH_PROFILE (release): the cargo profile to build; `dev` measures the demo's build
#   PROFILE=1: in pinned mode, also records producer-api's single-click run with perf and
#   prints the top entries (needs perf: Debian's linux-perf).
source "$(dirname "$0")/lib.sh"
cd "$REPO_ROOT"

CONNECTIONS="${CONNECTIONS:-64}"
DURATION="${DURATION:-20s}"
WRK_THREADS="${WRK_THREADS:-1}"
MODES="${MODES:-shared pinned}"
BENCH_PROFILE="${BENCH_PROFILE:-release}"
WORK_DIR="$(mktemp -d)"

PIDS=()
stop_pids() { for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done; PIDS=(); }
trap 'stop_pids; rm -rf "$WORK_DIR"' EXIT

ensure_debian_packages wrk curl util-linux
[ "${PROFILE:-0}" = 1 ] && ensure_debian_packages linux-perf
log "building the binaries ($BENCH_PROFILE profile)"
cargo build --locked --profile "$BENCH_PROFILE" -p producer-api -p dev-broker --bins --example bare_accept
BIN="$(profile_dir "$BENCH_PROFILE")"

# Runs wrk against $1 with the request script $2 (post-event.lua by default) and prints
# "requests_per_s p50_ms p99_ms non_2xx".
load() {
    local url="$1" script="${2:-scripts/bench/post-event.lua}" out="$WORK_DIR/wrk.out"
    "${LOAD_CPUS[@]}" wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency \
        -s "$script" "$url" >"$out"
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

row() { printf '  %-30s %10s %10s   %6s   %6s   %12s   %7s\n' "$@"; }
# The peak RSS a server wrote when it stopped (scripts/bench/peak-rss.py); call stop_pids first.
stopped_rss() {
    local file="$WORK_DIR/$1.rss" deadline=$((SECONDS + 30))
    until [ -s "$file" ]; do
        [ $SECONDS -lt $deadline ] || die "$1: no peak RSS written within 30 s of its stop"
        sleep 0.1
    done
    cat "$file"
}
REPORT="$WORK_DIR/report"
: >"$REPORT"

for mode in $MODES; do
    if [ "$mode" = pinned ]; then
        [ "$(nproc)" -ge 2 ] || { log "skipping pinned mode: one core"; continue; }
        SERVER_CPUS=(taskset -c 0); LOAD_CPUS=(taskset -c "1-$(($(nproc) - 1))")
    else
        SERVER_CPUS=(); LOAD_CPUS=()
    fi

    # Runs a baseline ($1: with-id or minimal) and sets <name>_rps, _p50, _p99, _bad, _rss.
    baseline() {
        local name="$1" port result
        port="$(free_port)"
        "${SERVER_CPUS[@]}" scripts/bench/peak-rss.py "$WORK_DIR/$name.rss" \
            "$BIN/examples/bare_accept" "127.0.0.1:$port" "$name" 2>/dev/null &
        PIDS+=("$!")
        wait_for_port 127.0.0.1 "$port"
        log "$mode: baseline handler ($name), $CONNECTIONS connections, $DURATION"
        result="$(load "http://127.0.0.1:$port/api/events")"
        stop_pids
        printf '%s %s\n' "$result" "$(stopped_rss "$name")"
    }
    read -r bare_rps bare_p50 bare_p99 bare_bad bare_rss <<<"$(baseline with-id)"
    read -r min_rps min_p50 min_p99 min_bad min_rss <<<"$(baseline minimal)"

    # Starts producer-api on a fresh broker; its peak RSS goes to $1.rss.
    start_api() {
        api_port="$(free_port)"
        start_dev_broker "$BIN/dev-broker" "$WORK_DIR/dev-broker.log"; PIDS+=("$DEV_BROKER_PID")
        [ ${#LOAD_CPUS[@]} -eq 0 ] || taskset -a -p -c "${LOAD_CPUS[2]}" "$DEV_BROKER_PID" >/dev/null
        # The fair share is on, high enough that the one client here is never refused: the
        # figures say what checking it costs each request.
        KAFKA_BOOTSTRAP_SERVERS="$DEV_BROKER_BOOTSTRAP" LISTEN_ADDR="127.0.0.1:$api_port" RUST_LOG=warn \
        CLIENT_CLICKS_PER_SECOND=100000000 CLIENT_BURST=100000000 \
            "${SERVER_CPUS[@]}" scripts/bench/peak-rss.py "$WORK_DIR/$1.rss" "$BIN/producer-api" \
            >"$WORK_DIR/$1.log" 2>&1 &
        api_pid=$!; PIDS+=("$api_pid")
        wait_for_http "http://127.0.0.1:$api_port/readyz" 60
    }
    # Every accepted event delivered? Prints "accepted delivered failed" once the queue drained.
    deliveries() {
        local metrics deadline=$((SECONDS + 30))
        while :; do
            metrics="$(curl -fsS "http://127.0.0.1:$api_port/metrics")"
            [ "$(awk '$1 == "producer_api_producer_queue_depth" { print $2 }' <<<"$metrics")" = 0 ] && break
            [ $SECONDS -lt $deadline ] || break
            sleep 0.2
        done
        awk '$1 == "producer_api_events_accepted_total" { a = $2 } $1 == "producer_api_events_delivered_total" { d = $2 }
             $1 == "producer_api_delivery_failures_total" { f = $2 } END { print a + 0, d + 0, f + 0 }' <<<"$metrics"
    }

    start_api single
    log "$mode: producer-api on dev-broker, $CONNECTIONS connections, $DURATION"
    if [ "${PROFILE:-0}" = 1 ] && [ "$mode" = pinned ]; then
        perf record -F 999 -g -o "$WORK_DIR/perf.data" -p "$(pgrep -P "$api_pid" -f producer-api)" \
            >"$WORK_DIR/perf.log" 2>&1 &
        perf_pid=$!
    fi
    read -r api_rps api_p50 api_p99 api_bad <<<"$(load "http://127.0.0.1:$api_port/api/events")"
    if [ -n "${perf_pid:-}" ]; then
        kill -INT "$perf_pid"; wait "$perf_pid" || true; unset perf_pid
        perf report -i "$WORK_DIR/perf.data" --no-children --sort symbol --percent-limit 1.5 --stdio 2>/dev/null \
            | grep -E '^ +[0-9.]+%' | awk '{ $1 = $1; print }' | sed 's/ - -$//' | cut -c1-110 \
            | head -25 >"$WORK_DIR/profile"
    fi
    read -r accepted delivered failed <<<"$(deliveries)"
    stop_pids; api_rss="$(stopped_rss single)"

    start_api batch
    log "$mode: producer-api on dev-broker, batches of 50 clicks, $CONNECTIONS connections, $DURATION"
    read -r batch_rps batch_p50 batch_p99 batch_bad <<<"$(load "http://127.0.0.1:$api_port/api/events" scripts/bench/post-batch.lua)"
    read -r batch_accepted batch_delivered batch_failed <<<"$(deliveries)"
    stop_pids; batch_rss="$(stopped_rss batch)"

    read -r ratio min_ratio batch_ratio batch_events <<<"$(python3 -c "print(f'{$api_rps / $bare_rps:.2f} {$api_rps / $min_rps:.2f} {$batch_rps * 50 / $api_rps:.2f} {$batch_rps * 50:.0f}')")"
    {
        echo
        echo "[$mode] server ${SERVER_CPUS[*]:-on any core}; wrk and broker ${LOAD_CPUS[*]:-on any core}"
        row "" "requests/s" "events/s" "p50 ms" "p99 ms" "peak RSS MiB" "non-2xx"
        row "minimal handler (parse, 202)" "$min_rps" "$min_rps" "$min_p50" "$min_p99" "$min_rss" "$min_bad"
        row "bare_accept (parse, id, JSON)" "$bare_rps" "$bare_rps" "$bare_p50" "$bare_p99" "$bare_rss" "$bare_bad"
        row "producer-api + broker" "$api_rps" "$api_rps" "$api_p50" "$api_p99" "$api_rss" "$api_bad"
        row "producer-api, 50-click batches" "$batch_rps" "$batch_events" "$batch_p50" "$batch_p99" "$batch_rss" "$batch_bad"
        echo "  throughput ratio: $min_ratio of the minimal handler (goal >= 0.85), $ratio of bare_accept (goal >= 0.80); p99 $api_p99 ms (goal < 10 ms); peak RSS $api_rss MiB (goal <= 50)"
        echo "  batches: $batch_ratio times the single-click events/s (goal >= 5)"
        echo "  single clicks: accepted $accepted, delivered to Kafka $delivered, delivery failures $failed"
        echo "  batches: accepted $batch_accepted, delivered to Kafka $batch_delivered, delivery failures $batch_failed"
        if [ -s "$WORK_DIR/profile" ]; then
            echo "  producer-api's profile, single clicks (perf, self time by symbol):"
            sed 's/^/    /' "$WORK_DIR/profile"
            : >"$WORK_DIR/profile"
        fi
    } >>"$REPORT"
done

echo
echo "ingest benchmark: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)," \
     "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "wrk $WRK_THREADS thread, $CONNECTIONS connections, $DURATION, POST /api/events (a JSON click, or 50)"
cat "$REPORT"
