-- Annotations: dated notes on a site ("Launched the new pricing page"),
-- shown as markers on its charts and listed with its exports. `day` is the
-- site's local date, YYYY-MM-DD.
CREATE TABLE annotations (
    id         INTEGER PRIMARY KEY,
    site_id    INTEGER NOT NULL,
    day        TEXT NOT NULL,
    text       TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX annotations_by_site ON annotations (site_id, day);
