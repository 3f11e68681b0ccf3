-- The packed days of migration 009 become columnar day segments (see
-- src/day_segment.rs): per site and UTC day, one row per column (part), each
-- ending with its CRC-32. Parts 0 to 2 keep their meaning (start times, event
-- codes, visitor ids) in a new layout, and parts 3 to 8 add everything else
-- the rows hold (visit counts and pages, attributes, event times, the page
-- paths of custom events, properties, revenue). Days packed before this
-- migration have parts 0 to 2 only: queries read their rows, and the writer
-- packs them again in the new format a few at a time while the server runs.
ALTER TABLE visit_paths RENAME TO day_segments;
DROP INDEX visit_paths_key;
CREATE UNIQUE INDEX day_segments_key ON day_segments (site_id, day, part);
