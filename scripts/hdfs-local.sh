#!/usr/bin/env bash
# A real HDFS on this machine, for the tests and `scripts/demo.sh --hdfs`: an Apache Hadoop
# 2.7.3 NameNode and DataNode (the jars `ensure_hadoop` installs, run by Debian's Java 17), on
# loopback ports chosen at the first start, keeping their metadata and blocks under DIR. One
# replica, no permission checks: a development HDFS, not a production one.
#
#   scripts/hdfs-local.sh start DIR        formats DIR on first use, starts what is not running,
#                                          waits until a file can be written, prints the
#                                          namenode's URL (hdfs://127.0.0.1:PORT)
#   scripts/hdfs-local.sh start DIR ROLE   starts only ROLE (namenode or datanode), same ports
#   scripts/hdfs-local.sh stop DIR [ROLE]  stops both, or only ROLE
#
# Logs are DIR/namenode.log and DIR/datanode.log.
source "$(dirname "$0")/lib.sh"

usage() { die "usage: $0 start|stop DIR [namenode|datanode]"; }
[ $# -ge 2 ] || usage
command="$1" DIR="$(mkdir -p "$2" && cd "$2" && pwd)" ROLE="${3:-}"
case "$ROLE" in "" | namenode | datanode) ;; *) usage ;; esac
roles() { if [ -n "$ROLE" ]; then echo "$ROLE"; else echo namenode datanode; fi; }

class_of() {
    case "$1" in
        namenode) echo org.apache.hadoop.hdfs.server.namenode.NameNode ;;
        datanode) echo org.apache.hadoop.hdfs.server.datanode.DataNode ;;
    esac
}
running() { [ -f "$DIR/$1.pid" ] && kill -0 "$(cat "$DIR/$1.pid")" 2>/dev/null; }
namenode_port() { sed -n 's|.*<value>hdfs://127.0.0.1:\([0-9]*\)</value>.*|\1|p' "$DIR/conf/core-site.xml"; }
namenode_http() {
    sed -n 's|.*<name>dfs.namenode.http-address</name><value>\([^<]*\)</value>.*|\1|p' "$DIR/conf/hdfs-site.xml"
}

# The configuration, written once, so that restarts keep the ports.
configure() {
    [ -f "$DIR/conf/hdfs-site.xml" ] && return 0
    mkdir -p "$DIR/conf" "$DIR/name" "$DIR/data"
    # The web servers look for these folders on the classpath.
    mkdir -p "$DIR/webapps/hdfs" "$DIR/webapps/datanode" "$DIR/webapps/secondary"
    local property name value
    property() { printf '  <property><name>%s</name><value>%s</value></property>\n' "$1" "$2"; }
    {
        echo '<?xml version="1.0"?>'
        echo '<configuration>'
        property fs.defaultFS "hdfs://127.0.0.1:$(free_port)"
        property hadoop.tmp.dir "$DIR/tmp"
        echo '</configuration>'
    } >"$DIR/conf/core-site.xml"
    {
        echo '<?xml version="1.0"?>'
        echo '<configuration>'
        property dfs.namenode.name.dir "$DIR/name"
        property dfs.datanode.data.dir "$DIR/data"
        property dfs.replication 1
        property dfs.permissions.enabled false
        property dfs.namenode.safemode.extension 0
        for name in dfs.namenode.http-address dfs.namenode.secondary.http-address \
            dfs.datanode.address dfs.datanode.http.address dfs.datanode.ipc.address; do
            property "$name" "127.0.0.1:$(free_port)"
        done
        # A restarted DataNode is taken back at once, and a lost one noticed in seconds.
        property dfs.heartbeat.interval 1
        property dfs.namenode.heartbeat.recheck-interval 5000
        echo '</configuration>'
    } >"$DIR/conf/hdfs-site.xml"
    cat >"$DIR/conf/log4j.properties" <<'LOG4J'
log4j.rootLogger=INFO,console
log4j.appender.console=org.apache.log4j.ConsoleAppender
log4j.appender.console.target=System.err
log4j.appender.console.layout=org.apache.log4j.PatternLayout
log4j.appender.console.layout.ConversionPattern=%d{ISO8601} %p %c{2}: %m%n
LOG4J
}

# Small heaps and the quick compiler: two daemons for tests, not a cluster.
java_options() {
    JAVA_OPTIONS=(-Xmx192m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Dhadoop.log.dir="$DIR"
        -cp "$DIR/conf:$DIR:$(ensure_hadoop)/*")
}
java_run() { java "${JAVA_OPTIONS[@]}" "$@"; }

start_role() {
    local role="$1"
    running "$role" && return 0
    # Its own session: a Ctrl-C meant for whoever started it does not reach it.
    setsid java "${JAVA_OPTIONS[@]}" "$(class_of "$role")" </dev/null >>"$DIR/$role.log" 2>&1 &
    echo $! >"$DIR/$role.pid"
}

# A namespace formatted once, and copied into each new DIR: formatting starts a JVM of its own,
# seconds of CPU on every test's start. Only the namespace's identity is in it, no path.
EMPTY_NAMESPACE="$CACHE_DIR/hdfs-2.7.3-empty-namespace"
format() {
    if [ -f "$EMPTY_NAMESPACE/current/VERSION" ]; then
        cp -R "$EMPTY_NAMESPACE/." "$DIR/name/"
        return 0
    fi
    java_run org.apache.hadoop.hdfs.server.namenode.NameNode -format -nonInteractive \
        >>"$DIR/format.log" 2>&1 || die "formatting the NameNode failed; see $DIR/format.log"
    # Kept for the next start; of two starts keeping it at once, the first one's stays.
    local copy
    mkdir -p "$CACHE_DIR"
    copy="$(mktemp -d "$CACHE_DIR/.empty-namespace.XXXXXX")"
    cp -R "$DIR/name/." "$copy/"
    mv -T "$copy" "$EMPTY_NAMESPACE" 2>/dev/null || rm -rf "$copy"
}

# Fails when either daemon stopped; dies when the deadline passed.
check_alive() {
    for role in namenode datanode; do
        running "$role" || { STOPPED_ROLE="$role"; return 1; }
    done
    [ $SECONDS -lt "$1" ] || die "HDFS not writable after 90 s; see $DIR/*.log"
}

# A write needs the DataNode registered, which the NameNode's JMX says without a JVM started
# here; the write itself then proves it. A write tried earlier can leave its path behind, so
# each uses a fresh name. The small file is left where it is (a dot file at the root): removing
# it would take another JVM.
wait_until_writable() {
    local deadline=$((SECONDS + 90)) probe="$DIR/probe.txt" url jmx
    url="hdfs://127.0.0.1:$(namenode_port)"
    jmx="http://$(namenode_http)/jmx?qry=Hadoop:service=NameNode,name=FSNamesystemState"
    until curl -fsS "$jmx" 2>/dev/null | grep -q '"NumLiveDataNodes" *: *[1-9]'; do
        check_alive "$deadline" || return 1
        sleep 0.2
    done
    echo probe >"$probe"
    until java_run org.apache.hadoop.fs.FsShell -fs "$url" \
        -put "$probe" "/.hdfs-local-probe-$RANDOM$RANDOM" >>"$DIR/probe.log" 2>&1; do
        check_alive "$deadline" || return 1
        sleep 0.5
    done
}

# Whether a daemon stopped because a port it was given was taken.
port_was_taken() {
    grep -qs 'BindException\|Address already in use' "$DIR/namenode.log" "$DIR/datanode.log"
}

stop_role() {
    local role="$1" pid
    running "$role" || { rm -f "$DIR/$role.pid"; return 0; }
    pid="$(cat "$DIR/$role.pid")"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    rm -f "$DIR/$role.pid"
}

case "$command" in
    start)
        command -v java >/dev/null || ensure_debian_packages openjdk-17-jre-headless
        command -v curl >/dev/null || ensure_debian_packages curl
        java_options
        # Ports are chosen once, at the first start, and kept by restarts. If one of them was
        # taken by something else before its daemon bound it, that first start is made again on
        # new ports (a restart cannot move: its clients know the address).
        first_start=""
        [ -f "$DIR/conf/hdfs-site.xml" ] || first_start=1
        for attempt in 1 2 3; do
            configure
            [ -d "$DIR/name/current" ] || format
            for role in $(roles); do start_role "$role"; done
            [ -z "$ROLE" ] || break
            wait_until_writable && break
            if [ -n "$first_start" ] && [ "$attempt" -lt 3 ] && port_was_taken; then
                log "a port given to the $STOPPED_ROLE was taken meanwhile; starting again on new ports"
                for role in namenode datanode; do stop_role "$role"; done
                for role in namenode datanode; do
                    [ -f "$DIR/$role.log" ] && mv "$DIR/$role.log" "$DIR/$role.log.port-taken-$attempt"
                done
                rm -rf "$DIR/conf"
                continue
            fi
            die "the $STOPPED_ROLE stopped; see $DIR/$STOPPED_ROLE.log"
        done
        echo "hdfs://127.0.0.1:$(namenode_port)"
        ;;
    stop)
        for role in $(roles); do stop_role "$role"; done
        ;;
    *) usage ;;
esac
