"""Counts the landed clicks per colour, per day and per browser with a reader that did not
write them: pyarrow's dataset reader or DuckDB, over the files as they are.

usage: counts.py --reader pyarrow|duckdb LANDING_DIR [--topic select-color] [--format parquet|json]

LANDING_DIR is a local landing root (LANDING_URL's folder). Folders whose names start with '_'
(_tmp, _invalid, _commits) are not read. Prints one JSON object:
{"files": N, "colour": {"red": n, ...}, "day": {"2026-12-01": n, ...},
 "browser": {"Chrome/Linux": n, ...}}
"""

import argparse
import glob
import json
import os
import sys


def with_pyarrow(topic_dir, fmt):
    import pyarrow.compute as pc
    import pyarrow.dataset as ds

    dataset = ds.dataset(topic_dir, format=fmt, partitioning="hive")
    table = dataset.to_table(columns=["colorName", "dt", "browser"])

    def count(column):
        return {str(v["values"]): v["counts"] for v in pc.value_counts(column).to_pylist()}

    browser = table.column("browser")
    names = pc.struct_field(browser, "name")
    systems = pc.struct_field(browser, "os")
    return {
        "files": len(dataset.files),
        "colour": count(table.column("colorName")),
        "day": count(table.column("dt")),
        "browser": count(pc.binary_join_element_wise(names, systems, "/")),
    }


def with_duckdb(topic_dir, fmt):
    import duckdb

    pattern = os.path.join(topic_dir, "dt=*", "hour=*", f"*.{fmt}")
    reader = "read_parquet" if fmt == "parquet" else "read_json_auto"
    source = f"{reader}('{pattern}', hive_partitioning = true)"
    con = duckdb.connect()

    def count(expression):
        rows = con.execute(f"SELECT {expression} AS k, count(*) FROM {source} GROUP BY k").fetchall()
        return {str(k): n for k, n in rows}

    return {
        "files": len(glob.glob(pattern)),
        "colour": count("colorName"),
        "day": count("CAST(dt AS VARCHAR)"),
        "browser": count("browser.name || '/' || browser.os"),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reader", choices=["pyarrow", "duckdb"], required=True)
    parser.add_argument("--topic", default="select-color")
    parser.add_argument("--format", choices=["parquet", "json"], default="parquet")
    parser.add_argument("landing_dir")
    args = parser.parse_args()
    topic_dir = os.path.join(args.landing_dir, args.topic)
    read = with_pyarrow if args.reader == "pyarrow" else with_duckdb
    print(json.dumps(read(topic_dir, args.format), sort_keys=True))


if __name__ == "__main__":
    sys.exit(main())
