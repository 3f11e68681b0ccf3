-- A closed day is stored once: the transaction that packs a day into its day
-- segment (src/day_segment.rs, part 10 marks the format that holds every
-- event's host name and collector consent) deletes the day's visits, events,
-- properties and consents from the row tables, and a late change to one of
-- its visits restores them from the segment first (src/visit_paths.rs).
-- `max_end` is the latest end of the visits that start on a packed day (NULL
-- while the day's visits are rows): the visits that start before a period
-- and reach into it are found by it, and data retention deletes a packed day
-- whole only once all its visits ended before the cut-off.
ALTER TABLE visit_days ADD COLUMN max_end INTEGER;

-- The writer packs a day in steps, so that no step holds up ingestion for
-- long: it reads the day's rows a slice at a time, writes the segment, then
-- deletes the rows it replaced a slice at a time. A day listed here is
-- packed and its rows are still being deleted (from `next_ts` on): readers
-- read it from its segment and skip its rows.
CREATE TABLE packed_rows (
    site_id INTEGER NOT NULL,
    day     INTEGER NOT NULL,
    next_ts INTEGER NOT NULL,
    PRIMARY KEY (site_id, day)
) WITHOUT ROWID;
