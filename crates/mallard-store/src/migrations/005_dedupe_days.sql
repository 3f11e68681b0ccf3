-- Dedupe keys of collector events carry the UTC day of their event, so that
-- keys past the dedupe window can be pruned instead of growing forever. Keys
-- stored before this migration count from the day it ran.
ALTER TABLE collector_event_ids ADD COLUMN day INTEGER NOT NULL DEFAULT 0;
UPDATE collector_event_ids SET day = CAST(strftime('%s', 'now') AS INTEGER) / 86400;
