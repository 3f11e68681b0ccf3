-- Deleting a site. A deleted site's row goes at once and its data after it,
-- a chunk at a time; `deleted_sites` lists every site deleted (`purged_at`
-- is set once its data is gone) and is kept, so that a site id is never
-- handed out again: new sites take the next id above every live and
-- deleted one (`sites::NEXT_SITE_ID`).
CREATE TABLE deleted_sites (
    site_id    INTEGER PRIMARY KEY,
    domain     TEXT NOT NULL,
    deleted_at INTEGER NOT NULL,
    purged_at  INTEGER
);
