-- An import whose events a bulk load may have written beyond the points its
-- ledger records (`mallard import` into a site without data holds the
-- newest days in memory and writes them as they settle, so the ledger
-- trails what is stored). `holding` is 1 from its first such chunk until the
-- import records everything at its end. An import that never got there (the
-- process was killed) is undone before the next import of its site starts,
-- so that nothing is counted twice; its files are then read again.
ALTER TABLE imports ADD COLUMN holding INTEGER NOT NULL DEFAULT 0;
