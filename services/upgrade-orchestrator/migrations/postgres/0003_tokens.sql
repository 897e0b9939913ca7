-- API tokens: only the SHA-256 of each secret is stored (tokens are 32
-- random bytes, so a fast hash suffices). A name is unique among the
-- tokens not revoked; revoked rows stay for the audit of who did what.
CREATE TABLE api_token (
    id              BIGSERIAL PRIMARY KEY,
    name            TEXT NOT NULL,
    hash            TEXT NOT NULL UNIQUE,
    role            TEXT NOT NULL,
    cluster_id      TEXT,
    created_by      TEXT NOT NULL,
    created_at_ms   BIGINT NOT NULL,
    expires_at_ms   BIGINT,
    revoked_at_ms   BIGINT,
    last_used_at_ms BIGINT
);
CREATE UNIQUE INDEX api_token_live_name ON api_token (name) WHERE revoked_at_ms IS NULL;
