#!/usr/bin/env bash
# Counts clicks per colour in the search index (a terms aggregation over the daily indices) and
# prints them as a table, most clicked first.
#   ES_URL (http://127.0.0.1:$ES_PORT, with ES_PORT as scripts/demo.sh has it: 9200)
#   ES_INDEX_PREFIX (web-events)  ES_USERNAME, ES_PASSWORD (none)
set -euo pipefail
ES_URL="${ES_URL:-http://127.0.0.1:${ES_PORT:-9200}}"
ES_INDEX_PREFIX="${ES_INDEX_PREFIX:-web-events}"
auth=()
[ -z "${ES_USERNAME:-}" ] || auth=(-u "$ES_USERNAME:${ES_PASSWORD:-}")
answer="$(curl -fsS "${auth[@]}" -H 'Content-Type: application/json' \
    "$ES_URL/$ES_INDEX_PREFIX-*/_search" -d '{
  "size": 0,
  "aggs": { "colours": { "terms": { "field": "colorName", "size": 50 } } }
}')" || { echo "error: no answer from $ES_URL (is the search server running?)" >&2; exit 1; }
python3 -c '
import json, signal, sys
# Quiet when the reader goes away early (`| head`), as other command-line tools are.
signal.signal(signal.SIGPIPE, signal.SIG_DFL)
answer = json.load(sys.stdin)
buckets = answer.get("aggregations", {}).get("colours", {}).get("buckets", [])
total = answer["hits"]["total"]
total = total["value"] if isinstance(total, dict) else total
rows = [("colour", "clicks")] + [(b["key"], b["doc_count"]) for b in buckets] + [("total", total)]
for name, count in rows:
    print("%-10s%8s" % (name, count))
' <<<"$answer"
