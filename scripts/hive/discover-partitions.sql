-- Registers the dt=/hour= directories landed since the last run as table partitions.
-- Run it after new hours appear (the compose stack runs it on a schedule).
MSCK REPAIR TABLE select_color ADD PARTITIONS;
