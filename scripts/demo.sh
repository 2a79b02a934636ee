#!/usr/bin/env bash
# Runs the pipeline on one machine, no Docker: an in-memory Kafka cluster (dev-broker:
# librdkafka's mock cluster, 3 brokers, a 3-partition topic with replication factor 2 and its
# dead-letter topic), the producer API, the colour page, hdfs-consumer landing files in a local
# directory, and es-sink indexing into osmem-server (an in-memory OpenSearch-compatible server
# standing in for Elasticsearch). Ctrl-C stops everything it started: the page and the API
# first, then the sinks (which land and index what they hold), then the search server and the
# broker.
#
#   scripts/demo.sh          lands in a local folder, RUN_DIR/landing
#   scripts/demo.sh --hdfs   lands on a real HDFS started here (Hadoop's NameNode and DataNode,
#                            Java 17; data under RUN_DIR/hdfs), as the Docker stack does
#   scripts/demo.sh --hive   also keeps a real Hive Metastore (Hive 2.3's, from the pyspark
#                            install, Java 17; database under RUN_DIR/metastore, new each run):
#                            hdfs-consumer makes the table select_color there and registers
#                            each hour as it lands; scripts/hive.sh then queries through it.
#                            Combines with --hdfs.
#   scripts/demo.sh --build  only builds what the demo runs
#
# Settings, all optional:
#   API_PORT (8081)  WEB_PORT (8080)  HDFS_CONSUMER_ADMIN_PORT (9101)  ES_PORT (9200)
#   ES_SINK_ADMIN_PORT (9102)  API_ADMIN_PORT (9100, the collector's /metrics and /readyz,
#                                      off its public port)
#                                      where each server listens, on 127.0.0.1
#   HDFS_CONSUMERS (1)  ES_SINKS (1)   how many processes of each sink share its consumer group;
#                                      the first's admin server is on the port above, the
#                                      others' on free ports the banner lists
#   KAFKA_TOPIC (select-color)  DEAD_LETTER_TOPIC (select-color-dlq)
#   KAFKA_BOOTSTRAP_SERVERS            a Kafka cluster to use instead of the in-memory one; its
#                                      topics must exist
#   KAFKA_PROPERTIES                   extra librdkafka settings for the sinks on that cluster
#   DEMO_PROFILE (dev)                 the cargo profile to build (release: slower to build,
#                                      faster to run)
#   RUN_DIR (.run/ in the checkout)    logs, and landed files under landing/
#   LANDING_FORMAT (parquet)           the landed files' format, parquet or json
#   RETENTION (unset: keep everything) how long the search index and the landing keep a click
#                                      (the sinks delete older ones), e.g. 7d
#
# Once everything is ready it writes RUN_DIR/demo.json, what it started, for scripts to read
# rather than the banner: each service's address (the results page's too) and process id, the
# bootstrap list, the topics, the landing URL, where the binaries are. It is removed when the
# demo stops. scripts/erase.sh reads it to erase a person's clicks from the running demo.
source "$(dirname "$0")/lib.sh"
cd "$REPO_ROOT"

ON_HDFS=""
WITH_HIVE=""
BUILD_ONLY=""
for arg in "$@"; do
    case "$arg" in
        --hdfs) ON_HDFS=1 ;;
        --hive) WITH_HIVE=1 ;;
        --build) BUILD_ONLY=1 ;;
        *) die "usage: $0 [--hdfs] [--hive] | --build" ;;
    esac
done

API_PORT="${API_PORT:-8081}"
API_ADMIN_PORT="${API_ADMIN_PORT:-9100}"
WEB_PORT="${WEB_PORT:-8080}"
HDFS_CONSUMER_ADMIN_PORT="${HDFS_CONSUMER_ADMIN_PORT:-9101}"
ES_PORT="${ES_PORT:-9200}"
ES_SINK_ADMIN_PORT="${ES_SINK_ADMIN_PORT:-9102}"
KAFKA_TOPIC="${KAFKA_TOPIC:-select-color}"
DEAD_LETTER_TOPIC="${DEAD_LETTER_TOPIC:-select-color-dlq}"
ERASED_TOPIC="${ERASED_TOPIC:-select-color-erased}"
export ERASED_TOPIC
DEMO_PROFILE="${DEMO_PROFILE:-dev}"
RUN_DIR="${RUN_DIR:-$REPO_ROOT/.run}"
LANDING_DIR="$RUN_DIR/landing"
HDFS_CONSUMERS="${HDFS_CONSUMERS:-1}"
ES_SINKS="${ES_SINKS:-1}"
mkdir -p "$RUN_DIR"
for count in HDFS_CONSUMERS ES_SINKS; do
    [[ "${!count}" =~ ^[1-9][0-9]?$ ]] || die "$count=${!count}: give a number of processes from 1 to 99"
done
# Each server listens on a port of its own: two settings on one port are refused, naming both.
PORT_SETTINGS=(API_PORT API_ADMIN_PORT WEB_PORT HDFS_CONSUMER_ADMIN_PORT ES_PORT ES_SINK_ADMIN_PORT)
declare -A SETTING_OF_PORT=()
for setting in "${PORT_SETTINGS[@]}"; do
    port="${!setting}"
    [[ "$port" =~ ^[0-9]+$ ]] && [ "$port" -ge 1 ] && [ "$port" -le 65535 ] \
        || die "$setting=$port: give a port from 1 to 65535"
    [ -z "${SETTING_OF_PORT[$port]:-}" ] \
        || die "$setting and ${SETTING_OF_PORT[$port]} are both $port: give each service a port of its own"
    SETTING_OF_PORT[$port]="$setting"
done

# The search server comes from PyPI; on a first run it is installed while cargo builds.
OSMEM_PATH_FILE="$RUN_DIR/osmem-path"
rm -f "$OSMEM_PATH_FILE"
if [ -z "$BUILD_ONLY" ]; then
    [ -n "$(osmem_bin)" ] || log "installing osmem-server from PyPI alongside the build (first run only)"
    ensure_osmem >"$OSMEM_PATH_FILE" 2>"$RUN_DIR/osmem-install.log" &
    OSMEM_INSTALL_PID=$!
fi
# The metastore starts alongside the build: pyspark's jars are installed on first use, and its
# database is made new each run, as the broker starts empty.
METASTORE_URI_FILE="$RUN_DIR/metastore-uri"
rm -f "$METASTORE_URI_FILE"
if [ -n "$WITH_HIVE" ] && [ -z "$BUILD_ONLY" ]; then
    "$REPO_ROOT/scripts/metastore-local.sh" stop "$RUN_DIR/metastore" 2>/dev/null || true
    rm -rf "$RUN_DIR/metastore"
    log "starting a Hive Metastore alongside the build (database under $RUN_DIR/metastore)"
    "$REPO_ROOT/scripts/metastore-local.sh" start "$RUN_DIR/metastore" \
        >"$RUN_DIR/metastore-uri.pending" 2>"$RUN_DIR/metastore-install.log" &
    METASTORE_PID=$!
fi

BIN_DIR="$(profile_dir "$DEMO_PROFILE")"
if [ -x "$BIN_DIR/web" ]; then
    log "building the services ($DEMO_PROFILE profile; only what changed since the last run)"
else
    log "building the services ($DEMO_PROFILE profile): a first build takes about 3½ minutes on 2 cores; later runs start in seconds"
fi
cargo build --locked --profile "$DEMO_PROFILE" \
    -p dev-broker -p producer-api -p web -p lake -p hdfs-consumer -p es-sink -p eraser --bins --example tail_topic \
    --example cat_landed
[ -z "$BUILD_ONLY" ] || exit 0

for setting in "${PORT_SETTINGS[@]}"; do
    port="${!setting}"
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        holder="$(port_holder "$port")"
        die "port $port ($setting) is already in use by ${holder:-a process this user cannot see}; stop it (an earlier demo's?), or set $setting to another port"
    fi
done

# Each sink process: its name (and log), and its admin port. The first of each keeps the
# sink's own name and the port above.
HDFS_CONSUMER_NAMES=(hdfs-consumer)
HDFS_CONSUMER_PORTS=("$HDFS_CONSUMER_ADMIN_PORT")
for n in $(seq 2 "$HDFS_CONSUMERS"); do
    HDFS_CONSUMER_NAMES+=("hdfs-consumer-$n")
    HDFS_CONSUMER_PORTS+=("$(free_port)")
done
ES_SINK_NAMES=(es-sink)
ES_SINK_PORTS=("$ES_SINK_ADMIN_PORT")
for n in $(seq 2 "$ES_SINKS"); do
    ES_SINK_NAMES+=("es-sink-$n")
    ES_SINK_PORTS+=("$(free_port)")
done

# Stopped in this order, each waited for: what produces before what consumes, and what the
# sinks need (the search server, the broker) last. A second Ctrl-C (or SIGTERM) during the stop
# hurries it: what is still running is killed at once, so the sinks do not land or index what
# they hold, and that is said; everything is still stopped.
declare -A PIDS=()
HDFS_STARTED=""
METASTORE_STARTED=""
HURRY=""
STOP_ORDER=(web producer-api "${HDFS_CONSUMER_NAMES[@]}" "${ES_SINK_NAMES[@]}" osmem-server hdfs metastore dev-broker)
hurry() {
    [ -z "$HURRY" ] || return 0
    HURRY=1
    log "stopping at once: what the sinks hold now is not landed or indexed"
}
# Waits until process $1 is gone; once hurried, kills it.
wait_for_exit() {
    local pid="${PIDS[$1]}"
    while kill -0 "$pid" 2>/dev/null; do
        [ -z "$HURRY" ] || kill -KILL "$pid" 2>/dev/null
        # Returns early when a signal is trapped meanwhile, to look again.
        wait "$pid" 2>/dev/null
    done
}
stop_all() {
    trap - EXIT
    trap hurry INT TERM
    # Stopping must finish even when the terminal or a pipe reading our output is gone.
    trap '' PIPE
    set +e
    rm -f "$RUN_DIR/demo.json" "$METASTORE_URI_FILE"
    local name stopped=""
    for name in "${STOP_ORDER[@]}"; do
        if [ "$name" = hdfs ]; then
            # Its daemons are not children of this script; its own script stops them, shielded
            # from a Ctrl-C meant for this one (it kills what does not stop within seconds).
            [ -n "$HDFS_STARTED" ] && (trap '' INT TERM; exec "$REPO_ROOT/scripts/hdfs-local.sh" stop "$RUN_DIR/hdfs")
            continue
        fi
        if [ "$name" = metastore ]; then
            [ -n "$METASTORE_STARTED" ] && (trap '' INT TERM; exec "$REPO_ROOT/scripts/metastore-local.sh" stop "$RUN_DIR/metastore")
            continue
        fi
        [ -n "${PIDS[$name]:-}" ] || continue
        [ -n "$stopped" ] || log "stopping (Ctrl-C again to stop at once)"
        stopped=1
        kill -TERM "${PIDS[$name]}" 2>/dev/null || true
        wait_for_exit "$name"
        if [ "$name" = producer-api ] && [ -n "${PIDS[hdfs-consumer]:-}" ] && [ -z "$HURRY" ]; then
            # The API's last records are in Kafka now; a moment for the sinks to fetch them,
            # since the in-memory broker forgets what they have not read.
            sleep 1
        fi
    done
}
trap stop_all EXIT
trap 'exit 130' INT TERM

# Started in a session of its own, so Ctrl-C in the terminal reaches only this script, which
# then stops everything in order.
start() {
    local name="$1"; shift
    setsid "$@" </dev/null >"$RUN_DIR/$name.log" 2>&1 &
    PIDS[$name]=$!
}

wait "$OSMEM_INSTALL_PID" || die "installing osmem-server failed; see $RUN_DIR/osmem-install.log"
OSMEM="$(cat "$OSMEM_PATH_FILE")"

if [ -n "${KAFKA_BOOTSTRAP_SERVERS:-}" ]; then
    KAFKA_KIND="the given cluster"
    log "using the Kafka cluster at $KAFKA_BOOTSTRAP_SERVERS (topics $KAFKA_TOPIC and $DEAD_LETTER_TOPIC must exist)"
else
    KAFKA_KIND="dev-broker, in memory"
    log "starting dev-broker: an in-memory Kafka cluster of 3 brokers"
    start_dev_broker "$BIN_DIR/dev-broker" "$RUN_DIR/dev-broker.log" \
        --topic "$KAFKA_TOPIC:3:2" --topic "$DEAD_LETTER_TOPIC:1:2" --topic "$ERASED_TOPIC:1:2"
    PIDS[dev-broker]=$DEV_BROKER_PID
    KAFKA_BOOTSTRAP_SERVERS="$DEV_BROKER_BOOTSTRAP"
    KAFKA_PROPERTIES="${KAFKA_PROPERTIES:-$("$BIN_DIR/dev-broker" --print-client-properties)}"
    # The broker starts empty, so checkpoints of an earlier run would point past the end of
    # its partitions. Keep those files, out of the way.
    if [ -n "$(ls -A "$LANDING_DIR" 2>/dev/null)" ]; then
        earlier="$RUN_DIR/landing-before-$(date -u +%Y%m%dT%H%M%SZ)"
        mv "$LANDING_DIR" "$earlier"
        log "the broker starts empty: files landed by an earlier run moved to $earlier"
    fi
fi
mkdir -p "$LANDING_DIR"
LANDING_URL="file://$LANDING_DIR"
if [ -n "$ON_HDFS" ]; then
    log "starting HDFS (a NameNode and a DataNode; data under $RUN_DIR/hdfs)"
    HDFS_STARTED=1
    namenode="$("$REPO_ROOT/scripts/hdfs-local.sh" start "$RUN_DIR/hdfs")"
    # Each run lands in a folder of its own, as the broker starts empty each time.
    LANDING_URL="$namenode/demo-runs/$(date -u +%Y%m%dT%H%M%SZ)"
fi
# Where scripts/hive.sh finds the files, and their format.
LANDING_FORMAT="${LANDING_FORMAT:-parquet}"
echo "$LANDING_URL" >"$RUN_DIR/landing-url"
echo "$LANDING_FORMAT" >"$RUN_DIR/landing-format"
export LANDING_FORMAT
# The consumer keeps the metastore's table, once the metastore answers.
HIVE_SETTINGS=()
if [ -n "$WITH_HIVE" ]; then
    METASTORE_STARTED=1
    wait "$METASTORE_PID" || die "the Hive Metastore did not start; see $RUN_DIR/metastore-install.log and $RUN_DIR/metastore/metastore.log"
    METASTORE_URI="$(tail -n 1 "$RUN_DIR/metastore-uri.pending")"
    rm -f "$RUN_DIR/metastore-uri.pending"
    HIVE_SETTINGS=(HIVE_METASTORE_URIS="$METASTORE_URI")
fi
export KAFKA_BOOTSTRAP_SERVERS KAFKA_TOPIC
# The sinks' client settings, when there are any.
SINK_KAFKA=()
[ -z "${KAFKA_PROPERTIES:-}" ] || SINK_KAFKA=(KAFKA_PROPERTIES="$KAFKA_PROPERTIES")

log "starting osmem-server (Elasticsearch stand-in) on 127.0.0.1:$ES_PORT"
start osmem-server "$OSMEM" -addr "127.0.0.1:$ES_PORT" -no-stdin-watch
wait_for_http "http://127.0.0.1:$ES_PORT/" 30

log "starting producer-api on 127.0.0.1:$API_PORT"
start producer-api env LISTEN_ADDR="127.0.0.1:$API_PORT" METRICS_ADDR="127.0.0.1:$API_ADMIN_PORT" \
    CORS_ALLOWED_ORIGINS="http://127.0.0.1:$WEB_PORT,http://localhost:$WEB_PORT" \
    "$BIN_DIR/producer-api"

# The results page forgets remembered clicks only for the eraser, which shows it this token:
# a new one each run, readable by this user only, where scripts/erase.sh finds it.
FORGET_TOKEN_FILE="$RUN_DIR/forget-token"
(umask 077 && python3 -c 'import secrets; print(secrets.token_hex(32))' >"$FORGET_TOKEN_FILE")
log "starting web on 127.0.0.1:$WEB_PORT"
admin_urls() { local port; for port in "$@"; do printf 'http://127.0.0.1:%s,' "$port"; done | sed 's/,$//'; }
start web env LISTEN_ADDR="127.0.0.1:$WEB_PORT" API_BASE_URL="http://127.0.0.1:$API_PORT" \
    FORGET_TOKEN="$(cat "$FORGET_TOKEN_FILE")" \
    ES_URL="http://127.0.0.1:$ES_PORT" COLLECTOR_ADMIN_URL="http://127.0.0.1:$API_ADMIN_PORT" \
    HDFS_CONSUMER_ADMIN_URLS="$(admin_urls "${HDFS_CONSUMER_PORTS[@]}")" \
    ES_SINK_ADMIN_URLS="$(admin_urls "${ES_SINK_PORTS[@]}")" \
    "$BIN_DIR/web"

for n in "${!HDFS_CONSUMER_NAMES[@]}"; do
    log "starting ${HDFS_CONSUMER_NAMES[$n]}, landing under $LANDING_URL"
    start "${HDFS_CONSUMER_NAMES[$n]}" env LANDING_URL="$LANDING_URL" "${HIVE_SETTINGS[@]}" \
        ADMIN_ADDR="127.0.0.1:${HDFS_CONSUMER_PORTS[$n]}" "${SINK_KAFKA[@]}" "$BIN_DIR/hdfs-consumer"
done

for n in "${!ES_SINK_NAMES[@]}"; do
    log "starting ${ES_SINK_NAMES[$n]}, indexing into http://127.0.0.1:$ES_PORT"
    start "${ES_SINK_NAMES[$n]}" env ES_URL="http://127.0.0.1:$ES_PORT" \
        DEAD_LETTER_TOPIC="$DEAD_LETTER_TOPIC" ADMIN_ADDR="127.0.0.1:${ES_SINK_PORTS[$n]}" \
        "${SINK_KAFKA[@]}" "$BIN_DIR/es-sink"
done

wait_for_http "http://127.0.0.1:$API_PORT/readyz" 60
for port in "${HDFS_CONSUMER_PORTS[@]}" "${ES_SINK_PORTS[@]}"; do
    wait_for_http "http://127.0.0.1:$port/readyz" 60
done
wait_for_http "http://127.0.0.1:$WEB_PORT/healthz" 30
# Each address is answered by the process started for it, not by another that took its port.
owned_ports=(osmem-server "$ES_PORT" producer-api "$API_PORT" producer-api "$API_ADMIN_PORT" web "$WEB_PORT")
for n in "${!HDFS_CONSUMER_NAMES[@]}"; do owned_ports+=("${HDFS_CONSUMER_NAMES[$n]}" "${HDFS_CONSUMER_PORTS[$n]}"); done
for n in "${!ES_SINK_NAMES[@]}"; do owned_ports+=("${ES_SINK_NAMES[$n]}" "${ES_SINK_PORTS[$n]}"); done
for ((i = 0; i < ${#owned_ports[@]}; i += 2)); do
    name="${owned_ports[$i]}" port="${owned_ports[$((i + 1))]}"
    holder="$(port_holder "$port")"
    [ "${holder%% (*}" = "pid ${PIDS[$name]}" ] \
        || die "127.0.0.1:$port, $name's address, is answered by ${holder:-a process this user cannot see}, not by the $name this demo started (pid ${PIDS[$name]})"
done

# Waits until metric $1 summed over the admin servers on the ports after $2 is $2: the
# processes of one sink own every partition between them.
wait_for_group() {
    local name="$1" want="$2" deadline=$((SECONDS + 90)) total process
    shift 2
    while :; do
        total="$(for port in "$@"; do metric_value "$port" "$name"; done | awk '{ n += $1 } END { print n + 0 }')"
        [ "$total" = "$want" ] && return
        for process in "${HDFS_CONSUMER_NAMES[@]}" "${ES_SINK_NAMES[@]}"; do
            kill -0 "${PIDS[$process]}" 2>/dev/null || die "$process exited; see $RUN_DIR/$process.log"
        done
        [ $SECONDS -lt $deadline ] || die "$name is $total, not $want, after 90 s; see $RUN_DIR/"
        sleep 0.1
    done
}
if [ -n "${PIDS[dev-broker]:-}" ]; then
    # Ready when the sinks read every partition, so that no click waits unread in a broker that
    # forgets it on Ctrl-C.
    log "waiting for the sinks to join their consumer groups"
    wait_for_group hdfs_consumer_assigned_partitions 3 "${HDFS_CONSUMER_PORTS[@]}"
    wait_for_group es_sink_assigned_partitions 3 "${ES_SINK_PORTS[@]}"
fi

LANDED_FILES="$LANDING_URL/$KAFKA_TOPIC/dt=*/hour=*/*.$LANDING_FORMAT"
[ -n "$ON_HDFS" ] || LANDED_FILES="$LANDING_DIR/$KAFKA_TOPIC/dt=*/hour=*/*.$LANDING_FORMAT"
# Every landed click as a line of JSON, whatever the format, on a folder or on HDFS.
SHOW_LANDED="$BIN_DIR/examples/cat_landed $LANDING_URL $KAFKA_TOPIC"
# What was started, for scripts: written whole, then moved into place, so a reader never sees
# half of it.
describe_run() {
    python3 - "$@" <<'PY'
import json, sys
(out, page, results, api, search, bootstrap, topic, dlq, in_memory, landing, metastore, run_dir,
 bin_dir, *facts) = sys.argv[1:]
processes = [fact.split("=", 1) for fact in facts if fact.startswith("pid:")]
sinks = [fact.split("=", 1) for fact in facts if fact.startswith("sink:")]
description = {
    "page": page,
    "results": results,
    "api": api,
    "search": search,
    "kafka": {"bootstrapServers": bootstrap, "topic": topic, "deadLetterTopic": dlq,
              "inMemory": in_memory == "1"},
    "landingUrl": landing,
    "hiveMetastore": metastore or None,
    "logs": run_dir,
    "bin": bin_dir,
    "pids": {name[4:]: int(pid) for name, pid in processes},
    "admin": {name[5:]: url for name, url in sinks},
}
with open(out + ".tmp", "w") as f:
    json.dump(description, f, indent=2)
    f.write("\n")
PY
    mv "$1.tmp" "$1"
}
run_facts=()
for name in "${!PIDS[@]}"; do run_facts+=("pid:$name=${PIDS[$name]}"); done
for n in "${!HDFS_CONSUMER_NAMES[@]}"; do
    run_facts+=("sink:${HDFS_CONSUMER_NAMES[$n]}=http://127.0.0.1:${HDFS_CONSUMER_PORTS[$n]}")
done
for n in "${!ES_SINK_NAMES[@]}"; do
    run_facts+=("sink:${ES_SINK_NAMES[$n]}=http://127.0.0.1:${ES_SINK_PORTS[$n]}")
done
describe_run "$RUN_DIR/demo.json" "http://127.0.0.1:$WEB_PORT/" "http://127.0.0.1:$WEB_PORT/results" "http://127.0.0.1:$API_PORT" \
    "http://127.0.0.1:$ES_PORT" "$KAFKA_BOOTSTRAP_SERVERS" "$KAFKA_TOPIC" "$DEAD_LETTER_TOPIC" \
    "$([ -n "${PIDS[dev-broker]:-}" ] && echo 1 || echo 0)" "$LANDING_URL" "${METASTORE_URI:-}" "$RUN_DIR" "$BIN_DIR" "${run_facts[@]}"
# Where scripts/hive.sh finds the metastore, once the run is described.
[ -z "${METASTORE_URI:-}" ] || echo "$METASTORE_URI" >"$METASTORE_URI_FILE"

METASTORE_LINE=""
[ -z "${METASTORE_URI:-}" ] || METASTORE_LINE="
  Hive Metastore:  $METASTORE_URI  (table select_color, kept by hdfs-consumer: each hour registered as it lands)"
HIVE_COMMAND="scripts/hive.sh"
[ "$RUN_DIR" = "$REPO_ROOT/.run" ] || HIVE_COMMAND="RUN_DIR=$RUN_DIR scripts/hive.sh"
cat <<INFO

  Ready. Two things to do first:
    1. open the page, type a name, click colours:  http://127.0.0.1:$WEB_PORT/
    2. see what the clicks became:                  http://127.0.0.1:$WEB_PORT/results

  The rest, for those who want it:
  Producer API:    http://127.0.0.1:$API_PORT/api/events  (/healthz /readyz; /metrics on http://127.0.0.1:$API_ADMIN_PORT/metrics)
  Kafka:           $KAFKA_BOOTSTRAP_SERVERS ($KAFKA_KIND), topic $KAFKA_TOPIC
  Watch the topic: $BIN_DIR/examples/tail_topic $KAFKA_BOOTSTRAP_SERVERS $KAFKA_TOPIC
  Landed files:    $LANDED_FILES  (a few seconds after a click;
                   each hour merged into one file per partition 10 minutes after it ends)
  Landed clicks:   $SHOW_LANDED  (as JSON lines)
  HiveQL:          ${HIVE_COMMAND}  (the example queries over the landed files, or a query of yours)${METASTORE_LINE}
  hdfs-consumer:   $(for port in "${HDFS_CONSUMER_PORTS[@]}"; do printf 'http://127.0.0.1:%s/metrics ' "$port"; done)
  Search (osmem):  http://127.0.0.1:$ES_PORT/web-events-*/_search  (about a second after a click)
                   e.g. ES_PORT=$ES_PORT scripts/colour-counts.sh
  es-sink:         $(for port in "${ES_SINK_PORTS[@]}"; do printf 'http://127.0.0.1:%s/metrics ' "$port"; done)
                   dead letters in $DEAD_LETTER_TOPIC
  Partitions:      grep 'partition claimed' $RUN_DIR/hdfs-consumer*.log  (who took which, when)
  Forget a person: scripts/erase.sh --user-name NAME  (search index, landed files, results page)
  Logs:            $RUN_DIR/
  For scripts:     $RUN_DIR/demo.json  (addresses, process ids, bootstrap list, landing URL)

  Ctrl-C stops everything.

INFO

# Stop when any service dies, so a crash is not hidden behind a running page.
wait -n "${PIDS[@]}"
for name in "${!PIDS[@]}"; do
    kill -0 "${PIDS[$name]}" 2>/dev/null || die "$name exited; see $RUN_DIR/$name.log"
done
die "a service exited; see the logs in $RUN_DIR/"
