-- Packages: one row per distinct file (SHA-256). The bytes live in object
-- storage under `object_key`; a row exists only once they are committed.
CREATE TABLE package (
    id                   INTEGER PRIMARY KEY AUTOINCREMENT,
    sha256               TEXT NOT NULL,
    name                 TEXT NOT NULL,
    version              TEXT NOT NULL,
    release              TEXT NOT NULL,
    distribution         TEXT NOT NULL,
    release_distribution TEXT NOT NULL,
    architecture         TEXT NOT NULL,
    size                 BIGINT NOT NULL,
    payload_size         BIGINT NOT NULL,
    file_size            BIGINT NOT NULL,
    chunk_count          BIGINT NOT NULL,
    md5                  TEXT NOT NULL,
    payload_compressor   TEXT NOT NULL,
    upgrade_dep_yaml     TEXT NOT NULL,
    upgrade_scripts      TEXT NOT NULL,
    file_name            TEXT NOT NULL,
    object_key           TEXT NOT NULL,
    created_at_ms        BIGINT NOT NULL,
    CONSTRAINT package_sha256_key UNIQUE (sha256)
);
CREATE INDEX package_lookup ON package (name, version, distribution, architecture);

-- Upload sessions: what has been staged so far, so that an interrupted upload
-- resumes and an abandoned one is swept.
CREATE TABLE upload_session (
    id            TEXT PRIMARY KEY,
    file_name     TEXT NOT NULL,
    total_size    BIGINT,
    sha256        TEXT NOT NULL,
    received      BIGINT NOT NULL DEFAULT 0,
    created_at_ms BIGINT NOT NULL,
    expires_at_ms BIGINT NOT NULL
);
CREATE INDEX upload_session_expiry ON upload_session (expires_at_ms);

-- Staged parts of a session, in order; each is one object.
CREATE TABLE upload_part (
    upload_id  TEXT NOT NULL REFERENCES upload_session (id) ON DELETE CASCADE,
    seq        BIGINT NOT NULL,
    start      BIGINT NOT NULL,
    len        BIGINT NOT NULL,
    object_key TEXT NOT NULL,
    PRIMARY KEY (upload_id, seq)
);
