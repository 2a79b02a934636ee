-- Registers the dt=/hour= directories landed since the last run as table partitions.
-- Run it after new hours appear: `scripts/stack.sh hive` (Docker) and `scripts/hive.sh` (one
-- machine) run it before their queries; nothing runs it on a schedule.
MSCK REPAIR TABLE select_color ADD PARTITIONS;
