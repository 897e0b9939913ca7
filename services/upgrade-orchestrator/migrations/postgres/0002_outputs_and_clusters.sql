-- What a sub-task produced for later ones (JSON of `TaskOutput`), written
-- in the transaction that records its outcome or its progress.
ALTER TABLE sub_task ADD COLUMN output TEXT;

-- Registered clusters: how to reach the sys tenant and the hosts' agents.
-- The password is sealed with AES-256-GCM under a key that is never stored
-- in the database (see `clusters::secrets`).
ALTER TABLE cluster ADD COLUMN sql_endpoints TEXT NOT NULL DEFAULT '[]';
ALTER TABLE cluster ADD COLUMN sys_user TEXT NOT NULL DEFAULT 'root';
ALTER TABLE cluster ADD COLUMN password_sealed TEXT NOT NULL DEFAULT '';
ALTER TABLE cluster ADD COLUMN agents TEXT NOT NULL DEFAULT '[]';
ALTER TABLE cluster ADD COLUMN ssl_mode TEXT NOT NULL DEFAULT 'preferred';
ALTER TABLE cluster ADD COLUMN created_at_ms BIGINT NOT NULL DEFAULT 0;
-- A removed cluster keeps its DAG history; registering the name again
-- brings it back.
ALTER TABLE cluster ADD COLUMN removed_at_ms BIGINT NOT NULL DEFAULT 0;
