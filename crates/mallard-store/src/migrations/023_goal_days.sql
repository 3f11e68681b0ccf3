-- The conversions of each goal per local day of its site, for the closed
-- days kept in day segments (see src/goal_days.rs): the converting events,
-- their visitors (a sketch, src/hll.rs) and the revenue they carried per
-- currency (src/goal_days.rs encodes it). The writer fills the days in the
-- background, a few per step, and keeps the newest as days close; the
-- Goals card reads a year from 365 rows per goal. A day has a row once it
-- was counted, with nothing converted too.
CREATE TABLE goal_days (
    goal_id  INTEGER NOT NULL,
    day      INTEGER NOT NULL,
    site_id  INTEGER NOT NULL,
    events   INTEGER NOT NULL,
    visitors BLOB NOT NULL,
    revenue  BLOB,
    PRIMARY KEY (goal_id, day)
) WITHOUT ROWID;
CREATE INDEX goal_days_by_site ON goal_days (site_id, day);

-- A row counts what the segments held when it was written: whatever
-- changes them drops the rows they may feed, in the same transaction. A
-- change to the visits that start on UTC day D (a day packed, restored to
-- rows, rewritten by a deletion, forgotten by retention, loaded by an
-- import: each writes or deletes the day's marker part, 10) reaches the
-- local days from D - 1 on (a visit may last past midnight, so every later
-- day goes too), and so does a new day of visits (an event stored late).
CREATE TRIGGER goal_days_segment_written AFTER INSERT ON day_segments
WHEN NEW.part = 10 BEGIN
    DELETE FROM goal_days WHERE site_id = NEW.site_id AND day >= NEW.day - 1;
END;
CREATE TRIGGER goal_days_segment_deleted AFTER DELETE ON day_segments
WHEN OLD.part = 10 BEGIN
    DELETE FROM goal_days WHERE site_id = OLD.site_id AND day >= OLD.day - 1;
END;
CREATE TRIGGER goal_days_day_added AFTER INSERT ON visit_days BEGIN
    DELETE FROM goal_days WHERE site_id = NEW.site_id AND day >= NEW.day - 1;
END;
-- A goal that counts something else, or is gone, drops its rows; a new
-- name keeps them.
CREATE TRIGGER goal_days_goal_changed AFTER UPDATE ON goals
WHEN OLD.event_name IS NOT NEW.event_name OR OLD.page_path IS NOT NEW.page_path
  OR OLD.prop_key IS NOT NEW.prop_key OR OLD.prop_value IS NOT NEW.prop_value BEGIN
    DELETE FROM goal_days WHERE goal_id = OLD.id;
END;
CREATE TRIGGER goal_days_goal_deleted AFTER DELETE ON goals BEGIN
    DELETE FROM goal_days WHERE goal_id = OLD.id;
END;
-- Another time zone makes other days.
CREATE TRIGGER goal_days_time_zone_changed AFTER UPDATE OF timezone ON sites
WHEN OLD.timezone IS NOT NEW.timezone BEGIN
    DELETE FROM goal_days WHERE site_id = NEW.id;
END;
