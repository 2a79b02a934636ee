-- External table over the events hdfs-consumer lands (LANDING_FORMAT=parquet, the default):
--   <root>/select-color/dt=YYYY-MM-DD/hour=HH/*.parquet, zstd-compressed, one file per
--   partition of the topic once the hour is compacted.
-- Run with the landing root, for example:
--   beeline -u jdbc:hive2://localhost:10000 \
--     --hivevar landing_root=hdfs://namenode:8020/data/web-events -f create-table.sql
-- Directories whose names start with '_' (_tmp, _invalid, _commits) are not read by Hive.
-- Parquet columns keep the event's camelCase; Hive matches them case-insensitively.
--
-- New hours are found without MSCK: 'discover.partitions' asks the metastore's partition
-- management task to add the dt=/hour= folders that appear (and drop those that go) every
-- metastore.partition.management.task.frequency (compose/hive/metastore-site.xml).

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
LOCATION '${hivevar:landing_root}/select-color'
TBLPROPERTIES ('discover.partitions' = 'true');

-- The hours already landed are added now; later ones by the metastore.
MSCK REPAIR TABLE select_color ADD PARTITIONS;
