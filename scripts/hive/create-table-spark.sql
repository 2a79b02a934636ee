-- The table of create-table.sql (Parquet, the default LANDING_FORMAT) for Spark SQL with Hive
-- support (scripts/hive.sh and the tests): a Parquet data-source table over the same folders,
-- read by Spark's own Parquet reader. Columns keep the event's camelCase. Directories whose
-- names start with '_' are not read.
--   landing_root: file:///dir or hdfs://namenode:port/dir

-- doNotTrack came with event schema version 2; it is NULL in files landed before it. A
-- table made before it gets it with: ALTER TABLE select_color ADD COLUMNS (doNotTrack BOOLEAN);

CREATE TABLE IF NOT EXISTS select_color (
  eventId STRING,
  schemaVersion INT,
  `timestamp` TIMESTAMP,
  userName STRING,
  colorName STRING,
  userAgent STRING,
  browser STRUCT<name:STRING, version:STRING, category:STRING, os:STRING, osVersion:STRING, vendor:STRING>,
  clientTimestamp TIMESTAMP,
  doNotTrack BOOLEAN
)
USING parquet
PARTITIONED BY (dt STRING, hour STRING)
LOCATION '${hivevar:landing_root}/select-color';
