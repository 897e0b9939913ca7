-- The audit trail: one row per mutating call, allowed or refused (see
-- obup_kit::audit). A change inserts its row in its own transaction; rows
-- are never updated or deleted by the service.
CREATE TABLE audit_event (
    id           BIGSERIAL PRIMARY KEY,
    at_ms        BIGINT NOT NULL,
    actor        TEXT NOT NULL,
    credential   TEXT NOT NULL,
    role         TEXT NOT NULL,
    method       TEXT NOT NULL,
    target       TEXT NOT NULL,
    result       TEXT NOT NULL,
    trace_id     TEXT NOT NULL,
    source       TEXT NOT NULL,
    on_behalf_of TEXT
);
