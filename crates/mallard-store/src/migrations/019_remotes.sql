-- Remote servers this install pulls events from (`mallard pull`, Settings →
-- Remote servers): the feed's address, the API key it is read with (a
-- secret: never logged, never answered), the remote sites to pull (empty:
-- every site the key reads) and how often. `remote_cursors` holds, per
-- remote site, the import (ledger) its events belong to and the feed cursor
-- reached; it is written in the transaction of the events it covers.
CREATE TABLE remotes (
    id              INTEGER PRIMARY KEY,
    url             TEXT NOT NULL UNIQUE,
    api_key         TEXT NOT NULL,
    sites           TEXT NOT NULL DEFAULT '',
    every_secs      INTEGER,
    created_at      INTEGER NOT NULL,
    last_attempt_at INTEGER,
    last_success_at INTEGER,
    last_error      TEXT,
    events_pulled   INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE remote_cursors (
    remote_id INTEGER NOT NULL,
    site      TEXT NOT NULL,
    import_id INTEGER NOT NULL,
    cursor    INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (remote_id, site)
) WITHOUT ROWID;
