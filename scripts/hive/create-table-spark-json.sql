-- The table of create-table-json.sql (files landed with LANDING_FORMAT=json) for Spark SQL
-- with Hive support (scripts/hive.sh and the tests): Spark has no Hive JSON SerDe, so this is a
-- JSON data-source table over the same folders. Columns keep the event's camelCase: Spark matches JSON keys by case, where Hive's
-- SerDe (compose) lower-cases them. Directories whose names start with '_' are not read.
--   landing_root: file:///dir or hdfs://namenode:port/dir

-- doNotTrack came with event schema version 2; it is NULL in files landed before it. A
-- table made before it gets it with: ALTER TABLE select_color ADD COLUMNS (doNotTrack BOOLEAN);

CREATE TABLE IF NOT EXISTS select_color (
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
USING json
PARTITIONED BY (dt STRING, hour STRING)
LOCATION '${hivevar:landing_root}/select-color';
