-- Visits grow with every event (end, counts, entry and exit page, sometimes
-- an earlier start). Updating each grown visit's row in every batch would
-- dirty a page per visit per commit, so the writer keeps the growth in memory
-- and writes it to the rows every few seconds (see src/visit_growth.rs). Each
-- batch appends the visits it grew, as they are after the batch, to this log
-- in its own transaction (one page for many visits); the log is emptied when
-- the rows are written. Rows still logged when the store opens (after a crash)
-- are applied to their visits, the latest per visit, before anything reads them.
CREATE TABLE visit_growth_log (
    visit_id   INTEGER NOT NULL,
    start_ts   INTEGER NOT NULL,
    end_ts     INTEGER NOT NULL,
    pageviews  INTEGER NOT NULL,
    events     INTEGER NOT NULL,
    entry_page INTEGER,
    exit_page  INTEGER
);
