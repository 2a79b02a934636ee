#!/usr/bin/env bash
# HiveQL over the clicks scripts/demo.sh landed, on one machine, with Spark SQL's Hive support
# (installed from PyPI on first use and cached; needs Java 17).
#
# With a demo started with --hive running, Spark connects to its Hive Metastore and queries the
# table select_color that hdfs-consumer keeps there, with the hours it registered: nothing is
# made or repaired here. Otherwise each run makes the table afresh over the landed files and
# discovers their dt=/hour= partitions (MSCK REPAIR), so new hours are always seen.
#
#   scripts/hive.sh                 the example queries' answers: clicks per colour per day,
#                                   clicks per browser (scripts/hive/*.sql)
#   scripts/hive.sh 'SELECT ...'    a query of your own, on select_color
#   scripts/hive.sh queries.sql     a file of queries
#
# Settings: RUN_DIR (.run/ in the checkout, as for scripts/demo.sh); HIVE_METASTORE_URIS (the
# running demo's metastore, when it has one); LANDING_URL (where the demo last landed:
# file://$RUN_DIR/landing, or its HDFS with scripts/demo.sh --hdfs); LANDING_FORMAT (what the demo
# last landed: parquet, or json).
source "$(dirname "$0")/lib.sh"

RUN_DIR="${RUN_DIR:-$REPO_ROOT/.run}"
if [ -z "${LANDING_URL:-}" ]; then
    LANDING_URL="$(cat "$RUN_DIR/landing-url" 2>/dev/null || echo "file://$RUN_DIR/landing")"
fi
if [ -z "${LANDING_FORMAT:-}" ]; then
    LANDING_FORMAT="$(cat "$RUN_DIR/landing-format" 2>/dev/null || echo parquet)"
fi
if [ -z "${HIVE_METASTORE_URIS:-}" ] && [ -f "$RUN_DIR/metastore-uri" ]; then
    HIVE_METASTORE_URIS="$(cat "$RUN_DIR/metastore-uri")"
fi
# The consumer's table in a metastore is Parquet for Spark; over JSON lines it uses Hive 4's JSON
# SerDe, which Spark does not have, so JSON is read through a table of Spark's own.
if [ -n "${HIVE_METASTORE_URIS:-}" ] && [ "$LANDING_FORMAT" = parquet ]; then
    address="${HIVE_METASTORE_URIS%%,*}"
    address="${address#thrift://}"
    (exec 3<>"/dev/tcp/${address%:*}/${address##*:}") 2>/dev/null \
        || die "the Hive Metastore at ${HIVE_METASTORE_URIS%%,*} does not answer: is the demo (scripts/demo.sh --hive) still running?"
    PYTHON="$(ensure_spark)"
    log "HiveQL on the table select_color of the Hive Metastore at ${HIVE_METASTORE_URIS%%,*} (Spark SQL; about half a minute to start)"
    exec "$PYTHON" "$REPO_ROOT/scripts/hive/run.py" --metastore "${HIVE_METASTORE_URIS%%,*}" "$@"
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
