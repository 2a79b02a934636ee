#!/usr/bin/env bash
# The full stack in Docker (docker-compose.yml): Kafka ×3, HDFS, Hive, Elasticsearch, Kibana
# and the four services.
#
#   scripts/stack.sh up      build and start everything, wait until it is healthy, print the addresses
#   scripts/stack.sh open    open the page in a browser (or print its address)
#   scripts/stack.sh hive    run the example queries with beeline
#   scripts/stack.sh kibana  print the dashboard's address and login
#   scripts/stack.sh status  show every container and its health
#   scripts/stack.sh erase --user-name NAME [--event-id ID...]
#                            erase a person's clicks from the index, the landed files and the
#                            results page (audit: the erasures volume, erasures.jsonl)
#   scripts/stack.sh down    stop everything and remove its containers and volumes
#
# Needs Docker with Compose v2.20 or later.
set -euo pipefail
cd "$(dirname "$0")/.."

PAGE_URL="http://localhost:8080/"
DASHBOARD_URL="http://localhost:5601/app/dashboards#/view/web-events"

JOBS=(kafka-init hdfs-init elasticsearch-init es-template kibana-init)

# Every password and token the stack needs, none with a default: made at random into .env
# (owner-only) on first use, and kept; one already set in the environment or .env is kept.
SECRETS=(ELASTIC_PASSWORD KIBANA_PASSWORD ES_TEMPLATE_PASSWORD ES_SINK_PASSWORD WEB_RESULTS_PASSWORD
    ERASER_PASSWORD RESULTS_FORGET_TOKEN)
ensure_secrets() {
    local name
    [ -f .env ] || (umask 077 && : >.env)
    for name in "${SECRETS[@]}"; do
        if [ -z "${!name:-}" ] && ! grep -q "^$name=" .env; then
            printf '%s=%s\n' "$name" "$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')" >>.env
        fi
    done
}
# The value a secret has for compose: the environment's, else .env's.
secret() {
    local name="$1"
    if [ -n "${!name:-}" ]; then printf '%s' "${!name}"
    else sed -n "s/^$name=//p" .env | tail -n 1; fi
}

usage() {
    # The comment at the top of this file, without its leading "# ".
    sed -n '2,/^[^#]/p' "$0" | sed -n 's/^# \{0,1\}//p'
    exit 2
}

# Compose v2.20 brought `docker compose wait`; an older one, or none, is said plainly.
compose_version_ok() {
    local version
    version="$(docker compose version --short 2>/dev/null)" || {
        echo "error: needs Docker Compose v2 ('docker compose'); 'docker compose version' failed" >&2
        return 1
    }
    version="${version#v}"
    local major="${version%%.*}" rest="${version#*.}"
    local minor="${rest%%.*}"
    if [ "$major" -lt 2 ] || { [ "$major" -eq 2 ] && [ "$minor" -lt 20 ]; }; then
        echo "error: needs Docker Compose v2.20 or later; this is $version" >&2
        return 1
    fi
}

compose() { docker compose "$@"; }

# Hive files are mounted in the container (docker-compose.yml) and run from there.
beeline() {
    compose exec -T -e HADOOP_HEAPSIZE=256 hiveserver2 \
        beeline -u jdbc:hive2://localhost:10000/ --silent=true "$@"
}

[ $# -ge 1 ] || usage
case "$1" in
    up | open | hive | kibana | status | down) [ $# -eq 1 ] || usage ;;
    erase) [ $# -ge 2 ] || usage ;;
    *) usage ;;
esac
[ "$1" = open ] || [ "$1" = kibana ] || compose_version_ok || exit 1
[ "$1" = open ] || ensure_secrets
ELASTIC_PASSWORD="$(secret ELASTIC_PASSWORD)"

case "$1" in
    up)
        compose up --build --detach
        # --wait on the long-running services only: the one-shot jobs exit, which --wait
        # would count as a failure; they are waited for by name.
        compose up --detach --wait kafka-1 kafka-2 kafka-3 namenode datanode hiveserver2 \
            elasticsearch kibana producer-api web hdfs-consumer es-sink
        # One job at a time: given several, `compose wait` answers with the status of whichever
        # finished last, so a failed job could pass unseen.
        for job in "${JOBS[@]}"; do
            if ! compose wait "$job" >/dev/null; then
                compose ps --all
                echo "error: the set-up job $job failed; see: docker compose logs $job" >&2
                exit 1
            fi
        done
        cat <<INFO

  The page:        $PAGE_URL
  Collector API:   http://localhost:8081/api/events
  Kibana:          $DASHBOARD_URL  (user elastic, password ELASTIC_PASSWORD in .env)
  Elasticsearch:   http://localhost:9200  (same login)
  Sinks:           two of each, sharing their groups; admin (/metrics, /readyz) on
                   hdfs-consumer localhost:9111 and :9112, es-sink localhost:9121 and :9122
  HDFS:            docker compose exec namenode hdfs dfs -ls -R /data/web-events  (its web port is not published)
  Hive:            scripts/stack.sh hive
  Kafka (host):    localhost:29092,localhost:29093,localhost:29094
  Stop and wipe:   scripts/stack.sh down
INFO
        ;;
    open)
        if command -v xdg-open >/dev/null; then xdg-open "$PAGE_URL"
        elif command -v open >/dev/null; then open "$PAGE_URL"
        else echo "$PAGE_URL"; fi
        ;;
    hive)
        # hdfs-consumer keeps the table and registers each hour as it lands.
        for query in colour-counts-per-day events-per-browser; do
            echo "-- $query"
            beeline -f "/scripts/hive/$query.sql"
        done
        ;;
    kibana)
        echo "$DASHBOARD_URL  (user elastic, password $ELASTIC_PASSWORD)"
        ;;
    status)
        compose ps --all
        ;;
    erase)
        shift
        compose run --rm --no-deps eraser erase "$@"
        ;;
    down)
        compose down --volumes --remove-orphans
        ;;
esac
