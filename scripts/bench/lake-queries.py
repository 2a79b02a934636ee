"""Times the same two queries over two landings of the same clicks, in Spark SQL (one session,
its start-up not counted) and in DuckDB: a count, and clicks per day and colour.

usage: lake-queries.py --json ROOT TOPIC --parquet ROOT TOPIC [--runs 3]

ROOT is a landing root (file:///dir), TOPIC the topic whose folder under it holds the files.

Each landing gets the table scripts/hive/ defines for its format (create-table-spark-json.sql,
create-table-spark.sql), under its own name. Prints one JSON object: for each engine, format
and query, the seconds of every run.
"""

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
HIVE = HERE.parent / "hive"
sys.path.insert(0, str(HIVE))
import run  # noqa: E402  (scripts/hive/run.py: the Spark session and the statement reader)

QUERIES = {
    "count": "SELECT COUNT(*) FROM {table}",
    "per day and colour": "SELECT dt, colorName, COUNT(*) AS clicks FROM {table} GROUP BY dt, colorName",
}
DEFINITIONS = {"json": "create-table-spark-json.sql", "parquet": "create-table-spark.sql"}


def timed(action, runs):
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        seconds.append(time.perf_counter() - started)
    return seconds


def spark(roots, runs):
    results = {}
    with tempfile.TemporaryDirectory(prefix="lake-bench-") as work:
        session = run.session(work)
        try:
            for fmt, (root, topic) in roots.items():
                table = f"lake_{fmt}"
                session.sql(f"SET hivevar:landing_root={root}")
                text = (HIVE / DEFINITIONS[fmt]).read_text().replace("select_color", table)
                text = text.replace("/select-color'", f"/{topic}'")
                for statement in run.statements(text):
                    session.sql(statement)
                session.sql(f"MSCK REPAIR TABLE {table} ADD PARTITIONS")
                for name, query in QUERIES.items():
                    sql = query.format(table=table)
                    results[f"{fmt}/{name}"] = timed(lambda: session.sql(sql).collect(), runs)
        finally:
            session.stop()
    return results


def duckdb_times(roots, runs):
    import duckdb

    results = {}
    for fmt, (root, topic) in roots.items():
        pattern = os.path.join(root.removeprefix("file://"), topic, "dt=*", "hour=*", f"*.{fmt}")
        reader = "read_parquet" if fmt == "parquet" else "read_json_auto"
        source = f"{reader}('{pattern}', hive_partitioning = true)"
        for name, query in QUERIES.items():
            sql = query.format(table=source)
            # A new connection each run: nothing cached between runs.
            results[f"{fmt}/{name}"] = timed(lambda: duckdb.connect().execute(sql).fetchall(), runs)
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", nargs=2, metavar=("ROOT", "TOPIC"), required=True)
    parser.add_argument("--parquet", nargs=2, metavar=("ROOT", "TOPIC"), required=True)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    roots = {"json": tuple(args.json), "parquet": tuple(args.parquet)}
    print(json.dumps({
        "spark": spark(roots, args.runs),
        "duckdb": duckdb_times(roots, args.runs),
    }))


if __name__ == "__main__":
    sys.exit(main())
