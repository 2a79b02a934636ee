-- External table over the events hdfs-consumer lands (LANDING_FORMAT=parquet, the default):
--   <root>/select-color/dt=YYYY-MM-DD/hour=HH/*.parquet, zstd-compressed, one file per
--   partition of the topic once the hour is compacted.
-- Run with the landing root, for example:
--   beeline -u jdbc:hive2://localhost:10000 \
--     --hivevar landing_root=hdfs://namenode:8020/data/web-events -f create-table.sql
-- Directories whose names start with '_' (_tmp, _invalid, _commits) are not read by Hive.
-- Parquet columns keep the event's camelCase; Hive matches them case-insensitively.
--
-- hdfs-consumer makes this table itself, from the landed files' schema, in the metastore named by
-- HIVE_METASTORE_URIS (as the Docker stack runs it), and registers each hour as it lands. This
-- file is for a Hive whose metastore the consumer does not keep: MSCK REPAIR then finds the
-- hours landed so far, and again for later ones.

-- doNotTrack came with event schema version 2; it is NULL in files landed before it. A
-- table made before it gets it with: ALTER TABLE select_color ADD COLUMNS (doNotTrack BOOLEAN);

CREATE EXTERNAL TABLE IF NOT EXISTS select_color (
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
PARTITIONED BY (dt STRING, hour STRING)
STORED AS PARQUET
LOCATION '${hivevar:landing_root}/select-color';

MSCK REPAIR TABLE select_color ADD PARTITIONS;
