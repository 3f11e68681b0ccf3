-- Goals: a custom event by its name, or page views of a path pattern,
-- optionally only with a property value. Names are unique per site.
CREATE TABLE goals (
    id         INTEGER PRIMARY KEY,
    site_id    INTEGER NOT NULL,
    name       TEXT NOT NULL,
    event_name TEXT,
    page_path  TEXT,
    prop_key   TEXT,
    prop_value TEXT,
    created_at INTEGER NOT NULL,
    CHECK ((event_name IS NULL) <> (page_path IS NULL)),
    CHECK ((prop_key IS NULL) = (prop_value IS NULL))
);
CREATE UNIQUE INDEX goals_by_site ON goals (site_id, name);
