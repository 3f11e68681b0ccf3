-- The import ledger (see src/imports.rs): every import of a site's traffic
-- from elsewhere (server access logs first), what it read and counted, and
-- the visitor ids it created (random per import, so they name exactly its
-- visits: what undoing the import removes). `import_files` remembers how
-- far each file was read, by the hash of its first bytes, so that a file
-- imported again adds nothing and a grown or rotated one only its new lines.
CREATE TABLE imports (
    id          INTEGER PRIMARY KEY,
    site_id     INTEGER NOT NULL REFERENCES sites(id),
    kind        TEXT NOT NULL,
    format      TEXT NOT NULL,
    started_at  INTEGER NOT NULL,
    finished_at INTEGER,
    lines       INTEGER NOT NULL DEFAULT 0,
    imported    INTEGER NOT NULL DEFAULT 0,
    unparsed    INTEGER NOT NULL DEFAULT 0,
    skipped     TEXT NOT NULL DEFAULT '{}',
    first_ts    INTEGER,
    last_ts     INTEGER,
    undone_at   INTEGER
);
CREATE INDEX imports_by_site ON imports (site_id, id);

CREATE TABLE import_visitors (
    import_id INTEGER NOT NULL REFERENCES imports(id) ON DELETE CASCADE,
    seq       INTEGER NOT NULL,
    visitors  BLOB NOT NULL,
    PRIMARY KEY (import_id, seq)
) WITHOUT ROWID;

CREATE TABLE import_files (
    site_id     INTEGER NOT NULL REFERENCES sites(id),
    prefix_hash BLOB NOT NULL,
    prefix_len  INTEGER NOT NULL,
    name        TEXT NOT NULL,
    bytes_read  INTEGER NOT NULL,
    lines_read  INTEGER NOT NULL,
    import_id   INTEGER NOT NULL,
    PRIMARY KEY (site_id, prefix_hash, prefix_len)
) WITHOUT ROWID;

-- Where each import started reading each file, so that undoing the import
-- that read a file last puts the file's mark back there.
CREATE TABLE import_reads (
    import_id   INTEGER NOT NULL REFERENCES imports(id) ON DELETE CASCADE,
    site_id     INTEGER NOT NULL,
    prefix_hash BLOB NOT NULL,
    prefix_len  INTEGER NOT NULL,
    from_bytes  INTEGER NOT NULL,
    from_lines  INTEGER NOT NULL,
    from_import INTEGER,
    PRIMARY KEY (import_id, prefix_hash, prefix_len)
) WITHOUT ROWID;
