-- The rollups of sixteen consecutive local days taken together (see
-- src/rollup_spans.rs): a year's breakdown then reads about 23 rows (and
-- visitor sketches) per value instead of 365. `day` is the span's first
-- day, a multiple of 16, so a span row has the same key and columns as a
-- row of `rollup_days`; pages are kept packed, as the packed page rows of
-- `rollup_days` are (kind 16, values 0 to 2).
CREATE TABLE rollup_spans (
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
    visitors        BLOB,
    PRIMARY KEY (site_id, kind, day, value)
) WITHOUT ROWID;

-- A span is read only while it has its mark: the writer adds it in the
-- transaction that writes the span's rows, and any change to a day row of
-- the span deletes it in the transaction that makes the change: the code
-- that inserts or updates day rows (src/rollups.rs, src/packed_pages.rs)
-- deletes it itself, since a trigger on every rollup write would have each
-- keep a statement journal; this trigger does for every deleted day row
-- (retention, deletions, rebuilds, recounts). The rows of a span without a
-- ready mark are never read; the writer replaces them. A mark that is not
-- ready (0) claims a span the writer is adding up, a few days per step:
-- it becomes ready (1) with the span's rows only if no change deleted it
-- meanwhile.
CREATE TABLE rollup_span_marks (
    site_id INTEGER NOT NULL,
    day     INTEGER NOT NULL,
    ready   INTEGER NOT NULL,
    PRIMARY KEY (site_id, day)
) WITHOUT ROWID;

CREATE TRIGGER rollup_spans_day_deleted AFTER DELETE ON rollup_days BEGIN
    DELETE FROM rollup_span_marks WHERE site_id = OLD.site_id AND day = OLD.day & ~15;
END;
