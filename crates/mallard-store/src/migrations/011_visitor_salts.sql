-- Visitor ids are keyed by a random salt per UTC day, kept only for the
-- current and the previous day (see src/visitor_salts.rs). The permanent
-- secret from which every daily salt used to be derived is deleted: anyone
-- holding it could recompute every past salt and tie stored visitor ids to
-- IP addresses. secure_delete overwrites the deleted row with zeros instead
-- of leaving it in the page's free space.
CREATE TABLE visitor_salts (
    day  INTEGER PRIMARY KEY,
    salt BLOB NOT NULL
);
PRAGMA secure_delete = ON;
DELETE FROM settings WHERE key = 'visitor_secret';
PRAGMA secure_delete = OFF;
