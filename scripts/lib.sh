# Shared helpers for the run, test and benchmark scripts. Source it; do not run it.
# Everything a script needs is installed here on first use and cached outside the checkout,
# so a fresh clone works and a rerun is fast.

set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE_DIR="${WEB_EVENTS_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/web-events-pipeline}"
TANSU_VERSION="0.6.0"
OSMEM_VERSION="0.1.6"

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Stages of a long script, timed: `stage NAME` ends the stage before it and starts NAME;
# `print_stage_times` (run it on exit) prints how long each took, so a slow one is seen.
STAGE_NAMES=()
STAGE_SECONDS=()
STAGE_STARTED=""
stage() {
    local now=$SECONDS
    if [ -n "$STAGE_STARTED" ]; then STAGE_SECONDS+=($((now - STAGE_STARTED))); fi
    STAGE_NAMES+=("$1")
    STAGE_STARTED=$now
    log "$1"
}
print_stage_times() {
    [ ${#STAGE_NAMES[@]} -gt 0 ] || return 0
    local i seconds total=0
    STAGE_SECONDS+=($((SECONDS - STAGE_STARTED)))
    STAGE_STARTED=""
    printf '\n%-8s  %s\n' "time" "stage" >&2
    for i in "${!STAGE_NAMES[@]}"; do
        seconds=${STAGE_SECONDS[$i]}
        total=$((total + seconds))
        printf '%2dm %02ds   %s\n' $((seconds / 60)) $((seconds % 60)) "${STAGE_NAMES[$i]}" >&2
    done
    printf '%2dm %02ds   %s\n' $((total / 60)) $((total % 60)) "in all" >&2
}

# Prints where cargo puts what profile $1 builds (the dev profile's folder is `debug`).
profile_dir() {
    local folder="$1"
    [ "$folder" != dev ] || folder=debug
    echo "${CARGO_TARGET_DIR:-$REPO_ROOT/target}/$folder"
}

# Warns when the file system holding DIR has less than MIB mebibytes free: a build that runs out
# of space fails deep inside rustc with a message that hides the cause.
warn_if_low_disk() {
    local dir="$1" need_mib="$2" free_mib
    mkdir -p "$dir"
    free_mib="$(df -Pm "$dir" | awk 'NR == 2 { print $4 }')"
    if [ -n "$free_mib" ] && [ "$free_mib" -lt "$need_mib" ]; then
        printf 'warning: %s MiB free under %s; a full build needs about %s MiB\n' \
            "$free_mib" "$dir" "$need_mib" >&2
    fi
}

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
        die "need root to run: $*"
    fi
}

# run_tests SET [PART]: SET is `default` (need nothing) or `only` (need a peer); PART, for the
# second, `on-tansu` or `not-on-tansu` (every test on tansu has "tansu" in its name).
run_tests() {
    local set="$1" part="${2:-}" filter=() names=()
    case "$part" in
        on-tansu) filter=(-E 'test(/tansu/)'); names=(tansu) ;;
        not-on-tansu) filter=(-E 'not test(/tansu/)'); names=(--skip tansu) ;;
    esac
    # How many run at once, and which may not run together, is in .config/nextest.toml.
    if cargo nextest --version >/dev/null 2>&1; then
        cargo nextest run --locked --workspace --run-ignored "$set" --no-fail-fast "${filter[@]}"
    elif [ "$set" = only ]; then
        cargo test --locked --workspace --no-fail-fast -- --ignored "${names[@]}"
    else
        cargo test --locked --workspace --no-fail-fast
    fi
}

# Installs Debian packages that are missing (apt index refreshed once per run).
APT_UPDATED=""
ensure_debian_packages() {
    local missing=()
    for pkg in "$@"; do
        dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    command -v apt-get >/dev/null || die "missing packages ${missing[*]} and no apt-get to install them"
    if [ -z "$APT_UPDATED" ]; then
        log "refreshing the Debian package index"
        as_root apt-get update -qq >/dev/null
        APT_UPDATED=1
    fi
    log "installing ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# Prints the path of the tansu broker binary, building it once into the cache. There are two
# builds. The default, optimised, is for the benchmarks, whose rates a slow broker would bound.
# `ensure_tansu unoptimised` is for the tests, which need a broker that speaks the protocol
# independently of librdkafka, not a fast one: compiled without optimisation, it builds in less
# than half the time (5 1/2 minutes against 12 on 2 cores).
ensure_tansu() {
    local build="${1:-optimised}" root settings=()
    if [ -n "${TANSU_BIN:-}" ] && [ -x "$TANSU_BIN" ]; then
        echo "$TANSU_BIN"; return 0
    fi
    case "$build" in
        optimised) root="$CACHE_DIR/tansu" ;;
        unoptimised)
            root="$CACHE_DIR/tansu-unoptimised"
            settings=(CARGO_PROFILE_RELEASE_OPT_LEVEL=0 CARGO_PROFILE_RELEASE_CODEGEN_UNITS=256) ;;
        *) die "ensure_tansu: no build called $build" ;;
    esac
    local bin="$root/bin/tansu"
    if [ ! -x "$bin" ] || [[ "$("$bin" --version 2>/dev/null)" != *"$TANSU_VERSION"* ]]; then
        log "building the tansu broker $TANSU_VERSION, $build (first run only; takes several minutes)"
        mkdir -p "$CACHE_DIR"
        env "${settings[@]}" CARGO_TARGET_DIR="$root-build" cargo install tansu --version "$TANSU_VERSION" \
            --locked --features dynostore --root "$root" --quiet >&2
        # The build tree is over a gigabyte; only the binary is kept.
        rm -rf "$root-build"
    fi
    echo "$bin"
}

# Prints the path of the cached osmem-server binary, or nothing when it is not installed yet.
osmem_bin() {
    ls "$CACHE_DIR/osmem-$OSMEM_VERSION"/lib/python3*/site-packages/osmem_server/bin/osmem-server 2>/dev/null \
        | head -n1 || true
}

# Prints the path of the osmem-server binary (an in-memory OpenSearch-compatible server that
# stands in for Elasticsearch on one machine), installed once from PyPI into a cached venv.
ensure_osmem() {
    if [ -n "${OSMEM_BIN:-}" ] && [ -x "$OSMEM_BIN" ]; then
        echo "$OSMEM_BIN"; return 0
    fi
    local venv="$CACHE_DIR/osmem-$OSMEM_VERSION" bin
    bin="$(osmem_bin)"
    if [ -z "$bin" ]; then
        log "installing osmem-server $OSMEM_VERSION from PyPI (first run only)"
        python3 -m venv "$venv" >&2 || { ensure_debian_packages python3-venv; python3 -m venv "$venv" >&2; }
        "$venv/bin/pip" install --quiet --disable-pip-version-check "osmem-server==$OSMEM_VERSION" >&2
        bin="$(osmem_bin)"
        [ -n "$bin" ] || die "osmem-server is not in $venv after its install"
    fi
    echo "$bin"
}

# Starts osmem-server on 127.0.0.1:$1, logging to $2, as a job of the calling shell; sets
# OSMEM_PID.
start_osmem() {
    local port="$1" logfile="$2" bin
    bin="$(ensure_osmem)"
    "$bin" -addr "127.0.0.1:$port" -no-stdin-watch </dev/null >"$logfile" 2>&1 &
    OSMEM_PID=$!
    wait_for_http "http://127.0.0.1:$port/" 30
}

# Prints the folder of the jars that run an Apache Hadoop 2.7.3 NameNode and DataNode on Debian's
# Java 17, installed once into the cache: 27 jars taken from the pyspark 2.4.8 source
# distribution on PyPI (it carries Hadoop's), plus Debian's Jersey 1 for their web servers.
HADOOP_JARS=(
    hadoop-annotations-2.7.3 hadoop-auth-2.7.3 hadoop-common-2.7.3 hadoop-hdfs-2.7.3
    guava-14.0.1 protobuf-java-2.5.0 htrace-core-3.1.0-incubating netty-3.9.9.Final
    netty-all-4.1.47.Final jetty-6.1.26 jetty-util-6.1.26 javax.servlet-api-3.1.0
    jackson-core-asl-1.9.13 jackson-mapper-asl-1.9.13 xercesImpl-2.9.1 jsr305-1.3.9
    commons-cli-1.2 commons-codec-1.10 commons-collections-3.2.2 commons-configuration-1.6
    commons-io-2.4 commons-lang-2.6 commons-logging-1.1.3 commons-math3-3.4.1
    log4j-1.2.17 slf4j-api-1.7.16 slf4j-log4j12-1.7.16
)
ensure_hadoop() {
    local dir="$CACHE_DIR/hadoop-2.7.3" work jar
    ensure_debian_packages openjdk-17-jre-headless libjersey1-core-java libjersey1-server-java \
        libjersey1-servlet-java libjsr311-api-java
    if [ ! -f "$dir/complete" ]; then
        log "installing Hadoop 2.7.3's HDFS from the pyspark 2.4.8 source distribution (first run only; a 220 MB download)"
        work="$(mktemp -d)"
        python3 -m venv "$work/venv" >&2 || { ensure_debian_packages python3-venv; python3 -m venv "$work/venv" >&2; }
        "$work/venv/bin/pip" install --quiet --disable-pip-version-check setuptools wheel >&2
        # Its setup.py fails under build isolation, and only the archive is wanted.
        "$work/venv/bin/pip" download --quiet --disable-pip-version-check --no-deps --no-build-isolation \
            "pyspark==2.4.8" -d "$work" >&2
        rm -rf "$dir"; mkdir -p "$dir/jars"
        tar -xzf "$work"/pyspark-2.4.8.tar.gz -C "$work" \
            $(for jar in "${HADOOP_JARS[@]}"; do echo "pyspark-2.4.8/deps/jars/$jar.jar"; done)
        mv "$work"/pyspark-2.4.8/deps/jars/*.jar "$dir/jars/"
        for jar in jersey1-core jersey1-server jersey1-servlet jsr311-api; do
            cp "/usr/share/java/$jar.jar" "$dir/jars/"
        done
        rm -rf "$work"
        touch "$dir/complete"
    fi
    echo "$dir/jars"
}

# Prints the Python of a cached venv with the lake's readers: pyspark for Spark SQL with Hive
# support (a Hive 2.3 metastore on embedded Derby, HiveQL), which runs the Hive queries on one
# machine and needs Java 17; pyarrow and DuckDB, which read the Parquet files as they are.
SPARK_VERSION="4.0.1"
PYARROW_VERSION="22.0.0"
DUCKDB_VERSION="1.4.3"
ensure_spark() {
    local venv="$CACHE_DIR/pyspark-$SPARK_VERSION"
    command -v java >/dev/null || ensure_debian_packages openjdk-17-jre-headless
    if ! "$venv/bin/python" -c 'import pyspark, pyarrow, duckdb' 2>/dev/null; then
        log "installing pyspark $SPARK_VERSION, pyarrow and duckdb from PyPI, the lake's readers (first run only; a 500 MB download)"
        rm -rf "$venv"
        python3 -m venv "$venv" >&2 || { ensure_debian_packages python3-venv; python3 -m venv "$venv" >&2; }
        "$venv/bin/pip" install --quiet --disable-pip-version-check "pyspark==$SPARK_VERSION" \
            "pyarrow==$PYARROW_VERSION" "duckdb==$DUCKDB_VERSION" >&2
    fi
    echo "$venv/bin/python"
}

# Prints the Python of a cached venv holding what scripts/check-stack.py needs (PyYAML,
# jsonschema).
ensure_check_python() {
    local venv="$CACHE_DIR/check-venv"
    if ! "$venv/bin/python" -c 'import yaml, jsonschema' 2>/dev/null; then
        log "installing PyYAML and jsonschema from PyPI (first run only)"
        python3 -m venv "$venv" >&2 || { ensure_debian_packages python3-venv; python3 -m venv "$venv" >&2; }
        "$venv/bin/pip" install --quiet --disable-pip-version-check "PyYAML>=6,<7" "jsonschema>=4.18,<5" >&2
    fi
    echo "$venv/bin/python"
}

# Prints the path of the Compose specification's JSON schema, taken once from the schema file
# the docker-compose 1.29.2 package on PyPI ships (compose/config/compose_spec.json).
ensure_compose_schema() {
    local dir="$CACHE_DIR/compose-schema" schema python
    schema="$dir/compose/config/compose_spec.json"
    if [ ! -f "$schema" ]; then
        python="$(ensure_check_python)"
        log "fetching the Compose specification's schema (first run only)"
        mkdir -p "$dir"
        "$python" -m pip download --quiet --disable-pip-version-check --no-deps \
            "docker-compose==1.29.2" -d "$dir" >&2
        "$python" -m zipfile -e "$dir"/docker_compose-1.29.2-*.whl "$dir/unpacked" >&2
        mkdir -p "$dir/compose/config"
        cp "$dir/unpacked/compose/config/compose_spec.json" "$schema"
    fi
    echo "$schema"
}

# A free TCP port on loopback.
# Who listens on TCP port $1: "pid PID (COMMAND LINE)", from /proc; nothing when no process
# this user can see does.
port_holder() {
    python3 - "$1" <<'PY'
import glob, os, sys
port = int(sys.argv[1])
inodes = set()
for table in ("/proc/net/tcp", "/proc/net/tcp6"):
    try:
        lines = open(table).read().splitlines()[1:]
    except OSError:
        continue
    for line in lines:
        fields = line.split()
        if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
            inodes.add(fields[9])
for fd in glob.glob("/proc/[0-9]*/fd/*"):
    try:
        target = os.readlink(fd)
    except OSError:
        continue
    if target.startswith("socket:[") and target[8:-1] in inodes:
        pid = fd.split("/")[2]
        try:
            command = open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            command = "?"
        print(f"pid {pid} ({command[:120]})")
        break
PY
}

# A loopback port for a server that must be told its port. Never a probe let go: the allocator
# of test-support/src/ports.rs, on the same counter file under the same lock, so no two callers
# (scripts or test processes) get one port, and the kernel never hands these out by itself.
free_port() {
    python3 - <<'PY'
import fcntl, os, socket, tempfile
def ephemeral():
    try:
        low, high = map(int, open("/proc/sys/net/ipv4/ip_local_port_range").read().split())
        return low, high
    except (OSError, ValueError):
        return 32768, 60999
low, high = ephemeral()
if low > 20000 + 1000:
    first, last = 20000, low - 1
elif high < 65535 - 1000:
    first, last = high + 1, 65535
else:
    first, last = 20000, 65535
path = os.path.join(tempfile.gettempdir(), "web-events-test-ports")
with open(path, "a+") as counter:
    fcntl.flock(counter, fcntl.LOCK_EX)
    counter.seek(0)
    try:
        port = int(counter.read().strip())
    except ValueError:
        port = None
    def after(port):
        return port + 1 if port is not None and first <= port < last else first
    port = after(port)
    for _ in range(last - first + 1):
        probe = socket.socket()
        try:
            probe.bind(("127.0.0.1", port))
            break
        except OSError:
            port = after(port)
        finally:
            probe.close()
    counter.seek(0)
    counter.truncate()
    counter.write(str(port))
print(port)
PY
}

# Waits until host:port accepts TCP connections, or fails after $3 seconds (default 30).
wait_for_port() {
    local host="$1" port="$2" deadline=$((SECONDS + ${3:-30}))
    until (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; do
        [ $SECONDS -lt $deadline ] || die "nothing listening on $host:$port after ${3:-30}s"
        sleep 0.2
    done
}

# Waits until an HTTP URL answers 2xx, or fails after $2 seconds (default 60).
wait_for_http() {
    local url="$1" deadline=$((SECONDS + ${2:-60}))
    until curl -fsS -o /dev/null "$url" 2>/dev/null; do
        [ $SECONDS -lt $deadline ] || die "$url did not answer after ${2:-60}s"
        sleep 0.3
    done
}

# Starts the dev-broker binary $1 (an in-memory Kafka cluster), logging to $2, with the rest of
# the arguments, as a coprocess whose standard input this shell holds: it stops when the shell
# exits, however that happens. Its own session keeps a Ctrl-C in the terminal from reaching
# it before the clients it serves have stopped. Sets DEV_BROKER_PID and DEV_BROKER_BOOTSTRAP.
start_dev_broker() {
    local bin="$1" logfile="$2"
    shift 2
    coproc DEV_BROKER { exec setsid "$bin" "$@" 2>"$logfile"; }
    read -r -t 30 -u "${DEV_BROKER[0]}" DEV_BROKER_BOOTSTRAP \
        || die "dev-broker did not start; see $logfile"
}

# Starts tansu on 127.0.0.1:$1 with in-memory storage, logging to $2, as a job of the
# calling shell; sets TANSU_PID.
# Starts tansu on a port of free_port's, logging to $1; sets TANSU_PID and TANSU_PORT. tansu must
# be told its port: if it exits at start (the port taken meanwhile), it starts again on another.
start_tansu() {
    local logfile="$1" bin attempt
    bin="$(ensure_tansu)"
    for attempt in 1 2 3; do
        TANSU_PORT="$(free_port)"
        env -u CLUSTER_ID -u LISTENER_URL -u ADVERTISED_LISTENER_URL -u STORAGE_ENGINE \
            "$bin" broker \
            --listener-url "tcp://127.0.0.1:$TANSU_PORT" \
            --advertised-listener-url "tcp://127.0.0.1:$TANSU_PORT" \
            --storage-engine "memory://tansu/" >"$logfile" 2>&1 &
        TANSU_PID=$!
        local deadline=$((SECONDS + 30))
        until (exec 3<>"/dev/tcp/127.0.0.1/$TANSU_PORT") 2>/dev/null; do
            if ! kill -0 "$TANSU_PID" 2>/dev/null; then
                log "tansu exited at start on port $TANSU_PORT (taken?); starting it on another port"
                continue 2
            fi
            [ $SECONDS -lt $deadline ] || die "tansu did not listen on $TANSU_PORT within 30 s; see $logfile"
            sleep 0.1
        done
        return 0
    done
    die "tansu exited at start three times; see $logfile"
}

# Creates topic $2 with $3 partitions on the tansu broker at 127.0.0.1:$1.
create_topic() {
    local port="$1" topic="$2" partitions="$3" bin
    bin="$(ensure_tansu)"
    "$bin" topic create "$topic" --broker "tcp://127.0.0.1:$port" --partitions "$partitions" >/dev/null
}

# Installs playwright-core for the browser tests (npm registry) and Debian's Chromium, with
# fonts for the Korean names the tests type, so their screenshots show them.
ensure_browser() {
    ensure_debian_packages chromium fonts-noto-cjk
    local dir="$REPO_ROOT/web/tests/browser"
    if [ ! -d "$dir/node_modules/playwright-core" ]; then
        log "installing playwright-core from npm"
        (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
    fi
}

# Prints the value of metric $2 on the admin server at 127.0.0.1:$1 (nothing if absent).
metric_value() {
    curl -fsS "http://127.0.0.1:$1/metrics" 2>/dev/null | awk -v m="$2" '$1 == m { print $2 }'
}

# Waits until metric $2 on 127.0.0.1:$1 equals $3, failing if process $4 exits meanwhile (its
# log is $5) or after $6 seconds (default 600).
wait_for_metric() {
    local port="$1" name="$2" want="$3" pid="$4" logfile="$5" deadline=$((SECONDS + ${6:-600}))
    until [ "$(metric_value "$port" "$name")" = "$want" ]; do
        kill -0 "$pid" 2>/dev/null || die "process $pid exited; see $logfile"
        [ $SECONDS -lt $deadline ] || die "$name on port $port is not $want after ${6:-600}s; see $logfile"
        sleep 0.05
    done
}

# Peak resident memory so far of running process $1, in MiB.
peak_rss_mib() {
    awk '/VmHWM/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"
}
