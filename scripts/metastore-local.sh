#!/usr/bin/env bash
# A real Hive Metastore on this machine, for the tests and `scripts/demo.sh --hive`: Hive 2.3's
# metastore service from the jars the pyspark install holds (`ensure_spark`), on Debian's Java
# 17, with an embedded Derby database under DIR, on a loopback port chosen at the first start.
# Engines reach it at thrift://127.0.0.1:PORT; embedded Derby allows this one process only.
#
#   scripts/metastore-local.sh start DIR [PID]  starts it if it is not running, waits until it
#                                               answers a call, prints its thrift:// address;
#                                               with PID, it is stopped and DIR removed once
#                                               that process ends
#   scripts/metastore-local.sh stop DIR         stops it (its database stays in DIR)
#
# The log is DIR/metastore.log.
source "$(dirname "$0")/lib.sh"

[ $# -ge 2 ] || die "usage: $0 start|stop DIR [PID]"
command="$1" DIR="$(mkdir -p "$2" && cd "$2" && pwd)" WHILE_PID="${3:-}"

running() { [ -f "$DIR/metastore.pid" ] && kill -0 "$(cat "$DIR/metastore.pid")" 2>/dev/null; }
port() { cat "$DIR/port"; }

# The configuration, written once, so that a restart keeps the port and the database.
configure() {
    [ -f "$DIR/conf/hive-site.xml" ] && return 0
    mkdir -p "$DIR/conf" "$DIR/warehouse"
    free_port >"$DIR/port"
    local property
    property() { printf '  <property><name>%s</name><value>%s</value></property>\n' "$1" "$2"; }
    {
        echo '<?xml version="1.0"?>'
        echo '<configuration>'
        property javax.jdo.option.ConnectionURL "jdbc:derby:;databaseName=$DIR/metastore_db;create=true"
        # The schema is made on the first start; no schematool run.
        property datanucleus.schema.autoCreateAll true
        property hive.metastore.schema.verification false
        # Asynchronous logging needs a library the jars do not hold: the service would stop at once.
        property hive.async.log.enabled false
        property hive.metastore.warehouse.dir "file://$DIR/warehouse"
        echo '</configuration>'
    } >"$DIR/conf/hive-site.xml"
    cat >"$DIR/conf/log4j2.properties" <<'LOG4J'
rootLogger.level = warn
rootLogger.appenderRef.stderr.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{ISO8601} %p %c{1}: %m%n
logger.started.name = org.apache.hadoop.hive.metastore.HiveMetaStore
logger.started.level = info
LOG4J
}

# Whether it answers get_database("default") over Thrift: a listening port is not enough, as
# the schema is made on the first calls.
answers() {
    python3 - "$(port)" <<'PY'
import socket, struct, sys
name, arg = b"get_database", b"default"
call = (struct.pack(">I", 0x80010001) + struct.pack(">i", len(name)) + name + struct.pack(">i", 1)
        + bytes([11]) + struct.pack(">h", 1) + struct.pack(">i", len(arg)) + arg + bytes([0]))
try:
    with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=60) as s:
        s.sendall(call)
        answer = s.recv(4096)
except OSError:
    sys.exit(1)
sys.exit(0 if answer[:4] == struct.pack(">I", 0x80010002) else 1)
PY
}

start() {
    command -v java >/dev/null || ensure_debian_packages openjdk-17-jre-headless
    local jars
    jars="$(dirname "$(ensure_spark)")/../lib/python3*/site-packages/pyspark/jars"
    jars="$(cd $jars && pwd)"
    configure
    running && { echo "thrift://127.0.0.1:$(port)"; return 0; }
    # Its own session: a Ctrl-C meant for whoever started it does not reach it.
    setsid java -Xmx320m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
        -Dderby.system.home="$DIR" -Dhive.log.dir="$DIR" -Dlog4j2.configurationFile="file:$DIR/conf/log4j2.properties" \
        -cp "$DIR/conf:$jars/*" org.apache.hadoop.hive.metastore.HiveMetaStore -p "$(port)" \
        </dev/null >>"$DIR/metastore.log" 2>&1 &
    echo $! >"$DIR/metastore.pid"
    if [ -n "$WHILE_PID" ]; then
        # A watcher in its own session: the metastore outlives this script, not that process,
        # and its folder goes with it.
        setsid bash -c 'while kill -0 "$1" 2>/dev/null; do sleep 2; done; "$2" stop "$3"; rm -rf "$3" "$3.lock"' \
            _ "$WHILE_PID" "$0" "$DIR" </dev/null >/dev/null 2>&1 &
    fi
    local deadline=$((SECONDS + 150))
    until answers; do
        running || die "the metastore stopped; see $DIR/metastore.log"
        [ $SECONDS -lt $deadline ] || die "the metastore did not answer within 150 s; see $DIR/metastore.log"
        sleep 0.5
    done
    echo "thrift://127.0.0.1:$(port)"
}

stop() {
    local pid
    running || { rm -f "$DIR/metastore.pid"; return 0; }
    pid="$(cat "$DIR/metastore.pid")"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    rm -f "$DIR/metastore.pid"
}

case "$command" in
    start) start ;;
    stop) stop ;;
    *) die "usage: $0 start|stop DIR [PID]" ;;
esac
