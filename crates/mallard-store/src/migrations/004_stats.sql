-- Pre-aggregated rollups of the stats API, kept up to date by the writer in the
-- same transaction as the events (see src/rollups.rs). Days and hours are local
-- day/hour numbers in the site's time zone. `visitors` holds a visitor sketch
-- (src/hll.rs). Counters:
--   pageviews, events      per event, in the bucket of the event's time;
--   visits, bounces, visit_pageviews, duration_ms
--                          per visit, in the bucket of the visit's start;
--   exits                  per visit, on the row of its exit page.

-- One row per site: bumped by every batch that touches the site (the stats
-- cache compares it), the first local day with an event, and the day before
-- which page rows are packed (src/packed_pages.rs).
CREATE TABLE rollup_sites (
    site_id      INTEGER PRIMARY KEY,
    version      INTEGER NOT NULL,
    first_day    INTEGER NOT NULL,
    packed_until INTEGER
);

-- The rollup tables are rowid tables with a unique key index, not WITHOUT
-- ROWID: their visitor sketches (up to about 2 KB) then stay in the row's leaf
-- page instead of spilling into a mostly empty 4 KB overflow page.

-- Site totals per local hour.
CREATE TABLE rollup_hours (
    site_id         INTEGER NOT NULL,
    hour            INTEGER NOT NULL,
    pageviews       INTEGER NOT NULL,
    events          INTEGER NOT NULL,
    visits          INTEGER NOT NULL,
    bounces         INTEGER NOT NULL,
    visit_pageviews INTEGER NOT NULL,
    duration_ms     INTEGER NOT NULL,
    visitors        BLOB
);
CREATE UNIQUE INDEX rollup_hours_key ON rollup_hours (site_id, hour);

-- Site totals (kind 0, value 0) and every breakdown dimension per local day.
CREATE TABLE rollup_days (
    site_id         INTEGER NOT NULL,
    kind            INTEGER NOT NULL,
    day             INTEGER NOT NULL,
    value           INTEGER NOT NULL,
    pageviews       INTEGER NOT NULL,
    events          INTEGER NOT NULL,
    visits          INTEGER NOT NULL,
    bounces         INTEGER NOT NULL,
    visit_pageviews INTEGER NOT NULL,
    duration_ms     INTEGER NOT NULL,
    exits           INTEGER NOT NULL,
    visitors        BLOB
);
CREATE UNIQUE INDEX rollup_days_key ON rollup_days (site_id, kind, day, value);
