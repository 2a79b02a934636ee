"""Runs HiveQL over the landed click events on one machine, with Spark SQL's Hive support.

usage: run.py --landing-root URL [--format parquet|json] [--json] [STATEMENT_OR_FILE ...]
       run.py --metastore thrift://HOST:PORT [--database DB] [--json] [STATEMENT_OR_FILE ...]

With --metastore it uses the table select_color that hdfs-consumer keeps in that metastore, with
the hours it registered: nothing is created and no partition is discovered here. Otherwise, in
a fresh metastore of its own, it creates the table over <landing root>/select-color
(create-table-spark.sql for Parquet, the default; create-table-spark-json.sql for files landed
with LANDING_FORMAT=json), registers the dt=/hour= folders as partitions
(discover-partitions.sql). Then it runs each argument: a file of statements, or one statement.
Without arguments it runs the example queries (colour-counts-per-day.sql,
events-per-browser.sql). Prints each answer as a table, or with --json one JSON object per
statement: {"statement": ..., "columns": [...], "rows": [[...], ...]}.

The landing root is file:///dir or hdfs://namenode:port/dir. Needs pyspark and Java 17.
"""

import argparse
import json
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
EXAMPLES = ["colour-counts-per-day.sql", "events-per-browser.sql"]
# The table definition for each LANDING_FORMAT.
TABLES = {"parquet": "create-table-spark.sql", "json": "create-table-spark-json.sql"}


def statements(text):
    """The statements of a HiveQL text: `--` comments dropped, split at `;` ending a line."""
    lines = [line for line in text.splitlines() if not line.strip().startswith("--")]
    current, found = [], []
    for line in lines:
        current.append(line)
        if line.rstrip().endswith(";"):
            found.append("\n".join(current).strip().rstrip(";").strip())
            current = []
    rest = "\n".join(current).strip()
    if rest:
        found.append(rest)
    return [s for s in found if s]


def statements_of(argument):
    path = Path(argument)
    if argument.endswith(".sql") and path.is_file():
        return statements(path.read_text())
    return statements(argument)


def session(work, metastore=None):
    # Spark logs only errors; its metastore and warehouse live in a folder of their own.
    conf = Path(work) / "conf"
    conf.mkdir()
    (conf / "log4j2.properties").write_text(
        "rootLogger.level = error\n"
        "rootLogger.appenderRef.stderr.ref = console\n"
        "appender.console.type = Console\n"
        "appender.console.name = console\n"
        "appender.console.target = SYSTEM_ERR\n"
        "appender.console.layout.type = PatternLayout\n"
        "appender.console.layout.pattern = %d{HH:mm:ss} %p %c{1}: %m%n\n"
    )
    from pyspark.sql import SparkSession

    builder = SparkSession.builder
    if metastore:
        builder = builder.config("spark.hadoop.hive.metastore.uris", metastore)
    return (
        builder.master("local[2]")
        .appName("web-events-hive")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.warehouse.dir", f"{work}/warehouse")
        .config(
            "spark.hadoop.javax.jdo.option.ConnectionURL",
            f"jdbc:derby:;databaseName={work}/metastore_db;create=true",
        )
        .config("spark.ui.showConsoleProgress", "false")
        .config(
            "spark.driver.extraJavaOptions",
            f"-Dderby.system.home={work} -Dlog4j2.configurationFile=file:{conf}/log4j2.properties",
        )
        .enableHiveSupport()
        .getOrCreate()
    )


def show(statement, frame, as_json):
    columns = frame.columns
    rows = [list(row) for row in frame.collect()]
    if as_json:
        print(json.dumps({"statement": statement, "columns": columns, "rows": rows},
                         ensure_ascii=False, default=str))
        return
    if not columns:
        return
    cells = [[str(c) for c in columns]] + [["" if v is None else str(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    print()
    print("-- " + " ".join(statement.split()))
    for n, row in enumerate(cells):
        print("  ".join(value.ljust(width) for value, width in zip(row, widths)).rstrip())
        if n == 0:
            print("  ".join("-" * width for width in widths))
    print(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--landing-root")
    target.add_argument("--metastore")
    parser.add_argument("--database", default="default")
    parser.add_argument("--format", choices=sorted(TABLES), default="parquet")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("queries", nargs="*")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="web-events-hive-") as work:
        spark = session(work, args.metastore)
        try:
            if args.metastore:
                spark.sql(f"USE `{args.database}`")
            else:
                spark.sql(f"SET hivevar:landing_root={args.landing_root.rstrip('/')}")
                for setup in (TABLES[args.format], "discover-partitions.sql"):
                    for statement in statements((HERE / setup).read_text()):
                        spark.sql(statement)
            queries = args.queries or [str(HERE / name) for name in EXAMPLES]
            for query in queries:
                for statement in statements_of(query):
                    show(statement, spark.sql(statement), args.json)
        finally:
            spark.stop()


if __name__ == "__main__":
    sys.exit(main())
