#!/usr/bin/env bash
# Runs every check and test: formatting, lints, unit and in-process HTTP tests, Kafka, end-to-end
# and crash tests on librdkafka's mock cluster (dev-broker) and osmem-server (the Elasticsearch
# stand-in), one smoke test per service on tansu (an independent Kafka-protocol broker), the
# real-browser test in headless Chromium, and two smoke runs of scripts/demo.sh. Installs what
# it needs on first use.
source "$(dirname "$0")/lib.sh"
cd "$REPO_ROOT"

warn_if_low_disk "${CARGO_TARGET_DIR:-$REPO_ROOT/target}" 5500

log "cargo fmt --check"
cargo fmt --all --check

log "cargo clippy (all targets, warnings are errors)"
cargo clippy --locked --workspace --all-targets --quiet -- -D warnings

# Tests come in two sets: those that need nothing installed run first, so a broken unit test
# fails in minutes; those that need a peer (tansu, osmem-server, Hadoop, Spark, Chromium) are
# marked ignored and run last, after the installs and the demo smoke runs.
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

log "test dependencies: tansu, osmem-server, Hadoop's HDFS, pyspark, Chromium, playwright-core"
ensure_debian_packages curl chromium python3-venv openssl
TANSU_BIN="$(ensure_tansu)"
OSMEM_BIN="$(ensure_osmem)"
SPARK_PYTHON="$(ensure_spark)"
export TANSU_BIN OSMEM_BIN SPARK_PYTHON
ensure_hadoop >/dev/null
ensure_browser

# One run of README command 1 in $1 (with --hdfs when $2 says hdfs): it starts, takes a click
# that reaches the topic, a landed file and the search index, the colour count shows it, and
# SIGTERM stops every service cleanly: no ERROR line in any log. Prints where the click landed.
# What the demo started is read from the description it writes, demo.json.
# A value in the description of the demo running in $1, found by the keys after it (kafka
# topic); of an object, its values, one per line.
demo_fact() {
    python3 -c 'import json, sys
value = json.load(open(sys.argv[1]))
for key in sys.argv[2:]:
    value = value[key]
print("\n".join(map(str, value.values())) if isinstance(value, dict) else value)' "$1/demo.json" "${@:2}"
}

demo_smoke_run() {
    local run_dir="$1" mode="${2:-local}" api_port web_port admin_port es_port sink_admin_port demo_pid answer event_id
    local bootstrap landed="" indexed="" deadline page counts pids pid
    mkdir -p "$run_dir"
    # Emptied here, not by the redirection below: that one happens in the child, maybe after
    # the wait for the banner has read an earlier run's.
    : >"$run_dir/demo.out"
    api_port="$(free_port)"; web_port="$(free_port)"; admin_port="$(free_port)"
    es_port="$(free_port)"; sink_admin_port="$(free_port)"
    API_PORT="$api_port" WEB_PORT="$web_port" HDFS_CONSUMER_ADMIN_PORT="$admin_port" \
        ES_PORT="$es_port" ES_SINK_ADMIN_PORT="$sink_admin_port" \
        DEMO_PROFILE=dev RUN_DIR="$run_dir" \
        setsid "$REPO_ROOT/scripts/demo.sh" $([ "$mode" = hdfs ] && echo --hdfs) >"$run_dir/demo.out" 2>&1 &
    demo_pid=$!
    smoke_fail() {
        cat "$run_dir"/*.out "$run_dir"/*.log >&2 2>/dev/null || true
        kill -TERM "$demo_pid" 2>/dev/null || true
        die "demo smoke run: $*"
    }
    deadline=$((SECONDS + 600))
    until [ -s "$run_dir/demo.json" ]; do
        kill -0 "$demo_pid" 2>/dev/null || smoke_fail "demo.sh exited early"
        [ $SECONDS -lt $deadline ] || smoke_fail "not ready within 600 s"
        sleep 1
    done
    # Output is taken whole before it is searched: with pipefail, `writer | grep -q` fails
    # whenever grep stops reading before the writer is done.
    page="$(curl -fsS "http://127.0.0.1:$web_port/")" || smoke_fail "the page did not answer"
    grep -q 'data-color="purple"' <<<"$page" || smoke_fail "page has no colour buttons"
    answer="$(curl -fsS -X POST -H 'Content-Type: application/json' -H "Origin: http://127.0.0.1:$web_port" \
        -d '{"userName":"smoke 검사","colorName":"green"}' "http://127.0.0.1:$api_port/api/events")" \
        || smoke_fail "POST refused"
    event_id="$(python3 -c 'import json,sys; print(json.load(sys.stdin)["eventId"])' <<<"$answer")"
    bootstrap="$(demo_fact "$run_dir" kafka bootstrapServers)" || smoke_fail "demo.json has no bootstrap list"
    pids="$(demo_fact "$run_dir" pids)" || smoke_fail "demo.json has no process ids"
    # The watch command the demo prints, stopped after one record.
    timeout 60 "${CARGO_TARGET_DIR:-$REPO_ROOT/target}/debug/examples/tail_topic" "$bootstrap" select-color 1 \
        >"$run_dir/topic.out" 2>/dev/null || smoke_fail "could not read the topic"
    grep -q "$event_id" "$run_dir/topic.out" || smoke_fail "event $event_id not in the topic"
    if [ "$mode" = hdfs ]; then
        deadline=$((SECONDS + 60))
        until [ "$(metric_value "$admin_port" hdfs_consumer_records_landed_total)" = 1 ]; do
            [ $SECONDS -lt $deadline ] || smoke_fail "nothing landed on HDFS within 60 s"
            sleep 0.5
        done
        landed="$(RUN_DIR="$run_dir" "$REPO_ROOT/scripts/hive.sh" \
            "SELECT concat(dt, '/', hour, ' ', eventId) FROM select_color" 2>/dev/null | grep "$event_id" || true)"
        [ -n "$landed" ] || smoke_fail "event $event_id is not in the Hive table over HDFS"
        landed="$(demo_fact "$run_dir" landingUrl): $landed"
    else
        for _ in $(seq 1 60); do
            landed="$(grep -rl "$event_id" "$run_dir/landing/select-color/" 2>/dev/null | grep '/dt=.*/hour=.*\.json$' || true)"
            [ -n "$landed" ] && break
            sleep 0.5
        done
        [ -n "$landed" ] || smoke_fail "event $event_id was not landed as a file"
    fi
    for _ in $(seq 1 60); do
        indexed="$(curl -fsS -H 'Content-Type: application/json' "http://127.0.0.1:$es_port/web-events-*/_search" \
            -d "{\"query\":{\"term\":{\"eventId\":\"$event_id\"}}}" 2>/dev/null \
            | python3 -c 'import json,sys; print(json.load(sys.stdin)["hits"]["total"]["value"])' 2>/dev/null || true)"
        [ "$indexed" = "1" ] && break
        sleep 0.5
    done
    [ "$indexed" = "1" ] || smoke_fail "event $event_id was not indexed"
    counts="$(ES_PORT="$es_port" "$REPO_ROOT/scripts/colour-counts.sh")" || smoke_fail "colour-counts.sh failed"
    grep -Eq '^green +1$' <<<"$counts" || smoke_fail "the colour count does not show the click: $counts"
    kill -TERM "$demo_pid"
    for _ in $(seq 1 60); do kill -0 "$demo_pid" 2>/dev/null || break; sleep 0.5; done
    kill -0 "$demo_pid" 2>/dev/null && smoke_fail "demo.sh still running 30 s after SIGTERM"
    for pid in $pids; do
        kill -0 "$pid" 2>/dev/null && smoke_fail "process $pid outlived demo.sh"
    done
    [ ! -e "$run_dir/demo.json" ] || smoke_fail "demo.json outlived the demo"
    if grep -H " ERROR " "$run_dir"/*.log >&2; then
        smoke_fail "a clean stop left ERROR lines"
    fi
    echo "${landed#"$run_dir"/}"
}

log "README command 1: scripts/demo.sh starts, takes a click, stops cleanly; a second run in the same folder too"
smoke_dir="$(mktemp -d)"
first="$(demo_smoke_run "$smoke_dir")"
second="$(demo_smoke_run "$smoke_dir")"
ls -d "$smoke_dir"/landing-before-* >/dev/null 2>&1 || die "the second demo run did not keep the first run's files aside"
log "scripts/hive.sh answers the example queries over the second run's files"
answers="$(RUN_DIR="$smoke_dir" scripts/hive.sh 2>/dev/null)" || die "scripts/hive.sh failed"
grep -Eq '^[0-9]{4}-[0-9]{2}-[0-9]{2} +green +1$' <<<"$answers" || die "scripts/hive.sh does not count the click: $answers"
log "scripts/demo.sh --hdfs lands on a real HDFS, which scripts/hive.sh reads"
third="$(demo_smoke_run "$smoke_dir/on-hdfs" hdfs)"
rm -rf "$smoke_dir"
log "demo smoke runs passed (first click landed in $first, second in $second, third in $third)"

log "release build, as the Dockerfile runs it"
build_line="$(sed -n 's/^RUN \(cargo build .*\)$/\1/p' Dockerfile)"
[ -n "$build_line" ] || die "no cargo build line in the Dockerfile"
log "  $build_line"
eval "$build_line --quiet"

log "docker-compose.yml static checks (no Docker engine needed)"
"$(ensure_check_python)" scripts/check-stack.py "$(ensure_compose_schema)" "${CARGO_TARGET_DIR:-$REPO_ROOT/target}/release"

log "tests on peers: osmem-server, tansu, HDFS, Spark, Chromium, and the freeze tests"
run_tests only
