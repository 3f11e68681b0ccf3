-- Rollup counters and visitor sketches are written behind the events (see
-- src/rollup_rebuild.rs): the writer sums a few seconds of contributions in
-- memory and writes them in one go. Every local day whose rollups may lack
-- something committed is listed here, in the same transaction as the events
-- that made it so, and taken off once everything in memory is written. The
-- days still listed when the store opens are rebuilt from the stored events.
CREATE TABLE rollup_dirty_days (
    site_id INTEGER NOT NULL,
    day     INTEGER NOT NULL,
    PRIMARY KEY (site_id, day)
) WITHOUT ROWID;

-- Dedupe keys of collector events claimed in the last seconds (see
-- src/dedupe_keys.rs). Appended in each batch's transaction, then moved into
-- collector_event_ids in key order every few seconds: random keys inserted one
-- by one into that B-tree would dirty a page each in every commit.
CREATE TABLE collector_recent_event_ids (
    key BLOB NOT NULL,
    day INTEGER NOT NULL
);

-- The event name `pageview` (dims kind 1), the name of almost every event,
-- gets dim id 0 in a database that has not stored it yet: SQLite stores the
-- integers 0 and 1 in no bytes, so a page view's `events.name` takes none.
-- Databases that stored it before keep its id.
INSERT INTO dims (id, kind, value)
SELECT 0, 1, 'pageview'
WHERE NOT EXISTS (SELECT 1 FROM dims WHERE kind = 1 AND value = 'pageview')
  AND NOT EXISTS (SELECT 1 FROM dims WHERE id = 0);

-- Visitor ids of a database that holds no visit yet keep 47 bits: SQLite then
-- stores them in 6 bytes instead of 8 (two bytes a visit). A database with
-- visits keeps whole 64-bit ids, so that its visitors keep their ids.
INSERT INTO settings (key, value)
SELECT 'visitor_id_bits', CAST('47' AS BLOB)
WHERE NOT EXISTS (SELECT 1 FROM visits);
