-- Mallard API keys: only the SHA-256 of the plaintext is kept.
CREATE TABLE api_keys (
    key_hash   TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    scope      TEXT NOT NULL CHECK (scope IN ('ReadOnly', 'Admin')),
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
) WITHOUT ROWID;
