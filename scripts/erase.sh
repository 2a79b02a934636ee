#!/usr/bin/env bash
# Erases a person's clicks from the running demo (scripts/demo.sh): the search index, the
# landed files and their dead letters, and the results page's memory. It reads where each is
# from RUN_DIR/demo.json, and runs while the demo does.
#
#   scripts/erase.sh --user-name NAME [--user-name NAME...] [--event-id ID...]
#
# Every click produced before it started is erased; the person's later clicks are new and
# kept. It prints what it found and removed in each store; run again, it finds nothing. Kafka
# cannot delete one record: the topic keeps the clicks until its retention. Each erasure is
# appended, by its id and counts (never the names), to RUN_DIR/erasures.jsonl.
#
# For the Docker stack: scripts/stack.sh erase --user-name NAME
source "$(dirname "$0")/lib.sh"
cd "$REPO_ROOT"

RUN_DIR="${RUN_DIR:-$REPO_ROOT/.run}"
DESCRIPTION="$RUN_DIR/demo.json"
[ $# -gt 0 ] || die "usage: $0 --user-name NAME [--event-id ID ...]"
[ -f "$DESCRIPTION" ] || die "no demo is running ($DESCRIPTION is missing): start scripts/demo.sh first"

# The demo's addresses, as environment settings of the erase command.
settings="$(python3 - "$DESCRIPTION" <<'PY'
import json, shlex, sys
run = json.load(open(sys.argv[1]))
values = {
    "ERASE_BIN": run["bin"] + "/erase",
    "KAFKA_BOOTSTRAP_SERVERS": run["kafka"]["bootstrapServers"],
    "KAFKA_TOPIC": run["kafka"]["topic"],
    "LANDING_URL": run["landingUrl"],
    "ES_URL": run["search"],
    "RESULTS_URLS": run["results"],
}
for name, value in values.items():
    print(f"export {name}={shlex.quote(value)}")
PY
)"
eval "$settings"
# The results page's token, which the demo made for this run.
TOKEN_FILE="$RUN_DIR/forget-token"
[ -r "$TOKEN_FILE" ] || die "$TOKEN_FILE is missing: restart scripts/demo.sh, which makes it"
RESULTS_TOKEN="$(cat "$TOKEN_FILE")"
export RESULTS_TOKEN
[ -x "$ERASE_BIN" ] || die "$ERASE_BIN is missing: scripts/demo.sh --build builds it"
export ERASURE_AUDIT_FILE="${ERASURE_AUDIT_FILE:-$RUN_DIR/erasures.jsonl}"
exec "$ERASE_BIN" "$@"
