-- Registers the dt=/hour= directories landed since the last run as table partitions.
-- scripts/hive.sh runs it on one machine, where Spark makes the table afresh for each run. The
-- Docker stack does not need it: its metastore adds new hours by itself ('discover.partitions'
-- in create-table.sql).
MSCK REPAIR TABLE select_color ADD PARTITIONS;
