-- Custom properties now count on every event that carries them, page
-- views included (as Plausible counts them); before, the property rollups
-- counted them on custom events alone. The days of a database written
-- before are listed here and their property rows counted again from the
-- stored events, a few days per writer job, while the server runs (see
-- src/prop_recount.rs); a day is taken off the list in the transaction
-- that recounts it.
CREATE TABLE prop_recount (
    site_id INTEGER NOT NULL,
    day     INTEGER NOT NULL,
    PRIMARY KEY (site_id, day)
) WITHOUT ROWID;
INSERT INTO prop_recount (site_id, day)
    SELECT DISTINCT site_id, day FROM rollup_days WHERE kind = 0;
