-- Keys created while no admin password was set (open access) are marked, so
-- that the owner reviews them once a password protects the server: anyone
-- who reached the server before then could have minted them.
ALTER TABLE api_keys ADD COLUMN created_in_open_access INTEGER NOT NULL DEFAULT 0;
ALTER TABLE collector_api_keys ADD COLUMN created_in_open_access INTEGER NOT NULL DEFAULT 0;

-- On an install that has no password yet, the keys stored before this
-- migration were created in open access too.
UPDATE api_keys SET created_in_open_access = 1
 WHERE NOT EXISTS (SELECT 1 FROM settings WHERE key = 'admin_password_hash');
UPDATE collector_api_keys SET created_in_open_access = 1
 WHERE NOT EXISTS (SELECT 1 FROM settings WHERE key = 'admin_password_hash');
