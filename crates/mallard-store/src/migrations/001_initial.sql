CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value BLOB NOT NULL
) WITHOUT ROWID;

CREATE TABLE sites (
    id         INTEGER PRIMARY KEY,
    domain     TEXT NOT NULL UNIQUE,
    timezone   TEXT NOT NULL DEFAULT 'UTC',
    created_at INTEGER NOT NULL
);

CREATE TABLE dims (
    id    INTEGER PRIMARY KEY,
    kind  INTEGER NOT NULL,
    value TEXT NOT NULL
);
CREATE UNIQUE INDEX dims_kind_value ON dims (kind, value);

CREATE TABLE visits (
    id              INTEGER PRIMARY KEY,
    site_id         INTEGER NOT NULL,
    visitor_id      INTEGER NOT NULL,
    start_ts        INTEGER NOT NULL,
    end_ts          INTEGER NOT NULL,
    pageviews       INTEGER NOT NULL,
    events          INTEGER NOT NULL,
    entry_page      INTEGER,
    exit_page       INTEGER,
    referrer_source INTEGER,
    referrer_url    INTEGER,
    utm_source      INTEGER,
    utm_medium      INTEGER,
    utm_campaign    INTEGER,
    utm_term        INTEGER,
    utm_content     INTEGER,
    browser         INTEGER,
    browser_version INTEGER,
    os              INTEGER,
    os_version      INTEGER,
    device          INTEGER NOT NULL,
    screen_width    INTEGER,
    country         INTEGER
);
CREATE INDEX visits_site_start ON visits (site_id, start_ts);

CREATE TABLE events (
    site_id        INTEGER NOT NULL,
    ts             INTEGER NOT NULL,
    id             INTEGER NOT NULL,
    visit_id       INTEGER NOT NULL,
    name           INTEGER NOT NULL,
    hostname       INTEGER NOT NULL,
    pathname       INTEGER NOT NULL,
    revenue_micros INTEGER,
    currency       INTEGER,
    PRIMARY KEY (site_id, ts, id)
) WITHOUT ROWID;

CREATE TABLE event_props (
    site_id  INTEGER NOT NULL,
    ts       INTEGER NOT NULL,
    event_id INTEGER NOT NULL,
    key      INTEGER NOT NULL,
    value    INTEGER NOT NULL,
    PRIMARY KEY (site_id, ts, event_id, key)
) WITHOUT ROWID;
