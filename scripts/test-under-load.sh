#!/usr/bin/env bash
# Runs the tests on peers (or, with --all, the whole test command) RUNS times in a row beside a
# CPU-heavy job, as a loaded 2-core CI machine runs them, and prints each run's time and result.
# A test that fails one run in twenty turns CI red about once a week: this is how it is found.
#
#   scripts/test-under-load.sh [--all] [RUNS]     RUNS defaults to 5
#
# The load: a release build of a second clone of this checkout (its own target folder), started
# again as soon as it finishes, at normal priority, for as long as the runs last. Each run's
# output is kept in a log whose path is printed with its result; the script exits non-zero
# when any run failed.
source "$(dirname "$0")/lib.sh"
cd "$REPO_ROOT"

WHOLE=""
if [ "${1:-}" = --all ]; then WHOLE=1; shift; fi
RUNS="${1:-5}"
[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || die "usage: $0 [--all] [RUNS]"

WORK_DIR="$(mktemp -d)"
LOAD_PID=""
stop_load() {
    if [ -n "$LOAD_PID" ]; then
        kill -TERM -- "-$LOAD_PID" 2>/dev/null || true
        wait "$LOAD_PID" 2>/dev/null || true
    fi
}
trap 'stop_load; rm -rf "$WORK_DIR/clone" "$WORK_DIR/target"' EXIT

if [ -z "$WHOLE" ]; then
    log "installing what the tests on peers need (cached after the first time)"
    OSMEM_BIN="$(ensure_osmem)"
    SPARK_PYTHON="$(ensure_spark)"
    ensure_hadoop >/dev/null
    ensure_browser
    TANSU_BIN="$(ensure_tansu unoptimised)"
    export OSMEM_BIN SPARK_PYTHON TANSU_BIN
    log "building the tests and the demo before the load starts"
    cargo nextest run --locked --workspace --run-ignored only --no-run >/dev/null 2>&1 \
        || cargo test --locked --workspace --no-run
    scripts/demo.sh --build
fi

log "starting the load: a release build of a second clone, again and again"
git clone --quiet "$REPO_ROOT" "$WORK_DIR/clone"
setsid bash -c '
    cd "$1"
    while :; do
        CARGO_TARGET_DIR="$2" cargo build --locked --release --workspace --quiet >/dev/null 2>&1
        rm -rf "$2/release"
    done
' load "$WORK_DIR/clone" "$WORK_DIR/target" &
LOAD_PID=$!

results=()
failed=0
for run in $(seq 1 "$RUNS"); do
    log "run $run of $RUNS (load average $(cut -d' ' -f1 /proc/loadavg))"
    output="$WORK_DIR/run-$run.log"
    started=$SECONDS
    if [ -n "$WHOLE" ]; then
        bash scripts/test.sh >"$output" 2>&1 && status=0 || status=$?
    else
        { run_tests only not-on-tansu && run_tests only on-tansu; } >"$output" 2>&1 && status=0 || status=$?
    fi
    seconds=$((SECONDS - started))
    summary="$(grep -E '^ *Summary \[' "$output" | sed 's/^ *//' | tr '\n' ';' | sed 's/;$//')"
    if [ "$status" -eq 0 ]; then
        verdict="passed"
    else
        verdict="FAILED: $(grep -E '^ *FAIL \[' "$output" | sed -E 's/^ *FAIL \[ *[0-9.]+s\] //' | sort -u | tr '\n' ';' | sed 's/;$//')"
        failed=$((failed + 1))
    fi
    line="$(printf 'run %d: %2dm %02ds, %s (%s), load average %s, log %s' "$run" $((seconds / 60)) \
        $((seconds % 60)) "$verdict" "${summary:-no summary}" "$(cut -d' ' -f1 /proc/loadavg)" "$output")"
    results+=("$line")
    echo "$line"
done

echo
echo "tests $([ -n "$WHOLE" ] && echo "of the whole test command" || echo "on peers"), $RUNS runs beside a release build of a second clone:"
printf '  %s\n' "${results[@]}"
[ "$failed" -eq 0 ] || die "$failed of $RUNS runs failed"
