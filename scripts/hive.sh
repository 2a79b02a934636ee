#!/usr/bin/env bash
# HiveQL over the clicks scripts/demo.sh landed, on one machine, with Spark SQL's Hive support
# (installed from PyPI on first use and cached; needs Java 17). Each run makes the table
# select_color afresh over the landed files and discovers their dt=/hour= partitions, so new
# hours are always seen.
#
#   scripts/hive.sh                 the example queries' answers: clicks per colour per day,
#                                   clicks per browser (scripts/hive/*.sql)
#   scripts/hive.sh 'SELECT ...'    a query of your own, on select_color
#   scripts/hive.sh queries.sql     a file of queries
#
# Settings: RUN_DIR (.run/ in the checkout, as for scripts/demo.sh); LANDING_URL (where the demo
# last landed: file://$RUN_DIR/landing, or its HDFS with scripts/demo.sh --hdfs); LANDING_FORMAT
# (what the demo last landed: parquet, or json).
source "$(dirname "$0")/lib.sh"

RUN_DIR="${RUN_DIR:-$REPO_ROOT/.run}"
if [ -z "${LANDING_URL:-}" ]; then
    LANDING_URL="$(cat "$RUN_DIR/landing-url" 2>/dev/null || echo "file://$RUN_DIR/landing")"
fi
if [ -z "${LANDING_FORMAT:-}" ]; then
    LANDING_FORMAT="$(cat "$RUN_DIR/landing-format" 2>/dev/null || echo parquet)"
fi
case "$LANDING_URL" in
    file://*)
        [ -d "${LANDING_URL#file://}/select-color" ] \
            || die "nothing landed under $LANDING_URL yet: run scripts/demo.sh and click a colour"
        ;;
    hdfs://*) ;;
    *) die "LANDING_URL $LANDING_URL is neither file:// nor hdfs://" ;;
esac
PYTHON="$(ensure_spark)"
log "HiveQL over $LANDING_URL/select-color (Spark SQL; about half a minute to start)"
exec "$PYTHON" "$REPO_ROOT/scripts/hive/run.py" --landing-root "$LANDING_URL" \
    --format "$LANDING_FORMAT" "$@"
