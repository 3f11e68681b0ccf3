-- The event collector family: workspaces and their api keys, the event-id
-- dedupe table, consent tokens, monthly usage per workspace, and the
-- visit-level bot / internal-traffic flags.

ALTER TABLE visits ADD COLUMN is_bot INTEGER NOT NULL DEFAULT 0;
ALTER TABLE visits ADD COLUMN is_internal INTEGER NOT NULL DEFAULT 0;

CREATE TABLE collector_workspaces (
    id         TEXT PRIMARY KEY,
    created_at INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE collector_api_keys (
    id           TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES collector_workspaces (id),
    name         TEXT NOT NULL,
    key_hash     BLOB NOT NULL UNIQUE,
    prefix       TEXT NOT NULL,
    suffix       TEXT NOT NULL,
    scopes       TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    revoked_at   INTEGER
) WITHOUT ROWID;
CREATE INDEX collector_api_keys_workspace ON collector_api_keys (workspace_id, created_at);

CREATE TABLE collector_event_ids (
    key BLOB PRIMARY KEY
) WITHOUT ROWID;

CREATE TABLE collector_consents (
    id    INTEGER PRIMARY KEY,
    token TEXT NOT NULL UNIQUE
);

CREATE TABLE collector_event_consent (
    site_id    INTEGER NOT NULL,
    ts         INTEGER NOT NULL,
    event_id   INTEGER NOT NULL,
    consent_id INTEGER NOT NULL,
    PRIMARY KEY (site_id, ts, event_id)
) WITHOUT ROWID;

CREATE TABLE collector_usage (
    workspace_id TEXT NOT NULL,
    month        TEXT NOT NULL,
    events       INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, month)
) WITHOUT ROWID;
