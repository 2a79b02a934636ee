#!/usr/bin/env bash
# The full stack in Docker (docker-compose.yml): Kafka ×3, HDFS, Hive, Elasticsearch, Kibana
# and the four services.
#
#   scripts/stack.sh up      build and start everything, wait until it is healthy, print the addresses
#   scripts/stack.sh open    open the page in a browser (or print its address)
#   scripts/stack.sh hive    discover new partitions and run the example queries with beeline
#   scripts/stack.sh kibana  print the dashboard's address and login
#   scripts/stack.sh status  show every container and its health
#   scripts/stack.sh down    stop everything and remove its containers and volumes
set -euo pipefail
cd "$(dirname "$0")/.."

ELASTIC_PASSWORD="${ELASTIC_PASSWORD:-web-events-demo}"
PAGE_URL="http://localhost:8080/"
DASHBOARD_URL="http://localhost:5601/app/dashboards#/view/web-events"

compose() { docker compose "$@"; }

beeline() {
    compose exec -T hiveserver2 beeline -u jdbc:hive2://localhost:10000/ --silent=true "$@"
}

case "${1:-}" in
    up)
        compose up --build --detach
        # --wait on the long-running services only: the one-shot jobs exit, which --wait
        # would count as a failure; they are waited for by name.
        compose up --detach --wait kafka-1 kafka-2 kafka-3 namenode datanode hiveserver2 \
            elasticsearch kibana producer-api web hdfs-consumer es-sink
        compose wait kafka-init hdfs-init hive-init elasticsearch-init kibana-init >/dev/null \
            || { compose ps --all; echo "a set-up job failed; see: docker compose logs <job>" >&2; exit 1; }
        cat <<INFO

  The page:        $PAGE_URL
  Collector API:   http://localhost:8081/api/events
  Kibana:          $DASHBOARD_URL  (user elastic, password \$ELASTIC_PASSWORD, default $ELASTIC_PASSWORD)
  Elasticsearch:   http://localhost:9200  (same login)
  HDFS namenode:   http://localhost:9870/explorer.html#/data/web-events/select-color
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
        # New dt=/hour= directories become partitions only when discovered.
        beeline -f /dev/stdin <scripts/hive/discover-partitions.sql
        for query in colour-counts-per-day events-per-browser; do
            echo "-- $query"
            beeline -f /dev/stdin <"scripts/hive/$query.sql"
        done
        ;;
    kibana)
        echo "$DASHBOARD_URL  (user elastic, password $ELASTIC_PASSWORD)"
        ;;
    status)
        compose ps --all
        ;;
    down)
        compose down --volumes --remove-orphans
        ;;
    *)
        sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
        exit 2
        ;;
esac
