-- External table over the events hdfs-consumer lands with LANDING_FORMAT=json:
--   <root>/select-color/dt=YYYY-MM-DD/hour=HH/*.json, one JSON event per line.
-- (create-table.sql is the table over the default, Parquet.)
-- Run with the landing root, for example:
--   beeline -u jdbc:hive2://localhost:10000 \
--     --hivevar landing_root=hdfs://namenode:8020/data/web-events -f create-table-json.sql
-- Directories whose names start with '_' (_tmp, _invalid, _checkpoints) are not read by Hive.

-- doNotTrack came with event schema version 2; it is NULL in files landed before it. A
-- table made before it gets it with: ALTER TABLE select_color ADD COLUMNS (doNotTrack BOOLEAN);

CREATE EXTERNAL TABLE IF NOT EXISTS select_color (
  eventId STRING,
  schemaVersion INT,
  `timestamp` STRING,
  userName STRING,
  colorName STRING,
  userAgent STRING,
  browser STRUCT<name:STRING, version:STRING, category:STRING, os:STRING, osVersion:STRING, vendor:STRING>,
  clientTimestamp STRING,
  doNotTrack BOOLEAN
)
PARTITIONED BY (dt STRING, hour STRING)
ROW FORMAT SERDE 'org.apache.hadoop.hive.serde2.JsonSerDe'
STORED AS TEXTFILE
LOCATION '${hivevar:landing_root}/select-color';
-- hdfs-consumer with HIVE_METASTORE_URIS makes this table and registers its hours itself (see
-- create-table.sql); otherwise: MSCK REPAIR TABLE select_color ADD PARTITIONS;
