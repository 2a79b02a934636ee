#!/usr/bin/env bash
# Counts clicks per colour in the search index: a terms aggregation over the daily indices.
#   ES_URL (http://127.0.0.1:9200)  ES_INDEX_PREFIX (web-events)
set -euo pipefail
ES_URL="${ES_URL:-http://127.0.0.1:9200}"
ES_INDEX_PREFIX="${ES_INDEX_PREFIX:-web-events}"
curl -fsS -H 'Content-Type: application/json' "$ES_URL/$ES_INDEX_PREFIX-*/_search" -d '{
  "size": 0,
  "aggs": { "colours": { "terms": { "field": "colorName", "size": 20 } } }
}'
echo
