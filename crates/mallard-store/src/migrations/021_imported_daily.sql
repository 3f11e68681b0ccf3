-- Daily aggregates imported from another analytics tool (Plausible's CSV
-- export; see src/imported_daily.rs). Aggregates cannot become events, so
-- they are kept apart and added to the native numbers of unfiltered
-- queries that ask for them. `day` is the site's local day number;
-- `dimension` says what `value` is (0 = the day's totals, value empty);
-- `visit_duration` is the visits' summed duration in seconds. Rows of a
-- deleted site are purged in chunks, so `import_id` is not a foreign key.
CREATE TABLE imported_daily (
    site_id        INTEGER NOT NULL,
    dimension      INTEGER NOT NULL,
    day            INTEGER NOT NULL,
    value          TEXT NOT NULL,
    import_id      INTEGER NOT NULL,
    visitors       INTEGER NOT NULL,
    visits         INTEGER NOT NULL,
    pageviews      INTEGER NOT NULL,
    bounces        INTEGER NOT NULL,
    visit_duration INTEGER NOT NULL,
    events         INTEGER NOT NULL,
    PRIMARY KEY (site_id, dimension, day, value, import_id)
) WITHOUT ROWID;
CREATE INDEX imported_daily_by_import ON imported_daily (import_id);
