-- The paths of the visits that start on a closed UTC day of a site, packed
-- into three blobs (parts) for the behavioural queries, which would otherwise
-- read every visit row and event of their period (see src/visit_paths.rs).
-- Part 0 holds the visits' start times, part 1 their steps (page views and
-- custom events in order), part 2 their visitor ids; a query reads only the
-- parts it needs. A day's rows are deleted whenever one of its visits changes
-- and written again later, so they always equal the stored rows.
CREATE TABLE visit_paths (
    site_id INTEGER NOT NULL,
    day     INTEGER NOT NULL,
    part    INTEGER NOT NULL,
    data    BLOB NOT NULL
);
CREATE UNIQUE INDEX visit_paths_key ON visit_paths (site_id, day, part);
